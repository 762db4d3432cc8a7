"""A real ``jupyter server`` on 127.0.0.1 with a token, the studio_ext extension enabled
and STUDIO_EXT_WORKSPACE pointing at a fresh workspace (one per module)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

# See tests/browser/conftest.py: "studio_ext.jupyter" loads the handlers alone.
SERVER_EXTENSION = os.environ.get("STUDIO_EXT_TEST_SERVER_EXTENSION", "studio_ext")
START_TIMEOUT = 90.0


@dataclass
class JupyterServer:
    url: str
    token: str
    root_dir: Path
    workspace: Path
    log_path: Path

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    from studio_ext import Workspace

    base = tmp_path_factory.mktemp("jupyter-server")
    root = base / "root"
    root.mkdir()
    workspace = Workspace.create(root / "ws", name="server-tests")
    env = dict(os.environ)
    env.update(
        STUDIO_EXT_WORKSPACE=str(workspace.path),
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
    )
    port, token = _free_port(), secrets.token_hex(16)
    log_path = base / "server.log"
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--allow-root",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.jpserver_extensions={SERVER_EXTENSION}=True",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = JupyterServer(f"http://127.0.0.1:{port}", token, root, workspace.path, log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter server exited with {process.returncode}:\n{server.log()}")
            try:
                if requests.get(f"{server.url}/api/status", headers=server.headers(), timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter server did not start:\n{server.log()}")
            time.sleep(0.3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        workspace.close()
