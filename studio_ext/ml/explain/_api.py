"""``explain``: one entry point for the three explainers, validating everything first."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import pandas as pd

from studio_ext.errors import InvalidInput, StudioError
from studio_ext.ml.explain._mimic import SurrogateKind, explain_mimic
from studio_ext.ml.explain._pfi import permutation_feature_importance, score_metric
from studio_ext.ml.explain._result import Explanation
from studio_ext.ml.explain._tabular import DEFAULT_BACKGROUND, Progress, ShapAlgorithm, explain_tabular, plan_tabular
from studio_ext.ml.tabular_model import (
    cannot_predict,
    check_predicts,
    check_sample,
    infer_classes,
    prepare_frame,
    wrap_model,
)


class ExplainerChoice(str, enum.Enum):
    """What ``explainer=`` accepts: 'auto' is the tabular (SHAP) explainer."""

    AUTO = "auto"
    TABULAR = "tabular"
    MIMIC = "mimic"
    PFI = "pfi"

    def __str__(self) -> str:
        return self.value


def _choice(enum_type: type[enum.Enum], value: Any, parameter: str) -> Any:
    try:
        return enum_type(value.value if isinstance(value, enum.Enum) else str(value))
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in enum_type)
        raise InvalidInput(f"The '{parameter}' parameter must be one of {allowed}. Got {value!r} instead.") from None


def explain(
    model: Any,
    data: pd.DataFrame,
    target_column: str | None = None,
    *,
    explainer: ExplainerChoice | str = ExplainerChoice.AUTO,
    features: Sequence[str] | None = None,
    classes: Sequence[Any] | None = None,
    sample: int | None = None,
    algorithm: ShapAlgorithm | str = ShapAlgorithm.AUTO,
    surrogate: SurrogateKind | str = SurrogateKind.LIGHTGBM,
    metric: str | None = None,
    repeats: int = 5,
    background: int = DEFAULT_BACKGROUND,
    task: str | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    dry_run: bool = False,
) -> Explanation | None:
    """Explain ``model`` on the rows of ``data``, with importances on its raw columns.

    ``explainer``: 'auto'/'tabular' (SHAP: tree, linear or model-agnostic, see ``algorithm``),
    'mimic' (a ``surrogate`` trained on the model's predictions) or 'pfi' (permutation
    importance on ``metric``, needs ``target_column``). ``features`` names the model's
    input columns (default: every column but the target). ``sample`` caps the rows
    explained. Every check runs before any SHAP value is computed; ``dry_run=True`` runs
    the checks only (on a few rows) and returns None.

    Example::

        exp = explain(pipeline, adult, "income", sample=2000)
        exp.method, list(exp.global_importance)[:3]
    """
    kind = _choice(ExplainerChoice, explainer, "explainer")
    algorithm = _choice(ShapAlgorithm, algorithm, "algorithm")
    surrogate = _choice(SurrogateKind, surrogate, "surrogate")
    X, y = prepare_frame(data, target_column, features, need_target=kind is ExplainerChoice.PFI, model=model)
    tm = wrap_model(model, task)
    if not tm.is_classifier and classes:
        raise InvalidInput(
            f"classes={list(classes)!r} was given but the model is a regression model, which has no classes. "
            "Leave classes out."
        )
    if kind is ExplainerChoice.PFI:
        score_metric(metric, tm)
    elif metric is not None:
        raise InvalidInput("The 'metric' parameter is for explainer='pfi' only; leave it out for SHAP and mimic explanations.")
    check_sample(sample, len(X))
    if isinstance(background, bool) or not isinstance(background, int) or background < 1:
        raise InvalidInput(f"The 'background' parameter must be a positive whole number of rows. Got {background!r} instead.")
    tabular = kind in (ExplainerChoice.TABULAR, ExplainerChoice.AUTO)
    exact = (ShapAlgorithm.AUTO, ShapAlgorithm.TREE, ShapAlgorithm.LINEAR)
    # Tree and linear explanations featurize their first rows before any SHAP work, which
    # is the same trial; other paths (and dry runs) try the model on a few rows here.
    tried = dry_run or not tabular or algorithm not in exact
    check_predicts(tm, X, trial=tried)
    infer_classes(tm, X, y)
    wanted = _check_classes(classes, tm.classes)
    if tabular:
        try:
            plan = plan_tabular(tm, X, algorithm)
        except StudioError:
            raise
        except Exception as exc:  # the featurization refused the data
            raise cannot_predict(X, exc) from exc
        if not tried and plan.algorithm not in exact:
            check_predicts(tm, X)
    if dry_run:
        return None
    if kind is ExplainerChoice.PFI:
        return permutation_feature_importance(tm, X, y, metric=metric, repeats=repeats, sample=sample, seed=seed)
    if kind is ExplainerChoice.MIMIC:
        return explain_mimic(tm, X, surrogate=surrogate, sample=sample, classes=wanted, seed=seed, progress=progress)
    return explain_tabular(tm, X, algorithm=plan.algorithm, sample=sample, background=background,
                           classes=wanted, seed=seed, progress=progress, plan=plan)


def _check_classes(classes: Sequence[Any] | None, known: list[Any]) -> list[str] | None:
    if classes is None:
        return None
    if isinstance(classes, (str, int)):
        classes = [classes]
    names = [str(c) for c in known]
    unknown = [c for c in classes if str(c) not in names]
    if unknown:
        raise InvalidInput(
            f"The classes {', '.join(map(repr, unknown))} are not classes of the model. Its classes: {', '.join(names)}."
        )
    return [str(c) for c in classes]
