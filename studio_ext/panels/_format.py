"""The one number formatter of the studio: every page shows values through it.

A person reads ``0.1702`` rather than ``0.17023456789012345``, ``10,000`` rather than
``10000``, ``1000000`` (an ID) rather than ``1e+06``, and ``utf-8`` rather than
``'utf-8'``. The short text is for the eye; :func:`full_text` keeps every digit, and
:func:`value_html` puts it in the ``title`` attribute so hovering (or copying the
tooltip) gives the exact value.

* :func:`format_number` - about four significant digits, thousands separators,
  integers (and whole floats) as integers.
* :func:`format_id` - an identifier: digits only, never separators or exponents.
* :func:`format_value` - anything a panel shows (numbers, None, strings, dates,
  lists, dicts, numpy and pandas scalars).
* :func:`format_date` - a short local date and time (``2026-12-07 14:43``).
* :func:`format_duration` - ``0.4s``, ``12.3s``, ``4m 05s``, ``1h 02m 03s``.
* :func:`value_html` - escaped HTML of :func:`format_value` with the full value on hover.

Example::

    >>> format_number(-0.044641636506989144), format_number(10000), format_id(1e6)
    ('-0.04464', '10,000', '1000000')
"""

from __future__ import annotations

import enum
import html
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

#: Significant digits shown for a non-integer number.
DIGITS = 4
# Whole floats beyond this are shown in exponent form (a float has no more exact digits).
_MAX_WHOLE = 1e15


def _scalar(value: Any) -> Any:
    """Plain Python for numpy / pandas scalars (``np.float64``, ``np.int64``, ``np.bool_``)."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return value


def is_number(value: Any) -> bool:
    value = _scalar(value)
    return isinstance(value, int | float) and not isinstance(value, bool)


def format_number(value: Any, digits: int = DIGITS) -> str:
    """A number as a person reads it: ``0.1702``, ``12,350``, ``10,000``, ``-3.2e-05``."""
    value = _scalar(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < _MAX_WHOLE:
        return f"{int(value):,}"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits - 1 and abs(value) < _MAX_WHOLE:
        # 12345.678 -> 12,350: round to `digits` significant places, keep it an integer.
        return f"{round(value, -(magnitude - digits + 1)):,.0f}"
    return f"{value:.{digits}g}"


def format_id(value: Any) -> str:
    """An identifier (a run number, a port, a version): all its digits, never ``1e+06``."""
    value = _scalar(value)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < _MAX_WHOLE:
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    return str(value)


def format_date(value: Any, *, seconds: bool = False) -> str:
    """A short local date and time, ``2026-12-07 14:43`` (``:SS`` with ``seconds``)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value != value:  # pandas' NaT
            return ""
        if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
            value = value.to_pydatetime()
        if value.tzinfo is not None:
            value = value.astimezone()
        return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def format_duration(seconds: float | None) -> str:
    """``0.4s`` and ``12.3s`` under a minute (a tenth of a second), then ``4m 05s``, ``1h 02m 03s``."""
    seconds = _scalar(seconds)
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def format_value(value: Any, *, none: str = "") -> str:
    """Any value a panel shows, as a person reads it (no Python reprs, no 17-digit floats).

    ``None`` is ``none`` (empty by default); strings are shown as they are; lists are
    joined with commas; dicts read ``key=value``; numbers go through :func:`format_number`.
    """
    value = _scalar(value)
    if value is None:
        return none
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, datetime | date):
        return format_date(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{format_value(k)}={format_value(v, none='None')}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return ", ".join(format_value(v, none="None") for v in items)
    if type(value).__name__ == "NaTType":  # pandas' missing date
        return none
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def full_text(value: Any) -> str:
    """Every digit of ``value`` (for a tooltip or a copy): ``repr`` of a float, else the shown text."""
    value = _scalar(value)
    if isinstance(value, float) and not value.is_integer():
        return repr(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={full_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(full_text(v) for v in value)
    if isinstance(value, datetime):
        return format_date(value, seconds=True)
    return format_value(value)


def value_html(value: Any, *, none: str = "") -> str:
    """Escaped HTML of :func:`format_value`, with the full value in a ``title`` when it is shortened."""
    shown = format_value(value, none=none)
    full = full_text(value)
    if full and full != shown:
        return f"<span title='{html.escape(full, quote=True)}'>{html.escape(shown)}</span>"
    return html.escape(shown)
