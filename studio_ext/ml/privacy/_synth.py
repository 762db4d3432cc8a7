"""Private synthetic data: OpenDP's contingency table (AIM or MST, on ``mbi``) and rows drawn from it.

The table is one OpenDP release over the chosen columns: categorical and small-integer
columns by their public keys, numeric ones by cuts spread over their public bounds.
Synthetic rows are post-processing of that release, so they cost nothing more, and
queries on them spend no budget of the original.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from studio_ext.errors import InvalidInput
from studio_ext.ml.privacy._engine import PrivateTable, _dp
from studio_ext.ml.privacy._metadata import check_epsilon

METHODS = ("aim", "mst")


@dataclass
class SynthesisPlan:
    """A resolved synthesis: its loss is known before the table is released."""

    table: PrivateTable
    query: Any
    measurement: Any
    d_in: Any
    method: str
    columns: list[str]

    def loss(self) -> tuple[float, float]:
        out = self.measurement.map(self.d_in)
        return (float(out[0]), float(out[1])) if isinstance(out, tuple) else (float(out), 0.0)

    def release(self, rows: int | None = None, seed: int | None = None) -> Any:
        """The synthetic table as a pandas DataFrame (``rows`` rows, about the original's count if None)."""
        del seed  # mbi draws from its own generator
        contingency = self.measurement(self.table.lazy)
        return contingency.synthesize(rows=rows).to_pandas()


def plan_synthesis(table: PrivateTable, *, epsilon: float, method: str = "aim",
                   columns: Sequence[str] | None = None, bins: int = 10) -> SynthesisPlan:
    """Plan a synthesizer over ``columns`` (default: every column with bounds or keys)."""
    import polars as pl

    dp = _dp()
    epsilon = check_epsilon(epsilon)
    if method not in METHODS:
        raise InvalidInput(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
    md = table.metadata
    names = list(columns) if columns else [n for n, c in md.columns.items() if c.bounded or c.categories]
    if not names:
        raise InvalidInput("No column has public bounds or categories to synthesize; set them first.")
    keys: dict[str, list[Any]] = {}
    cuts: dict[str, list[float]] = {}
    exprs = []
    for name in names:
        col = md.column(name)
        if col.categories or col.type in ("bool", "str") or (col.type == "int" and col.bounded
                                                            and col.upper - col.lower <= 50):  # type: ignore[operator]
            keys[name] = col.keys()
            exprs.append(pl.col(name))
        else:
            lo, hi = col.bounds()
            cuts[name] = [lo + (hi - lo) * k / bins for k in range(1, bins)]
            exprs.append(pl.col(name).cast(pl.Float64).fill_null(lo).clip(lo, hi))
    algorithm = dp.mbi.AIM() if method == "aim" else dp.mbi.MST()
    unit = dp.unit_of(contributions=md.max_rows_per_individual)
    shape_only = pl.LazyFrame(schema=table.lazy.collect_schema())
    context = dp.Context.compositor(data=shape_only, privacy_unit=unit, privacy_loss=dp.loss_of(epsilon=epsilon),
                                    split_evenly_over=1, margins=[dp.polars.Margin(max_length=table.rows)])
    try:
        query = context.query().select(*exprs).contingency_table(keys=keys, cuts=cuts, algorithm=algorithm)
        measurement = query.resolve()
    except Exception as exc:  # OpenDP says why the synthesis cannot be made private
        text = str(exc).strip().splitlines()
        raise InvalidInput(f"OpenDP cannot synthesize these columns: {text[-1] if text else type(exc).__name__}") \
            from exc
    return SynthesisPlan(table=table, query=query, measurement=measurement, d_in=context.d_in, method=method,
                         columns=names)
