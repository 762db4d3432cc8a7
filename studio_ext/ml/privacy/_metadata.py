"""Privacy metadata of a table: per-column public bounds, the privacy unit and the budget.

Bounds must be public: bounds read off the data (its observed min or max) tell an
attacker about the extreme individuals, so a bound equal to an observed extreme is
kept only once the user has confirmed it (``confirmed=True``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from studio_ext.errors import InvalidInput

COLUMN_TYPES = ("int", "float", "str", "bool")


@dataclass(kw_only=True)
class ColumnMetadata:
    """One column: its type, public bounds (numeric) or public categories (keys), nullability."""

    name: str
    type: str = "float"
    lower: float | None = None
    upper: float | None = None
    nullable: bool = False
    categories: list[Any] | None = None  # public group keys (GROUP BY, histogram)
    confirmed: bool = False  # the user confirmed a bound equal to an observed min or max

    def __post_init__(self) -> None:
        if self.type not in COLUMN_TYPES:
            raise InvalidInput(f"Column {self.name!r}: type {self.type!r} is not one of {', '.join(COLUMN_TYPES)}.")
        for which in ("lower", "upper"):
            value = getattr(self, which)
            if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)
                                      or not math.isfinite(value)):
                raise InvalidInput(f"Column {self.name!r}: {which} bound {value!r} is not a finite number.")
        if (self.lower is None) != (self.upper is None):
            raise InvalidInput(f"Column {self.name!r}: give both lower and upper bounds, or neither.")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise InvalidInput(
                f"Column {self.name!r}: lower bound {self.lower} is greater than upper bound {self.upper}. "
                "Swap them or correct one."
            )

    @property
    def bounded(self) -> bool:
        return self.lower is not None and self.upper is not None

    def bounds(self) -> tuple[float, float]:
        if self.lower is None or self.upper is None:
            raise InvalidInput(
                f"Column {self.name!r} has no public bounds. Set them first, e.g. "
                f"ws.privacy.set_metadata(dataset, columns={{{self.name!r}: {{'lower': 0, 'upper': 100}}}})."
            )
        return float(self.lower), float(self.upper)

    def keys(self) -> list[Any]:
        """The public keys of a grouping column: declared categories, or every integer within int bounds."""
        if self.categories:
            return list(self.categories)
        if self.type == "bool":
            return [False, True]
        if self.type == "int" and self.bounded:
            lo, hi = int(self.lower), int(self.upper)  # type: ignore[arg-type]
            if hi - lo <= 1000:
                return list(range(lo, hi + 1))
        raise InvalidInput(
            f"Column {self.name!r} has no public keys to group by: declare categories=[...] for it, "
            "or give an int column bounds spanning at most 1001 values."
        )


@dataclass(kw_only=True)
class PrivacyMetadata:
    """What OpenDP must know about a table, all of it public."""

    columns: dict[str, ColumnMetadata] = field(default_factory=dict)
    identifier: str | None = None  # the private identifier column (one individual, several rows)
    max_rows_per_individual: int = 1
    max_rows: int | None = None  # a public upper bound on the table's row count
    budget_epsilon: float = 1.0
    budget_delta: float = 0.0
    protected: bool = False  # no exact-vs-noisy comparison (data the user does not own)

    def __post_init__(self) -> None:
        if not isinstance(self.max_rows_per_individual, int) or self.max_rows_per_individual < 1:
            raise InvalidInput(f"max_rows_per_individual must be an integer >= 1, got {self.max_rows_per_individual!r}.")
        check_epsilon(self.budget_epsilon, what="budget_epsilon")
        if not (isinstance(self.budget_delta, int | float) and 0 <= self.budget_delta < 1):
            raise InvalidInput(f"budget_delta must be in [0, 1), got {self.budget_delta!r}.")

    def column(self, name: str) -> ColumnMetadata:
        try:
            return self.columns[name]
        except KeyError:
            raise InvalidInput(
                f"Column {name!r} has no privacy metadata. Known columns: {', '.join(self.columns) or '(none)'}."
            ) from None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["columns"] = {name: {k: v for k, v in asdict(c).items() if k != "name"} for name, c in self.columns.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrivacyMetadata:
        data = dict(data)
        columns = {name: ColumnMetadata(name=name, **spec) for name, spec in (data.pop("columns", None) or {}).items()}
        return cls(columns=columns, **data)


def check_epsilon(epsilon: Any, *, what: str = "epsilon") -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or math.isnan(epsilon) \
            or not epsilon > 0 or math.isinf(epsilon):
        raise InvalidInput(f"{what} must be a finite number > 0, got {epsilon!r}.")
    return float(epsilon)


def check_delta(delta: Any, rows: int) -> float:
    """delta must be in [0, 1/rows): a larger delta lets a mechanism publish a whole row."""
    if isinstance(delta, bool) or not isinstance(delta, int | float) or math.isnan(delta) or delta < 0:
        raise InvalidInput(f"delta must be a number >= 0, got {delta!r}.")
    if rows > 0 and delta >= 1.0 / rows:
        raise InvalidInput(
            f"delta={delta} is not below 1/rows = {1.0 / rows:.3g} (the bound on rows is {rows}); "
            "a delta that large may reveal whole rows. Use a smaller delta, e.g. 1e-6."
        )
    return float(delta)


def infer_metadata(frame: Any) -> PrivacyMetadata:
    """Column types from a table's schema, with no bounds (bounds must come from the user)."""
    import pandas as pd

    columns: dict[str, ColumnMetadata] = {}
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            kind = "bool"
        elif pd.api.types.is_integer_dtype(dtype):
            kind = "int"
        elif pd.api.types.is_float_dtype(dtype):
            kind = "float"
        else:
            kind = "str"
        columns[str(name)] = ColumnMetadata(name=str(name), type=kind, nullable=bool(frame[name].isna().any()))
    return PrivacyMetadata(columns=columns)


def observed_extremes(metadata: PrivacyMetadata, frame: Any) -> list[str]:
    """Bounds equal to an observed min or max, as 'Column.lower' / 'Column.upper' (they leak unless public)."""
    found = []
    for name, col in metadata.columns.items():
        if not col.bounded or name not in frame.columns:
            continue
        series = frame[name].dropna()
        if series.empty:
            continue
        if float(series.min()) == col.lower:
            found.append(f"{name}.lower")
        if float(series.max()) == col.upper:
            found.append(f"{name}.upper")
    return found
