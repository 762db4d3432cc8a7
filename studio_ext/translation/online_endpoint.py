"""Online endpoints: studio_ext ``ManagedOnlineEndpoint`` <-> v2 ``managedOnlineEndpoint`` <-> azure-ai-ml."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from studio_ext.entities import ManagedOnlineEndpoint
from studio_ext.translation._common import (
    SCHEMA_ROOT,
    Translated,
    azure_dict,
    azure_load,
    dump,
    keep_rest,
    plain,
    put,
    restore,
    str_map,
)

SCHEMA = SCHEMA_ROOT + "managedOnlineEndpoint.schema.json"
_HANDLED = {"name", "description", "tags", "auth_mode", "traffic", "mirror_traffic", "scoring_uri",
            "openapi_uri", "provisioning_state", "id", "creation_context", "kind"}
_DEFAULTS = {"public_network_access": "enabled"}
_REASONS = {"identity": "locally the endpoint's servers run as the user who started the studio",
            "public_network_access": "local endpoints listen on this machine only",
            "location": "local endpoints are on this machine",
            "properties": "the studio_ext entity has no properties of its own"}


def to_v2(endpoint: ManagedOnlineEndpoint) -> dict[str, Any]:
    """The endpoint as v2 ``managedOnlineEndpoint`` YAML's mapping."""
    out: dict[str, Any] = {"$schema": SCHEMA, "name": endpoint.name, "auth_mode": endpoint.auth_mode}
    put(out, description=endpoint.description)
    restore(out, endpoint.tags, "tags")
    put(out, traffic=dict(endpoint.traffic), mirror_traffic=dict(endpoint.mirror_traffic))
    return out


def from_v2(mapping: Mapping[str, Any],
            base_path: str | os.PathLike[str] | None = None) -> Translated[ManagedOnlineEndpoint]:
    """A studio_ext ``ManagedOnlineEndpoint`` from v2 ``managedOnlineEndpoint`` YAML's mapping."""
    mapping = plain(mapping)
    result: Translated[ManagedOnlineEndpoint] = Translated(ManagedOnlineEndpoint(name=""))
    tags = str_map(mapping.get("tags"))
    keep_rest(mapping, _HANDLED, tags, result, _REASONS, _DEFAULTS)
    auth_mode = str(mapping.get("auth_mode") or "key")
    if auth_mode != "key":
        result.note("auth_mode", f"{auth_mode!r} is kept, but local endpoints take keys only: the local service "
                    "refuses it; use auth_mode='key' to run it here")
    result.entity = ManagedOnlineEndpoint(
        name=str(mapping.get("name") or ""), auth_mode=auth_mode, description=mapping.get("description"), tags=tags,
        traffic={str(k): int(v) for k, v in (mapping.get("traffic") or {}).items()},
        mirror_traffic={str(k): int(v) for k, v in (mapping.get("mirror_traffic") or {}).items()})
    return result


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[ManagedOnlineEndpoint]:
    """A studio_ext ``ManagedOnlineEndpoint`` from azure-ai-ml's ``ManagedOnlineEndpoint``."""
    return from_v2(azure_dict(obj, ("ManagedOnlineEndpoint",), "online endpoint"), base_path)


def to_azure(endpoint: ManagedOnlineEndpoint) -> Any:
    """azure-ai-ml's ``ManagedOnlineEndpoint``, loaded by ``azure.ai.ml.load_online_endpoint``."""
    return azure_load("load_online_endpoint", to_v2(endpoint), "online endpoint")


def to_yaml(endpoint: ManagedOnlineEndpoint) -> str:
    return dump(to_v2(endpoint))
