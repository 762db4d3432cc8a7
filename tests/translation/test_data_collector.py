"""An online deployment's data_collector: azure-ai-ml objects and v2 YAML, both ways, with Azure's checks."""

from __future__ import annotations

import warnings

import pytest
import yaml

from studio_ext.entities import DataCollector, DeploymentCollection, ManagedOnlineDeployment, RequestLogging
from studio_ext.errors import InvalidInput
from studio_ext.translation import from_azure_any, from_yaml, to_yaml
from studio_ext.translation import online_deployment as kind

warnings.filterwarnings("ignore", message=".*experimental class.*")


def _deployment(**collector: object) -> ManagedOnlineDeployment:
    return ManagedOnlineDeployment(name="blue", endpoint_name="ep", model="azureml:diabetes:1",
                                   data_collector=DataCollector(**collector))  # type: ignore[arg-type]


def test_azure_objects_come_in_with_their_collections_rate_and_rolling():
    from azure.ai.ml.entities import DataCollector as AzureCollector
    from azure.ai.ml.entities import DeploymentCollection as AzureCollection
    from azure.ai.ml.entities import ManagedOnlineDeployment as AzureDeployment

    given = AzureDeployment(name="blue", endpoint_name="ep", model="azureml:diabetes:1", instance_count=1,
                            data_collector=AzureCollector(collections={
                                "model_inputs": AzureCollection(enabled="true"),
                                "model_outputs": AzureCollection(enabled="false", client_id="abc")},
                                sampling_rate=0.25, rolling_rate="hour"))
    translated = from_azure_any(given)
    collector = translated.entity.data_collector
    assert collector is not None and collector.sampling_rate == 0.25 and collector.rolling_rate == "hour"
    assert {k: v.enabled for k, v in collector.collections.items()} == {"model_inputs": "true", "model_outputs": "false"}
    assert collector.collections["model_inputs"].is_enabled and not collector.collections["model_outputs"].is_enabled
    assert [n.field for n in translated.notes] == ["data_collector.collections.model_outputs.client_id"]
    assert not any("data_collector" in n.field and "not run" in n.message for n in translated.notes)


def test_to_azure_and_yaml_and_back_keep_every_field():
    deployment = _deployment(collections={"model_inputs": DeploymentCollection(enabled="true"),
                                          "model_outputs": DeploymentCollection(enabled="true",
                                                                                data="azureml:ep-blue-model_outputs:1")},
                             sampling_rate=0.5, rolling_rate="day",
                             request_logging=RequestLogging(capture_headers=["x-client"]))
    azure = kind.to_azure(deployment)
    assert azure.data_collector.sampling_rate == 0.5 and azure.data_collector.rolling_rate == "day"
    assert azure.data_collector.collections["model_outputs"].data == "azureml:ep-blue-model_outputs:1"
    assert azure.data_collector.request_logging.capture_headers == ["x-client"]
    assert from_azure_any(azure).entity.data_collector == deployment.data_collector
    text = to_yaml(deployment)
    mapping = yaml.safe_load(text)["data_collector"]
    assert mapping["collections"]["model_inputs"] == {"enabled": "true"}
    assert mapping["sampling_rate"] == 0.5
    assert from_yaml(text).entity.data_collector == deployment.data_collector


def test_without_a_collector_nothing_is_written():
    deployment = ManagedOnlineDeployment(name="blue", endpoint_name="ep", model="azureml:diabetes:1")
    assert "data_collector" not in yaml.safe_load(to_yaml(deployment))
    assert from_yaml(to_yaml(deployment)).entity.data_collector is None


@pytest.mark.parametrize(("collector", "says"), [
    ({"collections": {"model_inputs": {"enabled": "yes"}}}, "enabled must be 'true' or 'false'"),
    ({"collections": {"model_inputs": {"enabled": "true"}}, "sampling_rate": 1.5}, "sampling_rate must be a number"),
    ({"collections": {"model_inputs": {"enabled": "true"}}, "rolling_rate": "week"}, "rolling_rate must be one of"),
    ({"collections": ["model_inputs"]}, "collections must map"),
])
def test_yaml_mistakes_are_named(collector, says):
    text = yaml.safe_dump({"name": "blue", "endpoint_name": "ep", "model": "azureml:diabetes:1",
                           "data_collector": collector})
    with pytest.raises(InvalidInput, match=says):
        kind.from_v2(yaml.safe_load(text))
