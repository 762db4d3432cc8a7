"""What panels call: one Protocol per operation group, named like azure-ai-ml's MLClient.

Each backend provides a class per Protocol; panels and the CLI type against these
only, so they work on every backend.
"""

from ._automl import AutoMLOperations
from ._compute import ComputeOperations
from ._data import DataOperations, DatastoreOperations
from ._endpoints import OnlineDeploymentOperations, OnlineEndpointOperations
from ._insights import ExplanationOperations, FairnessOperations
from ._jobs import EnvironmentOperations, JobOperations
from ._models import ModelOperations

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
