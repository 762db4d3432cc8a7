"""Jobs, their inputs and outputs, and the states they pass through."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from studio_ext.entities._enum import ValueEnum


class JobStatus(ValueEnum):
    """Azure ML's job states, in the order a job passes through them."""

    NOT_STARTED = "NotStarted"
    QUEUED = "Queued"
    STARTING = "Starting"
    RUNNING = "Running"
    FINALIZING = "Finalizing"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def mlflow_status(self) -> str:
        """The MLflow run status (``mlflow.entities.RunStatus`` name) a run in this state has."""
        return _TO_MLFLOW[self]

    @classmethod
    def from_mlflow(cls, status: str | None) -> JobStatus | None:
        """The job state an MLflow run status means (None for a name MLflow does not use)."""
        return _FROM_MLFLOW.get(status or "")


TERMINAL_STATES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED})
# A job in one of these has not ended: it waits, starts, runs or finalizes.
ACTIVE_STATES = frozenset(s for s in JobStatus if s not in TERMINAL_STATES)

# The one translation between job states and MLflow's run states: MLflow knows fewer
# (a queued or finalizing job's run is SCHEDULED or RUNNING there).
_TO_MLFLOW = {
    JobStatus.NOT_STARTED: "SCHEDULED",
    JobStatus.QUEUED: "SCHEDULED",
    JobStatus.STARTING: "RUNNING",
    JobStatus.RUNNING: "RUNNING",
    JobStatus.FINALIZING: "RUNNING",
    JobStatus.COMPLETED: "FINISHED",
    JobStatus.FAILED: "FAILED",
    JobStatus.CANCELED: "KILLED",
}
_FROM_MLFLOW = {
    "SCHEDULED": JobStatus.QUEUED,
    "RUNNING": JobStatus.RUNNING,
    "FINISHED": JobStatus.COMPLETED,
    "FAILED": JobStatus.FAILED,
    "KILLED": JobStatus.CANCELED,
}
MLFLOW_RUN_STATUSES = tuple(_FROM_MLFLOW)


INPUT_TYPES = ("uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model")
LITERAL_TYPES = ("integer", "number", "string", "boolean")
INPUT_MODES = ("ro_mount", "download", "direct")
OUTPUT_TYPES = ("uri_folder", "uri_file", "mltable", "mlflow_model", "custom_model")
OUTPUT_MODES = ("rw_mount", "upload", "direct")


@dataclass(kw_only=True)
class Input:
    """A job input: a literal value, a file or folder, a registered dataset or model.

    As in azure-ai-ml: ``Input(type="uri_file", path="data.csv")``,
    ``Input(type="uri_folder", path="azureml://datastores/NAME/paths/images/")``,
    ``Input(type="mltable", path="azureml:diabetes@latest")``,
    ``Input(type="mlflow_model", path="azureml:model:1")`` or a typed literal
    ``Input(type="integer", default=5)`` (``optional=True`` with no value: the command's
    ``$[[...]]`` segment that uses it is dropped).

    ``path`` is ``azureml:NAME:VERSION`` / ``azureml:NAME@latest`` (a data asset; a model
    for the model types), ``azureml://datastores/NAME/paths/PATH``,
    ``azureml://jobs/JOB/outputs/OUTPUT`` (another job's output), a local path, or an
    http(s) URL (fetched once into the workspace's cache). ``mode`` says how the script
    gets it; locally:

    * ``ro_mount`` (the default): the file or folder where it already is on this machine
      (a local datastore, the dataset's version folder, the cache of a remote one); the job
      must not write there.
    * ``download``: a copy in the job's own folder (``inputs/NAME/``), made at submit.
    * ``direct``: the reference itself (a datastore URI or http(s) URL, as given), for a
      script that reads it with its own client; an asset or local path is passed as its
      local path, which is where its storage is here.
    """

    type: str = "uri_folder"
    path: str | None = None
    default: Any = None
    optional: bool = False
    description: str | None = None
    mode: str = "ro_mount"


@dataclass(kw_only=True)
class Output:
    """What a job writes: a folder (or file, or model), kept as run artifacts under ``outputs/NAME``.

    ``path="azureml://datastores/NAME/paths/PATH"`` writes there instead. ``name`` (and
    ``version``) registers the output when the job completes: as a data asset for
    ``uri_folder`` / ``uri_file`` / ``mltable``, as a model for ``mlflow_model`` /
    ``custom_model``. ``mode``, locally:

    * ``rw_mount`` (the default): the script writes in place: the datastore's folder where
      the datastore is on this machine, else the job's ``outputs/NAME`` (copied to the
      datastore when the job ends, as ``upload``).
    * ``upload``: the script writes the job's ``outputs/NAME``; it is copied to ``path``
      when the job ends.
    * ``direct``: the script gets the URI itself and writes with its own client.
    """

    type: str = "uri_folder"
    path: str | None = None
    description: str | None = None
    mode: str = "rw_mount"
    name: str | None = None
    version: str | None = None


@dataclass(kw_only=True, repr=False)
class Job:
    """What every job kind shares: identity, placement, state and results."""

    name: str | None = None
    display_name: str | None = None
    experiment_name: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    compute: str | None = None
    type: str = "command"
    # Filled in by the service.
    status: JobStatus = JobStatus.NOT_STARTED
    parent_job_name: str | None = None
    run_id: str | None = None
    creation_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    exit_code: int | None = None
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    interactive: bool = False
    studio_url: str | None = None  # where the job's page opens in this workspace's studio (set by the jobs service)
    notes: list[str] = field(default_factory=list)  # Azure fields kept with no local meaning (AzureFieldNote)

    def __repr__(self) -> str:
        # The full field list is long; show what a user scans for in a notebook.
        parts = [f"name={self.name!r}", f"type={self.type!r}", f"status={str(self.status)!r}",
                 f"experiment_name={self.experiment_name!r}", f"compute={self.compute!r}"]
        if self.metrics:
            parts.append(f"metrics={self.metrics!r}")
        if self.error:
            parts.append(f"error={self.error[:80]!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    @property
    def id(self) -> str | None:
        """The job's reference, as Azure's ``job.id`` is used: ``azureml:NAME`` (None before submission)."""
        return f"azureml:{self.name}" if self.name else None

    @property
    def duration_seconds(self) -> float | None:
        if self.start_time is None:
            return None
        end = self.end_time or datetime.now(self.start_time.tzinfo)
        return (end - self.start_time).total_seconds()


@dataclass(kw_only=True, repr=False)
class CommandJob(Job):
    """A script run with arguments, inputs, outputs and an environment.

    Built by :func:`studio_ext.command`, submitted by ``ws.jobs.create_or_update``.
    """

    command: str = ""
    code: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)
    environment: str | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    type: str = "command"
    # Filled in by the service: where the job's files are on this machine.
    log_path: str | None = None
    output_paths: dict[str, str] = field(default_factory=dict)

    def __call__(self, **inputs: Any) -> CommandJob:
        """A copy with ``inputs`` set, as azure-ai-ml's ``command()`` node: ``job(reg_rate=Choice([...]))``.

        Inside a ``@dsl.pipeline`` function it is used as a component: the result is a pipeline step.
        """
        import copy

        from studio_ext.entities._pipeline import building, component_from_job, step_from_component

        if building() is not None:
            return step_from_component(component_from_job(self), inputs)
        made = copy.deepcopy(self)
        made.inputs = {**made.inputs, **inputs}
        return made

    def sweep(self, *, primary_metric: str, goal: str, sampling_algorithm: Any = "random",
              compute: str | None = None, max_concurrent_trials: int | None = None,
              max_total_trials: int | None = None, timeout: int | None = None, trial_timeout: int | None = None,
              early_termination_policy: Any = None, search_space: dict[str, Any] | None = None) -> Any:
        """A sweep job over the inputs given as distributions (``studio_ext.sweep``), as azure-ai-ml's ``.sweep()``.

        Each ``${{inputs.NAME}}`` of such an input becomes ``${{search_space.NAME}}`` in the trial's command.
        """
        import re

        from studio_ext.entities._sweep import Objective, SweepDistribution, SweepJob, SweepJobLimits

        space = {k: v for k, v in self.inputs.items() if isinstance(v, SweepDistribution)}
        space.update(search_space or {})
        command = re.sub(r"\$\{\{\s*inputs\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}",
                         lambda m: "${{search_space." + m.group(1) + "}}" if m.group(1) in space else m.group(0),
                         self.command)
        trial = CommandJob(command=command, code=self.code, environment=self.environment,
                           environment_variables=dict(self.environment_variables),
                           inputs={k: v for k, v in self.inputs.items() if k not in space},
                           outputs=dict(self.outputs), compute=compute or self.compute,
                           experiment_name=self.experiment_name)
        return SweepJob(name=self.name, display_name=self.display_name, experiment_name=self.experiment_name,
                        description=self.description, tags=dict(self.tags), compute=compute or self.compute,
                        trial=trial, inputs=dict(trial.inputs), outputs=dict(trial.outputs), search_space=space,
                        sampling_algorithm=sampling_algorithm,
                        objective=Objective(goal=goal.lower(), primary_metric=primary_metric),
                        limits=SweepJobLimits(max_concurrent_trials=max_concurrent_trials,
                                              max_total_trials=max_total_trials, timeout=timeout,
                                              trial_timeout=trial_timeout),
                        early_termination=early_termination_policy)
