"""Online deployments: studio_ext ``ManagedOnlineDeployment`` <-> v2 ``managedOnlineDeployment`` <-> azure-ai-ml.

A model or environment given inline becomes a studio_ext entity in
``Translated.requires`` that the deployment names. ``instance_type`` is kept in the
field of the same name (locally every instance is a server process on this machine).
``OnlineRequestSettings.max_body_bytes`` has no v2 field: it travels as the v2 tag
``studio_ext.max_body_bytes``. ``data_collector`` travels field for field (collections with
``enabled``, ``data`` and ``client_id``; ``sampling_rate``, ``rolling_rate``, ``request_logging``);
``client_id`` is kept with a note, since a local collection writes as the workspace.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from studio_ext.entities import (
    CodeConfiguration,
    DataCollector,
    DeploymentCollection,
    ManagedOnlineDeployment,
    OnlineRequestSettings,
    ProbeSettings,
    RequestLogging,
)
from studio_ext.errors import InvalidInput
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
    str_map,
    strip_arm,
)

SCHEMA = SCHEMA_ROOT + "managedOnlineDeployment.schema.json"
_HANDLED = {"name", "endpoint_name", "description", "tags", "model", "code_configuration", "environment",
            "environment_variables", "instance_type", "instance_count", "request_settings", "liveness_probe",
            "readiness_probe", "type", "provisioning_state", "id", "creation_context", "data_collector"}
_DEFAULTS = {"app_insights_enabled": False, "egress_public_network_access": "enabled"}
_REASONS = {"app_insights_enabled": "local request telemetry is always on (ws.online_endpoints.get_metrics)",
            "scale_settings": "local deployments run instance_count servers, without autoscale",
            "egress_public_network_access": "local servers use this machine's network",
            "properties": "the studio_ext entity has no properties of its own"}
_REQUEST_DEFAULTS = OnlineRequestSettings()
ROLLING_RATES = ("minute", "hour", "day")
INSTANCE_TYPE_REASON = "is kept for Azure; locally each instance is a server process on this machine"


def to_v2(deployment: ManagedOnlineDeployment) -> dict[str, Any]:
    """The deployment as v2 ``managedOnlineDeployment`` YAML's mapping."""
    out: dict[str, Any] = {"$schema": SCHEMA, "name": deployment.name, "endpoint_name": deployment.endpoint_name}
    put(out, description=deployment.description)
    tags = restore(out, deployment.tags, "tags")
    if deployment.model is not None:
        out["model"] = model_kind.field_to_v2(deployment.model)
    if deployment.code_configuration is not None:
        out["code_configuration"] = {"code": deployment.code_configuration.code,
                                     "scoring_script": deployment.code_configuration.scoring_script}
    put(out, environment=arm(deployment.environment),
        environment_variables=str_map(deployment.environment_variables))
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
    if deployment.data_collector is not None:
        out["data_collector"] = collector_to_v2(deployment.data_collector)
    return out


def collector_to_v2(collector: DataCollector) -> dict[str, Any]:
    """A ``DataCollector`` as v2 YAML's ``data_collector`` mapping."""
    collections: dict[str, Any] = {}
    for name, collection in collector.collections.items():
        # as given (True/"True" -> "true"); a value that is neither is refused by collector_from_v2
        item: dict[str, Any] = {"enabled": "false" if collection.enabled is None else str(collection.enabled).lower()}
        put(item, data=collection.data, client_id=collection.client_id)
        collections[str(name)] = item
    out: dict[str, Any] = {"collections": collections}
    put(out, rolling_rate=collector.rolling_rate, sampling_rate=collector.sampling_rate)
    if collector.request_logging is not None and collector.request_logging.capture_headers:
        out["request_logging"] = {"capture_headers": list(collector.request_logging.capture_headers)}
    return out


def collector_from_v2(value: Any, result: Translated[Any] | None = None) -> DataCollector:
    """v2 YAML's ``data_collector`` mapping as a ``DataCollector`` (Azure's checks: enabled, rate, rolling)."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"data_collector must be a mapping with 'collections'. Got {value!r} instead.")
    given = value.get("collections") or {}
    if not isinstance(given, Mapping):
        raise InvalidInput("data_collector.collections must map a collection name (model_inputs, model_outputs, ...) "
                           f"to {{enabled: 'true'}}. Got {given!r} instead.")
    collections: dict[str, DeploymentCollection] = {}
    for name, item in given.items():
        item = item or {}
        if not isinstance(item, Mapping):
            raise InvalidInput(f"data_collector.collections.{name} must be a mapping such as {{enabled: 'true'}}.")
        enabled = str(item.get("enabled", "")).lower()
        if enabled not in ("true", "false"):
            raise InvalidInput(f"data_collector.collections.{name}.enabled must be 'true' or 'false'. "
                               f"Got {item.get('enabled')!r} instead.")
        data = item.get("data")
        if isinstance(data, Mapping):  # Azure's DataAsset: name/version/path/data_id
            data = data.get("data_id") or (f"azureml:{data['name']}:{data['version']}" if data.get("name") and
                                           data.get("version") else data.get("name"))
        client_id = item.get("client_id")
        if client_id and result is not None:
            result.note(f"data_collector.collections.{name}.client_id",
                        "is kept for Azure; locally the collection is written by the deployment's server")
        collections[str(name)] = DeploymentCollection(enabled=enabled, data=str(data) if data else None,
                                                      client_id=str(client_id) if client_id else None)
    rate = value.get("sampling_rate")
    if rate is not None:
        try:
            rate = float(rate)
        except (TypeError, ValueError):
            rate = -1.0
        if not 0.0 <= rate <= 1.0:
            raise InvalidInput("data_collector.sampling_rate must be a number from 0.0 to 1.0 (the share of "
                               f"requests collected). Got {value.get('sampling_rate')!r} instead.")
    rolling = value.get("rolling_rate")
    if rolling is not None and str(rolling).lower() not in ROLLING_RATES:
        raise InvalidInput(f"data_collector.rolling_rate must be one of {', '.join(ROLLING_RATES)}. Got {rolling!r} instead.")
    logging_ = value.get("request_logging")
    headers = (logging_ or {}).get("capture_headers") if isinstance(logging_, Mapping) else None
    return DataCollector(collections=collections, sampling_rate=rate,
                         rolling_rate=str(rolling).lower() if rolling is not None else None,
                         request_logging=RequestLogging(capture_headers=[str(h) for h in headers]) if headers else None)


def from_v2(mapping: Mapping[str, Any],
            base_path: str | os.PathLike[str] | None = None) -> Translated[ManagedOnlineDeployment]:
    """A studio_ext ``ManagedOnlineDeployment`` from v2 ``managedOnlineDeployment`` YAML's mapping."""
    mapping = plain(mapping)
    result: Translated[ManagedOnlineDeployment] = Translated(ManagedOnlineDeployment(name="", endpoint_name=""))
    tags, local = split_local(mapping.get("tags"))
    keep_rest(mapping, _HANDLED, tags, result, _REASONS, _DEFAULTS)
    model = model_kind.field_from_v2(mapping.get("model"), base_path, result)
    environment = environment_kind.field_from_v2(mapping.get("environment"), base_path, result)
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
        environment_variables=str_map(mapping.get("environment_variables")),
        instance_type=instance_type, instance_count=int(mapping.get("instance_count") or 1),
        request_settings=OnlineRequestSettings(**rs),
        liveness_probe=_probe(mapping.get("liveness_probe")), readiness_probe=_probe(mapping.get("readiness_probe")),
        data_collector=collector_from_v2(mapping["data_collector"], result) if mapping.get("data_collector") else None,
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
    collector = getattr(obj, "data_collector", None)
    if collector is not None and isinstance(mapping.get("data_collector"), dict):
        # azure-ai-ml's _to_dict dumps a collection's data given as a string as {}: take it from the object
        for name, collection in (getattr(collector, "collections", None) or {}).items():
            data = getattr(collection, "data", None)
            item = mapping["data_collector"].get("collections", {}).get(name)
            if isinstance(item, dict) and data is not None:
                item["data"] = data if isinstance(data, str) else {
                    k: getattr(data, k, None) for k in ("data_id", "name", "version", "path")}
    return from_v2(mapping, base_path)


def to_azure(deployment: ManagedOnlineDeployment) -> Any:
    """azure-ai-ml's ``ManagedOnlineDeployment``, loaded by ``azure.ai.ml.load_online_deployment``."""
    return azure_load("load_online_deployment", to_v2(deployment), "online deployment")


def to_yaml(deployment: ManagedOnlineDeployment) -> str:
    return dump(to_v2(deployment))
