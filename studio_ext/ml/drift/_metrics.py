"""Per-feature drift metrics, under Azure's names, computed with scipy on whole windows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from studio_ext.errors import InvalidInput

__all__ = [
    "CATEGORICAL_METRICS",
    "EXACT_ROWS",
    "NUMERICAL_METRICS",
    "TEST_METRICS",
    "FeatureKind",
    "check_metrics",
    "feature_drift",
    "feature_kind",
    "require_features",
]

FeatureKind = Literal["numerical", "categorical"]

# azure.ai.ml.constants.MonitorMetricName values, by the feature type each applies to
# (azure.ai.ml.entities.NumericalDriftMetrics / CategoricalDriftMetrics).
NUMERICAL_METRICS = (
    "jensen_shannon_distance",
    "normalized_wasserstein_distance",
    "population_stability_index",
    "two_sample_kolmogorov_smirnov_test",
)
CATEGORICAL_METRICS = ("jensen_shannon_distance", "population_stability_index", "pearsons_chi_squared_test")
# Statistical tests: the value is the test statistic, "<name>_p_value" its p-value, and a
# threshold on them is a significance level (an alert when the p-value falls below it).
TEST_METRICS = ("two_sample_kolmogorov_smirnov_test", "pearsons_chi_squared_test")

# Up to this many rows a side, every metric is computed on every row of the window.
EXACT_ROWS = 10_000_000

# Numerical features are binned at the reference's quantiles for the histogram metrics
# (Jensen-Shannon, PSI): 20 bins of about equal reference mass, open at both ends so a
# target value outside the reference's range still lands in a bin.
_QUANTILE_BINS = 20
# Empty bins would make PSI infinite; each proportion is floored at this before the
# logarithm (the usual PSI convention).
_PSI_FLOOR = 1e-4

_METRICS_OF: dict[str, tuple[str, ...]] = {"numerical": NUMERICAL_METRICS, "categorical": CATEGORICAL_METRICS}


def _is_numerical(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series.dtype)) and not pd.api.types.is_bool_dtype(series.dtype)


def _is_categorical(series: pd.Series) -> bool:
    dtype = series.dtype
    return bool(
        pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    )


def _type_name(series: pd.Series) -> str:
    if _is_numerical(series):
        return f"numerical ({series.dtype})"
    if _is_categorical(series):
        return f"categorical ({series.dtype})"
    return str(series.dtype)


def feature_kind(reference: pd.Series, target: pd.Series) -> FeatureKind:
    """Whether a feature is ``"numerical"`` or ``"categorical"`` on both sides.

    Numbers (not booleans) are numerical; strings, booleans and pandas categoricals are
    categorical, as Azure's monitoring infers them. A window with no rows takes the other
    side's type (its dtype says nothing).

    Raises
    ------
    InvalidInput
        The two sides have different types (a number on one, a string on the other), or a
        type drift is not measured on (dates, timedeltas): the message names the column.
    """
    name = reference.name if reference.name is not None else target.name
    sides = [s for s in (reference, target) if len(s.dropna())] or [reference]
    kinds = set()
    for series in sides:
        if _is_numerical(series):
            kinds.add("numerical")
        elif _is_categorical(series):
            kinds.add("categorical")
        else:
            raise InvalidInput(
                f"Column {name!r} is of type {series.dtype}: drift is measured on numerical and categorical "
                "columns only. Leave it out of the features (a timestamp column is the windows' clock, not a feature)."
            )
    if len(kinds) > 1:
        raise InvalidInput(
            f"Column {name!r} is {_type_name(reference)} in the reference but {_type_name(target)} in the "
            "target: the two sides must have one type. Cast one side, or leave the column out of the features."
        )
    return "numerical" if kinds == {"numerical"} else "categorical"


def check_metrics(kind: str, metrics: Sequence[str] | None) -> tuple[str, ...]:
    """The metrics to compute for a feature of ``kind``, refusing any that does not apply to it."""
    if kind not in _METRICS_OF:
        raise InvalidInput(f"The 'kind' parameter must be 'numerical' or 'categorical'. Got {kind!r} instead.")
    if metrics is None:
        return _METRICS_OF[kind]
    if isinstance(metrics, str):
        metrics = [metrics]
    for metric in metrics:
        if metric in _METRICS_OF[kind]:
            continue
        other = "categorical" if kind == "numerical" else "numerical"
        if metric in _METRICS_OF[other]:
            raise InvalidInput(
                f"Metric {metric!r} applies to {other} features only, not to a {kind} one. "
                f"{kind.capitalize()} features take: {', '.join(_METRICS_OF[kind])}."
            )
        known = sorted(set(NUMERICAL_METRICS) | set(CATEGORICAL_METRICS))
        raise InvalidInput(f"Unknown drift metric {metric!r}. Azure's drift metrics are: {', '.join(known)}.")
    return tuple(dict.fromkeys(metrics))


def require_features(reference: pd.DataFrame, target: pd.DataFrame, features: Sequence[str]) -> None:
    """Refuse a feature that is not a column of both sides, naming it and the side it is missing from."""
    missing = [
        f"{f!r} (missing from the {side})"
        for f in features
        for side, frame in (("reference", reference), ("target", target))
        if f not in frame.columns
    ]
    if missing:
        raise InvalidInput(
            f"Feature {', '.join(missing)}: a feature must be a column of both the reference and the target. "
            f"The reference has {list(reference.columns)}, the target {list(target.columns)}."
        )


def _bounded(values: np.ndarray, seed: int = 0) -> np.ndarray:
    # Beyond EXACT_ROWS a side is a uniform random sample of EXACT_ROWS of its rows
    # (compare() says so in its warnings); below it, every row counts.
    if len(values) <= EXACT_ROWS:
        return values
    rng = np.random.default_rng(seed)
    return values[rng.choice(len(values), EXACT_ROWS, replace=False)]


def _proportions_numerical(ref: np.ndarray, tgt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inner = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, _QUANTILE_BINS + 1))[1:-1])
    n_bins = len(inner) + 1
    ref_counts = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=n_bins)
    tgt_counts = np.bincount(np.searchsorted(inner, tgt, side="right"), minlength=n_bins)
    return ref_counts.astype(float), tgt_counts.astype(float)


def _counts_categorical(ref: pd.Series, tgt: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    ref_counts = ref.astype(object).value_counts()
    tgt_counts = tgt.astype(object).value_counts()
    both = ref_counts.index.union(tgt_counts.index)
    return (
        ref_counts.reindex(both, fill_value=0).to_numpy(dtype=float),
        tgt_counts.reindex(both, fill_value=0).to_numpy(dtype=float),
    )


def _psi(ref_counts: np.ndarray, tgt_counts: np.ndarray) -> float:
    p = np.maximum(ref_counts / ref_counts.sum(), _PSI_FLOOR)
    q = np.maximum(tgt_counts / tgt_counts.sum(), _PSI_FLOOR)
    # PSI = sum (q - p) ln(q / p) = KL(q||p) + KL(p||q)
    return float(np.sum(rel_entr(q, p) + rel_entr(p, q)))


def _jensen_shannon(ref_counts: np.ndarray, tgt_counts: np.ndarray) -> float:
    # Base 2 bounds the distance to [0, 1], the scale of Azure's default threshold 0.1.
    return float(jensenshannon(ref_counts, tgt_counts, base=2))


def _binned(chosen: tuple[str, ...], ref_counts: np.ndarray, tgt_counts: np.ndarray, out: dict[str, float]) -> None:
    if "jensen_shannon_distance" in chosen:
        out["jensen_shannon_distance"] = _jensen_shannon(ref_counts, tgt_counts)
    if "population_stability_index" in chosen:
        out["population_stability_index"] = _psi(ref_counts, tgt_counts)


def feature_drift(
    reference: pd.Series, target: pd.Series, kind: str, metrics: Sequence[str] | None = None
) -> dict[str, float]:
    """Drift of one feature between a reference and a target window, under Azure's metric names.

    Every metric is scipy's, on every non-null row of both windows up to
    :data:`EXACT_ROWS` (10 M) rows a side; a larger side is replaced by a uniform random
    sample of 10 M of its rows (seeded, so reruns agree):

    - ``jensen_shannon_distance``: :func:`scipy.spatial.distance.jensenshannon`, base 2
      (0 = the same distribution, 1 = disjoint), on category counts, or for a numerical
      feature on 20 bins at the reference's quantiles (open-ended);
    - ``normalized_wasserstein_distance``: :func:`scipy.stats.wasserstein_distance`
      divided by the reference's standard deviation (so 0.1, Azure's default threshold, is
      a tenth of a standard deviation of movement); a constant reference divides by 1;
    - ``population_stability_index``: sum of (q - p) ln(q / p) over the same bins or
      categories, with :func:`scipy.special.rel_entr`, each proportion floored at 1e-4;
    - ``two_sample_kolmogorov_smirnov_test``: :func:`scipy.stats.ks_2samp`'s statistic,
      and its p-value as ``two_sample_kolmogorov_smirnov_test_p_value``;
    - ``pearsons_chi_squared_test``: :func:`scipy.stats.chi2_contingency` on the 2 x k
      table of category counts, and ``pearsons_chi_squared_test_p_value``.

    Nulls are left out (data quality counts them).

    Raises
    ------
    InvalidInput
        A metric that does not apply to ``kind`` (its message says which do), an unknown
        metric, or a side with no non-null values (there is nothing to compare).

    Example::

        feature_drift(ref["dep_delay"], week["dep_delay"], "numerical", ["normalized_wasserstein_distance"])
        # {'normalized_wasserstein_distance': 0.04}
    """
    chosen = check_metrics(kind, metrics)
    name = reference.name if reference.name is not None else target.name
    ref = reference.dropna()
    tgt = target.dropna()
    for side, values in (("reference", ref), ("target", tgt)):
        if values.empty:
            raise InvalidInput(
                f"Feature {name!r} has no non-null values in the {side}: its drift cannot be measured. "
                "Check the window, or leave the feature out."
            )
    out: dict[str, float] = {}
    if kind == "numerical":
        ref_values = _bounded(ref.to_numpy(dtype=float))
        tgt_values = _bounded(tgt.to_numpy(dtype=float), seed=1)
        if "jensen_shannon_distance" in chosen or "population_stability_index" in chosen:
            _binned(chosen, *_proportions_numerical(ref_values, tgt_values), out)
        for metric in chosen:
            if metric == "normalized_wasserstein_distance":
                scale = float(np.std(ref_values))
                out[metric] = float(wasserstein_distance(ref_values, tgt_values)) / (scale if scale > 0 else 1.0)
            elif metric == "two_sample_kolmogorov_smirnov_test":
                ks = ks_2samp(ref_values, tgt_values)
                out[metric] = float(ks.statistic)
                out[f"{metric}_p_value"] = float(ks.pvalue)
        return out
    if len(ref) > EXACT_ROWS:
        ref = ref.sample(EXACT_ROWS, random_state=0)
    if len(tgt) > EXACT_ROWS:
        tgt = tgt.sample(EXACT_ROWS, random_state=1)
    ref_counts, tgt_counts = _counts_categorical(ref, tgt)
    _binned(chosen, ref_counts, tgt_counts, out)
    if "pearsons_chi_squared_test" in chosen:
        metric = "pearsons_chi_squared_test"
        if len(ref_counts) < 2:
            # One category on both sides: the same distribution, and no test to run.
            out[metric], out[f"{metric}_p_value"] = 0.0, 1.0
        else:
            chi2 = chi2_contingency(np.vstack([ref_counts, tgt_counts]))
            out[metric] = float(chi2.statistic)
            out[f"{metric}_p_value"] = float(chi2.pvalue)
    return out
