"""Backends: where a workspace's services, stores and runtime come from.

A backend is an object that satisfies :class:`Backend`; the registry
(:func:`get_backend_factory`) picks its factory from the workspace's config, and the
``studio_ext.backends`` entry-point group lets another package add a kind.
:data:`SERVICE_PROTOCOLS` names the Protocol each service must implement.

``backends/local/`` is the embedded default (a workspace folder on this machine).
"""

from __future__ import annotations

from studio_ext.backends._protocol import Backend, BackendFactory, Runtime, RuntimeStatus
from studio_ext.backends._registry import (
    ENTRY_POINT_GROUP,
    backend_kinds,
    get_backend_factory,
    kind_of_config,
    register_backend,
    unregister_backend,
)
from studio_ext.services import (
    AutoMLOperations,
    BatchDeploymentOperations,
    BatchEndpointOperations,
    ComponentOperations,
    ComputeOperations,
    DataDriftOperations,
    DataOperations,
    DatastoreOperations,
    EnvironmentOperations,
    ExplanationOperations,
    FairnessOperations,
    JobOperations,
    ModelOperations,
    OnlineDeploymentOperations,
    OnlineEndpointOperations,
    PipelineOperations,
    PrivacyOperations,
    ScheduleOperations,
    SweepOperations,
)

# service name (as ``ws.<name>``) -> the Protocol its object implements, on every backend.
SERVICE_PROTOCOLS: dict[str, type] = {
    "compute": ComputeOperations,
    "jobs": JobOperations,
    "environments": EnvironmentOperations,
    "datastores": DatastoreOperations,
    "data": DataOperations,
    "models": ModelOperations,
    "automl": AutoMLOperations,
    "online_endpoints": OnlineEndpointOperations,
    "online_deployments": OnlineDeploymentOperations,
    "batch_endpoints": BatchEndpointOperations,
    "batch_deployments": BatchDeploymentOperations,
    "explanations": ExplanationOperations,
    "fairness": FairnessOperations,
    "privacy": PrivacyOperations,
    "sweeps": SweepOperations,
    "components": ComponentOperations,
    "pipelines": PipelineOperations,
    "schedules": ScheduleOperations,
    "data_drift": DataDriftOperations,
}

__all__ = [
    "ENTRY_POINT_GROUP",
    "SERVICE_PROTOCOLS",
    "Backend",
    "BackendFactory",
    "Runtime",
    "RuntimeStatus",
    "backend_kinds",
    "get_backend_factory",
    "kind_of_config",
    "register_backend",
    "unregister_backend",
]
