"""AutoML trials as child jobs: one MLflow run plus one ``jobs`` row per finished trial.

Trials run inside the AutoML job (in its process or on a Dask cluster), not as
processes of their own, so they are recorded when they end: the row is written
already final (Completed, Failed or Canceled, with ``finalized_at`` set), which
keeps the job runners' queries away from it, while ``ws.jobs.get/list`` read it
like any child job (``parent_job_name``, metrics, params, duration). A writer
thread does the recording so the search never waits for the database; the
parent's run gets the best primary metric as it improves.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from studio_ext.backends.local.core import tracking
from studio_ext.backends.local.core.schema import jobs as jobs_table
from studio_ext.entities import JobStatus

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend
    from studio_ext.ml.automl.trial import TrialResult

log = logging.getLogger("studio_ext.automl")
TRIAL_JOB_TYPE = "automl_trial"
BEST_CHILD_TAG = "automl_best_child_run_id"
_STATUS = {"Completed": JobStatus.COMPLETED, "Failed": JobStatus.FAILED, "Canceled": JobStatus.CANCELED}
MAX_PARAM_LENGTH = 6000


def trial_job_name(parent: str, trial_id: int) -> str:
    """Azure's naming: the parent's name and the trial's number."""
    return f"{parent}_{trial_id}"


class TrialRecorder:
    """Writes finished trials as child jobs from a background thread, in the order they ended."""

    def __init__(self, backend: LocalBackend, parent_name: str, metric: str, higher_is_better: bool) -> None:
        self._b = backend
        self.parent_name = parent_name
        self.metric = metric
        self.higher_is_better = higher_is_better
        with backend.store.engine.connect() as conn:
            row = conn.execute(jobs_table.select().where(jobs_table.c.name == parent_name)).first()
        if row is None:
            raise LookupError(f"the AutoML job {parent_name!r} has no row in the workspace")
        self.parent = row
        self.experiment_id = json.loads(row.spec).get("experiment_id") or tracking.ensure_experiment(
            backend.tracking_uri, backend.artifacts_uri, row.experiment_name)
        self.best: tuple[float, str] | None = None
        self.recorded = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="automl-recorder", daemon=True)
        self._thread.start()

    def record(self, result: TrialResult) -> None:
        self._queue.put(result)

    def close(self, timeout: float = 120.0) -> None:
        """Write what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _work(self) -> None:
        client = tracking.client(self._b.tracking_uri)
        warm_model_saving()
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._write(client, item)
            except Exception:  # one trial failing to record must not lose the others
                log.exception("could not record trial %s", getattr(item, "trial_id", "?"))

    def _write(self, client: Any, result: TrialResult) -> None:
        from mlflow.entities import Metric, Param, RunTag

        name = trial_job_name(self.parent_name, result.trial_id)
        status = _STATUS.get(result.status, JobStatus.FAILED)
        value = result.metrics.get(self.metric, math.nan)
        tags = {
            "mlflow.parentRunId": self.parent.run_id,
            "studio.job_name": name,
            "studio.job_type": TRIAL_JOB_TYPE,
            "studio.compute": self.parent.compute,
            "algorithm": result.learner,
            "trial": str(result.trial_id),
        }
        if result.components:
            tags["ensemble_members"] = ",".join(trial_job_name(self.parent_name, c) for c in result.components)
        run = client.create_run(self.experiment_id, run_name=f"{result.learner} (trial {result.trial_id})",
                                tags=tags, start_time=int(result.started * 1000))
        stamp = int(result.ended * 1000)
        metrics = [Metric(k, float(v), stamp, 0) for k, v in result.metrics.items()
                   if isinstance(v, (int, float)) and math.isfinite(v)]
        params = [Param("algorithm", result.learner)]
        params += [Param(str(k), _param(v)) for k, v in result.config.items()]
        params += [Param(f"trained_{k}", _param(v)) for k, v in result.trained.items()]
        run_tags = [RunTag("error", result.error[:5000])] if result.error else []
        client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=run_tags)
        client.set_terminated(run.info.run_id, JobStatus(status).mlflow_status, end_time=stamp)
        spec = {"display_name": f"{result.learner} (trial {result.trial_id})", "experiment_id": self.experiment_id,
                "tags": {"algorithm": result.learner}, "command": "", "trial": result.trial_id}
        with self._b.store.engine.begin() as conn:
            conn.execute(jobs_table.insert().values(
                name=name, run_id=run.info.run_id, experiment_name=self.parent.experiment_name,
                type=TRIAL_JOB_TYPE, status=status.value, compute=self.parent.compute,
                parent_job_name=self.parent_name, created_at=result.started, start_time=result.started,
                end_time=result.ended, error=result.error if status is not JobStatus.COMPLETED else None,
                finalized_at=time.time(), spec=json.dumps(spec)))
        self.recorded += 1
        if status is JobStatus.COMPLETED and math.isfinite(value):
            better = self.best is None or (value > self.best[0] if self.higher_is_better else value < self.best[0])
            if better:
                self.best = (value, name)
                client.log_metric(self.parent.run_id, self.metric, value, timestamp=stamp, step=self.recorded)
                client.set_tag(self.parent.run_id, BEST_CHILD_TAG, name)


def warm_model_saving() -> None:
    """Do now, beside the search, the slow first-time work of saving an MLflow model (seconds on a busy
    machine): its lazy imports, and the map of installed packages it checks the requirements against."""
    import mlflow.models
    import mlflow.pyfunc
    import mlflow.sklearn  # noqa: F401

    try:
        from mlflow.utils import requirements_utils

        requirements_utils._init_packages_to_modules_map()
    except Exception:  # MLflow's internals moved: saving the model just takes longer
        log.debug("could not prepare MLflow's package map", exc_info=True)


def _param(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return text[:MAX_PARAM_LENGTH]
