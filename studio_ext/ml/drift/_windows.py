"""Cut a dataset into the v1 dataset monitor's time windows (Day, Week, Month)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

import numpy as np

from studio_ext.errors import InvalidInput
from studio_ext.ml.drift._columns import Columns

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FREQUENCIES", "Window", "iter_windows", "windows"]

# azureml.datadrift's DataDriftDetector frequencies.
FREQUENCIES = ("Day", "Week", "Month")


def _offset(frequency: str) -> Any:
    import pandas as pd

    return {"Day": pd.DateOffset(days=1), "Week": pd.DateOffset(weeks=1), "Month": pd.DateOffset(months=1)}[frequency]


@dataclass(frozen=True)
class Window:
    """Rows with ``start <= timestamp < end``. ``frame`` may have no rows (then it is 'no data').

    Windows of a pandas DataFrame have ``pd.Timestamp`` bounds and a DataFrame ``frame``;
    windows of a :class:`Columns` table have ``datetime`` bounds and a ``Columns`` frame.
    """

    start: datetime
    end: datetime
    frame: Any

    @property
    def rows(self) -> int:
        return len(self.frame)


def _align(moment: pd.Timestamp, frequency: str) -> pd.Timestamp:
    import pandas as pd

    day = moment.normalize()
    if frequency == "Week":
        return day - pd.Timedelta(days=day.weekday())  # weeks start on Monday
    if frequency == "Month":
        return day.replace(day=1)
    return day


def _no_clock(frame: Any, timestamp_column: str) -> InvalidInput:
    return InvalidInput(
        f"The data has no timestamp column {timestamp_column!r}: its columns are {list(frame.columns)}. "
        "Name the column that holds each row's time (timestamp_column=...)."
    )


def _not_times(timestamp_column: str, exc: Exception) -> InvalidInput:
    return InvalidInput(
        f"Timestamp column {timestamp_column!r} holds values that are not times ({exc}). "
        "Give a column of dates or times."
    )


def _timestamps(frame: pd.DataFrame, timestamp_column: str) -> pd.Series:
    import pandas as pd

    if timestamp_column not in frame.columns:
        raise _no_clock(frame, timestamp_column)
    stamps = frame[timestamp_column]
    if pd.api.types.is_datetime64_any_dtype(stamps.dtype):
        return stamps
    try:
        return pd.to_datetime(stamps)
    except (ValueError, TypeError) as exc:
        raise _not_times(timestamp_column, exc) from exc


def iter_windows(
    frame: pd.DataFrame | Columns,
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
    if isinstance(frame, Columns):
        return _iter_columns(frame, timestamp_column, frequency, start, end)
    import pandas as pd

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


# -- the pandas-free path: a Columns table, its times as datetime64 (UTC when zoned) --------------


def _zone(name: str | None) -> tzinfo | None:
    if name is None:
        return None
    if name.upper() in ("UTC", "Z", "+00:00"):
        return UTC
    if name[:1] in "+-":
        return datetime.strptime(name.replace(":", ""), "%z").tzinfo
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _to_datetime(value: Any, zone: tzinfo | None) -> datetime:
    """A bound as a plain datetime in the column's terms: in its zone, or naive for a naive column."""
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        value = value.to_pydatetime(warn=False)
    elif isinstance(value, str):
        value = datetime.fromisoformat(value)
    elif isinstance(value, np.datetime64):
        value = datetime.fromisoformat(str(value.astype("datetime64[us]")))
    if not isinstance(value, datetime):
        raise InvalidInput(f"A window bound must be a date or time. Got {value!r}.")
    if zone is not None:
        return value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def _ticks(moment: datetime, unit: str) -> int:
    """A datetime as an integer count of the column's unit since the epoch (UTC for a zoned one)."""
    naive = moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)
    return int(np.datetime64(naive, "us").astype(f"datetime64[{unit}]").astype(np.int64))


def _from_ticks(ticks: int, unit: str, zone: tzinfo | None) -> datetime:
    stamp = np.array([ticks], dtype=np.int64).view(f"datetime64[{unit}]").astype("datetime64[us]")[0]
    moment = datetime.fromisoformat(str(stamp))
    return moment if zone is None else moment.replace(tzinfo=UTC).astimezone(zone)


def _align_datetime(moment: datetime, frequency: str) -> datetime:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if frequency == "Week":
        return day - timedelta(days=day.weekday())  # weeks start on Monday (wall-clock arithmetic)
    if frequency == "Month":
        return day.replace(day=1)
    return day


def _next(moment: datetime, frequency: str) -> datetime:
    if frequency == "Day":
        return moment + timedelta(days=1)
    if frequency == "Week":
        return moment + timedelta(weeks=1)
    year, month = divmod(moment.month, 12)
    return moment.replace(year=moment.year + year, month=month + 1)


def _iter_columns(
    table: Columns, timestamp_column: str, frequency: str, start: Any, end: Any
) -> Iterator[Window]:
    if timestamp_column not in table:
        raise _no_clock(table, timestamp_column)
    stamps = table[timestamp_column]
    if not isinstance(stamps, np.ndarray) or stamps.dtype.kind != "M":
        # Text is parsed (ISO 8601); numbers and categoricals are not taken for times.
        try:
            if not isinstance(stamps, np.ndarray) or stamps.dtype.kind not in "OSU":
                raise ValueError(f"a column of {getattr(stamps, 'dtype', 'category')}, not of times")
            stamps = stamps.astype("datetime64[ns]")
        except (ValueError, TypeError) as exc:
            raise _not_times(timestamp_column, exc) from exc
    unit = np.datetime_data(stamps.dtype)[0]
    zone = _zone(table.timezones.get(timestamp_column))
    ticks = stamps.view(np.int64)  # the int64 view: no datetime object is made per row
    known = ~np.isnat(stamps)
    if not known.any() and (start is None or end is None):
        return iter(())
    first = _align_datetime(
        _to_datetime(start, zone) if start is not None else _from_ticks(ticks[known].min(), unit, zone), frequency
    )
    stop = _to_datetime(end, zone) if end is not None else None
    stop_ticks = _ticks(stop, unit) if stop is not None else int(ticks[known].max()) + 1
    if stop_ticks <= _ticks(first, unit):
        shown = stop if stop is not None else _from_ticks(stop_ticks, unit, zone)
        raise InvalidInput(f"The end {shown} is not after the start {first}: give an end later than the start.")
    return _cut_columns(table, ticks, known, first, stop, stop_ticks, unit, frequency)


def _cut_columns(
    table: Columns,
    ticks: np.ndarray,
    known: np.ndarray,
    first: datetime,
    stop: datetime | None,
    stop_ticks: int,
    unit: str,
    frequency: str,
) -> Iterator[Window]:
    order: np.ndarray | None = None
    sorted_ticks = ticks
    if not (known.all() and (len(ticks) < 2 or bool((ticks[1:] >= ticks[:-1]).all()))):
        order = np.argsort(ticks, kind="stable")
        if not known.all():
            order = order[known[order]]
        sorted_ticks = ticks[order]
    left = first
    while _ticks(left, unit) < stop_ticks:
        following = _next(left, frequency)
        right = min(following, stop) if stop is not None else following
        lo = int(np.searchsorted(sorted_ticks, _ticks(left, unit), side="left"))
        hi = int(np.searchsorted(sorted_ticks, _ticks(right, unit), side="left"))
        # A slice (views) when the table is in time order, else the window's rows gathered.
        yield Window(left, right, table.take(slice(lo, hi) if order is None else order[lo:hi]))
        left = following


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
    offset = _offset(frequency)
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
    frame: pd.DataFrame | Columns,
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
