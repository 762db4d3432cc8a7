from __future__ import annotations

import builtins
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO, runtime_checkable

from studio_ext._poller import Poller
from studio_ext.entities import CommandJob, Environment, Job, JobStatus
from studio_ext.entities._automl import AutoMLJob
from studio_ext.entities._run import (
    ArtifactContent,
    ArtifactInfo,
    ExperimentSummary,
    LogTail,
    MetricHistory,
    RunColumns,
    RunLineage,
    RunPage,
    RunSummary,
    RunView,
)
from studio_ext.entities._sweep import SweepJob

if TYPE_CHECKING:  # pragma: no cover  (azure-ai-ml's objects are taken too: translated at the service's entry)
    import azure.ai.ml.entities as aml


@runtime_checkable
class JobOperations(Protocol):
    """``ws.jobs``: submit, watch, cancel and list jobs and runs."""

    def create_or_update(
        self,
        job: CommandJob | AutoMLJob | SweepJob | aml.Job,
        *,
        description: str | None = None,
        compute: str | None = None,
        tags: dict[str, str] | None = None,
        experiment_name: str | None = None,
        parent_job_name: str | None = None,
    ) -> Job:
        """Submit a job: studio_ext.command(...) or an AutoML job, or azure-ai-ml's command(...), CommandJob or
        azure.ai.ml.automl job.

        ``description``, ``compute``, ``tags`` and ``experiment_name``, when given, replace the job's own, as
        ``MLClient.jobs.create_or_update`` does.
        """

    def to_yaml(self, job: Job) -> str:
        """Azure ML v2 YAML of a command or AutoML job (``az ml job create --file``, ``azure.ai.ml.load_job``)."""

    def get(self, name: str) -> Job: ...

    def list(
        self,
        experiment_name: str | None = None,
        *,
        parent_job_name: str | None = None,
        status: str | JobStatus | None = None,
        include_interactive: bool = True,
        max_results: int | None = None,
    ) -> builtins.list[Job]: ...

    def list_experiments(self) -> builtins.list[str]: ...

    def stream(self, name: str, *, out: TextIO | None = None, poll: float = 0.2, timeout: float | None = None) -> Job: ...

    def get_logs(self, name: str, tail: int | None = None) -> str: ...

    def write_logs(self, name: str, out: TextIO, tail: int | None = None) -> None:
        """Write the log (or its last ``tail`` lines) to ``out`` piece by piece: memory stays flat."""

    def begin_cancel(self, name: str) -> Poller[Job]: ...

    def update_tags(self, name: str, tags: dict[str, str], remove: builtins.list[str] | None = None) -> Job: ...

    def archive(self, name: str) -> None: ...

    def restore(self, name: str) -> None: ...

    def download(self, name: str, download_path: str | os.PathLike[str] = ".", *, output_name: str | None = None,
                 all: bool = False, artifact_path: str | None = None) -> Path:  # noqa: A002 - azure-ai-ml's name
        """The job's files, laid out as azure-ai-ml's: ``artifacts/`` and ``named-outputs/NAME/``."""

    # -- the run explorer (MLflow-like names) --
    def search(
        self,
        experiment_names: Iterable[str] | str | None = None,
        *,
        filter: str | None = None,  # noqa: A002
        order_by: Iterable[str] | str | None = None,
        search_text: str | None = None,
        status: str | JobStatus | Iterable[str | JobStatus] | None = None,
        archived: bool | None = False,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> RunPage: ...

    def experiments(self, *, include_archived: bool = False) -> builtins.list[ExperimentSummary]: ...

    def run_columns(self, experiment_names: Iterable[str] | str | None = None) -> RunColumns: ...

    def run_summary(self, name: str) -> RunSummary: ...

    def get_metric_history(self, name: str, key: str, *, max_points: int | None = None) -> MetricHistory: ...

    def list_artifacts(self, name: str, path: str = "") -> builtins.list[ArtifactInfo]: ...

    def read_artifact(self, name: str, path: str, *, max_bytes: int = 1_000_000) -> ArtifactContent: ...

    def tail_log(self, name: str, *, max_bytes: int = 64_000) -> LogTail: ...

    def get_lineage(self, name: str) -> RunLineage: ...

    def resubmit(self, name: str, *, inputs: dict[str, Any] | None = None, display_name: str | None = None,
                 tags: dict[str, str] | None = None, experiment_name: str | None = None) -> Job: ...

    def get_run_view(self, experiment_name: str) -> RunView:
        """The saved view of an experiment's runs table (an empty RunView when none was saved)."""
        ...

    def save_run_view(self, experiment_name: str, view: RunView) -> RunView:
        """Save the runs table's view of an experiment (checked as ``search`` checks its arguments)."""
        ...

    def run_index_pending(self) -> int:
        """How many runs are not yet searchable: ``search`` must take them in first.

        A backend whose searches are always current returns 0.
        """
        ...

    def refresh_run_index(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Make every run searchable now (``search`` does it itself); return how many runs were taken in.

        ``progress(done, total)`` is called as runs are taken in. A backend whose searches
        are always current returns 0 at once.
        """
        ...


@runtime_checkable
class EnvironmentOperations(Protocol):
    """``ws.environments``: named, versioned Python environments."""

    def create_or_update(self, environment: Environment | aml.Environment) -> Environment:
        """Register a version (a studio_ext or an azure-ai-ml Environment)."""

    def to_yaml(self, environment: Environment) -> str:
        """Azure ML v2 YAML of ``environment`` (``az ml environment create --file``)."""

    def get(self, name: str, version: int | str | None = None, label: str | None = None) -> Environment: ...

    def list(self, name: str | None = None) -> Iterator[Environment]: ...
