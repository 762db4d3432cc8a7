"""Registered models: immutable, versioned files with their lineage and integrity manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from studio_ext.entities._enum import ValueEnum


class ModelType(ValueEnum):
    """Azure ML's model asset types that the local registry keeps."""

    MLFLOW = "mlflow_model"
    CUSTOM = "custom_model"


class Serialization(ValueEnum):
    """How a model's weights are stored, which decides whether loading it can run code."""

    SKOPS = "skops"  # typed; loads only the types it is told to trust
    PICKLE = "pickle"  # loading runs whatever the file says: an act of trust
    CLOUDPICKLE = "cloudpickle"
    NATIVE = "native"  # a library's own data format (XGBoost JSON, LightGBM text ...)
    NONE = "none"  # a custom model: the scoring script decides how to load it

    @property
    def runs_code_on_load(self) -> bool:
        return self in (Serialization.PICKLE, Serialization.CLOUDPICKLE)


@dataclass(kw_only=True)
class Model:
    """A model version, like ``azure.ai.ml.entities.Model``.

    ``path`` is where the files come from: ``runs:/<run id or job name>/model``,
    ``azureml://jobs/<job>/outputs/artifacts/paths/model/``, or a local file or folder.

    Loading some models runs code: a pickle (``allow_pickle=True`` says you trust
    its source) or a skops file holding types outside skops' safe list
    (``trusted_types=[...]`` names the ones you trust). Registering or listing
    never loads a model; only a deployment's server does, in its own process.

    With no ``name`` (``Model(path="model.pkl")``) it is an anonymous asset, as on Azure:
    the service names it from a hash of its files (``anonymous-<hash>``) and registers
    it once; the same files find the same model.
    """

    name: str = ""
    path: str | None = None
    version: str | None = None
    type: ModelType | str | None = None  # None: mlflow_model if the files hold an MLmodel
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    trusted_types: list[str] = field(default_factory=list)
    allow_pickle: bool = False
    # Filled in by the service.
    job_name: str | None = None
    run_id: str | None = None
    datasets: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> SHA-256
    flavors: list[str] = field(default_factory=list)
    serialization: Serialization = Serialization.NONE
    untrusted_types: list[str] = field(default_factory=list)
    signature: dict[str, Any] | None = None
    input_example: Any = None
    creation_time: datetime | None = None
    archived: bool = False
    uri: str | None = None  # where the registered copy of the files lives
    notes: list[str] = field(default_factory=list)  # Azure fields kept with no local meaning (AzureFieldNote)

    @property
    def id(self) -> str:
        """The reference deployments use: ``azureml:NAME:VERSION``."""
        return f"azureml:{self.name}:{self.version}"

    @property
    def needs_trust(self) -> list[str]:
        """Why loading this model would run code nobody vouched for (empty: safe to load)."""
        reasons = []
        if Serialization(self.serialization).runs_code_on_load and not self.allow_pickle:
            reasons.append(f"it is stored as a {self.serialization} (loading it runs code from the file)")
        missing = sorted(set(self.untrusted_types) - set(self.trusted_types))
        if missing:
            reasons.append(f"its skops file holds types outside skops' safe list: {', '.join(missing)}")
        return reasons
