"""The job wrapper: runs the job's command, records how it ended, and stays light to start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from studio_ext.backends.local.jobs.runner import WRAPPER


def wrap(tmp_path: Path, *argv: str, flags: tuple[str, ...] = ()) -> tuple[dict, str, subprocess.CompletedProcess]:
    exit_file, log_file = tmp_path / "exit.json", tmp_path / "log.txt"
    done = subprocess.run([sys.executable, "-S", *flags, WRAPPER, str(exit_file), str(log_file), "--", *argv],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=True)
    return json.loads(exit_file.read_text()), log_file.read_text(), done


def test_the_exit_code_and_both_streams_are_recorded(tmp_path: Path) -> None:
    record, log, _ = wrap(tmp_path, sys.executable, "-c",
                          "import sys; print('out'); print('err', file=sys.stderr); sys.exit(sys.stdin.read() == '' and 3)")
    assert record["exit_code"] == 3 and record["error"] is None
    assert record["started"] <= record["ended"] <= time.time()
    assert log.splitlines() == ["out", "err"]


def test_a_command_that_cannot_start_says_why(tmp_path: Path) -> None:
    record, log, _ = wrap(tmp_path, "no-such-command-here")
    assert record["exit_code"] == 127
    assert record["error"].startswith("Could not start 'no-such-command-here'") and "No such file" in record["error"]
    assert record["error"] in log


def test_a_signal_to_the_wrapper_reaches_the_job_and_is_recorded(tmp_path: Path) -> None:
    exit_file, log_file = tmp_path / "exit.json", tmp_path / "log.txt"
    proc = subprocess.Popen([sys.executable, "-S", WRAPPER, str(exit_file), str(log_file), "--",
                             sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"])
    deadline = time.monotonic() + 30
    while "up" not in (log_file.read_text() if log_file.exists() else ""):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 0  # the wrapper itself outlives the signal to record the end
    assert json.loads(exit_file.read_text())["exit_code"] == -signal.SIGTERM


def test_it_imports_only_modules_built_into_the_interpreter(tmp_path: Path) -> None:
    """Every job starts this process first: json, subprocess, signal (enum, re) cost 30 ms of CPU a job."""
    record, _, done = wrap(tmp_path, "true", flags=("-X", "importtime"))
    assert record["exit_code"] == 0
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert imported, done.stderr
    assert not imported & {"json", "subprocess", "signal", "enum", "re", "threading", "selectors"}, imported
