"""Helpers shared by the test suite: waiting for a condition, and a server process on a free local port.

Imported as ``from tests.helpers import wait_until, serve``. The suite runs with
``--import-mode=importlib``, under which pytest imports ``tests/conftest.py`` as
``tests.conftest`` and so makes ``tests`` a package rooted at this folder, whatever
the working directory and whichever ``tests`` package an installed library ships.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_until(check: Callable[[], T], *, timeout: float = 60.0, interval: float = 0.05,
               what: str | Callable[[], str] = "the condition") -> T:
    """Call ``check`` until it returns something true and return that; fail the test after ``timeout`` s.

    ``what`` names the condition in the failure message, e.g. ``what="job x to end"``; a
    callable is asked at the failure, to say what the state was then.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


def completed_log(ws: object, job: object, *, timeout: float = 600.0) -> str:
    """Wait for ``job`` (a submitted job) to end, assert it Completed, and return its log."""
    from studio_ext.entities import JobStatus

    with open(os.devnull, "w") as quiet:
        done = ws.jobs.stream(job.name, out=quiet, timeout=timeout)  # type: ignore[attr-defined]
    log = ws.jobs.get_logs(job.name)  # type: ignore[attr-defined]
    assert done.status == JobStatus.COMPLETED, log
    return str(log)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    """A server started by :func:`serve`: where it listens, its process and its log."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path | None
    ready: Callable[[ServerProcess], object]
    timeout: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, lines: int = 60) -> str:
        """The last ``lines`` lines of the server's log."""
        if self.log_path is None:
            return "(no log kept)"
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_ready(self) -> None:
        """Return once ``ready(server)`` answers; fail the test, with the log's tail, if the server exits or
        is not ready within ``timeout`` seconds of this call."""
        deadline, last = time.monotonic() + self.timeout, None
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.process.returncode}:\n{self.log()}", pytrace=False)
            try:
                if self.ready(self):
                    return
            except Exception as exc:  # noqa: BLE001 - not answering yet; the last error is reported below
                last = exc
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} did not answer within {self.timeout:g} s ({last!r}):\n{self.log()}",
                            pytrace=False)
            time.sleep(0.2)


def _listening(server: ServerProcess) -> bool:
    with socket.create_connection(("127.0.0.1", server.port), timeout=2):
        return True


@contextmanager
def serve(command: Callable[[int], list[str]], *, name: str, ready: Callable[[ServerProcess], object] = _listening,
          log_path: Path | None = None, cwd: str | os.PathLike[str] | None = None,
          env: Mapping[str, str] | None = None, timeout: float = 60.0, wait: bool = True,
          stop_timeout: float = 20.0) -> Iterator[ServerProcess]:
    """Start ``command(port)`` on a free 127.0.0.1 port, wait until it is ready, stop it on the way out.

    ``ready(server)`` is called until it returns something true without raising (by
    default: the port accepts a connection); see :meth:`ServerProcess.wait_ready`. With
    ``wait=False`` the server is yielded at once, for the caller to do other work while it
    starts and then call ``server.wait_ready()``. On the way out the server gets SIGTERM,
    then SIGKILL after ``stop_timeout`` seconds.
    """
    port = free_port()
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            process = subprocess.Popen(command(port), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT)
    else:
        process = subprocess.Popen(command(port), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = ServerProcess(name, port, process, log_path, ready, timeout)
    try:
        if wait:
            server.wait_ready()
        yield server
    finally:
        stop(process, stop_timeout)


def jupyter_argv(app: str, port: int, *, token: str, root: Path, extension: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The command line of a Jupyter server ``app`` (jupyter_server, jupyterlab) on 127.0.0.1:``port``
    with the studio's server extension on, as the browser and server-extension tests start it."""
    return [
        sys.executable, "-m", app, "--allow-root", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--ServerApp.jpserver_extensions={extension}=True", *extra,
    ]


def stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; returns once the process is gone."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
