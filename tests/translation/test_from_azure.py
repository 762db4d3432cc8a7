"""azure-ai-ml objects built as the DP-100 labs build them become studio_ext entities, with notes."""

from __future__ import annotations

from pathlib import Path

# azure-ai-ml is a required dependency: imported, so a broken install fails here.
import azure.ai.ml.entities as az
import pytest
from azure.ai.ml import Input as AzureInput
from azure.ai.ml import Output as AzureOutput
from azure.ai.ml import command
from azure.ai.ml.constants import AssetTypes

from studio_ext import entities
from studio_ext.entities import Input, Output
from studio_ext.errors import InvalidInput
from studio_ext.translation import Translated, command_job, datastore, from_azure_any


def fields(result: Translated) -> set[str]:
    return {n.field for n in result.notes}


def test_a_command_node_keeps_command_code_experiment_and_display_name(tmp_path: Path) -> None:
    job = command(
        code="./src", command="python train.py --training_data ${{inputs.diabetes_data}} --reg ${{inputs.reg_rate}}",
        inputs={"diabetes_data": AzureInput(type=AssetTypes.URI_FILE, path="azureml:diabetes-data:1"),
                "local": AzureInput(type=AssetTypes.URI_FOLDER, path="./data", mode="download"),
                "web": AzureInput(type=AssetTypes.URI_FILE, path="https://example.org/d.csv"),
                "reg_rate": 0.01},
        outputs={"model": AzureOutput(type=AssetTypes.URI_FOLDER, mode="upload")},
        environment="AzureML-sklearn-1.5@latest", compute="aml-cluster", display_name="diabetes-train",
        experiment_name="diabetes-training", tags={"lab": "04"}, environment_variables={"SEED": "1"})
    result = from_azure_any(job)
    got = result.entity
    assert isinstance(got, entities.CommandJob)
    assert got.command.startswith("python train.py --training_data ${{inputs.diabetes_data}}")
    assert (got.code, got.experiment_name, got.display_name) == ("./src", "diabetes-training", "diabetes-train")
    assert got.compute == "aml-cluster" and got.environment == "AzureML-sklearn-1.5@latest"
    assert got.inputs["reg_rate"] == 0.01
    assert got.inputs["diabetes_data"] == entities.Input(type="uri_file", path="azureml:diabetes-data:1")
    # azure-ai-ml's _to_dict writes these two as 'azureml:./data' and 'azureml:https://...'
    assert got.inputs["local"].path == "./data" and got.inputs["local"].mode == "download"
    assert got.inputs["web"].path == "https://example.org/d.csv"
    assert got.outputs["model"] == entities.Output(type="uri_folder", mode="upload")
    assert got.tags == {"lab": "04"} and got.environment_variables == {"SEED": "1"}
    assert result.notes == [] and result.requires == []


def test_curated_and_registry_environment_references_pass_through() -> None:
    for given, kept in [("AzureML-sklearn-1.5@latest", "AzureML-sklearn-1.5@latest"),
                        ("azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest",
                         "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest"),
                        ("azureml:my-env:3", "my-env:3"),
                        ("azureml://registries/azureml/environments/sklearn-1.5/labels/latest",
                         "azureml://registries/azureml/environments/sklearn-1.5/labels/latest")]:
        assert from_azure_any(command(command="python t.py", environment=given)).entity.environment == kept


def test_an_inline_environment_becomes_a_required_anonymous_environment(tmp_path: Path) -> None:
    conda = tmp_path / "conda.yml"
    conda.write_text("name: e\ndependencies:\n  - python=3.10\n  - pip\n  - pip:\n    - scikit-learn\n")
    job = command(command="python t.py", environment=az.Environment(image="mcr.microsoft.com/azureml/x:1",
                                                                     conda_file=str(conda)))
    result = from_azure_any(job)
    [env] = result.requires
    assert isinstance(env, entities.Environment) and env.name.startswith("anonymous-")
    assert result.entity.environment == env.name
    assert env.conda_file == str(conda) and env.image == "mcr.microsoft.com/azureml/x:1"
    assert "image" in fields(result)


def test_job_fields_without_local_meaning_are_kept_in_properties_and_noted() -> None:
    job = command(command="python t.py", compute="gpu", instance_count=2)
    job.resources = az.JobResourceConfiguration(instance_count=2, instance_type="Standard_NC6")
    result = from_azure_any(job)
    assert "resources" in fields(result)
    assert '"instance_type": "Standard_NC6"' in result.entity.properties["azureml.resources"]
    back = command_job.to_v2(result.entity)
    assert back["resources"]["instance_type"] == "Standard_NC6"


def test_data_as_the_labs_build_it(tmp_path: Path) -> None:
    csv = tmp_path / "diabetes.csv"
    csv.write_text("a,b\n1,2\n")
    result = from_azure_any(az.Data(path=str(csv), type=AssetTypes.URI_FILE, name="diabetes-local",
                                    description="Data asset pointing to a local file", version="1"))
    got = result.entity
    assert isinstance(got, entities.Data) and got.type == entities.DataType.FILE
    assert (got.name, got.version, got.path) == ("diabetes-local", "1", str(csv))
    remote = from_azure_any(az.Data(path="azureml://datastores/blob_training_data/paths/data-asset-path/",
                                    type=AssetTypes.URI_FOLDER, name="diabetes-datastore-path")).entity
    assert remote.type == entities.DataType.FOLDER
    assert remote.path == "azureml://datastores/blob_training_data/paths/data-asset-path/"


def test_model_from_a_job_output() -> None:
    path = "azureml://jobs/sharp_carrot_1x2y/outputs/artifacts/paths/model/"
    result = from_azure_any(az.Model(path=path, type=AssetTypes.MLFLOW_MODEL, name="mlflow-diabetes",
                                     description="Model created from run."))
    got = result.entity
    assert isinstance(got, entities.Model)
    assert (got.name, got.path, got.type) == ("mlflow-diabetes", path, "mlflow_model")
    assert result.notes == []


def test_environment_with_image_and_conda_file(tmp_path: Path) -> None:
    conda = tmp_path / "conda-env.yml"
    conda.write_text("name: basic-env-cpu\ndependencies:\n  - python=3.10\n  - scikit-learn\n  - pandas\n"
                     "  - pip\n  - pip:\n    - mlflow\n")
    result = from_azure_any(az.Environment(image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04",
                                           conda_file=str(conda), name="aml-scikit-learn",
                                           description="Environment created from a Docker image plus Conda environment."))
    env = result.entity
    assert (env.name, env.conda_file, env.image) == ("aml-scikit-learn", str(conda),
                                                     "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04")
    [note] = result.notes
    assert note.field == "image" and "venv is built from the conda file" in note.message
    only_image = from_azure_any(az.Environment(image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04",
                                               name="docker-image-example"))
    assert "runs in the studio's interpreter" in only_image.notes[0].message


def test_amlcompute_keeps_size_and_tier_and_notes_them() -> None:
    result = from_azure_any(az.AmlCompute(name="aml-cluster", type="amlcompute", size="STANDARD_DS11_V2",
                                          min_instances=0, max_instances=2, idle_time_before_scale_down=120,
                                          tier="low_priority"))
    got = result.entity
    assert isinstance(got, entities.AmlCompute)
    assert (got.min_instances, got.max_instances, got.idle_time_before_scale_down) == (0, 2, 120)
    assert got.size == "STANDARD_DS11_V2" and got.tier == "low_priority" and got.tags == {}
    assert fields(result) == {"size", "tier"}
    note = {n.field: n for n in result.notes}["tier"]
    assert "'low_priority'" in note.message and "kept" in note.message


def test_compute_instance() -> None:
    result = from_azure_any(az.ComputeInstance(name="ci-lab", size="STANDARD_DS11_V2",
                                               idle_time_before_shutdown_minutes=30))
    got = result.entity
    assert isinstance(got, entities.ComputeInstance)
    assert (got.size, got.idle_time_before_shutdown_minutes) == ("STANDARD_DS11_V2", 30)
    assert fields(result) == {"size"}


def test_blob_datastore_with_an_account_key_keeps_it_as_a_credential() -> None:
    store = az.AzureBlobDatastore(name="blob_training_data", description="Blob Storage for training data",
                                  account_name="mystorageacct", container_name="training-data",
                                  credentials=az.AccountKeyConfiguration(account_key="S3CR3T=="))
    result = from_azure_any(store)
    got = result.entity
    assert isinstance(got, entities.Datastore)
    assert got.url == "az://training-data@mystorageacct.blob.core.windows.net"
    assert got.credentials == {"account_key": "S3CR3T=="}
    assert got.options["account_name"] == "mystorageacct"
    assert "S3CR3T" not in repr(got) and not any("S3CR3T" in str(n) for n in result.notes)


def test_gen2_datastore_with_a_sas_token_or_none() -> None:
    sas = from_azure_any(az.AzureDataLakeGen2Datastore(name="lake", account_name="acct", filesystem="raw",
                                                       credentials=az.SasTokenConfiguration(sas_token="sv=1&sig=x")))
    assert sas.entity.url == "abfs://raw@acct.dfs.core.windows.net"
    # azure-ai-ml's _to_dict drops this token; it is read from the object
    assert sas.entity.credentials == {"sas_token": "sv=1&sig=x"}
    with pytest.raises(InvalidInput, match="ADLS Gen2 with a SAS token"):
        datastore.to_azure(sas.entity)
    none = from_azure_any(az.AzureDataLakeGen2Datastore(name="lake", account_name="acct", filesystem="raw"))
    assert none.entity.credentials == {} and [n.field for n in none.notes] == ["credentials", "type"]
    assert "no Gen2 (dfs) endpoint" in str(none.notes[1])  # reading it needs a real account


def test_online_endpoint_and_deployment_as_lab_11_builds_them(tmp_path: Path) -> None:
    ep = from_azure_any(az.ManagedOnlineEndpoint(name="endpoint-example", description="Online endpoint",
                                                 auth_mode="key"))
    assert isinstance(ep.entity, entities.ManagedOnlineEndpoint) and ep.entity.auth_mode == "key"
    assert ep.notes == []
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    dep = from_azure_any(az.ManagedOnlineDeployment(
        name="blue", endpoint_name="endpoint-example",
        model=az.Model(path=str(model_dir), type=AssetTypes.MLFLOW_MODEL, description="my sample mlflow model"),
        instance_type="Standard_D2as_v4", instance_count=1))
    got = dep.entity
    assert isinstance(got, entities.ManagedOnlineDeployment)
    assert isinstance(got.model, entities.Model) and got.model.path == str(model_dir)
    assert got.instance_type == "Standard_D2as_v4" and got.instance_count == 1
    assert fields(dep) == {"instance_type"}


def test_deployment_with_code_configuration_request_settings_and_probes(tmp_path: Path) -> None:
    conda = tmp_path / "env.yml"
    conda.write_text("dependencies:\n  - python=3.11\n  - pip:\n    - scikit-learn\n")
    dep = from_azure_any(az.ManagedOnlineDeployment(
        name="green", endpoint_name="ep", model="azureml:diabetes-model:2",
        code_configuration=az.CodeConfiguration(code=str(tmp_path), scoring_script="score.py"),
        environment=az.Environment(image="mcr.microsoft.com/azureml/x:1", conda_file=str(conda)),
        instance_type="Standard_DS3_v2", instance_count=2,
        request_settings=az.OnlineRequestSettings(request_timeout_ms=3000, max_concurrent_requests_per_instance=2),
        liveness_probe=az.ProbeSettings(initial_delay=5, period=3)))
    got = dep.entity
    assert got.model == "azureml:diabetes-model:2"
    assert got.code_configuration == entities.CodeConfiguration(code=str(tmp_path), scoring_script="score.py")
    assert got.request_settings.request_timeout_ms == 3000
    assert got.request_settings.max_concurrent_requests_per_instance == 2
    assert (got.liveness_probe.initial_delay, got.liveness_probe.period, got.liveness_probe.timeout) == (5, 3, 2)
    [env] = dep.requires
    assert got.environment == env.name and env.conda_file == str(conda)


def test_an_unknown_class_is_refused_by_its_full_path() -> None:
    from azure.ai.ml.entities import KubernetesOnlineEndpoint

    with pytest.raises(InvalidInput) as info:
        from_azure_any(KubernetesOnlineEndpoint(name="k"))
    assert str(info.value).startswith("azure.ai.ml.entities.KubernetesOnlineEndpoint has no studio_ext translation yet.")
    assert "azure.ai.ml.entities.ManagedOnlineEndpoint" in str(info.value)
    with pytest.raises(InvalidInput, match=r"^studio_ext\.entities\.Data has no studio_ext translation"):
        from_azure_any(entities.Data(name="d", path="x.csv"))


def test_a_kind_function_refuses_the_wrong_class_by_full_path() -> None:
    with pytest.raises(InvalidInput, match=r"takes azure\.ai\.ml\.entities\.Data\. Got studio_ext\.entities\.Data"):
        from studio_ext.translation import data

        data.from_azure(entities.Data(name="d", path="x.csv"))


def test_an_output_registered_as_an_asset_keeps_its_name_and_version() -> None:
    job = command(command="python t.py ${{outputs.prepped}}",
                  outputs={"prepped": AzureOutput(type=AssetTypes.URI_FOLDER, name="prepped-data", version="3")})
    result = from_azure_any(job)
    assert result.entity.outputs["prepped"] == Output(type="uri_folder", name="prepped-data", version="3")
    assert not fields(result)  # registered when the job completes: nothing to note
    back = command_job.to_v2(result.entity)
    assert back["outputs"]["prepped"] == {"type": "uri_folder", "name": "prepped-data", "version": "3"}
    assert "outputs.prepped.name" not in back


def test_a_named_inline_environment_keeps_its_name_and_version() -> None:
    result = from_azure_any(command(command="python t.py",
                                    environment=az.Environment(name="my-env", version="2", image="img:1")))
    [env] = result.requires
    assert (env.name, env.version) == ("my-env", "2") and result.entity.environment == "my-env:2"


def test_literal_inputs_declared_with_a_type_keep_their_default() -> None:
    job = command(command="python t.py --n ${{inputs.n}} $[[--x ${{inputs.x}}]] $[[--d ${{inputs.d}}]]",
                  inputs={"n": AzureInput(type="integer", default=5), "x": AzureInput(type="number", optional=True),
                          "d": AzureInput(type="uri_file", optional=True)})
    inputs = from_azure_any(job).entity.inputs
    assert inputs["n"] == Input(type="integer", default=5)  # its declared type is checked when it is submitted
    assert inputs["x"] == Input(type="number", optional=True)  # left out: its optional segment is dropped
    assert inputs["d"] == Input(type="uri_file", optional=True)
    assert command_job.to_v2(from_azure_any(job).entity)["inputs"] == {"n": 5}


def test_amlcompute_defaults_are_azures() -> None:
    result = from_azure_any(az.AmlCompute(name="c", min_instances=0))
    got = result.entity
    assert (got.min_instances, got.max_instances, got.idle_time_before_scale_down) == (0, 4, 120)
    assert result.notes == []


def test_endpoint_identity_and_a_token_auth_mode_are_kept_and_noted() -> None:
    result = from_azure_any(az.ManagedOnlineEndpoint(name="e", auth_mode="aml_token",
                                                     identity=az.IdentityConfiguration(type="system_assigned")))
    assert result.entity.auth_mode == "aml_token"
    assert result.entity.tags == {"azureml.identity": '{"type": "system_assigned"}'}
    assert fields(result) == {"auth_mode", "identity"}
