"""Every service fed azure-ai-ml's own objects: what is registered or submitted, and Azure's attribute names on it.

Notes about fields with no local meaning arrive as AzureFieldNote warnings and stay on
the returned entity's ``notes``; refusals name both classes by their full path.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
from azure.ai.ml import Input as AzureInput
from azure.ai.ml import Output as AzureOutput
from azure.ai.ml import command
from azure.ai.ml import entities as aml
from azure.ai.ml.constants import AssetTypes

from studio_ext import Workspace, entities
from studio_ext.errors import AzureFieldNote, InvalidInput
from tests.helpers import wait_until

SCORE = """
import json

def init():
    pass

def run(raw_data):
    return {"echo": json.loads(raw_data)["data"]}
"""


@pytest.fixture
def ws(module_workspace: Workspace) -> Workspace:
    """One workspace for the module; each test deletes the compute and endpoints it makes."""
    return module_workspace


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(
        "import argparse, os\n"
        "p = argparse.ArgumentParser(); p.add_argument('--rate', type=float); p.add_argument('--out')\n"
        "a = p.parse_args()\n"
        "open(os.path.join(a.out, 'rate.txt'), 'w').write(str(a.rate))\n"
        "print('trained with', a.rate)\n")
    (tmp_path / "diabetes.csv").write_text("Pregnancies,Diabetic\n1,0\n3,1\n")
    (tmp_path / "model.pkl").write_bytes(b"not really a model")
    (tmp_path / "score").mkdir()
    (tmp_path / "score" / "score.py").write_text(SCORE)
    return tmp_path


def notes_of(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, AzureFieldNote)]


def test_a_command_job_runs_to_completed_with_azures_names(ws: Workspace, files: Path) -> None:
    job = command(code=str(files / "src"), command="python train.py --rate ${{inputs.rate}} --out ${{outputs.model}}",
                  inputs={"rate": 0.01}, outputs={"model": AzureOutput(type=AssetTypes.URI_FOLDER)},
                  environment="AzureML-sklearn-1.5@latest", compute="local", display_name="diabetes-train")
    returned_job = ws.jobs.create_or_update(job, experiment_name="azure-objects", tags={"lab": "08"},
                                            description="submitted as azure-ai-ml's command()")
    assert isinstance(returned_job, entities.CommandJob)
    assert (returned_job.experiment_name, returned_job.tags.get("lab"), returned_job.description) == (
        "azure-objects", "08", "submitted as azure-ai-ml's command()")
    assert returned_job.display_name == "diabetes-train" and returned_job.id == f"azureml:{returned_job.name}"
    assert isinstance(returned_job.studio_url, str) and returned_job.name in returned_job.studio_url
    done = wait_until(lambda: (j := ws.jobs.get(returned_job.name)).status.is_terminal and j, timeout=240,
                      what=lambda: ws.jobs.get_logs(returned_job.name, tail=30))
    assert str(done.status) == "Completed", ws.jobs.get_logs(returned_job.name)
    assert "trained with 0.01" in ws.jobs.get_logs(returned_job.name)


def test_a_job_with_an_inline_environment_registers_it_first(ws: Workspace, files: Path) -> None:
    env = aml.Environment(image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04")
    job = command(code=str(files / "src"), command="python train.py --rate 1 --out .", environment=env)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        returned = ws.jobs.create_or_update(job)
    assert returned.environment is not None
    registered = ws.environments.get(*returned.environment.split(":"))  # NAME:VERSION
    assert registered.name.startswith("anonymous-")
    assert registered.image == "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
    assert any("image:" in n and "studio's interpreter" in n for n in returned.notes), returned.notes
    assert notes_of(caught) and all(n.startswith("ws.jobs.create_or_update: ") for n in notes_of(caught))
    assert all(w.filename == __file__ for w in caught if issubclass(w.category, AzureFieldNote))  # the caller's line


def test_data_keeps_azures_attribute_names(ws: Workspace, files: Path) -> None:
    data = ws.data.create_or_update(aml.Data(name="diabetes-file", path=str(files / "diabetes.csv"),
                                             type=AssetTypes.URI_FILE, description="Data asset pointing to a file"))
    assert isinstance(data, entities.Data)
    assert (data.name, data.version, data.type, data.description) == (
        "diabetes-file", "1", "uri_file", "Data asset pointing to a file")  # Azure's name for the type
    assert data.type == "file" and data.type.azure_type == "uri_file"  # and studio_ext's
    assert data.path and data.id == "azureml:diabetes-file:1"
    assert ws.data.get("diabetes-file", version="1").id == data.id


def test_an_anonymous_data_asset_is_named_from_its_files(ws: Workspace, files: Path) -> None:
    with pytest.warns(AzureFieldNote, match=r"the data asset has no name; it is registered as 'anonymous-"):
        data = ws.data.create_or_update(aml.Data(path=str(files / "diabetes.csv"), type=AssetTypes.URI_FILE))
    assert re.fullmatch(r"anonymous-[0-9a-f]{16}", data.name) and data.version == "1"


def test_an_anonymous_model_is_named_from_its_files_and_registered_once(ws: Workspace, files: Path) -> None:
    with pytest.warns(AzureFieldNote, match=r"registered as 'anonymous-[0-9a-f]{16}' \(an anonymous asset"):
        first = ws.models.create_or_update(aml.Model(path=str(files / "model.pkl")))
    assert re.fullmatch(r"anonymous-[0-9a-f]{16}", first.name) and first.version == "1"
    assert (first.type, first.id) == ("custom_model", f"azureml:{first.name}:1")
    assert any("anonymous asset" in n for n in first.notes)
    with pytest.warns(AzureFieldNote):
        again = ws.models.create_or_update(aml.Model(path=str(files / "model.pkl")))
    assert (again.name, again.version) == (first.name, "1")
    named = ws.models.create_or_update(aml.Model(name="diabetes-model", path=str(files / "model.pkl"),
                                                 type=AssetTypes.CUSTOM_MODEL))
    assert (named.name, named.version, named.type) == ("diabetes-model", "1", "custom_model")


def test_an_environment_with_an_image_is_registered_with_a_note(ws: Workspace) -> None:
    with pytest.warns(AzureFieldNote, match=r"image: 'mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04' is kept"):
        env = ws.environments.create_or_update(aml.Environment(
            name="docker-image-example", image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04",
            description="Environment created from a Docker image."))
    assert (env.name, env.version, env.image) == (
        "docker-image-example", "1", "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04")
    assert env.id == "azureml:docker-image-example:1" and env.notes


def test_an_environment_that_cannot_work_here_says_what_to_do(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11\n")
    with pytest.raises(InvalidInput, match=r"a Docker build context is not built locally\. Give the environment a "
                                           r"conda_file="):
        ws.environments.create_or_update(aml.Environment(name="ctx", build=aml.BuildContext(path=str(tmp_path))))


def test_a_cluster_keeps_size_tier_and_azures_names(ws: Workspace) -> None:
    cluster = aml.AmlCompute(name="aml-cluster", type="amlcompute", size="STANDARD_DS11_V2", min_instances=0,
                             max_instances=2, idle_time_before_scale_down=120, tier="low_priority")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        poller = ws.begin_create_or_update(cluster)
    assert sorted(n.split(": ")[1] for n in notes_of(caught)) == ["size", "tier"]
    got = poller.result(timeout=120)
    try:
        assert isinstance(got, entities.AmlCompute)
        assert (got.name, got.type, got.size, got.tier, got.min_instances, got.max_instances) == (
            "aml-cluster", "amlcompute", "STANDARD_DS11_V2", "low_priority", 0, 2)
        assert any(n.startswith("tier: 'low_priority' is kept") for n in got.notes)
        assert ws.compute.get("aml-cluster").tier == "low_priority"  # stored, not only echoed
        assert (got.provisioning_state, got.location) == ("Succeeded", "local")
    finally:
        ws.compute.begin_delete("aml-cluster").result(timeout=120)


def test_studio_ext_entities_note_the_same_fields(ws: Workspace) -> None:
    cluster = entities.AmlCompute(name="cpu-cluster", type="amlcompute", size="STANDARD_DS11_V2", min_instances=0,
                                  max_instances=1, tier="low_priority")
    with pytest.warns(AzureFieldNote, match=r"tier: 'low_priority' is kept for Azure"):
        poller = ws.compute.begin_create_or_update(cluster)
    try:
        got = poller.result(timeout=120)
        assert (got.type, got.tier, got.size) == ("amlcompute", "low_priority", "STANDARD_DS11_V2")
        assert [n.split(":")[0] for n in got.notes] == ["size", "tier"]
    finally:
        ws.compute.begin_delete("cpu-cluster").result(timeout=120)
    with pytest.raises(InvalidInput, match=re.escape(
            "The 'tier' parameter of studio_ext.entities.AmlCompute must be 'dedicated' or 'low_priority'. "
            "Got 'spot' instead.")):
        entities.AmlCompute(name="c", tier="spot")
    with pytest.raises(InvalidInput, match=re.escape(
            "The 'type' parameter of studio_ext.entities.AmlCompute must be 'amlcompute'. Got 'computeinstance' "
            "instead.")):
        entities.AmlCompute(name="c", type="computeinstance")


def test_a_blob_datastore_with_an_account_key(ws: Workspace) -> None:
    store = ws.create_or_update(aml.AzureBlobDatastore(
        name="blob_training_data", description="Blob Storage for training data", account_name="devstoreaccount1",
        container_name="training-data", credentials=aml.AccountKeyConfiguration(account_key="a2V5")))
    assert isinstance(store, entities.Datastore)
    assert (store.name, str(store.type), store.credentials) == ("blob_training_data", "azure_blob",
                                                                {"account_key": "a2V5"})
    assert "***" in repr(store) and "a2V5" not in repr(store)
    assert (store.account_name, store.container_name, store.endpoint, store.protocol) == (
        "devstoreaccount1", "training-data", "core.windows.net", "https")  # Azure's attribute names
    ws.datastores.delete("blob_training_data")


def test_an_endpoint_and_a_deployment_with_an_inline_model_serve(ws: Workspace, files: Path) -> None:
    endpoint = ws.begin_create_or_update(aml.ManagedOnlineEndpoint(
        name="endpoint-azure-objects", description="Online endpoint", auth_mode="key")).result(timeout=120)
    try:
        assert endpoint.scoring_uri and endpoint.name == "endpoint-azure-objects"
        blue = aml.ManagedOnlineDeployment(
            name="blue", endpoint_name="endpoint-azure-objects", model=aml.Model(path=str(files / "model.pkl")),
            code_configuration=aml.CodeConfiguration(code=str(files / "score"), scoring_script="score.py"),
            instance_type="Standard_D2as_v4", instance_count=1)
        with pytest.warns(AzureFieldNote, match="instance_type: 'Standard_D2as_v4' is kept for Azure"):
            deployment = ws.begin_create_or_update(blue).result(timeout=240)
        assert (deployment.name, deployment.instance_type, deployment.instance_count, deployment.type) == (
            "blue", "Standard_D2as_v4", 1, "managed")
        assert re.fullmatch(r"azureml:anonymous-[0-9a-f]{16}:1", str(deployment.model))
        endpoint = aml.ManagedOnlineEndpoint(name="endpoint-azure-objects", traffic={"blue": 100})
        ws.begin_create_or_update(endpoint).result(timeout=120)
        answer = ws.online_endpoints.invoke("endpoint-azure-objects", request_data={"data": [[1, 2]]})
        assert json.loads(answer) == {"echo": [[1, 2]]}
    finally:
        ws.online_endpoints.begin_delete("endpoint-azure-objects").result(timeout=120)


def test_each_service_refuses_another_kind_by_full_class_path(ws: Workspace, files: Path) -> None:
    with pytest.raises(InvalidInput, match=re.escape(
            "ws.data.create_or_update takes studio_ext.entities.Data or azure.ai.ml.entities.Data. Got "
            "azure.ai.ml.entities.Model, which is a studio_ext.entities.Model here, not a studio_ext.entities.Data.")):
        ws.data.create_or_update(aml.Model(name="m", path=str(files / "model.pkl")))
    with pytest.raises(InvalidInput, match=re.escape(
            "ws.compute.begin_create_or_update takes studio_ext.entities.Compute, azure.ai.ml.entities.AmlCompute or "
            "azure.ai.ml.entities.ComputeInstance. Got azure.ai.ml.entities.KubernetesCompute, which has no studio_ext "
            "translation.")):
        ws.compute.begin_create_or_update(aml.KubernetesCompute(name="k8s"))
    with pytest.raises(InvalidInput, match=re.escape(
            "ws.jobs.create_or_update takes studio_ext.entities.CommandJob, studio_ext.entities.AutoMLJob, "
            "studio_ext.entities.SweepJob, studio_ext.entities.PipelineJob, azure.ai.ml.command(...), "
            "azure.ai.ml.entities.CommandJob, azure.ai.ml.automl.classification(...), "
            "azure.ai.ml.automl.regression(...), azure.ai.ml.automl.forecasting(...), "
            "azure.ai.ml.command(...).sweep(...), azure.ai.ml.entities.SweepJob, azure.ai.ml.dsl.pipeline(...) or "
            "azure.ai.ml.entities.PipelineJob. Got str instead.")):
        ws.jobs.create_or_update("python train.py")


def test_an_input_path_from_data_id_resolves(ws: Workspace, files: Path) -> None:
    data = ws.data.create_or_update(aml.Data(name="diabetes-id", path=str(files / "diabetes.csv"),
                                             type=AssetTypes.URI_FILE))
    job = command(code=str(files / "src"), command="python -c \"print(open('${{inputs.d}}').read())\"",
                  inputs={"d": AzureInput(type=AssetTypes.URI_FILE, path=data.id)})
    returned = ws.create_or_update(job)
    done = wait_until(lambda: (j := ws.jobs.get(returned.name)).status.is_terminal and j, timeout=240,
                      what=lambda: ws.jobs.get_logs(returned.name, tail=30))
    assert str(done.status) == "Completed", ws.jobs.get_logs(returned.name)
    assert "Pregnancies,Diabetic" in ws.jobs.get_logs(returned.name)
