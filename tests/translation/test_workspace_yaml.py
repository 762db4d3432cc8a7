"""``ws.<group>.to_yaml(entity)`` for every kind, round-tripped through azure-ai-ml.

test_round_trip.py checks the translation on entities built by hand. Here each service's
``to_yaml`` is the way out, and the entities are also the ones the services return
(registered, with their stored fields): entity -> YAML -> azure-ai-ml ``load_*`` ->
studio_ext entity, equal to what was written (for a returned entity: the same v2 YAML
again, the fields a service fills in having no v2 form). The exported job runs again.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import azure.ai.ml as aml
import pytest
import yaml

from studio_ext import Workspace, automl, command
from studio_ext import entities as e
from studio_ext.entities import Input, Output
from studio_ext.translation import from_azure_any, to_yaml
from tests.helpers import wait_until

LOADERS = {
    "jobs": aml.load_job, "data": aml.load_data, "models": aml.load_model, "environments": aml.load_environment,
    "compute": aml.load_compute, "datastores": aml.load_datastore, "online_endpoints": aml.load_online_endpoint,
    "online_deployments": aml.load_online_deployment,
}


def _back(group: str, text: str) -> Any:
    """YAML -> azure-ai-ml's own loader (Azure's validation) -> studio_ext entity."""
    loaded = LOADERS[group](io.StringIO(text))
    assert type(loaded).__module__.startswith("azure.ai.ml")
    return from_azure_any(loaded).entity


def _specs(root: Path) -> dict[str, tuple[str, Any]]:
    (root / "src").mkdir()
    (root / "src" / "score.py").write_text("def init(): pass\ndef run(raw): return raw\n")
    (root / "conda.yml").write_text("name: e\ndependencies:\n  - python=3.11\n  - pip:\n    - scikit-learn\n")
    (root / "diabetes.csv").write_text("a,b\n1,2\n")
    src, csv = str(root / "src"), str(root / "diabetes.csv")
    return {
        "command job": ("jobs", e.CommandJob(
            name="train_1", display_name="train", experiment_name="diabetes", compute="cpu-cluster",
            command="python train.py --data ${{inputs.data}} --out ${{outputs.model}}", code=src,
            environment="AzureML-sklearn-1.5@latest", inputs={"data": Input(type="uri_file", path=csv), "reg": 0.1},
            outputs={"model": Output(type="uri_folder")}, tags={"t": "1"})),
        "data": ("data", e.Data(name="diabetes", version="1", path=csv, type="uri_file", description="d")),
        "model": ("models", e.Model(name="diabetes-model", version="1", type=e.ModelType.MLFLOW,
                                    path="azureml://jobs/job_1/outputs/artifacts/paths/model/")),
        "environment": ("environments", e.Environment(name="sk", version="1", conda_file=str(root / "conda.yml"),
                                                      image="mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu")),
        "amlcompute": ("compute", e.AmlCompute(name="cpu-cluster", size="STANDARD_DS11_V2", max_instances=3,
                                               idle_time_before_scale_down=300)),
        "computeinstance": ("compute", e.ComputeInstance(name="ci", size="STANDARD_DS11_V2")),
        "datastore": ("datastores", e.Datastore(name="blob", url="az://data@acct.blob.core.windows.net",
                                                type=e.DatastoreType.AZURE_BLOB, credentials={"account_key": "S0VZ"},
                                                options={"account_name": "acct", "endpoint": "core.windows.net",
                                                         "protocol": "https"})),
        "online endpoint": ("online_endpoints", e.ManagedOnlineEndpoint(name="ep", traffic={"blue": 100})),
        "online deployment": ("online_deployments", e.ManagedOnlineDeployment(
            name="blue", endpoint_name="ep", model="azureml:diabetes-model:1", instance_count=2,
            code_configuration=e.CodeConfiguration(code=src, scoring_script="score.py"), environment="sk:1")),
    }


SPEC_NAMES = ["command job", "data", "model", "environment", "amlcompute", "computeinstance", "datastore",
              "online endpoint", "online deployment"]


@pytest.mark.parametrize("kind", SPEC_NAMES)
def test_each_groups_to_yaml_round_trips_with_equality(kind: str, module_workspace: Workspace, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    group, entity = _specs(tmp_path)[kind]
    text = getattr(module_workspace, group).to_yaml(entity)
    assert text == to_yaml(entity)  # one translation, whichever way in
    assert yaml.safe_load(text)["$schema"].startswith("https://azuremlschemas.azureedge.net/latest/")
    back = _back(group, text)
    assert type(back) is type(entity)
    assert back == entity


def test_an_automl_job_exports_through_ws_jobs_too(module_workspace: Workspace) -> None:
    job = automl.classification(training_data=Input(type="mltable", path="azureml:diabetes:1"),
                                target_column_name="Diabetic", primary_metric="AUC_weighted",
                                experiment_name="automl-yaml", compute="local")
    job.set_limits(max_trials=3)
    text = module_workspace.jobs.to_yaml(job)
    assert text == module_workspace.automl.to_yaml(job)
    loaded = aml.load_job(io.StringIO(text))
    assert (loaded.type, str(loaded.task_type.value), loaded.target_column_name, loaded.experiment_name) == (
        "automl", "Classification", "Diabetic", "automl-yaml")


def test_what_the_services_return_exports_and_comes_back_the_same(workspace: Workspace, tmp_path: Path) -> None:
    ws = workspace
    csv = tmp_path / "diabetes.csv"
    csv.write_text("a,b\n1,2\n3,4\n")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.txt").write_text("weights\n")
    conda = tmp_path / "conda.yml"
    conda.write_text("name: e\ndependencies:\n  - pip:\n    - scikit-learn\n")
    returned = {
        "data": ws.data.create_or_update(e.Data(name="diabetes", path=str(csv), type="uri_file", description="d",
                                                tags={"course": "dp100"})),
        "models": ws.models.create_or_update(e.Model(name="m", path=str(model_dir), type=e.ModelType.CUSTOM)),
        "environments": ws.environments.create_or_update(e.Environment(name="sk", conda_file=str(conda),
                                                                       description="d")),
        "datastores": ws.datastores.create_or_update(e.Datastore(
            name="blob", url="az://data@acct.blob.core.windows.net", type=e.DatastoreType.AZURE_BLOB,
            credentials={"sas_token": "sv=1&sig=abc"},
            options={"account_name": "acct", "endpoint": "core.windows.net", "protocol": "https"})),
        "online_endpoints": ws.online_endpoints.begin_create_or_update(
            e.ManagedOnlineEndpoint(name="diabetes-ep", description="d")).result(timeout=120),
    }
    for group, entity in returned.items():
        service = getattr(ws, group)
        text = service.to_yaml(entity)
        again = service.to_yaml(_back(group, text))
        assert again == text, f"{group}: the exported YAML does not come back the same"
    assert yaml.safe_load(ws.data.to_yaml(returned["data"]))["tags"] == {"course": "dp100"}


def test_a_finished_job_exports_yaml_that_runs_again(workspace: Workspace, tmp_path: Path) -> None:
    ws = workspace
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("import sys, mlflow\nmlflow.log_metric('lr', float(sys.argv[1]))\n")
    # Azure's schema needs a command job's environment: one that runs in the studio's interpreter.
    ws.environments.create_or_update(e.Environment(name="here", image="mcr.microsoft.com/azureml/minimal-py311"))
    job = ws.jobs.create_or_update(command(code=str(src), command="python train.py ${{inputs.lr}}",
                                           inputs={"lr": 0.25}, environment="here:1", experiment_name="exported",
                                           display_name="first"))

    def finished(name: str) -> Any:
        return wait_until(lambda: (j := ws.jobs.get(name)).status.is_terminal and j, timeout=120, interval=0.3,
                          what=f"job {name} to end")

    first = finished(job.name)
    assert str(first.status) == "Completed", first.error
    text = ws.jobs.to_yaml(first)
    again = _back("jobs", text)
    assert (again.command, again.inputs, again.environment, again.experiment_name, again.code) == (
        first.command, first.inputs, "here:1", "exported", first.code)
    again.name = None  # a new run of the same job
    second = finished(ws.jobs.create_or_update(again).name)
    assert str(second.status) == "Completed" and second.metrics == {"lr": 0.25}
