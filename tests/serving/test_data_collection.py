"""Model data collection: real deployments, real requests, the hourly JSON Lines files and the data assets.

One endpoint with two deployments (servers take seconds to start): ``mlflow`` serves the
diabetes model with no code and collects everything; ``script`` samples a quarter of its
requests and its scoring script collects its inputs itself with ``azureml.ai.monitoring``'s
``Collector``, leaving the outputs to the server.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from studio_ext import Workspace
from studio_ext.entities import (
    CodeConfiguration,
    DataCollector,
    DeploymentCollection,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
)
from studio_ext.errors import InvalidInput
from studio_ext.serving.data_collection import CollectionWriter, partition, read_collected, read_stats
from tests.helpers import wait_until

from .conftest import diabetes_rows, write_script

EP = "collect-ep"
SCRIPT = '''
import json
import pandas as pd
from azureml.ai.monitoring import Collector

def init():
    global inputs, extra
    inputs = Collector(name="model_inputs")
    extra = Collector(name="not_enabled")

def run(raw_data):
    frame = pd.DataFrame(**json.loads(raw_data)["input_data"])
    frame["bmi_x2"] = frame["bmi"] * 2
    context = inputs.collect(frame)
    extra.collect(frame)
    return {"predictions": [round(float(v), 6) for v in frame["age"]], "correlation": context.get_id()}
'''


def _collected(folder: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(folder.rglob("*.jsonl")) for line in path.read_text().splitlines()]


def _post(client: httpx.Client, uri: str, key: str, deployment: str, body: dict, rid: str) -> httpx.Response:
    return client.post(uri, json=body, headers={"Authorization": f"Bearer {key}", "azureml-model-deployment": deployment,
                                                "x-request-id": rid, "x-client": "tests"})


@pytest.fixture(scope="module")
def collecting(served_ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws = served_ws
    ws.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=EP)).result(timeout=60)
    code = write_script(tmp_path_factory.mktemp("collect-code"), SCRIPT)
    pollers = [
        ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
            name="mlflow", endpoint_name=EP, model="azureml:diabetes:1",
            data_collector=DataCollector(collections={"model_inputs": DeploymentCollection(enabled="true"),
                                                      "model_outputs": DeploymentCollection(enabled="true"),
                                                      "request": DeploymentCollection(enabled="true"),
                                                      "response": DeploymentCollection(enabled="true")}))),
        ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
            name="script", endpoint_name=EP, model="azureml:diabetes:1",
            code_configuration=CodeConfiguration(code=str(code), scoring_script="score.py"),
            data_collector=DataCollector(collections={"model_inputs": DeploymentCollection(enabled="true"),
                                                      "model_outputs": DeploymentCollection(enabled="true")},
                                         sampling_rate=0.25))),
    ]
    for poller in pollers:
        poller.result(timeout=120)
    yield ws


def _folder(ws: Workspace, deployment: str, collection: str) -> Path:
    return Path(ws.data.resolve_input_path(f"azureml:{EP}-{deployment}-{collection}:1"))


def test_each_request_is_collected_by_the_hour_with_its_request_id_and_registered(collecting):
    ws = collecting
    deployment = ws.online_deployments.get("mlflow", EP)
    assert deployment.data_collector.collections["model_inputs"].data == f"azureml:{EP}-mlflow-model_inputs:1"
    asset = ws.data.get(f"{EP}-mlflow-model_inputs")
    assert asset.type.value == "folder"
    assert asset.path == f"azureml://datastores/workspaceblobstore/paths/modelDataCollector/{EP}/mlflow/model_inputs/"
    inputs, outputs = _folder(ws, "mlflow", "model_inputs"), _folder(ws, "mlflow", "model_outputs")
    assert inputs.parts[-4:] == ("modelDataCollector", EP, "mlflow", "model_inputs")

    uri, key = ws.online_endpoints.get(EP).scoring_uri, ws.online_endpoints.get_keys(EP).primary_key
    body = {"input_data": diabetes_rows(3)}
    ids = [f"req-{i}-{uuid.uuid4().hex[:6]}" for i in range(20)]
    with httpx.Client(timeout=30) as client:
        answers = [_post(client, uri, key, "mlflow", body, rid) for rid in ids]
    assert all(a.status_code == 200 for a in answers)
    wait_until(lambda: len(_collected(outputs)) >= 20 and len(_collected(inputs)) >= 20, timeout=30, interval=0.2,
               what="20 requests' inputs and outputs to be written")

    files = list(inputs.rglob("*.jsonl"))
    hour = partition(time.time())
    assert all(re.fullmatch(r"\d{4}/\d{2}/\d{2}/\d{2}/\d+\.jsonl", f.relative_to(inputs).as_posix()) for f in files)
    assert {f.parent.relative_to(inputs).as_posix() for f in files} <= {hour, partition(time.time() - 3600)}
    records = _collected(inputs)
    assert sorted(r["correlationid"] for r in records) == sorted(ids)
    first = records[0]
    assert first["type"] == "azureml.inference.model_inputs" and first["specversion"] == "1.0"
    assert first["xrequestid"] == first["correlationid"] and first["modelversion"] == "1"
    assert first["data"] == [dict(zip(body["input_data"]["columns"], row)) for row in body["input_data"]["data"]]
    predicted = {r["correlationid"]: [d["predictions"] for d in r["data"]] for r in _collected(outputs)}
    assert set(predicted) == set(ids)
    assert predicted[ids[0]] == pytest.approx(answers[0].json())

    frame = read_collected(inputs)
    assert len(frame) == 60 and set(body["input_data"]["columns"]) <= set(frame.columns)
    assert {"correlationid", "time"} <= set(frame.columns)
    now = datetime.now(UTC)
    assert read_collected(inputs, start=now + timedelta(hours=2)).empty
    assert len(read_collected(inputs, start=now - timedelta(hours=2), end=now + timedelta(minutes=1))) == 60

    # Payload logging: the request and response bodies, one record each per request, by the hour, with the same
    # request ids as the model_inputs/outputs records; registered as <endpoint>-<deployment>-request/-response.
    assert deployment.data_collector.collections["request"].data == f"azureml:{EP}-mlflow-request:1"
    request, response = _folder(ws, "mlflow", "request"), _folder(ws, "mlflow", "response")
    assert ws.data.get(f"{EP}-mlflow-response").path.endswith(f"modelDataCollector/{EP}/mlflow/response/")
    wait_until(lambda: len(_collected(request)) >= 20 and len(_collected(response)) >= 20, timeout=30,
               interval=0.2, what="20 requests' payloads to be written")
    assert all(re.fullmatch(r"\d{4}/\d{2}/\d{2}/\d{2}/\d+\.jsonl", f.relative_to(response).as_posix())
               for f in response.rglob("*.jsonl"))
    sent = {r["correlationid"]: r for r in _collected(request)}
    answered = {r["correlationid"]: r for r in _collected(response)}
    assert set(sent) == set(answered) == set(ids)
    assert sent[ids[0]]["type"] == "azureml.inference.request" and sent[ids[0]]["data"] == body
    assert answered[ids[0]]["data"] == answers[0].json() and answered[ids[0]]["xrequestid"] == ids[0]
    bodies = read_collected(request)
    assert len(bodies) == 20 and bodies.loc[0, "data"] == body and {"correlationid", "time"} <= set(bodies.columns)
    # the server's counts: every record queued, none dropped
    counts = read_stats(inputs.parent)
    assert counts["queued"]["request"] >= 20 and counts["queued"]["model_inputs"] >= 20 and counts["dropped"] == {}


def test_sampling_rate_and_the_scripts_own_collector(collecting):
    ws = collecting
    uri, key = ws.online_endpoints.get(EP).scoring_uri, ws.online_endpoints.get_keys(EP).primary_key
    body = {"input_data": diabetes_rows(2)}
    n = 200
    ids = [f"s-{i}-{uuid.uuid4().hex[:6]}" for i in range(n)]
    with httpx.Client(timeout=30) as client:
        answers = {rid: _post(client, uri, key, "script", body, rid) for rid in ids}
    assert all(a.status_code == 200 for a in answers.values())
    inputs, outputs = _folder(ws, "script", "model_inputs"), _folder(ws, "script", "model_outputs")
    time.sleep(1.0)  # two flushes of the writer

    def both() -> bool:
        got_in = {r["correlationid"] for r in _collected(inputs)}
        return bool(got_in) and got_in == {r["correlationid"] for r in _collected(outputs)}

    wait_until(both, timeout=30, interval=0.3, what="the sampled requests' inputs and outputs")
    records = _collected(inputs)
    # a quarter of 200: 50, and 26-80 holds with probability > 0.9999
    assert 26 <= len(records) <= 80, len(records)
    for record in records:  # what the script collected: its own frame, with the request's id
        assert record["correlationid"] in answers
        assert answers[record["correlationid"]].json()["correlation"] == record["correlationid"]
        assert [row["bmi_x2"] for row in record["data"]] == pytest.approx([row["bmi"] * 2 for row in record["data"]])
    output = _collected(outputs)[0]  # the server's: the script's answer
    assert output["data"][0]["predictions"] == answers[output["correlationid"]].json()["predictions"][0]
    root = inputs.parent
    assert not (root / "not_enabled").exists()
    assert "not_enabled" in ws.online_deployments.get_logs("script", EP, lines=400)


def test_a_wrong_collector_is_refused_before_anything_starts(collecting):
    ws = collecting
    for collector, says in [
        (DataCollector(collections={"model_inputs": DeploymentCollection(enabled="yes")}), "enabled must be"),
        (DataCollector(collections={"model_inputs": DeploymentCollection(enabled="true")}, sampling_rate=2.0),
         "sampling_rate must be"),
        (DataCollector(collections={"../x": DeploymentCollection(enabled="true")}), "collection name"),
        (DataCollector(collections={"requests": DeploymentCollection(enabled="true")}),
         "'requests' is not a collection name Azure knows: did you mean 'request'"),
        (DataCollector(collections={"Model_Outputs": DeploymentCollection(enabled="true")}),
         "did you mean 'model_outputs'"),
        (DataCollector(collections={"features": DeploymentCollection(enabled="true")}),  # no script to fill it
         "'features' is a custom collection, filled only by a scoring script's Collector"),
    ]:
        with pytest.raises(InvalidInput, match=says):
            ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
                name="bad", endpoint_name=EP, model="azureml:diabetes:1", data_collector=collector))


def test_the_writer_partitions_by_the_rolling_rate(tmp_path):
    writer = CollectionWriter({"folder": str(tmp_path), "collections": {"model_inputs": True},
                               "rolling_rate": "day"}, "ep", "blue", interval=3600)
    when = datetime(2026, 3, 4, 5, 6, tzinfo=UTC).timestamp()
    writer.put("model_inputs", "r1", when, "rows", [[1, 2]], ["a", "b"])
    writer.put("model_inputs", "r2", when + 86400, "body", b'{"input_data": {"columns": ["a"], "data": [[3]]}}')
    writer.shutdown()
    assert sorted(p.relative_to(tmp_path).parent.as_posix() for p in tmp_path.rglob("*.jsonl")) == [
        "model_inputs/2026/03/04", "model_inputs/2026/03/05"]
    frame = read_collected(tmp_path / "model_inputs", start=datetime(2026, 3, 5))
    assert frame[["a", "correlationid"]].to_dict("records") == [{"a": 3, "correlationid": "r2"}]
    assert partition(when, "hour") == "2026/03/04/05" and partition(when, "minute") == "2026/03/04/05/06"


def test_collector_outside_a_deployment_collects_nothing_and_inside_writes_with_the_request_id(tmp_path, monkeypatch):
    import pandas as pd

    from studio_ext.compat.azureml_ai_monitoring import Collector
    from studio_ext.compat.azureml_ai_monitoring.context import BasicCorrelationContext
    from studio_ext.serving import data_collection

    frame = pd.DataFrame({"age": [0.03, -0.01], "when": pd.to_datetime(["2026-12-07 10:00", "2026-12-07 11:00"])})
    context = Collector(name="model_inputs").collect(frame)  # no server here: nothing, and no error
    assert isinstance(context, BasicCorrelationContext) and context.get_id()
    writer = CollectionWriter({"folder": str(tmp_path), "collections": {"model_inputs": True}}, "ep", "blue",
                              interval=3600)
    data_collection.activate(writer)
    try:
        collector = Collector(name="model_inputs")
        assert "model_inputs" in writer.claimed
        token = data_collection.current.set(data_collection.RequestContext(id="rid-1", time=time.time(), sampled=True))
        try:
            assert collector.collect(frame).get_id() == "rid-1"
        finally:
            data_collection.current.reset(token)
        errors: list[Exception] = []
        Collector(name="model_inputs", on_error=errors.append).collect([1, 2])  # not a DataFrame
        assert len(errors) == 1 and "DataFrame" in str(errors[0])
        monkeypatch.setattr(data_collection, "MAX_PENDING", 1)
        writer.put("model_inputs", "rid-2", time.time(), "rows", [[1]], ["age"])  # over the cap: dropped, counted
        assert writer.dropped == 1
    finally:
        data_collection.activate(None)
        writer.shutdown()
    assert read_stats(tmp_path) == {"queued": {"model_inputs": 1}, "dropped": {"model_inputs": 1}}
    records = _collected(tmp_path / "model_inputs")
    assert [r["correlationid"] for r in records] == ["rid-1"]
    assert records[0]["data"] == [{"age": 0.03, "when": "2026-12-07T10:00:00.000"},
                                  {"age": -0.01, "when": "2026-12-07T11:00:00.000"}]
