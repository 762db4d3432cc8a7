"""Unfairness mitigation: retrain or post-process a model under a fairness constraint.

fairlearn does the mitigation (ExponentiatedGradient and GridSearch retrain the
model with sample weights; ThresholdOptimizer picks per-group thresholds on its
scores). This module checks that the method, the constraint and the model fit
together before anything trains, evaluates the original model and every candidate
on the same held-out rows, and marks the Pareto front of performance vs disparity:
the candidates no other beats on both.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from studio_ext.errors import InvalidInput
from studio_ext.ml.fairness._assess import (
    FairnessAssessment,
    assess_predictions,
    check_metrics,
    encode,
    positive_label,
    sensitive_frame,
    sensitive_labels,
)
from studio_ext.ml.tabular_model import TabularModel, Task, check_predicts, infer_classes, prepare_frame, wrap_model

Progress = Callable[[str], None]


class MitigationMethod(str, enum.Enum):
    EXPONENTIATED_GRADIENT = "exponentiated_gradient"
    GRID_SEARCH = "grid_search"
    THRESHOLD_OPTIMIZER = "threshold_optimizer"

    def __str__(self) -> str:
        return self.value


class FairnessConstraint(str, enum.Enum):
    DEMOGRAPHIC_PARITY = "demographic_parity"
    TRUE_POSITIVE_RATE_PARITY = "true_positive_rate_parity"
    FALSE_POSITIVE_RATE_PARITY = "false_positive_rate_parity"
    EQUALIZED_ODDS = "equalized_odds"
    ERROR_RATE_PARITY = "error_rate_parity"
    BOUNDED_GROUP_LOSS = "bounded_group_loss"  # regression

    def __str__(self) -> str:
        return self.value


# The disparity each constraint controls, as reported on the comparison chart (lower is better).
DISPARITY_OF = {
    FairnessConstraint.DEMOGRAPHIC_PARITY: "demographic_parity_difference",
    FairnessConstraint.TRUE_POSITIVE_RATE_PARITY: "true_positive_rate_difference",
    FairnessConstraint.FALSE_POSITIVE_RATE_PARITY: "false_positive_rate_difference",
    FairnessConstraint.EQUALIZED_ODDS: "equalized_odds_difference",
    FairnessConstraint.ERROR_RATE_PARITY: "error_rate_difference",
    FairnessConstraint.BOUNDED_GROUP_LOSS: "worst_group_mean_squared_error",
}
_THRESHOLD_CONSTRAINTS = {
    FairnessConstraint.DEMOGRAPHIC_PARITY: "demographic_parity",
    FairnessConstraint.TRUE_POSITIVE_RATE_PARITY: "true_positive_rate_parity",
    FairnessConstraint.FALSE_POSITIVE_RATE_PARITY: "false_positive_rate_parity",
    FairnessConstraint.EQUALIZED_ODDS: "equalized_odds",
}
PERFORMANCE_OF = {Task.CLASSIFICATION: ("accuracy", True), Task.REGRESSION: ("mean_absolute_error", False)}


@dataclass(kw_only=True)
class Candidate:
    """One model of the comparison: the original or a mitigated one, scored on held-out rows."""

    name: str
    index: int
    is_original: bool
    performance: dict[str, float]
    disparity: dict[str, float]
    assessment: FairnessAssessment
    params: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None  # set by the service: the child run holding this candidate
    model: Any = None  # the fitted predictor (engine results only; not stored)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "index": self.index, "is_original": self.is_original,
                "performance": self.performance, "disparity": self.disparity, "params": self.params,
                "run_id": self.run_id, "assessment": self.assessment.to_dict()}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Candidate:
        return cls(name=payload["name"], index=int(payload["index"]), is_original=bool(payload["is_original"]),
                   performance=payload["performance"], disparity=payload["disparity"],
                   params=payload.get("params") or {}, run_id=payload.get("run_id"),
                   assessment=FairnessAssessment.from_dict(payload["assessment"]))


@dataclass(kw_only=True)
class MitigationResult:
    """The original model and the mitigated candidates, with the Pareto front of the trade-off."""

    method: MitigationMethod
    constraint: FairnessConstraint
    sensitive_features: list[str]
    performance_metric: str
    higher_is_better: bool
    disparity_metric: str
    candidates: list[Candidate]
    rows_train: int
    rows_test: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        return self.metadata.get("name")

    @property
    def original(self) -> Candidate:
        return self.candidates[0]

    @property
    def pareto_front(self) -> list[int]:
        """Indices of the candidates that no other candidate beats on both performance and disparity."""
        points = [(self._perf(c), c.disparity[self.disparity_metric]) for c in self.candidates]
        return pareto_front(points)

    def best(self, max_disparity: float | None = None) -> Candidate:
        """The best-performing candidate whose disparity is at most ``max_disparity`` (the original's if None)."""
        limit = self.original.disparity[self.disparity_metric] if max_disparity is None else max_disparity
        fit = [c for c in self.candidates if c.disparity[self.disparity_metric] <= limit + 1e-12]
        if not fit:
            raise InvalidInput(f"No candidate has {self.disparity_metric} at most {limit}.")
        return max(fit, key=self._perf)

    def candidate(self, key: int | str) -> Candidate:
        for c in self.candidates:
            if c.index == key or c.name == key:
                return c
        raise InvalidInput(f"There is no candidate {key!r}. Candidates: {', '.join(c.name for c in self.candidates)}.")

    def _perf(self, c: Candidate) -> float:
        value = c.performance[self.performance_metric]
        return value if self.higher_is_better else -value

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method.value, "constraint": self.constraint.value,
                "sensitive_features": self.sensitive_features, "performance_metric": self.performance_metric,
                "higher_is_better": self.higher_is_better, "disparity_metric": self.disparity_metric,
                "rows_train": self.rows_train, "rows_test": self.rows_test, "metadata": self.metadata,
                "candidates": [c.to_dict() for c in self.candidates]}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> MitigationResult:
        return cls(method=MitigationMethod(payload["method"]), constraint=FairnessConstraint(payload["constraint"]),
                   sensitive_features=payload["sensitive_features"], performance_metric=payload["performance_metric"],
                   higher_is_better=payload["higher_is_better"], disparity_metric=payload["disparity_metric"],
                   rows_train=payload["rows_train"], rows_test=payload["rows_test"],
                   metadata=payload.get("metadata") or {},
                   candidates=[Candidate.from_dict(c) for c in payload["candidates"]])

    def __repr__(self) -> str:
        front = set(self.pareto_front)
        rows = "; ".join(
            f"{c.name}{'*' if c.index in front else ''} {self.performance_metric}={c.performance[self.performance_metric]:.3f} "
            f"{self.disparity_metric}={c.disparity[self.disparity_metric]:.3f}" for c in self.candidates[:6])
        return f"MitigationResult({self.method.value} × {self.constraint.value}: {rows})"


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points (score to maximize, disparity to minimize) not dominated by any other."""
    front = []
    for i, (score, gap) in enumerate(points):
        dominated = any(
            (s >= score and g <= gap) and (s > score or g < gap) for j, (s, g) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front


# -- the models mitigation produces -------------------------------------------------------------
class _WeightedRefit(BaseEstimator):
    """The user's model retrained with sample weights (routed to a Pipeline's last step)."""

    def __init__(self, template: Any = None) -> None:
        self.template = template

    def fit(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> _WeightedRefit:
        from sklearn.base import clone
        from sklearn.pipeline import Pipeline

        self.model_ = clone(self.template)
        if sample_weight is None:
            self.model_.fit(X, y)
        elif isinstance(self.model_, Pipeline):
            self.model_.fit(X, y, **{f"{self.model_.steps[-1][0]}__sample_weight": np.asarray(sample_weight)})
        else:
            self.model_.fit(X, y, sample_weight=np.asarray(sample_weight))
        if hasattr(self.model_, "classes_"):
            self.classes_ = self.model_.classes_
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(X)


class _PositiveScore(ClassifierMixin, BaseEstimator):
    """A fitted classifier's probability of the positive class, as ThresholdOptimizer reads it."""

    def __init__(self, model: Any = None, positive_index: int = 1) -> None:
        self.model = model
        self.positive_index = positive_index
        self.fitted_ = True

    def fit(self, X: Any, y: Any) -> _PositiveScore:  # prefit: never called
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = np.asarray(self.model.predict_proba(X))[:, self.positive_index]
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class MitigatedModel(BaseEstimator):
    """A mitigated predictor that takes the same raw rows as the original model and returns its labels.

    ``input_columns`` are the model's features plus, for a threshold optimizer, the
    sensitive columns it needs at prediction time.
    """

    def __init__(self, *, predictor: Any, features: list[str], sensitive_features: list[str],
                 labels: tuple[Any, Any] | None, needs_sensitive: bool, seed: int = 0) -> None:
        self.predictor = predictor
        self.features = list(features)
        self.sensitive_features = list(sensitive_features)
        self.labels = labels  # (negative, positive) of a binary classifier; None for regression
        self.needs_sensitive = needs_sensitive
        self.seed = seed
        if labels is not None:
            self.classes_ = np.asarray(labels, dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier" if self.labels is not None else "regressor"
        return tags

    @property
    def input_columns(self) -> list[str]:
        extra = [c for c in self.sensitive_features if c not in self.features] if self.needs_sensitive else []
        return self.features + extra

    def _predict_codes(self, X: pd.DataFrame) -> np.ndarray:
        rows = X[self.features]
        if self.needs_sensitive:
            sens = sensitive_labels(X, self.sensitive_features)
            return np.asarray(self.predictor.predict(rows, sensitive_features=sens, random_state=self.seed))
        try:
            return np.asarray(self.predictor.predict(rows, random_state=self.seed))
        except TypeError:  # a plain estimator (a grid-search candidate)
            return np.asarray(self.predictor.predict(rows))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        codes = self._predict_codes(X)
        if self.labels is None:
            return codes.astype(float)
        return np.where(codes.astype(int) == 1, self.labels[1], self.labels[0])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        rows = X[self.features]
        if hasattr(self.predictor, "_pmf_predict"):
            if self.needs_sensitive:
                return np.asarray(self.predictor._pmf_predict(rows, sensitive_features=sensitive_labels(X, self.sensitive_features)))
            return np.asarray(self.predictor._pmf_predict(rows))
        return np.asarray(self.predictor.predict_proba(rows))


# -- mitigation ----------------------------------------------------------------------------------
def check_mitigation(method: Any, constraint: Any, tm: TabularModel) -> tuple[MitigationMethod, FairnessConstraint]:
    """Refuse method × constraint × model combinations fairlearn cannot run, before any training."""
    try:
        method = MitigationMethod(str(method))
    except ValueError:
        raise InvalidInput(f"The 'method' parameter must be one of {', '.join(repr(m.value) for m in MitigationMethod)}. "
                           f"Got {method!r} instead.") from None
    try:
        constraint = FairnessConstraint(str(constraint))
    except ValueError:
        raise InvalidInput(f"The 'constraint' parameter must be one of "
                           f"{', '.join(repr(c.value) for c in FairnessConstraint)}. Got {constraint!r} instead.") from None
    if tm.is_classifier and constraint is FairnessConstraint.BOUNDED_GROUP_LOSS:
        raise InvalidInput("bounded_group_loss is the constraint for regression models; this model is a classifier. "
                           "Use demographic_parity, equalized_odds, true_positive_rate_parity, "
                           "false_positive_rate_parity or error_rate_parity.")
    if not tm.is_classifier and constraint is not FairnessConstraint.BOUNDED_GROUP_LOSS:
        raise InvalidInput(f"{constraint.value} needs a classifier; this model is a regression model. "
                           "Use constraint='bounded_group_loss'.")
    if tm.is_classifier and len(tm.classes) != 2:
        raise InvalidInput(f"Mitigation needs a binary classifier; this model has {len(tm.classes)} classes.")
    if method is MitigationMethod.THRESHOLD_OPTIMIZER:
        if constraint not in _THRESHOLD_CONSTRAINTS:
            raise InvalidInput(f"threshold_optimizer does not support {constraint.value}. Use one of "
                               f"{', '.join(c.value for c in _THRESHOLD_CONSTRAINTS)}, or method='exponentiated_gradient'.")
        if not tm.has_proba:
            raise InvalidInput(f"threshold_optimizer reads class probabilities, which {type(tm.model).__name__} "
                               "does not give (no predict_proba).")
    else:
        _check_refittable(tm.model, method)
    return method, constraint


def _check_refittable(model: Any, method: MitigationMethod) -> None:
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import has_fit_parameter

    try:
        clone(model)
    except Exception as exc:  # not a scikit-learn estimator
        raise InvalidInput(
            f"{method.value} retrains the model, and {type(model).__name__} cannot be cloned for that ({exc}). "
            "Use method='threshold_optimizer', which only re-thresholds its predictions."
        ) from exc
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    if not has_fit_parameter(final, "sample_weight"):
        raise InvalidInput(
            f"{method.value} retrains the model with sample weights, which {type(final).__name__}.fit does not "
            "accept. Use method='threshold_optimizer', or a model whose fit takes sample_weight."
        )


def mitigate(
    model: Any,
    data: pd.DataFrame,
    target_column: str,
    sensitive_features: Sequence[str] | str,
    *,
    method: MitigationMethod | str = MitigationMethod.EXPONENTIATED_GRADIENT,
    constraint: FairnessConstraint | str = FairnessConstraint.DEMOGRAPHIC_PARITY,
    features: Sequence[str] | None = None,
    grid_size: int = 10,
    max_iter: int = 50,
    difference_bound: float = 0.01,
    upper_bound: float | None = None,
    test_size: float = 0.3,
    pos_label: Any = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> MitigationResult:
    """Mitigate ``model`` under ``constraint`` and compare every candidate with the original on held-out rows.

    Example::

        result = mitigate(pipeline, adult, "income", ["sex"], method="exponentiated_gradient",
                          constraint="demographic_parity")
        result.candidates[1].disparity, result.pareto_front
    """
    say = progress or (lambda _msg: None)
    if target_column is None:
        raise InvalidInput("Mitigation trains against the truth: pass target_column=.")
    sensitive = sensitive_frame(data, sensitive_features)
    X, y = prepare_frame(data, target_column, features, model=model)
    tm = wrap_model(model)
    check_predicts(tm, X)
    infer_classes(tm, X, y)
    method, constraint = check_mitigation(method, constraint, tm)
    if not 0.05 <= float(test_size) <= 0.9:
        raise InvalidInput(f"The 'test_size' parameter must be between 0.05 and 0.9. Got {test_size!r} instead.")
    for name, value in (("grid_size", grid_size), ("max_iter", max_iter)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInput(f"The '{name}' parameter must be a positive whole number. Got {value!r} instead.")
    pos = positive_label(tm, pos_label)
    keep = y.notna().to_numpy()
    X, y, sensitive = X[keep], y[keep], sensitive[keep]
    from sklearn.model_selection import train_test_split

    strata = sensitive.agg("|".join, axis=1)
    if tm.is_classifier:
        strata = strata + "|" + y.astype(str)
    strata = strata if strata.value_counts().min() >= 2 else None
    X_tr, X_te, y_tr, y_te, s_tr, s_te = train_test_split(
        X, y, sensitive, test_size=test_size, random_state=seed, stratify=strata)
    for part, what in ((s_tr, "training"), (s_te, "held-out")):
        for col in part.columns:
            if part[col].nunique() < 2:
                raise InvalidInput(f"The {what} rows hold a single group of {col!r}; give more rows of each group.")
    metrics = check_metrics(None, tm.task, len(tm.classes))
    perf_name, higher = PERFORMANCE_OF[tm.task]
    disparity_name = DISPARITY_OF[constraint]
    features_used = [str(c) for c in X.columns]
    labels = (tm.classes[0] if tm.classes[1] == pos else tm.classes[1], pos) if pos is not None else None

    def score(name: str, index: int, predicted: np.ndarray, model_obj: Any, params: dict[str, Any]) -> Candidate:
        a = assess_predictions(y_te.to_numpy(), predicted, s_te, metrics, tm.task, pos)
        gap = constraint_disparity(constraint, y_te.to_numpy(), predicted, s_te, pos)
        perf = a.overall.get(perf_name) if perf_name in a.overall else _overall(perf_name, y_te.to_numpy(), predicted, pos)
        return Candidate(name=name, index=index, is_original=index == 0, performance={perf_name: float(perf)},
                         disparity={disparity_name: gap}, assessment=a, params=params, model=model_obj)

    say("scoring the original model on the held-out rows")
    candidates = [score("original", 0, tm.predict(X_te), tm.model, {})]
    y_tr_codes = encode(y_tr.to_numpy(), pos) if pos is not None else y_tr.to_numpy(dtype=float)
    wrap = lambda predictor, needs: MitigatedModel(predictor=predictor, features=features_used,  # noqa: E731
                                                   sensitive_features=list(sensitive.columns), labels=labels,
                                                   needs_sensitive=needs, seed=seed)
    if method is MitigationMethod.THRESHOLD_OPTIMIZER:
        from fairlearn.postprocessing import ThresholdOptimizer

        say("fitting per-group thresholds")
        scorer = _PositiveScore(tm.model, [str(c) for c in tm.classes].index(str(pos)))
        optimizer = ThresholdOptimizer(estimator=scorer, constraints=_THRESHOLD_CONSTRAINTS[constraint],
                                       prefit=True, predict_method="predict_proba")
        optimizer.fit(X_tr, y_tr_codes, sensitive_features=s_tr)
        mitigated = wrap(optimizer, True)
        held_out = data.loc[X_te.index, mitigated.input_columns]
        candidates.append(score("threshold_optimizer", 1, mitigated.predict(held_out), mitigated, {}))
        return _result(method, constraint, sensitive, perf_name, higher, disparity_name, candidates, X_tr, X_te)
    moment = _moment(constraint, difference_bound, upper_bound, y_tr_codes, tm, X_tr)
    template = _WeightedRefit(tm.model)
    if method is MitigationMethod.EXPONENTIATED_GRADIENT:
        from fairlearn.reductions import ExponentiatedGradient

        say(f"exponentiated gradient: up to {max_iter} rounds of reweighted training")
        reducer = ExponentiatedGradient(template, constraints=moment, max_iter=max_iter)
        reducer.fit(X_tr, y_tr_codes, sensitive_features=s_tr)
        mitigated = wrap(reducer, False)
        candidates.append(score("exponentiated_gradient", 1, mitigated.predict(X_te), mitigated,
                                {"predictors": int(len(reducer.predictors_)), "max_iter": max_iter}))
    else:
        from fairlearn.reductions import GridSearch

        say(f"grid search: training {grid_size} reweighted models")
        reducer = GridSearch(template, constraints=moment, grid_size=grid_size)
        reducer.fit(X_tr, y_tr_codes, sensitive_features=s_tr)
        for i, predictor in enumerate(reducer.predictors_):
            say(f"scoring grid candidate {i + 1}/{len(reducer.predictors_)}")
            mitigated = wrap(predictor, False)
            lam = reducer.lambda_vecs_[i]
            candidates.append(score(f"grid_search_{i}", i + 1, mitigated.predict(X_te), mitigated,
                                    {"lambda": {str(k): float(v) for k, v in lam.items()}}))
    return _result(method, constraint, sensitive, perf_name, higher, disparity_name, candidates, X_tr, X_te)


def _result(method: MitigationMethod, constraint: FairnessConstraint, sensitive: pd.DataFrame, perf_name: str,
            higher: bool, disparity_name: str, candidates: list[Candidate], X_tr: pd.DataFrame,
            X_te: pd.DataFrame) -> MitigationResult:
    return MitigationResult(method=method, constraint=constraint, sensitive_features=list(sensitive.columns),
                            performance_metric=perf_name, higher_is_better=higher, disparity_metric=disparity_name,
                            candidates=candidates, rows_train=int(len(X_tr)), rows_test=int(len(X_te)))


def _moment(constraint: FairnessConstraint, difference_bound: float, upper_bound: float | None,
            y_codes: np.ndarray, tm: TabularModel, X_tr: pd.DataFrame) -> Any:
    from fairlearn import reductions as r

    if constraint is FairnessConstraint.BOUNDED_GROUP_LOSS:
        low, high = float(np.min(y_codes)), float(np.max(y_codes))
        if upper_bound is None:
            # Default bound: no group may do worse than the original model does on average.
            predicted = np.clip(tm.predict(X_tr), low, high)
            upper_bound = float(np.mean((predicted - y_codes) ** 2))
        return r.BoundedGroupLoss(r.SquareLoss(low, high), upper_bound=upper_bound)
    kinds = {
        FairnessConstraint.DEMOGRAPHIC_PARITY: r.DemographicParity,
        FairnessConstraint.TRUE_POSITIVE_RATE_PARITY: r.TruePositiveRateParity,
        FairnessConstraint.FALSE_POSITIVE_RATE_PARITY: r.FalsePositiveRateParity,
        FairnessConstraint.EQUALIZED_ODDS: r.EqualizedOdds,
        FairnessConstraint.ERROR_RATE_PARITY: r.ErrorRateParity,
    }
    return kinds[constraint](difference_bound=difference_bound)


def constraint_disparity(constraint: FairnessConstraint, y_true: np.ndarray, y_pred: np.ndarray,
                         sensitive: pd.DataFrame, pos: Any) -> float:
    """The disparity a constraint targets, measured on given predictions (lower is better)."""
    from fairlearn import metrics as fm
    from sklearn.metrics import mean_squared_error

    truth, pred = encode(y_true, pos), encode(y_pred, pos)
    if constraint is FairnessConstraint.BOUNDED_GROUP_LOSS:
        frame = fm.MetricFrame(metrics=mean_squared_error, y_true=truth.astype(float), y_pred=pred.astype(float),
                               sensitive_features=sensitive)
        return float(frame.group_max())
    if constraint is FairnessConstraint.DEMOGRAPHIC_PARITY:
        return float(fm.demographic_parity_difference(truth, pred, sensitive_features=sensitive))
    if constraint is FairnessConstraint.EQUALIZED_ODDS:
        return float(fm.equalized_odds_difference(truth, pred, sensitive_features=sensitive))
    metric = {
        FairnessConstraint.TRUE_POSITIVE_RATE_PARITY: fm.true_positive_rate,
        FairnessConstraint.FALSE_POSITIVE_RATE_PARITY: fm.false_positive_rate,
        FairnessConstraint.ERROR_RATE_PARITY: lambda t, p: float(np.mean(t != p)),
    }[constraint]
    frame = fm.MetricFrame(metrics=metric, y_true=truth, y_pred=pred, sensitive_features=sensitive)
    return float(frame.difference(method="between_groups"))


def _overall(name: str, y_true: np.ndarray, y_pred: np.ndarray, pos: Any) -> float:
    from studio_ext.ml.fairness._assess import METRICS

    return METRICS[name].fn(encode(y_true, pos), encode(y_pred, pos))
