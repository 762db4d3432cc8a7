"""A real ``jupyter server`` on 127.0.0.1 with a token, the studio_ext extension enabled
and STUDIO_EXT_WORKSPACE pointing at a fresh workspace (one per module)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.helpers import ServerProcess, jupyter_argv, serve

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
    token = secrets.token_hex(16)
    log_path = base / "server.log"

    def command(port: int) -> list[str]:
        return jupyter_argv("jupyter_server", port, token=token, root=root, extension=SERVER_EXTENSION)

    def answers(running: ServerProcess) -> bool:
        return requests.get(f"{running.url}/api/status", headers={"Authorization": f"token {token}"}, timeout=5).ok

    try:
        with serve(command, name="jupyter server", ready=answers, log_path=log_path, cwd=root, env=env,
                   timeout=START_TIMEOUT) as running:
            yield JupyterServer(running.url, token, root, workspace.path, log_path)
    finally:
        workspace.close()
