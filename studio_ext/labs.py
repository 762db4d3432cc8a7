"""Check cells for the guided labs: verify a learner's result and say what to do if it is off.

Each check prints a short confirmation when the result is right, and raises
:class:`LabCheckError` with a hint (never a bare assert) when it is not.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import NotFound, StudioError
from .workspace import Workspace


class LabCheckError(StudioError):
    """The lab's result is not what the step asked for; the message says what to fix."""


def lab_workspace(default: str = "lab-workspace") -> Workspace:
    """The workspace a lab works in: ``$STUDIO_EXT_WORKSPACE`` if set, else ``./lab-workspace``."""
    path = os.environ.get("STUDIO_EXT_WORKSPACE") or str(Path.cwd() / default)
    return Workspace.create(path, exist_ok=True)


def passed(message: str) -> None:
    print(f"✔ {message}")


def check_job_completed(ws: Workspace, name: str | None, *, metric: str | None = None) -> Any:
    """The job ``name`` exists, ended Completed, and (optionally) logged ``metric``."""
    if not name:
        raise LabCheckError("No job name to check: run the cell that submits the job first.")
    try:
        job = ws.jobs.get(name)
    except NotFound as exc:
        raise LabCheckError(f"The job {name!r} is not in this workspace. Did you submit it to {ws.path}?") from exc
    if not job.status.is_terminal:
        raise LabCheckError(f"The job {name} is still {job.status}. Wait for it (ws.jobs.stream(name)) and run this cell again.")
    if str(job.status) != "Completed":
        raise LabCheckError(f"The job {name} ended {job.status}: {job.error}. Fix the script and submit it again.")
    if metric and metric not in job.metrics:
        raise LabCheckError(
            f"The job {name} completed but logged no {metric!r} metric (it logged: "
            f"{', '.join(job.metrics) or 'none'}). Add mlflow.log_metric({metric!r}, value) to the script."
        )
    passed(f"job {name} completed" + (f" with {metric} = {job.metrics[metric]:.4g}" if metric else ""))
    return job


def check_experiment_has_runs(ws: Workspace, experiment: str, *, at_least: int = 1, interactive: bool | None = None) -> list[Any]:
    """The experiment holds at least ``at_least`` runs (of the kind asked for)."""
    runs = ws.jobs.list(experiment)
    if interactive is not None:
        runs = [r for r in runs if r.interactive == interactive]
    if len(runs) < at_least:
        kind = {True: "interactive ", False: "job ", None: ""}[interactive]
        raise LabCheckError(
            f"The experiment {experiment!r} has {len(runs)} {kind}run(s); the lab expects at least {at_least}. "
            "Run the logging cells above (with the same experiment name) and check again."
        )
    passed(f"experiment {experiment!r} has {len(runs)} run(s)")
    return runs
