"""The studio-ext command, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import wait_until

CLI = [sys.executable, "-m", "studio_ext.cli"]


def run(*args: str, check: bool = True, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}: {proc.stderr[-3000:]}")
    return proc


@pytest.fixture
def cli_ws(tmp_path: Path):
    path = tmp_path / "ws"
    yield path
    if path.exists():
        run("-w", str(path), "server", "stop", check=False)


@pytest.mark.slow
def test_init_then_a_job_logging_a_metric_is_shown(cli_ws: Path, tmp_path: Path) -> None:
    out = run("init", str(cli_ws)).stdout
    assert f"ready at {cli_ws}" in out
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("import mlflow\nmlflow.log_metric('accuracy', 0.93)\nprint('done training')\n")
    submitted = run("-w", str(cli_ws), "job", "submit", "--code", str(src), "--command", "python train.py",
                    "--experiment", "cli-exp", "--stream")
    assert "done training" in submitted.stdout and "Status: Completed" in submitted.stdout
    name = submitted.stdout.split()[2]
    shown = run("-w", str(cli_ws), "job", "show", name).stdout
    assert "status: Completed" in shown and "accuracy: 0.93" in shown
    as_json = json.loads(run("-w", str(cli_ws), "job", "show", name, "--json").stdout)
    assert as_json["metrics"] == {"accuracy": 0.93}
    listed = run("-w", str(cli_ws), "job", "list", "--experiment", "cli-exp").stdout
    assert name in listed and "Completed" in listed
    assert "done training" in run("-w", str(cli_ws), "job", "logs", name).stdout
    info = run("-w", str(cli_ws), "info").stdout
    assert "jobs:        1 (Completed: 1)" in info


@pytest.mark.slow
def test_cancel_from_the_cli(cli_ws: Path, tmp_path: Path) -> None:
    run("init", str(cli_ws))
    src = tmp_path / "src"
    src.mkdir()
    (src / "wait.py").write_text("import time\ntime.sleep(300)\n")
    name = run("-w", str(cli_ws), "job", "submit", "--code", str(src), "--command", "python wait.py").stdout.split()[2]
    wait_until(lambda: "Running" in run("-w", str(cli_ws), "job", "show", name).stdout, timeout=60, interval=0.3,
               what=f"job {name} to run")
    assert f"Job {name}: Canceled" in run("-w", str(cli_ws), "job", "cancel", name).stdout


def test_errors_are_one_clear_line_and_exit_code_2(cli_ws: Path, tmp_path: Path) -> None:
    bad = run("-w", str(tmp_path), "job", "list", check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: No workspace found") or bad.stderr.startswith("error: ")
    run("init", str(cli_ws))
    missing = run("-w", str(cli_ws), "job", "show", "ghost", check=False)
    assert missing.returncode == 2 and "There is no job or run named 'ghost'" in missing.stderr
    bad_input = run("-w", str(cli_ws), "job", "submit", "--command", "python x.py", "--input", "noequals", check=False)
    assert bad_input.returncode == 2 and "--input 'noequals' must look like KEY=VALUE" in bad_input.stderr


@pytest.mark.slow
def test_demo_runs_the_lifecycle_headless(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    try:
        out = run("demo", str(target), timeout=540).stdout
    finally:
        run("-w", str(target), "server", "stop", check=False)
    steps = {line.split("]")[0] + "]" for line in out.splitlines() if line.startswith("[")}
    every = {"[workspace]", "[data]", "[job]", "[compute]", "[model]", "[endpoint]", "[runs]", "[automl]",
             "[explain]", "[fairness]", "[done]"}
    assert every <= steps, f"missing steps {every - steps}:\n{out}"
    assert "Completed" in out and " is Healthy" in out
