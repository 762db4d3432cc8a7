"""A model monitor signal's data windows and the data they cut, as Azure's ``BaselineDataRange`` gives them.

Production data is a rolling window up to each run: ``lookback_window_size`` (ISO 8601; unless
given, the schedule's period, as azure-ai-ml's ``default_data_window_size``; ``P7D`` for a cron)
ending ``lookback_window_offset`` (``P0D``) before the run's time; it takes no fixed dates
(azure-ai-ml refuses them too). Reference data is the whole dataset, unless its ``data_window``
gives a rolling window (Azure's ``default`` offset is the production window's size, so the two do
not overlap; its ``default`` size twice that) or fixed ``window_start`` / ``window_end`` dates. A
window selects rows by time: collected data (a ``uri_folder`` in the data collector's layout) by
each record's time, a table by the column named in ``data_column_names: {timestamp_column: ...}``.

:func:`check_signal` refuses bad values when a monitor is created, naming the field and the value;
the run cuts its windows with :func:`production_window` and :func:`reference_window`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from studio_ext.errors import InvalidInput

DEFAULT_LOOKBACK = "P7D"
TIMESTAMP_KEY = "timestamp_column"


def duration(text: Any, where: str) -> timedelta:
    """An ISO 8601 duration (``P7D``, ``PT12H``, ``P1W``) >= 0 as a timedelta, or an error naming ``where``."""
    import isodate

    try:
        value = isodate.parse_duration(str(text).strip())
    except (isodate.ISO8601Error, ValueError, TypeError):
        raise InvalidInput(f"{where} is {text!r}, which is not an ISO 8601 duration: give one such as 'P7D' "
                           "(7 days), 'PT12H' (12 hours) or 'P0D'.") from None
    if not isinstance(value, timedelta):  # years or months: their length is counted from now
        value = value.totimedelta(start=datetime.now(UTC))
    if value < timedelta(0):
        raise InvalidInput(f"{where} is {text!r}, a negative duration: give one of 0 or more, such as 'P0D'.")
    return value


def moment(text: Any, where: str) -> datetime:
    """A date (``YYYY-MM-DD``) or ISO date and time as a UTC datetime, or an error naming ``where``."""
    try:
        value = text if isinstance(text, datetime) else datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise InvalidInput(f"{where} is {text!r}, which is not a date: give one as YYYY-MM-DD, such as "
                           "'2026-01-31'.") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def production_window(window: dict[str, Any] | None, slot: datetime, where: str,
                      default_size: str = DEFAULT_LOOKBACK) -> tuple[datetime, datetime]:
    """[start, end) of a signal's production data for the run at ``slot``."""
    window = window or {}
    if window.get("window_start") or window.get("window_end"):
        raise InvalidInput(f"{where}.data_window has window_start/window_end, but production data takes a rolling "
                           "window up to each run: give lookback_window_size (and lookback_window_offset) instead.")
    size_text = window.get("lookback_window_size")
    size_text = default_size if size_text in (None, "", "default") else size_text
    size = duration(size_text, f"{where}.data_window.lookback_window_size")
    if size <= timedelta(0):
        raise InvalidInput(f"{where}.data_window.lookback_window_size is {size_text!r}: a window must be longer "
                           "than 0, such as 'P7D'.")
    offset_text = window.get("lookback_window_offset")
    offset = duration("P0D" if offset_text in (None, "", "default") else offset_text,
                      f"{where}.data_window.lookback_window_offset")
    end = slot - offset
    return end - size, end


def reference_window(window: dict[str, Any] | None, slot: datetime, production_size: timedelta,
                     where: str) -> tuple[datetime, datetime] | None:
    """[start, end) of a signal's reference data for the run at ``slot``, or None for the whole dataset."""
    window = {k: v for k, v in (window or {}).items() if v not in (None, "")}
    if not window:
        return None
    fixed = {k for k in ("window_start", "window_end") if k in window}
    rolling = {k for k in ("lookback_window_size", "lookback_window_offset") if k in window}
    if fixed and rolling:
        raise InvalidInput(f"{where}.data_window has both {', '.join(sorted(fixed))} and {', '.join(sorted(rolling))}:"
                           " give fixed dates (window_start and window_end) or a rolling window "
                           "(lookback_window_size, lookback_window_offset), not both.")
    if fixed:
        if fixed != {"window_start", "window_end"}:
            missing = ({"window_start", "window_end"} - fixed).pop()
            raise InvalidInput(f"{where}.data_window has {fixed.pop()} but no {missing}: a fixed window needs both "
                               "dates (YYYY-MM-DD).")
        start = moment(window["window_start"], f"{where}.data_window.window_start")
        end = moment(window["window_end"], f"{where}.data_window.window_end")
        if end <= start:
            raise InvalidInput(f"{where}.data_window ends ({window['window_end']}) before or when it starts "
                               f"({window['window_start']}): window_end must be after window_start.")
        return start, end
    if "lookback_window_size" not in window:
        raise InvalidInput(f"{where}.data_window has lookback_window_offset but no lookback_window_size: give the "
                           "size of the rolling window too (such as 'P14D'), or leave data_window out to compare "
                           "with the whole dataset.")
    size_text = window["lookback_window_size"]
    size = (2 * production_size if size_text == "default"
            else duration(size_text, f"{where}.data_window.lookback_window_size"))
    if size <= timedelta(0):
        raise InvalidInput(f"{where}.data_window.lookback_window_size is {size_text!r}: a window must be longer "
                           "than 0, such as 'P14D'.")
    offset_text = window.get("lookback_window_offset")
    offset = (production_size if offset_text == "default"
              else duration(offset_text or "P0D", f"{where}.data_window.lookback_window_offset"))
    end = slot - offset
    return end - size, end


def check_signal(name: str, signal: dict[str, Any], default_size: str = DEFAULT_LOOKBACK) -> None:
    """Refuse a signal's bad data windows (v2 mapping) before the monitor is recorded."""
    where = f"monitoring_signals.{name}"
    now = datetime.now(UTC)
    productions = signal.get("production_data") or {}
    start, end = production_window(None, now, f"{where}.production_data", default_size)
    for production in productions if isinstance(productions, list) else [productions]:
        start, end = production_window((production or {}).get("data_window"), now, f"{where}.production_data",
                                       default_size)
        check_time_column(production or {}, f"{where}.production_data")
    reference = signal.get("reference_data") or {}
    if reference.get("data_window"):
        reference_window(reference["data_window"], now, end - start, f"{where}.reference_data")
        check_time_column(reference, f"{where}.reference_data")


def check_time_column(data: dict[str, Any], where: str) -> None:
    """A table (mltable) cut by time needs its time column named; collected folders carry their own time."""
    kind = str(((data.get("input_data") or {}).get("type")) or "")
    if kind == "mltable" and not (data.get("data_column_names") or {}).get(TIMESTAMP_KEY):
        raise InvalidInput(f"{where} is a table (mltable) read over a time window, but no column names its rows' "
                           f"times: give data_column_names: {{{TIMESTAMP_KEY}: COLUMN}}"
                           + (" or leave data_window out to compare with the whole table."
                              if where.endswith("reference_data") else "."))


def cut(frame: Any, column: str, window: tuple[datetime, datetime], where: str) -> Any:
    """The rows of ``frame`` whose ``column`` time is in [start, end) (a naive time is UTC)."""
    import pandas as pd

    if column not in frame.columns:
        raise InvalidInput(f"{where} names {column!r} as its {TIMESTAMP_KEY}, but the data has no such column. "
                           f"Its columns: {', '.join(map(str, frame.columns))}.")
    stamps = pd.to_datetime(frame[column], errors="coerce", utc=True)
    start, end = window
    return frame.loc[(stamps >= pd.Timestamp(start)) & (stamps < pd.Timestamp(end))].reset_index(drop=True)
