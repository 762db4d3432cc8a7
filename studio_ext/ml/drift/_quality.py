"""Data quality of a target window against its reference, under Azure's metric names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from studio_ext.ml.drift._columns import Columns
from studio_ext.ml.drift._metrics import _is_numerical, require_features

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DATA_QUALITY_METRICS", "data_quality"]

# azure.ai.ml.constants.MonitorMetricName's data quality metrics.
DATA_QUALITY_METRICS = ("null_value_rate", "data_type_error_rate", "out_of_bounds_rate")


def _value_type(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | float | np.number):
        return "number"
    return type(value).__name__


def data_quality(
    reference: pd.DataFrame | Columns, target: pd.DataFrame | Columns, features: Sequence[str] | None = None
) -> dict[str, dict[str, float | None]]:
    """Per feature, how much of the target is null, of the wrong type, or out of the reference's bounds.

    - ``null_value_rate``: null rows / target rows;
    - ``data_type_error_rate``: non-null target values not of the reference's type (a
      string that is no number where the reference is numerical; a value of a Python type
      the reference never holds where it is categorical), over non-null target rows;
    - ``out_of_bounds_rate``: numerical values outside the reference's [min, max], or
      categories the reference never has, over non-null target values of the right type.

    A target with no rows has every rate ``None`` ('no data', not a perfect score).

    Raises
    ------
    studio_ext.errors.InvalidInput
        A listed feature missing from one side (named).
    """
    import pandas as pd

    # Per-value type checks need Python objects: a Columns table is read as a DataFrame here.
    reference = reference.to_pandas() if isinstance(reference, Columns) else reference
    target = target.to_pandas() if isinstance(target, Columns) else target
    if features is None:
        features = [c for c in reference.columns if c in target.columns]
    else:
        require_features(reference, target, features)
    out: dict[str, dict[str, float | None]] = {}
    for feature in features:
        ref, tgt = reference[feature], target[feature]
        if len(tgt) == 0:
            out[feature] = dict.fromkeys(DATA_QUALITY_METRICS)
            continue
        present = tgt.dropna()
        null_rate = 1.0 - len(present) / len(tgt)
        ref_values = ref.dropna()
        if _is_numerical(ref):
            as_number = pd.to_numeric(present, errors="coerce")
            if present.dtype == bool or pd.api.types.is_bool_dtype(present.dtype):
                as_number = pd.Series(np.nan, index=present.index)
            right_type = as_number.dropna()
            type_errors = len(present) - len(right_type)
            if len(ref_values) and len(right_type):
                outside = int(((right_type < ref_values.min()) | (right_type > ref_values.max())).sum())
            else:
                outside = 0
        else:
            ref_types = {_value_type(v) for v in ref_values.head(10_000)}
            types = present.map(_value_type)
            right = types.isin(ref_types) if ref_types else pd.Series(True, index=present.index)
            type_errors = int((~right).sum())
            right_type = present[right]
            outside = int((~right_type.isin(set(ref_values.unique()))).sum())
        out[feature] = {
            "null_value_rate": float(null_rate),
            "data_type_error_rate": float(type_errors / len(present)) if len(present) else 0.0,
            "out_of_bounds_rate": float(outside / len(right_type)) if len(right_type) else 0.0,
        }
    return out
