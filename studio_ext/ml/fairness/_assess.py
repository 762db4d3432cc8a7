"""Fairness assessment: a model's metrics overall and per sensitive group, and their disparities.

fairlearn's ``MetricFrame`` computes the numbers; this module chooses the metrics
that fit the model's task, checks the sensitive columns before anything runs, and
keeps the results in a plain :class:`FairnessAssessment` that stores as JSON.
Each sensitive column is assessed alone and, when there are several, together
(``"sex × race"``), so a dashboard can switch between them without recomputing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from studio_ext.errors import InvalidInput, NotFound
from studio_ext.ml.tabular_model import TabularModel, Task, check_predicts, infer_classes, prepare_frame, wrap_model

#: More groups than this is a continuous column: bin it before assessing.
MAX_GROUPS = 50
COMBINED = " × "
MISSING_GROUP = "(missing)"


@dataclass(frozen=True)
class GroupMetric:
    name: str
    task: Task
    higher_is_better: bool
    fn: Callable[[np.ndarray, np.ndarray], float]


def _metric_table() -> dict[str, GroupMetric]:
    from fairlearn import metrics as fm
    from sklearn import metrics as sk

    c, r = Task.CLASSIFICATION, Task.REGRESSION

    def zero(fn: Callable[..., float]) -> Callable[[np.ndarray, np.ndarray], float]:
        return lambda y, p: float(fn(y, p, zero_division=0))

    table = [
        GroupMetric("selection_rate", c, True, lambda y, p: float(fm.selection_rate(y, p, pos_label=1))),
        GroupMetric("accuracy", c, True, lambda y, p: float(sk.accuracy_score(y, p))),
        GroupMetric("balanced_accuracy", c, True, lambda y, p: float(sk.balanced_accuracy_score(y, p))),
        GroupMetric("precision", c, True, zero(sk.precision_score)),
        GroupMetric("recall", c, True, zero(sk.recall_score)),
        GroupMetric("f1", c, True, zero(sk.f1_score)),
        GroupMetric("false_positive_rate", c, False, lambda y, p: float(fm.false_positive_rate(y, p, pos_label=1))),
        GroupMetric("false_negative_rate", c, False, lambda y, p: float(fm.false_negative_rate(y, p, pos_label=1))),
        GroupMetric("mean_absolute_error", r, False, lambda y, p: float(sk.mean_absolute_error(y, p))),
        GroupMetric("mean_squared_error", r, False, lambda y, p: float(sk.mean_squared_error(y, p))),
        GroupMetric("root_mean_squared_error", r, False, lambda y, p: float(sk.root_mean_squared_error(y, p))),
        GroupMetric("r2", r, True, lambda y, p: float(sk.r2_score(y, p)) if len(y) > 1 else float("nan")),
        GroupMetric("mean_prediction", r, True, lambda y, p: float(np.mean(p))),
    ]
    return {m.name: m for m in table}


METRICS: dict[str, GroupMetric] = _metric_table()
DEFAULT_METRICS = {
    Task.CLASSIFICATION: ["selection_rate", "accuracy", "precision", "recall", "false_positive_rate", "false_negative_rate"],
    Task.REGRESSION: ["mean_absolute_error", "root_mean_squared_error", "r2", "mean_prediction"],
}
_MULTICLASS_METRICS = {"accuracy", "balanced_accuracy"}


@dataclass(kw_only=True)
class FairnessAssessment:
    """Metrics overall and by group for each sensitive column (and their combination).

    Example::

        a = assess(model, adult, "income", ["sex"])
        a.by_group("sex")                      # groups × metrics, with a count column
        a.disparity("selection_rate", "sex")   # the largest difference between groups
        a.summary["sex"]["demographic_parity_difference"]
    """

    task: Task
    metrics: list[str]
    sensitive_features: list[str]
    pos_label: str | None
    rows: int
    overall: dict[str, float]
    groups: dict[str, pd.DataFrame]  # key → groups × (metrics + count)
    disparities: dict[str, pd.DataFrame]  # key → metrics × (difference, ratio, min, max)
    summary: dict[str, dict[str, float]] = field(default_factory=dict)  # key → DP difference/ratio, EO difference
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        """The views: each sensitive column, then their combination."""
        return list(self.groups)

    @property
    def name(self) -> str | None:
        return self.metadata.get("name")

    def by_group(self, feature: str | None = None) -> pd.DataFrame:
        return self.groups[self._key(feature)]

    def disparity(self, metric: str, feature: str | None = None, kind: str = "difference") -> float:
        """The between-groups ``difference`` (max - min) or ``ratio`` (min / max) of ``metric``."""
        if kind not in ("difference", "ratio"):
            raise InvalidInput(f"The 'kind' parameter must be 'difference' or 'ratio'. Got {kind!r} instead.")
        table = self.disparities[self._key(feature)]
        if metric not in table.index:
            raise NotFound(f"The assessment has no metric {metric!r}. Metrics: {', '.join(self.metrics)}.")
        return float(table.loc[metric, kind])

    def _key(self, feature: str | None) -> str:
        if feature is None:
            return self.keys[-1]
        if feature not in self.groups:
            raise NotFound(f"The assessment has no sensitive view {feature!r}. Views: {', '.join(self.keys)}.")
        return feature

    # -- storage --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task.value, "metrics": self.metrics, "sensitive_features": self.sensitive_features,
            "pos_label": self.pos_label, "rows": self.rows, "overall": self.overall,
            "groups": {k: _frame_to_json(v) for k, v in self.groups.items()},
            "disparities": {k: _frame_to_json(v) for k, v in self.disparities.items()},
            "summary": self.summary, "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> FairnessAssessment:
        return cls(
            task=Task(payload["task"]), metrics=list(payload["metrics"]),
            sensitive_features=list(payload["sensitive_features"]), pos_label=payload.get("pos_label"),
            rows=int(payload["rows"]), overall=dict(payload["overall"]),
            groups={k: _frame_from_json(v) for k, v in payload["groups"].items()},
            disparities={k: _frame_from_json(v) for k, v in payload["disparities"].items()},
            summary=payload.get("summary") or {}, metadata=payload.get("metadata") or {},
        )

    def __repr__(self) -> str:
        key = self.keys[-1]
        facts = ", ".join(f"{k}={v:.3f}" for k, v in self.summary.get(key, {}).items())
        return f"FairnessAssessment(sensitive={self.sensitive_features}, rows={self.rows}, {facts or 'regression'})"


_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")
_BELOW = ("under", "<", "below", "less than")


def group_order(label: str) -> tuple[Any, ...]:
    """Groups in the order a person reads them: ranges by their numbers, not as text.

    ``"under 40"`` < ``"40 to 49"`` < ``"60 and over"``; labels without a number keep text order
    after the numbered ones; combined groups (``"a × b"``) order part by part.
    """
    parts = []
    for part in label.split(COMBINED):
        found = _NUMBER.search(part)
        if found is None:
            parts.append((1, 0.0, part))
            continue
        number = float(found.group().replace(",", ""))
        below = part.strip().lower().startswith(_BELOW)
        parts.append((0, number - (0.5 if below else 0.0), part))
    return tuple(parts)


def _frame_to_json(df: pd.DataFrame) -> dict[str, Any]:
    clean = df.astype(float).where(df.notna(), None)
    return {"index": [str(i) for i in df.index], "columns": list(df.columns),
            "data": [[None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v) for v in row]
                     for row in clean.to_numpy(dtype=object)]}


def _frame_from_json(payload: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(payload["data"], index=payload["index"], columns=payload["columns"], dtype=float)


# -- validation shared with mitigation ------------------------------------------------
def sensitive_frame(data: pd.DataFrame, sensitive_features: Sequence[str] | str) -> pd.DataFrame:
    """The sensitive columns as text labels; refuse missing columns, one group, or continuous values."""
    if isinstance(sensitive_features, str):
        sensitive_features = [sensitive_features]
    names = list(sensitive_features or [])
    if not names:
        raise InvalidInput("Give at least one sensitive feature: sensitive_features=['sex'] (a column of the data).")
    missing = [n for n in names if n not in data.columns]
    if missing:
        raise InvalidInput(
            f"The sensitive features {', '.join(map(repr, missing))} are not columns of the data. "
            f"Columns: {', '.join(map(str, data.columns))}."
        )
    out = sensitive_labels(data, names)
    for name in names:
        labels = out[name]
        groups = labels.nunique()
        if groups < 2:
            raise InvalidInput(
                f"The sensitive feature {name!r} has a single group ({labels.iloc[0]!r}) in these rows, so there "
                "is nothing to compare. Choose a column with two or more groups."
            )
        if groups > MAX_GROUPS:
            raise InvalidInput(
                f"The sensitive feature {name!r} has {groups} distinct values: it looks continuous. Bin it into a few "
                f"groups first (e.g. pd.cut), then assess; at most {MAX_GROUPS} groups are compared."
            )
    return out


def sensitive_labels(data: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """The sensitive columns as text group labels, missing values as their own group (no checks)."""
    return pd.DataFrame({n: data[n].astype(object).where(data[n].notna(), MISSING_GROUP).map(str) for n in names},
                        index=data.index)


def check_metrics(metrics: Sequence[str] | None, task: Task, n_classes: int) -> list[str]:
    """The metric names to compute, checked against the model's task (regression vs classification)."""
    if metrics is None:
        chosen = list(DEFAULT_METRICS[task])
        return [m for m in chosen if m in _MULTICLASS_METRICS] if task is Task.CLASSIFICATION and n_classes > 2 else chosen
    if isinstance(metrics, str):
        metrics = [metrics]
    chosen = list(metrics)
    unknown = [m for m in chosen if m not in METRICS]
    if unknown:
        raise InvalidInput(f"Unknown fairness metrics: {', '.join(map(repr, unknown))}. Known: {', '.join(METRICS)}.")
    wrong = [m for m in chosen if METRICS[m].task is not task]
    if wrong:
        fit = ", ".join(k for k, v in METRICS.items() if v.task is task)
        raise InvalidInput(
            f"The model is a {task.value} model, so the {', '.join(METRICS[w].task.value for w in wrong[:1])} "
            f"metrics {', '.join(map(repr, wrong))} do not apply. Use: {fit}."
        )
    if task is Task.CLASSIFICATION and n_classes > 2:
        binary_only = [m for m in chosen if m not in _MULTICLASS_METRICS]
        if binary_only:
            raise InvalidInput(
                f"The model has {n_classes} classes; {', '.join(map(repr, binary_only))} need a positive class and so "
                f"a binary classifier. Use {', '.join(sorted(_MULTICLASS_METRICS))}."
            )
    return chosen


def positive_label(tm: TabularModel, pos_label: Any) -> Any:
    """The class counted as the favourable outcome: ``pos_label``, else the model's second class."""
    if not tm.is_classifier or len(tm.classes) != 2:
        if pos_label is not None and tm.is_classifier:
            raise InvalidInput("pos_label applies to binary classifiers only.")
        return None
    if pos_label is None:
        return tm.classes[1]
    match = [c for c in tm.classes if str(c) == str(pos_label)]
    if not match:
        raise InvalidInput(f"pos_label={pos_label!r} is not a class of the model. Its classes: {', '.join(map(str, tm.classes))}.")
    return match[0]


def encode(values: Any, pos: Any) -> np.ndarray:
    """Labels → 1 for the positive class, 0 otherwise (identity for regression)."""
    arr = np.asarray(values)
    if pos is None:
        return arr
    return (arr.astype(str) == str(pos)).astype(int)


# -- assessment ------------------------------------------------------------------------
def assess(
    model: Any,
    data: pd.DataFrame,
    target_column: str,
    sensitive_features: Sequence[str] | str,
    *,
    features: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    pos_label: Any = None,
    task: str | None = None,
) -> FairnessAssessment:
    """Predict on ``data`` and compare the model's metrics across sensitive groups.

    ``sensitive_features`` are columns of ``data`` (they need not be model inputs).
    Everything is checked before the model predicts on the full table.
    """
    if target_column is None:
        raise InvalidInput("A fairness assessment compares predictions with the truth: pass target_column=.")
    sensitive = sensitive_frame(data, sensitive_features)
    X, y = prepare_frame(data, target_column, features, model=model)
    tm = wrap_model(model, task)
    check_predicts(tm, X)
    infer_classes(tm, X, y)
    chosen = check_metrics(metrics, tm.task, len(tm.classes))
    pos = positive_label(tm, pos_label)
    keep = y.notna().to_numpy()
    predicted = tm.predict(X[keep])
    return assess_predictions(y[keep].to_numpy(), predicted, sensitive[keep], chosen, tm.task, pos)


def assess_predictions(
    y_true: np.ndarray, y_pred: np.ndarray, sensitive: pd.DataFrame, metrics: list[str], task: Task, pos: Any,
) -> FairnessAssessment:
    """The assessment of given predictions (used for the original model and every mitigated candidate)."""
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
    )

    truth, pred = encode(y_true, pos), encode(y_pred, pos)
    if task is Task.CLASSIFICATION and pos is None:
        truth, pred = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    fns = {m: METRICS[m].fn for m in metrics}
    views: list[tuple[str, pd.DataFrame | pd.Series]] = [(c, sensitive[c]) for c in sensitive.columns]
    if sensitive.shape[1] > 1:
        views.append((COMBINED.join(sensitive.columns), sensitive))
    groups, disparities, summary = {}, {}, {}
    overall: dict[str, float] = {}
    for key, feature in views:
        frame = MetricFrame(metrics=fns, y_true=truth, y_pred=pred, sensitive_features=feature)
        by_group = frame.by_group.copy()
        if isinstance(by_group.index, pd.MultiIndex):
            by_group.index = [COMBINED.join(map(str, ix)) for ix in by_group.index]
        else:
            by_group.index = [str(ix) for ix in by_group.index]
        counts = (feature.astype(str).agg(COMBINED.join, axis=1) if isinstance(feature, pd.DataFrame)
                  else feature.astype(str)).value_counts()
        by_group["count"] = [int(counts.get(g, 0)) for g in by_group.index]
        groups[key] = by_group.astype(float).loc[sorted(by_group.index, key=group_order)]
        disparities[key] = pd.DataFrame({
            "difference": frame.difference(method="between_groups"),
            "ratio": frame.ratio(method="between_groups"),
            "min": frame.group_min(), "max": frame.group_max(),
        }).astype(float)
        overall = {k: float(v) for k, v in frame.overall.items()}
        if task is Task.CLASSIFICATION and pos is not None:
            summary[key] = {
                "demographic_parity_difference": float(demographic_parity_difference(truth, pred, sensitive_features=feature)),
                "demographic_parity_ratio": float(demographic_parity_ratio(truth, pred, sensitive_features=feature)),
                "equalized_odds_difference": float(equalized_odds_difference(truth, pred, sensitive_features=feature)),
            }
    return FairnessAssessment(
        task=task, metrics=list(metrics), sensitive_features=list(sensitive.columns),
        pos_label=None if pos is None else str(pos), rows=int(len(truth)), overall=overall,
        groups=groups, disparities=disparities, summary=summary,
    )
