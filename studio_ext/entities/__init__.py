"""Plain dataclasses shared by every backend, as ``azure.ai.ml.entities``."""

from ._compute import (
    AmlCompute,
    AttachedCompute,
    CapacityWarning,
    Compute,
    ComputeInstance,
    ComputeNode,
    ComputeState,
    ComputeType,
)
from ._environment import Environment
from ._job import TERMINAL_STATES, CommandJob, Input, Job, JobStatus, Output
from ._model import Model, ModelType, Serialization
from ._endpoint import (
    CodeConfiguration,
    DeploymentState,
    EndpointAuthKeys,
    EndpointMetrics,
    KeyType,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    OnlineRequestSettings,
    ProbeSettings,
    ProvisioningState,
)

__all__ = [
    "AmlCompute",
    "AttachedCompute",
    "CapacityWarning",
    "Compute",
    "ComputeInstance",
    "ComputeNode",
    "ComputeState",
    "ComputeType",
    "CommandJob",
    "Environment",
    "Input",
    "Job",
    "JobStatus",
    "Output",
    "TERMINAL_STATES",
    "Model",
    "ModelType",
    "Serialization",
    "CodeConfiguration",
    "DeploymentState",
    "EndpointAuthKeys",
    "EndpointMetrics",
    "KeyType",
    "ManagedOnlineDeployment",
    "ManagedOnlineEndpoint",
    "OnlineRequestSettings",
    "ProbeSettings",
    "ProvisioningState",
]
