"""Local stand-ins for Azure ML client packages that cannot share the studio's interpreter.

Microsoft's ``mltable`` pins ``azure-identity<=1.17`` and ``cloudpickle<3``, so it is not
installed beside the studio. :mod:`studio_ext.compat.mltable` implements the part of it
that scripts and notebooks use, on the studio's MLTable reader (:mod:`studio_ext.ml.mltable`).

It is never imported as ``mltable`` while a real ``mltable`` can be found: the finder in
``_site/sitecustomize.py`` is appended at the end of ``sys.meta_path`` in job processes and in
the kernels of ``studio-ext studio``, so it is asked only after every other finder failed.
"""

from __future__ import annotations

import os
from pathlib import Path

FALLBACK_HOOK = str(Path(__file__).with_name("_site"))  # the folder whose sitecustomize appends the finder


def with_fallback_hook(pythonpath: str | None, *first: str) -> str:
    """A PYTHONPATH with ``first`` then the fallback hook's folder in front of ``pythonpath`` (each once)."""
    parts = [*first, FALLBACK_HOOK, *(pythonpath.split(os.pathsep) if pythonpath else [])]
    return os.pathsep.join(dict.fromkeys(p for p in parts if p))
