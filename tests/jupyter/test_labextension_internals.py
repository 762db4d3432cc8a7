"""The JupyterLab internals the extension relies on still behave as it expects.

Two places in labextension/ reach into other packages' internals:
``registry.ts`` rewrites the widget registry plugin's ``activate`` while its module
loads, and ``kernel.ts`` sets the widget manager's restored flags. Their jest tests
(labextension/src/__tests__/) check each relied-on fact against the installed
JupyterLab packages (the versions labextension/package-lock.json pins) and, for the
widget manager, a real kernel in a ``jupyter lab`` server. This runs them; the
visible effect in a browser is checked by tests/browser/test_studio_sidebar.py
(test_figurewidget_renders_through_anywidget, and every page that renders).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

LABEXT = Path(__file__).resolve().parents[2] / "labextension"
TIMEOUT_S = 600


def test_labextension_internals_jest_suite_passes() -> None:
    npm = shutil.which("npm")
    assert npm, "npm is not on PATH: install Node.js 20 (scripts/test-prereqs.sh needs it too)"
    assert (LABEXT / "node_modules" / ".package-lock.json").is_file(), (
        "labextension/node_modules is missing: run scripts/test-prereqs.sh (or `npm ci` in labextension/)"
    )
    env = dict(os.environ)
    # The test's `jupyter lab` server and its ipykernel come from this interpreter's
    # environment (jupyter-lab and python are looked up on PATH).
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["CI"] = "true"  # jest: no watch mode, no interactive output
    result = subprocess.run(
        [npm, "test", "--", "--ci"],
        cwd=LABEXT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    report = result.stderr  # jest writes its results to stderr
    assert result.returncode == 0, (
        f"`npm test` in labextension/ failed (exit {result.returncode}):\n"
        f"{report[-20_000:]}\n--- stdout ---\n{result.stdout[-5_000:]}"
    )
    # Both suites ran (a renamed or skipped file must not pass silently).
    for suite in ("registry.spec.ts", "kernel.spec.ts"):
        assert f"PASS src/__tests__/{suite}" in report, f"{suite} did not run:\n{report[-5_000:]}"
    assert " skipped" not in report and " todo" not in report, report[-5_000:]
