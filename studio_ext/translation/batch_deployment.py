"""Batch deployments: studio_ext ``ModelBatchDeployment`` / ``PipelineComponentBatchDeployment`` <-> v2
``batchDeployment`` (``type: model`` / ``type: pipeline``) <-> azure-ai-ml.

A model deployment's v2 form keeps its scoring settings under ``settings`` and its node count
in ``resources.instance_count``, as azure-ai-ml writes them; the older form (azure-ai-ml's
``BatchDeployment``, no ``type``, the settings as top-level fields) is read too. A model,
environment or pipeline component given inline becomes a studio_ext entity (a model or
component the service registers; an environment in ``Translated.requires``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Any

from studio_ext.entities import (
    BatchDeploymentOutputAction,
    BatchRetrySettings,
    CodeConfiguration,
    Environment,
    Model,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
    PipelineComponent,
    PipelineComponentBatchDeployment,
)
from studio_ext.errors import InvalidInput
from studio_ext.translation import environment as environment_kind
from studio_ext.translation import model as model_kind
from studio_ext.translation import pipeline_component as component_kind
from studio_ext.translation._common import (
    SCHEMA_ROOT,
    Translated,
    arm,
    check_type,
    dump,
    keep_rest,
    local_path,
    plain,
    put,
    restore,
    str_map,
    strip_arm,
)

SCHEMA = SCHEMA_ROOT + "batchDeployment.schema.json"
_SETTINGS = ("mini_batch_size", "instance_count", "max_concurrency_per_instance", "output_action", "output_file_name",
             "retry_settings", "error_threshold", "logging_level", "environment_variables")
_HANDLED = {"name", "endpoint_name", "description", "tags", "properties", "type", "model", "code_configuration",
            "code_path", "scoring_script", "environment", "compute", "resources", "settings", "component",
            "job_definition", "provisioning_state", "id", "creation_context", *_SETTINGS}
_REASONS = {"deployment_template": "deployment templates are not used locally"}
_DEFAULTS = ModelBatchDeploymentSettings()

BatchDeploymentKind = ModelBatchDeployment | PipelineComponentBatchDeployment


def to_v2(deployment: BatchDeploymentKind) -> dict[str, Any]:
    """The deployment as v2 ``batchDeployment`` YAML's mapping (``type: model`` or ``type: pipeline``)."""
    out: dict[str, Any] = {"$schema": SCHEMA, "name": deployment.name, "endpoint_name": deployment.endpoint_name,
                           "type": deployment.type}
    put(out, description=deployment.description)
    restore(out, deployment.tags, "tags")
    put(out, properties=dict(deployment.properties))
    if isinstance(deployment, PipelineComponentBatchDeployment):
        component = deployment.component
        if isinstance(component, PipelineComponent):
            out["component"] = arm(f"{component.name}:{component.version}") if component.name and component.version \
                else {k: v for k, v in component_kind.to_v2(component).items() if k != "$schema"}
        elif component is not None:
            out["component"] = arm(component)
        put(out, settings=str_map(deployment.settings))
        return out
    if deployment.model is not None:
        out["model"] = model_kind.field_to_v2(deployment.model)
    if deployment.code_configuration is not None:
        out["code_configuration"] = {"code": deployment.code_configuration.code,
                                     "scoring_script": deployment.code_configuration.scoring_script}
    environment = deployment.environment
    if isinstance(environment, Environment):
        environment = environment_kind.reference(environment)
    # Azure's schema requires a compute; None means this machine, the compute target named "local"
    put(out, environment=arm(environment), compute=arm(deployment.compute or "local"))
    s = deployment.settings or ModelBatchDeploymentSettings()
    out["resources"] = {"instance_count": s.instance_count}
    retry = s.retry_settings or BatchRetrySettings()
    out["settings"] = put({
        "mini_batch_size": s.mini_batch_size, "max_concurrency_per_instance": s.max_concurrency_per_instance,
        "output_action": str(s.output_action), "output_file_name": s.output_file_name,
        "retry_settings": {"max_retries": retry.max_retries, "timeout": retry.timeout},
        "error_threshold": s.error_threshold, "logging_level": s.logging_level},
        environment_variables=str_map(s.environment_variables))
    return out


def from_v2(mapping: Mapping[str, Any],
            base_path: str | os.PathLike[str] | None = None) -> Translated[BatchDeploymentKind]:
    """A studio_ext batch deployment from v2 ``batchDeployment`` YAML's mapping (either type, or the older form)."""
    mapping = plain(mapping)
    kind = str(mapping.get("type") or ("pipeline" if mapping.get("component") else "model")).lower()
    if kind not in ("model", "pipeline"):
        raise InvalidInput(f"A batch deployment's type is 'model' or 'pipeline'. Got {mapping.get('type')!r} instead.")
    result: Translated[Any] = Translated(None)
    tags = str_map(mapping.get("tags"))
    keep_rest(mapping, _HANDLED, tags, result, _REASONS)
    common: dict[str, Any] = {
        "name": str(mapping.get("name") or ""), "endpoint_name": str(mapping.get("endpoint_name") or ""),
        "description": mapping.get("description"), "tags": tags,
        "properties": str_map(mapping.get("properties"))}
    if kind == "pipeline":
        given = mapping.get("component")
        component: PipelineComponent | str | None = None
        if isinstance(given, Mapping):
            inner = component_kind.from_v2(given, base_path)
            result.notes.extend(inner.notes)
            result.requires.extend(inner.requires)
            component = inner.entity
        elif given is not None:
            component = _reference(str(given))
        if mapping.get("job_definition"):
            result.note("job_definition", "is kept for Azure; locally the component's own steps run")
        result.entity = PipelineComponentBatchDeployment(
            component=component, settings=str_map(mapping.get("settings")),
            **common)
        return result
    model = model_kind.field_from_v2(mapping.get("model"), base_path, result)
    if isinstance(model, str):
        model = _reference(model)
    environment = environment_kind.field_from_v2(mapping.get("environment"), base_path, result)
    code = None
    cc = mapping.get("code_configuration") or {}
    code_path = cc.get("code") or mapping.get("code_path")
    script = cc.get("scoring_script") or mapping.get("scoring_script")
    if script:
        code = CodeConfiguration(code=str(local_path(str(code_path or "."), base_path)), scoring_script=str(script))
    result.entity = ModelBatchDeployment(
        model=model, code_configuration=code, environment=strip_arm(environment) if environment else None,
        compute=strip_arm(mapping.get("compute")), settings=_settings(mapping, result), **common)
    return result


def _settings(mapping: Mapping[str, Any], result: Translated[Any]) -> ModelBatchDeploymentSettings:
    given = dict(mapping.get("settings") or {})
    for key in _SETTINGS:  # the older form: the settings are top-level fields
        if key not in given and mapping.get(key) is not None:
            given[key] = mapping[key]
    unknown = sorted(set(given) - set(_SETTINGS))
    for key in unknown:
        result.note(f"settings.{key}", "is not a model batch deployment setting and is left out")
    resources = mapping.get("resources") or {}
    instance_count = given.get("instance_count") or resources.get("instance_count") or _DEFAULTS.instance_count
    for key in set(resources) - {"instance_count", "properties"}:
        result.note(f"resources.{key}", "is kept for Azure; locally a node is a worker of the compute")
    retry = given.get("retry_settings") or {}
    action = given.get("output_action")
    return ModelBatchDeploymentSettings(
        instance_count=_int(instance_count, "instance_count"),
        max_concurrency_per_instance=_int(given.get("max_concurrency_per_instance",
                                                    _DEFAULTS.max_concurrency_per_instance),
                                          "max_concurrency_per_instance"),
        mini_batch_size=_int(given.get("mini_batch_size", _DEFAULTS.mini_batch_size), "mini_batch_size"),
        output_action=_action(action) if action is not None else _DEFAULTS.output_action,
        output_file_name=str(given.get("output_file_name") or _DEFAULTS.output_file_name),
        retry_settings=BatchRetrySettings(
            max_retries=_int(retry.get("max_retries", BatchRetrySettings().max_retries), "retry_settings.max_retries"),
            timeout=_int(retry.get("timeout", BatchRetrySettings().timeout), "retry_settings.timeout")),
        error_threshold=_int(given.get("error_threshold", _DEFAULTS.error_threshold), "error_threshold"),
        logging_level=str(given.get("logging_level") or _DEFAULTS.logging_level),
        environment_variables=str_map(given.get("environment_variables")))


def _reference(value: str) -> str:
    """``NAME:VERSION`` / ``NAME@label`` as v2 YAML writes a registered asset (azure-ai-ml drops the prefix on load)."""
    return arm(value) if ("@" in value or ":" in value) and "/" not in value else value  # type: ignore[return-value]


def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"settings.{what} must be a whole number. Got {value!r} instead.") from None


def _action(value: Any) -> BatchDeploymentOutputAction:
    text = str(value).lower().replace("appendrow", "append_row").replace("summaryonly", "summary_only")
    try:
        return BatchDeploymentOutputAction(text)
    except ValueError:
        raise InvalidInput(f"settings.output_action must be 'append_row' or 'summary_only'. Got {value!r} "
                           "instead.") from None


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[BatchDeploymentKind]:
    """From azure-ai-ml's ``ModelBatchDeployment``, ``PipelineComponentBatchDeployment`` or ``BatchDeployment``.

    Read field by field (not ``_to_dict``), so a deployment holding a studio_ext ``Model`` (what
    ``ws.models.create_or_update`` returns, as in the course's batch lab) translates too.
    """
    import azure.ai.ml.entities as aml

    check_type(obj, (aml.BatchDeployment, aml.ModelBatchDeployment, aml.PipelineComponentBatchDeployment),
               "batch deployment")
    result: Translated[Any] = Translated(None)
    base = base_path or getattr(obj, "base_path", None)
    mapping: dict[str, Any] = {"name": obj.name, "endpoint_name": obj.endpoint_name, "description": obj.description,
                               "tags": dict(obj.tags or {}), "properties": dict(obj.properties or {})}
    if isinstance(obj, aml.PipelineComponentBatchDeployment):
        mapping["type"] = "pipeline"
        component = obj.component
        inline: PipelineComponent | None = None
        if isinstance(component, aml.PipelineComponent):
            translated = component_kind.from_azure(component, base)
            result.notes.extend(translated.notes)
            result.requires.extend(translated.requires)
            inline = translated.entity
        elif isinstance(component, PipelineComponent):
            inline = component
        elif component is not None:
            mapping["component"] = str(component)
        mapping["settings"] = dict(obj.settings or {})
        if obj.job_definition:
            mapping["job_definition"] = {"given": True}
        made = from_v2(mapping, base)
        made.notes[:0] = result.notes
        made.requires[:0] = result.requires
        if inline is not None:
            made.entity.component = inline  # type: ignore[union-attr]
        return made
    mapping["type"] = "model"
    model = obj.model
    inline_model: Model | None = None
    if isinstance(model, Model):
        inline_model = model
    elif isinstance(model, aml.Model):
        if model.name and model.version and not getattr(model, "_is_anonymous", False) and not model.path:
            mapping["model"] = f"azureml:{model.name}:{model.version}"
        else:
            translated_model = model_kind.from_azure(model, base)
            result.notes.extend(translated_model.notes)
            inline_model = translated_model.entity
            if getattr(model, "_is_anonymous", False):  # azure-ai-ml's hash name: the service names it from its files
                inline_model.name, inline_model.version = "", None
    elif model is not None:
        mapping["model"] = str(model)
    environment = obj.environment
    inline_env: Environment | None = None
    if isinstance(environment, aml.Environment):
        if environment.name and environment.version and not getattr(environment, "_is_anonymous", False):
            mapping["environment"] = f"{environment.name}:{environment.version}"
        else:
            translated_env = environment_kind.from_azure(environment, base)
            result.notes.extend(translated_env.notes)
            result.requires.append(translated_env.entity)
            inline_env = translated_env.entity
    elif environment is not None:
        mapping["environment"] = str(environment)
    cc = obj.code_configuration
    if cc is not None and cc.scoring_script:
        code = cc.code
        mapping["code_configuration"] = {"code": os.fspath(code) if code is not None else ".",
                                         "scoring_script": os.fspath(cc.scoring_script)}
    mapping["compute"] = obj.compute
    if obj.resources is not None and getattr(obj.resources, "instance_count", None):
        mapping["resources"] = {"instance_count": obj.resources.instance_count}
    settings = getattr(obj, "settings", None)
    source = settings if settings is not None and not isinstance(settings, dict) else obj
    values: dict[str, Any] = {}
    for key in _SETTINGS:
        value = getattr(source, key, None)
        if key == "retry_settings" and value is not None:
            value = {k: getattr(value, k) for k in ("max_retries", "timeout") if getattr(value, k, None) is not None}
        if value is not None:
            values[key] = value
    mapping["settings"] = values
    made = from_v2(mapping, base or os.getcwd())
    made.notes[:0] = result.notes
    made.requires[:0] = result.requires
    entity = made.entity
    assert isinstance(entity, ModelBatchDeployment)
    if inline_model is not None:
        entity.model = inline_model
    if inline_env is not None:
        entity.environment = environment_kind.reference(inline_env)
    return made


def loader_name(mapping: Mapping[str, Any]) -> str:
    """azure-ai-ml's loader for this v2 mapping: by ``type`` (the older form has none)."""
    kind = str(mapping.get("type") or "").lower()
    return {"model": "load_model_batch_deployment",
            "pipeline": "load_pipeline_component_batch_deployment"}.get(kind, "load_batch_deployment")


def load(source: Any, mapping: Mapping[str, Any], **kwargs: Any) -> Any:
    """``source`` (a path or a stream) read by azure-ai-ml's own batch deployment loader for ``mapping``'s type."""
    from azure.ai.ml.entities import _load_functions

    return getattr(_load_functions, loader_name(mapping))(source, **kwargs)


def to_azure(deployment: BatchDeploymentKind) -> Any:
    """azure-ai-ml's ``ModelBatchDeployment`` or ``PipelineComponentBatchDeployment``, loaded by its own loader."""
    from marshmallow.exceptions import ValidationError

    mapping = to_v2(deployment)
    try:
        return load(io.StringIO(dump(mapping)), mapping)
    except ValidationError as exc:
        raise InvalidInput(f"Azure ML's v2 schema refuses this batch deployment: {str(exc).strip()[:600]}") from exc


def to_yaml(deployment: BatchDeploymentKind) -> str:
    return dump(to_v2(deployment))
