"""Makes ``import mltable`` and ``from azureml.ai.monitoring import Collector`` work where Microsoft's packages are absent.

This folder is put on the PYTHONPATH of job processes (backends/local/jobs/runner.py), of
deployments' scoring servers (backends/local/endpoints/duty.py) and of JupyterLab and its
kernels (``studio-ext studio``, cli_groups/workspace.py ``studio_environment``). It appends
one finder at the END of ``sys.meta_path``: Python asks it only when no other finder (the
path, a venv's site-packages, an editable install) found ``mltable``, so a real ``mltable``
anywhere on the path always wins. The finder then gives ``studio_ext.compat.mltable``, the
local stand-in; where ``studio_ext`` cannot be imported (a job venv of its own), the import
fails with a message saying to add ``mltable`` to the environment's pip or conda spec.
``azureml.ai.monitoring`` (``azureml-ai-monitoring``'s ``Collector``) is found the same way, as
``studio_ext.compat.azureml_ai_monitoring``; ``azureml`` and ``azureml.ai`` become empty namespace
packages only when no installed ``azureml`` package provides them.

Nothing is imported at startup. A ``sitecustomize`` later on the path (a distribution's) still
runs. Plain Python 3.8+, no studio_ext import: it runs in any job environment.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_FALLBACKS = {"mltable": "studio_ext.compat.mltable",
              "azureml.ai.monitoring": "studio_ext.compat.azureml_ai_monitoring",
              "azureml.ai.monitoring.context": "studio_ext.compat.azureml_ai_monitoring.context"}
# Parents of a dotted fallback that nothing else provides: empty namespace packages.
_NAMESPACES = {"azureml", "azureml.ai"}
_MARK = "_studio_ext_fallback"


def _run_hidden_sitecustomize() -> None:
    """Run the ``sitecustomize`` this one hides: the first one after this folder on the path."""
    import importlib.machinery
    import importlib.util

    folders = [os.path.abspath(p or os.curdir) for p in sys.path]
    after = sys.path[folders.index(_HERE) + 1:] if _HERE in folders else sys.path
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", [p for p in after if os.path.abspath(p or os.curdir) != _HERE])
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - as site.py treats a failing sitecustomize: say so, carry on
        sys.stderr.write(f"Error in sitecustomize ({spec.origin}): {exc!r}\n")


class _Alias:
    """Loads a fallback as the module the script asked for: the same module object under both names."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: object) -> object:
        import importlib

        try:
            module = importlib.import_module(self.target)
            name = getattr(spec, "name", "")
            for other, target in _FALLBACKS.items():  # its submodules under the asked name too: one copy each
                if other.startswith(name + "."):
                    sys.modules.setdefault(other, importlib.import_module(target))
            return module
        except ImportError as exc:
            name = getattr(spec, "name", "mltable")
            raise ModuleNotFoundError(
                f"No module named {name!r}. This environment has neither Microsoft's {name} package nor the "
                f"studio's local stand-in ({self.target}: {exc}). Add {name!r} to the job environment's pip or "
                "conda spec to get the full package.", name=name) from None

    def exec_module(self, module: object) -> None:
        pass


class _FallbackFinder:
    """Asked last (the end of ``sys.meta_path``): a fallback for a top-level name nothing else found."""

    _studio_ext_fallback = True

    def find_spec(self, name: str, path: object = None, target: object = None) -> object:
        import importlib.machinery

        if name in _NAMESPACES:
            return importlib.machinery.ModuleSpec(name, None, is_package=True)
        if name not in _FALLBACKS or (path is not None and "." not in name):
            return None
        is_package = any(other.startswith(name + ".") for other in _FALLBACKS)
        return importlib.machinery.ModuleSpec(name, _Alias(_FALLBACKS[name]), origin="studio-ext fallback",
                                              is_package=is_package)


def activate() -> None:
    """Append the finder once (two hook folders on one path add it once)."""
    if not any(getattr(finder, _MARK, False) for finder in sys.meta_path):
        sys.meta_path.append(_FallbackFinder())


_run_hidden_sitecustomize()
if os.environ.get("STUDIO_EXT_FALLBACKS", "1") != "0":
    activate()
