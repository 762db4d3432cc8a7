"""What the jobs that drive child jobs (a sweep's trials, a pipeline's steps) share: the state file their
supervisor duty keeps in the job's folder, the job's own log, and how the parent job ends.

Each duty writes its decisions to one JSON file (``sweep.json``, ``pipeline.json``) beside the job's
``user_logs/std_log.txt``, replaced whole (written aside, then renamed), so a restarted supervisor
goes on from what the last one decided.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio_ext._validation import check_name
from studio_ext.backends.local.core import tracking
from studio_ext.backends.local.core.schema import jobs as jobs_table
from studio_ext.backends.local.core.store import now
from studio_ext.entities import JobStatus
from studio_ext.errors import Conflict, InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

log = logging.getLogger("studio_ext.supervisor")


def new_job_name(backend: LocalBackend, name: str | None, kind: str, parent_job_name: str | None) -> str:
    """The name a new ``kind`` job (a sweep, a pipeline) is recorded under: the user's, checked and
    not taken, or ``<kind>_<8 hex>``. Such a job is never the child of another here."""
    if parent_job_name:
        raise InvalidInput(f"A {kind} job cannot be the child of another job here; submit it on its own.")
    name = check_name(name, "job name") if name else f"{kind}_{secrets.token_hex(4)}"
    with backend.store.engine.connect() as conn:
        if conn.execute(jobs_table.select().where(jobs_table.c.name == name)).first() is not None:
            raise Conflict(f"A job named {name!r} already exists; job names are unique. Leave name empty.")
    return name


def state_path(backend: LocalBackend, name: str, file_name: str) -> Path:
    return backend.jobs_dir / name / file_name


def read_state(backend: LocalBackend, name: str, file_name: str, empty: dict[str, Any]) -> dict[str, Any]:
    """The job's state file, or ``empty`` (a fresh copy) when it is missing or unreadable."""
    try:
        return dict(json.loads(state_path(backend, name, file_name).read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError):
        return json.loads(json.dumps(empty))  # type: ignore[no-any-return]


def write_state(backend: LocalBackend, name: str, file_name: str, state: dict[str, Any]) -> None:
    path = state_path(backend, name, file_name)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(state, indent=1, default=str), encoding="utf-8")
    partial.replace(path)


def log_line(backend: LocalBackend, name: str, text: str) -> None:
    """A timestamped line in the job's own log (``user_logs/std_log.txt``)."""
    path = backend.jobs_dir / name / "user_logs" / "std_log.txt"
    with path.open("a", encoding="utf-8") as out:
        out.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")


def finish(backend: LocalBackend, row: Any, status: JobStatus, error: str | None, what: str) -> bool:
    """End a running parent job (``what``: "Sweep", "Pipeline"): its row, its log, its MLflow run. False if it had ended."""
    with backend.store.engine.begin() as conn:
        changed = conn.execute(jobs_table.update().where(
            jobs_table.c.name == row.name, jobs_table.c.status == JobStatus.RUNNING.value).values(
            status=status.value, end_time=now(), error=error, finalized_at=now())).rowcount
    if not changed:
        return False
    if error:
        log_line(backend, row.name, error)
    log_line(backend, row.name, f"{what} {status.value}.")
    try:
        tracking.client(backend.tracking_uri).set_terminated(row.run_id, status.mlflow_status)
    except Exception:
        log.exception("could not close the run of %s %s", what.lower(), row.name)
    return True
