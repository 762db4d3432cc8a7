"""The ready AutoML process: a job handed over while it still imports runs once the imports are done."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from studio_ext.backends.local.automl.warm_start import WarmSpare


@pytest.mark.slow
def test_a_job_handed_over_before_the_imports_finish_still_runs(tmp_path: Path) -> None:
    spare = WarmSpare(cwd=tmp_path, log_path=tmp_path / "spare.log", tracking_uri="")
    assert not spare.poll_ready(), "handed over at once, while the libraries are still being imported"
    log, exit_file = tmp_path / "job.log", tmp_path / "exit.json"
    proc = spare.assign(module="this", args=[], cwd=tmp_path, env=dict(os.environ), log_path=log,
                        exit_path=exit_file)
    assert proc is not None
    proc.wait(timeout=180)
    assert json.loads(exit_file.read_text())["exit_code"] == 0, (tmp_path / "spare.log").read_text()
    assert "Beautiful is better than ugly" in log.read_text(), "the job's module ran, its output in the job's log"
