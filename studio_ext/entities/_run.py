"""What the run explorer reads: run rows, pages of them, experiments, metric series, artifacts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from studio_ext.entities._job import JobStatus


@dataclass(kw_only=True)
class RunSummary:
    """One row of the runs table: a job's run or an interactive MLflow run.

    ``name`` is the job name, or the MLflow run id for a run made outside a job.
    """

    name: str
    run_id: str
    experiment_name: str | None = None
    display_name: str | None = None
    status: JobStatus = JobStatus.NOT_STARTED
    compute: str | None = None
    job_type: str | None = None
    parent_run_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    interactive: bool = False
    archived: bool = False

    @property
    def duration_seconds(self) -> float | None:
        if self.start_time is None:
            return None
        end = self.end_time or datetime.now(self.start_time.tzinfo)
        return max((end - self.start_time).total_seconds(), 0.0)


@dataclass(kw_only=True)
class RunPage:
    """A page of a run search: the rows, how many runs match, and the token of the next page."""

    runs: list[RunSummary] = field(default_factory=list)
    total: int = 0
    next_page_token: str | None = None
    offset: int = 0


@dataclass(kw_only=True)
class RunColumns:
    """The columns a runs table can show for some experiments (the column chooser's choices)."""

    attributes: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return [
            *self.attributes,
            *(f"metrics.{k}" for k in self.metrics),
            *(f"params.{k}" for k in self.params),
            *(f"tags.{k}" for k in self.tags),
        ]


@dataclass(kw_only=True)
class ExperimentSummary:
    """An experiment with how many (active) runs it holds and when one last started or ended."""

    name: str
    experiment_id: str
    run_count: int = 0
    last_activity: datetime | None = None
    archived: bool = False


@dataclass(kw_only=True)
class MetricHistory:
    """One metric of one run over its steps, possibly downsampled for display."""

    key: str
    run_name: str
    steps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    timestamps: list[float] = field(default_factory=list)
    #: How many points the metric has in the store (before downsampling).
    total_points: int = 0
    downsampled: bool = False
    #: NaN or infinite values left out (they cannot be drawn).
    non_finite_points: int = 0


@dataclass(kw_only=True)
class ArtifactInfo:
    """A file or folder among a run's artifacts; ``path`` is relative to the run's root."""

    path: str
    is_dir: bool = False
    size: int | None = None


@dataclass(kw_only=True)
class ArtifactContent:
    """The first bytes of an artifact, for a preview."""

    path: str
    data: bytes = b""
    size: int = 0
    truncated: bool = False
    media_type: str = "application/octet-stream"


@dataclass(kw_only=True)
class LogTail:
    """The end of a job's log. ``missing`` says the log file is gone (or was never written)."""

    text: str = ""
    size: int = 0
    truncated: bool = False
    missing: bool = False
    message: str | None = None


@dataclass(kw_only=True)
class RunLineage:
    """What a run read (datasets, files) and what it produced (models)."""

    inputs: list[dict[str, str]] = field(default_factory=list)
    models: list[dict[str, str]] = field(default_factory=list)


@dataclass(kw_only=True)
class RunView:
    """A saved view of an experiment's runs table (as the studio's custom views of the jobs list).

    ``columns`` as ``search`` names them ('status', 'metrics.r2', 'params.lr', ...),
    ``order_by`` as ``search`` takes it, ``page_size`` and ``filter`` likewise. An
    empty view (the default) means "the table's defaults".
    """

    columns: list[str] = field(default_factory=list)
    order_by: list[str] = field(default_factory=list)
    page_size: int | None = None
    filter: str | None = None  # named as search()'s argument
