"""A fitted model seen as a function of table rows, shared by the explainers and fairness.

Explainers and fairness metrics need the same few facts about any model a user hands
over (a scikit-learn estimator or pipeline, a LightGBM/XGBoost model, an MLflow
pyfunc): is it a classifier, what are its classes, can it give probabilities, and
does it predict on these columns at all. :func:`wrap_model` answers them once and
:func:`prepare_frame` checks the table, so both engines refuse bad input the same way
and before any heavy work.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from studio_ext.errors import InvalidInput


class Task(str, enum.Enum):
    """What the model predicts."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"

    def __str__(self) -> str:
        return self.value


@dataclass(kw_only=True)
class TabularModel:
    """A fitted model with its task and classes; ``predict`` takes a DataFrame of raw columns."""

    model: Any
    task: Task
    classes: list[Any] = field(default_factory=list)

    @property
    def is_classifier(self) -> bool:
        return self.task is Task.CLASSIFICATION

    @property
    def has_proba(self) -> bool:
        return self.is_classifier and callable(getattr(self.model, "predict_proba", None))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(X)).ravel() if not self.is_classifier else _labels(self.model.predict(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(X), dtype=float)

    def output(self, X: pd.DataFrame) -> np.ndarray:
        """What explanations attribute: class probabilities, or the predicted value (as a column)."""
        if self.has_proba:
            return self.predict_proba(X)
        return np.asarray(self.predict(X), dtype=float).reshape(len(X), 1)

    @property
    def output_names(self) -> list[str]:
        return [str(c) for c in self.classes] if self.has_proba else ["prediction"]


def _labels(values: Any) -> np.ndarray:
    """Predicted labels as a flat array, typed when every label is a number, a bool or a string.

    A model that keeps its classes as objects (an AutoML model does) predicts an object array;
    scikit-learn's metrics call that 'unknown' beside a typed target and refuse to compare them.
    """
    arr = np.asarray(values)
    arr = arr.ravel() if arr.ndim > 1 and 1 in arr.shape else arr
    if arr.dtype == object and arr.size and pd.api.types.infer_dtype(arr, skipna=False) in _TYPED_LABELS:
        arr = np.asarray(arr.tolist())
    return arr


_TYPED_LABELS = frozenset({"integer", "floating", "boolean", "string"})


def unwrap_model(model: Any) -> Any:
    """The estimator inside an MLflow pyfunc, when it has one (so tree and linear explainers apply)."""
    get_raw = getattr(model, "get_raw_model", None)
    if callable(get_raw) and type(model).__module__.startswith("mlflow"):
        try:
            raw = get_raw()
        except Exception:  # noqa: BLE001 - a pyfunc without an inner estimator is explained through predict
            return model
        if callable(getattr(raw, "predict", None)):
            return raw
    return model


def wrap_model(model: Any, task: Task | str | None = None) -> TabularModel:
    """Decide the task and classes of ``model``; refuse objects that cannot predict."""
    model = unwrap_model(model)
    if not callable(getattr(model, "predict", None)):
        raise InvalidInput(
            f"The model must have a predict method (a fitted scikit-learn estimator, pipeline or "
            f"MLflow model). Got {type(model).__name__} instead."
        )
    if task is not None:
        try:
            task = Task(str(task))
        except ValueError:
            raise InvalidInput(f"The 'task' parameter must be 'classification' or 'regression'. Got {task!r} instead.") from None
    classes = getattr(model, "classes_", None)
    if task is None:
        from sklearn.base import is_classifier, is_regressor

        try:
            declared_classifier, declared_regressor = is_classifier(model), is_regressor(model)
        except AttributeError:  # not a scikit-learn estimator (no tags): judge by its methods
            declared_classifier = declared_regressor = False
        if declared_classifier or classes is not None:
            task = Task.CLASSIFICATION
        elif declared_regressor:
            task = Task.REGRESSION
        else:
            task = Task.CLASSIFICATION if callable(getattr(model, "predict_proba", None)) else Task.REGRESSION
    return TabularModel(model=model, task=task, classes=list(classes) if classes is not None else [])


def infer_classes(tm: TabularModel, X: pd.DataFrame, y: pd.Series | None) -> None:
    """A classifier without ``classes_`` (a pyfunc): take the labels seen in the target and predictions."""
    if tm.is_classifier and not tm.classes:
        seen = set(pd.unique(tm.predict(X)))
        if y is not None:
            seen |= set(pd.unique(y.dropna()))
        tm.classes = sorted(seen, key=str)


def prepare_frame(
    data: Any, target_column: str | None, features: Sequence[str] | None, *, need_target: bool = False,
    model: Any = None,
) -> tuple[pd.DataFrame, pd.Series | None]:
    """Split ``data`` into the model's input columns and the target; refuse what does not fit.

    Without ``features``, the columns the model says it was trained on (``feature_names_in_``)
    are used when the data has them all, else every column but the target.
    """
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(f"The data must be a pandas DataFrame. Got {type(data).__name__} instead.")
    if len(data) == 0:
        raise InvalidInput("The data has no rows; give a dataset with at least one row.")
    columns = [str(c) for c in data.columns]
    if target_column is not None and target_column not in data.columns:
        raise InvalidInput(
            f"The target column {target_column!r} is not in the data. Columns: {', '.join(columns)}."
        )
    if need_target and target_column is None:
        raise InvalidInput("This needs the true labels: pass target_column= naming the column that holds them.")
    declared = getattr(unwrap_model(model), "feature_names_in_", None) if model is not None else None
    if features is None and declared is not None and all(c in data.columns for c in declared):
        feature_list = [c for c in declared if c != target_column]
    elif features is None:
        feature_list = [c for c in data.columns if c != target_column]
    else:
        if isinstance(features, str):
            features = [features]
        feature_list = list(features)
        missing = [f for f in feature_list if f not in data.columns]
        if missing:
            raise InvalidInput(
                f"The features {', '.join(map(repr, missing))} are not in the data. Columns: {', '.join(columns)}."
            )
        if target_column is not None and target_column in feature_list:
            raise InvalidInput(f"The target column {target_column!r} cannot also be a feature; remove it from features=.")
    if not feature_list:
        raise InvalidInput("There are no feature columns left once the target is set aside.")
    y = data[target_column] if target_column is not None else None
    return data[feature_list], y


def check_predicts(tm: TabularModel, X: pd.DataFrame, *, trial: bool = True) -> None:
    """Try the model on a few rows first, so a column mismatch fails in a second, not after an hour.

    ``trial=False`` checks the declared input columns only, for callers whose first step
    featurizes a small batch anyway (and turn its failure into :func:`cannot_predict`).
    """
    expected = getattr(tm.model, "feature_names_in_", None)
    if expected is not None:
        missing = [str(c) for c in expected if c not in X.columns]
        if missing:
            raise InvalidInput(
                f"The model cannot predict on these columns: it was trained with {', '.join(missing)}, which "
                f"the data lacks. Pass features= with the model's input columns ({', '.join(map(str, expected))})."
            )
    if not trial:
        return
    head = X.head(5)
    try:
        # One call is enough: predict_proba runs the same featurization as predict.
        tm.predict_proba(head) if tm.has_proba else tm.predict(head)
    except Exception as exc:  # any failure of the user's model means these columns do not fit it
        raise cannot_predict(X, exc) from exc


def cannot_predict(X: pd.DataFrame, exc: Exception) -> InvalidInput:
    return InvalidInput(
        f"The model cannot predict on the data's columns ({', '.join(map(str, X.columns))}): "
        f"{type(exc).__name__}: {exc}. Pass features= with the columns the model was trained on."
    )


def check_sample(sample: int | None, rows: int, what: str = "sample") -> int | None:
    """``sample`` must be a positive whole number no larger than the data."""
    if sample is None:
        return None
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or sample < 1:
        raise InvalidInput(f"The '{what}' parameter must be a positive whole number of rows. Got {sample!r} instead.")
    if sample > rows:
        raise InvalidInput(
            f"The '{what}' parameter asks for {sample:,} rows but the data has only {rows:,}. "
            f"Give {what}={rows} or less (or leave it out to use every row)."
        )
    return int(sample)


def sample_rows(X: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """``n`` rows drawn without replacement in a fixed order (all rows when ``n`` is None or enough)."""
    if n is None or n >= len(X):
        return X
    return X.sample(n=n, random_state=seed)
