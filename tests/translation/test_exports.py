"""The translation package's public API is exactly its __all__, and every kind has the same four functions."""

from __future__ import annotations

import subprocess
import sys
import types

import studio_ext.translation as translation

KINDS = ["automl_job", "batch_deployment", "batch_endpoint", "command_job", "component", "compute", "data", "datastore",
         "environment", "model",
         "online_deployment", "online_endpoint", "pipeline_component", "pipeline_job", "schedule", "sweep_job"]


def test_all_is_the_public_api() -> None:
    public = {n for n, v in vars(translation).items() if not n.startswith("_") and not (
        isinstance(v, types.ModuleType) and n not in KINDS)}
    assert set(translation.__all__) == public
    assert translation.__all__ == sorted(translation.__all__)


def test_every_kind_has_the_pair_of_pairs() -> None:
    for name in KINDS:
        module = getattr(translation, name)
        for function in ("to_v2", "from_v2", "from_azure", "to_azure", "to_yaml"):
            assert callable(getattr(module, function)), f"{name}.{function}"


def test_importing_it_does_not_import_azure_ai_ml() -> None:
    # Services import it at their entry: azure-ai-ml's seconds of import are paid only when it is used.
    code = "import sys, studio_ext.translation; print(any(m.startswith('azure.ai.ml') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
