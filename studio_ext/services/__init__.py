"""What panels call: one Protocol per operation group, named like azure-ai-ml's MLClient.

Each backend provides a class per Protocol; panels and the CLI type against these
only, so they work on every backend.
"""

from studio_ext.services._automl import AutoMLOperations
from studio_ext.services._compute import ComputeOperations
from studio_ext.services._data import DataOperations, DatastoreOperations
from studio_ext.services._endpoints import OnlineDeploymentOperations, OnlineEndpointOperations
from studio_ext.services._insights import ExplanationOperations, FairnessOperations
from studio_ext.services._jobs import EnvironmentOperations, JobOperations
from studio_ext.services._models import ModelOperations

__all__ = [
    "AutoMLOperations",
    "ComputeOperations",
    "DataOperations",
    "DatastoreOperations",
    "EnvironmentOperations",
    "ExplanationOperations",
    "FairnessOperations",
    "JobOperations",
    "ModelOperations",
    "OnlineDeploymentOperations",
    "OnlineEndpointOperations",
]
