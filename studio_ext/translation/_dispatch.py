"""One entry for every kind: by studio_ext entity, by v2 YAML, by azure-ai-ml class."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from studio_ext.entities import (
    AmlCompute,
    AutoMLJob,
    BatchEndpoint,
    CommandJob,
    ComputeInstance,
    Data,
    Datastore,
    Environment,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    Model,
    ModelBatchDeployment,
    PipelineComponentBatchDeployment,
)
from studio_ext.entities._component import CommandComponent, PipelineComponent
from studio_ext.entities._monitor import MonitorSchedule
from studio_ext.entities._pipeline import PipelineJob
from studio_ext.entities._schedule import JobSchedule
from studio_ext.entities._sweep import SweepJob
from studio_ext.errors import InvalidInput, NotFound
from studio_ext.translation import (
    automl_job,
    batch_deployment,
    batch_endpoint,
    command_job,
    component,
    compute,
    data,
    datastore,
    environment,
    model,
    online_deployment,
    online_endpoint,
    pipeline_component,
    pipeline_job,
    schedule,
    sweep_job,
)
from studio_ext.translation._common import Translated, class_path
from studio_ext.translation._yaml_errors import describe

# studio_ext entity class -> its kind's module (subclasses first where it matters)
_BY_ENTITY: tuple[tuple[type, ModuleType], ...] = (
    (SweepJob, sweep_job), (PipelineJob, pipeline_job), (CommandJob, command_job), (CommandComponent, component),
    (PipelineComponent, pipeline_component),
    (AutoMLJob, automl_job), (Data, data), (Model, model), (Environment, environment),
    (AmlCompute, compute), (ComputeInstance, compute), (Datastore, datastore),
    (ManagedOnlineEndpoint, online_endpoint), (ManagedOnlineDeployment, online_deployment), (JobSchedule, schedule),
    (MonitorSchedule, schedule), (BatchEndpoint, batch_endpoint), (ModelBatchDeployment, batch_deployment),
    (PipelineComponentBatchDeployment, batch_deployment),
)
# azure-ai-ml class name in azure.ai.ml.entities -> its kind's module
_BY_AZURE = {
    "Command": command_job, "CommandJob": command_job, "Data": data, "Model": model, "Environment": environment,
    "AmlCompute": compute, "ComputeInstance": compute, "AzureBlobDatastore": datastore,
    "AzureDataLakeGen2Datastore": datastore, "ManagedOnlineEndpoint": online_endpoint,
    "ManagedOnlineDeployment": online_deployment, "PipelineJob": pipeline_job, "JobSchedule": schedule, "CommandComponent": component,
    "PipelineComponent": pipeline_component, "BatchEndpoint": batch_endpoint,
    "ModelBatchDeployment": batch_deployment, "PipelineComponentBatchDeployment": batch_deployment,
    "BatchDeployment": batch_deployment,
}
# v2 $schema file name -> its kind's module
_BY_SCHEMA = {
    "commandJob": command_job, "sweepJob": sweep_job, "autoMLJob": automl_job, "data": data, "model": model, "environment": environment,
    "amlCompute": compute, "computeInstance": compute, "azureBlob": datastore, "azureDataLakeGen2": datastore,
    "managedOnlineEndpoint": online_endpoint, "managedOnlineDeployment": online_deployment,
    "pipelineJob": pipeline_job, "schedule": schedule, "commandComponent": component,
    "pipelineComponent": pipeline_component, "batchEndpoint": batch_endpoint, "batchDeployment": batch_deployment,
    "modelBatchDeployment": batch_deployment, "pipelineComponentBatchDeployment": batch_deployment,
}
_BY_TYPE = {
    "command": command_job, "sweep": sweep_job, "pipeline": pipeline_job, "automl": automl_job,
    "amlcompute": compute, "computeinstance": compute, "azure_blob": datastore,
    "azure_data_lake_gen2": datastore, "mlflow_model": model, "custom_model": model, "triton_model": model,
    "uri_file": data, "uri_folder": data, "mltable": data,
}
_LOADERS = {
    command_job: "load_job", sweep_job: "load_job", automl_job: "load_job",
    data: "load_data", model: "load_model", environment: "load_environment",
    compute: "load_compute", component: "load_component", pipeline_component: "load_component", pipeline_job: "load_job",
    datastore: "load_datastore", online_endpoint: "load_online_endpoint",
    online_deployment: "load_online_deployment", batch_endpoint: "load_batch_endpoint",
}
KNOWN_AZURE = (*(f"azure.ai.ml.entities.{name}" for name in sorted(_BY_AZURE)),
               "azure.ai.ml.automl.ClassificationJob", "azure.ai.ml.automl.ForecastingJob",
               "azure.ai.ml.automl.RegressionJob", "azure.ai.ml.sweep.SweepJob", "azure.ai.ml.entities.Sweep",
               "azure.ai.ml.entities.CommandComponent (load_component)",
               "azure.ai.ml.entities.PipelineComponent (job.component)", "azure.ai.ml.entities.PipelineJob (@dsl.pipeline)")
_AZURE_AUTOML_MODULE = "azure.ai.ml.entities._job.automl"
_AZURE_SWEEP_MODULES = ("azure.ai.ml.entities._job.sweep", "azure.ai.ml.entities._builders.sweep")


def kind_of_entity(entity: object) -> ModuleType:
    for cls, module in _BY_ENTITY:
        if isinstance(entity, cls):
            return module
    raise InvalidInput(
        f"{class_path(entity)} has no Azure ML v2 translation. Translated kinds: "
        f"{', '.join(sorted({c.__name__ for c, _ in _BY_ENTITY}))} (from studio_ext.entities).")


def kind_of_v2(mapping: Mapping[str, Any]) -> ModuleType:
    """The kind a v2 mapping is: by its ``$schema``, else by its ``type`` and fields."""
    schema = str(mapping.get("$schema") or "")
    if schema:
        stem = schema.rsplit("/", 1)[-1].split(".", 1)[0]
        if stem in _BY_SCHEMA:
            return _BY_SCHEMA[stem]
    if "trigger" in mapping and ("create_job" in mapping or "create_monitor" in mapping):
        return schedule
    if "endpoint_name" in mapping:
        batch = str(mapping.get("type") or "").lower() in ("model", "pipeline") or any(
            key in mapping for key in ("compute", "settings", "component", "mini_batch_size", "output_action"))
        return batch_deployment if batch else online_deployment
    if "defaults" in mapping:
        return batch_endpoint
    if "auth_mode" in mapping:
        return online_endpoint
    kind = str(mapping.get("type") or "").lower()
    if kind in _BY_TYPE:
        return _BY_TYPE[kind]
    if "image" in mapping or "conda_file" in mapping or "build" in mapping:
        return environment
    raise InvalidInput(
        f"This YAML is no Azure ML v2 kind this studio translates ($schema {schema or 'missing'}, type "
        f"{kind or 'missing'}). It takes command jobs, pipeline jobs, command components, sweep jobs, AutoML jobs, "
        "data, models, environments, amlcompute and computeinstance, "
        "azure_blob and azure_data_lake_gen2 datastores, managed online endpoints and deployments, batch endpoints "
        "and their deployments.")


def to_yaml(entity: object) -> str:
    """Azure ML v2 YAML for any translated studio_ext entity (``az ml <kind> create --file``)."""
    module = kind_of_entity(entity)
    text: str = module.to_yaml(entity)
    return text


def to_v2(entity: object) -> dict[str, Any]:
    """The v2 YAML mapping for any translated studio_ext entity."""
    mapping: dict[str, Any] = kind_of_entity(entity).to_v2(entity)
    return mapping


def to_azure(entity: object) -> Any:
    """The azure-ai-ml object for any translated studio_ext entity, made by azure-ai-ml's own loader."""
    return kind_of_entity(entity).to_azure(entity)


def from_yaml(source: str | os.PathLike[str], *,
              params_override: list[dict[str, Any]] | None = None) -> Translated[Any]:
    """A studio_ext entity from a v2 YAML file (a path) or text, read by azure-ai-ml's own ``load_*``.

    Azure's loaders validate it, so a wrong field gets Azure's message, with the file
    and line of the field; relative paths in a file are taken from the file's folder,
    as ``az ml`` does. ``params_override`` is azure-ai-ml's (and ``az ml --set``'s):
    ``[{"inputs.lr": "0.1"}, {"compute": "local"}]`` sets dotted fields over the file's.
    """
    import azure.ai.ml as aml
    from marshmallow.exceptions import ValidationError

    text, path, mapping = read_mapping(source)
    module = kind_of_v2(mapping)
    overrides = [dict(o) for o in params_override or []]
    if module is schedule:  # its create_job may be inline, which Azure's schedule loader refuses (see schedule.py)
        scheduled: Translated[Any] = schedule.from_yaml(source, params_override=overrides)
        return scheduled
    if module is pipeline_job:  # read here, step by step (see translation/pipeline_job.py)
        for override in overrides:
            for key, value in override.items():
                _set_dotted(mapping, str(key), value)
        piped: Translated[Any] = pipeline_job.from_v2(mapping, Path(path).parent if path else Path.cwd())
        return piped
    loader = getattr(aml, _LOADERS[module]) if module is not batch_deployment else \
        (lambda source, **kw: batch_deployment.load(source, mapping, **kw))  # its loader is chosen by type
    try:
        obj = loader(path, params_override=overrides) if path else loader(io.StringIO(text), params_override=overrides)
    except ValidationError as exc:
        raise InvalidInput(describe(exc, text, path)) from exc
    return from_azure_any(obj, Path(path).parent if path else None)


def _set_dotted(mapping: Any, key: str, value: Any) -> None:
    """``--set inputs.x=1`` on a mapping read from YAML: the dotted field set, a literal read as YAML."""
    parts = key.split(".")
    target = mapping
    for part in parts[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            pass
    current = target.get(parts[-1])
    if isinstance(current, dict) and not isinstance(value, dict) and "path" in current:
        current["path"] = value
    elif isinstance(current, dict) and not isinstance(value, dict):
        current["default"] = value
    else:
        target[parts[-1]] = value


def read_mapping(source: str | os.PathLike[str]) -> tuple[str, str | None, Mapping[str, Any]]:
    """(the text, the file's path or None, the YAML mapping) of a v2 file or text; InvalidInput if it is none."""
    text, path = _read(source)
    try:
        mapping = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path or 'The text'} is not valid YAML: {exc}") from exc
    if not isinstance(mapping, Mapping):
        raise InvalidInput(f"{path or 'The text'} holds no YAML mapping; an Azure ML v2 file is a mapping of fields.")
    return text, path, mapping


def _read(source: str | os.PathLike[str]) -> tuple[str, str | None]:
    if isinstance(source, os.PathLike) or ("\n" not in source and source.rstrip().endswith((".yml", ".yaml"))):
        path = Path(source)
        if not path.is_file():
            raise NotFound(f"The YAML file {str(path)!r} does not exist.")
        return path.read_text(), str(path)
    return source, None


def from_azure_any(obj: object, base_path: str | os.PathLike[str] | None = None) -> Translated[Any]:
    """A studio_ext entity from any translated azure-ai-ml object, chosen by its class.

    ``base_path``: the folder relative paths the object holds are taken from (a YAML file's).
    """
    import azure.ai.ml.entities as aml_entities

    if type(obj).__module__.startswith(_AZURE_SWEEP_MODULES) and type(obj).__name__ in ("Sweep", "SweepJob"):
        sweep: Translated[Any] = sweep_job.from_azure(obj, base_path)
        return sweep
    if type(obj).__name__ in ("MonitorSchedule", "ImportDataSchedule"):
        return schedule.from_azure(obj, base_path)  # a monitor is translated; a data import refused by name
    if type(obj).__module__.startswith(_AZURE_AUTOML_MODULE):
        automl: Translated[Any] = automl_job.from_azure(obj, base_path)
        return automl
    for name, module in _BY_AZURE.items():
        cls = getattr(aml_entities, name)
        if type(obj) is cls:
            result: Translated[Any] = module.from_azure(obj, base_path)
            return result
    for name, module in _BY_AZURE.items():  # a subclass of a translated class
        if isinstance(obj, getattr(aml_entities, name)):
            result = module.from_azure(obj, base_path)
            return result
    raise InvalidInput(
        f"{class_path(obj)} has no studio_ext translation yet. Translated azure-ai-ml classes: "
        f"{', '.join(KNOWN_AZURE)}.")
