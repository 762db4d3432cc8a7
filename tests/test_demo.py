"""`studio-ext demo`: the whole lifecycle, headless, on a fresh workspace, as a user runs it.

A file of its own, away from tests/test_cli.py: the longest single test of the suite, it then runs on one
pytest-xdist worker while the other takes the CLI's tests, and its ``slow(seconds=...)`` lets
tests/conftest.py deal it among the first files.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "studio_ext.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow(seconds=100)  # its independent steps run at once (studio_ext/demo NEEDS)
@pytest.mark.timeout(960)  # the demo's own 900 s speak first, not the suite's 600 s (pyproject.toml)
def test_demo_runs_the_lifecycle_headless(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    try:
        proc = run("demo", str(target), timeout=900)
    finally:
        run("-w", str(target), "server", "stop")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    steps = {line.split("]")[0] + "]" for line in out.splitlines() if line.startswith("[")}
    every = {"[workspace]", "[data]", "[job]", "[azure-ml]", "[compute]", "[sweep]", "[pipeline]", "[batch]",
             "[schedule]", "[model]", "[endpoint]", "[runs]", "[automl]", "[explain]", "[fairness]", "[privacy]",
             "[drift]", "[done]"}
    assert every <= steps, f"missing steps {every - steps}:\n{out}"
    assert "over the threshold, alert raised" in out, "the drift step's shifted week raised its alert"
    assert "Completed" in out and " is Healthy" in out
    assert " 60 predictions -> " in out, "the batch invocation scored its three files of 20 patients"
