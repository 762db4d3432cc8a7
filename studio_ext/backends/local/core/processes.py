"""The processes of jobs and servers on this machine: which are still ours, and ending all of a job's.

A job's processes are found three ways, because each alone misses some:

* below its wrapper (``jobs/_wrap.py``, or the warm AutoML spare), while the wrapper
  lives. On Linux the wrapper is a child subreaper, so an orphan of the job (a daemon
  that forked twice) is re-parented to it rather than to init and stays below it;
* in the wrapper's session: the wrapper leads one, so its pid is the session's id.
  Linux does not hand out a pid again while a session of that id has members, so
  after the wrapper died the id still names the job's session;
* by the marker in their environment, ``STUDIO_EXT_JOB=<job name>:<run id>``, which
  every job's environment carries and every process inherits: it finds a daemon that
  left the session after the wrapper died (killed with SIGKILL, say).

A process that both left the job's session and has no marker is let go: the workspace
supervisor, when a job's script is the first to need it, starts that way.

Standard library and psutil only (psutil ships with Dask): ``compute/node.py`` ships
this module to Dask workers by value, so workers of an attached cluster need no
studio_ext install.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable

import psutil

__all__ = ["GRACE_SECONDS", "JOB_MARKER", "job_marker", "job_processes", "kill_tree", "pid_alive", "start_time",
           "stop_process"]

JOB_MARKER = "STUDIO_EXT_JOB"  # the environment variable that marks a job's processes
GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL
_SAME_START = 1.0  # seconds: two start times this close are the same process
_KILL_ROUNDS = 20  # SIGKILL rounds, for processes forked while the previous round was sent


def job_marker(name: str, run_id: str) -> str:
    """The value of :data:`JOB_MARKER` for a job: unique across workspaces (the run id is a UUID)."""
    return f"{name}:{run_id}"


def start_time(pid: int | None) -> float | None:
    """When ``pid`` started (seconds since the epoch), or None if no such process runs."""
    if not pid:
        return None
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def pid_alive(pid: int | None, started: float | None) -> bool:
    """True when ``pid`` runs and is the same process (its start time matches ``started``)."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < _SAME_START
    except psutil.Error:
        return False


def job_processes(pid: int | None, started: float | None, marker: str | None = None) -> list[psutil.Process]:
    """The running processes of the job whose wrapper is (or was) ``pid``, started at ``started``.

    ``marker`` is the job's :func:`job_marker`; without it, only the wrapper's
    descendants and its session are found.
    """
    found: dict[int, psutil.Process] = {}
    wrapper_start = start_time(pid)
    same = wrapper_start is not None and (started is None or abs(wrapper_start - started) < _SAME_START)
    # The session id is the wrapper's pid, unless that pid now names another process.
    session = pid if pid and (wrapper_start is None or same) else None
    if pid and same:
        try:
            wrapper = psutil.Process(pid)
            found[pid] = wrapper
            for proc in wrapper.children(recursive=True):
                if marker is None or _session(proc) == session or _marked(proc, marker):
                    found[proc.pid] = proc
        except psutil.Error:
            pass
    if session is not None or marker is not None:
        since = (started if started is not None else wrapper_start or 0.0) - _SAME_START
        for proc in psutil.process_iter():
            if proc.pid in found:
                continue
            try:
                if session is not None and _session(proc) == session and proc.create_time() >= since:
                    found[proc.pid] = proc
                elif marker is not None and _marked(proc, marker):
                    found[proc.pid] = proc
            except psutil.Error:
                continue
    return [proc for proc in found.values() if _running(proc)]


def kill_tree(pid: int | None, started: float | None, *, marker: str | None = None, grace: float = GRACE_SECONDS,
              reap: Callable[[], object] | None = None) -> bool:
    """End every process of a job (see :func:`job_processes`): SIGTERM, then SIGKILL after ``grace`` seconds.

    ``reap`` collects the wrapper when it is the caller's child: until then it stays a
    zombie. Returns True if there was anything to end.
    """
    procs = job_processes(pid, started, marker)
    if not procs:
        return False
    if pid and pid_alive(pid, started):
        _signal_group(pid, signal.SIGTERM)  # the whole group at once, before anyone in it forks again
    _signal(procs, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while True:
        if reap is not None:
            reap()
        if not any(_running(proc) for proc in procs) or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    for _ in range(_KILL_ROUNDS):  # what is left, and what was started meanwhile
        if pid and pid_alive(pid, started):
            _signal_group(pid, signal.SIGKILL)
        procs = job_processes(pid, started, marker)
        if not procs:
            break
        _signal(procs, signal.SIGKILL)
        if reap is not None:
            reap()
        time.sleep(0.05)
    return True


def stop_process(pid: int | None, started: float | None, grace: float = 10.0) -> None:
    """End one process (a server, which drains on SIGTERM): SIGTERM, then SIGKILL after ``grace`` seconds."""
    if not pid_alive(pid, started):
        return
    try:
        proc = psutil.Process(pid)
        proc.terminate()
        proc.wait(timeout=grace)
    except psutil.TimeoutExpired:
        proc.kill()
    except psutil.Error:
        pass


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _session(proc: psutil.Process) -> int | None:
    try:
        return os.getsid(proc.pid)
    except OSError:
        return None


def _marked(proc: psutil.Process, marker: str) -> bool:
    try:
        return proc.environ().get(JOB_MARKER) == marker
    except psutil.Error:
        return False


def _signal(procs: Iterable[psutil.Process], signum: int) -> None:
    for proc in procs:
        try:
            proc.send_signal(signum)  # psutil checks the pid still names this process
        except psutil.Error:
            pass


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(os.getpgid(pid), signum)
    except (ProcessLookupError, PermissionError):
        pass
