"""The algorithms AutoML tries: Azure's names, FLAML search spaces, strong defaults.

Each :class:`Learner` says which tasks it serves, its search space (``flaml.tune``
domains), the configuration tried first (the library's own defaults, so a search
never starts below a one-line baseline), a cheap configuration for the local
search to grow from, and how to build and fit the estimator within a deadline.
Linear and nearest-neighbour learners carry their own scaler; trees need none. The
scaled linear model runs first: it is the one-line baseline every run must match.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from studio_ext.errors import InvalidInput
from studio_ext.ml.automl.metrics import Task

__all__ = ["LEARNERS", "LabelDecoder", "Learner", "fit_within", "learners_for", "resolve_learners"]

SEED = 0
MSG_UNKNOWN_ALGORITHM = ("{which} names {value!r}, which is not an algorithm for {task}. Available here: "
                         "{allowed}.")
MSG_ALL_BLOCKED = ("Every algorithm for {task} is blocked or left out (allowed: {allowed}; blocked: {blocked}). "
                   "Allow at least one of: {available}.")


@dataclass(frozen=True)
class Learner:
    """One algorithm: how to search it and how to build it."""

    name: str
    tasks: frozenset[Task]
    space: Callable[[int, int, Task], dict[str, Any]]
    default: Callable[[int, int, Task], dict[str, Any]]
    low_cost: dict[str, Any] = field(default_factory=dict)
    build: Callable[[dict[str, Any], Task, int], Any] = None  # type: ignore[assignment]
    scaled: bool = False
    priority: int = 100  # lower runs its defaults first
    weighted: bool = True  # fits with per-row sample weights (weight_column_name)

    def estimator(self, config: dict[str, Any], task: Task, n_jobs: int = 1) -> Any:
        """An unfitted estimator for ``config`` (with a scaler in front when the learner needs one)."""
        est = self.build(dict(config), task, n_jobs)
        if self.scaled:
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            return make_pipeline(StandardScaler(), est)
        return est


def _tune() -> Any:
    from flaml import tune

    return tune


# -- LightGBM -------------------------------------------------------------------------------
def _lgbm_space(n: int, d: int, task: Task) -> dict[str, Any]:
    tune = _tune()
    upper = max(5, min(32768, n))
    return {
        "n_estimators": tune.lograndint(4, upper),
        "num_leaves": tune.lograndint(4, upper),
        "min_child_samples": tune.lograndint(2, 2**7 + 1),
        "learning_rate": tune.loguniform(1 / 1024, 1.0),
        "log_max_bin": tune.lograndint(3, 11),
        "colsample_bytree": tune.uniform(0.01, 1.0),
        "reg_alpha": tune.loguniform(1 / 1024, 1024),
        "reg_lambda": tune.loguniform(1 / 1024, 1024),
    }


def _lgbm_default(n: int, d: int, task: Task) -> dict[str, Any]:
    # LightGBM's own defaults (max_bin 255 = 2**8 - 1; regularization at the space's floor, ~0).
    return {"n_estimators": 100, "num_leaves": 31, "min_child_samples": 20, "learning_rate": 0.1,
            "log_max_bin": 8, "colsample_bytree": 1.0, "reg_alpha": 1 / 1024, "reg_lambda": 1 / 1024}


def _lgbm_build(config: dict[str, Any], task: Task, n_jobs: int) -> Any:
    import lightgbm as lgb

    params = dict(config)
    params["max_bin"] = (1 << int(params.pop("log_max_bin", 8))) - 1
    params.update(verbose=-1, random_state=SEED, n_jobs=n_jobs)
    cls = lgb.LGBMClassifier if task is Task.CLASSIFICATION else lgb.LGBMRegressor
    return cls(**params)


# -- scikit-learn's histogram gradient boosting ------------------------------------------------
def _hgb_space(n: int, d: int, task: Task) -> dict[str, Any]:
    tune = _tune()
    return {
        "max_iter": tune.lograndint(10, 1000),
        "learning_rate": tune.loguniform(0.01, 1.0),
        "max_leaf_nodes": tune.lograndint(4, 256),
        "min_samples_leaf": tune.lograndint(2, 200),
        "l2_regularization": tune.loguniform(1e-4, 100.0),
        "max_features": tune.uniform(0.1, 1.0),
    }


def _hgb_default(n: int, d: int, task: Task) -> dict[str, Any]:
    return {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20,
            "l2_regularization": 1e-4, "max_features": 1.0}


def _hgb_build(config: dict[str, Any], task: Task, n_jobs: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    params = dict(config)
    if params.get("l2_regularization", 0) <= 1.0001e-4:  # the floor of the space stands for "none"
        params["l2_regularization"] = 0.0
    cls = HistGradientBoostingClassifier if task is Task.CLASSIFICATION else HistGradientBoostingRegressor
    return cls(random_state=SEED, **params)


# -- linear models ---------------------------------------------------------------------------
def _logistic_space(n: int, d: int, task: Task) -> dict[str, Any]:
    tune = _tune()
    return {"C": tune.loguniform(1 / 1024, 1024.0), "class_weight": tune.choice(["none", "balanced"])}


def _logistic_default(n: int, d: int, task: Task) -> dict[str, Any]:
    return {"C": 1.0, "class_weight": "none"}


def _logistic_build(config: dict[str, Any], task: Task, n_jobs: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    weight = config.get("class_weight")
    return LogisticRegression(C=float(config["C"]), class_weight=None if weight in (None, "none") else weight,
                              max_iter=1000)


def _elastic_space(n: int, d: int, task: Task) -> dict[str, Any]:
    tune = _tune()
    return {"alpha": tune.loguniform(1e-4, 1e4), "l1_ratio": tune.uniform(0.0, 1.0)}


def _elastic_default(n: int, d: int, task: Task) -> dict[str, Any]:
    return {"alpha": 1.0, "l1_ratio": 0.0}


class ScaledAlphaElasticNet(BaseEstimator):
    """ElasticNet whose ``alpha`` is on Ridge's scale (a sum, not a mean, of squared errors).

    ``l1_ratio`` near 0 is plain Ridge (closed form, fast); otherwise sklearn's
    ElasticNet with ``alpha / n_samples``, so one ``alpha`` means the same at any size.
    """

    def __init__(self, alpha: float = 1.0, l1_ratio: float = 0.0) -> None:
        self.alpha = alpha
        self.l1_ratio = l1_ratio

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> ScaledAlphaElasticNet:
        from sklearn.linear_model import ElasticNet, Ridge

        if self.l1_ratio < 0.01:
            self.model_ = Ridge(alpha=self.alpha)
        else:
            self.model_ = ElasticNet(alpha=self.alpha / max(len(y), 1), l1_ratio=self.l1_ratio, max_iter=5000,
                                     random_state=SEED)
        self.model_.fit(X, y, sample_weight=sample_weight)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.model_.predict(X)


def _elastic_build(config: dict[str, Any], task: Task, n_jobs: int) -> Any:
    return ScaledAlphaElasticNet(alpha=float(config["alpha"]), l1_ratio=float(config["l1_ratio"]))


# -- XGBoost ---------------------------------------------------------------------------------
def _xgb_space(n: int, d: int, task: Task) -> dict[str, Any]:
    tune = _tune()
    upper = max(5, min(32768, n))
    return {
        "n_estimators": tune.lograndint(4, upper),
        "max_leaves": tune.lograndint(4, upper),
        "min_child_weight": tune.loguniform(0.001, 128),
        "learning_rate": tune.loguniform(1 / 1024, 1.0),
        "subsample": tune.uniform(0.1, 1.0),
        "colsample_bylevel": tune.uniform(0.01, 1.0),
        "colsample_bytree": tune.uniform(0.01, 1.0),
        "reg_alpha": tune.loguniform(1 / 1024, 1024),
        "reg_lambda": tune.loguniform(1 / 1024, 1024),
    }


def _xgb_default(n: int, d: int, task: Task) -> dict[str, Any]:
    return {"n_estimators": 100, "max_leaves": 32, "min_child_weight": 1.0, "learning_rate": 0.1,
            "subsample": 1.0, "colsample_bylevel": 1.0, "colsample_bytree": 1.0, "reg_alpha": 1 / 1024,
            "reg_lambda": 1.0}


def _xgb_build(config: dict[str, Any], task: Task, n_jobs: int) -> Any:
    import xgboost as xgb

    params = dict(config)
    params.update(max_depth=0, grow_policy="lossguide", tree_method="hist", n_jobs=n_jobs, random_state=SEED,
                  verbosity=0)
    cls = xgb.XGBClassifier if task is Task.CLASSIFICATION else xgb.XGBRegressor
    return cls(**params)


# -- random forests ----------------------------------------------------------------------------
def _forest_space(n: int, d: int, task: Task) -> dict[str, Any]:
    tune = _tune()
    init = 1 / math.sqrt(max(d, 1)) if task is Task.CLASSIFICATION else 1.0
    space = {
        "n_estimators": tune.lograndint(4, 1024),
        "max_features": tune.loguniform(min(0.1, init), 1.0),
        "max_leaves": tune.lograndint(4, max(5, min(32768, n >> 1))),
    }
    if task is Task.CLASSIFICATION:
        space["criterion"] = tune.choice(["gini", "entropy"])
    return space


def _forest_default(n: int, d: int, task: Task) -> dict[str, Any]:
    # Fewer trees than scikit-learn's 100 (most of the gain, a third of the time), and half the
    # features per split for regression: forests are the slow learners, tried after the boosters.
    config: dict[str, Any] = {
        "n_estimators": 32,
        "max_features": 1 / math.sqrt(max(d, 1)) if task is Task.CLASSIFICATION else 0.5,
        "max_leaves": max(5, min(32768, n >> 1)),  # the top of the space: trees grown out, as sklearn does
    }
    if task is Task.CLASSIFICATION:
        config["criterion"] = "gini"
    return config


def _forest_builder(extra: bool) -> Callable[[dict[str, Any], Task, int], Any]:
    def build(config: dict[str, Any], task: Task, n_jobs: int) -> Any:
        from sklearn import ensemble

        name = ("ExtraTrees" if extra else "RandomForest") + ("Classifier" if task is Task.CLASSIFICATION else "Regressor")
        params = {"n_estimators": int(config["n_estimators"]), "max_features": float(config["max_features"]),
                  "max_leaf_nodes": int(config["max_leaves"]), "n_jobs": n_jobs, "random_state": SEED}
        if "criterion" in config:
            params["criterion"] = config["criterion"]
        return getattr(ensemble, name)(**params)

    return build


# -- nearest neighbours and single trees --------------------------------------------------------
def _knn_space(n: int, d: int, task: Task) -> dict[str, Any]:
    tune = _tune()
    return {"n_neighbors": tune.lograndint(1, max(2, min(100, n // 2))), "weights": tune.choice(["uniform", "distance"])}


def _knn_default(n: int, d: int, task: Task) -> dict[str, Any]:
    return {"n_neighbors": min(5, max(1, n // 2 - 1)), "weights": "uniform"}


def _knn_build(config: dict[str, Any], task: Task, n_jobs: int) -> Any:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    cls = KNeighborsClassifier if task is Task.CLASSIFICATION else KNeighborsRegressor
    return cls(n_neighbors=int(config["n_neighbors"]), weights=config["weights"], n_jobs=n_jobs)


def _tree_space(n: int, d: int, task: Task) -> dict[str, Any]:
    tune = _tune()
    return {"max_leaves": tune.lograndint(4, max(5, min(32768, n >> 1))),
            "min_samples_leaf": tune.lograndint(1, 64)}


def _tree_default(n: int, d: int, task: Task) -> dict[str, Any]:
    return {"max_leaves": 32, "min_samples_leaf": 5}


def _tree_build(config: dict[str, Any], task: Task, n_jobs: int) -> Any:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    cls = DecisionTreeClassifier if task is Task.CLASSIFICATION else DecisionTreeRegressor
    return cls(max_leaf_nodes=int(config["max_leaves"]), min_samples_leaf=int(config["min_samples_leaf"]),
               random_state=SEED)


_ALL = frozenset(Task)
_TABULAR_REGRESSION = frozenset({Task.REGRESSION, Task.FORECASTING})
LEARNERS: dict[str, Learner] = {learner.name: learner for learner in (
    Learner(name="LightGBM", tasks=_ALL, space=_lgbm_space, default=_lgbm_default,
            low_cost={"n_estimators": 4, "num_leaves": 4}, build=_lgbm_build, priority=0),
    Learner(name="GradientBoosting", tasks=_ALL, space=_hgb_space, default=_hgb_default,
            low_cost={"max_iter": 10, "max_leaf_nodes": 4}, build=_hgb_build, priority=1),
    Learner(name="LogisticRegression", tasks=frozenset({Task.CLASSIFICATION}), space=_logistic_space,
            default=_logistic_default, build=_logistic_build, scaled=True, priority=-1),
    Learner(name="ElasticNet", tasks=_TABULAR_REGRESSION, space=_elastic_space, default=_elastic_default,
            build=_elastic_build, scaled=True, priority=-1),
    Learner(name="XGBoostClassifier", tasks=frozenset({Task.CLASSIFICATION}), space=_xgb_space,
            default=_xgb_default, low_cost={"n_estimators": 4, "max_leaves": 4}, build=_xgb_build, priority=3),
    Learner(name="XGBoostRegressor", tasks=_TABULAR_REGRESSION, space=_xgb_space, default=_xgb_default,
            low_cost={"n_estimators": 4, "max_leaves": 4}, build=_xgb_build, priority=3),
    Learner(name="RandomForest", tasks=_ALL, space=_forest_space, default=_forest_default,
            low_cost={"n_estimators": 4, "max_leaves": 4}, build=_forest_builder(extra=False), priority=5),
    Learner(name="ExtremeRandomTrees", tasks=_ALL, space=_forest_space, default=_forest_default,
            low_cost={"n_estimators": 4, "max_leaves": 4}, build=_forest_builder(extra=True), priority=4),
    Learner(name="KNN", tasks=_ALL, space=_knn_space, default=_knn_default, build=_knn_build, scaled=True,
            priority=6, weighted=False),
    Learner(name="DecisionTree", tasks=_ALL, space=_tree_space, default=_tree_default, low_cost={"max_leaves": 4},
            build=_tree_build, priority=7),
)}


def learners_for(task: Task) -> list[Learner]:
    return sorted((lr for lr in LEARNERS.values() if task in lr.tasks), key=lambda lr: lr.priority)


def resolve_learners(task: Task, allowed: list[str] | None, blocked: list[str] | None) -> list[Learner]:
    """The learners to search: ``allowed`` (all when None) minus ``blocked``; names as Azure's, any case."""
    available = learners_for(task)
    lookup = {lr.name.lower(): lr for lr in available}
    names = ", ".join(lr.name for lr in available)

    def pick(values: list[str] | None, which: str) -> list[Learner]:
        out = []
        for value in values or []:
            learner = lookup.get(str(getattr(value, "value", value)).lower())
            if learner is None:
                raise InvalidInput(MSG_UNKNOWN_ALGORITHM.format(which=which, value=value, task=task.value,
                                                                allowed=names))
            out.append(learner)
        return out

    chosen = pick(allowed, "allowed_training_algorithms") if allowed else list(available)
    refused = {lr.name for lr in pick(blocked, "blocked_training_algorithms")}
    result = [lr for lr in chosen if lr.name not in refused]
    if not result:
        raise InvalidInput(MSG_ALL_BLOCKED.format(task=task.value, allowed=", ".join(allowed or []) or "all",
                                                  blocked=", ".join(blocked or []) or "none", available=names))
    return sorted(result, key=lambda lr: lr.priority)


# -- fitting within a deadline --------------------------------------------------------------
class DeadlineReached(Exception):
    """A trial ran out of time before it finished a fold."""


def fit_within(estimator: Any, X: np.ndarray, y: np.ndarray, deadline: float,
               sample_weight: np.ndarray | None = None) -> Any:
    """Fit, stopping boosting and forests at ``deadline`` (epoch seconds) with what is built so far.

    LightGBM and XGBoost stop adding trees through a callback; forests grow in
    rounds; other estimators fit in one go (they are cheap by their search spaces).
    ``sample_weight`` goes to the model (the last step of a pipeline).
    """
    model = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    kind = type(model).__name__
    if time.time() >= deadline:
        raise DeadlineReached()
    weighted = _step_kwargs(estimator, sample_weight=sample_weight) if sample_weight is not None else {}
    if kind.startswith("LGBM"):
        import lightgbm as lgb

        def stop_at_deadline(env: Any) -> None:
            if time.time() >= deadline and env.iteration + 1 < env.end_iteration:
                raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list or [])

        estimator.fit(X, y, **_step_kwargs(estimator, callbacks=[stop_at_deadline]), **weighted)
        return estimator
    if kind.startswith("XGB"):
        from xgboost.callback import TrainingCallback

        class StopAtDeadline(TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                return time.time() >= deadline

        model.set_params(callbacks=[StopAtDeadline()])
        try:
            estimator.fit(X, y, **weighted)
        finally:
            model.set_params(callbacks=None)
        return estimator
    if kind.startswith(("RandomForest", "ExtraTrees")):
        target = model.n_estimators
        model.set_params(warm_start=True, n_estimators=min(target, 16))
        estimator.fit(X, y, **weighted)
        while model.n_estimators < target and time.time() < deadline:
            model.set_params(n_estimators=min(target, model.n_estimators * 2))
            estimator.fit(X, y, **weighted)
        model.set_params(warm_start=False)
        return estimator
    estimator.fit(X, y, **weighted)
    return estimator


def _step_kwargs(estimator: Any, **kwargs: Any) -> dict[str, Any]:
    """Fit keyword arguments addressed to the last step when ``estimator`` is a pipeline."""
    if hasattr(estimator, "steps"):
        name = estimator.steps[-1][0]
        return {f"{name}__{k}": v for k, v in kwargs.items()}
    return kwargs


def trained_size(estimator: Any) -> dict[str, Any]:
    """How much was actually built (boosting rounds, trees) when a deadline cut fitting short."""
    model = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    kind = type(model).__name__
    if kind.startswith("LGBM"):
        return {"n_estimators": int(model.booster_.current_iteration())}
    if kind.startswith("XGB"):
        return {"n_estimators": int(model.get_booster().num_boosted_rounds())}
    if kind.startswith(("RandomForest", "ExtraTrees")):
        return {"n_estimators": len(model.estimators_)}
    return {}


class LabelDecoder(BaseEstimator, ClassifierMixin):
    """A classifier trained on class indices 0..k-1 that answers with the original labels.

    XGBoost insists on index labels, and ensembles need one column order for all
    members; ``classes`` fixes that order (the positive label last for binary tasks).
    ``LabelDecoder.wrap(fitted, classes)`` wraps a model fitted already.
    """

    def __init__(self, model: Any = None, classes: Any = None) -> None:
        self.model = model
        self.classes = classes

    @classmethod
    def wrap(cls, fitted: Any, classes: Any) -> LabelDecoder:
        decoder = cls(model=fitted, classes=classes)
        decoder.model_, decoder.classes_ = fitted, np.asarray(classes)
        return decoder

    def fit(self, X: Any, y: Any) -> LabelDecoder:
        from sklearn.base import clone

        self.classes_ = np.asarray(self.classes) if self.classes is not None else np.unique(y)
        index = {label: i for i, label in enumerate(self.classes_.tolist())}
        self.model_ = clone(self.model).fit(X, np.asarray([index[v] for v in np.asarray(y).tolist()]))
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.model_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.asarray(self.predict_proba(X)).argmax(axis=1)]
