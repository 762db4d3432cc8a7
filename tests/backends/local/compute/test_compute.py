"""ws.compute on the local backend: real Dask clusters owned by the workspace supervisor."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import psutil
import pytest

from studio_ext import Workspace, command
from studio_ext.backends.local import LocalBackend
from studio_ext.entities import (
    AmlCompute,
    AttachedCompute,
    CapacityWarning,
    ComputeInstance,
    ComputeState,
    ComputeType,
    JobStatus,
)
from studio_ext.errors import AlreadyExists, BackendUnavailable, Conflict, InvalidInput, NotFound, UnsafePath
from tests.helpers import free_port, serve, stop, wait_until

CORES = os.cpu_count() or 1


def wait_final(ws: Workspace, name: str, timeout: float = 90) -> object:
    return wait_until(lambda: (j := ws.jobs.get(name)).status.is_terminal and j, timeout=timeout,
                      what=f"job {name} to end")


def wait_all_final(ws: Workspace, names: list[str], timeout: float = 240) -> list[object]:
    """Wait for many jobs, reading one job a poll (the jobs, not the watching, get the CPU)."""
    until = time.monotonic() + timeout
    return [wait_until(lambda name=name: (j := ws.jobs.get(name)).status.is_terminal and j, interval=0.3,
                       timeout=max(until - time.monotonic(), 0), what=f"job {name} to end") for name in names]


def submit(ws: Workspace, code_dir: Path, cmd: str, compute: str) -> str:
    return ws.jobs.create_or_update(command(code=str(code_dir), command=cmd, compute=compute)).name


@pytest.fixture(scope="module")
def elastic(module_workspace: Workspace) -> Iterator[str]:
    """A cluster of 0-2 nodes that scale down after 1 idle second, shared by the tests that only send it jobs."""
    module_workspace.compute.begin_create_or_update(
        AmlCompute(name="cpu-cluster", min_instances=0, max_instances=2, idle_time_before_scale_down=1)).result(120)
    yield "cpu-cluster"
    module_workspace.compute.begin_delete("cpu-cluster", force=True).result(120)


@pytest.fixture
def scripts(code_dir: Path) -> Path:
    (code_dir / "sleep.py").write_text(
        "import os, sys, time\nprint('pid', os.getpid(), flush=True)\n"
        "open(sys.argv[2], 'w').write(str(os.getpid())) if len(sys.argv) > 2 else None\n"
        "time.sleep(float(sys.argv[1]))\nprint('slept', sys.argv[1])\n")
    (code_dir / "gate.py").write_text(
        "import os, sys, time\nwhile not os.path.exists(sys.argv[1]):\n    time.sleep(0.1)\nprint('gate open')\n")
    return code_dir


# -- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("compute, error, message", [
    (AmlCompute(name="c1x", min_instances=-1), InvalidInput,
     "The 'min_instances' parameter of AmlCompute must be an int >= 0. Got -1 instead."),
    (AmlCompute(name="c1x", max_instances=0), InvalidInput,
     "The 'max_instances' parameter of AmlCompute must be an int >= 1. Got 0 instead."),
    (AmlCompute(name="c1x", min_instances=3, max_instances=2), InvalidInput,
     "The 'min_instances' parameter of AmlCompute (3) is more than 'max_instances' (2). "
     "Set min_instances <= max_instances."),
    (AmlCompute(name="c1x", max_instances=True), InvalidInput, "must be an int >= 1. Got True instead."),
    (AmlCompute(name="c1x", idle_time_before_scale_down=-5), InvalidInput,
     "'idle_time_before_scale_down' parameter of AmlCompute must be a number >= 0 (seconds). Got -5"),
    (AmlCompute(name="c1x", max_instances=10**6), InvalidInput, "cannot hold 1000000 nodes"),
    (ComputeInstance(name="c1x", max_concurrent_jobs=0), InvalidInput, "'max_concurrent_jobs'"),
    (ComputeInstance(name="c1x", idle_time_before_shutdown_minutes=0), InvalidInput,
     "must be a number > 0 (minutes) or None. Got 0 instead."),
    (AttachedCompute(name="c1x", address="http://example:80"), InvalidInput,
     "must look like 'tcp://host:8786'"),
    (AttachedCompute(name="c1x", address="tcp://host:99999"), InvalidInput, "Got 'tcp://host:99999' instead."),
    (AttachedCompute(name="c1x", address="tcp://h:1", connect_timeout=0), InvalidInput, "'connect_timeout'"),
    (AmlCompute(name="x"), InvalidInput, "The compute name 'x' is not valid. Use 3-24 letters"),
    (AmlCompute(name="has_underscore"), InvalidInput, "is not valid"),
    (AmlCompute(name="../up"), UnsafePath, "contains a path character"),
    (AmlCompute(name="local"), AlreadyExists, "'local' is the built-in compute"),
])
def test_bad_computes_are_refused_and_nothing_is_recorded(
        module_workspace: Workspace, compute: object, error: type, message: str) -> None:
    with pytest.raises(error) as info:
        module_workspace.compute.begin_create_or_update(compute)
    assert message in str(info.value)
    assert module_workspace.compute.list() == []


def test_not_a_compute_and_unknown_names_are_clear_errors(module_workspace: Workspace, code_dir: Path) -> None:
    workspace = module_workspace
    with pytest.raises(InvalidInput, match=r"takes studio_ext.entities.Compute, azure.ai.ml.entities.AmlCompute or .*\. Got dict instead"):
        workspace.compute.begin_create_or_update({"name": "x"})
    for call in (workspace.compute.get, workspace.compute.begin_start, workspace.compute.begin_stop,
                 workspace.compute.begin_delete, workspace.compute.list_nodes):
        with pytest.raises(NotFound, match="There is no compute named 'ghost'. Known: none yet"):
            call("ghost")
        with pytest.raises(NotFound, match="'local' is this machine, not a compute resource"):
            call("local")
    (code_dir / "a.py").write_text("print(1)\n")
    with pytest.raises(NotFound, match="There is no compute target named 'ghost'"):
        submit(workspace, code_dir, "python a.py", "ghost")
    with pytest.raises(InvalidInput, match="Unknown compute type 'gpu'"):
        workspace.compute.list("gpu")


def test_more_nodes_than_cores_is_a_warning_not_an_error(module_workspace: Workspace) -> None:
    workspace = module_workspace
    warnings = workspace.compute.validate(AmlCompute(name="big", max_instances=CORES + 1))
    assert warnings == [f"max_instances={CORES + 1} is more than the {CORES} cores of this machine: nodes will "
                        f"share cores and each job runs slower. Use max_instances <= {CORES}, or attach a "
                        "larger Dask cluster."]
    assert workspace.compute.validate(AmlCompute(name="fits", max_instances=CORES)) == []
    assert "max_concurrent_jobs" in workspace.compute.validate(
        ComputeInstance(name="ci-1", max_concurrent_jobs=CORES + 1))[0]
    assert workspace.compute.list() == []  # validate() records nothing


def test_attached_address_that_refuses_or_stays_silent_fails_fast(module_workspace: Workspace) -> None:
    workspace = module_workspace
    refused = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match=f"The Dask scheduler at {refused} did not answer within 1 s"):
        workspace.compute.begin_create_or_update(AttachedCompute(name="gone", address=refused, connect_timeout=1))
    with socket.socket() as silent:  # accepts connections and never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(BackendUnavailable, match="did not answer within 1 s"):
            workspace.compute.begin_create_or_update(AttachedCompute(name="mute", address=address, connect_timeout=1))
    assert time.monotonic() - started < 30  # two 1-second timeouts, not a hang
    assert workspace.compute.list() == []


# -- a cluster's life --------------------------------------------------------------------
@pytest.mark.slow
def test_cluster_scales_with_jobs_queues_the_rest_and_releases_idle_nodes(
        module_workspace: Workspace, elastic: str, scripts: Path, tmp_path: Path) -> None:
    workspace = module_workspace
    cluster = workspace.compute.get(elastic)
    assert (cluster.type, cluster.state, cluster.current_nodes, cluster.max_nodes) == (
        ComputeType.AML_COMPUTE, ComputeState.RUNNING, 0, 2)
    assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    assert httpx.get(cluster.dashboard_link, timeout=30).status_code == 200
    with pytest.raises(AlreadyExists, match="already exists as a Compute cluster"):
        workspace.compute.begin_create_or_update(ComputeInstance(name="cpu-cluster"))
    # more nodes than cores: a warning, and the size changes in place (same scheduler)
    with pytest.warns(CapacityWarning, match="more than the"):
        poller = workspace.compute.begin_create_or_update(
            AmlCompute(name="cpu-cluster", max_instances=CORES + 1, idle_time_before_scale_down=1))
    grown = poller.result(timeout=120)
    assert (grown.state, grown.max_nodes, grown.scheduler_address) == (
        ComputeState.RUNNING, CORES + 1, cluster.scheduler_address)
    workspace.compute.begin_create_or_update(
        AmlCompute(name="cpu-cluster", max_instances=2, idle_time_before_scale_down=1)).result(120)

    gate = tmp_path / "gate"  # the jobs run until the test opens the gate, however slowly nodes start
    jobs = [submit(workspace, scripts, f"python gate.py {gate}", "cpu-cluster") for _ in range(3)]
    busy = wait_until(lambda: (
        c := workspace.compute.get("cpu-cluster")).busy_nodes == 2 and len(c.queued_jobs) == 1 and c, timeout=180,
        what="two busy nodes and one queued job")
    assert busy.current_nodes == 2 and len(busy.running_jobs) == 2 and busy.queued_jobs == [jobs[2]]
    assert str(workspace.jobs.get(jobs[2]).status) == "Queued"
    assert {n.busy for n in workspace.compute.list_nodes("cpu-cluster")} == {True}
    gate.touch()
    done = [wait_final(workspace, name) for name in jobs]
    for job in done:
        assert job.status == JobStatus.COMPLETED, job.error
        assert "gate open" in workspace.jobs.get_logs(job.name)
        assert job.compute == "cpu-cluster"
    assert done[2].start_time >= min(done[0].end_time, done[1].end_time)  # it waited for a free node
    wait_until(lambda: workspace.compute.get("cpu-cluster").current_nodes == 0, timeout=60,
               what="idle nodes to be released")

    # a second process (another kernel, the CLI) sees the same cluster
    seen = subprocess.run([sys.executable, "-c", (
        "import sys; from studio_ext import Workspace; c = Workspace(sys.argv[1]).compute.get('cpu-cluster');"
        "print(c.state, c.scheduler_address)"), str(workspace.path)], capture_output=True, text=True, timeout=120)
    assert seen.stdout.split() == ["Running", cluster.scheduler_address], seen.stderr


@pytest.mark.slow
def test_stop_start_restart_update_and_delete(module_workspace: Workspace, scripts: Path) -> None:
    workspace = module_workspace
    workspace.compute.begin_create_or_update(
        AmlCompute(name="life", min_instances=1, max_instances=1)).result(120)
    stopped = workspace.compute.begin_stop("life").result(60)
    assert (stopped.state, stopped.current_nodes, stopped.scheduler_address) == (ComputeState.STOPPED, 0, None)
    waiting = submit(workspace, scripts, "python sleep.py 0.1", "life")
    time.sleep(1.5)
    assert str(workspace.jobs.get(waiting).status) == "Queued"
    assert workspace.compute.get("life").queued_jobs == [waiting]
    started = workspace.compute.begin_start("life").result(120)
    assert started.state == ComputeState.RUNNING and started.current_nodes == 1
    assert wait_final(workspace, waiting).status == JobStatus.COMPLETED

    long_job = submit(workspace, scripts, "python sleep.py 60", "life")
    wait_until(lambda: str(workspace.jobs.get(long_job).status) == "Running", timeout=60, what="the long job to run")
    for action in (workspace.compute.begin_stop, workspace.compute.begin_restart):
        with pytest.raises(Conflict, match=f"The compute 'life' runs jobs: {long_job}. Wait for them"):
            action("life")
    queued = submit(workspace, scripts, "python sleep.py 0.1", "life")
    with pytest.raises(Conflict, match="has jobs queued or running: .* or delete with force=True to cancel them"):
        workspace.compute.begin_delete("life")

    before = started.scheduler_address
    restarted = workspace.compute.begin_restart("life", force=True).result(120)
    assert restarted.state == ComputeState.RUNNING and restarted.scheduler_address != before
    canceled = wait_final(workspace, long_job)
    assert canceled.status == JobStatus.CANCELED
    assert canceled.error == "Canceled because its compute 'life' was restarted with force=True."
    assert wait_final(workspace, queued).status == JobStatus.COMPLETED  # queued jobs survive a restart

    grown = workspace.compute.begin_create_or_update(
        AmlCompute(name="life", min_instances=2, max_instances=2)).result(120)
    assert grown.current_nodes == 2 and grown.max_nodes == 2

    blocked = submit(workspace, scripts, "python sleep.py 60", "life")
    wait_until(lambda: str(workspace.jobs.get(blocked).status) == "Running", timeout=60, what="a running job")
    assert workspace.compute.begin_delete("life", force=True).result(120) is True
    ended = workspace.jobs.get(blocked)
    assert ended.status == JobStatus.CANCELED
    assert ended.error == "Canceled because its compute 'life' was deleted with force=True."
    assert mlflow.tracking.MlflowClient(workspace.mlflow_tracking_uri).get_run(ended.run_id).info.status == "KILLED"
    assert "life" not in [c.name for c in workspace.compute.list()]
    with pytest.raises(NotFound):
        workspace.compute.get("life")


@pytest.mark.slow
def test_fifty_jobs_on_two_nodes_all_end_as_recorded(
        module_workspace: Workspace, elastic: str, code_dir: Path, tmp_path: Path) -> None:
    workspace = module_workspace
    trace = tmp_path / "trace"
    trace.mkdir()
    (code_dir / "step.py").write_text(
        "import os, sys, time\ni = int(sys.argv[1])\nstart = time.time()\ntime.sleep(0.05)\n"
        f"open(os.path.join({str(trace)!r}, str(i)), 'w').write(f'{{start}} {{time.time()}}')\n"
        "print('step', i)\nsys.exit(3 if i % 7 == 0 else 0)\n")
    names = {i: submit(workspace, code_dir, f"python step.py {i}", elastic) for i in range(50)}
    client = mlflow.tracking.MlflowClient(workspace.mlflow_tracking_uri)
    for (i, name), job in zip(names.items(), wait_all_final(workspace, list(names.values()))):
        expected = JobStatus.FAILED if i % 7 == 0 else JobStatus.COMPLETED
        assert (job.status, job.exit_code) == (expected, 3 if i % 7 == 0 else 0), job.error
        assert f"step {i}" in workspace.jobs.get_logs(name)
        assert client.get_run(job.run_id).info.status == ("FAILED" if i % 7 == 0 else "FINISHED")
    assert sorted(int(p.name) for p in trace.iterdir()) == list(range(50))  # each ran exactly once
    spans = [tuple(map(float, p.read_text().split())) for p in trace.iterdir()]
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most <= 2  # never more jobs at once than nodes
    assert workspace.compute.get(elastic).queued_jobs == []


@pytest.mark.slow
def test_cancel_and_a_node_killed_mid_job_on_a_cluster(module_workspace: Workspace, scripts: Path, tmp_path: Path) -> None:
    workspace = module_workspace
    workspace.compute.begin_create_or_update(AmlCompute(name="fragile", min_instances=1, max_instances=1)).result(120)
    # cancel: the running job's process ends, a queued job never runs
    first_pid = tmp_path / "first"
    running = submit(workspace, scripts, f"python sleep.py 60 {first_pid}", "fragile")
    queued = submit(workspace, scripts, f"python sleep.py 0 {tmp_path / 'never'}", "fragile")
    wait_until(first_pid.exists, timeout=60, what="the first job's process")
    assert workspace.jobs.begin_cancel(queued).result(60).status == JobStatus.CANCELED
    assert workspace.jobs.begin_cancel(running).result(60).status == JobStatus.CANCELED
    wait_until(lambda: not psutil.pid_exists(int(first_pid.read_text())), timeout=30, what="the canceled process to end")
    time.sleep(1)
    assert not (tmp_path / "never").exists()
    wait_until(lambda: workspace.compute.get("fragile").busy_nodes == 0, timeout=30, what="the node to be free")

    # kill -9 of the node: the job fails with the reason, the cluster replaces the node
    pidfile = tmp_path / "pid"
    name = submit(workspace, scripts, f"python sleep.py 60 {pidfile}", "fragile")
    wait_until(pidfile.exists, timeout=60, what="the job's process")
    node = wait_until(lambda: [n for n in workspace.compute.list_nodes("fragile") if n.busy and n.pid], timeout=60,
                      what="the busy node")[0]
    assert node.job_name == name
    os.kill(node.pid, signal.SIGKILL)
    failed = wait_final(workspace, name)
    assert failed.status == JobStatus.FAILED
    assert f"The node {node.address} running the job on 'fragile' died mid-job" in failed.error
    script_pid = int(pidfile.read_text())
    wait_until(lambda: not psutil.pid_exists(script_pid), timeout=30, what="the orphaned script to be ended")
    replaced = wait_until(lambda: [
        n for n in workspace.compute.list_nodes("fragile") if n.pid and n.pid != node.pid], timeout=60,
        what="a replacement node")
    assert len(replaced) == 1
    again = submit(workspace, scripts, "python sleep.py 0.1", "fragile")
    assert wait_final(workspace, again).status == JobStatus.COMPLETED
    assert workspace.compute.begin_delete("fragile").result(120) is True


@pytest.mark.slow
def test_the_next_job_waits_on_a_busy_node_and_outlives_its_death_and_a_forced_stop(
        module_workspace: Workspace, scripts: Path, tmp_path: Path) -> None:
    from distributed import Client

    from studio_ext.backends.local.compute.pools import job_key

    workspace = module_workspace
    relay = workspace.compute.begin_create_or_update(
        AmlCompute(name="relay", min_instances=1, max_instances=1)).result(120)
    pidfile = tmp_path / "pid"
    first = submit(workspace, scripts, f"python sleep.py 60 {pidfile}", "relay")
    second = submit(workspace, scripts, "python sleep.py 0.1", "relay")
    wait_until(pidfile.exists, timeout=60, what="the first job's process")
    with Client(relay.scheduler_address, timeout=30, set_as_default=False) as client:
        # the next job already waits on the busy node (to start the moment the first ends), shown as Queued
        wait_until(lambda: job_key(second) in [
            k for keys in client.processing().values() for k in keys], timeout=60, what="the next job on the node")
    assert str(workspace.jobs.get(second).status) == "Queued"
    cluster = workspace.compute.get("relay")
    assert (cluster.busy_nodes, cluster.queued_jobs) == (1, [second])
    node = wait_until(lambda: [n for n in workspace.compute.list_nodes("relay") if n.busy and n.pid], timeout=60,
                      what="the busy node")[0]
    assert node.job_name == first

    # kill -9 of that node: the running job fails with the reason; the waiting one runs on the replacement
    os.kill(node.pid, signal.SIGKILL)
    failed = wait_final(workspace, first)
    assert failed.status == JobStatus.FAILED and "died mid-job" in failed.error
    done = wait_final(workspace, second)
    assert done.status == JobStatus.COMPLETED, done.error
    assert "slept 0.1" in workspace.jobs.get_logs(second)

    # a forced stop ends the running job; the one waiting behind it stays Queued and runs after the start
    pidfile.unlink()
    running = submit(workspace, scripts, f"python sleep.py 60 {pidfile}", "relay")
    behind = submit(workspace, scripts, "python sleep.py 0.1", "relay")
    wait_until(pidfile.exists, timeout=60, what="the running job's process")
    with Client(workspace.compute.get("relay").scheduler_address, timeout=30, set_as_default=False) as client:
        wait_until(lambda: job_key(behind) in [
            k for keys in client.processing().values() for k in keys], timeout=60, what="the next job on the node")
    workspace.compute.begin_stop("relay", force=True).result(120)
    assert wait_final(workspace, running).status == JobStatus.CANCELED
    time.sleep(1)
    assert str(workspace.jobs.get(behind).status) == "Queued"
    assert workspace.compute.get("relay").queued_jobs == [behind]
    workspace.compute.begin_start("relay").result(120)
    assert wait_final(workspace, behind).status == JobStatus.COMPLETED
    assert workspace.compute.begin_delete("relay").result(120) is True


@pytest.mark.slow
def test_a_supervisor_restart_adopts_running_jobs_and_brings_the_cluster_back(
        module_workspace: Workspace, scripts: Path) -> None:
    workspace = module_workspace
    first = workspace.compute.begin_create_or_update(
        AmlCompute(name="sturdy", min_instances=1, max_instances=1)).result(120)
    running = submit(workspace, scripts, "python sleep.py 4", "sturdy")
    queued = submit(workspace, scripts, "python sleep.py 0.1", "sturdy")
    wait_until(lambda: str(workspace.jobs.get(running).status) == "Running", timeout=60, what="a running job")
    os.kill(LocalBackend.of(workspace).store.get_setting("supervisor")["pid"], signal.SIGKILL)
    workspace.compute.get("sturdy")  # any read brings a supervisor back
    assert wait_final(workspace, running).status == JobStatus.COMPLETED
    assert "slept 4" in workspace.jobs.get_logs(running)
    assert wait_final(workspace, queued).status == JobStatus.COMPLETED
    again = workspace.compute.get("sturdy")
    assert again.state == ComputeState.RUNNING and again.scheduler_address != first.scheduler_address
    assert workspace.compute.begin_delete("sturdy").result(120) is True


# -- a compute instance ------------------------------------------------------------------
@pytest.mark.slow
def test_compute_instance_limits_jobs_and_shuts_down_when_idle(module_workspace: Workspace, scripts: Path) -> None:
    workspace = module_workspace
    instance = workspace.compute.begin_create_or_update(ComputeInstance(
        name="my-ci", max_concurrent_jobs=1, idle_time_before_shutdown_minutes=0.05)).result(120)
    assert (instance.state, instance.current_nodes, instance.max_nodes) == (ComputeState.RUNNING, 1, 1)
    first = submit(workspace, scripts, "python sleep.py 1.5", "my-ci")
    second = submit(workspace, scripts, "python sleep.py 0.1", "my-ci")
    wait_until(lambda: str(workspace.jobs.get(first).status) == "Running", timeout=60, what="the first job to run")
    assert workspace.compute.get("my-ci").queued_jobs == [second]
    with pytest.raises(Conflict, match="runs jobs"):
        workspace.compute.begin_stop("my-ci")
    assert wait_final(workspace, first).status == JobStatus.COMPLETED
    assert wait_final(workspace, second).status == JobStatus.COMPLETED
    idle = wait_until(lambda: (c := workspace.compute.get("my-ci")).state == ComputeState.STOPPED
                    and c, timeout=30, what="the idle shutdown")
    assert idle.last_operation == "Stopped after 0.05 min without jobs (idle shutdown)."
    workspace.compute.begin_create_or_update(ComputeInstance(name="my-ci", max_concurrent_jobs=1)).result(60)
    assert workspace.compute.get("my-ci").state == ComputeState.STOPPED  # an update keeps it stopped
    assert workspace.compute.begin_start("my-ci").result(60).state == ComputeState.RUNNING
    assert workspace.compute.begin_restart("my-ci").result(60).state == ComputeState.RUNNING
    assert workspace.compute.begin_delete("my-ci").result(60) is True


# -- an attached scheduler ---------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[tuple[str, subprocess.Popen, subprocess.Popen]]:
    """A real `dask scheduler` and two one-thread `dask worker`s on 127.0.0.1 (the last test using it kills it)."""
    bindir = Path(sys.executable).parent
    with serve(lambda port: [str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                             "--no-dashboard"], name="dask scheduler") as scheduler:
        address = f"tcp://127.0.0.1:{scheduler.port}"
        workers = subprocess.Popen([bindir / "dask", "worker", address, "--nthreads", "1", "--nworkers", "2",
                                    "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield address, scheduler.process, workers
        finally:
            stop(workers)


@pytest.mark.slow
def test_cancel_reaches_a_job_through_dask_alone(scripts: Path, tmp_path: Path, dask_scheduler: tuple) -> None:
    """The cancel path for remote nodes, where no pid is reachable from the supervisor."""
    from distributed import Client

    from studio_ext.backends.local.compute import node as compute_node
    from studio_ext.backends.local.jobs.runner import WRAPPER

    address = dask_scheduler[0]
    job_dir = tmp_path / "job"
    (job_dir / "logs").mkdir(parents=True)
    launch = {"job_name": "remote-job", "job_dir": str(job_dir), "cwd": str(scripts), "wrapper": WRAPPER,
              "argv": [compute_node.NODE_PYTHON, "sleep.py", "60"], "env": dict(os.environ),
              "exit_file": str(job_dir / "exit.json"), "log_file": str(job_dir / "logs" / "log.txt")}
    with Client(address, timeout=30, set_as_default=False) as client:
        future = client.submit(compute_node.run_on_dask_worker, launch, pure=False)
        wait_until((job_dir / compute_node.NODE_FILE).exists, timeout=60, what="the job to start")
        asked = time.monotonic()
        client.run(compute_node.cancel_on_worker, "remote-job")
        outcome = future.result(timeout=30)
    assert outcome["outcome"] == "exited" and time.monotonic() - asked < 20  # not the 60 s the script sleeps
    assert not psutil.pid_exists(outcome["pid"])
    if (job_dir / "exit.json").exists():  # absent only if the wrapper needed the SIGKILL after the grace time
        assert json.loads((job_dir / "exit.json").read_text())["exit_code"] == -signal.SIGTERM


@pytest.mark.slow
def test_attached_scheduler_runs_and_cancels_jobs_and_reports_when_it_goes(
        module_workspace: Workspace, scripts: Path, tmp_path: Path, dask_scheduler: tuple) -> None:
    workspace = module_workspace
    address, scheduler, _ = dask_scheduler
    attached = workspace.compute.begin_create_or_update(
        AttachedCompute(name="remote", address=address.removeprefix("tcp://"), connect_timeout=30)).result(120)
    assert attached.type == ComputeType.ATTACHED and attached.scheduler_address == address
    wait_until(lambda: workspace.compute.get("remote").current_nodes == 2, timeout=60, what="both workers")
    pidfile = tmp_path / "pid"
    long_job = submit(workspace, scripts, f"python sleep.py 60 {pidfile}", "remote")
    short = [submit(workspace, scripts, "python sleep.py 0.2", "remote") for _ in range(3)]
    for name in short:
        assert wait_final(workspace, name).status == JobStatus.COMPLETED
    wait_until(pidfile.exists, timeout=60, what="the long job's process")
    assert workspace.jobs.begin_cancel(long_job).result(60).status == JobStatus.CANCELED
    wait_until(lambda: not psutil.pid_exists(int(pidfile.read_text())), timeout=30, what="the canceled process to end")

    scheduler.kill()
    failed = wait_until(lambda: (
        c := workspace.compute.get("remote")).state == ComputeState.FAILED and c, timeout=60,
        what="the lost scheduler to show")
    assert f"Lost the connection to the Dask scheduler at {address}" in failed.error
    stranded = submit(workspace, scripts, "python sleep.py 0", "remote")
    assert "failed: Lost the connection" in wait_final(workspace, stranded).error
    assert workspace.compute.begin_delete("remote").result(60) is True


def test_compute_is_one_of_the_workspace_services(module_workspace: Workspace) -> None:
    from studio_ext.services import ComputeOperations

    assert isinstance(module_workspace.compute, ComputeOperations)
