"""Stopping what runs: an endpoint's processes (`studio-ext endpoint stop|start`), and the
supervisor (`studio-ext server stop`), which refuses while a studio is attached and, with
--all, also ends every endpoint's router and scoring servers. Real servers, the real CLI."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from studio_ext import Workspace
from studio_ext._studio_link import remove_record, write_record
from studio_ext.backends.local import LocalBackend
from studio_ext.backends.local.core.processes import pid_alive
from studio_ext.backends.local.core.schema import online_endpoints, online_instances
from studio_ext.entities import DeploymentState, ManagedOnlineDeployment, ManagedOnlineEndpoint
from tests.helpers import wait_until

from .conftest import diabetes_rows

CLI = [sys.executable, "-m", "studio_ext.cli"]


def cli(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "-w", str(ws.path), *args], capture_output=True, text=True, timeout=300)


def processes(ws: Workspace, endpoint: str) -> list[tuple[int, float]]:
    """(pid, start time) of the endpoint's router and scoring servers that run now."""
    with LocalBackend.of(ws).store.engine.connect() as conn:
        rows = [*conn.execute(sa.select(online_endpoints.c.pid, online_endpoints.c.pid_start)
                              .where(online_endpoints.c.name == endpoint)).all(),
                *conn.execute(sa.select(online_instances.c.pid, online_instances.c.pid_start)
                              .where(online_instances.c.endpoint_name == endpoint)).all()]
    return [(r.pid, r.pid_start) for r in rows if r.pid and pid_alive(r.pid, r.pid_start)]


def answers(ws: Workspace, endpoint: str) -> bool:
    keys = ws.online_endpoints.get_keys(endpoint)
    try:
        response = httpx.post(ws.online_endpoints.get(endpoint).scoring_uri, json={"dataframe_split": diabetes_rows(1)},
                              headers={"Authorization": f"Bearer {keys.primary_key}"}, timeout=10)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


@pytest.fixture(scope="module")
def served(served_ws: Workspace) -> dict[str, Any]:
    ws = served_ws
    ws.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="hygiene")).result(timeout=120)
    dep = ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="blue", endpoint_name="hygiene", model="azureml:diabetes:1", instance_count=1)).result(timeout=180)
    assert dep.state == DeploymentState.HEALTHY
    return {"ws": ws}


def test_endpoint_stop_ends_its_processes_until_start_brings_them_back(served: dict[str, Any]) -> None:
    ws = served["ws"]
    before = processes(ws, "hygiene")
    assert len(before) == 2 and answers(ws, "hygiene")
    stopped = cli(ws, "endpoint", "stop", "hygiene")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped router of hygiene" in stopped.stdout and "stopped scoring server of hygiene/blue" in stopped.stdout
    assert "studio-ext endpoint start hygiene" in stopped.stdout
    assert not any(pid_alive(pid, start) for pid, start in before)
    # The supervisor keeps running and does not bring it back by itself.
    assert ws.runtime.status().running
    with pytest.raises(AssertionError):
        wait_until(lambda: processes(ws, "hygiene"), timeout=3, interval=0.2)
    assert not answers(ws, "hygiene")
    assert '"state": "Stopped"' in cli(ws, "endpoint", "show", "hygiene").stdout
    assert "Stopped" in cli(ws, "endpoint", "list").stdout
    started = cli(ws, "endpoint", "start", "hygiene")
    assert started.returncode == 0, started.stderr
    assert "Endpoint hygiene started (blue: Healthy)" in started.stdout
    wait_until(lambda: answers(ws, "hygiene"), timeout=60, what="the endpoint answering again")
    assert '"state": "Succeeded"' in cli(ws, "endpoint", "show", "hygiene").stdout
    missing = cli(ws, "endpoint", "stop", "nope")
    assert missing.returncode == 2 and "nope" in missing.stderr


def test_server_stop_refuses_while_a_studio_is_attached_and_says_which(served: dict[str, Any]) -> None:
    ws = served["ws"]
    ws.runtime.start()
    # A studio attached to the workspace is a live process recorded in WS/.studio-server.json.
    studio = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        write_record(ws.path, url="http://127.0.0.1:8899/", token="t0k", pid=studio.pid)
        refused = cli(ws, "server", "stop")
        assert refused.returncode == 1
        assert f"JupyterLab pid {studio.pid} at http://127.0.0.1:8899/lab" in refused.stderr
        assert "--force" in refused.stderr and "t0k" not in refused.stderr
        assert ws.runtime.status().running, "nothing was stopped"
        forced = cli(ws, "server", "stop", "--force")
        assert forced.returncode == 0 and "supervisor stopped" in forced.stdout
        assert f"studio (pid {studio.pid}) is still attached" in forced.stderr
    finally:
        remove_record(ws.path, pid=studio.pid)
        studio.kill()
        studio.wait()


def test_server_stop_all_ends_endpoint_processes_and_start_brings_them_back(served: dict[str, Any]) -> None:
    ws = served["ws"]
    ws.runtime.start()
    wait_until(lambda: answers(ws, "hygiene"), timeout=90, what="the endpoint serving")
    running = processes(ws, "hygiene")
    assert running
    out = cli(ws, "server", "stop", "--all")
    assert out.returncode == 0, out.stderr
    assert "supervisor stopped" in out.stdout and "stopped router of hygiene" in out.stdout
    assert not any(pid_alive(pid, start) for pid, start in running) and not ws.runtime.status().running
    assert cli(ws, "server", "start").returncode == 0
    wait_until(lambda: answers(ws, "hygiene"), timeout=90, what="the endpoint serving after start")
