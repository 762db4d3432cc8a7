"""Batch endpoints and deployments on the local backend: create, defaults, keys, the frozen scoring spec,
bad input refused with nothing written, and invocations submitted as pipeline jobs whose one step runs the
scoring driver (in the deployment's environment when it has one); a pipeline deployment's invocation as the
parent of its pipeline run; a job's failed mini-batches. One workspace for the module; the slow tests run jobs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import mlflow.sklearn
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from studio_ext import Input, Output, Workspace
from studio_ext.backends.local import LocalBackend
from studio_ext.entities import (
    AmlCompute,
    BatchDeploymentOutputAction,
    BatchEndpoint,
    BatchEndpointDefaults,
    BatchRetrySettings,
    CodeConfiguration,
    CommandComponent,
    Model,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
    PipelineComponentBatchDeployment,
    PipelineJob,
)
from studio_ext.errors import Conflict, InvalidInput, NotFound, UnsafePath

DIABETES = Path("/work/shared/data/dp100/diabetes.csv")
FEATURES = ["Pregnancies", "PlasmaGlucose", "DiastolicBloodPressure", "TricepsThickness", "SerumInsulin", "BMI",
            "DiabetesPedigree", "Age"]
SCORE = """
import os
def init():
    global model
    model = os.environ.get("AZUREML_MODEL_DIR")

def run(mini_batch):
    return [os.path.basename(f) for f in mini_batch]
"""


@pytest.fixture(scope="module")
def ws(module_workspace: Workspace) -> Workspace:
    return module_workspace


@pytest.fixture(scope="module")
def assets(ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An MLflow sklearn model, a custom model, a scoring script and a folder of CSVs."""
    root = tmp_path_factory.mktemp("batch-assets")
    frame = pd.read_csv(DIABETES).head(300)
    model = LogisticRegression(max_iter=500).fit(frame[FEATURES], frame["Diabetic"])
    mlflow.sklearn.save_model(model, str(root / "mlflow-model"), serialization_format="cloudpickle")
    ws.models.create_or_update(Model(name="diabetes-mlflow", path=str(root / "mlflow-model"), allow_pickle=True))
    (root / "custom").mkdir()
    (root / "custom" / "weights.txt").write_text("1 2 3")
    ws.models.create_or_update(Model(name="diabetes-custom", path=str(root / "custom"), type="custom_model"))
    (root / "src").mkdir()
    (root / "src" / "score.py").write_text(SCORE)
    (root / "bad").mkdir()
    (root / "bad" / "score.py").write_text("def init():\n    pass\n\ndef predict(x):\n    return x\n")
    data = root / "data"
    data.mkdir()
    for i in range(3):
        frame[FEATURES].iloc[i * 20:(i + 1) * 20].to_csv(data / f"part-{i}.csv", index=False)
    return {"root": root, "src": root / "src", "bad": root / "bad", "data": data}


@pytest.fixture(scope="module")
def endpoint(ws: Workspace, assets: dict[str, Path]) -> Iterator[str]:
    ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name="diabetes-batch", description="scores")).result()
    ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
        name="classifier", endpoint_name="diabetes-batch", model="azureml:diabetes-mlflow:1",
        settings=ModelBatchDeploymentSettings(mini_batch_size=2, max_concurrency_per_instance=2,
                                              output_file_name="predictions.csv",
                                              retry_settings=BatchRetrySettings(max_retries=1, timeout=60)))).result()
    yield "diabetes-batch"


def _folders(ws: Workspace) -> list[str]:
    root = LocalBackend.of(ws).path / "batch"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_the_first_deployment_is_the_default_and_its_scoring_spec_is_frozen(ws: Workspace, endpoint: str) -> None:
    got = ws.batch_endpoints.get(endpoint)
    assert got.defaults.deployment_name == "classifier" and got.description == "scores"
    assert got.provisioning_state == "Succeeded"
    assert [e.name for e in ws.batch_endpoints.list()] == [endpoint]
    deployment = ws.batch_deployments.get("classifier", endpoint)
    assert isinstance(deployment, ModelBatchDeployment) and deployment.type == "model"
    assert deployment.model == "azureml:diabetes-mlflow:1"
    assert deployment.settings.mini_batch_size == 2
    assert deployment.settings.output_action is BatchDeploymentOutputAction.APPEND_ROW
    assert deployment.settings.retry_settings == BatchRetrySettings(max_retries=1, timeout=60)
    spec = json.loads((LocalBackend.of(ws).path / "batch" / endpoint / "classifier" / "deployment.json").read_text())
    assert spec["kind"] == "model" and spec["endpoint"] == endpoint and spec["deployment"] == "classifier"
    assert spec["model"]["flavor"] == "mlflow" and (Path(spec["model"]["path"]) / "MLmodel").is_file()
    assert spec["code_dir"] is None and spec["scoring_script"] is None
    assert spec["settings"] == {"instance_count": 1, "max_concurrency_per_instance": 2, "mini_batch_size": 2,
                                "output_action": "append_row", "output_file_name": "predictions.csv",
                                "max_retries": 1, "timeout": 60, "error_threshold": -1, "logging_level": "info",
                                "environment_variables": {}}
    assert spec["compute"] == {"name": "local", "kind": "local", "scheduler_address": None, "max_instances": 1}


def test_a_custom_model_deployment_snapshots_its_code(ws: Workspace, endpoint: str, assets: dict[str, Path]) -> None:
    made = ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
        name="custom", endpoint_name=endpoint, model="azureml:diabetes-custom@latest",
        code_configuration=CodeConfiguration(code=str(assets["src"]), scoring_script="score.py"),
        settings=ModelBatchDeploymentSettings(output_action="summary_only", mini_batch_size=1))).result()
    try:
        assert made.code_configuration is not None and made.code_configuration.scoring_script == "score.py"
        assert ws.batch_endpoints.get(endpoint).defaults.deployment_name == "classifier", "the first stays default"
        folder = LocalBackend.of(ws).path / "batch" / endpoint / "custom"
        spec = json.loads((folder / "deployment.json").read_text())
        assert spec["model"]["flavor"] == "custom_model"
        assert (Path(spec["model"]["path"]) / "custom" / "weights.txt").is_file()  # AZUREML_MODEL_DIR, as on Azure
        assert spec["code_dir"] == str(folder / "code") and (folder / "code" / "score.py").read_text() == SCORE
        assert spec["settings"]["output_action"] == "summary_only"
        assert sorted(d.name for d in ws.batch_deployments.list(endpoint)) == ["classifier", "custom"]
    finally:
        ws.batch_deployments.begin_delete("custom", endpoint).result()
    assert not (LocalBackend.of(ws).path / "batch" / endpoint / "custom").exists()


def test_bad_deployments_are_refused_and_nothing_is_written(ws: Workspace, endpoint: str,
                                                            assets: dict[str, Path]) -> None:
    before = _folders(ws)
    with pytest.raises(InvalidInput, match=r"defines no run\(mini_batch\)"):
        ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
            name="nope", endpoint_name=endpoint, model="azureml:diabetes-custom:1",
            code_configuration=CodeConfiguration(code=str(assets["bad"]), scoring_script="score.py")))
    with pytest.raises(InvalidInput, match="mini_batch_size"):
        ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
            name="nope", endpoint_name=endpoint, model="azureml:diabetes-mlflow:1",
            settings=ModelBatchDeploymentSettings(mini_batch_size=0)))
    with pytest.raises(InvalidInput, match="custom model needs a scoring script"):
        ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
            name="nope", endpoint_name=endpoint, model="azureml:diabetes-custom:1"))
    with pytest.raises(NotFound, match="no batch endpoint named 'missing'"):
        ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
            name="nope", endpoint_name="missing", model="azureml:diabetes-mlflow:1"))
    with pytest.raises(NotFound, match="compute"):
        ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
            name="nope", endpoint_name=endpoint, model="azureml:diabetes-mlflow:1", compute="no-such-cluster"))
    with pytest.raises(InvalidInput, match="not a deployment"):
        ws.batch_endpoints.begin_create_or_update(BatchEndpoint(
            name=endpoint, defaults=BatchEndpointDefaults(deployment_name="ghost")))
    assert _folders(ws) == before
    assert [d.name for d in ws.batch_deployments.list(endpoint)] == ["classifier"]
    with pytest.raises(NotFound, match="no deployment 'ghost'. Its deployments: classifier"):
        ws.batch_deployments.get("ghost", endpoint)
    with pytest.raises(NotFound, match="Batch endpoints: diabetes-batch"):
        ws.batch_endpoints.get("ghost")


def test_keys_regenerate_one_at_a_time(ws: Workspace, endpoint: str) -> None:
    keys = ws.batch_endpoints.get_keys(endpoint)
    assert keys.primary_key and keys.secondary_key and keys.primary_key != keys.secondary_key
    path = LocalBackend.of(ws).path / "batch" / endpoint / "keys.json"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    again = ws.batch_endpoints.begin_regenerate_keys(endpoint, key_type="secondary").result()
    assert again.primary_key == keys.primary_key and again.secondary_key != keys.secondary_key
    with pytest.raises(InvalidInput, match="key_type"):
        ws.batch_endpoints.begin_regenerate_keys(endpoint, key_type="tertiary")
    snippets = ws.batch_endpoints.consume_snippets(endpoint)
    assert set(snippets) == {"curl", "Python (requests)", "azure-ai-ml"}
    assert ws.batch_endpoints.get(endpoint).scoring_uri in snippets["curl"]


def test_invoke_submits_a_pipeline_job_running_the_scoring_driver(ws: Workspace, endpoint: str,
                                                                  assets: dict[str, Path]) -> None:
    job = ws.batch_endpoints.invoke(endpoint, input=Input(type="uri_folder", path=str(assets["data"])),
                                    params_override=[{"mini_batch_size": 5}], job_name="batch_check_1")
    ws.jobs.begin_cancel(job.name).result(timeout=60)  # the driver is not what this test checks
    assert isinstance(job, PipelineJob) and job.name == "batch_check_1"
    assert job.experiment_name == endpoint
    assert job.tags["azureml.batch_endpoint"] == endpoint and job.tags["azureml.batch_deployment"] == "classifier"
    step = job.jobs["batchscoring"]
    assert isinstance(step.component, CommandComponent)
    folder = LocalBackend.of(ws).path / "batch" / endpoint / "classifier"
    [override] = (folder / "invocations").glob("batch_check_1-*.json")
    assert step.command == (f'python -m studio_ext.backends.local.batch.driver --deployment "{override}" '
                            "--input ${{inputs.input_data}} --output ${{outputs.score}}")
    assert json.loads(override.read_text())["settings"]["mini_batch_size"] == 5
    assert json.loads((folder / "deployment.json").read_text())["settings"]["mini_batch_size"] == 2, "frozen"
    assert step.inputs["input_data"] == "${{parent.inputs.input_data}}"
    assert step.outputs["score"] == "${{parent.outputs.score}}"
    assert job.inputs["input_data"].path == str(assets["data"]) and "score" in job.outputs
    assert [j.name for j in ws.batch_endpoints.list_jobs(endpoint)] == ["batch_check_1"]
    assert [j.name for j in ws.batch_deployments.list_jobs(endpoint, name="classifier")] == ["batch_check_1"]
    placed = ws.batch_endpoints.invoke(
        endpoint, deployment_name="classifier", inputs={"input_data": Input(type="uri_folder", path=str(assets["data"]))},
        outputs={"score": Output(type="uri_folder", path="azureml://datastores/workspaceblobstore/paths/batch-out/")},
        experiment_name="batch-scoring", job_name="batch_check_2")
    ws.jobs.begin_cancel(placed.name).result(timeout=60)
    assert placed.experiment_name == "batch-scoring"
    assert placed.outputs["score"].path.endswith("batch-out/")
    assert [j.name for j in ws.batch_endpoints.list_jobs(endpoint)] == ["batch_check_2", "batch_check_1"]
    # as on Azure, a model deployment takes its one input under whatever name the request gives it
    named = ws.batch_endpoints.invoke(endpoint, inputs={"heart": Input(type="uri_folder", path=str(assets["data"]))},
                                      job_name="batch_check_3")
    ws.jobs.begin_cancel(named.name).result(timeout=60)
    assert list(named.inputs) == ["heart"] and named.inputs["heart"].path == str(assets["data"])
    assert named.jobs["batchscoring"].inputs["input_data"] == "${{parent.inputs.heart}}"


def test_bad_invocations_are_refused_before_any_job(ws: Workspace, endpoint: str, assets: dict[str, Path],
                                                     tmp_path: Path) -> None:
    jobs_before = len(ws.jobs.list())
    invocation_specs = LocalBackend.of(ws).path / "batch" / endpoint / "classifier"
    specs_before = len(list(invocation_specs.glob("invocations/*.json")))  # the earlier tests' own, if they ran
    with pytest.raises(NotFound, match="does not exist"):
        ws.batch_endpoints.invoke(endpoint, input=Input(type="uri_folder", path=str(tmp_path / "absent")))
    with pytest.raises(UnsafePath):
        ws.batch_endpoints.invoke(endpoint, input=Input(
            type="uri_folder", path="azureml://datastores/workspaceblobstore/paths/../../etc"))
    with pytest.raises(InvalidInput, match="mini_batch_size"):
        ws.batch_endpoints.invoke(endpoint, input=Input(type="uri_folder", path=str(assets["data"])),
                                  params_override=[{"mini_batch_size": 0}])
    with pytest.raises(InvalidInput, match="takes one input .*got 2: heart, other"):
        ws.batch_endpoints.invoke(endpoint, inputs={"other": Input(type="uri_folder", path=str(assets["data"])),
                                                    "heart": Input(type="uri_folder", path=str(assets["data"]))})
    with pytest.raises(InvalidInput, match="not both"):
        ws.batch_endpoints.invoke(endpoint, input=Input(type="uri_folder", path=str(assets["data"])),
                                  inputs={"other": Input(type="uri_folder", path=str(assets["data"]))})
    with pytest.raises(NotFound, match="no deployment 'ghost'"):
        ws.batch_endpoints.invoke(endpoint, deployment_name="ghost", input=str(assets["data"]))
    with pytest.raises(NotFound, match="no batch endpoint named 'ghost'"):
        ws.batch_endpoints.invoke("ghost", input=str(assets["data"]))
    # the model has no signature; it was fitted on a DataFrame, so its columns are known and checked up front
    spec = json.loads((LocalBackend.of(ws).path / "batch" / endpoint / "classifier" / "deployment.json").read_text())
    assert spec["model"]["input_columns"] == FEATURES
    lacking = tmp_path / "lacking"
    lacking.mkdir()
    pd.read_csv(DIABETES).head(5)[FEATURES[:2]].to_csv(lacking / "a.csv", index=False)
    with pytest.raises(InvalidInput, match=rf"input file {lacking / 'a.csv'} lacks the model's input columns "
                                           rf"\['{FEATURES[2]}'.*the file has \['{FEATURES[0]}', '{FEATURES[1]}'\]"):
        ws.batch_endpoints.invoke(endpoint, input=Input(type="uri_folder", path=str(lacking)))
    pq_file = tmp_path / "lacking.parquet"  # a Parquet file's schema is read, not its rows
    pd.read_csv(DIABETES).head(5)[FEATURES[1:]].to_parquet(pq_file)
    with pytest.raises(InvalidInput, match=rf"lacks the model's input columns \['{FEATURES[0]}'\]"):
        ws.batch_endpoints.invoke(endpoint, input=Input(type="uri_file", path=str(pq_file)))
    ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name="empty-batch")).result()
    try:
        with pytest.raises(InvalidInput, match="no default deployment"):
            ws.batch_endpoints.invoke("empty-batch", input=Input(type="uri_folder", path=str(assets["data"])))
    finally:
        ws.batch_endpoints.begin_delete("empty-batch").result()
    assert len(ws.jobs.list()) == jobs_before
    assert len(list(invocation_specs.glob("invocations/*.json"))) == specs_before  # nothing written for a refusal


@pytest.mark.slow  # it creates and deletes a compute cluster
def test_a_cluster_deployment_keeps_its_compute_and_refuses_more_instances(ws: Workspace, endpoint: str) -> None:
    ws.compute.begin_create_or_update(AmlCompute(name="batch-cluster", max_instances=2)).result()
    try:
        with pytest.raises(InvalidInput, match="max_instances 2"):
            ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
                name="on-cluster", endpoint_name=endpoint, model="azureml:diabetes-mlflow:1", compute="batch-cluster",
                settings=ModelBatchDeploymentSettings(instance_count=3)))
        made = ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
            name="on-cluster", endpoint_name=endpoint, model="azureml:diabetes-mlflow:1", compute="batch-cluster",
            settings=ModelBatchDeploymentSettings(instance_count=2))).result()
        assert made.compute == "batch-cluster"
        spec = json.loads((LocalBackend.of(ws).path / "batch" / endpoint / "on-cluster" / "deployment.json").read_text())
        assert spec["compute"]["name"] == "batch-cluster" and spec["compute"]["kind"] == "cluster"
        assert spec["compute"]["max_instances"] == 2
        with pytest.raises(Conflict, match="is the default"):
            ws.batch_deployments.begin_delete("classifier", endpoint)
        ws.batch_deployments.begin_delete("on-cluster", endpoint).result()
    finally:
        ws.compute.begin_delete("batch-cluster").result()


def test_a_pipeline_component_deployment_runs_its_component(ws: Workspace, assets: dict[str, Path]) -> None:
    (assets["root"] / "count").mkdir(exist_ok=True)
    (assets["root"] / "count" / "count.py").write_text(
        "import sys, pathlib\npathlib.Path(sys.argv[2], 'n.txt').write_text(str(len(list(pathlib.Path(sys.argv[1])"
        ".iterdir()))) + ' x' + sys.argv[3])\n")
    step = CommandComponent(name="count_files", version="1", code=str(assets["root"] / "count"),
                            command="python count.py ${{inputs.folder}} ${{outputs.counted}} ${{inputs.factor}}",
                            inputs={"folder": Input(type="uri_folder"), "factor": Input(type="integer", default=1)},
                            outputs={"counted": Output(type="uri_folder")})
    from studio_ext import dsl

    @dsl.pipeline(name="count_pipeline")
    def count_pipeline(folder: Input, factor: int = 1) -> dict[str, object]:
        node = step(folder=folder, factor=factor)
        return {"counted": node.outputs.counted}

    component = ws.components.create_or_update(count_pipeline(
        folder=Input(type="uri_folder", path=str(assets["data"]))).component)
    ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name="count-batch")).result()
    try:
        made = ws.batch_deployments.begin_create_or_update(PipelineComponentBatchDeployment(
            name="counter", endpoint_name="count-batch", component=f"azureml:{component.name}:{component.version}",
            settings={"continue_on_step_failure": "False", "default_compute": "local"})).result()
        assert isinstance(made, PipelineComponentBatchDeployment) and made.type == "pipeline"
        assert ws.batch_endpoints.get("count-batch").defaults.deployment_name == "counter"
        request = {"folder": Input(type="uri_folder", path=str(assets["data"])),
                   "factor": Input(type="integer", default=3)}
        job = ws.batch_endpoints.invoke("count-batch", inputs=request)
        assert isinstance(job, PipelineJob) and job.experiment_name == "count-batch"
        assert job.name.startswith("batchjob_")
        assert job.tags["azureml.batch_deployment"] == "counter"
        # the invocation is the parent; its one child is the pipeline run, its parameters the request's
        assert job.inputs["factor"] == 3 and list(job.jobs) == ["count_pipeline"]
        done = ws.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=120)
        assert done.status == "Completed", done.error
        [child] = ws.jobs.list(parent_job_name=job.name)
        assert child.name == f"{job.name}_count_pipeline" and child.type == "pipeline"
        assert ws.jobs.get(job.name).children == [child.name]
        run = ws.jobs.get(child.name)
        assert run.status == "Completed" and run.inputs["factor"] == 3 and list(run.jobs) == ["node"]
        [step_run] = ws.jobs.list(parent_job_name=child.name)
        ws.jobs.download(job.name, download_path=str(assets["root"] / "dl1"), output_name="counted")
        assert (assets["root"] / "dl1" / "named-outputs" / "counted" / "n.txt").read_text() == "3 x3"
        # the same request again: the pipeline's step is reused, not run again
        again = ws.batch_endpoints.invoke("count-batch", inputs=request)
        assert ws.jobs.stream(again.name, out=open(os.devnull, "w"), timeout=120).status == "Completed"
        [child2] = ws.jobs.list(parent_job_name=again.name)
        [step2] = ws.jobs.list(parent_job_name=child2.name)
        assert step2.tags.get("azureml.reused_from") == step_run.name
        assert [j.name for j in ws.batch_endpoints.list_jobs("count-batch")] == [again.name, job.name]
        with pytest.raises(InvalidInput, match="no input 'nope'"):
            ws.batch_endpoints.invoke("count-batch", inputs={"nope": 1})
    finally:
        ws.batch_endpoints.begin_delete("count-batch").result()
    assert not (LocalBackend.of(ws).path / "batch" / "count-batch").exists()


@pytest.mark.slow  # the scoring driver starts a Dask cluster and loads the model in a worker
def test_the_course_lab_runs_with_azure_ai_ml_objects_and_scores_a_folder_of_csvs(
        ws: Workspace, assets: dict[str, Path], tmp_path: Path) -> None:
    """mslearn-azure-ml Labs/11 with azure-ai-ml's objects: an MLflow model, no scoring script, a folder of CSVs."""
    from azure.ai.ml import Input as AzureInput
    from azure.ai.ml.constants import AssetTypes, BatchDeploymentOutputAction
    from azure.ai.ml.entities import BatchEndpoint as AzureBatchEndpoint
    from azure.ai.ml.entities import BatchRetrySettings as AzureRetry
    from azure.ai.ml.entities import ModelBatchDeployment as AzureDeployment
    from azure.ai.ml.entities import ModelBatchDeploymentSettings as AzureSettings

    ws.batch_endpoints.begin_create_or_update(AzureBatchEndpoint(name="lab-batch", description="lab")).result()
    try:
        model = ws.models.get("diabetes-mlflow", "1")
        ws.batch_deployments.begin_create_or_update(AzureDeployment(
            name="classifier-diabetes-mlflow", description="A diabetes classifier", endpoint_name="lab-batch",
            model=model, settings=AzureSettings(
                instance_count=1, max_concurrency_per_instance=2, mini_batch_size=2,
                output_action=BatchDeploymentOutputAction.APPEND_ROW, output_file_name="predictions.csv",
                retry_settings=AzureRetry(max_retries=3, timeout=300), logging_level="info"))).result()
        endpoint = ws.batch_endpoints.get("lab-batch")
        endpoint.defaults = {}  # type: ignore[assignment]  # as the lab writes it
        endpoint.defaults["deployment_name"] = "classifier-diabetes-mlflow"  # type: ignore[index]
        ws.batch_endpoints.begin_create_or_update(endpoint).result()
        assert ws.batch_endpoints.get("lab-batch").defaults.deployment_name == "classifier-diabetes-mlflow"
        job = ws.batch_endpoints.invoke(endpoint_name="lab-batch",
                                        input=AzureInput(type=AssetTypes.URI_FOLDER, path=str(assets["data"])))
        done = ws.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=240)
        assert done.status == "Completed", done.error
        scoring_job = list(ws.jobs.list(parent_job_name=job.name))[0]
        ws.jobs.download(name=scoring_job.name, download_path=str(tmp_path / "step"), output_name="score")
        ws.jobs.download(job.name, download_path=str(tmp_path / "pipeline"), output_name="score")
        found = sorted((tmp_path / "pipeline").rglob("predictions.csv"))
        assert found and sorted((tmp_path / "step").rglob("predictions.csv"))
        predictions = pd.read_csv(found[0], header=None, sep=None, engine="python")
        assert len(predictions) == 60, "every row of the three files, once"
        assert set(predictions.iloc[:, -1]) == {"part-0.csv", "part-1.csv", "part-2.csv"}
    finally:
        ws.batch_endpoints.begin_delete("lab-batch").result()


FAILING = """
import os
def init():
    pass

def run(mini_batch):
    for f in mini_batch:
        if os.path.basename(f) == "part-1.csv":
            raise ValueError("cannot score " + os.path.basename(f))
    return [os.path.basename(f) for f in mini_batch]
"""


@pytest.mark.slow  # the scoring driver starts a Dask cluster
def test_a_partly_failed_job_lists_its_failed_mini_batches_with_their_errors(ws: Workspace, assets: dict[str, Path]) -> None:
    (assets["root"] / "failing").mkdir()
    (assets["root"] / "failing" / "score.py").write_text(FAILING)
    ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name="failing-batch")).result()
    try:
        ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
            name="strict", endpoint_name="failing-batch", model="azureml:diabetes-custom:1",
            code_configuration=CodeConfiguration(code=str(assets["root"] / "failing"), scoring_script="score.py"),
            settings=ModelBatchDeploymentSettings(mini_batch_size=1, error_threshold=-1,
                                                  retry_settings=BatchRetrySettings(max_retries=1, timeout=60)))).result()
        job = ws.batch_endpoints.invoke("failing-batch", input=Input(type="uri_folder", path=str(assets["data"])))
        assert ws.batch_endpoints.list_errors("failing-batch", job.name) == []  # nothing yet
        assert job.name.startswith("batchjob_")  # named as Azure names a batch job
        done = ws.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=240)
        assert done.status == "Completed", done.error  # partly failed: within the error threshold (-1, never)
        [error] = ws.batch_endpoints.list_errors("failing-batch", job.name)
        assert error.items == [str(assets["data"] / "part-1.csv")] and error.tries == 2
        assert error.error.startswith("ValueError: cannot score part-1.csv") and error.kind == "raised"
        assert [a["attempt"] for a in error.attempts] == [1, 2]
        with pytest.raises(NotFound, match="no job named 'ghost'"):
            ws.batch_endpoints.list_errors("failing-batch", "ghost")
    finally:
        ws.batch_endpoints.begin_delete("failing-batch").result()


ENV_SCORE = """
import os, sys
import batch_env_marker  # only the deployment's environment has it

def init():
    pass

def run(mini_batch):
    return [f"{os.path.basename(f)},{batch_env_marker.VALUE},{sys.prefix}" for f in mini_batch]
"""


def _wheel(folder: Path, name: str, value: str) -> Path:
    """A one-module wheel, built here (pip installs it with no network)."""
    import zipfile

    path = folder / f"{name}-1.0-py3-none-any.whl"
    info = f"{name}-1.0.dist-info"
    files = {f"{name}/__init__.py": f"VALUE = {value!r}\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{f},,\n" for f in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(path, "w") as zf:
        for arcname, text in files.items():
            zf.writestr(arcname, text)
    return path


@pytest.mark.slow  # builds a venv and runs the scoring driver in it
def test_the_scoring_step_runs_in_the_deployments_environment(ws: Workspace, assets: dict[str, Path],
                                                              tmp_path: Path) -> None:
    from studio_ext import Environment
    from studio_ext.backends.local.jobs.environments import EnvironmentBuildError

    wheel = _wheel(tmp_path, "batch_env_marker", "from-the-environment")
    (tmp_path / "conda.yml").write_text(f"name: scoring\ndependencies:\n  - pip\n  - pip:\n    - {wheel}\n")
    (tmp_path / "bad.yml").write_text(f"name: broken\ndependencies:\n  - pip\n  - pip:\n    - {tmp_path}/absent.whl\n")
    env = ws.environments.create_or_update(Environment(name="batch-score-env", conda_file=str(tmp_path / "conda.yml")))
    bad = ws.environments.create_or_update(Environment(name="batch-broken-env", conda_file=str(tmp_path / "bad.yml")))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "score.py").write_text(ENV_SCORE)
    ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name="env-batch")).result()
    try:
        def deployment(name: str, environment: str) -> ModelBatchDeployment:
            return ModelBatchDeployment(
                name=name, endpoint_name="env-batch", model="azureml:diabetes-custom:1", environment=environment,
                code_configuration=CodeConfiguration(code=str(tmp_path / "src"), scoring_script="score.py"),
                settings=ModelBatchDeploymentSettings(mini_batch_size=3, output_file_name="predictions.csv"))

        with pytest.raises(EnvironmentBuildError, match="batch-broken-env"):  # the create fails, not a job
            ws.batch_deployments.begin_create_or_update(deployment("broken", f"azureml:{bad.name}:{bad.version}"))
        assert [d.name for d in ws.batch_deployments.list("env-batch")] == []
        ws.batch_deployments.begin_create_or_update(deployment("in-env", f"azureml:{env.name}:{env.version}")).result()
        venvs = LocalBackend.of(ws).path / "envs"
        spec = json.loads((LocalBackend.of(ws).path / "batch" / "env-batch" / "in-env" / "deployment.json").read_text())
        assert Path(spec["python"]).is_relative_to(venvs) and spec["environment"] == f"azureml:{env.name}:1"
        job = ws.batch_endpoints.invoke("env-batch", input=Input(type="uri_folder", path=str(assets["data"])))
        done = ws.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=240)
        assert done.status == "Completed", done.error
        ws.jobs.download(job.name, download_path=str(tmp_path / "out"), output_name="score")
        rows = sorted((tmp_path / "out" / "predictions.csv").read_text().split())
        assert [r.split(",")[:2] for r in rows] == [[f"part-{i}.csv", "from-the-environment"] for i in range(3)]
        assert all(Path(r.split(",")[2]).is_relative_to(venvs) for r in rows), rows
    finally:
        ws.batch_endpoints.begin_delete("env-batch").result()
