"""Forecasting as regression on lag features: the target's past, per series, as columns.

Every lag is at least the horizon, so each period up to ``forecast_horizon`` steps
past the last known value has all its features: one model forecasts the whole
horizon. A rolling mean of the target (ending a horizon back) adds the level; the
time column becomes calendar parts through the usual featurization and the
series id columns become categories. :class:`Forecaster` keeps the tail of each
series, so ``predict`` on future rows needs only their times and series ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from studio_ext.entities._automl import ForecastingSettings
from studio_ext.errors import InvalidInput

__all__ = ["SERIES_COLUMN", "ForecastSpec", "Forecaster", "add_lag_features", "plan_forecast"]

SERIES_COLUMN = "_series"
MSG_NO_TIME = ("Forecasting needs a time column: call set_forecast_settings(time_column_name=...). ")
MSG_TIME_MISSING = "The time column {column!r} is not in the training data. Columns: {columns}."
MSG_TIME_PARSE = ("The time column {column!r} has values that are not dates or times (e.g. {example!r}). "
                  "Fix or drop those rows.")
MSG_HORIZON = "The 'forecast_horizon' must be an int >= 1. Got {value!r} instead."
MSG_GRAIN_MISSING = "The time series id column {column!r} is not in the training data. Columns: {columns}."
MSG_DUPLICATES = ("The series {series} has {count} rows sharing a time value (e.g. {example}); each series needs "
                  "one row per time. Name the series id columns (time_series_id_column_names) or aggregate first.")
MSG_LAGS = "The 'target_lags' must be ints >= 1 (or 'auto'). Got {value!r} instead."
MSG_WINDOW = "The 'target_rolling_window_size' must be an int >= 2 (or 'auto'). Got {value!r} instead."
MSG_SHORT = ("The series {series} has {rows} rows: too few for a horizon of {horizon} with {folds} validation "
             "folds (it needs more than {need}). Shorten the horizon, use fewer folds, or give more history.")


@dataclass(frozen=True)
class ForecastSpec:
    target: str
    time_column: str
    horizon: int
    grains: tuple[str, ...]
    lags: tuple[int, ...]
    window: int

    @property
    def history_rows(self) -> int:
        """How many past values per series the features reach back."""
        return max(max(self.lags), self.horizon + self.window)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "time_column": self.time_column, "horizon": self.horizon,
                "grains": list(self.grains), "lags": list(self.lags), "window": self.window}


def plan_forecast(frame: pd.DataFrame, target: str, settings: ForecastingSettings | None) -> ForecastSpec:
    """Check the forecasting settings against the data and fill in lags and window."""
    settings = settings or ForecastingSettings()
    columns = [str(c) for c in frame.columns]
    if not settings.time_column_name:
        raise InvalidInput(MSG_NO_TIME)
    if settings.time_column_name not in columns:
        raise InvalidInput(MSG_TIME_MISSING.format(column=settings.time_column_name, columns=", ".join(columns)))
    horizon = settings.forecast_horizon
    if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
        raise InvalidInput(MSG_HORIZON.format(value=horizon))
    grains = tuple(settings.time_series_id_column_names or ())
    for g in grains:
        if g not in columns:
            raise InvalidInput(MSG_GRAIN_MISSING.format(column=g, columns=", ".join(columns)))
    lags_value = settings.target_lags
    if lags_value in (None, "auto"):
        lags = tuple(range(horizon, horizon + max(3, horizon)))
    else:
        raw = [lags_value] if isinstance(lags_value, int) else lags_value
        if not isinstance(raw, (list, tuple)) or not raw or any(
                not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in raw):
            raise InvalidInput(MSG_LAGS.format(value=lags_value))
        # A lag shorter than the horizon is unknown for the far periods: shift it out to the horizon.
        lags = tuple(sorted({max(int(v), horizon) for v in raw}))
    window_value = settings.target_rolling_window_size
    if window_value in (None, "auto"):
        window = max(3, horizon)
    elif isinstance(window_value, int) and not isinstance(window_value, bool) and window_value >= 2:
        window = window_value
    else:
        raise InvalidInput(MSG_WINDOW.format(value=window_value))
    return ForecastSpec(target=target, time_column=settings.time_column_name, horizon=horizon, grains=grains,
                        lags=lags, window=window)


def parse_times(frame: pd.DataFrame, spec: ForecastSpec) -> pd.Series:
    raw = frame[spec.time_column]
    times = raw if pd.api.types.is_datetime64_any_dtype(raw) else pd.to_datetime(raw, errors="coerce",
                                                                                 format="mixed")
    bad = times.isna() & raw.notna()
    if bad.any() or times.isna().any():
        example = raw[bad].iloc[0] if bad.any() else None
        raise InvalidInput(MSG_TIME_PARSE.format(column=spec.time_column, example=example))
    return times


def series_keys(frame: pd.DataFrame, spec: ForecastSpec) -> pd.Series:
    if not spec.grains:
        return pd.Series("all", index=frame.index)
    return frame[list(spec.grains)].astype(str).agg("|".join, axis=1)


def check_series(frame: pd.DataFrame, spec: ForecastSpec, folds: int) -> None:
    times = parse_times(frame, spec)
    keys = series_keys(frame, spec)
    dup = pd.DataFrame({"k": keys, "t": times}).duplicated(keep=False)
    if dup.any():
        first = keys[dup].iloc[0]
        raise InvalidInput(MSG_DUPLICATES.format(series=first, count=int((keys[dup] == first).sum()),
                                                 example=times[dup].iloc[0]))
    need = spec.horizon * (folds + 1)
    sizes = keys.value_counts()
    if sizes.min() <= need:
        raise InvalidInput(MSG_SHORT.format(series=sizes.idxmin(), rows=int(sizes.min()), horizon=spec.horizon,
                                            folds=folds, need=need))


def add_lag_features(frame: pd.DataFrame, y: pd.Series, spec: ForecastSpec) -> pd.DataFrame:
    """``frame`` plus the target's lags and rolling mean per series (NaN where the past is unknown)."""
    times = parse_times(frame, spec)
    keys = series_keys(frame, spec)
    work = pd.DataFrame({"k": keys.to_numpy(), "t": times.to_numpy(), "y": pd.to_numeric(y, errors="coerce")
                         .to_numpy(dtype=float)}, index=frame.index)
    ordered = work.sort_values(["k", "t"], kind="stable")
    grouped = ordered.groupby("k", sort=False)["y"]
    out = frame.copy()
    out[spec.time_column] = times
    for lag in spec.lags:
        out[f"{spec.target}_lag{lag}"] = grouped.shift(lag).reindex(frame.index)
    shifted = grouped.shift(spec.horizon)
    rolled = shifted.groupby(ordered["k"], sort=False).rolling(spec.window, min_periods=1).mean()
    out[f"{spec.target}_mean{spec.window}"] = rolled.reset_index(level=0, drop=True).reindex(frame.index)
    if spec.grains:
        out[SERIES_COLUMN] = keys.to_numpy()
    return out


class Forecaster(BaseEstimator, RegressorMixin):
    """A fitted forecasting model: new rows (times, series ids, other features) → forecasts.

    ``history`` holds the last values of each training series. Rows given to
    ``predict`` may carry the target too (actuals after training): they extend
    the history, which is how a test period longer than the horizon is scored.
    """

    def __init__(self, pipeline: Any = None, spec: ForecastSpec | None = None,
                 history: pd.DataFrame | None = None) -> None:
        self.pipeline = pipeline
        self.spec = spec
        self.history = history

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        spec = self.spec
        frame = pd.DataFrame(X).reset_index(drop=True)
        actual = frame.pop(spec.target) if spec.target in frame.columns else pd.Series(np.nan, index=frame.index)
        past = self.history.copy()
        past_y = past.pop(spec.target)
        for column in frame.columns:  # columns the history does not carry: unknown in the past
            if column not in past.columns:
                past[column] = np.nan
        past = past[list(frame.columns)] if len(frame.columns) else past
        past[spec.time_column] = pd.to_datetime(past[spec.time_column])
        frame_times = parse_times(frame, spec)
        frame = frame.assign(**{spec.time_column: frame_times})
        combined = pd.concat([past, frame], ignore_index=True)
        combined_y = pd.concat([past_y.reset_index(drop=True), actual.reset_index(drop=True)], ignore_index=True)
        featured = add_lag_features(combined, combined_y, spec)
        rows = featured.iloc[len(past):]
        return np.asarray(self.pipeline.predict(rows), dtype=float)


def history_of(frame: pd.DataFrame, y: pd.Series, spec: ForecastSpec) -> pd.DataFrame:
    """The last ``spec.history_rows`` rows of each series (with the target), for :class:`Forecaster`."""
    times = parse_times(frame, spec)
    keys = series_keys(frame, spec)
    keep = frame.assign(**{spec.target: y.to_numpy(), spec.time_column: times, "_k": keys.to_numpy()})
    keep = keep.sort_values(["_k", spec.time_column], kind="stable").groupby("_k", sort=False).tail(spec.history_rows)
    return keep.drop(columns="_k").reset_index(drop=True)
