"""Every kind round-trips: studio_ext entity -> v2 YAML -> azure-ai-ml load_* -> studio_ext entity."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

# azure-ai-ml is a required dependency: imported, so a broken install fails here.
import azure.ai.ml as aml
import pytest
import yaml

from studio_ext import entities as e
from studio_ext.translation import environment, from_azure_any, from_yaml, to_azure, to_v2, to_yaml

LOADERS = {
    e.CommandJob: aml.load_job, e.Data: aml.load_data, e.Model: aml.load_model, e.Environment: aml.load_environment,
    e.AmlCompute: aml.load_compute, e.ComputeInstance: aml.load_compute, e.Datastore: aml.load_datastore,
    e.ManagedOnlineEndpoint: aml.load_online_endpoint, e.ManagedOnlineDeployment: aml.load_online_deployment,
}


def cases(root: Path) -> dict[str, Any]:
    (root / "src").mkdir()
    (root / "src" / "score.py").write_text("def init(): pass\ndef run(raw): return raw\n")
    (root / "conda.yml").write_text("name: e\ndependencies:\n  - python=3.11\n  - pip:\n    - scikit-learn\n")
    (root / "diabetes.csv").write_text("a,b\n1,2\n")
    (root / "table").mkdir()
    (root / "table" / "MLTable").write_text("paths:\n  - file: ../diabetes.csv\n")
    src, conda, csv = str(root / "src"), str(root / "conda.yml"), str(root / "diabetes.csv")
    return {
        "command_job": e.CommandJob(
            name="train_1", display_name="train", experiment_name="diabetes", description="d", tags={"t": "1"},
            properties={"p": "x", "azureml.resources": '{"instance_count": 2}'}, compute="aml-cluster",
            command="python train.py --data ${{inputs.data}} --reg ${{inputs.reg}} --out ${{outputs.model}}",
            code=src, environment="AzureML-sklearn-1.5@latest", environment_variables={"SEED": "1"},
            inputs={"data": e.Input(type="uri_file", path="azureml:diabetes:1", mode="download"), "reg": 0.01,
                    "name": "lasso", "folder": e.Input(type="uri_folder", path="azureml://datastores/ds/paths/p/")},
            outputs={"model": e.Output(type="uri_folder", mode="upload")}),
        "command_job_local": e.CommandJob(command="python t.py", compute="local", environment="my-env:3"),
        # no environment (the studio's interpreter): Azure needs one, so the YAML names a curated image, marked
        "command_job_no_environment": e.CommandJob(command="python t.py", compute="local"),
        "data_file": e.Data(name="diabetes", version="1", path=csv, type="file", description="d", tags={"t": "1"}),
        "data_tabular": e.Data(name="flights", path="azureml://datastores/ds/paths/flights/", type="tabular",
                               read_options={"delimiter": ";", "decimal": ","}),
        "data_folder": e.Data(name="images", path="https://example.org/images/", type="folder"),
        "data_mltable_folder": e.Data(name="diabetes-table", path=str(root / "table"), type="mltable"),
        "model": e.Model(name="diabetes-model", version="2", type=e.ModelType.MLFLOW, description="d",
                         path="azureml://jobs/job_1/outputs/artifacts/paths/model/", tags={"t": "1"},
                         properties={"p": "x"}),
        "environment_conda": e.Environment(name="sk", version="1", conda_file=conda, image="mcr.microsoft.com/x:1",
                                           description="d", tags={"t": "1"}),
        "environment_pip": e.Environment(name="sk-pip", pip_requirements=["scikit-learn>=1.5", "pandas"]),
        "environment_requirements_file": e.Environment(name="sk-req", pip_requirements="requirements.txt"),
        "amlcompute": e.AmlCompute(name="cpu-cluster", size="STANDARD_DS11_V2", min_instances=0, max_instances=3,
                                   idle_time_before_scale_down=300, description="d",
                                   tier="low_priority", tags={"t": "1"}),
        "computeinstance": e.ComputeInstance(name="ci", size="STANDARD_DS11_V2", idle_time_before_shutdown_minutes=45,
                                             max_concurrent_jobs=3),
        "blob_account_key": e.Datastore(name="blob", url="az://data@acct.blob.core.windows.net",
                                        type=e.DatastoreType.AZURE_BLOB, credentials={"account_key": "KEY=="},
                                        options={"account_name": "acct", "endpoint": "core.windows.net",
                                                 "protocol": "https"}, description="d"),
        "blob_sas": e.Datastore(name="blob2", url="az://data@acct.blob.core.windows.net",
                                type=e.DatastoreType.AZURE_BLOB, credentials={"sas_token": "sv=1&sig=abc"},
                                options={"account_name": "acct", "endpoint": "core.windows.net", "protocol": "https"}),
        "blob_emulator": e.Datastore(name="blob_training_data", url="az://training-data@devstoreaccount1.blob.127.0.0.1:10000",
                                     type=e.DatastoreType.AZURE_BLOB, credentials={"account_key": "KEY=="},
                                     options={"account_name": "devstoreaccount1", "endpoint": "127.0.0.1:10000",
                                              "protocol": "http"}),
        "gen2_none": e.Datastore(name="lake", url="abfs://raw@acct.dfs.core.windows.net",
                                 type=e.DatastoreType.AZURE_BLOB,
                                 options={"account_name": "acct", "endpoint": "core.windows.net", "protocol": "https"}),
        "endpoint": e.ManagedOnlineEndpoint(name="ep", description="d", tags={"t": "1"},
                                            traffic={"blue": 90, "green": 10}, mirror_traffic={"green": 5}),
        "deployment": e.ManagedOnlineDeployment(
            name="blue", endpoint_name="ep", model="azureml:diabetes-model:2",
            code_configuration=e.CodeConfiguration(code=src, scoring_script="score.py"), environment="sk:1",
            environment_variables={"A": "1"}, instance_type="Standard_DS3_v2", instance_count=2,
            request_settings=e.OnlineRequestSettings(request_timeout_ms=3000, max_concurrent_requests_per_instance=2,
                                                     max_queue_wait_ms=100, max_body_bytes=1024),
            liveness_probe=e.ProbeSettings(initial_delay=5, period=3, timeout=1, success_threshold=1,
                                           failure_threshold=4),
            readiness_probe=e.ProbeSettings(initial_delay=1), description="d", tags={"t": "1"}),
        "deployment_mlflow": e.ManagedOnlineDeployment(name="nocode", endpoint_name="ep",
                                                       model="azureml:diabetes-model:2", instance_type="local"),
    }


NAMES = ["command_job", "command_job_local", "command_job_no_environment", "data_file", "data_tabular", "data_folder",
         "data_mltable_folder", "model",
         "environment_conda", "environment_pip", "environment_requirements_file", "amlcompute", "computeinstance",
         "blob_account_key", "blob_sas", "blob_emulator", "gen2_none", "endpoint", "deployment", "deployment_mlflow"]


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_through_azure_ai_ml(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    entity = cases(tmp_path)[name]
    text = to_yaml(entity)
    mapping = yaml.safe_load(text)
    assert mapping["$schema"].startswith("https://azuremlschemas.azureedge.net/latest/")
    loaded = LOADERS[type(entity)](io.StringIO(text))  # azure-ai-ml's own loader validates it
    assert type(loaded).__module__.startswith("azure.ai.ml")
    back = from_azure_any(loaded).entity
    assert type(back) is type(entity)
    assert back == entity
    assert type(to_azure(entity)).__name__ == type(loaded).__name__ or name.startswith("command_job")
    assert from_azure_any(to_azure(entity)).entity == entity


def test_from_yaml_reads_a_file_with_paths_relative_to_it(tmp_path: Path) -> None:
    folder = tmp_path / "job"
    (folder / "src").mkdir(parents=True)
    (folder / "job.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\n"
        "command: python train.py --data ${{inputs.data}}\ncode: src\n"
        "environment: azureml:AzureML-sklearn-1.5@latest\ncompute: azureml:cpu-cluster\n"
        "experiment_name: diabetes\ninputs:\n  data:\n    type: uri_file\n    path: ./diabetes.csv\n")
    job = from_yaml(folder / "job.yml").entity
    assert isinstance(job, e.CommandJob)
    assert job.code == str(folder / "src") and job.environment == "AzureML-sklearn-1.5@latest"
    assert job.inputs["data"].path == str(folder / "diabetes.csv")
    assert (job.compute, job.experiment_name) == ("cpu-cluster", "diabetes")


def test_from_yaml_text_and_azures_validation_message() -> None:
    result = from_yaml("$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\n"
                       "name: c\ntype: amlcompute\nsize: STANDARD_DS11_V2\nmax_instances: 2\n")
    assert isinstance(result.entity, e.AmlCompute) and result.entity.max_instances == 2
    from studio_ext.errors import InvalidInput

    with pytest.raises(InvalidInput, match="Azure ML's v2 schema refuses this YAML") as info:
        from_yaml("type: amlcompute\nname: c\nmax_instances: many\n")
    assert "max_instances" in str(info.value)


def test_an_attached_dask_scheduler_has_no_v2_form() -> None:
    from studio_ext.errors import InvalidInput

    with pytest.raises(InvalidInput, match=r"studio_ext\.entities\.AttachedCompute has no Azure ML v2"):
        to_v2(e.AttachedCompute(name="dask", address="tcp://127.0.0.1:8786"))


def test_an_inline_conda_file_becomes_pip_requirements_and_notes_the_python() -> None:
    result = environment.from_v2({"name": "e", "conda_file": {"dependencies": [
        "python=3.8", "numpy=1.26", "pip", {"pip": ["mlflow", "azureml-mlflow"]}]}})
    assert result.entity.pip_requirements == ["numpy==1.26.*", "mlflow", "azureml-mlflow"]
    assert [n.field for n in result.notes] == ["conda_file.python"]
