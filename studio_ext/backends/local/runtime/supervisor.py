"""One supervisor process per workspace owns everything that outlives a kernel.

It is started on demand (:func:`ensure_running`) by the first service that needs it,
holds an exclusive lock on ``.supervisor.lock`` for its whole life (so "is it
running?" is a non-blocking lock attempt, immune to stale pid files), records its
pid in the workspace, and runs its duties in one loop: local jobs today, compute
clusters, endpoints and schedules as they land. All state lives in the workspace
store, so killing it loses nothing: the next one recovers and adopts.

It is the local backend's runtime: built from a :class:`LocalBackend` (never from a
Workspace), and driven from kernels through ``ws.runtime`` (``LocalRuntime``). It
exits when idle for ``STUDIO_EXT_SUPERVISOR_IDLE_EXIT`` seconds, and within
``FOLDER_CHECK_SECONDS`` of its workspace folder being deleted.

``python -m studio_ext.backends.local.runtime.supervisor WORKSPACE`` runs it in the foreground;
``studio-ext server stop`` stops it.
"""

from __future__ import annotations

import fcntl
import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio_ext.backends.local.core import wakeups
from studio_ext.backends.local.core.processes import JOB_MARKER
from studio_ext.errors import BackendUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

LOCK_FILE = ".supervisor.lock"
SETTING = "supervisor"
# Duties: "module:Class", each built with the backend, with tick(), busy(), recover(), shutdown().
# A duty whose busy work runs in threads of its own may say how often it needs tick() while
# busy (``busy_tick_seconds``); the loop then polls the store no faster than the busiest duty needs.
DUTIES = [
    "studio_ext.backends.local.jobs.runner:LocalJobRunner",
    "studio_ext.backends.local.endpoints.duty:EndpointsDuty",
    "studio_ext.backends.local.compute.runner:ComputeRunner",
    "studio_ext.backends.local.sweeps.duty:SweepDuty",
    "studio_ext.backends.local.pipelines.duty:PipelineDuty",
    "studio_ext.backends.local.schedules.duty:SchedulesDuty",
    "studio_ext.backends.local.batch.duty:BatchGatewayDuty",
]
TICK_SECONDS = 0.05
IDLE_TICK_SECONDS = 0.25  # nothing to watch: poll the store less often (a new job waits <= 0.25 s)
IDLE_EXIT_SECONDS = float(os.environ.get("STUDIO_EXT_SUPERVISOR_IDLE_EXIT", "1800"))
# How often the loop checks that its workspace still exists (a deleted folder ends it).
FOLDER_CHECK_SECONDS = 5.0
WORKSPACE_FILE = "workspace.toml"

log = logging.getLogger("studio_ext.supervisor")


def is_running(workspace: Path) -> bool:
    """True when some process holds the workspace's supervisor lock."""
    lock_path = workspace / LOCK_FILE
    if not lock_path.exists():
        return False
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def ensure_running(workspace: Path, store: Any, timeout: float = 180.0) -> bool:
    """Start the supervisor unless one runs; return True if this call started it.

    Waits until the new supervisor has recovered the workspace's state, so the
    caller reads settled job states.
    """
    if is_running(workspace):
        return False
    log_path = workspace / "logs" / "supervisor.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    proc = _spawn(workspace, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = store.get_setting(SETTING) or {}
        if record.get("ready") and is_running(workspace):
            if record.get("pid") == proc.pid or proc.poll() is not None:
                return True
        if proc.poll() == 0 and not is_running(workspace):
            # It stepped aside for a supervisor that has exited since: start another.
            proc = _spawn(workspace, log_path)
        elif proc.poll() not in (None, 0):
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
            raise BackendUnavailable(
                "The workspace supervisor could not start. Its log says:\n" + "\n".join(tail)
                + f"\nFull log: {log_path}"
            )
        time.sleep(0.05)
    raise BackendUnavailable(f"The workspace supervisor did not become ready in {timeout:.0f} s; see {log_path}.")


def spawn_detached(workspace: Path) -> None:
    """Start a supervisor for ``workspace`` without waiting for it (one already running makes it step aside)."""
    log_path = workspace / "logs" / "supervisor.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    _DETACHED.append(_spawn(workspace, log_path))
    _DETACHED[:] = [p for p in _DETACHED if p.poll() is None]  # reap the ones that ended


_DETACHED: list[subprocess.Popen[bytes]] = []  # kept so an ended one is reaped, not warned about


def _spawn(workspace: Path, log_path: Path) -> subprocess.Popen[bytes]:
    # Without a job's marker, in a session of its own: a supervisor that a job's script started is not one
    # of the job's processes, and outlives the job (see core/processes.py).
    env = {k: v for k, v in os.environ.items() if k != JOB_MARKER}
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "studio_ext.backends.local.runtime.supervisor", str(workspace)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
            cwd=str(workspace), env=env,
        )


def _acquire(handle: Any, patience: float = 2.0) -> bool:
    """Take the exclusive lock, retrying briefly.

    :func:`is_running` probes by taking the lock for an instant, so one failed
    attempt can mean "someone is looking", not "another supervisor runs".
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)


def stop(workspace: Path, store: Any, timeout: float = 30.0) -> bool:
    """Stop the supervisor of ``workspace`` (SIGTERM, then wait); True if one was running."""
    if not is_running(workspace):
        return False
    record = store.get_setting(SETTING) or {}
    pid = record.get("pid")
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
    deadline = time.monotonic() + timeout
    while is_running(workspace) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def tick_seconds(busy_duties: list[Any]) -> float:
    """How long the loop sleeps: as short as the busiest duty needs, long when none is busy."""
    return min((getattr(d, "busy_tick_seconds", TICK_SECONDS) for d in busy_duties), default=IDLE_TICK_SECONDS)


class Supervisor:
    """The loop over the duties of one local backend's workspace."""

    def __init__(self, backend: LocalBackend) -> None:
        self.backend = backend
        self.path = backend.path
        self.duties: list[Any] = []
        self._stop = False
        # Set by wakeups.notify when a duty (or a compute's finalizer thread) changed jobs: tick at once.
        self._wake = threading.Event()

    def run(self) -> int:
        lock_handle = open(self.path / LOCK_FILE, "a+")
        if not _acquire(lock_handle):
            log.info("another supervisor already runs for %s", self.path)
            return 0
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        store = self.backend.store
        store.set_setting(SETTING, {"pid": os.getpid(), "started": time.time(), "ready": False})
        for target in DUTIES:
            module, _, cls = target.partition(":")
            duty = getattr(importlib.import_module(module), cls)(self.backend)
            duty.recover()
            self.duties.append(duty)
        store.set_setting(SETTING, {"pid": os.getpid(), "started": time.time(), "ready": True})
        log.info("supervisor %s ready for %s", os.getpid(), self.path)
        idle_since = time.monotonic()
        folder_checked = time.monotonic()
        wakeups.subscribe(self.path, self._wake.set)
        try:
            while not self._stop:
                self._wake.clear()
                for duty in self.duties:
                    try:
                        duty.tick()
                    except Exception:  # one failing duty must not stop the others
                        log.exception("duty %s failed", type(duty).__name__)
                busy = [d for d in self.duties if d.busy()]
                if busy:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > IDLE_EXIT_SECONDS:
                    log.info("idle for %.0f s, exiting", IDLE_EXIT_SECONDS)
                    break
                if time.monotonic() - folder_checked > FOLDER_CHECK_SECONDS:
                    folder_checked = time.monotonic()
                    if not self.workspace_exists():
                        log.info("workspace %s was deleted, exiting", self.path)
                        break
                self._wake.wait(tick_seconds(busy))
        finally:
            wakeups.unsubscribe(self.path, self._wake.set)
            for duty in self.duties:
                try:
                    duty.shutdown()
                except Exception:  # shutting down best-effort; state is in the store
                    log.exception("duty %s failed to shut down", type(duty).__name__)
            try:
                store.delete_setting(SETTING)
            except Exception:  # the store may have gone with a deleted workspace
                log.exception("could not clear the supervisor record")
            fcntl.flock(lock_handle, fcntl.LOCK_UN)
            lock_handle.close()
        return 0

    def workspace_exists(self) -> bool:
        """False once the workspace folder (or its workspace.toml) is gone."""
        return (self.path / WORKSPACE_FILE).is_file()

    def _request_stop(self, *_: Any) -> None:
        self._stop = True
        self._wake.set()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from studio_ext.backends.local import LocalBackend

    return Supervisor(LocalBackend.from_folder(Path(argv[0]))).run()


if __name__ == "__main__":
    sys.exit(main())
