"""Batch endpoints and both kinds of batch deployment through Azure ML v2: studio_ext entities <-> v2 YAML
<-> azure-ai-ml objects, each YAML read back by azure-ai-ml's own loaders."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from azure.ai.ml import entities as aml
from azure.ai.ml import load_batch_endpoint
from azure.ai.ml.constants import BatchDeploymentOutputAction as AzureOutputAction
from azure.ai.ml.entities._load_functions import load_model_batch_deployment, load_pipeline_component_batch_deployment

from studio_ext.entities import (
    BatchDeploymentOutputAction,
    BatchEndpoint,
    BatchEndpointDefaults,
    BatchRetrySettings,
    CodeConfiguration,
    Model,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
    PipelineComponentBatchDeployment,
)
from studio_ext.errors import InvalidInput
from studio_ext.translation import (
    accept,
    batch_deployment,
    batch_endpoint,
    from_azure_any,
    from_yaml,
    to_azure,
    to_yaml,
)
from studio_ext.translation._dispatch import kind_of_v2

SETTINGS = ModelBatchDeploymentSettings(
    instance_count=2, max_concurrency_per_instance=2, mini_batch_size=2,
    output_action=BatchDeploymentOutputAction.SUMMARY_ONLY, output_file_name="out.csv",
    retry_settings=BatchRetrySettings(max_retries=1, timeout=300), error_threshold=5, logging_level="debug",
    environment_variables={"LOW": "1"})


def test_a_batch_endpoint_round_trips_through_azure_ai_ml() -> None:
    endpoint = BatchEndpoint(name="diabetes-batch", description="scores", tags={"course": "dp100"},
                             defaults=BatchEndpointDefaults(deployment_name="classifier"))
    azure = to_azure(endpoint)
    assert isinstance(azure, aml.BatchEndpoint) and azure.defaults.deployment_name == "classifier"
    loaded = load_batch_endpoint(io.StringIO(to_yaml(endpoint)))
    assert loaded.name == "diabetes-batch" and loaded.description == "scores"
    back = from_azure_any(azure)
    assert back.entity == endpoint and back.notes == []
    # azure-ai-ml keeps defaults as a dict, as the docs' endpoint.defaults["deployment_name"] = ... does
    given = aml.BatchEndpoint(name="other", defaults={"deployment_name": "blue"})
    assert accept(given, BatchEndpoint, "test").entity.defaults.deployment_name == "blue"
    assert accept(aml.BatchEndpoint(name="third", default_deployment_name="green"), BatchEndpoint,
                  "test").entity.default_deployment_name == "green"


def test_a_model_deployment_writes_azure_ai_ml_s_v2_form_and_comes_back(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    deployment = ModelBatchDeployment(
        name="classifier", endpoint_name="diabetes-batch", description="a classifier", model="azureml:diabetes:1",
        code_configuration=CodeConfiguration(code=str(tmp_path / "src"), scoring_script="score.py"),
        environment="sklearn-env:2", compute="aml-cluster", settings=SETTINGS)
    mapping = batch_deployment.to_v2(deployment)
    assert mapping["type"] == "model" and mapping["resources"] == {"instance_count": 2}
    assert mapping["settings"]["output_action"] == "summary_only" and mapping["compute"] == "azureml:aml-cluster"
    azure = load_model_batch_deployment(io.StringIO(to_yaml(deployment)))
    assert isinstance(azure, aml.ModelBatchDeployment)
    assert azure.settings.mini_batch_size == 2 and azure.settings.retry_settings.timeout == 300
    assert azure.settings.output_action == AzureOutputAction.SUMMARY_ONLY and azure.resources.instance_count == 2
    assert from_azure_any(azure).entity == deployment
    assert from_azure_any(to_azure(deployment)).entity == deployment
    on_this_machine = ModelBatchDeployment(name="d", endpoint_name="e", model="azureml:m:1")
    assert batch_deployment.to_v2(on_this_machine)["compute"] == "azureml:local", "Azure's schema requires one"
    assert to_azure(on_this_machine).compute == "local"


def test_the_course_lab_s_objects_translate_with_a_registered_studio_model() -> None:
    """The lab passes ws.models.create_or_update's result (a studio_ext Model) into azure-ai-ml's deployment."""
    registered = Model(name="diabetes-mlflow", version="1", type="mlflow_model")
    azure = aml.ModelBatchDeployment(
        name="classifier-diabetes-mlflow", description="A diabetes classifier", endpoint_name="diabetes-batch",
        model=registered, compute="aml-cluster",
        settings=aml.ModelBatchDeploymentSettings(
            instance_count=2, max_concurrency_per_instance=2, mini_batch_size=2,
            output_action=AzureOutputAction.APPEND_ROW, output_file_name="predictions.csv",
            retry_settings=aml.BatchRetrySettings(max_retries=3, timeout=300), logging_level="info"))
    got = accept(azure, (ModelBatchDeployment, PipelineComponentBatchDeployment), "test").entity
    assert isinstance(got, ModelBatchDeployment) and got.model is registered and got.compute == "aml-cluster"
    assert got.settings == ModelBatchDeploymentSettings(
        instance_count=2, max_concurrency_per_instance=2, mini_batch_size=2, output_file_name="predictions.csv",
        retry_settings=BatchRetrySettings(max_retries=3, timeout=300))
    inline = aml.ModelBatchDeployment(name="inline", endpoint_name="e", model=aml.Model(path=".", type="custom_model"),
                                      code_configuration=aml.CodeConfiguration(code=".", scoring_script="s.py"),
                                      settings=aml.ModelBatchDeploymentSettings(mini_batch_size=3))
    made = from_azure_any(inline).entity
    assert isinstance(made.model, Model) and made.model.type == "custom_model" and made.settings.mini_batch_size == 3
    assert (made.model.name, made.model.version) == ("", None), "anonymous: the service names it from its files"
    assert Path(made.code_configuration.code).is_absolute()


def test_v2_yaml_files_of_both_types_are_read_by_azure_ai_ml_s_loaders(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    model_file = tmp_path / "deployment.yml"
    model_file.write_text("""\
$schema: https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json
name: classifier
endpoint_name: diabetes-batch
type: model
model: azureml:diabetes:1
code_configuration:
  code: ./src
  scoring_script: score.py
compute: azureml:aml-cluster
resources:
  instance_count: 2
settings:
  mini_batch_size: 4
  output_action: append_row
  output_file_name: predictions.csv
  retry_settings:
    max_retries: 2
    timeout: 120
  error_threshold: -1
""")
    got = from_yaml(model_file).entity
    assert isinstance(got, ModelBatchDeployment)
    assert got.code_configuration == CodeConfiguration(code=str(tmp_path / "src"), scoring_script="score.py")
    assert got.settings.instance_count == 2 and got.settings.mini_batch_size == 4
    assert got.settings.retry_settings == BatchRetrySettings(max_retries=2, timeout=120)
    assert from_yaml(model_file, params_override=[{"settings.mini_batch_size": 7}]).entity.settings.mini_batch_size == 7
    pipeline_file = tmp_path / "pipeline-deployment.yml"
    pipeline_file.write_text("""\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponentBatchDeployment.schema.json
name: hello
endpoint_name: published
type: pipeline
component: azureml:train_pipeline:3
settings:
  default_compute: cpu-cluster
  continue_on_step_failure: false
""")
    made = from_yaml(pipeline_file).entity
    assert isinstance(made, PipelineComponentBatchDeployment) and made.component == "azureml:train_pipeline:3"
    assert made.settings == {"default_compute": "cpu-cluster", "continue_on_step_failure": "False"}
    azure = load_pipeline_component_batch_deployment(io.StringIO(to_yaml(made)))
    assert isinstance(azure, aml.PipelineComponentBatchDeployment) and azure.component == "train_pipeline:3"
    assert from_azure_any(azure).entity == made
    endpoint_file = tmp_path / "endpoint.yml"
    endpoint_file.write_text("$schema: https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json\n"
                             "name: published\ndescription: a published pipeline\nauth_mode: aad_token\n")
    assert from_yaml(endpoint_file).entity == BatchEndpoint(name="published", description="a published pipeline")


def test_the_kind_is_told_without_schema_and_the_older_form_is_read() -> None:
    assert kind_of_v2({"name": "d", "endpoint_name": "e", "type": "model"}) is batch_deployment
    assert kind_of_v2({"name": "d", "endpoint_name": "e", "compute": "c", "mini_batch_size": 3}) is batch_deployment
    assert kind_of_v2({"name": "e", "defaults": {"deployment_name": "d"}}) is batch_endpoint
    older = yaml.safe_load("""\
name: d
endpoint_name: e
model: azureml:m:1
compute: azureml:c
mini_batch_size: 3
output_action: summary_only
retry_settings: {max_retries: 0, timeout: 60}
resources: {instance_count: 1}
""")
    got = batch_deployment.from_v2(older).entity
    assert isinstance(got, ModelBatchDeployment) and got.settings.mini_batch_size == 3
    assert got.settings.output_action is BatchDeploymentOutputAction.SUMMARY_ONLY
    assert got.settings.retry_settings == BatchRetrySettings(max_retries=0, timeout=60)
    legacy = aml.BatchDeployment(name="d", endpoint_name="e", model="azureml:m:1", compute="c", mini_batch_size=5)
    assert from_azure_any(legacy).entity.settings.mini_batch_size == 5


def test_bad_fields_are_refused_by_name() -> None:
    with pytest.raises(InvalidInput, match="output_action must be 'append_row' or 'summary_only'"):
        batch_deployment.from_v2({"name": "d", "endpoint_name": "e", "type": "model",
                                  "settings": {"output_action": "everything"}})
    with pytest.raises(InvalidInput, match="type is 'model' or 'pipeline'"):
        batch_deployment.from_v2({"name": "d", "endpoint_name": "e", "type": "online"})
    with pytest.raises(InvalidInput, match="mini_batch_size must be a whole number"):
        batch_deployment.from_v2({"name": "d", "endpoint_name": "e", "settings": {"mini_batch_size": "many"}})
