"""The pandas-free table the drift engine also takes: named numpy columns of one length.

A backfill over Parquet files needs no pandas: the columns are read straight from Arrow into
numpy (:func:`studio_ext.ml.drift.read_table`), windows are cut on the int64 view of the
timestamps, and the metrics (scipy's) run on the arrays. A process that never imports pandas
saves its memory (pandas 3 loads pyarrow's whole pandas layer and its own: about 45 MB).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, overload

import numpy as np

__all__ = ["Coded", "Column", "Columns"]


@dataclass(frozen=True)
class Coded:
    """A categorical column: integer ``codes`` into ``categories`` (an object array), -1 for null.

    The same layout as a pandas categorical (and an Arrow dictionary column): each distinct
    value is held once, each row as a small integer.
    """

    codes: np.ndarray
    categories: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    def take(self, rows: np.ndarray | slice) -> Coded:
        """The rows at ``rows`` (positions or a slice; a slice is a view)."""
        return Coded(self.codes[rows], self.categories)

    def values(self) -> np.ndarray:
        """The rows' values as an object array, None for null."""
        out = np.empty(len(self.codes), dtype=object)
        known = self.codes >= 0
        out[known] = self.categories[self.codes[known]]
        return out


Column = np.ndarray | Coded


class Columns:
    """Named numpy columns of one length: a table the drift engine reads without pandas.

    A column is a numpy array (float64 or another number type, bool, object, or
    ``datetime64[ns]`` for times) or a :class:`Coded` categorical. ``timezones`` names the
    zone of each zoned time column (its values are UTC); a time column left out of it is
    naive. Columns are held, not copied; :meth:`take` of a slice gives views.

    Example::

        table = Columns({"t": stamps, "x": np.array([1.0, 2.0])}, timezones={"t": "UTC"})
        table["x"], table[["x"]], len(table), table.columns
    """

    def __init__(self, columns: Mapping[str, Column], timezones: Mapping[str, str] | None = None) -> None:
        self._data: dict[str, Column] = dict(columns)
        lengths = {len(c) for c in self._data.values()}
        if len(lengths) > 1:
            raise ValueError(f"Columns of different lengths: {({k: len(v) for k, v in self._data.items()})}.")
        self._rows = lengths.pop() if lengths else 0
        self.timezones: dict[str, str] = {k: v for k, v in (timezones or {}).items() if k in self._data}

    @property
    def columns(self) -> list[str]:
        return list(self._data)

    def __len__(self) -> int:
        return self._rows

    def __contains__(self, name: object) -> bool:
        return name in self._data

    @overload
    def __getitem__(self, key: str) -> Column: ...

    @overload
    def __getitem__(self, key: list[str]) -> Columns: ...

    def __getitem__(self, key: str | list[str]) -> Column | Columns:
        if isinstance(key, str):
            return self._data[key]
        return Columns({k: self._data[k] for k in key}, self.timezones)

    def items(self) -> Iterable[tuple[str, Column]]:
        return self._data.items()

    def take(self, rows: np.ndarray | slice) -> Columns:
        """The rows at ``rows`` (positions, a boolean mask, or a slice; a slice gives views)."""
        out = Columns({}, None)
        out._data = {k: (v.take(rows) if isinstance(v, Coded) else v[rows]) for k, v in self._data.items()}
        out._rows = len(next(iter(out._data.values()))) if out._data else 0
        out.timezones = dict(self.timezones)
        return out

    def to_pandas(self) -> Any:
        """The table as a pandas DataFrame (categoricals as pandas categoricals, zoned times zoned)."""
        import pandas as pd

        out: dict[str, Any] = {}
        for name, column in self._data.items():
            if isinstance(column, Coded):
                out[name] = pd.Categorical.from_codes(column.codes, pd.Index(column.categories))
            elif name in self.timezones:
                out[name] = pd.Series(column).dt.tz_localize("UTC").dt.tz_convert(self.timezones[name])
            else:
                out[name] = column
        return pd.DataFrame(out)

    def __repr__(self) -> str:
        return f"Columns({len(self)} rows: {', '.join(self._data)})"
