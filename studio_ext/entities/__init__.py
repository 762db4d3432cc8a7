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
]
