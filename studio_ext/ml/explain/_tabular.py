"""SHAP explanations of a model, reported on its raw input columns.

The explainer is chosen for the model: TreeExplainer for tree ensembles and
LinearExplainer for linear models (both exact and fast), a model-agnostic one
(Kernel, or Permutation on request) otherwise. For a scikit-learn Pipeline the
final estimator is explained on the transformed data and the encoded columns are
summed back to the raw ones; when the featurization mixes columns, the whole
pipeline is explained model-agnostically instead. Either way the Explanation says
what was done in ``method`` and ``notes``.
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from studio_ext.errors import InvalidInput
from studio_ext.ml.explain._raw_features import NoRawMapping, RawFeatureMap, raw_feature_map, split_pipeline
from studio_ext.ml.explain._result import ExplainerKind, Explanation
from studio_ext.ml.tabular_model import TabularModel, cannot_predict, sample_rows

Progress = Callable[[int, int], None]  # (rows done, rows in all)


class ShapAlgorithm(str, enum.Enum):
    """Which SHAP explainer computes the values."""

    AUTO = "auto"
    TREE = "tree"
    LINEAR = "linear"
    PERMUTATION = "permutation"
    KERNEL = "kernel"

    def __str__(self) -> str:
        return self.value


#: Rows explained when ``sample`` is not given: exact explainers are cheap, agnostic ones are not.
DEFAULT_SAMPLE = {ShapAlgorithm.TREE: 5000, ShapAlgorithm.LINEAR: 5000,
                  ShapAlgorithm.PERMUTATION: 200, ShapAlgorithm.KERNEL: 100}
DEFAULT_BACKGROUND = 100
_CHUNK = {ShapAlgorithm.TREE: 5000, ShapAlgorithm.LINEAR: 5000, ShapAlgorithm.PERMUTATION: 20, ShapAlgorithm.KERNEL: 10}
_OUTPUT_SPACE = {"log_odds": "log-odds", "probability": "probability", "raw_value": "raw score"}


@dataclass
class _Plan:
    """What will be explained: the estimator, on which columns, with which explainer."""

    algorithm: ShapAlgorithm
    estimator: Any
    preprocessor: Any | None  # applied before the estimator (None: the estimator takes raw rows)
    mapping: RawFeatureMap | None
    shap_explainer: Any = None  # built while choosing (tree/linear)
    note: str = ""


def plan_tabular(tm: TabularModel, X: pd.DataFrame, algorithm: ShapAlgorithm | str = ShapAlgorithm.AUTO,
                 background: pd.DataFrame | None = None) -> _Plan:
    """Choose the explainer for ``tm`` (cheap: no SHAP values yet); refuse one that does not fit."""
    algorithm = ShapAlgorithm(algorithm)
    preprocessor, estimator = split_pipeline(tm.model)
    mapping, why_not = None, ""
    if preprocessor is not None:
        try:
            mapping = raw_feature_map(preprocessor, list(X.columns))
        except NoRawMapping as exc:
            why_not = str(exc)
    exact_possible = preprocessor is None or mapping is not None
    target = type(estimator).__name__
    if algorithm in (ShapAlgorithm.AUTO, ShapAlgorithm.TREE) and exact_possible:
        tree = _tree_explainer(estimator)
        if tree is not None:
            return _Plan(ShapAlgorithm.TREE, estimator, preprocessor, mapping, tree,
                         _exact_note("TreeExplainer", target, mapping))
        if algorithm is ShapAlgorithm.TREE:
            raise InvalidInput(
                f"TreeExplainer does not support {target}: it explains tree ensembles (scikit-learn trees and "
                "forests, gradient boosting, LightGBM, XGBoost). Use algorithm='auto' to pick an explainer that fits."
            )
    if algorithm in (ShapAlgorithm.AUTO, ShapAlgorithm.LINEAR) and exact_possible:
        if _is_linear(estimator):
            bg = sample_rows(background if background is not None else X, DEFAULT_BACKGROUND, 0)
            linear = _linear_explainer(estimator, _transform(preprocessor, bg))
            if linear is not None:
                return _Plan(ShapAlgorithm.LINEAR, estimator, preprocessor, mapping, linear,
                             _exact_note("LinearExplainer", target, mapping))
        if algorithm is ShapAlgorithm.LINEAR:
            raise InvalidInput(
                f"LinearExplainer does not support {target}: it explains linear models (coef_ and intercept_, "
                "e.g. LogisticRegression, Ridge). Use algorithm='auto' to pick an explainer that fits."
            )
    if algorithm in (ShapAlgorithm.TREE, ShapAlgorithm.LINEAR):
        raise InvalidInput(
            f"The {algorithm.value} explainer cannot be used: {why_not}. Use algorithm='permutation' (or 'auto'), "
            "which explains the whole pipeline on its raw columns."
        )
    # Kernel is the default model-agnostic explainer: Permutation's maskers are compiled by
    # numba on first use, a one-off cost of up to a minute per process.
    agnostic = ShapAlgorithm.PERMUTATION if algorithm is ShapAlgorithm.PERMUTATION else ShapAlgorithm.KERNEL
    if tm.is_classifier and not tm.has_proba:
        raise InvalidInput(
            f"{type(tm.model).__name__} gives no class probabilities (predict_proba), so SHAP has no score to "
            "attribute. Use explainer='mimic' or explainer='pfi' for this model."
        )
    name = "KernelExplainer" if agnostic is ShapAlgorithm.KERNEL else "PermutationExplainer"
    if mapping is not None:
        note = (f"{name} on {target} over the transformed columns, masking each raw column's encoded columns "
                "together, so values are per raw column")
        return _Plan(agnostic, estimator, preprocessor, mapping, note=note)
    reason = f" ({why_not})" if why_not else ""
    note = f"{name} on the whole model over its raw columns{reason}"
    return _Plan(agnostic, tm.model, None, None, note=note)


def explain_tabular(
    tm: TabularModel,
    X: pd.DataFrame,
    *,
    algorithm: ShapAlgorithm | str = ShapAlgorithm.AUTO,
    sample: int | None = None,
    background: int = DEFAULT_BACKGROUND,
    classes: list[str] | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    plan: _Plan | None = None,
) -> Explanation:
    """SHAP values of ``tm`` on (a sample of) ``X``, summed back to ``X``'s columns."""
    plan = plan or plan_tabular(tm, X, algorithm)
    n_rows = sample if sample is not None else DEFAULT_SAMPLE[plan.algorithm]
    rows = sample_rows(X, n_rows, seed)
    bg = rows.iloc[:0]
    predictions = None
    if plan.algorithm in (ShapAlgorithm.TREE, ShapAlgorithm.LINEAR):
        values, expected, outputs, space, predictions = _run_exact(
            plan, tm, rows, progress, tree=plan.algorithm is ShapAlgorithm.TREE)
    else:
        bg = sample_rows(X.drop(index=rows.index) if len(X) > len(rows) else X, background, seed + 1)
        values, expected, outputs, space = _run_agnostic(plan, tm, rows, bg, progress)
    values, expected, outputs = _pick_outputs(values, expected, outputs, classes, space)
    sampling = {"rows_total": int(len(X)), "rows_explained": int(len(rows)), "seed": seed,
                "background_rows": 0 if plan.algorithm is ShapAlgorithm.TREE else int(len(bg))}
    notes = [plan.note]
    if len(rows) < len(X):
        notes.append(f"explained a random sample of {len(rows):,} of {len(X):,} rows (seed {seed})")
    return Explanation(
        kind=ExplainerKind.TABULAR, method=f"shap.{_SHAP_NAMES[plan.algorithm]}", task=tm.task,
        features=[str(c) for c in X.columns], outputs=outputs, output_space=space, values=values,
        expected_value=[float(v) for v in expected], data=rows.copy(),
        predictions=tm.predict(rows) if predictions is None else predictions,
        sampling=sampling, notes=notes,
    )


_SHAP_NAMES = {ShapAlgorithm.TREE: "TreeExplainer", ShapAlgorithm.LINEAR: "LinearExplainer",
               ShapAlgorithm.PERMUTATION: "PermutationExplainer", ShapAlgorithm.KERNEL: "KernelExplainer"}


def _exact_note(name: str, target: str, mapping: RawFeatureMap | None) -> str:
    if mapping is None:
        return f"{name} on {target}"
    summed = len(mapping.owner) - len(mapping.raw_features)
    extra = f"; {len(mapping.owner)} encoded columns summed back to {len(mapping.raw_features)} raw columns" if summed else ""
    return f"{name} on {target} after the pipeline's featurization{extra}"


def _tree_explainer(estimator: Any) -> Any:
    import shap
    from shap.utils._exceptions import InvalidModelError

    try:
        return shap.TreeExplainer(estimator)
    except (InvalidModelError, TypeError, ValueError, AttributeError):
        return None  # not a tree model shap knows


def _is_linear(estimator: Any) -> bool:
    module = type(estimator).__module__
    return hasattr(estimator, "coef_") and hasattr(estimator, "intercept_") and (
        module.startswith("sklearn.linear_model") or module.startswith("sklearn.svm"))


def _linear_explainer(estimator: Any, background: np.ndarray) -> Any:
    import shap

    try:
        return shap.LinearExplainer(estimator, shap.maskers.Independent(background, max_samples=len(background)))
    except Exception:  # noqa: BLE001 - shap refuses the model: fall through to a model-agnostic explainer
        return None


def _transform(preprocessor: Any, X: pd.DataFrame) -> Any:
    """The estimator's input for raw rows ``X``: dense numbers (a DataFrame when the pipeline outputs one)."""
    if preprocessor is None:
        return X
    out = preprocessor.transform(X)
    if hasattr(out, "toarray"):
        out = out.toarray()
    return out


def _classifier_outputs(tm: TabularModel, k: int) -> list[str]:
    names = [str(c) for c in tm.classes]
    if k == len(names):
        return names
    if k == 1 and len(names) == 2:
        return [names[1]]  # binary models explain the positive class's score
    return [f"output {i}" for i in range(k)]


def _as_3d(values: Any) -> np.ndarray:
    if isinstance(values, list):
        values = np.stack(values, axis=-1)
    values = np.asarray(values, dtype=float)
    return values[:, :, None] if values.ndim == 2 else values


def _run_exact(plan: _Plan, tm: TabularModel, rows: pd.DataFrame, progress: Progress | None, *,
               tree: bool) -> tuple[np.ndarray, np.ndarray, list[str], str, np.ndarray]:
    explainer = plan.shap_explainer
    chunk = _CHUNK[plan.algorithm]
    tree_output = getattr(getattr(explainer, "model", None), "tree_output", "") if tree else ""
    classes = getattr(plan.estimator, "classes_", None)
    from_margins = tm.is_classifier and classes is not None and tree_output in _CLASS_FROM_MARGIN
    parts, predicted = [], []
    for start in range(0, len(rows), chunk):
        batch = rows.iloc[start:start + chunk]
        try:
            part = _transform(plan.preprocessor, batch)
            if not from_margins:
                # The pipeline's prediction is its estimator's on the rows just transformed.
                predicted.append(np.asarray(plan.estimator.predict(part)).ravel())
        except Exception as exc:  # the model refuses these columns: say so, as the checks do
            raise cannot_predict(batch, exc) from exc
        with warnings.catch_warnings():  # _as_3d reads both of shap's output layouts
            warnings.filterwarnings("ignore", message="LightGBM binary classifier with TreeExplainer")
            parts.append(_as_3d(explainer.shap_values(part)))
        if progress:
            progress(min(start + chunk, len(rows)), len(rows))
    values = np.concatenate(parts, axis=0)
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float)).ravel()
    if from_margins:
        predictions = _classes_from_margins(values, expected, np.asarray(classes), tree_output)
    else:
        predictions = np.concatenate(predicted)
    if not tm.is_classifier:
        predictions = predictions.astype(float)
    if plan.mapping is not None:
        values = plan.mapping.to_raw(values)
    k = values.shape[2]
    if tm.is_classifier:
        outputs = _classifier_outputs(tm, k)
        space = _OUTPUT_SPACE.get(getattr(getattr(explainer, "model", None), "tree_output", ""), "raw score") if tree else "log-odds"
    else:
        outputs, space = ["prediction"], "prediction"
    return values, expected[:k] if len(expected) >= k else np.resize(expected, k), outputs, space, predictions


# Tree outputs whose SHAP sums give the predicted class exactly (SHAP values add up to the
# model's output): a log-odds margin (one output: > 0 is the second class) or per-class
# scores whose largest wins.
_CLASS_FROM_MARGIN = ("log_odds", "probability")


def _classes_from_margins(values: np.ndarray, expected: np.ndarray, classes: np.ndarray, tree_output: str) -> np.ndarray:
    """The estimator's predicted classes, read off its SHAP values instead of predicting again."""
    k = values.shape[2]
    margins = values.sum(axis=1) + (expected[:k] if len(expected) >= k else np.resize(expected, k))
    if k == 1:
        if tree_output != "log_odds" or len(classes) != 2:
            raise ValueError("one output needs a binary log-odds model")
        return classes[(margins[:, 0] > 0).astype(int)]
    return classes[np.argmax(margins, axis=1)]


def _run_agnostic(plan: _Plan, tm: TabularModel, rows: pd.DataFrame, bg: pd.DataFrame,
                  progress: Progress | None) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """Permutation/Kernel SHAP over row ids: masking a raw column swaps in a background row's values.

    Working on ids lets the featurization run once (not once per masked copy) when the
    pipeline has a raw mapping, and keeps strings and categories intact when it has not.
    """
    import shap

    n_features = rows.shape[1]
    n, b = len(rows), len(bg)
    both = pd.concat([rows, bg], axis=0, ignore_index=True)
    if plan.mapping is not None:
        lookup = np.asarray(_transform(plan.preprocessor, both), dtype=float)
        groups = plan.mapping.groups
        blocks = [lookup[:, cols] for cols in groups]  # each raw column's encoded values, gathered by row id
        estimator = plan.estimator
        names = _fitted_names(estimator, lookup.shape[1])

        def model_fn(ids: np.ndarray) -> np.ndarray:
            ids = np.asarray(ids, dtype=np.int64)
            out = np.empty((len(ids), lookup.shape[1]))
            for j, cols in enumerate(groups):
                out[:, cols] = blocks[j][ids[:, j]]
            frame = pd.DataFrame(out, columns=names) if names is not None else out
            return _estimator_output(estimator, tm, frame)
    else:
        columns = list(both.columns)

        def model_fn(ids: np.ndarray) -> np.ndarray:
            ids = np.asarray(ids, dtype=np.int64)
            frame = pd.DataFrame({c: both[c].iloc[ids[:, j]].reset_index(drop=True) for j, c in enumerate(columns)})
            return tm.output(frame)

    row_ids = np.repeat(np.arange(n)[:, None], n_features, axis=1).astype(float)
    bg_ids = np.repeat((n + np.arange(b))[:, None], n_features, axis=1).astype(float)
    chunk = _CHUNK[plan.algorithm]
    parts, bases = [], []
    if plan.algorithm is ShapAlgorithm.KERNEL:
        explainer = shap.KernelExplainer(model_fn, bg_ids)
        for start in range(0, n, chunk):
            vals = explainer.shap_values(row_ids[start:start + chunk], nsamples=min(2 * n_features + 2048, 400), silent=True)
            parts.append(_as_3d(vals))
            if progress:
                progress(min(start + chunk, n), n)
        expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    else:
        explainer = shap.PermutationExplainer(model_fn, shap.maskers.Independent(bg_ids, max_samples=b))
        max_evals = max(10 * (2 * n_features + 1), 200)
        for start in range(0, n, chunk):
            result = explainer(row_ids[start:start + chunk], max_evals=max_evals, silent=True)
            parts.append(_as_3d(result.values))
            bases.append(np.asarray(result.base_values, dtype=float).reshape(len(result.values), -1))
            if progress:
                progress(min(start + chunk, n), n)
        expected = np.concatenate(bases, axis=0).mean(axis=0)
    values = np.concatenate(parts, axis=0)
    outputs = tm.output_names
    space = "probability" if tm.has_proba else "prediction"
    return values, expected, outputs, space


def _fitted_names(estimator: Any, width: int) -> list[str] | None:
    names = getattr(estimator, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None and len(names) == width else None


def _estimator_output(estimator: Any, tm: TabularModel, X: Any) -> np.ndarray:
    if tm.has_proba:
        return np.asarray(estimator.predict_proba(X), dtype=float)
    return np.asarray(estimator.predict(X), dtype=float).reshape(len(X), 1)


def _pick_outputs(values: np.ndarray, expected: np.ndarray, outputs: list[str], classes: list[str] | None,
                  space: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Keep the requested classes; the other class of a one-score binary model is its negation."""
    if not classes:
        return values, expected, outputs
    keep_v, keep_e, keep_o = [], [], []
    for cls in (str(c) for c in classes):
        if cls in outputs:
            k = outputs.index(cls)
            keep_v.append(values[:, :, k])
            keep_e.append(expected[k])
            keep_o.append(cls)
        elif len(outputs) == 1 and space in ("log-odds", "raw score"):
            keep_v.append(-values[:, :, 0])  # log-odds of the other class is the negated score
            keep_e.append(-expected[0])
            keep_o.append(cls)
    return np.stack(keep_v, axis=-1), np.asarray(keep_e), keep_o

