"""The seed's batch inferencing flow, end to end on one workspace: a registered model and a scoring script
with init() and run(mini_batch), a run over a folder of CSVs and its output retrieved, the same invocation
over REST with a key, and a schedule that invokes it. Creating the endpoint alone starts the gateway."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import joblib
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from studio_ext import Input, Workspace
from studio_ext.backends.local import LocalBackend
from studio_ext.backends.local.batch.duty import stop_gateway
from studio_ext.entities import (
    BatchEndpoint,
    BatchEndpointInvocation,
    CodeConfiguration,
    CronTrigger,
    JobSchedule,
    Model,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
)
from tests.helpers import wait_until
from tests.labs.dp100.course import DP100_DATA, FEATURES, LABEL

ENDPOINT = "seed-batch"
SCORE = """
import os
import joblib
import pandas as pd

def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "model.pkl"))

def run(mini_batch):
    rows = []
    for path in mini_batch:
        table = pd.read_csv(path)
        for pid, label in zip(table["PatientID"], model.predict(table.drop(columns="PatientID"))):
            rows.append(f"{os.path.basename(path)},{pid},{label}")
    return rows
"""


@pytest.fixture(scope="module")
def ws(module_workspace: Workspace) -> Iterator[Workspace]:
    """The module's workspace, its supervisor not started by the test: creating the endpoint starts it."""
    yield module_workspace
    stop_gateway(LocalBackend.of(module_workspace))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A model folder (a pickled classifier), the scoring script's folder, and five CSVs of 40 patients."""
    root = tmp_path_factory.mktemp("seed")
    table = pd.read_csv(DP100_DATA / "diabetes.csv")
    (root / "model").mkdir()
    joblib.dump(LogisticRegression(C=100, solver="liblinear").fit(table[FEATURES].iloc[:3000], table[LABEL].iloc[:3000]),
                root / "model" / "model.pkl")
    (root / "src").mkdir()
    (root / "src" / "score.py").write_text(SCORE)
    (root / "patients").mkdir()
    for i in range(5):
        table[["PatientID", *FEATURES]].iloc[3000 + 40 * i:3040 + 40 * i].to_csv(
            root / "patients" / f"day-{i}.csv", index=False)
    return {"model": root / "model", "src": root / "src", "patients": root / "patients", "table": root}


def _answers(uri: str) -> bool:
    try:
        return httpx.get(uri.split("/endpoints/")[0] + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _predictions(ws: Workspace, job: str, where: Path) -> list[str]:
    ws.jobs.download(job, download_path=str(where), output_name="score")
    return sorted((where / "predictions.csv").read_text().splitlines())


def test_creating_a_batch_endpoint_starts_what_answers_its_uri(ws: Workspace) -> None:
    assert not ws.runtime.status().running, "nothing has started the supervisor yet"
    endpoint = ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name=ENDPOINT, description="seed")).result()
    assert endpoint.scoring_uri and endpoint.scoring_uri.startswith("http://127.0.0.1:")
    wait_until(lambda: _answers(ws.batch_endpoints.get(ENDPOINT).scoring_uri), timeout=60,
               what="the batch gateway to answer without anything else starting the supervisor")
    assert httpx.get(ws.batch_endpoints.get(ENDPOINT).scoring_uri, timeout=10).status_code == 401


@pytest.mark.slow  # three scoring jobs: from the SDK, over REST, from a schedule
def test_the_seed_flow_model_script_folder_rest_and_schedule(ws: Workspace, files: dict[str, Path],
                                                              tmp_path: Path) -> None:
    if ENDPOINT not in [e.name for e in ws.batch_endpoints.list()]:
        ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name=ENDPOINT)).result()
    model = ws.models.create_or_update(Model(name="seed-diabetes", path=str(files["model"]), type="custom_model"))
    ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
        name="classifier", endpoint_name=ENDPOINT, model=model,
        code_configuration=CodeConfiguration(code=str(files["src"]), scoring_script="score.py"),
        settings=ModelBatchDeploymentSettings(mini_batch_size=2, max_concurrency_per_instance=2,
                                              output_file_name="predictions.csv"))).result()
    assert ws.batch_endpoints.get(ENDPOINT).defaults.deployment_name == "classifier"
    expected_rows = 200

    # 1. from the SDK, over a folder of CSVs; the output retrieved
    job = ws.batch_endpoints.invoke(ENDPOINT, input=Input(type="uri_folder", path=str(files["patients"])))
    done = ws.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=300)
    assert done.status == "Completed", ws.jobs.get_logs(job.name)[-3000:]
    from_sdk = _predictions(ws, job.name, tmp_path / "sdk")
    assert len(from_sdk) == expected_rows and len({r.split(",")[1] for r in from_sdk}) == expected_rows
    assert [p.name for p in (tmp_path / "sdk").iterdir()] == ["predictions.csv"], "the scoring file alone, as Azure"
    assert {r.split(",")[0] for r in from_sdk} == {f"day-{i}.csv" for i in range(5)}

    # 2. the same invocation over REST with a key: 202, polled to Completed, the same predictions
    uri = ws.batch_endpoints.get(ENDPOINT).scoring_uri
    wait_until(lambda: _answers(uri), timeout=60, what="the batch gateway")
    body = {"properties": {"InputData": {"input_data": {"JobInputType": "UriFolder", "Uri": str(files["patients"])}}}}
    assert httpx.post(uri, json=body, timeout=30).status_code == 401
    headers = {"Authorization": f"Bearer {ws.batch_endpoints.get_keys(ENDPOINT).primary_key}"}
    answer = httpx.post(uri, json=body, headers=headers, timeout=30)
    assert answer.status_code == 202, answer.text

    def ended() -> dict | None:
        got = httpx.get(answer.headers["Location"], headers=headers, timeout=10).json()
        return got if got["properties"]["status"] in ("Completed", "Failed", "Canceled") else None

    polled = wait_until(ended, timeout=300, interval=0.5, what="the REST invocation to end")
    assert polled["properties"]["status"] == "Completed", polled
    assert _predictions(ws, answer.json()["name"], tmp_path / "rest") == from_sdk

    # 3. a schedule invoking the endpoint: its fired job scores the folder too
    ws.schedules.begin_create_or_update(JobSchedule(
        name="seed-nightly", trigger=CronTrigger(expression="*/2 * * * * *"),
        create_job=BatchEndpointInvocation(endpoint_name=ENDPOINT,
                                           input=Input(type="uri_folder", path=str(files["patients"]))))).result()
    try:
        fired = wait_until(lambda: [f for f in ws.schedules.history("seed-nightly") if f.decision == "fired"],
                           timeout=60, what="the schedule to fire")
    finally:
        ws.schedules.begin_delete("seed-nightly").result()
    scheduled = fired[0].job_name
    wait_until(lambda: ws.jobs.get(scheduled).status.is_terminal, timeout=300, what="the scheduled job to end")
    assert str(ws.jobs.get(scheduled).status) == "Completed", ws.jobs.get_logs(scheduled)[-3000:]
    assert ws.jobs.get(scheduled).tags["azureml.batch_endpoint"] == ENDPOINT
    assert _predictions(ws, scheduled, tmp_path / "scheduled") == from_sdk
    listed = {j.name for j in ws.batch_endpoints.list_jobs(ENDPOINT)}
    assert {job.name, answer.json()["name"], scheduled} <= listed
