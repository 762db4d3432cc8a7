"""Data guardrails, as the studio shows them before and after a run.

Each check returns a :class:`Guardrail` whose status is ``Passed`` (nothing to
see), ``Done`` (something was changed, e.g. missing values imputed) or
``Alerted`` (look at your data: class imbalance, a feature that leaks the target).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from studio_ext.ml.automl.featurization import ONE_HOT_MAX_CATEGORIES, FeaturizationPlan
from studio_ext.ml.automl.metrics import Task
from studio_ext.ml.automl.validation import ValidationPlan

__all__ = ["Guardrail", "GuardrailStatus", "check_guardrails"]

IMBALANCE_RATIO = 0.20  # the smallest class under 20 % of the largest: imbalanced (Azure's rule)
LEAKAGE_SCORE = 0.99  # a single feature scoring this alone is suspicious
LEAKAGE_SAMPLE_ROWS = 5_000
LEAKAGE_MAX_COLUMNS = 60


class GuardrailStatus(str, enum.Enum):
    PASSED = "Passed"
    DONE = "Done"
    ALERTED = "Alerted"

    def __str__(self) -> str:
        return self.value


@dataclass
class Guardrail:
    name: str
    status: GuardrailStatus
    description: str
    details: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value, "description": self.description,
                "details": self.details}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Guardrail:
        return cls(name=data["name"], status=GuardrailStatus(data["status"]), description=data["description"],
                   details=list(data.get("details", [])))


def check_guardrails(
    features: pd.DataFrame,
    y: pd.Series,
    task: Task,
    featurization: FeaturizationPlan,
    validation: ValidationPlan,
    *,
    leakage: bool = True,
) -> list[Guardrail]:
    """All guardrails for a run's training data, in the studio's order."""
    out = [_validation(validation, len(y))]
    if task is Task.CLASSIFICATION:
        out.append(_imbalance(y))
    out.append(_missing(featurization))
    out.append(_cardinality(featurization))
    if leakage:
        out.append(_leakage(features, y, task, featurization))
    return out


def _validation(plan: ValidationPlan, rows: int) -> Guardrail:
    return Guardrail(name="Validation split handling", status=GuardrailStatus.DONE,
                     description=f"Trials are validated with {plan.description} over {rows:,} training rows.",
                     details=[plan.to_dict()])


def _imbalance(y: pd.Series) -> Guardrail:
    counts = y.value_counts()
    ratio = counts.min() / counts.max()
    details = [{"class": _plain(k), "rows": int(v), "share": float(v / len(y))} for k, v in counts.items()]
    if ratio < IMBALANCE_RATIO:
        return Guardrail(
            name="Class balancing detection", status=GuardrailStatus.ALERTED,
            description=(f"The smallest class ({_plain(counts.idxmin())!r}, {counts.min():,} rows) has "
                         f"{ratio:.0%} as many rows as the largest. Accuracy can look good while the small class "
                         "is missed: prefer AUC_weighted or norm_macro_recall, or gather more of that class."),
            details=details)
    return Guardrail(name="Class balancing detection", status=GuardrailStatus.PASSED,
                     description="The classes are balanced enough.", details=details)


def _missing(plan: FeaturizationPlan) -> Guardrail:
    imputed = plan.imputed
    if not imputed:
        return Guardrail(name="Missing feature values imputation", status=GuardrailStatus.PASSED,
                         description="No missing values in the features used.")
    details = [{"column": c.name, "missing": c.missing, "imputed_with": c.params.get("strategy", "a category of "
                                                                                     "its own")} for c in imputed]
    return Guardrail(name="Missing feature values imputation", status=GuardrailStatus.DONE,
                     description=f"Missing values were imputed in {len(imputed)} column(s).", details=details)


def _cardinality(plan: FeaturizationPlan) -> Guardrail:
    high = plan.high_cardinality
    if not high:
        return Guardrail(name="High cardinality feature detection", status=GuardrailStatus.PASSED,
                         description=f"No categorical feature has more than {ONE_HOT_MAX_CATEGORIES} categories.")
    details = [{"column": c.name, "distinct": c.distinct, "encoded_with": c.transformer} for c in high]
    return Guardrail(name="High cardinality feature detection", status=GuardrailStatus.DONE,
                     description=(f"{len(high)} categorical column(s) have many categories; they were encoded "
                                  "compactly (target or hash encoding) rather than one column per category."),
                     details=details)


def _leakage(features: pd.DataFrame, y: pd.Series, task: Task, plan: FeaturizationPlan) -> Guardrail:
    """A shallow tree on each feature alone: a near-perfect score hints that it leaks the target."""
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    sample = features.sample(n=min(len(features), LEAKAGE_SAMPLE_ROWS), random_state=0) if len(features) else features
    target = y.loc[sample.index].to_numpy()
    classification = task is Task.CLASSIFICATION
    suspects = []
    if (classification and pd.Series(target).value_counts().min() < 3) or len(target) < 30:
        return Guardrail(name="Target leakage detection", status=GuardrailStatus.PASSED,
                         description="Too few rows to test single features for leakage.")
    splitter = StratifiedKFold(3, shuffle=True, random_state=0) if classification else KFold(3, shuffle=True,
                                                                                             random_state=0)
    folds = list(splitter.split(sample, target if classification else None))
    scoring = "balanced_accuracy" if classification else "r2"
    for col in plan.used[:LEAKAGE_MAX_COLUMNS]:
        values = _one_column(sample[col.name])
        if values is None:
            continue
        scores = []
        for train, valid in folds:
            model = (DecisionTreeClassifier(max_depth=4, random_state=0) if classification
                     else DecisionTreeRegressor(max_depth=4, random_state=0))
            predicted = model.fit(values[train], target[train]).predict(values[valid])
            scores.append(_balanced_accuracy(target[valid], predicted) if classification
                          else _r2(target[valid], predicted))
        result = float(np.mean(scores))
        if not classification and np.std(values) > 0 and np.std(target) > 0:  # a linear copy of the target
            result = max(result, float(np.corrcoef(values[:, 0], target)[0, 1] ** 2))
        if result >= LEAKAGE_SCORE:
            suspects.append({"column": col.name, "score_alone": round(result, 4), "scoring": scoring})
    if suspects:
        names = ", ".join(repr(s["column"]) for s in suspects)
        return Guardrail(
            name="Target leakage detection", status=GuardrailStatus.ALERTED,
            description=(f"{names} alone predict(s) the target almost perfectly. If it is only known after the "
                         "outcome (or is derived from it), mark it Ignore in the featurization settings."),
            details=suspects)
    return Guardrail(name="Target leakage detection", status=GuardrailStatus.PASSED,
                     description="No single feature predicts the target almost perfectly on its own.")


def _one_column(series: pd.Series) -> np.ndarray | None:
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        values = pd.to_numeric(series, errors="coerce").astype("float64").to_numpy(na_value=np.nan)
        return np.nan_to_num(values, nan=np.nanmin(values) - 1 if np.isfinite(values).any() else 0.0).reshape(-1, 1)
    if series.nunique(dropna=True) > ONE_HOT_MAX_CATEGORIES * 4:
        return None  # an id-like text column: a tree would only memorize it
    codes, _ = pd.factorize(series.astype("string"), use_na_sentinel=True)
    return codes.reshape(-1, 1).astype(float)


def _balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean([np.mean(predicted[truth == c] == c) for c in np.unique(truth)]))


def _r2(truth: np.ndarray, predicted: np.ndarray) -> float:
    variance = float(np.var(truth))
    return 1.0 - float(np.mean((truth - predicted) ** 2)) / variance if variance > 0 else 0.0


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
