"""The mimic explainer: a simple global surrogate trained on the model's own predictions.

Any model can be explained this way, however slow or opaque, because only its
``predict`` is called (once per row). The surrogate is then explained exactly
(TreeExplainer or LinearExplainer). How far to trust that is the surrogate's
fidelity: its accuracy (classifiers) or R² (regressors) against the model's
predictions on rows it did not train on.
"""

from __future__ import annotations

import enum
from typing import Any

import pandas as pd

from studio_ext.errors import InvalidInput
from studio_ext.ml.explain._result import ExplainerKind, Explanation
from studio_ext.ml.explain._tabular import Progress, ShapAlgorithm, explain_tabular
from studio_ext.ml.tabular_model import TabularModel, Task, sample_rows, wrap_model

#: Rows the surrogate learns from (and explains) when ``sample`` is not given.
DEFAULT_SAMPLE = 5_000
_HOLDOUT = 0.2


class SurrogateKind(str, enum.Enum):
    """The global surrogate's model family."""

    LIGHTGBM = "lightgbm"
    LINEAR = "linear"
    DECISION_TREE = "decision_tree"

    def __str__(self) -> str:
        return self.value


def explain_mimic(
    tm: TabularModel,
    X: pd.DataFrame,
    *,
    surrogate: SurrogateKind | str = SurrogateKind.LIGHTGBM,
    sample: int | None = None,
    classes: list[str] | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> Explanation:
    """Train ``surrogate`` on ``tm``'s predictions over (a sample of) ``X`` and explain it."""
    kind = SurrogateKind(surrogate)
    rows = sample_rows(X, sample if sample is not None else DEFAULT_SAMPLE, seed)
    target = tm.predict(rows)
    if tm.is_classifier and len(pd.unique(target)) < 2:
        raise InvalidInput(
            f"The model predicts the single class {target[0]!r} for every row, so a surrogate has nothing to "
            "imitate. Explain more varied rows, or use explainer='pfi'."
        )
    if len(rows) < 20:
        raise InvalidInput(f"The mimic explainer needs at least 20 rows to train and check a surrogate. Got {len(rows)}.")
    from sklearn.model_selection import train_test_split

    stratify = target if tm.is_classifier and pd.Series(target).value_counts().min() >= 2 else None
    fit_X, test_X, fit_y, test_y = train_test_split(rows, target, test_size=_HOLDOUT, random_state=seed, stratify=stratify)
    model, fit_params = build_surrogate(kind, tm.task, rows, seed)
    model.fit(fit_X, fit_y, **fit_params)
    predicted = model.predict(test_X)
    if tm.is_classifier:
        from sklearn.metrics import accuracy_score

        fidelity = {"metric": "accuracy", "value": float(accuracy_score(test_y, predicted))}
    else:
        from sklearn.metrics import r2_score

        fidelity = {"metric": "r2", "value": float(r2_score(test_y, predicted))}
    fidelity.update({"surrogate": kind.value, "holdout_rows": int(len(test_X))})
    algorithm = ShapAlgorithm.LINEAR if kind is SurrogateKind.LINEAR else ShapAlgorithm.TREE
    inner = explain_tabular(wrap_model(model, tm.task), rows, algorithm=algorithm, sample=len(rows),
                            classes=classes, seed=seed, progress=progress)
    notes = [f"a {kind.value} surrogate trained on the model's predictions for {len(fit_X):,} rows; "
             f"fidelity {fidelity['metric']} {fidelity['value']:.3f} on {len(test_X):,} held-out rows"]
    notes += inner.notes[:1]
    if len(rows) < len(X):
        notes.append(f"used a random sample of {len(rows):,} of {len(X):,} rows (seed {seed})")
    return Explanation(
        kind=ExplainerKind.MIMIC, method=f"mimic:{kind.value}+{inner.method}", task=tm.task,
        features=inner.features, outputs=inner.outputs, output_space=inner.output_space, values=inner.values,
        expected_value=inner.expected_value, data=inner.data, predictions=target,
        fidelity=fidelity, sampling={**inner.sampling, "rows_total": int(len(X)), "surrogate_rows": int(len(fit_X))},
        notes=notes,
    )


def build_surrogate(kind: SurrogateKind, task: Task, X: pd.DataFrame, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """An unfitted surrogate pipeline that takes ``X``'s raw columns (numbers and categories), and its fit parameters."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])]
    categorical = [c for c in X.columns if c not in numeric]
    classify = task is Task.CLASSIFICATION
    ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
    as_text = FunctionTransformer(_text_frame, feature_names_out="one-to-one")
    if kind is SurrogateKind.LIGHTGBM:
        import lightgbm

        prep = ColumnTransformer([("num", "passthrough", numeric), ("cat", Pipeline([("text", as_text), ("codes", ordinal)]), categorical)],
                                 verbose_feature_names_out=False)
        # Small trees: TreeSHAP's cost grows with leaves x depth^2, and a surrogate needs no more.
        params = {"n_estimators": 100, "num_leaves": 15, "random_state": seed, "verbose": -1, "n_jobs": 1}
        learner = (lightgbm.LGBMClassifier if classify else lightgbm.LGBMRegressor)(**params)
        cats = list(range(len(numeric), len(numeric) + len(categorical)))
        return Pipeline([("prep", prep), ("model", learner)]), {"model__categorical_feature": cats or "auto"}
    if kind is SurrogateKind.LINEAR:
        from sklearn.linear_model import LogisticRegression, Ridge

        prep = ColumnTransformer([
            ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
            ("cat", Pipeline([("text", as_text), ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]), categorical),
        ], verbose_feature_names_out=False)
        learner = LogisticRegression(max_iter=1000) if classify else Ridge(alpha=1.0)
        return Pipeline([("prep", prep), ("model", learner)]), {}
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    prep = ColumnTransformer([("num", SimpleImputer(strategy="median", keep_empty_features=True), numeric),
                              ("cat", Pipeline([("text", as_text), ("codes", ordinal)]), categorical)],
                             verbose_feature_names_out=False)
    tree = (DecisionTreeClassifier if classify else DecisionTreeRegressor)(max_depth=8, min_samples_leaf=5, random_state=seed)
    return Pipeline([("prep", prep), ("model", tree)]), {}



def _text_frame(X: Any) -> Any:
    """Categories as plain text, missing as one '(missing)' category (encoders need one dtype)."""
    frame = pd.DataFrame(X)
    return frame.astype(object).where(frame.notna(), "(missing)").astype(str)
