from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from studio_ext.entities._component import CommandComponent
from studio_ext.entities._pipeline import PipelineJob

if TYPE_CHECKING:  # pragma: no cover  (azure-ai-ml's objects are taken too: translated at the service's entry)
    import azure.ai.ml.entities as aml


@runtime_checkable
class ComponentOperations(Protocol):
    """``ws.components``: command and pipeline components, registered and versioned, as ``MLClient.components``.

    A registered component keeps a snapshot of its code (its content hash in ``code_hash``), so a
    pipeline step that names it (``azureml:NAME:VERSION``) runs the code it was registered with.
    """

    def create_or_update(self, component: CommandComponent | aml.CommandComponent, *,
                         version: str | None = None) -> CommandComponent:
        """Register a component (a studio_ext one or azure-ai-ml's ``load_component(...)``; a pipeline component,
        such as a pipeline job's ``.component``, registers its steps and typed inputs): the version given,
        or the next one. The same name and version again is refused unless nothing in it changed."""

    def get(self, name: str, version: str | None = None, label: str | None = None) -> CommandComponent:
        """A version of a component (``label="latest"`` or no version: the newest)."""

    def list(self, name: str | None = None) -> builtins.list[CommandComponent]:
        """Every component's newest version, or every version of ``name``."""


@runtime_checkable
class PipelineOperations(Protocol):
    """``ws.pipelines``: pipeline jobs (submitted through ``ws.jobs.create_or_update`` as on Azure).

    A pipeline's steps run as its child jobs (``ws.jobs.list(parent_job_name=...)``); ``get`` returns
    the pipeline with each step's state (``step_status``) and run (``step_jobs``).
    """

    def create_or_update(self, job: PipelineJob, *, parent_job_name: str | None = None) -> PipelineJob:
        """Check the whole pipeline (nothing is written on bad input) and record it; the runtime runs it."""

    def get(self, name: str) -> PipelineJob:
        """The pipeline with its status, its steps (each with its state) and its step runs' names."""
