"""Batch endpoints: studio_ext ``BatchEndpoint`` <-> v2 ``batchEndpoint`` <-> azure-ai-ml.

``defaults.deployment_name`` travels both ways (azure-ai-ml keeps ``defaults`` as a dict,
or a REST ``BatchEndpointDefaults``, and also takes ``default_deployment_name``). Azure's
batch endpoints take Entra ID tokens only (``auth_mode: aad_token``); a local one takes
its keys, so ``auth_mode`` is read as ``key`` and not written back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from studio_ext.entities import BatchEndpoint, BatchEndpointDefaults
from studio_ext.translation._common import (
    SCHEMA_ROOT,
    Translated,
    azure_load,
    check_type,
    dump,
    keep_rest,
    plain,
    put,
    restore,
    str_map,
)

SCHEMA = SCHEMA_ROOT + "batchEndpoint.schema.json"
_HANDLED = {"name", "description", "tags", "properties", "defaults", "default_deployment_name", "auth_mode",
            "scoring_uri", "openapi_uri", "provisioning_state", "id", "creation_context", "type"}
_REASONS = {"location": "local batch endpoints are on this machine",
            "identity": "locally an invocation runs as the user who started the studio"}
_AUTH_MODES = ("aad_token", "key")


def to_v2(endpoint: BatchEndpoint) -> dict[str, Any]:
    """The endpoint as v2 ``batchEndpoint`` YAML's mapping."""
    out: dict[str, Any] = {"$schema": SCHEMA, "name": endpoint.name}
    put(out, description=endpoint.description)
    restore(out, endpoint.tags, "tags")
    put(out, properties=dict(endpoint.properties))
    default = default_deployment(endpoint.defaults)
    if default:
        out["defaults"] = {"deployment_name": default}
    return out


def from_v2(mapping: Mapping[str, Any], base_path: str | os.PathLike[str] | None = None) -> Translated[BatchEndpoint]:
    """A studio_ext ``BatchEndpoint`` from v2 ``batchEndpoint`` YAML's mapping."""
    mapping = plain(mapping)
    result: Translated[BatchEndpoint] = Translated(BatchEndpoint(name=""))
    tags = str_map(mapping.get("tags"))
    keep_rest(mapping, _HANDLED, tags, result, _REASONS)
    auth_mode = str(mapping.get("auth_mode") or "aad_token")
    if auth_mode not in _AUTH_MODES:
        result.note("auth_mode", f"{auth_mode!r} is not a batch endpoint's; a local one takes its keys")
    default = default_deployment(mapping.get("defaults")) or mapping.get("default_deployment_name")
    result.entity = BatchEndpoint(
        name=str(mapping.get("name") or ""), description=mapping.get("description"), tags=tags,
        properties=str_map(mapping.get("properties")),
        defaults=BatchEndpointDefaults(deployment_name=str(default) if default else None))
    return result


def default_deployment(defaults: Any) -> str | None:
    """The default deployment's name from a ``BatchEndpointDefaults``, a dict (either case) or a REST object."""
    if defaults is None:
        return None
    if isinstance(defaults, Mapping):
        value = defaults.get("deployment_name") or defaults.get("deploymentName")
    else:
        value = getattr(defaults, "deployment_name", None)
    return str(value) if value else None


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[BatchEndpoint]:
    """A studio_ext ``BatchEndpoint`` from azure-ai-ml's ``BatchEndpoint`` (read field by field)."""
    import azure.ai.ml.entities as aml

    check_type(obj, (aml.BatchEndpoint,), "batch endpoint")
    mapping: dict[str, Any] = {
        "name": obj.name, "description": obj.description, "tags": dict(obj.tags or {}),
        "properties": dict(obj.properties or {}), "auth_mode": getattr(obj, "auth_mode", None),
        "defaults": {"deployment_name": default_deployment(getattr(obj, "defaults", None))}}
    return from_v2(mapping, base_path)


def to_azure(endpoint: BatchEndpoint) -> Any:
    """azure-ai-ml's ``BatchEndpoint``, loaded by ``azure.ai.ml.load_batch_endpoint``."""
    return azure_load("load_batch_endpoint", to_v2(endpoint), "batch endpoint")


def to_yaml(endpoint: BatchEndpoint) -> str:
    return dump(to_v2(endpoint))
