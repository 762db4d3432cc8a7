"""One trial: fit a learner's configuration on every fold and score its held-out predictions.

:func:`run_trial` is a plain function of picklable values, so it runs the same in
this process or on a Dask worker (where :class:`TrialData` is scattered once and
shared by every trial). A trial never raises: a crash comes back as a failed
:class:`TrialResult` with the error, and the search goes on.
"""

from __future__ import annotations

import math
import sys
import time
import traceback
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from studio_ext.ml.automl.learners import LEARNERS, DeadlineReached, fit_within, trained_size
from studio_ext.ml.automl.metrics import PrimaryMetric, Task, loss_of, score

__all__ = ["TrialData", "TrialResult", "TrialSpec", "TrialStatus", "predict_scores", "run_trial"]


class TrialStatus:
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"


@dataclass
class TrialData:
    """The featurized training rows, their targets and folds: what every trial needs."""

    X: np.ndarray
    y: np.ndarray  # class indices for classification, floats otherwise
    splits: list[tuple[np.ndarray, np.ndarray]]
    task: Task
    metric: PrimaryMetric
    classes: np.ndarray | None = None
    y_range: float | None = None
    weights: np.ndarray | None = None  # per-row sample weights (weight_column_name), or None: all count alike

    def weights_at(self, rows: np.ndarray) -> np.ndarray | None:
        return None if self.weights is None else self.weights[rows]

    @cached_property
    def oof_rows(self) -> np.ndarray:
        """Rows with a held-out prediction: all of them for k-fold, the validation part otherwise (computed once:
        the final choice asks thousands of times)."""
        return np.unique(np.concatenate([valid for _, valid in self.splits]))

    @property
    def n_classes(self) -> int:
        return 0 if self.classes is None else len(self.classes)


@dataclass
class TrialSpec:
    trial_id: int
    learner: str
    config: dict[str, Any]
    deadline: float  # epoch seconds: fitting stops here
    n_jobs: int = 1
    keep_predictions: bool = True


@dataclass
class TrialResult:
    trial_id: int
    learner: str
    config: dict[str, Any]
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    loss: float = math.inf
    error: str | None = None
    started: float = 0.0
    ended: float = 0.0
    fit_seconds: float = 0.0
    trained: dict[str, Any] = field(default_factory=dict)
    predictions: np.ndarray | None = None  # held-out predictions on TrialData.oof_rows ...
    rows: np.ndarray | None = None  # ... or on these rows only, when the deadline cut the folds short
    components: list[int] = field(default_factory=list)  # member trials of an ensemble
    weights: list[float] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return max(self.ended - self.started, 0.0)

    @property
    def ok(self) -> bool:
        return self.status == TrialStatus.COMPLETED and math.isfinite(self.loss)

    @property
    def complete(self) -> bool:
        """Validated on every fold (so its predictions line up with every other complete trial's)."""
        return self.ok and self.rows is None and self.predictions is not None

    def fold_seconds(self, folds: int) -> float:
        """Time one fit takes, estimated from the trial (what a refit on all rows costs, roughly)."""
        return self.fit_seconds / max(folds, 1)


def predict_scores(model: Any, X: np.ndarray, task: Task) -> np.ndarray:
    """Class probabilities for classification, predictions otherwise."""
    if task is Task.CLASSIFICATION:
        return np.asarray(model.predict_proba(X), dtype=float)
    return np.asarray(model.predict(X), dtype=float)


def run_trial(data: TrialData, spec: TrialSpec) -> TrialResult:
    """Fit ``spec`` on each fold of ``data`` and score the pooled held-out predictions.

    OpenMP and BLAS pools are capped at ``spec.n_jobs`` threads: oversubscribed
    OpenMP threads spin, and one busy neighbour can make a fit ten times slower.
    """
    with thread_limits(max(spec.n_jobs, 1) if spec.n_jobs > 0 else None):
        return _run_trial(data, spec)


_controller: tuple[int, Any] | None = None  # (modules loaded when built, threadpoolctl's controller)


def thread_limits(limit: int | None) -> Any:
    """threadpoolctl's limits, with its scan of the loaded native libraries done once, not on every trial
    (milliseconds each time); scanned again when modules were imported since."""
    global _controller
    from threadpoolctl import ThreadpoolController

    loaded = len(sys.modules)
    if _controller is None or _controller[0] != loaded:
        _controller = (loaded, ThreadpoolController())
    return _controller[1].limit(limits=limit)


def _run_trial(data: TrialData, spec: TrialSpec) -> TrialResult:
    started = time.time()
    result = TrialResult(trial_id=spec.trial_id, learner=spec.learner, config=dict(spec.config),
                         status=TrialStatus.FAILED, started=started)
    try:
        learner = LEARNERS[spec.learner]
        rows = data.oof_rows
        position = np.full(len(data.y), -1)
        position[rows] = np.arange(len(rows))
        width = data.n_classes if data.task is Task.CLASSIFICATION else 0
        pooled = np.zeros((len(rows), width)) if width else np.zeros(len(rows))
        fit_seconds = 0.0
        covered: list[np.ndarray] = []
        folds = len(data.splits)
        try:
            for i, (train, valid) in enumerate(data.splits):
                estimator = learner.estimator(spec.config, data.task, spec.n_jobs)
                t0 = time.time()
                # Each fold gets its share of the trial's time, so a cut-short model is cut alike on every fold.
                share = started + (i + 1) * (spec.deadline - started) / folds
                fit_within(estimator, data.X[train], data.y[train], min(share, spec.deadline),
                           sample_weight=data.weights_at(train))
                fit_seconds += time.time() - t0
                predicted = predict_scores(estimator, data.X[valid], data.task)
                if width:
                    predicted = _all_columns(predicted, estimator, width)
                pooled[position[valid]] = predicted
                covered.append(valid)
                result.trained = trained_size(estimator)
        except DeadlineReached:
            if not covered:
                raise
            # Out of time after some folds: score those, so a slow first trial still counts.
            done = np.unique(np.concatenate(covered))
            result.rows = done
            pooled = pooled[position[done]]
            result.error = (f"Validated on {len(covered)} of {len(data.splits)} folds before the deadline.")
        scored = rows if result.rows is None else result.rows
        result.metrics = score(data.task, data.y[scored], pooled, data.classes, data.y_range,
                               weights=data.weights_at(scored))
        result.loss = loss_of(data.metric, result.metrics.get(data.metric.value, math.nan))
        result.status = TrialStatus.COMPLETED
        result.fit_seconds = fit_seconds * len(data.splits) / max(len(covered), 1)
        if spec.keep_predictions:
            result.predictions = pooled
    except DeadlineReached:
        result.error = "The trial ran out of time (trial timeout or the job's budget) before it finished a fold."
        result.status = TrialStatus.CANCELED
    except Exception as exc:  # noqa: BLE001 - a crashing trial is recorded, never fatal to the search
        result.error = f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_exc(limit=6)[-2000:])
    result.ended = time.time()
    return result


def _all_columns(proba: np.ndarray, estimator: Any, width: int) -> np.ndarray:
    """Probabilities for every class, even when a fold's training rows missed some."""
    classes = getattr(estimator, "classes_", None)
    if classes is None or len(classes) == width:
        return proba
    full = np.zeros((len(proba), width))
    full[:, np.asarray(classes, dtype=int)] = proba
    return full
