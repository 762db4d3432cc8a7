"""The supervisor's duty for the batch endpoints' REST gateway: one process per workspace, kept alive.

While the workspace has a batch endpoint, its gateway (``python -m
studio_ext.backends.local.batch.gateway WORKSPACE --fd N``) serves on 127.0.0.1 at the port
recorded in the store setting ``batch_gateway`` (reserved once, kept for good, so scoring URIs do
not change); the duty opens the socket and the process inherits it. A gateway that dies is
started again; the next supervisor adopts a running one by pid and start time. Once the last
batch endpoint is deleted the gateway is stopped (the port stays reserved). If another program
took the port meanwhile, a new one is recorded and the endpoints' URIs follow it.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from studio_ext.backends.local.batch import gateway
from studio_ext.backends.local.core.processes import pid_alive, start_time, stop_process
from studio_ext.backends.local.core.schema import batch_endpoints

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

log = logging.getLogger("studio_ext.supervisor.batch")
PASS_SECONDS = 0.5
CRASH_WINDOW_SECONDS = 120.0
MAX_CRASHES = 5
# A port found taken is tried again this long before the gateway moves: a gateway that was just
# killed can hold its socket for a moment after it no longer counts as running.
PORT_PATIENCE_SECONDS = 5.0


def log_path(backend: LocalBackend) -> Any:
    return backend.logs_dir / "batch-gateway.log"


def stop_gateway(backend: LocalBackend) -> list[str]:
    """End the workspace's gateway process (``studio-ext server stop --all``); what was ended."""
    record = backend.store.get_setting(gateway.SETTING) or {}
    if pid_alive(record.get("pid"), record.get("pid_start")):
        stop_process(record["pid"], record.get("pid_start"), grace=5.0)
        return [f"batch endpoints gateway (pid {record['pid']})"]
    return []


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((gateway.HOST, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class BatchGatewayDuty:
    """Keeps the batch gateway running while the workspace has batch endpoints."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend
        self._child: subprocess.Popen[bytes] | None = None
        self._has_endpoints = False
        self._last_pass = 0.0
        self._crashes: list[float] = []
        self._port_taken_since: float | None = None

    # -- the duty contract ---------------------------------------------------------------------
    def recover(self) -> None:
        self._pass()

    def tick(self) -> None:
        if self._child is not None and self._child.poll() is not None:
            self._child = None  # reaped; the pass below starts another if one is needed
        if time.monotonic() - self._last_pass >= PASS_SECONDS:
            self._pass()

    def busy(self) -> bool:
        """A workspace with batch endpoints keeps its supervisor (and so its gateway) up."""
        return self._has_endpoints

    def shutdown(self) -> None:
        """Leave the gateway running: the next supervisor adopts it (it exits if none comes)."""

    # -- one pass --------------------------------------------------------------------------------
    def _pass(self) -> None:
        self._last_pass = time.monotonic()
        with self._b.store.engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(batch_endpoints)).scalar() or 0
        self._has_endpoints = count > 0
        record = self._b.store.get_setting(gateway.SETTING) or {}
        alive = pid_alive(record.get("pid"), record.get("pid_start"))
        if not self._has_endpoints:
            if alive:
                log.info("no batch endpoints left: stopping the gateway (pid %s)", record["pid"])
                stop_process(record["pid"], record.get("pid_start"), grace=5.0)
                self._b.store.set_setting(gateway.SETTING, {"port": record.get("port")})
            return
        if alive:
            return
        now = time.monotonic()
        self._crashes = [t for t in self._crashes if now - t < CRASH_WINDOW_SECONDS]
        if record.get("pid") and len(self._crashes) >= MAX_CRASHES:
            return  # crashing at start: the log says why; tried again once the window passes
        if record.get("pid") and self._port_taken_since is None:
            self._crashes.append(now)
            log.warning("the batch gateway (pid %s) is gone; starting it again", record["pid"])
        self._start()

    def _start(self) -> None:
        port = gateway.gateway_port(self._b)
        try:
            sock = _listen(port)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            now = time.monotonic()
            if self._port_taken_since is None:
                self._port_taken_since = now
            if now - self._port_taken_since < PORT_PATIENCE_SECONDS:
                return  # the next pass tries again
            sock = _listen(0)
            log.warning("the batch gateway's port %s is taken by another program; it moves to %s and the "
                        "endpoints' scoring URIs follow", port, sock.getsockname()[1])
        self._port_taken_since = None
        port = sock.getsockname()[1]
        path = log_path(self._b)
        path.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT"))}
        env["PYTHONUNBUFFERED"] = "1"
        try:
            with open(path, "ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "studio_ext.backends.local.batch.gateway", str(self._b.path),
                     "--fd", str(sock.fileno())],
                    pass_fds=(sock.fileno(),), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                    start_new_session=True, cwd=str(self._b.path), env=env)
        finally:
            sock.close()
        self._child = proc
        self._b.store.set_setting(gateway.SETTING, {"port": port, "pid": proc.pid, "pid_start": start_time(proc.pid),
                                                    "started": time.time()})
        log.info("batch gateway started on port %s (pid %s)", port, proc.pid)
