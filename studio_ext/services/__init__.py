"""What panels call: one Protocol per operation group, named like azure-ai-ml's MLClient.

Each backend provides a class per Protocol; panels and the CLI type against these
only, so they work on every backend. A local class names its Protocol as a base, and
the type checker (``make typecheck``) refuses one that misses a method or changes a
signature. A Protocol states a contract every backend can keep: a method here has a
meaning on every backend (where a backend has nothing to do, its docstring says what
it returns), and a backend's own conveniences stay on its class.
"""

from studio_ext.services._automl import AutoMLCheck, AutoMLOperations, AutoMLReport
from studio_ext.services._batch import BatchDeploymentOperations, BatchEndpointOperations
from studio_ext.services._components import ComponentOperations, PipelineOperations
from studio_ext.services._compute import ComputeOperations
from studio_ext.services._data import DataOperations, DatastoreOperations
from studio_ext.services._endpoints import OnlineDeploymentOperations, OnlineEndpointOperations, ScoringService
from studio_ext.services._insights import ExplanationOperations, FairnessOperations
from studio_ext.services._jobs import EnvironmentOperations, JobOperations
from studio_ext.services._models import ModelOperations
from studio_ext.services._monitors import DataDriftOperations
from studio_ext.services._privacy import PrivacyOperations
from studio_ext.services._schedules import ScheduleOperations
from studio_ext.services._sweeps import SweepOperations

__all__ = [
    "AutoMLCheck",
    "AutoMLOperations",
    "AutoMLReport",
    "BatchDeploymentOperations",
    "BatchEndpointOperations",
    "ComponentOperations",
    "ComputeOperations",
    "DataDriftOperations",
    "DataOperations",
    "DatastoreOperations",
    "EnvironmentOperations",
    "ExplanationOperations",
    "FairnessOperations",
    "JobOperations",
    "ModelOperations",
    "OnlineDeploymentOperations",
    "OnlineEndpointOperations",
    "PipelineOperations",
    "PrivacyOperations",
    "ScheduleOperations",
    "ScoringService",
    "SweepOperations",
]
