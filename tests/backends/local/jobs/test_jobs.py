"""ws.jobs on the local backend: real jobs, real MLflow, real processes."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import mlflow
import psutil
import pytest

from studio_ext import Input, Output, Workspace, command
from studio_ext.backends.local import LocalBackend
from studio_ext.entities import JobStatus
from studio_ext.errors import Conflict, InvalidInput, NotFound, UnsafePath
from tests.helpers import wait_until


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def wait_status(ws: Workspace, name: str, wanted: set[str], timeout: float = 60) -> object:
    return wait_until(lambda: str((job := ws.jobs.get(name)).status) in wanted and job, timeout=timeout, interval=0.1,
                      what=lambda: f"job {name} to be {wanted} (it is {ws.jobs.get(name).status})")


def test_script_logging_with_plain_mlflow_lands_in_the_job(workspace: Workspace, code_dir: Path) -> None:
    write(code_dir / "train.py", "import sys, mlflow\n"
          "mlflow.log_param('lr', sys.argv[1])\n"
          "for i in range(3):\n    mlflow.log_metric('loss', 1.0 / (i + 1), step=i)\n"
          "print('trained with', sys.argv[1:])\n")
    job = workspace.jobs.create_or_update(command(
        code=str(code_dir), command="python train.py ${{inputs.lr}}", inputs={"lr": 0.01},
        experiment_name="exp", display_name="first", tags={"team": "a"}))
    assert job.name and job.status in {JobStatus.NOT_STARTED, JobStatus.QUEUED, JobStatus.STARTING, JobStatus.RUNNING}
    done = workspace.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=120)
    assert done.status == JobStatus.COMPLETED, done.error
    assert done.exit_code == 0
    assert done.metrics == {"loss": pytest.approx(1 / 3)}
    assert done.params == {"lr": "0.01"}
    assert done.tags == {"team": "a"}
    assert done.display_name == "first" and done.experiment_name == "exp"
    assert done.start_time <= done.end_time
    assert "trained with ['0.01']" in workspace.jobs.get_logs(job.name)
    assert [j.name for j in workspace.jobs.list("exp")] == [job.name]
    # the MLflow run is closed and holds the log as an artifact, as Azure ML keeps user_logs
    client = mlflow.tracking.MlflowClient(workspace.mlflow_tracking_uri)
    run = client.get_run(done.run_id)
    assert run.info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(done.run_id, "user_logs")] == ["user_logs/std_log.txt"]


def test_a_jobs_script_finds_its_own_workspace(workspace: Workspace, code_dir: Path) -> None:
    # as an Azure ML job's script can reach its workspace: Workspace.from_config() there is this one
    write(code_dir / "where.py", "from studio_ext import Workspace\nprint('workspace:', Workspace.from_config().path)\n")
    job = workspace.jobs.create_or_update(command(code=str(code_dir), command="cd /tmp && python $OLDPWD/where.py"))
    done = workspace.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=120)
    assert done.status == JobStatus.COMPLETED, workspace.jobs.get_logs(job.name)
    assert f"workspace: {workspace.path}" in workspace.jobs.get_logs(job.name)

def test_inputs_and_outputs_reach_the_script_and_outputs_become_artifacts(workspace: Workspace, code_dir: Path, tmp_path: Path) -> None:
    data = write(tmp_path / "data.csv", "a,b\n1,2\n")
    write(code_dir / "copy.py", "import sys, shutil, os\n"
          "shutil.copy(sys.argv[1], os.path.join(sys.argv[2], 'copied.csv'))\n"
          "os.makedirs('outputs', exist_ok=True)\nopen('outputs/note.txt', 'w').write('hi')\n")
    job = workspace.jobs.create_or_update(command(
        code=str(code_dir), command="python copy.py ${{inputs.data}} ${{outputs.result}}",
        inputs={"data": Input(type="uri_file", path=str(data))}, outputs={"result": Output()}))
    done = workspace.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=120)
    assert done.status == JobStatus.COMPLETED, done.error
    assert (Path(done.output_paths["result"]) / "copied.csv").read_text() == "a,b\n1,2\n"
    # laid out as azure-ai-ml's jobs.download: artifacts/ by default, named-outputs/NAME/ for an output
    downloaded = workspace.jobs.download(job.name, download_path=tmp_path / "dl")
    assert downloaded == tmp_path / "dl"
    assert (downloaded / "artifacts" / "outputs" / "result" / "copied.csv").exists()
    assert (downloaded / "artifacts" / "outputs" / "note.txt").read_text() == "hi"
    assert (downloaded / "artifacts" / "user_logs" / "std_log.txt").exists()
    assert not (downloaded / "named-outputs").exists()
    workspace.jobs.download(job.name, download_path=tmp_path / "one", output_name="result")
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["named-outputs"]
    assert (tmp_path / "one" / "named-outputs" / "result" / "copied.csv").read_text() == "a,b\n1,2\n"
    workspace.jobs.download(job.name, download_path=tmp_path / "all", all=True)
    assert (tmp_path / "all" / "named-outputs" / "result" / "copied.csv").exists()
    assert (tmp_path / "all" / "artifacts" / "outputs" / "note.txt").exists()
    with pytest.raises(NotFound, match="no output 'nope'"):
        workspace.jobs.download(job.name, output_name="nope")
    # the studio's own form still works: one artifact under download_path/NAME/
    single = workspace.jobs.download(job.name, tmp_path / "art", artifact_path="outputs/note.txt")
    assert (single / "note.txt").read_text() == "hi"


def test_shell_metacharacters_are_passed_literally(workspace: Workspace, code_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    write(code_dir / "echo.py", "import sys\nprint('ARGS', sys.argv[1:])\n")
    payload = f"; rm -rf {victim} $(rm {victim}) `rm {victim}` | cat &&"
    job = workspace.jobs.create_or_update(command(
        code=str(code_dir), command="python echo.py ${{inputs.text}}", inputs={"text": payload}))
    done = workspace.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=120)
    assert done.status == JobStatus.COMPLETED
    assert victim.read_text() == "keep me"
    assert repr([payload]) in workspace.jobs.get_logs(job.name)


def test_failing_script_is_failed_with_exit_code_and_traceback(workspace: Workspace, code_dir: Path) -> None:
    write(code_dir / "boom.py", "raise ValueError('bad data in column x')\n")
    job = workspace.jobs.create_or_update(command(code=str(code_dir), command="python boom.py"))
    done = workspace.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=120)
    assert done.status == JobStatus.FAILED
    assert done.exit_code == 1
    assert "ValueError: bad data in column x" in done.error


def test_cancel_ends_the_whole_process_tree(workspace: Workspace, code_dir: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    write(code_dir / "spawn.py", "import subprocess, sys, time\n"
          f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
          f"open({str(pidfile)!r}, 'w').write(str(p.pid))\nprint('started', flush=True)\ntime.sleep(600)\n")
    # the shell stays between the wrapper and the script (it still has `echo never` to run)
    job = workspace.jobs.create_or_update(command(code=str(code_dir),
                                                  command="echo start && python spawn.py && echo never"))
    wait_status(workspace, job.name, {"Running"})
    wait_until(pidfile.exists, timeout=30, interval=0.1, what="the script to start its child")
    grandchild = int(pidfile.read_text())
    script = psutil.Process(grandchild).ppid()
    assert psutil.Process(script).parent().name() in ("bash", "sh")
    canceled = workspace.jobs.begin_cancel(job.name).result(timeout=60)
    assert canceled.status == JobStatus.CANCELED
    for pid in (grandchild, script):
        psutil.wait_procs([psutil.Process(pid)], timeout=10) if psutil.pid_exists(pid) else None
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert "never" not in workspace.jobs.get_logs(job.name)
    client = mlflow.tracking.MlflowClient(workspace.mlflow_tracking_uri)
    assert client.get_run(canceled.run_id).info.status == "KILLED"
    with pytest.raises(Conflict, match="already ended"):
        workspace.jobs.begin_cancel(job.name)


def test_job_killed_without_reporting_is_marked_failed(workspace: Workspace, code_dir: Path) -> None:
    write(code_dir / "sleep.py", "import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    job = workspace.jobs.create_or_update(command(code=str(code_dir), command="python sleep.py"))
    running = wait_status(workspace, job.name, {"Running"})
    from studio_ext.backends.local.jobs.service import LocalJobs  # the pid is internal; read it from the store

    row = LocalJobs._row(workspace.jobs, job.name)
    wrapper = psutil.Process(row.pid)
    for proc in [wrapper, *wrapper.children(recursive=True)]:
        proc.send_signal(signal.SIGKILL)
    failed = wait_status(workspace, running.name, {"Failed"})
    assert "died without reporting" in failed.error


def test_jobs_survive_a_supervisor_killed_mid_run(workspace: Workspace, code_dir: Path) -> None:
    write(code_dir / "slow.py", "import time, mlflow\ntime.sleep(3)\nmlflow.log_metric('m', 7)\n")
    job = workspace.jobs.create_or_update(command(code=str(code_dir), command="python slow.py"))
    wait_status(workspace, job.name, {"Running"})
    pid = LocalBackend.of(workspace).store.get_setting("supervisor")["pid"]
    os.kill(pid, signal.SIGKILL)
    psutil.wait_procs([psutil.Process(pid)], timeout=10)
    # Reading the job starts a new supervisor, which adopts the still-running job.
    done = workspace.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=120)
    assert done.status == JobStatus.COMPLETED
    assert done.metrics == {"m": 7.0}


def test_child_jobs_are_linked_to_their_parent(workspace: Workspace, code_dir: Path) -> None:
    write(code_dir / "noop.py", "print('ok')\n")
    parent = workspace.jobs.create_or_update(command(code=str(code_dir), command="python noop.py", experiment_name="p"))
    child = workspace.jobs.create_or_update(
        command(code=str(code_dir), command="python noop.py", experiment_name="p"), parent_job_name=parent.name)
    assert workspace.jobs.get(parent.name).children == [child.name]
    assert [j.name for j in workspace.jobs.list(parent_job_name=parent.name)] == [child.name]
    assert workspace.jobs.get(child.name).parent_job_name == parent.name
    client = mlflow.tracking.MlflowClient(workspace.mlflow_tracking_uri)
    assert client.get_run(child.run_id).data.tags["mlflow.parentRunId"] == parent.run_id
    for name in (parent.name, child.name):
        workspace.jobs.stream(name, out=open(os.devnull, "w"), timeout=120)


def test_interactive_runs_appear_beside_jobs(workspace: Workspace) -> None:
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(workspace.mlflow_tracking_uri)
    try:
        mlflow.set_experiment("notebook-exp")
        with mlflow.start_run(run_name="from a notebook") as run:
            mlflow.log_metric("accuracy", 0.91)
    finally:
        mlflow.set_tracking_uri(previous)
    listed = workspace.jobs.list("notebook-exp")
    assert [(j.name, j.interactive, str(j.status), j.metrics) for j in listed] == [
        (run.info.run_id, True, "Completed", {"accuracy": 0.91})]
    assert workspace.jobs.get(run.info.run_id).display_name == "from a notebook"
    artifact_uri = mlflow.tracking.MlflowClient(workspace.mlflow_tracking_uri).get_run(run.info.run_id).info.artifact_uri
    assert str(workspace.path) in artifact_uri


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"compute": "gpu-cluster"}, NotFound, "no compute target named 'gpu-cluster'"),
        ({"environment": "missing-env:1"}, NotFound, "Environment 'missing-env' version 1 does not exist"),
        ({"code": "/definitely/not/here"}, NotFound, "code folder '/definitely/not/here' does not exist"),
        ({"command": "python nothere.py"}, NotFound, "script 'nothere.py' does not exist"),
        ({"name": "../escape"}, UnsafePath, "contains a path character or '..'"),
        ({"experiment_name": "a/b"}, UnsafePath, "contains a path character"),
        ({"inputs": {"data": Input(type="uri_file", path="../outside.csv")}}, UnsafePath, "climbs out"),
        ({"inputs": {"data": Input(type="uri_file", path="missing.csv")}}, NotFound, "'missing.csv' does not exist"),
        ({"command": "python ok.py ${{inputs.nope}}"}, InvalidInput, "has no input 'nope'"),
        ({"command": "python ok.py 'unclosed"}, InvalidInput, "has an unclosed ' quote"),
    ],
)
def test_bad_jobs_are_refused_and_leave_nothing_behind(
    workspace: Workspace, code_dir: Path, change: dict, error: type, message: str
) -> None:
    write(code_dir / "ok.py", "print('ok')\n")
    spec = {"code": str(code_dir), "command": "python ok.py", **change}
    with pytest.raises(error, match=re.escape(message)):
        workspace.jobs.create_or_update(command(**spec))
    assert workspace.jobs.list(include_interactive=False) == []
    assert list((workspace.path / "jobs").iterdir()) == []
    client = mlflow.tracking.MlflowClient(workspace.mlflow_tracking_uri)
    exps = client.search_experiments()
    assert all(not client.search_runs([e.experiment_id]) for e in exps)


def test_unknown_job_name_is_not_found(workspace: Workspace) -> None:
    with pytest.raises(NotFound, match="no job or run named 'nope'"):
        workspace.jobs.get("nope")
    with pytest.raises(NotFound, match="no job named 'nope'"):
        workspace.jobs.begin_cancel("nope")


METRICS_PER_JOB = 300


@pytest.mark.slow
def test_eight_jobs_logging_metrics_all_at_once_lose_none(workspace: Workspace, code_dir: Path,
                                                           tmp_path: Path) -> None:
    """Eight writers on the workspace's tracking store at the same moment: each job waits at a barrier until all
    eight have started (MLflow imported), then logs; every step of every job is kept. The barrier makes the
    overlap certain rather than left to start-up times, so a few hundred metrics a job load the store as a
    thousand staggered ones did."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    write(code_dir / "many.py", "import os, pathlib, sys, time\nimport mlflow\n"
          f"barrier = pathlib.Path({str(barrier)!r})\n"
          "(barrier / str(os.getpid())).touch()\n"
          "deadline = time.monotonic() + 240\n"
          "while len(list(barrier.iterdir())) < 8:\n"
          "    if time.monotonic() > deadline:\n"
          "        sys.exit(f'only {len(list(barrier.iterdir()))} of the 8 jobs started within 240 s')\n"
          "    time.sleep(0.05)\n"
          f"for i in range({METRICS_PER_JOB}):\n    mlflow.log_metric('value', float(i), step=i)\n")
    names = [workspace.jobs.create_or_update(command(code=str(code_dir), command="python many.py",
                                                     experiment_name="load")).name for _ in range(8)]
    for name in names:
        done = workspace.jobs.stream(name, out=open(os.devnull, "w"), timeout=400)
        assert done.status == JobStatus.COMPLETED, done.error
    client = mlflow.tracking.MlflowClient(workspace.mlflow_tracking_uri)
    for name in names:
        history = client.get_metric_history(workspace.jobs.get(name).run_id, "value")
        assert sorted(m.step for m in history) == list(range(METRICS_PER_JOB))
