"""The best model's report: the studio's charts as data, computed once from its predictions.

:class:`ClassificationReport` (confusion matrix, ROC, precision-recall, calibration,
lift/gains) and :class:`RegressionReport` (predicted vs true, residuals) take true
values and predictions and expose each chart as a property. ``to_dict`` /
``from_dict`` store the inputs, not the charts, so a report reloads exactly.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from studio_ext.ml.automl.metrics import Task, classification_scores, regression_scores

__all__ = ["ClassificationReport", "RegressionReport", "report_for", "report_from_dict"]

CURVE_POINTS = 200
CALIBRATION_BINS = 10
LIFT_BINS = 10


def _thin(*arrays: np.ndarray, points: int = CURVE_POINTS) -> list[list[float]]:
    """At most ``points`` evenly spaced samples of curves (first and last kept)."""
    n = len(arrays[0])
    if n <= points:
        idx = np.arange(n)
    else:
        idx = np.unique(np.linspace(0, n - 1, points).round().astype(int))
    return [np.asarray(a)[idx].astype(float).tolist() for a in arrays]


class ClassificationReport:
    """Charts of a classifier on held-out rows. ``classes`` gives the probability columns' order."""

    def __init__(self, y_true: Any, proba: Any, classes: Any, positive_label: Any = None,
                 weights: Any = None) -> None:
        self.weights = None if weights is None else np.asarray(weights, dtype=float)  # sample weights, or None
        self.classes = [c.item() if hasattr(c, "item") else c for c in np.asarray(classes, dtype=object)]
        labels = pd.Series(np.asarray(y_true, dtype=object)).map(lambda v: v.item() if hasattr(v, "item") else v)
        index = {c: i for i, c in enumerate(self.classes)}
        self.y_true = labels.tolist()
        self._codes = np.asarray([index[v] for v in self.y_true])
        self.proba = np.asarray(proba, dtype=float)
        if positive_label is None and len(self.classes) == 2:
            positive_label = self.classes[1]
        self.positive_label = positive_label

    @property
    def task(self) -> Task:
        return Task.CLASSIFICATION

    @cached_property
    def metrics(self) -> dict[str, float]:
        return classification_scores(self._codes, self.proba, np.asarray(self.classes, dtype=object), self.weights)

    @cached_property
    def predicted(self) -> list[Any]:
        return [self.classes[i] for i in self.proba.argmax(axis=1)]

    @cached_property
    def confusion_matrix(self) -> pd.DataFrame:
        """Rows: true class; columns: predicted class; cells: row counts (sums of sample weights when weighted)."""
        from sklearn.metrics import confusion_matrix

        k = len(self.classes)
        matrix = confusion_matrix(self._codes, self.proba.argmax(axis=1), labels=list(range(k)),
                                  sample_weight=self.weights)
        names = [str(c) for c in self.classes]
        return pd.DataFrame(matrix, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))

    def _one_vs_rest(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out = {}
        for i, c in enumerate(self.classes):
            truth = (self._codes == i).astype(int)
            if 0 < truth.sum() < len(truth):
                out[str(c)] = (truth, self.proba[:, i])
        return out

    def _shown_classes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        curves = self._one_vs_rest()
        if len(self.classes) == 2 and str(self.positive_label) in curves:
            return {str(self.positive_label): curves[str(self.positive_label)]}
        return curves

    @cached_property
    def roc(self) -> dict[str, dict[str, Any]]:
        """Per class (the positive one for binary tasks): false and true positive rates, and AUC."""
        from sklearn.metrics import roc_auc_score, roc_curve

        out = {}
        for name, (truth, score) in self._shown_classes().items():
            fpr, tpr, _ = roc_curve(truth, score, sample_weight=self.weights)
            fpr_l, tpr_l = _thin(fpr, tpr)
            out[name] = {"fpr": fpr_l, "tpr": tpr_l,
                         "auc": float(roc_auc_score(truth, score, sample_weight=self.weights))}
        return out

    @cached_property
    def precision_recall(self) -> dict[str, dict[str, Any]]:
        from sklearn.metrics import average_precision_score, precision_recall_curve

        out = {}
        for name, (truth, score) in self._shown_classes().items():
            precision, recall, _ = precision_recall_curve(truth, score, sample_weight=self.weights)
            p, r = _thin(precision, recall)
            out[name] = {"precision": p, "recall": r, "average_precision": float(
                average_precision_score(truth, score, sample_weight=self.weights))}
        return out

    @cached_property
    def calibration(self) -> dict[str, dict[str, Any]]:
        """Mean predicted probability vs the share that was truly that class, in equal-width bins."""
        out = {}
        edges = np.linspace(0, 1, CALIBRATION_BINS + 1)
        weights = self._row_weights()
        for name, (truth, score) in self._shown_classes().items():
            bins = np.clip(np.digitize(score, edges[1:-1]), 0, CALIBRATION_BINS - 1)
            mean_predicted, observed, counts = [], [], []
            for b in range(CALIBRATION_BINS):
                mask = (bins == b) & (weights > 0)
                if mask.any():
                    mean_predicted.append(float(np.average(score[mask], weights=weights[mask])))
                    observed.append(float(np.average(truth[mask], weights=weights[mask])))
                    counts.append(int(mask.sum()))
            out[name] = {"mean_predicted": mean_predicted, "fraction_positive": observed, "count": counts}
        return out

    @cached_property
    def lift(self) -> dict[str, dict[str, Any]]:
        """Cumulative gains and lift by decile of the predicted probability (highest first)."""
        out = {}
        weights = self._row_weights()
        for name, (truth, score) in self._shown_classes().items():
            order = np.argsort(-score, kind="stable")
            sorted_truth = truth[order] * weights[order]
            reach = np.cumsum(weights[order]) / max(float(weights.sum()), 1e-300)  # weighted share of the population
            total = sorted_truth.sum()
            shares, gains, lifts = [], [], []
            for q in range(1, LIFT_BINS + 1):
                cut = int(round(len(order) * q / LIFT_BINS))
                found = sorted_truth[:cut].sum()
                share = q / LIFT_BINS
                reached = float(reach[cut - 1]) if cut else 0.0
                shares.append(share)
                gains.append(float(found / total) if total else 0.0)
                lifts.append(float((found / total) / reached) if total and reached > 0 else 0.0)
            out[name] = {"population": shares, "gain": gains, "lift": lifts}
        return out

    def _row_weights(self) -> np.ndarray:
        return np.ones(len(self._codes)) if self.weights is None else self.weights

    def to_dict(self) -> dict[str, Any]:
        return {"task": "classification", "classes": self.classes, "y_true": self.y_true,
                "proba": self.proba.round(6).tolist(), "positive_label": self.positive_label,
                "weights": None if self.weights is None else self.weights.tolist()}


class RegressionReport:
    """Charts of a regressor on held-out rows."""

    HISTOGRAM_BINS = 30

    def __init__(self, y_true: Any, y_pred: Any, y_range: float | None = None, task: Task = Task.REGRESSION,
                 weights: Any = None) -> None:
        self.weights = None if weights is None else np.asarray(weights, dtype=float)  # sample weights, or None
        self.y_true = np.asarray(y_true, dtype=float)
        self.y_pred = np.asarray(y_pred, dtype=float)
        self.y_range = y_range
        self._task = task

    @property
    def task(self) -> Task:
        return self._task

    @cached_property
    def metrics(self) -> dict[str, float]:
        return regression_scores(self.y_true, self.y_pred, self.y_range, self.weights)

    @cached_property
    def residuals(self) -> np.ndarray:
        return self.y_true - self.y_pred

    @cached_property
    def predicted_vs_true(self) -> dict[str, Any]:
        """Binned by true value: mean prediction and its spread, plus the ideal line's ends."""
        bins = min(20, max(len(self.y_true) // 5, 1))
        edges = np.quantile(self.y_true, np.linspace(0, 1, bins + 1))
        which = np.clip(np.searchsorted(edges[1:-1], self.y_true, side="right"), 0, bins - 1)
        weights = np.ones(len(self.y_true)) if self.weights is None else self.weights
        centers, mean_pred, low, high, counts = [], [], [], [], []
        for b in range(bins):
            mask = (which == b) & (weights > 0)
            if not mask.any():
                continue
            centers.append(float(np.average(self.y_true[mask], weights=weights[mask])))
            mean_pred.append(float(np.average(self.y_pred[mask], weights=weights[mask])))
            low.append(float(np.quantile(self.y_pred[mask], 0.1)))
            high.append(float(np.quantile(self.y_pred[mask], 0.9)))
            counts.append(int(mask.sum()))
        ends = [float(self.y_true.min()), float(self.y_true.max())]
        return {"true": centers, "mean_predicted": mean_pred, "p10": low, "p90": high, "count": counts,
                "ideal": ends}

    @cached_property
    def residual_histogram(self) -> dict[str, list[float]]:
        counts, edges = np.histogram(self.residuals, bins=self.HISTOGRAM_BINS, weights=self.weights)
        counts = counts.astype(int) if self.weights is None else counts.astype(float)
        return {"edges": edges.astype(float).tolist(), "counts": counts.tolist()}

    def to_dict(self) -> dict[str, Any]:
        return {"task": self._task.value, "y_true": self.y_true.round(8).tolist(),
                "y_pred": self.y_pred.round(8).tolist(), "y_range": self.y_range,
                "weights": None if self.weights is None else self.weights.tolist()}


def report_for(task: Task, y_true: Any, prediction: Any, classes: Any = None, positive_label: Any = None,
               y_range: float | None = None, weights: Any = None) -> ClassificationReport | RegressionReport:
    """The report of ``task``; ``weights`` (per-row sample weights) weight its metrics and charts."""
    if task is Task.CLASSIFICATION:
        return ClassificationReport(y_true, prediction, classes, positive_label, weights)
    return RegressionReport(y_true, prediction, y_range, task, weights)


def report_from_dict(data: dict[str, Any]) -> ClassificationReport | RegressionReport:
    if data["task"] == "classification":
        return ClassificationReport(data["y_true"], data["proba"], data["classes"], data.get("positive_label"),
                                    data.get("weights"))
    return RegressionReport(data["y_true"], data["y_pred"], data.get("y_range"), Task(data["task"]),
                            data.get("weights"))
