"""After ``import studio_ext``, azure-ai-ml imports without jsonschema's IRI parsers, and nothing else changes."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import studio_ext  # installs the finder
import azure.ai.ml
from azure.ai.ml import load_job  # noqa: F401
assert "rfc3987_syntax" not in sys.modules, "azure-ai-ml's import built the IRI parsers"
import jsonschema
jsonschema.Draft7Validator({"type": "object", "required": ["a"]}).validate({"a": 1})
assert not jsonschema.Draft7Validator({"required": ["a"]}).is_valid({})
import rfc3987_syntax  # asked for by anyone else, it imports as usual
assert rfc3987_syntax.is_valid_syntax("iri", "http://example.com/ä")
"""


def test_azure_ai_ml_imports_without_the_iri_parsers_which_still_import_for_anyone_else() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
