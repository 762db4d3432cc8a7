"""Compute: studio_ext ``AmlCompute`` / ``ComputeInstance`` <-> v2 ``amlCompute`` / ``computeInstance``.

Locally a cluster's nodes are Dask workers on this machine and an instance is this
machine, so a VM ``size`` and a ``tier`` (kept in the entity's fields of those names) and
network or identity settings (kept as ``azureml.*`` tags) are noted. An attached Dask scheduler
has no v2 form. ``ComputeInstance.max_concurrent_jobs`` has no v2 field: it travels as
the v2 tag ``studio_ext.max_concurrent_jobs``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from studio_ext.entities import AmlCompute, Compute, ComputeInstance
from studio_ext.errors import InvalidInput
from studio_ext.translation._common import (
    LOCAL_PREFIX,
    SCHEMA_ROOT,
    Translated,
    azure_dict,
    azure_load,
    class_path,
    dump,
    keep_rest,
    plain,
    put,
    restore,
    split_local,
)

SCHEMAS = {"amlcompute": SCHEMA_ROOT + "amlCompute.schema.json",
           "computeinstance": SCHEMA_ROOT + "computeInstance.schema.json"}
_HANDLED = {"name", "type", "description", "tags", "size", "tier", "min_instances", "max_instances",
            "idle_time_before_scale_down", "idle_time_before_shutdown_minutes", "provisioning_state",
            "id", "creation_context", "resource_id"}
# Fields azure-ai-ml writes with their default value: leaving them out loses nothing.
_DEFAULTS = {"enable_node_public_ip": True, "enable_sso": True, "enable_root_access": True,
             "release_quota_on_stop": False, "enable_os_patching": False}
_REASONS = {
    "identity": "locally the nodes run as the user who started the studio",
    "ssh_public_access_enabled": "there is no SSH into local nodes",
    "ssh_settings": "there is no SSH into local nodes",
    "network_settings": "local nodes need no virtual network",
    "location": "local compute is on this machine",
    "schedules": "start/stop schedules of an instance are not run locally",
    "setup_scripts": "an instance's setup scripts are not run locally",
    "create_on_behalf_of": "a local instance belongs to the user who started the studio",
}
SIZE_REASON = "is kept for Azure; locally {what}"
TIER_REASON = "low-priority (spot) VMs are Azure's; the local cluster is never preempted"


def to_v2(compute: Compute) -> dict[str, Any]:
    """The compute target as v2 ``amlCompute`` or ``computeInstance`` YAML's mapping."""
    if isinstance(compute, AmlCompute):
        out: dict[str, Any] = {"$schema": SCHEMAS["amlcompute"], "name": compute.name, "type": "amlcompute"}
        put(out, description=compute.description, size=compute.size,
            tier=compute.tier if compute.tier != "dedicated" else None)
        out.update(min_instances=compute.min_instances, max_instances=compute.max_instances,
                   idle_time_before_scale_down=int(round(compute.idle_time_before_scale_down)))
    elif isinstance(compute, ComputeInstance):
        out = {"$schema": SCHEMAS["computeinstance"], "name": compute.name, "type": "computeinstance"}
        put(out, description=compute.description, size=compute.size)
        if compute.idle_time_before_shutdown_minutes is not None:
            out["idle_time_before_shutdown_minutes"] = int(round(compute.idle_time_before_shutdown_minutes))
    else:
        raise InvalidInput(
            f"{class_path(compute)} has no Azure ML v2 form: an attached Dask scheduler is studio_ext's own. "
            "Export an AmlCompute or a ComputeInstance.")
    tags = restore(out, compute.tags, "tags")
    if isinstance(compute, ComputeInstance) and compute.max_concurrent_jobs is not None:
        out["tags"] = {**tags, LOCAL_PREFIX + "max_concurrent_jobs": str(compute.max_concurrent_jobs)}
    return out


def from_v2(mapping: Mapping[str, Any], base_path: str | os.PathLike[str] | None = None) -> Translated[Compute]:
    """A studio_ext ``AmlCompute`` or ``ComputeInstance`` from v2 compute YAML's mapping."""
    mapping = plain(mapping)
    kind = str(mapping.get("type", "")).lower()
    if kind not in SCHEMAS:
        raise InvalidInput(
            f"This translation takes a compute of type 'amlcompute' or 'computeinstance'. Got {kind!r}: other Azure "
            "compute (Kubernetes, Synapse Spark, a virtual machine) has no local form; attach a Dask scheduler "
            "with studio_ext's AttachedCompute instead.")
    result: Translated[Compute] = Translated(AmlCompute(name=""))
    tags, local = split_local(mapping.get("tags"))
    keep_rest(mapping, _HANDLED, tags, result, _REASONS, _DEFAULTS)
    size = mapping.get("size")
    name, description = str(mapping.get("name") or ""), mapping.get("description")
    if kind == "amlcompute":
        if size:
            result.note("size", f"{size!r} " + SIZE_REASON.format(what="each node is a Dask worker on this machine"))
        tier = str(mapping.get("tier") or "dedicated").lower()
        if tier != "dedicated":
            result.note("tier", f"{tier!r} is kept for Azure; {TIER_REASON}")
        result.entity = AmlCompute(
            name=name, description=description, tags=tags, size=size, tier=tier,
            min_instances=int(_given(mapping, "min_instances", 0)),
            max_instances=int(_given(mapping, "max_instances", 4)),  # azure-ai-ml's defaults, as studio_ext's
            idle_time_before_scale_down=float(_given(mapping, "idle_time_before_scale_down", 120)))
    else:
        if size:
            result.note("size", f"{size!r} " + SIZE_REASON.format(what="the instance is this machine"))
        idle = mapping.get("idle_time_before_shutdown_minutes")
        jobs = local.get("max_concurrent_jobs")
        result.entity = ComputeInstance(
            name=name, description=description, tags=tags, size=size,
            idle_time_before_shutdown_minutes=None if idle is None else float(idle),
            max_concurrent_jobs=None if jobs is None else int(jobs))
    return result


def _given(mapping: Mapping[str, Any], key: str, default: float) -> Any:
    value = mapping.get(key)
    return default if value is None else value


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[Compute]:
    """A studio_ext compute from azure-ai-ml's ``AmlCompute`` or ``ComputeInstance``."""
    return from_v2(azure_dict(obj, ("AmlCompute", "ComputeInstance"), "compute"), base_path)


def to_azure(compute: Compute) -> Any:
    """azure-ai-ml's ``AmlCompute`` or ``ComputeInstance``, loaded by ``azure.ai.ml.load_compute``."""
    return azure_load("load_compute", to_v2(compute), "compute")


def to_yaml(compute: Compute) -> str:
    return dump(to_v2(compute))
