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
from ._data import (
    ColumnProfile,
    ColumnSchema,
    ColumnType,
    Data,
    DataConsumer,
    DataProfile,
    Datastore,
    DatastoreType,
    DataType,
    DelimitedReadOptions,
    HeaderMode,
    SourcePreview,
)
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
    "ColumnProfile",
    "ColumnSchema",
    "ColumnType",
    "Data",
    "DataConsumer",
    "DataProfile",
    "Datastore",
    "DatastoreType",
    "DataType",
    "DelimitedReadOptions",
    "HeaderMode",
    "SourcePreview",
    "Environment",
    "Input",
    "Job",
    "JobStatus",
    "Output",
    "TERMINAL_STATES",
]
