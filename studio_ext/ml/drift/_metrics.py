"""Per-feature drift metrics, under Azure's names, computed with scipy on whole windows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from studio_ext.errors import InvalidInput
from studio_ext.ml.drift._columns import Coded

if TYPE_CHECKING:
    import pandas as pd

# A feature's values on one side: a pandas Series, or (from a :class:`Columns` table) a numpy
# array or a :class:`Coded` categorical. A table: a pandas DataFrame or a :class:`Columns`.
Values = Any
Table = Any

__all__ = [
    "CATEGORICAL_METRICS",
    "EXACT_ROWS",
    "NUMERICAL_METRICS",
    "TEST_METRICS",
    "FeatureKind",
    "Reference",
    "check_metrics",
    "feature_drift",
    "feature_kind",
    "reference_drift",
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
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series.dtype)) and not pd.api.types.is_bool_dtype(series.dtype)


def _is_categorical(series: pd.Series) -> bool:
    import pandas as pd

    dtype = series.dtype
    return bool(
        pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    )


def _is_array(values: Values) -> bool:
    return isinstance(values, np.ndarray | Coded)


def _array_kind(values: np.ndarray | Coded) -> str | None:
    if isinstance(values, Coded):
        return "categorical"
    if values.dtype.kind in "iuf":
        return "numerical"
    if values.dtype.kind in "bOSU":
        return "categorical"
    return None


def _kind_of(values: Values) -> str | None:
    if _is_array(values):
        return _array_kind(values)
    if _is_numerical(values):
        return "numerical"
    if _is_categorical(values):
        return "categorical"
    return None


def _dtype_name(values: Values) -> str:
    return "category" if isinstance(values, Coded) else str(values.dtype)


def _has_values(values: Values) -> bool:
    if isinstance(values, Coded):
        return bool((values.codes >= 0).any())
    if isinstance(values, np.ndarray):
        if values.dtype.kind == "f":
            return bool((~np.isnan(values)).any())
        if values.dtype.kind == "M":
            return bool((~np.isnat(values)).any())
        if values.dtype.kind == "O":
            return any(v is not None and v == v for v in values)
        return len(values) > 0
    return bool(values.notna().any())


def _type_name(series: Values) -> str:
    kind = _kind_of(series)
    return f"{kind} ({_dtype_name(series)})" if kind else _dtype_name(series)


def _name(values: Values, other: Values = None) -> object:
    for side in (values, other):
        name = getattr(side, "name", None)
        if name is not None:
            return name
    return None


def feature_kind(reference: Values, target: Values, name: object = None) -> FeatureKind:
    """Whether a feature is ``"numerical"`` or ``"categorical"`` on both sides.

    Numbers (not booleans) are numerical; strings, booleans and pandas categoricals (or
    :class:`Coded` columns) are categorical, as Azure's monitoring infers them. A side may
    be a pandas Series or a numpy array / :class:`Coded` column of a :class:`Columns`
    table (``name`` names it then). A window with no rows takes the other side's type
    (its dtype says nothing).

    Raises
    ------
    InvalidInput
        The two sides have different types (a number on one, a string on the other), or a
        type drift is not measured on (dates, timedeltas): the message names the column.
    """
    name = _name(reference, target) if name is None else name
    sides = [s for s in (reference, target) if _has_values(s)] or [reference]
    kinds = set()
    for series in sides:
        kind = _kind_of(series)
        if kind is None:
            raise InvalidInput(
                f"Column {name!r} is of type {_dtype_name(series)}: drift is measured on numerical and categorical "
                "columns only. Leave it out of the features (a timestamp column is the windows' clock, not a feature)."
            )
        kinds.add(kind)
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


def require_features(reference: Table, target: Table, features: Sequence[str]) -> None:
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


def _numbers(series: Values, seed: int) -> np.ndarray:
    """A side's non-null values as float64: a view of a float64 column with no nulls, else one copy."""
    if isinstance(series, np.ndarray):
        values = series if series.dtype == np.float64 else series.astype(float)
    elif series.dtype == np.float64:
        values = series.to_numpy()
    else:
        values = series.to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(values)
    if missing.any():
        values = values[~missing]
    return _bounded(values, seed)


def _counted_codes(codes: np.ndarray, categories: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(codes[codes >= 0], minlength=len(categories))
    seen = counts > 0
    return np.asarray(categories, dtype=object)[seen], counts[seen]


def _category_counts(series: Values, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The categories seen (non-null, as Python objects) and the rows of each, in first-category order."""
    if isinstance(series, Coded):
        # Counted on the integer codes: no value of the column is materialized.
        return _counted_codes(_bounded(series.codes, seed), series.categories)
    if isinstance(series, np.ndarray):
        values = _bounded(series, seed)
        known = np.array([v is not None and v == v for v in values], dtype=bool) if values.dtype.kind == "O" \
            else np.ones(len(values), dtype=bool)
        seen: dict[object, int] = {}
        for value in values[known].tolist():
            seen[value] = seen.get(value, 0) + 1
        return np.array(list(seen), dtype=object), np.array(list(seen.values()), dtype=np.int64)
    import pandas as pd

    if len(series) > EXACT_ROWS:
        series = series.sample(EXACT_ROWS, random_state=seed)
    if isinstance(series.dtype, pd.CategoricalDtype):
        return _counted_codes(series.cat.codes.to_numpy(), series.cat.categories.astype(object).to_numpy())
    counts = series.value_counts(dropna=True)
    return counts.index.astype(object).to_numpy(), counts.to_numpy()


@dataclass(frozen=True)
class _Side:
    """One side of one feature, reduced to what the metrics need.

    Numerical: the non-null values (float64), and for the reference its standard deviation
    and its 20 quantile bins with their counts. Categorical: the rows per category.
    """

    kind: str
    values: np.ndarray | None = None
    categories: np.ndarray | None = None
    counts: np.ndarray | None = None
    scale: float = 1.0
    inner: np.ndarray | None = None
    bin_counts: np.ndarray | None = None


def _side(series: Values, kind: str, seed: int, reference: bool, name: object = None) -> _Side:
    name = _name(series) if name is None else name
    side = "reference" if reference else "target"
    if kind == "numerical":
        values = _numbers(series, seed)
        if not len(values):
            raise _no_values(name, side)
        if not reference:
            return _Side(kind, values=values)
        inner = np.unique(np.quantile(values, np.linspace(0.0, 1.0, _QUANTILE_BINS + 1))[1:-1])
        bins = np.bincount(np.searchsorted(inner, values, side="right"), minlength=len(inner) + 1)
        scale = float(np.std(values))
        return _Side(kind, values=values, scale=scale if scale > 0 else 1.0, inner=inner, bin_counts=bins)
    categories, counts = _category_counts(series, seed)
    if not len(counts):
        raise _no_values(name, side)
    return _Side(kind, categories=categories, counts=counts)


def _no_values(name: object, side: str) -> InvalidInput:
    return InvalidInput(
        f"Feature {name!r} has no non-null values in the {side}: its drift cannot be measured. "
        "Check the window, or leave the feature out."
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


def _drift(ref: _Side, tgt: _Side, chosen: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    if ref.kind == "numerical":
        assert ref.values is not None and tgt.values is not None and ref.inner is not None
        assert ref.bin_counts is not None
        if "jensen_shannon_distance" in chosen or "population_stability_index" in chosen:
            tgt_bins = np.bincount(np.searchsorted(ref.inner, tgt.values, side="right"), minlength=len(ref.inner) + 1)
            _binned(chosen, ref.bin_counts.astype(float), tgt_bins.astype(float), out)
        for metric in chosen:
            if metric == "normalized_wasserstein_distance":
                out[metric] = float(wasserstein_distance(ref.values, tgt.values)) / ref.scale
            elif metric == "two_sample_kolmogorov_smirnov_test":
                ks = ks_2samp(ref.values, tgt.values)
                out[metric] = float(ks.statistic)
                out[f"{metric}_p_value"] = float(ks.pvalue)
        return out
    assert ref.counts is not None and tgt.counts is not None
    assert ref.categories is not None and tgt.categories is not None
    # The reference's categories, then those only the target has, each side's count at each.
    at = {value: i for i, value in enumerate(ref.categories.tolist())}
    for value in tgt.categories.tolist():
        at.setdefault(value, len(at))
    ref_counts = np.zeros(len(at))
    ref_counts[: len(ref.counts)] = ref.counts
    tgt_counts = np.zeros(len(at))
    tgt_counts[[at[v] for v in tgt.categories.tolist()]] = tgt.counts
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


class Reference:
    """A reference window prepared once for comparing many target windows with it.

    Each feature's reference side (its non-null values as float64, its standard deviation,
    its quantile bins and their counts; or its rows per category) is computed the first
    time a comparison needs it and reused for every later window, so a backfill reads the
    reference once rather than once per window. The frame is held, not copied.

    Example::

        reference = Reference(january)
        for w in iter_windows(flights, "time_hour", "Week"):
            compare(reference, w.frame, features=["dep_delay", "carrier"])
    """

    def __init__(self, frame: Table) -> None:
        self.frame: Table = frame.frame if isinstance(frame, Reference) else frame
        self._sides: dict[tuple[str, str], _Side] = {}

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> Any:
        return self.frame.columns

    def __getitem__(self, column: str) -> Values:
        return self.frame[column]

    def side(self, feature: str, kind: str) -> _Side:
        key = (feature, kind)
        if key not in self._sides:
            self._sides[key] = _side(self.frame[feature], kind, seed=0, reference=True, name=feature)
        return self._sides[key]


def feature_drift(
    reference: Values, target: Values, kind: str, metrics: Sequence[str] | None = None
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

    Nulls are left out (data quality counts them). Categorical columns are counted on
    their codes when they are pandas categoricals; numerical float64 columns are read in
    place.

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
    name = _name(reference, target)
    ref = _side(reference, kind, seed=0, reference=True, name=name)
    return _drift(ref, _side(target, kind, seed=1, reference=False, name=name), chosen)


def reference_drift(
    reference: Reference, feature: str, target: Values, kind: str, metrics: Sequence[str] | None = None
) -> dict[str, float]:
    """:func:`feature_drift` against a prepared :class:`Reference` (its side of ``feature`` computed once)."""
    chosen = check_metrics(kind, metrics)
    ref = reference.side(feature, kind)
    return _drift(ref, _side(target, kind, seed=1, reference=False, name=feature), chosen)
