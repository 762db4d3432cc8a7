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

from studio_ext.errors import InvalidInput, MissingDependency
from studio_ext.ml.privacy._engine import PrivateTable, _dp
from studio_ext.ml.privacy._metadata import check_epsilon

METHODS = ("aim", "mst")


def _mbi() -> Any:
    """OpenDP's ``mbi`` algorithms, or a MissingDependency naming the extra that installs them."""
    try:
        import mbi  # noqa: F401  (on JAX; the synth extra brings it)
    except ImportError as exc:
        raise MissingDependency("mbi", "synth", "Private synthetic data (OpenDP's AIM and MST, on mbi and JAX, "
                                "about 380 MB)") from exc
    return _dp().mbi


def _inf_add(a: float, b: float) -> float:
    """a + b rounded up, as OpenDP adds privacy losses (its composition never rounds a loss down)."""
    import math
    from fractions import Fraction

    total = a + b
    return math.nextafter(total, math.inf) if Fraction(total) < Fraction(a) + Fraction(b) else total


def _mst_select_fits(d_out: float, measure_split: float, selections: int) -> bool:
    """Whether OpenDP's MST, given ``d_out``, splits it so its own composition accepts every part.

    MST (opendp.extras.mbi._mst) gives the selection step ``x = prior(prior(d_out - d_out * split))``
    and each of its ``selections`` noisy-max queries ``prior(x / selections)``; the compositor adds
    those rounding up, and for about a third of budgets the sum lands one float above ``x``: the
    release then stops with "insufficient budget for query". This replays that arithmetic.
    """
    import math

    measure = d_out * measure_split
    select = math.nextafter(math.nextafter(d_out - measure, -math.inf), -math.inf)
    each = math.nextafter(select / selections, -math.inf)
    total = 0.0
    for _ in range(selections):
        total = _inf_add(total, each)
    return total <= select and _inf_add(select, measure) <= d_out


def _estimator(iterations: int) -> Any:
    """mbi's mirror descent (OpenDP's default estimator) with ``iterations`` steps instead of 1,000."""
    def estimate(domain: Any, loss_fn: Any, *, potentials: Any = None) -> Any:
        from mbi.estimation import mirror_descent

        return mirror_descent(domain, loss_fn, potentials=potentials, iters=iterations)

    return estimate


def _mst(dp: Any, **options: Any) -> Any:
    """OpenDP's MST, given a budget a few floats smaller where its own split would not add up.

    The budget given up is below 1e-12 of epsilon; the release's loss stays within what was asked.
    """
    import math
    from dataclasses import dataclass as _dataclass

    @_dataclass(kw_only=True, frozen=True)
    class MST(dp.mbi.MST):
        def make_marginals(self, input_domain: Any, input_metric: Any, output_measure: Any, d_in: Any,
                           d_out: Any, *, marginals: Any, model: Any) -> Any:
            if isinstance(d_out, float):
                most = len(model.domain.attrs) - 1
                selections = min(max(0, self.num_selections or most), most)
                budget = d_out
                for _ in range(4096):
                    if selections == 0 or _mst_select_fits(budget, self.measure_split, selections):
                        d_out = budget
                        break
                    budget = math.nextafter(budget, -math.inf)
            return super().make_marginals(input_domain, input_metric, output_measure, d_in, d_out,
                                          marginals=marginals, model=model)

    return MST(**options)


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
                   columns: Sequence[str] | None = None, bins: int = 10,
                   iterations: int | None = None) -> SynthesisPlan:
    """Plan a synthesizer over ``columns`` (default: every column with bounds or keys).

    ``iterations`` caps mbi's model fit (mirror descent; 1,000 steps by default): fewer is
    faster and fits the released marginals less closely. It never changes the privacy loss.
    """
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
    mbi = _mbi()
    if iterations is not None and (not isinstance(iterations, int) or iterations < 1):
        raise InvalidInput(f"iterations must be a positive integer, got {iterations!r}.")
    options = {} if iterations is None else {"estimator": _estimator(iterations)}
    algorithm = mbi.AIM(**options) if method == "aim" else _mst(dp, **options)
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
