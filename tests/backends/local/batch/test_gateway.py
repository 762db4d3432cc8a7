"""The batch endpoints' REST gateway, over real HTTP to the real uvicorn process the supervisor runs:
Azure's invoke body with a key -> 202 and a URL to poll; keys (primary, secondary, regenerate);
4xx JSON errors that name what was wrong, with no job made; the gateway kept alive; a schedule
that invokes the published pipeline at each slot; the Consume snippets."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from studio_ext import Workspace, dsl
from studio_ext.backends.local import LocalBackend
from studio_ext.backends.local.batch import gateway
from studio_ext.backends.local.batch.duty import stop_gateway
from studio_ext.entities import (
    BatchEndpoint,
    BatchEndpointInvocation,
    CodeConfiguration,
    CommandComponent,
    CronTrigger,
    Input,
    JobSchedule,
    Model,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
    Output,
    PipelineComponentBatchDeployment,
)
from studio_ext.errors import InvalidInput
from tests.helpers import wait_until

WRITE = """
import pathlib, sys
pathlib.Path(sys.argv[2], "n.txt").write_text(sys.argv[1])
"""
SCORE = """
import glob, os
def init():
    global weights
    # as on Azure, the registered folder is under AZUREML_MODEL_DIR
    found = glob.glob(os.path.join(os.environ["AZUREML_MODEL_DIR"], "**", "weights.txt"), recursive=True)
    weights = open(found[0]).read().strip()

def run(mini_batch):
    return [f"{os.path.basename(f)},{weights}" for f in mini_batch]
"""
ENDPOINT, EMPTY = "published", "no-deployments"


@pytest.fixture(scope="module")
def ws(module_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    src = tmp_path_factory.mktemp("src")
    (src / "write.py").write_text(WRITE)
    write = CommandComponent(name="write_n", code=str(src), command="python write.py ${{inputs.n}} ${{outputs.out}}",
                             inputs={"n": Input(type="integer")}, outputs={"out": Output(type="uri_folder")})

    @dsl.pipeline(description="write n")
    def published(n=3):
        return {"result": write(n=n).outputs.out}

    component = published().component
    component.name = "write_n_pipeline"
    ws = module_workspace
    ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name=ENDPOINT, description="a published pipeline")).result()
    ws.batch_deployments.begin_create_or_update(PipelineComponentBatchDeployment(
        name="blue", endpoint_name=ENDPOINT, component=component)).result()
    ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name=EMPTY)).result()
    ws.runtime.start()
    uri = ws.batch_endpoints.get(ENDPOINT).scoring_uri
    assert uri is not None
    base = uri.split("/endpoints/")[0]
    wait_until(lambda: _answers(base), timeout=60, what="the batch gateway to answer /health")
    try:
        yield ws
    finally:
        for name in (ENDPOINT, EMPTY):
            ws.batch_endpoints.begin_delete(name).result()
        stop_gateway(LocalBackend.of(ws))


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _key(ws: Workspace, which: str = "primary") -> dict[str, str]:
    keys = ws.batch_endpoints.get_keys(ENDPOINT)
    return {"Authorization": f"Bearer {keys.primary_key if which == 'primary' else keys.secondary_key}"}


def _body(n: object = 21) -> dict[str, object]:
    return {"properties": {"InputData": {"n": {"JobInputType": "Literal", "Value": n}}}}


def test_invoked_over_rest_with_a_key_the_pipeline_runs_with_the_changed_parameter(ws: Workspace) -> None:
    uri = ws.batch_endpoints.get(ENDPOINT).scoring_uri
    assert uri == gateway.scoring_uri(LocalBackend.of(ws), ENDPOINT)
    assert uri.startswith("http://127.0.0.1:") and uri.endswith(f"/endpoints/{ENDPOINT}/jobs")
    answer = httpx.post(uri, json=_body(21), headers=_key(ws), timeout=30)
    assert answer.status_code == 202, answer.text
    job = answer.json()
    poll = answer.headers["Location"]
    assert poll == f"{uri}/{job['name']}" == job["properties"]["statusUri"]
    from azure.ai.ml.entities import BatchJob  # the SDK reads the answer as it reads Azure's

    read = BatchJob._from_rest_object(job)
    assert read.name == job["name"] and read.status in ("NotStarted", "Queued", "Starting", "Running")

    def ended() -> dict[str, object] | None:
        body = httpx.get(poll, headers=_key(ws, "secondary"), timeout=10).json()
        return body if body["properties"]["status"] in ("Completed", "Failed", "Canceled") else None

    done = wait_until(ended, timeout=120, interval=0.5, what="the invoked job to end")
    props = done["properties"]
    assert props["status"] == "Completed", (props, ws.jobs.get_logs(job["name"])[-2000:])
    assert props["endpointName"] == ENDPOINT and props["deploymentName"] == "blue"
    assert props["outputData"]["result"]["uri"] == f"azureml://jobs/{job['name']}/outputs/result"
    # the value sent reached the step of the pipeline run, the invocation's child (its output in that
    # run's datastore folder)
    [child] = ws.jobs.list(parent_job_name=job["name"])
    assert child.name == f"{job['name']}_write_n_pipeline" and ws.jobs.get(child.name).inputs["n"] == 21
    written = Path(ws.path) / "datastore" / "azureml" / child.name / "write_n" / "out" / "n.txt"
    assert written.read_text() == "21"
    listed = httpx.get(uri, headers=_key(ws), timeout=10).json()["value"]
    assert job["name"] in [j["name"] for j in listed]


def test_keys_primary_secondary_and_regenerate(ws: Workspace) -> None:
    uri = ws.batch_endpoints.get(ENDPOINT).scoring_uri
    missing = httpx.get(uri, timeout=10)
    assert missing.status_code == 401 and "no Authorization header" in missing.json()["error"]["message"]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = httpx.post(uri, json=_body(), headers={"Authorization": "Bearer not-a-key"}, timeout=10)
    assert wrong.status_code == 401 and "not one of its keys" in wrong.json()["error"]["message"]
    assert httpx.get(uri, headers=_key(ws, "secondary"), timeout=10).status_code == 200
    old = _key(ws)
    ws.batch_endpoints.begin_regenerate_keys(ENDPOINT, key_type="primary").result()
    assert httpx.get(uri, headers=old, timeout=10).status_code == 401
    assert httpx.get(uri, headers=_key(ws), timeout=10).status_code == 200


@pytest.mark.parametrize(("how", "status", "says"), [
    (dict(content=b"n=21", headers={"Content-Type": "text/plain"}), 415, "must be sent as JSON"),
    (dict(content=b"{not json", headers={"Content-Type": "application/json"}), 400, "is not JSON"),
    (dict(json={"InputData": {}}), 400, "no field 'InputData'"),
    (dict(json={"properties": {"InputDatas": {}}}), 400, "properties has no field 'InputDatas'"),
    (dict(json={"properties": {"InputData": {"n": {"JobInputType": "Folder", "Uri": "/x"}}}}), 400,
     "JobInputType 'Folder'"),
    (dict(json={"properties": {"InputData": {"m": {"JobInputType": "Literal", "Value": 1}}}}), 400, "'m'"),
    (dict(json={"properties": {"InputData": {"d": {"JobInputType": "UriFolder", "Uri": "data/x"}}}}), 400,
     "must be absolute"),
    (dict(json=_body(), headers={"azureml-model-deployment": "green"}), 404, "green"),
])
def test_bad_requests_get_a_json_error_naming_what_was_wrong_and_make_no_job(
        ws: Workspace, how: dict[str, object], status: int, says: str) -> None:
    uri = ws.batch_endpoints.get(ENDPOINT).scoring_uri
    before = len(ws.batch_endpoints.list_jobs(ENDPOINT))
    how = dict(how)
    headers = {**_key(ws), **dict(how.pop("headers", {}))}  # type: ignore[call-overload]
    answer = httpx.post(uri, headers=headers, timeout=30, **how)  # type: ignore[arg-type]
    assert answer.status_code == status, answer.text
    assert says in answer.json()["error"]["message"], answer.text
    assert len(ws.batch_endpoints.list_jobs(ENDPOINT)) == before


def test_unknown_endpoint_job_and_an_endpoint_without_a_default_deployment(ws: Workspace) -> None:
    uri = ws.batch_endpoints.get(ENDPOINT).scoring_uri
    base = uri.split("/endpoints/")[0]
    unknown = httpx.post(f"{base}/endpoints/nowhere/jobs", json=_body(), headers=_key(ws), timeout=10)
    assert unknown.status_code == 404 and "nowhere" in unknown.json()["error"]["message"]
    job = httpx.get(f"{uri}/no-such-job", headers=_key(ws), timeout=10)
    assert job.status_code == 404 and "no job named 'no-such-job'" in job.json()["error"]["message"]
    keys = ws.batch_endpoints.get_keys(EMPTY)
    empty = httpx.post(ws.batch_endpoints.get(EMPTY).scoring_uri, json=_body(),
                       headers={"Authorization": f"Bearer {keys.primary_key}"}, timeout=10)
    assert empty.status_code == 400 and "no default deployment" in empty.json()["error"]["message"]


def test_the_body_parses_in_both_of_azures_spellings() -> None:
    camel = gateway.parse_invocation({"properties": {
        "inputData": {"UriFolder": {"jobInputType": "UriFolder", "uri": "azureml:diabetes@latest"}},
        "outputDataset": {"datastoreId": "/subscriptions/s/datastores/workspaceblobstore", "path": "scores"},
        "miniBatchSize": 5, "retrySettings": {"maxRetries": 1, "timeout": "PT1M"},
        "properties": {"experimentName": "nightly"}}}, deployment_header="v1")
    assert camel.input == Input(type="uri_folder", path="azureml:diabetes@latest") and not camel.inputs
    assert camel.outputs["score"].path == "azureml://datastores/workspaceblobstore/paths/scores"
    assert camel.params_override == [{"mini_batch_size": 5}, {"retry_settings": {"max_retries": 1, "timeout": 60}}]
    assert (camel.experiment_name, camel.deployment_name) == ("nightly", "v1")
    again = gateway.parse_invocation(gateway.invocation_body(**{k: v for k, v in camel.kwargs().items()}))
    assert again == camel
    with pytest.raises(InvalidInput, match="header names the deployment 'a' and the body 'b'"):
        gateway.parse_invocation({"properties": {"DeploymentName": "b"}}, deployment_header="a")


@pytest.mark.slow
def test_a_killed_gateway_comes_back_on_the_same_port(ws: Workspace) -> None:
    backend = LocalBackend.of(ws)
    record = backend.store.get_setting(gateway.SETTING)
    os.kill(record["pid"], signal.SIGKILL)
    wait_until(lambda: (r := backend.store.get_setting(gateway.SETTING)).get("pid") not in (None, record["pid"]) and r,
               timeout=30, what="the duty to start the gateway again")
    uri = ws.batch_endpoints.get(ENDPOINT).scoring_uri
    assert uri == f"http://127.0.0.1:{record['port']}/endpoints/{ENDPOINT}/jobs"
    wait_until(lambda: _answers(uri.split("/endpoints/")[0]), timeout=60, what="the restarted gateway to answer")
    assert httpx.get(uri, headers=_key(ws), timeout=10).status_code == 200


def test_a_schedule_invokes_the_published_pipeline_at_each_slot(ws: Workspace) -> None:
    with pytest.raises(InvalidInput, match="invokes the batch endpoint 'nowhere', which does not exist"):
        ws.schedules.begin_create_or_update(JobSchedule(
            name="bad", trigger=CronTrigger(expression="0 2 * * *"),
            create_job=BatchEndpointInvocation(endpoint_name="nowhere")))
    with pytest.raises(InvalidInput, match="has no default deployment"):
        ws.schedules.begin_create_or_update(JobSchedule(
            name="bad", trigger=CronTrigger(expression="0 2 * * *"),
            create_job=BatchEndpointInvocation(endpoint_name=EMPTY)))
    made = ws.schedules.begin_create_or_update(JobSchedule(
        name="publish-tick", trigger=CronTrigger(expression="*/2 * * * * *"),
        create_job=BatchEndpointInvocation(endpoint_name=ENDPOINT, inputs={"n": Input(type="integer", default=7)},
                                           experiment_name="scheduled-batch"))).result()
    try:
        assert made.create_job == BatchEndpointInvocation(
            endpoint_name=ENDPOINT, inputs={"n": Input(type="integer", default=7)}, experiment_name="scheduled-batch")
        fired = wait_until(lambda: [f for f in ws.schedules.history("publish-tick") if f.decision == "fired"],
                           timeout=60, what=lambda: f"a fire: {ws.schedules.history('publish-tick')}")
    finally:
        ws.schedules.begin_delete("publish-tick").result()
    with pytest.raises(InvalidInput, match="no form for it, so it has no YAML"):
        ws.schedules.to_yaml(made)
    assert made.create_job.display_name == f"{ENDPOINT}/default"
    job = ws.jobs.get(fired[-1].job_name)
    assert job.name == f"publish-tick-{fired[-1].slot:%Y%m%dT%H%M%SZ}"
    assert job.tags[gateway.TAG_ENDPOINT] == ENDPOINT and job.experiment_name == "scheduled-batch"
    assert job.inputs["n"] == 7
    assert [ws.jobs.get(c.name).inputs["n"] for c in ws.jobs.list(parent_job_name=job.name)] == [7]
    wait_until(lambda: ws.jobs.get(job.name).status.is_terminal, timeout=120, what="the scheduled job to end")


def test_consume_snippets_name_the_uri_the_key_and_the_inputs(ws: Workspace) -> None:
    endpoint = ws.batch_endpoints.get(ENDPOINT)
    code = gateway.endpoint_snippets(LocalBackend.of(ws), ENDPOINT)
    assert ws.batch_endpoints.consume_snippets(ENDPOINT) == code  # what the Consume tab shows
    assert set(code) == {"curl", "Python (requests)", "azure-ai-ml"}
    assert all(endpoint.scoring_uri in code[k] for k in ("curl", "Python (requests)"))
    assert "$BATCH_ENDPOINT_KEY" in code["curl"] and '"JobInputType": "Literal"' in code["curl"]
    assert "ws.batch_endpoints.invoke(endpoint_name='published', inputs={'n': Input(type='integer', default=3)})" \
        in code["azure-ai-ml"]
    compile(code["Python (requests)"], "requests", "exec")
    compile(code["azure-ai-ml"], "sdk", "exec")
    folder = gateway.endpoint_snippets(LocalBackend.of(ws), EMPTY)["azure-ai-ml"]  # no deployment yet: a folder
    assert "inputs={'input_data': Input(type='uri_folder', path='azureml:YOUR-DATA@latest')}" in folder


@pytest.mark.slow
def test_a_model_deployment_scores_a_folder_invoked_with_the_body_azure_ai_ml_sends(
        ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.txt").write_text("w1")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "score.py").write_text(SCORE)
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        (data / f"part-{i}.csv").write_text("a,b\n1,2\n")
    ws.models.create_or_update(Model(name="weights", path=str(tmp_path / "model"), type="custom_model"))
    ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name="files-scorer")).result()
    try:
        ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
            name="files", endpoint_name="files-scorer", model="azureml:weights:1",
            code_configuration=CodeConfiguration(code=str(tmp_path / "src"), scoring_script="score.py"),
            settings=ModelBatchDeploymentSettings(mini_batch_size=2))).result()
        endpoint = ws.batch_endpoints.get("files-scorer")
        keys = ws.batch_endpoints.get_keys("files-scorer")
        headers = {"Authorization": f"Bearer {keys.secondary_key}", "azureml-model-deployment": "files"}
        # azure-ai-ml's invoke(input=Input(type="uri_folder", path=...)) sends the input keyed by its type
        body = {"properties": {"inputData": {"UriFolder": {"jobInputType": "UriFolder", "uri": str(data)}},
                               "outputFileName": "scores.csv"}}
        answer = httpx.post(endpoint.scoring_uri, json=body, headers=headers, timeout=30)
        assert answer.status_code == 202, answer.text
        name = answer.json()["name"]
        two = httpx.post(endpoint.scoring_uri, headers=headers, timeout=30, json={"properties": {"InputData": {
            "heart": {"JobInputType": "UriFolder", "Uri": str(data)},
            "lungs": {"JobInputType": "UriFolder", "Uri": str(data)}}}})
        assert two.status_code == 400 and "got 2: heart, lungs" in two.json()["error"]["message"]
        # one input under any name is the data to score, as Azure takes it
        named = httpx.post(endpoint.scoring_uri, headers=headers, timeout=30, json={"properties": {"InputData": {
            "heart": {"JobInputType": "UriFolder", "Uri": str(data)}}}})
        assert named.status_code == 202, named.text
        assert list(ws.jobs.get(named.json()["name"]).inputs) == ["heart"]
        ws.jobs.begin_cancel(named.json()["name"]).result(timeout=60)

        def ended() -> dict[str, object] | None:
            got = httpx.get(answer.headers["Location"], headers=headers, timeout=10).json()
            return got if got["properties"]["status"] in ("Completed", "Failed", "Canceled") else None

        done = wait_until(ended, timeout=240, interval=0.5, what="the scoring job to end")
        assert done["properties"]["status"] == "Completed", (done, ws.jobs.get_logs(name)[-3000:])
        assert done["properties"]["outputData"]["score"]["uri"] == f"azureml://jobs/{name}/outputs/score"
        ws.jobs.download(name, download_path=tmp_path / "dl", output_name="score")
        rows = sorted(line for p in (tmp_path / "dl").rglob("scores.csv") for line in p.read_text().splitlines())
        assert rows == ["part-0.csv,w1", "part-1.csv,w1", "part-2.csv,w1"]
    finally:
        ws.batch_endpoints.begin_delete("files-scorer").result()
