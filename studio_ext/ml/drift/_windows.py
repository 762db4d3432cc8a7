"""Cut a dataset into the v1 dataset monitor's time windows (Day, Week, Month)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from studio_ext.errors import InvalidInput

__all__ = ["FREQUENCIES", "Window", "iter_windows", "windows"]

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


def iter_windows(
    frame: pd.DataFrame,
    timestamp_column: str,
    frequency: str,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> Iterator[Window]:
    """The windows of :func:`windows`, one at a time: only the current window's rows are held.

    The arguments are checked at the call (a bad column or frequency raises here, not at
    the first window). A frame already in time order gives each window as a slice of it
    (no copy); otherwise a window's rows are gathered when it is reached. Prefer this to
    :func:`windows` over a long table: a backfill then holds one window, not all of them.

    Example::

        reference = Reference(baseline, features=["dep_delay", "carrier"])
        for w in iter_windows(flights, "time_hour", "Week"):
            compare(reference, w.frame).alerts
    """
    if frequency not in FREQUENCIES:
        raise InvalidInput(
            f"The 'frequency' parameter must be one of {', '.join(map(repr, FREQUENCIES))}. Got {frequency!r} instead."
        )
    stamps = _timestamps(frame, timestamp_column)
    known = stamps.notna().to_numpy()
    if not known.any() and (start is None or end is None):
        return iter(())
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
    return _cut(frame, stamps, known, first, stop, frequency, bounded=end is not None)


def _cut(
    frame: pd.DataFrame,
    stamps: pd.Series,
    known: np.ndarray,
    first: pd.Timestamp,
    stop: pd.Timestamp,
    frequency: str,
    bounded: bool,
) -> Iterator[Window]:
    all_known = bool(known.all())
    order: np.ndarray | None = None
    sorted_stamps = stamps.array
    if not (all_known and stamps.is_monotonic_increasing):
        # Sorted on the int64 view of the times: to_numpy() of a zoned column would make one
        # Timestamp object per row (about 150 bytes each). The positions are gathered from the
        # array, not the Series, so no index is copied with them.
        order = np.argsort(stamps.array.asi8, kind="stable")
        if not all_known:
            order = order[known[order]]
        sorted_stamps = stamps.array.take(order)
    offset = FREQUENCIES[frequency]
    left = first
    while left < stop:
        right = min(left + offset, stop) if bounded else left + offset
        lo = int(sorted_stamps.searchsorted(left, side="left"))
        hi = int(sorted_stamps.searchsorted(right, side="left"))
        # Each window takes its own rows only: a slice of a frame in time order, else the
        # rows gathered by position; no sorted copy of the whole frame is kept.
        rows = frame.iloc[lo:hi] if order is None else frame.iloc[order[lo:hi]]
        yield Window(left, right, rows)
        left = left + offset


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

    All windows are returned together (their rows together are one copy of the range);
    :func:`iter_windows` gives the same windows one at a time.

    Raises
    ------
    InvalidInput
        No such timestamp column, values that are not times, an unknown frequency, or an
        end before the start.

    Example::

        for w in windows(flights, "time_hour", "Week"):
            compare(baseline, w.frame).magnitude
    """
    return list(iter_windows(frame, timestamp_column, frequency, start, end))
