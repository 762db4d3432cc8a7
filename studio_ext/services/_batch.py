"""``ws.batch_endpoints`` and ``ws.batch_deployments``: batch endpoints, as azure-ai-ml's MLClient."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from studio_ext._poller import Poller
from studio_ext.entities import (
    BatchDeployment,
    BatchEndpoint,
    BatchJobError,
    EndpointAuthKeys,
    Input,
    Job,
    KeyType,
    ModelBatchDeployment,
    PipelineComponentBatchDeployment,
)

if TYPE_CHECKING:  # pragma: no cover  (azure-ai-ml's objects are taken too: translated at the service's entry)
    import azure.ai.ml.entities as aml


@runtime_checkable
class BatchEndpointOperations(Protocol):
    """``ws.batch_endpoints``: batch endpoints, their keys, and their invocations (jobs)."""

    def begin_create_or_update(self, endpoint: BatchEndpoint | aml.BatchEndpoint) -> Poller[BatchEndpoint]:
        """Create the endpoint or update its description, tags and default deployment."""

    def get(self, name: str) -> BatchEndpoint: ...

    def list(self) -> builtins.list[BatchEndpoint]: ...

    def begin_delete(self, name: str) -> Poller[str]:
        """Delete the endpoint and its deployments (its past jobs stay, as on Azure)."""

    def invoke(
        self,
        endpoint_name: str,
        *,
        deployment_name: str | None = None,
        input: Input | Any = None,  # noqa: A002  (azure-ai-ml's keyword)
        inputs: dict[str, Input | Any] | None = None,
        outputs: dict[str, Any] | None = None,
        params_override: builtins.list[dict[str, Any]] | None = None,
        experiment_name: str | None = None,
        **kwargs: Any,
    ) -> Job:
        """Start a batch job on ``deployment_name`` (the endpoint's default when None); return the job.

        A model deployment scores ``input`` (or its one input under any name); its predictions are
        the job's output ``score`` (``ws.jobs.download(job.name, output_name="score")``). A
        pipeline component deployment runs its component with ``inputs``.
        """

    def list_jobs(self, endpoint_name: str) -> builtins.list[Job]:
        """The endpoint's invocations, newest first."""

    def list_errors(self, endpoint_name: str, job_name: str) -> builtins.list[BatchJobError]:
        """The failed mini-batches of one of the endpoint's jobs (items, last error, tries), in mini-batch order.

        Empty while the job has none, or before its scoring step has written them; a pipeline
        deployment's job has none (its failed steps say why in the job's error).
        """

    def get_keys(self, name: str) -> EndpointAuthKeys: ...

    def consume_snippets(self, name: str) -> dict[str, str]:
        """Client code invoking the endpoint's default deployment: ``{"curl": ..., "Python (requests)": ...,
        "azure-ai-ml": ...}`` (the key read from ``$BATCH_ENDPOINT_KEY``)."""

    def begin_regenerate_keys(self, name: str, *, key_type: str | KeyType = KeyType.PRIMARY) -> Poller[EndpointAuthKeys]: ...


@runtime_checkable
class BatchDeploymentOperations(Protocol):
    """``ws.batch_deployments``: the deployments behind batch endpoints."""

    def begin_create_or_update(
        self,
        deployment: ModelBatchDeployment | PipelineComponentBatchDeployment | aml.BatchDeployment
        | aml.ModelBatchDeployment | aml.PipelineComponentBatchDeployment,
    ) -> Poller[BatchDeployment]:
        """Create or replace a deployment (checked and frozen at create: model, code snapshot, settings)."""

    def get(self, name: str, endpoint_name: str) -> BatchDeployment: ...

    def list(self, endpoint_name: str) -> builtins.list[BatchDeployment]: ...

    def begin_delete(self, name: str, endpoint_name: str) -> Poller[str]: ...

    def list_jobs(self, endpoint_name: str, *, name: str | None = None) -> builtins.list[Job]:
        """The jobs of deployment ``name`` (all of the endpoint's when None), newest first."""
