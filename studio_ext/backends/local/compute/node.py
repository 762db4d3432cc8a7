"""What runs on a compute node for one job: the job's wrapper as its own process.

Standard library and psutil only (psutil ships with Dask), and shipped to Dask
workers by value with ``core/processes.py``, so a worker of an attached cluster needs
no studio_ext install: only the workspace folder at the same path (where the job's
code, log and exit file live) and a Python.

The node writes ``node.json`` (pid, host, worker) into the job folder as soon as
the process runs, which is how the supervisor learns where a job is. A
``node.claim`` file makes a job run at most once: if Dask re-runs the task after
its worker died, the second attempt reports that instead of starting the job again.
A ``canceled`` file there keeps a canceled job from starting.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from studio_ext.backends.local.core.processes import JOB_MARKER, kill_tree, start_time

NODE_PYTHON = "{node_python}"  # argv placeholder: the node's own interpreter
CLAIM_FILE = "node.claim"
NODE_FILE = "node.json"
CANCELED_FILE = "canceled"  # written into the job folder by whoever cancels the job
CANCEL_POLL_SECONDS = 0.25


def run_job(launch: dict[str, Any], cancelled: Callable[[], bool], worker: str,
            withdrawn: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Run one job's wrapper to its end; return how the attempt went.

    ``outcome`` is ``exited`` (see ``exit.json`` for the script's code), ``canceled``
    (cancel, or ``withdrawn``: its target stops, arrived before the start; nothing is
    claimed, so a withdrawn job can be sent again), ``rerun`` (an earlier attempt claimed the
    job, so its node died) or ``unreachable`` (this node cannot see the workspace).
    """
    job_dir = launch["job_dir"]
    if not os.path.isdir(job_dir):
        return {"outcome": "unreachable", "error": (
            f"The node {worker} on {socket.gethostname()} cannot see the job folder {job_dir}. "
            "Workers of an attached cluster need the workspace folder at the same path "
            "(a shared filesystem).")}
    if cancelled() or withdrawn() or os.path.exists(os.path.join(job_dir, CANCELED_FILE)):
        return {"outcome": "canceled"}
    try:
        os.close(os.open(os.path.join(job_dir, CLAIM_FILE), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return {"outcome": "rerun"}
    argv = [sys.executable if arg == NODE_PYTHON else arg for arg in launch["argv"]]
    proc = subprocess.Popen(
        [sys.executable, "-S", launch["wrapper"], launch["exit_file"], launch["log_file"], "--", *argv],
        cwd=launch["cwd"], env=launch["env"], start_new_session=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    record = {"pid": proc.pid, "pid_start": start_time(proc.pid), "host": socket.gethostname(),
              "worker": worker, "worker_pid": os.getpid(), "started": time.time()}
    tmp = os.path.join(job_dir, NODE_FILE + ".tmp")
    with open(tmp, "w") as handle:
        json.dump(record, handle)
    os.replace(tmp, os.path.join(job_dir, NODE_FILE))
    marker = launch["env"].get(JOB_MARKER)
    wait_for_exit(proc, cancelled, record["pid_start"], marker)
    if not os.path.exists(launch["exit_file"]):
        # The wrapper died without ending the job's processes (killed with SIGKILL): end them here.
        kill_tree(proc.pid, record["pid_start"], marker=marker)
    return {"outcome": "exited", "returncode": proc.returncode, **record}


def wait_for_exit(proc: subprocess.Popen, cancelled: Callable[[], bool], started: float | None = None,
                  marker: str | None = None) -> None:
    """Return the moment the job's wrapper exits; end the job's processes if cancel is flagged meanwhile.

    Waits on a pidfd where there is one (Linux): ``Popen.wait(timeout)`` polls with
    sleeps of up to 50 ms, and the node's next job would wait that long to start.
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux, or an old kernel: poll
        pidfd = None
    try:
        while True:
            if pidfd is not None:
                if select.select([pidfd], [], [], CANCEL_POLL_SECONDS)[0]:
                    proc.wait()
                    return
            else:
                try:
                    proc.wait(timeout=CANCEL_POLL_SECONDS)
                    return
                except subprocess.TimeoutExpired:
                    pass
            if cancelled():
                kill_tree(proc.pid, started, marker=marker, reap=proc.poll)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def mark_canceled(job_dir: str) -> None:
    """Leave word in the job folder that the job is canceled: a node about to start it reads it there.

    The scheduler's cancel reaches a node a moment later; a job queued on a node
    behind a running one could start in that moment when the running one ends.
    """
    try:
        os.close(os.open(os.path.join(job_dir, CANCELED_FILE), os.O_CREAT | os.O_WRONLY))
    except OSError:  # no folder (the job never got one): nothing can start it either
        pass


def end_job_process(pid: int, pid_start: float | None, marker: str | None = None) -> bool:
    """Run on a node of the job's host: end the job's processes (see ``core/processes.py``); True if any ran."""
    return kill_tree(pid, pid_start, marker=marker)


def _cancel_flags(worker: Any) -> dict[str, threading.Event]:
    # Kept on the Worker object: both the task thread and Client.run calls reach it.
    return worker.__dict__.setdefault("_studio_job_cancels", {})


def _withdraw_flags(worker: Any) -> dict[str, threading.Event]:
    return worker.__dict__.setdefault("_studio_job_withdrawals", {})


def run_on_dask_worker(launch: dict[str, Any]) -> dict[str, Any]:
    """The Dask task of a job; :func:`cancel_on_worker` (sent with ``Client.run``) stops it."""
    from distributed import get_worker

    worker = get_worker()
    if launch.get("frees_slot"):
        from distributed import secede

        # A job that mostly waits for tasks it sends to this cluster (AutoML's trials): its node takes them.
        secede()
    flag = _cancel_flags(worker).setdefault(launch["job_name"], threading.Event())
    held_back = _withdraw_flags(worker).setdefault(launch["job_name"], threading.Event())
    try:
        return run_job(launch, flag.is_set, worker.address, held_back.is_set)
    finally:
        _cancel_flags(worker).pop(launch["job_name"], None)
        _withdraw_flags(worker).pop(launch["job_name"], None)


def cancel_on_worker(job_name: str, dask_worker: Any = None) -> bool:
    """Run by ``Client.run`` on the workers: flag the job canceled (also before it arrives)."""
    _cancel_flags(dask_worker).setdefault(job_name, threading.Event()).set()
    return True


def withdraw_on_worker(job_name: str, dask_worker: Any = None) -> bool:
    """Run by ``Client.run`` on the workers: do not start the job (it waits in a node's queue)."""
    _withdraw_flags(dask_worker).setdefault(job_name, threading.Event()).set()
    return True
