"""Deployments with several instances, and updates rolled out without a failed request.

Real servers on 127.0.0.1: a deployment's ``instance_count`` servers share its
requests and are restarted one by one; an update starts the new servers beside the
old ones and switches only once they are ready, or keeps the old ones if they fail.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from typing import Self

import httpx
import pytest
import sqlalchemy as sa

from studio_ext.backends.local import LocalBackend
from studio_ext.backends.local.core.schema import online_instances
from studio_ext.backends.local.endpoints.service import DeploymentFailed
from studio_ext.entities import (
    CodeConfiguration,
    DeploymentState,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    ProvisioningState,
)
from studio_ext.errors import InvalidInput
from tests.helpers import wait_until

from .conftest import diabetes_rows, write_script

SCRIPT = '''
import json, os, time

def init():
    time.sleep(float(os.environ.get("INIT_SLEEP", "0")))
    if os.environ.get("INIT_FAILS"):
        raise RuntimeError("the model file is missing")

def run(raw_data):
    return {"version": os.environ["VERSION"]}
'''


def _instances(ws, deployment: str) -> list:
    with LocalBackend.of(ws).store.engine.connect() as conn:
        return conn.execute(sa.select(online_instances).where(online_instances.c.deployment_name == deployment)
                            .order_by(online_instances.c.generation, online_instances.c.idx)).all()


class _Clients:
    """Clients posting in a loop until stopped; counts what they got back."""

    def __init__(self, uri: str, headers: dict[str, str], body: dict, threads: int = 2) -> None:
        self.codes: Counter = Counter()
        self.answers: list[list] = [[] for _ in range(threads)]  # each client's answers in order
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(uri, headers, body, self.answers[i]))
                         for i in range(threads)]

    def _loop(self, uri: str, headers: dict[str, str], body: dict, answers: list) -> None:
        with httpx.Client(headers=headers, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    response = client.post(uri, json=body)
                    self.codes[response.status_code] += 1
                    answers.append(response.json())
                except httpx.HTTPError as exc:
                    self.codes[type(exc).__name__] += 1

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


@pytest.fixture(scope="module")
def endpoint(served_ws):
    ws = served_ws
    ws.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="multi")).result(timeout=120)
    keys = ws.online_endpoints.get_keys("multi")
    return {"ws": ws, "uri": ws.online_endpoints.get("multi").scoring_uri,
            "auth": {"Authorization": f"Bearer {keys.primary_key}"}}


def test_two_instances_share_requests_and_one_killed_is_restarted_while_the_other_serves(endpoint):
    ws = endpoint["ws"]
    deployment = ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="pair", endpoint_name="multi", model="azureml:diabetes:1", instance_count=2)).result(timeout=180)
    assert deployment.state == DeploymentState.HEALTHY and deployment.ready_instances == 2
    first = _instances(ws, "pair")
    assert len(first) == 2 and len({i.pid for i in first}) == 2 and len({i.port for i in first}) == 2
    headers = {**endpoint["auth"], "azureml-model-deployment": "pair"}
    body = {"dataframe_split": diabetes_rows(1)}
    with httpx.Client(headers=headers, timeout=30) as client:
        assert all(client.post(endpoint["uri"], json=body).status_code == 200 for _ in range(20))
    calls = [httpx.get(f"http://127.0.0.1:{i.port}/health/ready").json()["predict_calls"] for i in first]
    assert all(c > 0 for c in calls), calls  # the router spread them over both

    os.kill(first[0].pid, signal.SIGKILL)
    with _Clients(endpoint["uri"], headers, body) as clients:
        wait_until(lambda: ws.online_deployments.get("pair", "multi").state == DeploymentState.UNHEALTHY, timeout=20,
              interval=0.02)
        back = wait_until(lambda: (d := ws.online_deployments.get("pair", "multi")).state == DeploymentState.HEALTHY and d,
                          timeout=90)
    assert set(clients.codes) == {200}, clients.codes  # the other instance answered meanwhile
    assert back.ready_instances == 2 and back.restarts == 1
    now = _instances(ws, "pair")
    assert now[0].pid != first[0].pid and now[1].pid == first[1].pid

    with pytest.raises(InvalidInput, match="instance_count must be a whole number from 1 to 16"):
        ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
            name="pair", endpoint_name="multi", model="azureml:diabetes:1", instance_count=0))


def test_an_update_rolls_out_without_a_failed_request_and_a_failed_one_keeps_the_old_version(endpoint, tmp_path):
    ws = endpoint["ws"]
    code = write_script(tmp_path / "code", SCRIPT)

    def deployment(version: str, **env: str) -> ManagedOnlineDeployment:
        return ManagedOnlineDeployment(
            name="rolling", endpoint_name="multi", model="azureml:diabetes:1",
            code_configuration=CodeConfiguration(code=str(code), scoring_script="score.py"),
            environment_variables={"VERSION": version, **env})

    ws.online_deployments.begin_create_or_update(deployment("v1")).result(timeout=180)
    headers = {**endpoint["auth"], "azureml-model-deployment": "rolling"}
    old_pid = _instances(ws, "rolling")[0].pid
    with _Clients(endpoint["uri"], headers, {"x": 1}) as clients:
        time.sleep(0.3)
        updated = ws.online_deployments.begin_create_or_update(deployment("v2", INIT_SLEEP="1")).result(timeout=180)
        time.sleep(1.5)  # past the switch, while the old server drains and stops
    assert set(clients.codes) == {200}, clients.codes
    for answers in clients.answers:  # each client sees v1, then v2, never v1 again
        versions = [a["version"] for a in answers]
        assert versions[0] == "v1" and versions[-1] == "v2" and versions == sorted(versions), Counter(versions)
    assert updated.state == DeploymentState.HEALTHY and updated.provisioning_state == ProvisioningState.SUCCEEDED
    wait_until(lambda: [i.generation for i in _instances(ws, "rolling")] == [2])  # the old one stopped
    assert not _alive(old_pid)

    failed = "update of multi/rolling failed: RuntimeError: the model file is missing The previous version keeps serving"
    with _Clients(endpoint["uri"], headers, {"x": 1}) as clients, pytest.raises(DeploymentFailed, match=failed):
        ws.online_deployments.begin_create_or_update(deployment("v3", INIT_FAILS="1")).result(timeout=180)
    assert set(clients.codes) == {200} and {a["version"] for c in clients.answers for a in c} == {"v2"}, clients.codes
    after = ws.online_deployments.get("rolling", "multi")
    assert after.provisioning_state == ProvisioningState.FAILED and after.state == DeploymentState.HEALTHY
    assert "the model file is missing" in after.reason and "previous version keeps serving" in after.reason
    assert httpx.post(endpoint["uri"], json={}, headers=headers).json()["version"] == "v2"
    fixed = ws.online_deployments.begin_create_or_update(deployment("v4")).result(timeout=180)
    assert fixed.provisioning_state == ProvisioningState.SUCCEEDED and fixed.reason is None
    assert httpx.post(endpoint["uri"], json={}, headers=headers).json()["version"] == "v4"


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
