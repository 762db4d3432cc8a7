"""azure-ai-ml imported without jsonschema's IRI parsers: half its import time, for a check it never makes.

``import azure.ai.ml`` imports ``jsonschema`` (``azure.ai.ml._utils._data_utils`` validates
MLTable files with ``Draft7Validator``, no format checker). ``jsonschema._format`` then imports
``rfc3987_syntax`` when it is installed (here only because jupyter-events asks for
``jsonschema[format-nongpl]``), and that package builds its 38 Lark parsers at import: 1.5 s of
the 3.0 s of CPU ``import azure.ai.ml`` costs (measured with resource.getrusage on this machine,
2 cores, load 20).

:func:`install` (run by ``import studio_ext``, so before studio_ext's translation or a notebook's
own ``import azure.ai.ml`` pays it) puts a finder first on ``sys.meta_path`` that refuses ``rfc3987_syntax`` only
while azure-ai-ml's own import chain asks for it (an ``azure.ai.ml`` module is on the import
stack). jsonschema takes that as the package not being installed, which it supports: its
``FormatChecker`` then has no ``iri`` / ``iri-reference`` check in this process, a check azure-ai-ml
never asks for. Nothing else changes: ``import rfc3987_syntax`` from anywhere else, before or
after, imports it as usual, and a process that imported jsonschema before azure-ai-ml keeps its
full checker. Nothing in site-packages is touched.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

_SKIPPED = "rfc3987_syntax"
_IMPORTER = "azure.ai.ml"


class SkipIriParsersForAzure(importlib.abc.MetaPathFinder):
    """Refuses ``rfc3987_syntax`` to an import made while ``azure.ai.ml`` is being imported."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname != _SKIPPED:
            return None
        frame = sys._getframe(1)
        while frame is not None:
            if str(frame.f_globals.get("__name__", "")).startswith(_IMPORTER):
                raise ModuleNotFoundError(f"{_SKIPPED} is not imported for azure-ai-ml (see {__name__})",
                                          name=_SKIPPED)
            frame = frame.f_back  # type: ignore[assignment]
        return None


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, SkipIriParsersForAzure) for finder in sys.meta_path):
        sys.meta_path.insert(0, SkipIriParsersForAzure())
