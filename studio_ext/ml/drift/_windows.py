"""Cut a dataset into the v1 dataset monitor's time windows (Day, Week, Month)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from studio_ext.errors import InvalidInput

__all__ = ["FREQUENCIES", "Window", "windows"]

# azureml.datadrift's DataDriftDetector frequencies, and the pandas offset of each.
FREQUENCIES = {"Day": pd.DateOffset(days=1), "Week": pd.DateOffset(weeks=1), "Month": pd.DateOffset(months=1)}


@dataclass(frozen=True)
class Window:
    """Rows with ``start <= timestamp < end``. ``frame`` may have no rows (then it is 'no data')."""

    start: pd.Timestamp
    end: pd.Timestamp
    frame: pd.DataFrame

    @property
    def rows(self) -> int:
        return len(self.frame)


def _align(moment: pd.Timestamp, frequency: str) -> pd.Timestamp:
    day = moment.normalize()
    if frequency == "Week":
        return day - pd.Timedelta(days=day.weekday())  # weeks start on Monday
    if frequency == "Month":
        return day.replace(day=1)
    return day


def _timestamps(frame: pd.DataFrame, timestamp_column: str) -> pd.Series:
    if timestamp_column not in frame.columns:
        raise InvalidInput(
            f"The data has no timestamp column {timestamp_column!r}: its columns are {list(frame.columns)}. "
            "Name the column that holds each row's time (timestamp_column=...)."
        )
    stamps = frame[timestamp_column]
    if pd.api.types.is_datetime64_any_dtype(stamps.dtype):
        return stamps
    try:
        return pd.to_datetime(stamps)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"Timestamp column {timestamp_column!r} holds values that are not times ({exc}). "
            "Give a column of dates or times."
        ) from exc


def windows(
    frame: pd.DataFrame,
    timestamp_column: str,
    frequency: str,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> list[Window]:
    """The rows of ``frame`` in consecutive windows of one ``frequency``, from ``start`` to ``end``.

    Windows start at midnight; weeks on Monday, months on the 1st. ``start`` defaults to
    the window holding the earliest row, ``end`` to just after the latest row. Every
    window in the range is returned, including those with no rows, so a gap shows as
    'no data' rather than disappearing. Rows with no timestamp belong to no window.

    Raises
    ------
    InvalidInput
        No such timestamp column, values that are not times, an unknown frequency, or an
        end before the start.

    Example::

        for w in windows(flights, "time_hour", "Week"):
            compare(baseline, w.frame).magnitude
    """
    if frequency not in FREQUENCIES:
        raise InvalidInput(
            f"The 'frequency' parameter must be one of {', '.join(map(repr, FREQUENCIES))}. Got {frequency!r} instead."
        )
    stamps = _timestamps(frame, timestamp_column)
    known = stamps.notna().to_numpy()
    if not known.any() and (start is None or end is None):
        return []
    tz = getattr(stamps.dt, "tz", None)

    def _moment(value: pd.Timestamp | str) -> pd.Timestamp:
        moment = pd.Timestamp(value)
        if tz is not None and moment.tzinfo is None:
            return moment.tz_localize(tz)
        if tz is None and moment.tzinfo is not None:
            return moment.tz_convert(None)
        return moment

    first = _align(_moment(start) if start is not None else stamps.min(), frequency)
    stop = _moment(end) if end is not None else stamps.max() + pd.Timedelta(1, "ns")
    if stop <= first:
        raise InvalidInput(f"The end {stop} is not after the start {first}: give an end later than the start.")
    order = np.argsort(stamps.to_numpy(), kind="stable")
    order = order[known[order]]
    sorted_stamps = stamps.iloc[order]
    offset = FREQUENCIES[frequency]
    out = []
    left = first
    while left < stop:
        right = min(left + offset, stop) if end is not None else left + offset
        lo = sorted_stamps.searchsorted(left, side="left")
        hi = sorted_stamps.searchsorted(right, side="left")
        # Each window takes its own rows only: no sorted copy of the whole frame is kept.
        out.append(Window(left, right, frame.iloc[order[lo:hi]]))
        left = left + offset
    return out
