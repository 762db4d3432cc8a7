"""Batch endpoints and their deployments, named as in ``azure.ai.ml.entities``.

A :class:`BatchEndpoint` is a stable name (and invocation URI) in front of deployments;
``defaults.deployment_name`` is the one an invocation runs when none is named (the first
deployment created becomes it, as on Azure). A :class:`ModelBatchDeployment` scores files
or tables with a model (and, for a custom model, a scoring script with ``init()`` and
``run(mini_batch)``) in mini-batches; a :class:`PipelineComponentBatchDeployment` runs a
pipeline component (a published pipeline) with the request's inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from studio_ext.entities._component import PipelineComponent
from studio_ext.entities._endpoint import CodeConfiguration, ProvisioningState
from studio_ext.entities._enum import ValueEnum
from studio_ext.entities._environment import Environment
from studio_ext.entities._model import Model


class BatchDeploymentOutputAction(ValueEnum):
    """What a model batch deployment writes: each run's rows appended to one file, or a summary only."""

    APPEND_ROW = "append_row"
    SUMMARY_ONLY = "summary_only"


@dataclass(kw_only=True)
class BatchRetrySettings:
    """How often a failed mini-batch is retried, and how long (seconds) one may run before it counts as failed."""

    max_retries: int = 3
    timeout: int = 30


@dataclass(kw_only=True)
class ModelBatchDeploymentSettings:
    """How a model batch deployment scores, with Azure ML's defaults.

    ``mini_batch_size`` files (file inputs) or rows (tabular inputs) per ``run`` call;
    ``instance_count`` nodes of the compute × ``max_concurrency_per_instance`` processes;
    ``error_threshold`` failed items the job tolerates (-1: any number).
    """

    instance_count: int = 1
    max_concurrency_per_instance: int = 1
    mini_batch_size: int = 10
    output_action: BatchDeploymentOutputAction = BatchDeploymentOutputAction.APPEND_ROW
    output_file_name: str = "predictions.csv"
    retry_settings: BatchRetrySettings = field(default_factory=BatchRetrySettings)
    error_threshold: int = -1
    logging_level: str = "info"
    environment_variables: dict[str, str] = field(default_factory=dict)


@dataclass(kw_only=True)
class BatchEndpointDefaults:
    """What an invocation uses when it names nothing: the default deployment."""

    deployment_name: str | None = None


@dataclass(kw_only=True)
class BatchEndpoint:
    """A batch endpoint: a name, its deployments, and the default one an invocation runs."""

    name: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    defaults: BatchEndpointDefaults = field(default_factory=BatchEndpointDefaults)
    auth_mode: str = "key"
    # Filled in by the service.
    scoring_uri: str | None = None  # where invocations are POSTed (the local endpoint router)
    openapi_uri: str | None = None
    provisioning_state: ProvisioningState | None = None
    creation_time: datetime | None = None
    notes: list[str] = field(default_factory=list)  # Azure fields kept with no local meaning (AzureFieldNote)

    @property
    def default_deployment_name(self) -> str | None:
        return self.defaults.deployment_name


@dataclass(kw_only=True)
class BatchDeployment:
    """What every batch deployment has: its name, its endpoint, a description and tags."""

    name: str
    endpoint_name: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    # Filled in by the service.
    provisioning_state: ProvisioningState | None = None
    creation_time: datetime | None = None
    notes: list[str] = field(default_factory=list)  # Azure fields kept with no local meaning (AzureFieldNote)

    @property
    def type(self) -> str:
        """'model' or 'pipeline', as azure-ai-ml's deployment kinds; each subclass says which."""
        raise TypeError(f"{type(self).__name__} is the base of the batch deployments; "
                        "use ModelBatchDeployment or PipelineComponentBatchDeployment.")


@dataclass(kw_only=True)
class ModelBatchDeployment(BatchDeployment):
    """A model scored in mini-batches on a compute.

    ``model`` is a ``Model`` or ``"azureml:name:version"`` (``"azureml:name@latest"``); an
    MLflow model needs no ``code_configuration`` (predictions are appended per row with the
    file they came from); a custom model needs a scoring script with ``init()`` and
    ``run(mini_batch)``. ``compute`` names a compute target (``None``: the local machine).
    """

    model: Model | str | None = None
    code_configuration: CodeConfiguration | None = None
    environment: Environment | str | None = None
    compute: str | None = None
    settings: ModelBatchDeploymentSettings = field(default_factory=ModelBatchDeploymentSettings)

    @property
    def type(self) -> str:
        """Azure's batch deployment type: ``"model"``."""
        return "model"


@dataclass(kw_only=True)
class PipelineComponentBatchDeployment(BatchDeployment):
    """A pipeline component (a published pipeline) run with the request's inputs.

    ``component`` is a ``PipelineComponent`` or ``"azureml:name:version"``; ``settings``
    are the pipeline job's settings (``default_compute``, ``continue_on_step_failure``,
    ``force_rerun`` ...), as strings, as on Azure.
    """

    component: PipelineComponent | str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    job_definition: dict[str, Any] | None = None

    @property
    def type(self) -> str:
        """Azure's batch deployment type: ``"pipeline"``."""
        return "pipeline"


@dataclass(kw_only=True)
class BatchJobError:
    """One failed mini-batch of a model batch deployment's job: its items, its last error and its tries.

    ``ws.batch_endpoints.list_errors(endpoint, job)`` lists them, as Azure's batch job shows its
    failed items under the job's outputs and logs (``logs/user/error``). ``kind`` is how the
    last try ended: ``raised`` (``run()`` raised), ``timeout`` or ``worker_lost``;
    ``attempts`` holds every try (``attempt``, ``kind``, ``error``, ``worker``, ``seconds``).
    """

    mini_batch: int
    items: list[str] = field(default_factory=list)
    error: str = ""
    tries: int = 0
    kind: str = "raised"
    attempts: list[dict[str, Any]] = field(default_factory=list)
