"""The other signals: prediction drift on model outputs, feature attribution drift."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from studio_ext.errors import InvalidInput
from studio_ext.ml.drift._compare import DriftResult, Thresholds, compare

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_ATTRIBUTION_THRESHOLD", "attribution_drift", "prediction_drift"]

# An NDCG under this is an attribution drift alert (Azure's documented default, 0.9).
DEFAULT_ATTRIBUTION_THRESHOLD = 0.9


def _as_frame(outputs: pd.DataFrame | pd.Series | Sequence[object], side: str) -> pd.DataFrame:
    import pandas as pd

    if isinstance(outputs, pd.DataFrame):
        return outputs
    if isinstance(outputs, pd.Series):
        return outputs.to_frame(outputs.name if outputs.name is not None else "prediction")
    try:
        return pd.DataFrame({"prediction": list(outputs)})
    except TypeError as exc:
        raise InvalidInput(
            f"The {side} outputs must be a DataFrame, a Series or a list of predictions. Got {type(outputs).__name__}."
        ) from exc


def prediction_drift(
    reference_outputs: pd.DataFrame | pd.Series | Sequence[object],
    target_outputs: pd.DataFrame | pd.Series | Sequence[object],
    columns: Sequence[str] | None = None,
    metrics: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    thresholds: Thresholds | None = None,
) -> DriftResult:
    """Drift of a model's outputs (Azure's prediction drift signal).

    The same metrics and default thresholds as data drift (azure-ai-ml's
    ``PredictionDriftMetricThreshold`` defaults equal ``DataDriftMetricThreshold``'s),
    applied to each output column: class labels are categorical, scores and regression
    outputs numerical. A bare list or Series is one column, ``prediction``. No overall
    magnitude is computed.
    """
    ref = _as_frame(reference_outputs, "reference")
    tgt = _as_frame(target_outputs, "target")
    return compare(ref, tgt, features=columns, metrics=metrics, thresholds=thresholds, magnitude=False)


def attribution_drift(reference_importance: Mapping[str, float], production_importance: Mapping[str, float]) -> float:
    """Feature attribution drift as Azure measures it: normalized discounted cumulative gain.

    The production ranking of features (by absolute importance) is scored against the
    reference importances as relevance, with :func:`sklearn.metrics.ndcg_score`: 1.0 when
    production ranks the features as the reference does, lower as important reference
    features fall down the ranking. A feature missing from one side counts as importance
    0 there. Alert when it falls under :data:`DEFAULT_ATTRIBUTION_THRESHOLD`.

    Raises
    ------
    InvalidInput
        An empty side, or no feature with a nonzero reference importance.
    """
    from sklearn.metrics import ndcg_score  # here: the drift metrics do without scikit-learn

    if not reference_importance or not production_importance:
        side = "reference" if not reference_importance else "production"
        raise InvalidInput(f"The {side} feature importance is empty: give one importance per feature.")
    names = list(dict.fromkeys([*reference_importance, *production_importance]))
    if len(names) == 1:
        return 1.0
    relevance = np.abs([float(reference_importance.get(n, 0.0)) for n in names])
    scores = np.abs([float(production_importance.get(n, 0.0)) for n in names])
    if not relevance.any():
        raise InvalidInput("Every reference feature importance is 0: there is no ranking to compare with.")
    return float(ndcg_score(relevance[np.newaxis, :], scores[np.newaxis, :]))
