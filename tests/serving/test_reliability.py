"""Failures an independent probe found, each reproduced against real servers on 127.0.0.1.

- a deployment server restarted under load answered one request with 500 (readiness
  said ready before the batcher ran), and the router passed a restarting server's
  errors on to clients;
- pipelined requests got one answer when the client half-closed after writing them;
- values that the model's signature refuses (``true``, ``null`` for a double) scored 200;
- routers and deployment servers left running by a stopped supervisor outlived their
  deleted workspace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import threading
import time
from collections import Counter

import httptools
import httpx
import psutil
import pytest

from studio_ext import Workspace
from studio_ext.entities import (
    DeploymentState,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    Model,
    OnlineRequestSettings,
)
from tests.helpers import wait_until

from .conftest import diabetes_rows, log_diabetes_model


@pytest.fixture(scope="module")
def rel(served_ws):
    """Endpoint 'rel' with two no-code deployments of the diabetes model, 'blue' and 'green'.

    Their request timeout is 20 s: the router holds a request for a restarting server
    as long as it would wait for an answer, and a restart takes ~3 s on a quiet machine
    but 10 s or more on a busy one.
    """
    ws = served_ws
    ws.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="rel")).result(timeout=120)
    pollers = [ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name=name, endpoint_name="rel", model="azureml:diabetes:1",
        request_settings=OnlineRequestSettings(request_timeout_ms=20000))) for name in ("blue", "green")]
    for poller in pollers:
        poller.result(timeout=180)
    endpoint = ws.online_endpoints.get("rel")
    endpoint.traffic = {"blue": 100}
    ws.online_endpoints.begin_create_or_update(endpoint).result(timeout=60)
    key = ws.online_endpoints.get_keys("rel").primary_key
    uri = ws.online_endpoints.get("rel").scoring_uri
    return {"ws": ws, "uri": uri, "key": key, "auth": {"Authorization": f"Bearer {key}"},
            "router_port": int(uri.split(":")[2].split("/")[0])}


def _server_pid(ws, deployment: str) -> int:
    port = ws.online_deployments.get(deployment, "rel").port
    return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5).json()["pid"]


# -- item 4: ready means ready; a restart costs clients time, not errors ----------------------------
@pytest.mark.slow
def test_ten_restarts_under_load_cost_no_failed_request(rel):
    """kill -9 a deployment server ten times (five each of two deployments, under the crash limit)
    while clients post every 20 ms to both: every answer is 200."""
    ws, body = rel["ws"], {"dataframe_split": diabetes_rows(1)}
    codes: dict[str, Counter] = {"blue": Counter(), "green": Counter()}
    slowest = {"blue": 0.0, "green": 0.0}
    stop = threading.Event()

    def client(deployment: str) -> None:
        headers = {**rel["auth"], "azureml-model-deployment": deployment}
        with httpx.Client(headers=headers, timeout=30) as http:
            while not stop.is_set():
                start = time.monotonic()
                try:
                    response = http.post(rel["uri"], json=body)
                    codes[deployment][response.status_code] += 1
                    if response.status_code != 200:
                        codes[deployment][response.text[:200]] += 1
                except httpx.HTTPError as exc:
                    codes[deployment][type(exc).__name__] += 1
                slowest[deployment] = max(slowest[deployment], time.monotonic() - start)
                time.sleep(0.02)

    threads = [threading.Thread(target=client, args=(d,)) for d in ("blue", "green")]
    for thread in threads:
        thread.start()
    restarts = []
    try:
        for round_ in range(10):
            deployment = ("blue", "green")[round_ % 2]
            pid = _server_pid(ws, deployment)
            killed = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda name=deployment, count=round_ // 2 + 1: (
                d := ws.online_deployments.get(name, "rel")).state == DeploymentState.HEALTHY and d.restarts == count,
                timeout=90, interval=0.05, what=f"{deployment} to be back")
            restarts.append(round(time.monotonic() - killed, 1))
            time.sleep(0.5)  # load on the new server for a while
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert set(codes["blue"]) == {200} and set(codes["green"]) == {200}, (codes, restarts)
    assert codes["blue"][200] > 50 and codes["green"][200] > 50, codes
    print("restarts took (s):", restarts, "; the slowest answer (s):", slowest)


def test_a_server_not_ready_yet_answers_503_with_retry_after_and_the_router_holds_the_request(rel):
    """While a killed server restarts: straight to it, 503 + Retry-After; through the router, the
    request waits for it and gets 200. (Its own deployment: the load test uses up the others'
    crash allowance.)"""
    ws = rel["ws"]
    ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="amber", endpoint_name="rel", model="azureml:diabetes:1",
        request_settings=OnlineRequestSettings(request_timeout_ms=20000))).result(timeout=180)
    body = {"dataframe_split": diabetes_rows(1)}
    port = ws.online_deployments.get("amber", "rel").port
    pid = _server_pid(ws, "amber")

    def starting_answer():
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code != 503:
                return None
            return [httpx.post(f"http://127.0.0.1:{port}/score", json=body, headers=rel["auth"], timeout=2)]
        except httpx.HTTPError:
            return None

    try:
        os.kill(pid, signal.SIGKILL)
        [direct] = wait_until(starting_answer, timeout=120, interval=0.01, what="amber's server to be starting")
        via_router = httpx.post(rel["uri"], json=body, headers={**rel["auth"], "azureml-model-deployment": "amber"},
                                timeout=30)
        assert direct.status_code == 503 and direct.headers["retry-after"] == "1", direct.text
        assert "still initializing" in direct.json()["error"]
        assert via_router.status_code == 200, via_router.text
        assert _server_pid(ws, "amber") != pid
    finally:
        ws.online_deployments.begin_delete("amber", "rel").result(timeout=120)


# -- item 6: pipelining -----------------------------------------------------------------------------
def _pipelined(port: int, key: str, half_close: bool, n: int = 3) -> list[int]:
    """Write ``n`` scoring requests at once; the statuses of the answers that came back."""
    body = json.dumps({"dataframe_split": diabetes_rows(1)}).encode()
    request = (b"POST /score HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer %b\r\n"
               b"azureml-model-deployment: blue\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%b"
               % (key.encode(), len(body), body))
    statuses: list[int] = []

    class Answers:
        def on_message_complete(self) -> None:
            statuses.append(parser.get_status_code())

    parser = httptools.HttpResponseParser(Answers())
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request * n)
        if half_close:
            conn.shutdown(socket.SHUT_WR)
        try:
            while len(statuses) < n:
                data = conn.recv(65536)
                if not data:
                    break
                parser.feed_data(data)
        except TimeoutError:
            pass
    return statuses


@pytest.mark.parametrize("half_close", [False, True], ids=["open", "half-closed"])
def test_pipelined_requests_to_the_router_and_to_a_deployment_are_all_answered(rel, half_close):
    deployment_port = rel["ws"].online_deployments.get("blue", "rel").port
    for port in (rel["router_port"], deployment_port, rel["router_port"]):  # the router again: pooled upstreams
        assert _pipelined(port, rel["key"], half_close) == [200, 200, 200], port


# -- item 9: the model's signature is enforced ------------------------------------------------------
def test_values_the_signature_refuses_get_400_naming_the_column_and_row(rel):
    """The diabetes model's signature says double for every column: true, false, null and strings
    are refused, as MLflow's schema enforcement refuses them; whole numbers pass (a safe conversion)."""
    good = diabetes_rows(2)
    columns = good["columns"]
    headers = {**rel["auth"], "azureml-model-deployment": "blue"}

    def post(body):
        return httpx.post(rel["uri"], json=body, headers=headers, timeout=30)

    assert post({"dataframe_split": good}).status_code == 200
    for value, shown in ((True, "true"), (False, "false"), (None, "null"), ("0.03", '"0.03"')):
        rows = [list(r) for r in good["data"]]
        rows[1][2] = value  # bmi, second row
        answer = post({"dataframe_split": {"columns": columns, "data": rows}})
        assert answer.status_code == 400, (value, answer.text)
        error = answer.json()["error"]
        assert "'bmi'" in error and f"row 2 has {shown}" in error, error
    records = [dict(zip(columns, r)) for r in good["data"]]
    records[0]["age"] = True
    answer = post({"dataframe_records": records})
    assert answer.status_code == 400 and "The column 'age' must be a number" in answer.json()["error"], answer.text
    answer = post({"input_data": {"columns": columns, "data": [[None] * len(columns)]}})
    assert answer.status_code == 400 and "The column 'age' is required" in answer.json()["error"], answer.text
    whole = [[int(v > 0) for v in r] for r in good["data"]]
    assert post({"dataframe_split": {"columns": columns, "data": whole}}).status_code == 200


def test_a_signature_with_text_and_integer_columns_is_enforced_on_the_dataframe_path(rel):
    """A pipeline over a string, a long and a double column (scored through a DataFrame, not the matrix path)."""
    import mlflow
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    ws = rel["ws"]
    X = pd.DataFrame({"city": ["oslo", "rome", "oslo", "lima"], "rooms": [1, 2, 3, 4], "area": [20.0, 35.5, 50.0, 61.0]})
    model = make_pipeline(ColumnTransformer([("city", OneHotEncoder(handle_unknown="ignore"), ["city"])],
                                           remainder="passthrough"), LinearRegression()).fit(X, [1.0, 2.0, 3.0, 4.0])
    mlflow.set_tracking_uri(ws.mlflow_tracking_uri)
    mlflow.set_experiment("serving-tests")
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(model, name="model", input_example=X.head(2), pip_requirements=["scikit-learn"])
    ws.models.create_or_update(Model(name="rooms", path=f"runs:/{run.info.run_id}/model"))
    ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="mixed", endpoint_name="rel", model="azureml:rooms:1")).result(timeout=180)
    headers = {**rel["auth"], "azureml-model-deployment": "mixed"}
    try:
        def post(row):
            return httpx.post(rel["uri"], json={"dataframe_split": {"columns": ["city", "rooms", "area"], "data": [row]}},
                              headers=headers, timeout=30)

        assert post(["rome", 2, 30.0]).status_code == 200
        assert post(["rome", 2.0, 30]).status_code == 200  # 2.0 is a whole number, 30 a double
        for row, expected in ((["rome", 2.5, 30.0], "The column 'rooms' must be a whole number (long"),
                              ([7, 2, 30.0], "The column 'city' must be a string"),
                              (["rome", True, 30.0], "The column 'rooms' must be a whole number"),
                              (["rome", 2, None], "The column 'area' is required"),
                              ([None, 2, 30.0], "The column 'city' is required")):
            answer = post(row)
            assert answer.status_code == 400 and expected in answer.json()["error"], (row, answer.text)
    finally:
        ws.online_deployments.begin_delete("mixed", "rel").result(timeout=120)


# -- item 10: servers outlive a stopped supervisor, not their workspace ------------------------------
@pytest.mark.slow
def test_servers_left_by_a_stopped_supervisor_exit_within_a_minute_of_their_workspace_going(tmp_path, monkeypatch):
    """`server stop` leaves the router and the deployment servers running (the next supervisor adopts
    them) for up to STUDIO_EXT_SERVER_ORPHAN_EXIT; once their workspace folder is deleted they go,
    even if something makes the path again and touches its heartbeat (as a writer that outlived the
    workspace did)."""
    monkeypatch.setenv("STUDIO_EXT_SERVER_ORPHAN_EXIT", "600")  # the production default, inherited by the servers
    path = tmp_path / "ws"
    ws = Workspace.create(path)
    run_id = log_diabetes_model(ws)
    ws.models.create_or_update(Model(name="diabetes", path=f"runs:/{run_id}/model"))
    ws.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="gone")).result(timeout=120)
    ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="blue", endpoint_name="gone", model="azureml:diabetes:1")).result(timeout=180)
    uri = ws.online_endpoints.get("gone").scoring_uri
    key = ws.online_endpoints.get_keys("gone").primary_key
    assert ws.runtime.stop()
    ws.close()
    servers = [p for p in psutil.process_iter(["cmdline"])
               if "studio_ext.serving" in " ".join(p.info["cmdline"] or []) and str(path) in " ".join(p.info["cmdline"])]
    try:
        assert len(servers) >= 2, servers  # the router and the deployment server
        assert httpx.post(uri, json={"dataframe_split": diabetes_rows(1)}, headers={"Authorization": f"Bearer {key}"},
                          timeout=30).status_code == 200  # still serving without a supervisor
        shutil.rmtree(path)
        beat = path / "endpoints" / ".heartbeat"
        beat.parent.mkdir(parents=True)
        def left() -> list[int]:
            return [p.pid for p in servers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

        def all_gone() -> bool:
            beat.touch()  # a stale heartbeat must not be why they exit
            return not left()

        wait_until(all_gone, timeout=60, interval=0.5,
                   what=lambda: f"the servers to exit after their workspace went (still running: {left()})")
    finally:
        for p in servers:  # started by this test
            if p.is_running():
                p.kill()
