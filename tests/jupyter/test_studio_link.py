"""A job's studio_url and the notebooks of ``studio-ext studio``, with real servers and kernels.

- With no studio running, ``studio_url`` is the command that starts one on the run.
- A Jupyter server with the studio's extension records itself in its workspace (URL,
  token, pid; mode 0600) once it listens, so ``studio_url`` opens the run there; the
  record goes when the server stops.
- ``studio-ext studio WS`` (the real command) starts JupyterLab whose kernels have
  MLFLOW_TRACKING_URI on the workspace: plain ``mlflow`` calls in a notebook land there,
  and a job's studio_url printed there carries no token.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
import urllib.parse
import uuid
from pathlib import Path

import pytest
import requests

from studio_ext import Workspace, command
from studio_ext._studio_link import RECORD_FILE, running_studio, studio_url
from tests.helpers import ServerProcess, jupyter_argv, serve, wait_until

QUICK_JOB = 'python -c "print(42)"'


def _isolated_jupyter(base: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("config", "data", "runtime"):
        (base / name).mkdir(parents=True, exist_ok=True)
    env.update(JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_DATA_DIR=str(base / "data"),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"))
    for name in ("MLFLOW_TRACKING_URI", "_MLFLOW_SERVER_ARTIFACT_ROOT", "STUDIO_EXT_WORKSPACE"):
        env.pop(name, None)
    return env


def test_with_no_studio_running_the_url_is_the_command_that_opens_the_run(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "my ws")
    try:
        job = ws.jobs.create_or_update(command(command=QUICK_JOB, experiment_name="links"))
        expected = f"studio-ext studio '{ws.path}' --run {job.name}"
        assert job.studio_url == expected
        assert ws.jobs.get(job.name).studio_url == expected
        assert [j.studio_url for j in ws.jobs.list("links")] == [expected]
        # A record left by a server that was killed (its pid is gone) is ignored.
        (ws.path / RECORD_FILE).write_text(json.dumps({"url": "http://127.0.0.1:1/", "token": "t", "pid": 2**22 + 7}))
        assert running_studio(ws.path) is None
        assert studio_url(ws.path, job.name) == expected
    finally:
        ws.runtime.stop()
        ws.close()


def test_a_running_server_records_itself_and_studio_url_opens_the_run_there(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    ws = Workspace.create(root / "ws", name="linked")
    env = _isolated_jupyter(tmp_path)
    env["STUDIO_EXT_WORKSPACE"] = str(ws.path)
    token = secrets.token_hex(8)
    record = ws.path / RECORD_FILE

    def argv(port: int) -> list[str]:
        return jupyter_argv("jupyter_server", port, token=token, root=root, extension="studio_ext")

    try:
        job = ws.jobs.create_or_update(command(command=QUICK_JOB, experiment_name="links"))
        with serve(argv, name="jupyter server", ready=lambda _: record.is_file(), log_path=tmp_path / "server.log",
                   cwd=root, env=env, timeout=90) as server:
            assert stat.S_IMODE(record.stat().st_mode) == 0o600, "the record holds a token: the user's alone"
            saved = json.loads(record.read_text())
            assert saved == {"url": f"{server.url}/", "token": token, "pid": server.process.pid}
            url = ws.jobs.get(job.name).studio_url
            assert url is not None and url.startswith(f"{server.url}/lab?")
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            assert query == {"studio-run": [job.name], "studio-workspace": [str(ws.path)], "token": [token]}
            # The URL answers: the token in it logs in, and JupyterLab serves the page.
            page = requests.get(url, timeout=30)
            assert page.status_code == 200 and "jupyter-config-data" in page.text
        assert not record.exists(), "a stopped server leaves no record behind"
        assert ws.jobs.get(job.name).studio_url == f"studio-ext studio {ws.path} --run {job.name}"
    finally:
        ws.runtime.stop()
        ws.close()


def _execute(base_url: str, token: str, kernel_id: str, code: str, timeout: float = 120) -> tuple[str, str]:
    """Run ``code`` in a kernel through the server's websocket API; (stdout, error text)."""
    import websocket

    ws_url = base_url.replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels?token={token}"
    conn = websocket.create_connection(ws_url, timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        conn.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        out: list[str] = []
        error = ""
        while True:
            msg = json.loads(conn.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                error = "\n".join(msg["content"]["traceback"])
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out), error
    finally:
        conn.close()


NOTEBOOK_CELL = """
import os, mlflow
from sklearn.linear_model import LogisticRegression
print("URI", os.environ.get("MLFLOW_TRACKING_URI"))
mlflow.set_experiment("notebook-experiment")
mlflow.sklearn.autolog(log_models=False)
with mlflow.start_run(run_name="from-a-notebook") as run:
    LogisticRegression().fit([[0.0], [1.0], [0.2], [0.9]], [0, 1, 0, 1])
    mlflow.log_metric("notebook_metric", 0.75)
print("RUN", run.info.run_id)
print("ARTIFACTS", run.info.artifact_uri)
print("FOUND", len(mlflow.search_runs(experiment_names=["notebook-experiment"])))
from studio_ext import Workspace
print("URL", Workspace.from_config().jobs.get(run.info.run_id).studio_url)
"""


@pytest.mark.slow
def test_notebook_kernels_of_studio_ext_studio_log_to_the_workspace(tmp_path: Path) -> None:
    ws_path = tmp_path / "ws"
    ws = Workspace.create(ws_path, name="notebooks")
    env = _isolated_jupyter(tmp_path / "jupyter")
    record = ws.path / RECORD_FILE

    def argv(port: int) -> list[str]:  # the command a user runs
        return [sys.executable, "-m", "studio_ext.cli", "studio", str(ws.path), "--port", str(port)]

    def recorded(server: ServerProcess) -> bool:
        found = running_studio(ws.path)
        return found is not None and found.pid != server.process.pid  # JupyterLab's pid, not the CLI's

    try:
        with serve(argv, name="studio-ext studio", ready=recorded, log_path=tmp_path / "studio.log",
                   cwd=tmp_path, env=env, timeout=120) as studio:
            server = running_studio(ws.path)
            assert server is not None
            wait_until(lambda: f"Studio: {server.lab_url()}" in studio.log(200), timeout=30,
                       what="studio-ext studio to print the studio's URL")
            headers = {"Authorization": f"token {server.token}"}
            base = server.url.rstrip("/")
            kernel = requests.post(f"{base}/api/kernels", json={"name": "python3"}, headers=headers, timeout=60)
            kernel.raise_for_status()
            kernel_id = kernel.json()["id"]  # the server nudges it ready when the websocket connects
            out, error = _execute(base, server.token, kernel_id, NOTEBOOK_CELL)
            assert not error, error
            lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
            assert lines["URI"] == ws.mlflow_tracking_uri
            assert lines["FOUND"] == "1"
            assert Path(urllib.parse.urlsplit(lines["ARTIFACTS"]).path).is_relative_to(ws.path / "artifacts")
            # The run is the workspace's: the Jobs list shows it, with autolog's params and the metric.
            run = ws.jobs.get(lines["RUN"])
            assert run.experiment_name == "notebook-experiment" and run.interactive
            assert run.metrics["notebook_metric"] == 0.75 and "C" in run.params
            params = {"studio-run": run.name or "", "studio-workspace": str(ws.path)}
            assert run.studio_url == server.lab_url(params)
            # In the studio's own kernel the browser is signed in: no token in what a notebook prints.
            assert lines["URL"] == server.lab_url(params, with_token=False) and "token" not in lines["URL"]
            # A second `studio-ext studio` on the workspace reuses the running one.
            again = subprocess.run([*argv(0), "--run", lines["RUN"]], capture_output=True, text=True, env=env,
                                   timeout=120)
            assert again.returncode == 0 and "already runs on this workspace" in again.stdout
            assert run.studio_url in again.stdout
        assert not record.exists()
    finally:
        ws.runtime.stop()
        ws.close()
