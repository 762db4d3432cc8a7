"""Permutation feature importance: how much a score drops when one raw column is shuffled.

scikit-learn's ``permutation_importance`` does the shuffling; the scores are computed
here from the model's predictions only, so any model with ``predict`` (and
``predict_proba`` for probability scores) works, including MLflow pyfuncs. Each
column is shuffled ``repeats`` times: the mean is the importance, the standard
deviation its error bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from studio_ext.errors import InvalidInput
from studio_ext.ml.explain._result import ExplainerKind, Explanation
from studio_ext.ml.tabular_model import TabularModel, Task, sample_rows

DEFAULT_SAMPLE = 10_000


@dataclass(frozen=True)
class ScoreMetric:
    """A score named like scikit-learn's scorers; higher is better (errors are negated)."""

    name: str
    task: Task
    needs_proba: bool
    compute: Callable[[np.ndarray, np.ndarray, Any], float]  # (y_true, prediction or proba, positive label)


def _binary_or_macro(fn: Callable[..., float]) -> Callable[[np.ndarray, np.ndarray, Any], float]:
    def score(y: np.ndarray, pred: np.ndarray, pos: Any) -> float:
        if pos is None:
            return float(fn(y, pred, average="macro", zero_division=0))
        return float(fn(y, pred, pos_label=pos, zero_division=0))
    return score


def _metrics() -> dict[str, ScoreMetric]:
    from sklearn import metrics as m

    def auc(y: np.ndarray, proba: np.ndarray, pos: Any) -> float:
        if pos is not None:
            return float(m.roc_auc_score(y == pos, proba))
        return float(m.roc_auc_score(y, proba, multi_class="ovr"))

    c, r = Task.CLASSIFICATION, Task.REGRESSION
    table = [
        ScoreMetric("accuracy", c, False, lambda y, p, _: float(m.accuracy_score(y, p))),
        ScoreMetric("balanced_accuracy", c, False, lambda y, p, _: float(m.balanced_accuracy_score(y, p))),
        ScoreMetric("f1", c, False, _binary_or_macro(m.f1_score)),
        ScoreMetric("precision", c, False, _binary_or_macro(m.precision_score)),
        ScoreMetric("recall", c, False, _binary_or_macro(m.recall_score)),
        ScoreMetric("roc_auc", c, True, auc),
        ScoreMetric("neg_log_loss", c, True, lambda y, p, _: -float(m.log_loss(y, p))),
        ScoreMetric("r2", r, False, lambda y, p, _: float(m.r2_score(y, p))),
        ScoreMetric("neg_mean_absolute_error", r, False, lambda y, p, _: -float(m.mean_absolute_error(y, p))),
        ScoreMetric("neg_mean_squared_error", r, False, lambda y, p, _: -float(m.mean_squared_error(y, p))),
        ScoreMetric("neg_root_mean_squared_error", r, False, lambda y, p, _: -float(m.root_mean_squared_error(y, p))),
    ]
    return {s.name: s for s in table}


def score_metric(name: str | None, tm: TabularModel) -> ScoreMetric:
    """The metric ``name`` (default: accuracy or r2), checked against the model's task."""
    table = _metrics()
    if name is None:
        return table["accuracy" if tm.is_classifier else "r2"]
    if name not in table:
        raise InvalidInput(f"The 'metric' parameter must be one of {', '.join(table)}. Got {name!r} instead.")
    metric = table[name]
    if metric.task is not tm.task:
        allowed = ", ".join(k for k, v in table.items() if v.task is tm.task)
        raise InvalidInput(
            f"The metric {name!r} is a {metric.task.value} metric but the model is a {tm.task.value} model. "
            f"Use one of: {allowed}."
        )
    if metric.needs_proba and not tm.has_proba:
        raise InvalidInput(f"The metric {name!r} needs class probabilities, which {type(tm.model).__name__} does not give.")
    return metric


def permutation_feature_importance(
    tm: TabularModel,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    metric: str | None = None,
    repeats: int = 5,
    sample: int | None = None,
    seed: int = 0,
) -> Explanation:
    """Mean and standard deviation of the score drop per raw column over ``repeats`` shuffles."""
    from sklearn.inspection import permutation_importance

    chosen = score_metric(metric, tm)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise InvalidInput(f"The 'repeats' parameter must be a positive whole number. Got {repeats!r} instead.")
    rows = sample_rows(X, sample if sample is not None else DEFAULT_SAMPLE, seed)
    truth = y.loc[rows.index].to_numpy()
    if pd.isna(truth).any():
        keep = ~pd.isna(truth)
        rows, truth = rows[keep], truth[keep]
    pos = _positive_label(tm)

    def scorer(_estimator: Any, X_: pd.DataFrame, y_: np.ndarray) -> float:
        if chosen.needs_proba:
            proba = tm.predict_proba(X_)
            out = proba[:, list(tm.classes).index(pos)] if pos is not None else proba
            return chosen.compute(np.asarray(y_), out, pos)
        return chosen.compute(np.asarray(y_), tm.predict(X_), pos)

    result = permutation_importance(_Scored(), rows, truth, scoring=scorer, n_repeats=repeats, random_state=seed)
    features = [str(c) for c in X.columns]
    notes = [f"score: {chosen.name}; each column shuffled {repeats} times; importance = score drop (mean ± std)"]
    if len(rows) < len(X):
        notes.append(f"scored a random sample of {len(rows):,} of {len(X):,} rows (seed {seed})")
    return Explanation(
        kind=ExplainerKind.PFI, method="sklearn.inspection.permutation_importance", task=tm.task,
        features=features, outputs=["score"], output_space="score decrease",
        importance=dict(zip(features, result.importances_mean.tolist())),
        importance_std=dict(zip(features, result.importances_std.tolist())),
        metric=chosen.name, data=None, predictions=None,
        sampling={"rows_total": int(len(X)), "rows_explained": int(len(rows)), "repeats": repeats, "seed": seed},
        notes=notes,
    )


def _positive_label(tm: TabularModel) -> Any:
    return tm.classes[1] if tm.is_classifier and len(tm.classes) == 2 else None


class _Scored:
    """What permutation_importance passes to the scorer; the scorer predicts with the model itself."""

    def fit(self, X: Any, y: Any) -> _Scored:  # pragma: no cover - never refitted
        return self
