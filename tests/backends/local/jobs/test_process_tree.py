"""A job's processes end with the job: the ones it leaves behind, a daemon it starts, and after its wrapper dies.

Each test runs on ``compute="local"`` (the supervisor starts the wrapper) and on a
compute instance (a node starts it), the two ways a job's wrapper is started.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from studio_ext import Workspace, command
from studio_ext.backends.local.jobs.service import LocalJobs
from studio_ext.entities import ComputeInstance, JobStatus
from tests.helpers import wait_until

# The script starts a daemon the classic way (fork, setsid, fork) that ignores SIGTERM, writes the
# daemon's pid and then its own, and sleeps (``stay``) or ends at once (``leave``).
TREE = """import os, signal, sys, time
out, mode = sys.argv[1], sys.argv[2]

def record(path, pid):
    with open(path + ".tmp", "w") as handle:
        handle.write(str(pid))
    os.replace(path + ".tmp", path)

child = os.fork()
if child == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        record(out + ".daemon", os.getpid())
        time.sleep(300)
        os._exit(0)
    os._exit(0)
os.waitpid(child, 0)
while not os.path.exists(out + ".daemon"):
    time.sleep(0.01)
record(out + ".script", os.getpid())
print("daemon started", flush=True)
if mode == "stay":
    time.sleep(300)
"""


@pytest.fixture(scope="module")
def instance(module_workspace: Workspace) -> Iterator[str]:
    module_workspace.compute.begin_create_or_update(ComputeInstance(name="tree-ci", max_concurrent_jobs=2)).result(120)
    yield "tree-ci"
    module_workspace.compute.begin_delete("tree-ci", force=True).result(120)


@pytest.fixture(params=["local", "instance"])
def compute(request: pytest.FixtureRequest) -> str:
    return "local" if request.param == "local" else request.getfixturevalue("instance")


@pytest.fixture
def tree(code_dir: Path, tmp_path: Path) -> Iterator[Path]:
    """The script, and the prefix of its pid files; whatever the test leaves running is killed after it."""
    (code_dir / "tree.py").write_text(TREE)
    out = tmp_path / "pids"
    yield out
    for suffix in (".daemon", ".script"):
        path = Path(str(out) + suffix)
        if path.exists() and _running(int(path.read_text())):
            os.kill(int(path.read_text()), signal.SIGKILL)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _start(ws: Workspace, out: Path, mode: str, compute: str) -> tuple[str, int, int]:
    """Submit the script; return the job's name and the pids of its daemon and script, once both run."""
    name = ws.jobs.create_or_update(command(code=str(out.parent / "src"), compute=compute,
                                            command=f"python tree.py {out} {mode}")).name
    script = Path(str(out) + ".script")
    wait_until(script.exists, timeout=120, what=f"job {name} to start its daemon")
    return name, int(Path(str(out) + ".daemon").read_text()), int(script.read_text())


def _ended(ws: Workspace, name: str) -> object:
    return wait_until(lambda: (job := ws.jobs.get(name)).status.is_terminal and job, timeout=120,
                      what=f"job {name} to end")


def test_cancel_ends_a_daemon_that_left_the_session_and_ignores_sigterm(
        module_workspace: Workspace, tree: Path, compute: str) -> None:
    name, daemon, script = _start(module_workspace, tree, "stay", compute)
    assert os.getsid(daemon) != os.getsid(script)  # it left the job's session and group
    canceled = module_workspace.jobs.begin_cancel(name).result(timeout=60)
    assert canceled.status == JobStatus.CANCELED
    wait_until(lambda: not _running(script) and not _running(daemon), timeout=20,
               what="the script and its daemon to end")


def test_a_job_that_ends_takes_what_it_left_running_with_it(
        module_workspace: Workspace, tree: Path, compute: str) -> None:
    name, daemon, script = _start(module_workspace, tree, "leave", compute)
    done = _ended(module_workspace, name)
    assert done.status == JobStatus.COMPLETED, done.error
    assert "daemon started" in module_workspace.jobs.get_logs(name)
    wait_until(lambda: not _running(daemon), timeout=20, what="the daemon the job left to end")


def test_a_wrapper_killed_with_sigkill_leaves_none_of_the_jobs_processes(
        module_workspace: Workspace, tree: Path, compute: str) -> None:
    name, daemon, script = _start(module_workspace, tree, "stay", compute)
    wrapper = wait_until(lambda: LocalJobs._row(module_workspace.jobs, name).pid, timeout=30,
                         what="the wrapper's pid to be recorded")
    assert psutil.Process(script).ppid() == wrapper
    os.kill(wrapper, signal.SIGKILL)
    failed = _ended(module_workspace, name)
    assert failed.status == JobStatus.FAILED
    assert "died without reporting" in failed.error
    wait_until(lambda: not _running(script) and not _running(daemon), timeout=20,
               what="the script and its daemon to end after their wrapper died")


STARTS_SUPERVISOR = """import sys, time
from pathlib import Path
from studio_ext import Workspace

flag, out = Path(sys.argv[2]), Path(sys.argv[3])
while not flag.exists():
    time.sleep(0.05)
ws = Workspace(sys.argv[1])
assert ws.runtime.start()  # the supervisor was killed: this job's script is the first to need one
out.write_text(str(ws.runtime.status().pid))
"""


def test_a_supervisor_that_a_jobs_script_started_outlives_the_job(workspace: Workspace, code_dir: Path,
                                                                   tmp_path: Path) -> None:
    (code_dir / "restart.py").write_text(STARTS_SUPERVISOR)
    flag, out = tmp_path / "go", tmp_path / "supervisor.pid"
    name = workspace.jobs.create_or_update(command(
        code=str(code_dir), command=f"python restart.py {workspace.path} {flag} {out}")).name
    wait_until(lambda: str(workspace.jobs.get(name).status) == "Running", timeout=120, what=f"job {name} to run")
    first = workspace.runtime.status().pid
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: not _running(first), timeout=30, what="the supervisor to die")
    flag.touch()
    started = int(wait_until(lambda: out.exists() and out.read_text(), timeout=120,
                             what="the job's script to start a supervisor"))
    done = _ended(workspace, name)  # finalized by the supervisor the script started, which adopted the job
    assert done.status == JobStatus.COMPLETED, done.error
    assert _running(started) and workspace.runtime.status().pid == started
