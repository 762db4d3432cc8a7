"""Compare a target window with a reference: per-feature drift, thresholds, alerts, magnitude."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from studio_ext.errors import InvalidInput
from studio_ext.ml.drift._magnitude import MIN_MAGNITUDE_ROWS, drift_magnitude
from studio_ext.ml.drift._metrics import (
    CATEGORICAL_METRICS,
    EXACT_ROWS,
    NUMERICAL_METRICS,
    TEST_METRICS,
    Reference,
    Table,
    check_metrics,
    feature_kind,
    reference_drift,
    require_features,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "DriftResult",
    "FeatureDrift",
    "Thresholds",
    "check_thresholds",
    "compare",
    "is_alert",
]

Thresholds = Mapping[str, Mapping[str, float]]

# Azure's defaults (DataDriftMetricThreshold._get_default_thresholds, the same for
# prediction drift): numerical features alert on a normalized Wasserstein distance over
# 0.1, categorical ones on a Jensen-Shannon distance over 0.1.
DEFAULT_THRESHOLDS: Thresholds = {
    "numerical": {"normalized_wasserstein_distance": 0.1},
    "categorical": {"jensen_shannon_distance": 0.1},
}


def is_alert(metric: str, value: float, threshold: float) -> bool:
    """Whether ``value`` of ``metric`` is over ``threshold``.

    Distances alert above their threshold; the two statistical tests take their
    threshold as a significance level and alert when the p-value is below it (pass
    the p-value as ``value``).
    """
    if metric in TEST_METRICS:
        return value < threshold
    return value > threshold


def check_thresholds(thresholds: Thresholds | None) -> dict[str, dict[str, float]]:
    """Thresholds by feature type, each metric checked against the type it is set for."""
    if thresholds is None:
        return {kind: dict(metrics) for kind, metrics in DEFAULT_THRESHOLDS.items()}
    checked: dict[str, dict[str, float]] = {"numerical": {}, "categorical": {}}
    for kind, metrics in thresholds.items():
        if kind not in checked:
            raise InvalidInput(
                f"Thresholds are set per feature type, 'numerical' or 'categorical'. Got {kind!r} instead."
            )
        check_metrics(kind, list(metrics))
        for metric, value in metrics.items():
            if not isinstance(value, int | float) or value < 0:
                raise InvalidInput(f"The threshold of {kind} {metric!r} must be a number >= 0. Got {value!r} instead.")
            checked[kind][metric] = float(value)
    return checked


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's drift: its type, its metric values, and the metrics over their threshold."""

    kind: str
    metrics: dict[str, float]
    alerts: tuple[str, ...] = ()

    @property
    def drifted(self) -> bool:
        return bool(self.alerts)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "metrics": dict(self.metrics), "alerts": list(self.alerts)}


@dataclass(frozen=True)
class DriftResult:
    """A target window compared with a reference.

    ``no_data`` is true when either side has no rows: then there are no metrics at all,
    which is not the same as zero drift. ``skipped`` names each column left out and why;
    ``warnings`` says what else the caller should know (a side sampled beyond 10 M rows,
    a magnitude not computed).
    """

    features: dict[str, FeatureDrift]
    magnitude: float | None
    rows_reference: int
    rows_target: int
    no_data: bool = False
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def alerts(self) -> dict[str, tuple[str, ...]]:
        """Features over a threshold, with the metrics that are."""
        return {name: f.alerts for name, f in self.features.items() if f.alerts}

    @property
    def drifted_features(self) -> list[str]:
        return [name for name, f in self.features.items() if f.alerts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": {name: f.to_dict() for name, f in self.features.items()},
            "magnitude": self.magnitude,
            "rows_reference": self.rows_reference,
            "rows_target": self.rows_target,
            "no_data": self.no_data,
            "skipped": dict(self.skipped),
            "warnings": list(self.warnings),
            "thresholds": {kind: dict(m) for kind, m in self.thresholds.items()},
        }


def _metrics_by_kind(metrics: Sequence[str] | Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...] | None]:
    if metrics is None:
        return {"numerical": None, "categorical": None}
    if isinstance(metrics, Mapping):
        out: dict[str, tuple[str, ...] | None] = {"numerical": (), "categorical": ()}
        for kind, names in metrics.items():
            if kind not in out:
                raise InvalidInput(f"Metrics are set per feature type, 'numerical' or 'categorical'. Got {kind!r}.")
            out[kind] = check_metrics(kind, names)
        return out
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    known = set(NUMERICAL_METRICS) | set(CATEGORICAL_METRICS)
    unknown = [m for m in names if m not in known]
    if unknown:
        raise InvalidInput(f"Unknown drift metric {unknown[0]!r}. Azure's drift metrics are: {', '.join(sorted(known))}.")
    # A flat list applies each metric to the feature types it is defined for.
    return {
        "numerical": tuple(m for m in names if m in NUMERICAL_METRICS),
        "categorical": tuple(m for m in names if m in CATEGORICAL_METRICS),
    }


def _features(
    reference: Table, target: Table, features: Sequence[str] | None, skipped: dict[str, str]
) -> list[str]:
    if features is not None:
        features = [features] if isinstance(features, str) else list(features)
        require_features(reference, target, features)
        return features
    chosen = []
    for column in reference.columns:
        if column not in target.columns:
            skipped[column] = "missing from the target"
        else:
            chosen.append(column)
    for column in target.columns:
        if column not in reference.columns:
            skipped[column] = "missing from the reference"
    return chosen


def compare(
    reference: Table | Reference,
    target: Table,
    features: Sequence[str] | None = None,
    metrics: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    thresholds: Thresholds | None = None,
    *,
    magnitude: bool = True,
    seed: int = 0,
) -> DriftResult:
    """Compare a target window with a reference window, feature by feature.

    Parameters
    ----------
    reference
        A pandas DataFrame or a :class:`Columns` table (numpy arrays, read without pandas
        by :func:`read_table`), or a :class:`Reference` made from one: comparing many windows with
        one reference, a ``Reference`` computes the reference's side of each feature (its
        values, bins, standard deviation, category counts) once and reuses it.
    features
        Columns to compare; ``None`` takes every column of both sides (one on a single
        side is skipped and named in ``skipped``). A listed feature missing from a side is
        an error naming it.
    metrics
        Azure metric names: a flat list (each applied to the types it is defined for), or
        ``{"numerical": [...], "categorical": [...]}`` (a metric of the wrong type is
        refused). ``None`` computes every metric of each type.
    thresholds
        ``{"numerical": {metric: value}, "categorical": {metric: value}}``, default
        :data:`DEFAULT_THRESHOLDS` (Azure's). A metric over its threshold (a test's p-value
        under it) is an alert on that feature; a threshold metric is always computed.
        Given thresholds replace the defaults whole: a type left out raises no alerts.
    magnitude
        Also compute the overall :func:`drift_magnitude` (0-100) over the compared
        features.

    Every metric is exact on the whole window up to 10 M rows a side; a larger side is
    measured on a uniform random sample of 10 M rows, and ``warnings`` says so.

    A column whose type differs between the sides (a number in one, a string in the
    other) is skipped, named in ``skipped`` and ``warnings``; so is a column with no
    non-null value on a side. A window with no rows gives ``no_data=True`` and no metrics.

    Example::

        r = compare(january, week, features=["dep_delay", "carrier"])
        r.features["dep_delay"].metrics["normalized_wasserstein_distance"], r.alerts, r.magnitude
    """
    limits = check_thresholds(thresholds)
    wanted = _metrics_by_kind(metrics)
    skipped: dict[str, str] = {}
    warnings: list[str] = []
    prepared = reference if isinstance(reference, Reference) else Reference(reference)
    reference = prepared.frame
    chosen = _features(reference, target, features, skipped)
    for column, why in skipped.items():
        warnings.append(f"Column {column!r} skipped: {why}.")
    rows_ref, rows_tgt = len(reference), len(target)
    if rows_ref == 0 or rows_tgt == 0:
        empty = "reference" if rows_ref == 0 else "target"
        warnings.append(f"No data: the {empty} window has no rows, so no drift was measured (this is not zero drift).")
        return DriftResult({}, None, rows_ref, rows_tgt, True, skipped, warnings, limits)
    for side, rows in (("reference", rows_ref), ("target", rows_tgt)):
        if rows > EXACT_ROWS:
            warnings.append(
                f"The {side} has {rows:,} rows: its metrics are computed on a uniform random sample of "
                f"{EXACT_ROWS:,} rows (exact up to that)."
            )
    results: dict[str, FeatureDrift] = {}
    for feature in chosen:
        try:
            kind = feature_kind(reference[feature], target[feature], name=feature)
        except InvalidInput as exc:
            skipped[feature] = exc.message
            warnings.append(f"Column {feature!r} skipped: {exc.message}")
            continue
        names = wanted[kind]
        if names is not None:
            names = tuple(dict.fromkeys([*names, *limits[kind]]))
        try:
            values = reference_drift(prepared, feature, target[feature], kind, names)
        except InvalidInput as exc:
            skipped[feature] = exc.message
            warnings.append(f"Column {feature!r} skipped: {exc.message}")
            continue
        alerts = tuple(
            metric
            for metric, limit in limits[kind].items()
            if is_alert(metric, values[f"{metric}_p_value" if metric in TEST_METRICS else metric], limit)
        )
        results[feature] = FeatureDrift(kind, values, alerts)
    overall = None
    if magnitude and results:
        if min(rows_ref, rows_tgt) < MIN_MAGNITUDE_ROWS:
            warnings.append(
                f"Drift magnitude not computed: it needs {MIN_MAGNITUDE_ROWS} rows a side "
                f"(reference {rows_ref}, target {rows_tgt})."
            )
        else:
            overall = drift_magnitude(reference, target, list(results), seed=seed)
    return DriftResult(results, overall, rows_ref, rows_tgt, False, skipped, warnings, limits)
