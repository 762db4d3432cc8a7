"""What ``ws.explanations`` and ``ws.fairness`` share: records, jobs, result artifacts.

A record (an ``assets`` row of kind explanation / fairness_assessment /
fairness_mitigation) says what was asked; the result lives as artifacts of an MLflow
run. Heavy work runs as a job (``python -m studio_ext.backends.local.insights.job``)
that is a child of the model's training job, or tagged as a child of its run, so the
run explorer shows explanations and mitigations under the model that they describe.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from studio_ext._builders import command
from studio_ext._poller import Poller
from studio_ext.backends.local.core import tracking
from studio_ext.backends.local.core.store import to_datetime
from studio_ext.backends.local.insights.inputs import DatasetSource, ModelSource
from studio_ext.entities import InsightKind, InsightRecord, JobStatus
from studio_ext.errors import Conflict, NotFound, StudioError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from studio_ext.backends.local import LocalBackend

T = TypeVar("T")
JOB_MODULE = "studio_ext.backends.local.insights.job"
SPEC_FILE = "insight_spec.json"
FRAME_FILE = "insight_data.parquet"


class InsightStore:
    """Records and results of one family of insights (explanations, or fairness)."""

    def __init__(self, backend: LocalBackend, kinds: tuple[InsightKind, ...], service: str) -> None:
        self._b = backend
        self._kinds = kinds
        self._service = service
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- records -----------------------------------------------------------------------
    def put(self, kind: InsightKind, name: str, payload: dict[str, Any]) -> None:
        self._b.store.put_asset(kind.value, name, {**payload, "kind": kind.value, "created_at": time.time()}, version=1)

    def payload(self, name: str) -> tuple[InsightKind, dict[str, Any]]:
        for kind in self._kinds:
            found = self._b.store.get_asset(kind.value, name, 1)
            if found is not None:
                return kind, found[1]
        known = [n for kind in self._kinds for n, *_ in self._b.store.list_assets(kind.value)]
        raise NotFound(
            f"There is no {self._service} result named {name!r}. Known: {', '.join(known[-10:]) or 'none'}. "
            f"List them with ws.{self._service}.list()."
        )

    def record(self, name: str) -> InsightRecord:
        kind, payload = self.payload(name)
        return self._record(name, kind, payload)

    def records(self, kinds: tuple[InsightKind, ...] | None = None) -> list[InsightRecord]:
        out = []
        for kind in kinds or self._kinds:
            for name, _version, payload, _archived in self._b.store.list_assets(kind.value):
                out.append(self._record(name, kind, payload))
        out.sort(key=lambda r: r.creation_time.timestamp() if r.creation_time else 0, reverse=True)
        return out

    def _record(self, name: str, kind: InsightKind, payload: dict[str, Any]) -> InsightRecord:
        status, progress, error = JobStatus.COMPLETED, None, None
        if payload.get("job_name"):
            try:
                job = self._b.service("jobs").get(payload["job_name"])
                status, error = job.status, job.error
                progress = job.metrics.get("progress")
            except NotFound:
                status, error = JobStatus.FAILED, "Its job no longer exists."
        return InsightRecord(
            name=name, kind=kind, model=payload.get("model", {}).get("reference", ""),
            dataset=payload.get("dataset", {}).get("reference", ""), target_column=payload.get("target_column"),
            options=payload.get("options") or {}, status=status, job_name=payload.get("job_name"),
            run_id=payload.get("run_id"), parent_run_id=payload.get("model", {}).get("run_id"),
            creation_time=to_datetime(payload.get("created_at")), progress=progress, error=error,
            summary=payload.get("summary") or {},
        )

    # -- jobs --------------------------------------------------------------------------
    def submit(self, kind: InsightKind, model: ModelSource, dataset: DatasetSource, target_column: str | None,
               options: dict[str, Any], display_name: str) -> InsightRecord:
        """Start the job that computes an insight; the record is written once the job exists."""
        jobs = self._b.service("jobs")
        experiment = self._experiment_of(model, default=self._service)
        tags = {"studio_insight": kind.value, "model": model.reference}
        if model.job_name is None and model.run_id:
            tags["mlflow.parentRunId"] = model.run_id  # an interactive run: a child in MLflow's sense
        spec = {"kind": kind.value, "workspace": str(self._b.path), "model": model.to_dict(),
                "dataset": dataset.to_dict(), "target_column": target_column, "options": options}
        with tempfile.TemporaryDirectory(prefix="studio-insight-") as tmp:
            if dataset.frame is not None:
                dataset.frame.to_parquet(Path(tmp) / FRAME_FILE)
                spec["frame_file"] = FRAME_FILE
            (Path(tmp) / SPEC_FILE).write_text(json.dumps(spec, default=str), encoding="utf-8")
            job = jobs.create_or_update(
                command(code=tmp, command=f"python -m {JOB_MODULE} {SPEC_FILE}", experiment_name=experiment,
                        display_name=display_name, tags=tags),
                parent_job_name=model.job_name,
            )
        self.put(kind, job.name, {"model": model.to_dict(), "dataset": dataset.to_dict(),
                                  "target_column": target_column, "options": options,
                                  "job_name": job.name, "run_id": job.run_id})
        return self.record(job.name)

    def _experiment_of(self, model: ModelSource, default: str) -> str:
        """The model's own experiment, so its insights sit beside it; ``default`` otherwise."""
        if model.run_id:
            try:
                found = self._b.service("jobs").get(model.job_name or model.run_id).experiment_name
                if found:
                    return found
            except NotFound:
                pass
        return default

    def poller(self, name: str, load: Callable[[str], T]) -> Poller[T]:
        """Wait for the job behind ``name``; the result, or a StudioError saying why it failed."""

        def check() -> T | None:
            record = self.record(name)
            if not record.status.is_terminal:
                return None
            if record.status is not JobStatus.COMPLETED:
                raise StudioError(
                    f"The {record.kind.value} job {record.job_name!r} ended {record.status}: {record.error or 'no reason given'}. "
                    f"See its log with ws.jobs.get_logs({record.job_name!r})."
                )
            return load(name)

        return Poller(check, f"The {self._service} job {name!r}", interval=0.25)

    def require_finished(self, name: str) -> InsightRecord:
        record = self.record(name)
        if record.status is JobStatus.COMPLETED:
            return record
        if record.status.is_terminal:
            raise StudioError(
                f"{name!r} has no result: its job ended {record.status} ({record.error or 'no reason given'})."
            )
        raise Conflict(
            f"{name!r} is still being computed ({record.status}"
            + (f", {record.progress:.0%}" if record.progress is not None else "")
            + f"). Wait with ws.{self._service}.begin_... .result(), or try again shortly."
        )

    # -- artifacts ---------------------------------------------------------------------
    def cached(self, name: str, make: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._cache:
                self._cache[name] = make()
            return self._cache[name]

    def download(self, run_id: str, artifact_path: str, reader: Callable[[Path], T]) -> T:
        """Read a run's artifact folder: in place on a local store, else through a temporary copy."""
        client = tracking.client(self._b.tracking_uri)
        root = client.get_run(run_id).info.artifact_uri
        if root.startswith("file:"):
            local = Path(urllib.request.url2pathname(urllib.parse.urlparse(root).path)) / artifact_path
            if local.is_dir():
                return reader(local)
        tmp = Path(tempfile.mkdtemp(prefix="studio-insight-"))
        try:
            local = client.download_artifacts(run_id, artifact_path, str(tmp))
            return reader(Path(local))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def new_run(self, model: ModelSource, run_name: str, tags: dict[str, str]) -> str:
        """An MLflow run for an in-process insight, a child of the model's run when it has one."""
        experiment = self._experiment_of(model, default=self._service)
        exp_id = tracking.ensure_experiment(self._b.tracking_uri, self._b.artifacts_uri, experiment)
        all_tags = dict(tags)
        if model.run_id:
            all_tags["mlflow.parentRunId"] = model.run_id
        run = tracking.client(self._b.tracking_uri).create_run(exp_id, run_name=run_name, tags=all_tags)
        return run.info.run_id


def record_summary(backend: LocalBackend, kind: InsightKind, name: str, summary: dict[str, Any]) -> None:
    """Store the small facts a list shows (called by the job when it finishes)."""
    found = backend.store.get_asset(kind.value, name, 1)
    if found is not None:
        backend.store.replace_asset(kind.value, name, 1, {**found[1], "summary": summary})


def frame_of(spec: dict[str, Any], folder: Path) -> pd.DataFrame | None:
    import pandas as pd

    return pd.read_parquet(folder / spec["frame_file"]) if spec.get("frame_file") else None
