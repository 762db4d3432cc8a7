"""Online deployments: studio_ext ``ManagedOnlineDeployment`` <-> v2 ``managedOnlineDeployment`` <-> azure-ai-ml.

A model or environment given inline becomes a studio_ext entity in
``Translated.requires`` that the deployment names. ``instance_type`` is kept in the
field of the same name (locally every instance is a server process on this machine).
``OnlineRequestSettings.max_body_bytes`` has no v2 field: it travels as the v2 tag
``studio_ext.max_body_bytes``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from studio_ext.entities import (
    CodeConfiguration,
    ManagedOnlineDeployment,
    Model,
    OnlineRequestSettings,
    ProbeSettings,
)
from studio_ext.translation import environment as environment_kind
from studio_ext.translation import model as model_kind
from studio_ext.translation._common import (
    LOCAL_PREFIX,
    SCHEMA_ROOT,
    Translated,
    arm,
    azure_dict,
    azure_load,
    dump,
    keep_rest,
    local_path,
    plain,
    put,
    restore,
    split_local,
    strip_arm,
)

SCHEMA = SCHEMA_ROOT + "managedOnlineDeployment.schema.json"
_HANDLED = {"name", "endpoint_name", "description", "tags", "model", "code_configuration", "environment",
            "environment_variables", "instance_type", "instance_count", "request_settings", "liveness_probe",
            "readiness_probe", "type", "provisioning_state", "id", "creation_context"}
_DEFAULTS = {"app_insights_enabled": False, "egress_public_network_access": "enabled"}
_REASONS = {"app_insights_enabled": "local request telemetry is always on (ws.online_endpoints.get_metrics)",
            "scale_settings": "local deployments run instance_count servers, without autoscale",
            "data_collector": "Azure's model data collection is not run locally",
            "egress_public_network_access": "local servers use this machine's network",
            "properties": "the studio_ext entity has no properties of its own"}
_REQUEST_DEFAULTS = OnlineRequestSettings()
INSTANCE_TYPE_REASON = "is kept for Azure; locally each instance is a server process on this machine"


def to_v2(deployment: ManagedOnlineDeployment) -> dict[str, Any]:
    """The deployment as v2 ``managedOnlineDeployment`` YAML's mapping."""
    out: dict[str, Any] = {"$schema": SCHEMA, "name": deployment.name, "endpoint_name": deployment.endpoint_name}
    put(out, description=deployment.description)
    tags = restore(out, deployment.tags, "tags")
    model = deployment.model
    if isinstance(model, Model):
        out["model"] = arm(f"{model.name}:{model.version}") if model.name and model.version else \
            {k: v for k, v in model_kind.to_v2(model).items() if k != "$schema"}
    elif model is not None:
        out["model"] = arm(model)
    if deployment.code_configuration is not None:
        out["code_configuration"] = {"code": deployment.code_configuration.code,
                                     "scoring_script": deployment.code_configuration.scoring_script}
    put(out, environment=arm(deployment.environment),
        environment_variables={str(k): str(v) for k, v in deployment.environment_variables.items()})
    out["instance_type"] = deployment.instance_type
    out["instance_count"] = deployment.instance_count
    rs = deployment.request_settings
    out["request_settings"] = {"request_timeout_ms": rs.request_timeout_ms,
                               "max_concurrent_requests_per_instance": rs.max_concurrent_requests_per_instance,
                               "max_queue_wait_ms": rs.max_queue_wait_ms}
    if rs.max_body_bytes != _REQUEST_DEFAULTS.max_body_bytes:
        out["tags"] = {**tags, LOCAL_PREFIX + "max_body_bytes": str(rs.max_body_bytes)}
    for name in ("liveness_probe", "readiness_probe"):
        probe: ProbeSettings = getattr(deployment, name)
        out[name] = {"initial_delay": probe.initial_delay, "period": probe.period, "timeout": probe.timeout,
                     "success_threshold": probe.success_threshold, "failure_threshold": probe.failure_threshold}
    return out


def from_v2(mapping: Mapping[str, Any],
            base_path: str | os.PathLike[str] | None = None) -> Translated[ManagedOnlineDeployment]:
    """A studio_ext ``ManagedOnlineDeployment`` from v2 ``managedOnlineDeployment`` YAML's mapping."""
    mapping = plain(mapping)
    result: Translated[ManagedOnlineDeployment] = Translated(ManagedOnlineDeployment(name="", endpoint_name=""))
    tags, local = split_local(mapping.get("tags"))
    keep_rest(mapping, _HANDLED, tags, result, _REASONS, _DEFAULTS)
    model: Model | str | None = None
    given = mapping.get("model")
    if isinstance(given, Mapping):  # inline: an anonymous model on Azure
        inner = model_kind.from_v2(given, base_path)
        result.notes.extend(inner.notes)
        model = inner.entity
    elif given is not None:
        model = str(given)
    environment = mapping.get("environment")
    if isinstance(environment, Mapping):
        env = environment_kind.from_v2(environment, base_path, anonymous=True)
        result.requires.append(env.entity)
        result.notes.extend(env.notes)
        environment = environment_kind.reference(env.entity)
    code = None
    if mapping.get("code_configuration"):
        cc = mapping["code_configuration"]
        code = CodeConfiguration(code=str(local_path(str(cc.get("code") or "."), base_path)),
                                 scoring_script=str(cc.get("scoring_script")))
    instance_type = str(mapping.get("instance_type") or "local")
    if instance_type != "local":
        result.note("instance_type", f"{instance_type!r} {INSTANCE_TYPE_REASON}")
    rs = {k: int(v) for k, v in (mapping.get("request_settings") or {}).items()
          if k in ("request_timeout_ms", "max_concurrent_requests_per_instance", "max_queue_wait_ms")}
    for key in set(mapping.get("request_settings") or {}) - set(rs):
        result.note(f"request_settings.{key}", "is not used locally and is left out")
    if "max_body_bytes" in local:
        rs["max_body_bytes"] = int(local["max_body_bytes"])
    result.entity = ManagedOnlineDeployment(
        name=str(mapping.get("name") or ""), endpoint_name=str(mapping.get("endpoint_name") or ""),
        model=model, code_configuration=code, environment=strip_arm(environment),
        environment_variables={str(k): str(v) for k, v in (mapping.get("environment_variables") or {}).items()},
        instance_type=instance_type, instance_count=int(mapping.get("instance_count") or 1),
        request_settings=OnlineRequestSettings(**rs),
        liveness_probe=_probe(mapping.get("liveness_probe")), readiness_probe=_probe(mapping.get("readiness_probe")),
        description=mapping.get("description"), tags=tags)
    return result


def _probe(value: Mapping[str, Any] | None) -> ProbeSettings:
    keys = ("initial_delay", "period", "timeout", "success_threshold", "failure_threshold")
    return ProbeSettings(**{k: int(v) for k, v in (value or {}).items() if k in keys and v is not None})


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[ManagedOnlineDeployment]:
    """A studio_ext ``ManagedOnlineDeployment`` from azure-ai-ml's ``ManagedOnlineDeployment``."""
    mapping = azure_dict(obj, ("ManagedOnlineDeployment",), "online deployment")
    environment = getattr(obj, "environment", None)
    conda_path = getattr(environment, "_conda_file_path", None)
    if conda_path and isinstance(mapping.get("environment"), dict):
        mapping["environment"]["conda_file"] = os.fspath(conda_path)
    return from_v2(mapping, base_path)


def to_azure(deployment: ManagedOnlineDeployment) -> Any:
    """azure-ai-ml's ``ManagedOnlineDeployment``, loaded by ``azure.ai.ml.load_online_deployment``."""
    return azure_load("load_online_deployment", to_v2(deployment), "online deployment")


def to_yaml(deployment: ManagedOnlineDeployment) -> str:
    return dump(to_v2(deployment))
