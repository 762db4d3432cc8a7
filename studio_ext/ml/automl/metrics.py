"""Tasks and metrics with Azure ML's names, and the losses the search minimizes.

Every metric is computed from true labels and predictions (class probabilities for
classification), so the same functions score a trial's out-of-fold predictions,
an ensemble, and the best model on test data.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import numpy as np

from studio_ext.errors import InvalidInput

__all__ = [
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "PrimaryMetric",
    "Task",
    "classification_scores",
    "default_metric",
    "loss_of",
    "parse_metric",
    "primary_score",
    "regression_scores",
]


class Task(str, enum.Enum):
    """The AutoML task types, named as azure-ai-ml's ``task``."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    FORECASTING = "forecasting"

    @property
    def is_classification(self) -> bool:
        return self is Task.CLASSIFICATION

    def __str__(self) -> str:
        return self.value


class PrimaryMetric(str, enum.Enum):
    """The primary metrics Azure ML offers, by their Azure names."""

    ACCURACY = "accuracy"
    AUC_WEIGHTED = "AUC_weighted"
    AVERAGE_PRECISION_SCORE_WEIGHTED = "average_precision_score_weighted"
    NORM_MACRO_RECALL = "norm_macro_recall"
    PRECISION_SCORE_WEIGHTED = "precision_score_weighted"
    NORMALIZED_ROOT_MEAN_SQUARED_ERROR = "normalized_root_mean_squared_error"
    R2_SCORE = "r2_score"
    SPEARMAN_CORRELATION = "spearman_correlation"
    NORMALIZED_MEAN_ABSOLUTE_ERROR = "normalized_mean_absolute_error"

    @property
    def higher_is_better(self) -> bool:
        return self not in _LOWER_IS_BETTER

    def __str__(self) -> str:
        return self.value


_LOWER_IS_BETTER = frozenset({
    PrimaryMetric.NORMALIZED_ROOT_MEAN_SQUARED_ERROR,
    PrimaryMetric.NORMALIZED_MEAN_ABSOLUTE_ERROR,
})
CLASSIFICATION_METRICS = (
    PrimaryMetric.ACCURACY,
    PrimaryMetric.AUC_WEIGHTED,
    PrimaryMetric.AVERAGE_PRECISION_SCORE_WEIGHTED,
    PrimaryMetric.NORM_MACRO_RECALL,
    PrimaryMetric.PRECISION_SCORE_WEIGHTED,
)
REGRESSION_METRICS = (
    PrimaryMetric.NORMALIZED_ROOT_MEAN_SQUARED_ERROR,
    PrimaryMetric.R2_SCORE,
    PrimaryMetric.SPEARMAN_CORRELATION,
    PrimaryMetric.NORMALIZED_MEAN_ABSOLUTE_ERROR,
)
# Metrics that are higher-is-better among the extra ones logged on every trial.
_LOWER_EXTRA = frozenset({"log_loss", "root_mean_squared_error", "mean_absolute_error"})

MSG_METRIC = ("The primary metric {value!r} does not apply to {task}. Use one of: {allowed}.")


def metrics_for(task: Task) -> tuple[PrimaryMetric, ...]:
    return CLASSIFICATION_METRICS if task is Task.CLASSIFICATION else REGRESSION_METRICS


def default_metric(task: Task) -> PrimaryMetric:
    """Azure's defaults: accuracy for classification, normalized RMSE otherwise."""
    return PrimaryMetric.ACCURACY if task is Task.CLASSIFICATION else PrimaryMetric.NORMALIZED_ROOT_MEAN_SQUARED_ERROR


def parse_metric(value: str | PrimaryMetric | None, task: Task) -> PrimaryMetric:
    """The metric named ``value`` (case-insensitive), refused when it does not fit ``task``."""
    if value is None:
        return default_metric(task)
    allowed = metrics_for(task)
    lookup = {m.value.lower(): m for m in allowed}
    metric = lookup.get(str(getattr(value, "value", value)).lower())
    if metric is None:
        raise InvalidInput(MSG_METRIC.format(value=str(getattr(value, "value", value)), task=task.value,
                                             allowed=", ".join(m.value for m in allowed)))
    return metric


def loss_of(metric: PrimaryMetric | str, value: float) -> float:
    """What the search minimizes: the metric itself, or its negative when higher is better."""
    if not math.isfinite(value):
        return math.inf
    if isinstance(metric, PrimaryMetric):
        return -value if metric.higher_is_better else value
    return value if metric in _LOWER_EXTRA else -value


def classification_scores(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray,
                          weights: np.ndarray | None = None) -> dict[str, float]:
    """Azure's classification metrics from class probabilities (columns in ``classes`` order).

    ``y_true`` holds class indices (0..k-1). AUC and average precision are weighted
    over classes one-vs-rest; ``norm_macro_recall`` rescales macro recall so chance is 0.
    Computed with numpy from one confusion matrix: a trial is scored in microseconds,
    not in the milliseconds scikit-learn's checked metrics take per call. ``weights``
    (sample weights) make each row count that much in every metric.
    """
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=float)
    k = len(classes)
    pred = proba.argmax(axis=1)
    confusion = np.bincount(y_true * k + pred, weights=weights, minlength=k * k).reshape(k, k)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    hits = np.diag(confusion)
    n = max(float(confusion.sum()), 1e-300) if weights is not None else max(len(y_true), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, hits / np.where(predicted > 0, predicted, 1), 0.0)
        recall = np.where(support > 0, hits / np.where(support > 0, support, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-300), 0.0)
    share = support / n
    present = support > 0
    macro_recall = float(recall[present].mean()) if present.any() else 0.0
    chance = 1.0 / k
    clipped = np.clip(proba, 1e-15, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    out: dict[str, float] = {
        "accuracy": float(hits.sum() / n),
        "precision_score_weighted": float((precision * share).sum()),
        "recall_score_weighted": float((recall * share).sum()),
        "f1_score_weighted": float((f1 * share).sum()),
        "balanced_accuracy": macro_recall,
        "norm_macro_recall": max((macro_recall - chance) / (1 - chance), 0.0),
        "log_loss": float(np.average(-np.log(clipped[np.arange(len(y_true)), y_true]), weights=weights))
        if len(y_true) else math.nan,
    }
    if present.sum() < 2:
        out["AUC_weighted"] = math.nan
        out["average_precision_score_weighted"] = math.nan
        return out
    aucs, aps = [], []
    for c in np.flatnonzero(present):
        truth = y_true == c
        if weights is None:
            aucs.append(_auc(truth, proba[:, c]))
            aps.append(_average_precision(truth, proba[:, c]))
        else:
            aucs.append(_weighted_auc(truth, proba[:, c], weights))
            aps.append(_weighted_average_precision(truth, proba[:, c], weights))
    w = support[present]
    out["AUC_weighted"] = float(np.average(aucs, weights=w))
    out["average_precision_score_weighted"] = float(np.average(aps, weights=w))
    return out


def _auc(truth: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count one half), as scikit-learn computes it."""
    positives = int(truth.sum())
    negatives = len(truth) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = _average_ranks(np.asarray(score, dtype=float))
    return float((ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def auc_of_rows(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of ``scores`` (one model per row) against the same boolean ``truth``, all at once."""
    from scipy.stats import rankdata

    positives = int(truth.sum())
    negatives = len(truth) - positives
    if positives == 0 or negatives == 0:
        return np.full(len(scores), math.nan)
    ranks = rankdata(scores, axis=1)
    return (ranks[:, truth].sum(axis=1) - positives * (positives + 1) / 2) / (positives * negatives)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average (scipy's ``rankdata``, without its per-call overhead of a
    millisecond: ensemble selection ranks thousands of times)."""
    order = np.argsort(values)  # the order within ties does not change their average
    ordered = values[order]
    starts_group = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = ((starts + ends + 1) / 2.0)[group]
    return ranks


def _weighted_auc(truth: np.ndarray, score: np.ndarray, weights: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if weights[truth].sum() <= 0 or weights[~truth].sum() <= 0:
        return math.nan
    return float(roc_auc_score(truth, score, sample_weight=weights))


def _weighted_average_precision(truth: np.ndarray, score: np.ndarray, weights: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    if weights[truth].sum() <= 0:
        return math.nan
    return float(average_precision_score(truth, score, sample_weight=weights))


def _average_precision(truth: np.ndarray, score: np.ndarray) -> float:
    """Average precision over distinct thresholds (scikit-learn's step-wise definition)."""
    order = np.argsort(-score, kind="mergesort")
    s, t = score[order], truth[order].astype(float)
    distinct = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(t)[distinct]
    fps = 1 + distinct - tps
    positives = tps[-1] if len(tps) else 0
    if positives == 0:
        return math.nan
    precision = tps / (tps + fps)
    recall = tps / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def regression_scores(y_true: np.ndarray, y_pred: np.ndarray, y_range: float | None = None,
                      weights: np.ndarray | None = None) -> dict[str, float]:
    """Azure's regression metrics; errors are normalized by the target's range (of all training data).

    ``weights`` (sample weights) weight the errors and the variance; the Spearman
    correlation stays unweighted.
    """
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    out = _regression_errors(y_true, y_pred, y_range, weights)
    if np.all(np.isfinite(y_pred)):  # otherwise every metric, Spearman's too, is already the worst
        out[PrimaryMetric.SPEARMAN_CORRELATION.value] = _spearman(y_true, y_pred)
    return out


def _regression_errors(y_true: np.ndarray, y_pred: np.ndarray, y_range: float | None,
                       weights: np.ndarray | None) -> dict[str, float]:
    """Every regression metric but Spearman's: no ranking, so ensemble selection can call it thousands of times."""
    if not np.all(np.isfinite(y_pred)):
        return {m.value: (math.inf if not m.higher_is_better else -math.inf) for m in REGRESSION_METRICS}
    span = y_range if y_range else float(np.ptp(y_true)) or 1.0
    error = y_true - y_pred

    def mean(values: np.ndarray) -> float:
        return float(np.average(values, weights=weights))

    rmse = float(np.sqrt(mean(error**2)))
    mae = mean(np.abs(error))
    variance = mean((y_true - mean(y_true)) ** 2)
    return {
        "normalized_root_mean_squared_error": rmse / span,
        "normalized_mean_absolute_error": mae / span,
        "r2_score": 1.0 - mean(error**2) / variance if variance > 0 else math.nan,
        "root_mean_squared_error": rmse,
        "mean_absolute_error": mae,
        "explained_variance": 1.0 - mean((error - mean(error)) ** 2) / variance if variance > 0 else math.nan,
    }


def _spearman(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if np.ptp(y_pred) == 0 or np.ptp(y_true) == 0:
        return 0.0
    return float(np.corrcoef(_average_ranks(y_true), _average_ranks(y_pred))[0, 1])


def primary_score(task: Task, metric: PrimaryMetric, y_true: np.ndarray, prediction: np.ndarray, classes: Any = None,
                  y_range: float | None = None, weights: np.ndarray | None = None) -> float:
    """The primary metric alone: AUC without the other metrics (ensemble selection computes it thousands of times)."""
    if task is Task.CLASSIFICATION and metric is PrimaryMetric.AUC_WEIGHTED and weights is None:
        y_true = np.asarray(y_true, dtype=int)
        proba = np.asarray(prediction, dtype=float)
        support = np.bincount(y_true, minlength=proba.shape[1])
        present = np.flatnonzero(support)
        if len(present) < 2:
            return math.nan
        if proba.shape[1] == 2:  # both one-vs-rest AUCs are the same number
            return _auc(y_true == 1, proba[:, 1])
        aucs = [_auc(y_true == c, proba[:, c]) for c in present]
        return float(np.average(aucs, weights=support[present]))
    if task is not Task.CLASSIFICATION and metric is not PrimaryMetric.SPEARMAN_CORRELATION:
        errors = _regression_errors(np.asarray(y_true, dtype=float), np.asarray(prediction, dtype=float), y_range,
                                    weights)
        return errors[metric.value]
    return score(task, y_true, prediction, classes, y_range, weights).get(metric.value, math.nan)


def score(task: Task, y_true: np.ndarray, prediction: np.ndarray, classes: Any = None,
          y_range: float | None = None, weights: np.ndarray | None = None) -> dict[str, float]:
    """All metrics of ``task`` for one set of predictions (``weights``: per-row sample weights)."""
    if task is Task.CLASSIFICATION:
        return classification_scores(y_true, prediction, np.asarray(classes), weights)
    return regression_scores(y_true, prediction, y_range, weights)
