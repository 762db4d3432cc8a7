"""Data drift, data quality and attribution drift between a reference and a target window.

Pure engines on numpy, scipy and scikit-learn: tables in, results out, no storage. A table
is a pandas DataFrame or a :class:`Columns` (named numpy arrays, categoricals as
:class:`Coded` codes): :func:`read_table` reads one from Parquet without pandas, and the
windows, the reference and the metrics then run on the arrays, so a backfill over Parquet
files never imports pandas (nor pyarrow's pandas layer). pandas is imported only when a
DataFrame is given; scikit-learn only for the drift magnitude and attribution drift.
``ws.data_drift`` (v1 dataset monitors) and the v2 model monitors run them on datasets
and collected production data. Metric names and default thresholds are Azure's
(``azure.ai.ml.constants.MonitorMetricName``, ``DataDriftMetricThreshold``).

Every per-feature metric is computed with scipy on every row of both windows up to
10 M rows a side; a larger side is measured on a seeded uniform random sample of 10 M
rows, and the result's ``warnings`` say so. The overall magnitude is a classifier
two-sample test on up to 5k rows a side (a learned estimate, noise of a few points).

Example::

    from studio_ext.ml.drift import Reference, compare, iter_windows
    baseline = Reference(flights[flights.month == 1])  # its bins and counts computed once
    for w in iter_windows(flights, "time_hour", "Week"):  # one window held at a time
        r = compare(baseline, w.frame, features=["dep_delay", "carrier"])
        print(w.start, "no data" if r.no_data else (r.magnitude, r.alerts))

    # The same without pandas, from a Parquet file (one column read at a time):
    table = read_table("flights.parquet", ["time_hour", "dep_delay", "carrier"])
"""

from studio_ext.ml.drift._columns import Coded, Columns
from studio_ext.ml.drift._compare import (
    DEFAULT_THRESHOLDS,
    DriftResult,
    FeatureDrift,
    Thresholds,
    check_thresholds,
    compare,
    is_alert,
)
from studio_ext.ml.drift._magnitude import MAGNITUDE_ROWS, drift_magnitude
from studio_ext.ml.drift._metrics import (
    CATEGORICAL_METRICS,
    EXACT_ROWS,
    NUMERICAL_METRICS,
    TEST_METRICS,
    FeatureKind,
    Reference,
    check_metrics,
    feature_drift,
    feature_kind,
    require_features,
)
from studio_ext.ml.drift._quality import DATA_QUALITY_METRICS, data_quality
from studio_ext.ml.drift._read import read_columns, read_table
from studio_ext.ml.drift._signals import DEFAULT_ATTRIBUTION_THRESHOLD, attribution_drift, prediction_drift
from studio_ext.ml.drift._windows import FREQUENCIES, Window, iter_windows, windows

__all__ = [
    "CATEGORICAL_METRICS",
    "DATA_QUALITY_METRICS",
    "DEFAULT_ATTRIBUTION_THRESHOLD",
    "DEFAULT_THRESHOLDS",
    "EXACT_ROWS",
    "FREQUENCIES",
    "MAGNITUDE_ROWS",
    "NUMERICAL_METRICS",
    "TEST_METRICS",
    "Coded",
    "Columns",
    "DriftResult",
    "FeatureDrift",
    "FeatureKind",
    "Reference",
    "Thresholds",
    "Window",
    "attribution_drift",
    "check_metrics",
    "check_thresholds",
    "compare",
    "data_quality",
    "drift_magnitude",
    "feature_drift",
    "feature_kind",
    "is_alert",
    "iter_windows",
    "prediction_drift",
    "read_columns",
    "read_table",
    "require_features",
    "windows",
]
