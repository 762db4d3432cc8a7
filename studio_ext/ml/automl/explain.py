"""Which raw columns the best model relies on: permutation importance within a time limit.

Each column of a sample of rows is shuffled in turn and the drop in the primary
metric is measured; the model is the whole pipeline, so importances are per raw
column (before featurization), as the studio's "raw feature importance" view.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from .metrics import PrimaryMetric, Task, loss_of, score

__all__ = ["raw_feature_importance"]

MAX_ROWS = 1000
MAX_REPEATS = 5


def raw_feature_importance(
    model: Any,
    features: pd.DataFrame,
    y: pd.Series,
    task: Task,
    metric: PrimaryMetric,
    classes: Any = None,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean and spread of the metric's drop per shuffled column, most important first.

    The sample size and number of repeats shrink to end within ``time_limit`` seconds.
    """
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(features), size=min(len(features), MAX_ROWS), replace=False)
    X = features.iloc[rows].reset_index(drop=True)
    truth = y.iloc[rows].reset_index(drop=True)
    codes = _codes(truth, classes) if task is Task.CLASSIFICATION else truth.to_numpy(dtype=float)
    y_range = None if task is Task.CLASSIFICATION else (float(np.ptp(y.to_numpy(dtype=float))) or 1.0)

    def loss(frame: pd.DataFrame) -> float:
        prediction = (model.predict_proba(frame) if task is Task.CLASSIFICATION else model.predict(frame))
        metrics = score(task, codes, np.asarray(prediction, dtype=float), np.arange(len(classes))
                        if classes is not None else None, y_range)
        return loss_of(metric, metrics.get(metric.value, math.nan))

    started = time.time()
    baseline = loss(X)
    one_pass = max(time.time() - started, 1e-4)
    columns = list(X.columns)
    affordable = time_limit / (one_pass * max(len(columns), 1))
    if affordable < 1 and len(X) > 100:  # not even one repeat: use fewer rows
        keep = max(100, int(len(X) * affordable))
        X, codes = X.iloc[:keep], codes[:keep]
        baseline = loss(X)
        affordable = 1
    repeats = int(min(MAX_REPEATS, max(1, affordable)))
    out = []
    for column in columns:
        drops = []
        for _ in range(repeats):
            shuffled = X.copy()
            shuffled[column] = X[column].to_numpy()[rng.permutation(len(X))]
            drops.append(loss(shuffled) - baseline)
        out.append({"feature": column, "importance": float(np.mean(drops)), "std": float(np.std(drops))})
    frame = pd.DataFrame(out, columns=["feature", "importance", "std"])
    return frame.sort_values("importance", ascending=False).reset_index(drop=True)


def _codes(truth: pd.Series, classes: Any) -> np.ndarray:
    index = {c: i for i, c in enumerate(list(classes))}
    lookup = {str(c): i for i, c in enumerate(list(classes))}
    return np.asarray([index.get(v, lookup.get(str(v), 0)) for v in truth.tolist()])
