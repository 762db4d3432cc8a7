"""Differentially private statistics over a table, on OpenDP's Polars context.

Every release goes through OpenDP: it calibrates the noise to the query's
(epsilon, delta) and states the accuracy of each noisy aggregate. Nothing here
adds noise itself. A statistic that is a function of several released aggregates
(a mean, a variance, a covariance) is post-processing of those releases, and its
confidence interval is propagated from theirs with a Bonferroni split of alpha.

A :class:`Plan` is resolved (the measurement built and its privacy loss mapped)
before it runs, so a caller can charge a budget between :meth:`Plan.loss` and
:meth:`Plan.release`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from studio_ext.errors import InvalidInput
from studio_ext.ml.privacy._metadata import PrivacyMetadata, check_delta, check_epsilon

ALPHA = 0.05  # intervals are at 95 %
Interval = tuple[float, float]


def _dp() -> Any:
    import opendp.extras.polars  # noqa: F401  (registers the .dp namespace on polars expressions)
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


@dataclass
class PrivateResult:
    """A differentially private answer: ``value``, the ``epsilon``/``delta`` spent, a 95 % ``interval``.

    ``value`` is a number for a single statistic, a pandas DataFrame for a table
    (histogram, grouped SQL, covariance matrix); ``interval`` then is (lower, upper)
    of the same shape, or None where OpenDP states no accuracy (quantiles).
    """

    value: Any
    epsilon: float
    delta: float
    interval: Any
    statistic: str
    query: str
    columns: list[str] = field(default_factory=list)
    alpha: float = ALPHA
    group_by: list[str] = field(default_factory=list)  # the key columns of a table answer

    def to_dict(self) -> dict[str, Any]:
        return {"statistic": self.statistic, "query": self.query, "epsilon": self.epsilon, "delta": self.delta,
                "columns": self.columns, "alpha": self.alpha}


# -- interval arithmetic (propagating released intervals through post-processing) ---------------
def _i_add(a: Interval, b: Interval) -> Interval:
    return a[0] + b[0], a[1] + b[1]


def _i_sub(a: Interval, b: Interval) -> Interval:
    return a[0] - b[1], a[1] - b[0]


def _i_mul(a: Interval, b: Interval) -> Interval:
    products = [x * y for x in a for y in b]
    return min(products), max(products)


def _i_div(a: Interval, b: Interval) -> Interval:
    if b[0] <= 0 <= b[1]:
        return -math.inf, math.inf
    return _i_mul(a, (1 / b[1], 1 / b[0]))


def _i_sq(a: Interval) -> Interval:
    lo, hi = sorted((a[0] ** 2, a[1] ** 2))
    return (0.0 if a[0] <= 0 <= a[1] else lo), hi


# -- aggregates ---------------------------------------------------------------------------------
@dataclass
class Part:
    """One aggregate OpenDP releases: its alias and the dp expression."""

    alias: str
    expr: Any


@dataclass
class Aggregate:
    """An output column: the parts it needs and how it is computed (and bounded) from them."""

    name: str
    parts: list[str]
    finish: Callable[[dict[str, float]], float]
    bound: Callable[[dict[str, Interval]], Interval] | None  # None: OpenDP states no accuracy


class Builder:
    """Collects the parts of one query (shared by its aggregates) and the aggregates themselves."""

    def __init__(self, metadata: PrivacyMetadata) -> None:
        _dp()
        self.metadata = metadata
        self.parts: dict[str, Part] = {}
        self.aggregates: list[Aggregate] = []

    def _part(self, key: str, make: Callable[[], Any]) -> str:
        if key not in self.parts:
            alias = f"__p{len(self.parts)}"
            self.parts[key] = Part(alias, make().alias(alias))
        return self.parts[key].alias

    def _value(self, column: str) -> tuple[Any, float, float]:
        """The column as a clipped float expression, with its public bounds."""
        import polars as pl

        meta = self.metadata.column(column)
        if meta.type == "str":
            raise InvalidInput(f"Column {column!r} is a string column; sums, means and quantiles need a numeric one.")
        lo, hi = meta.bounds()
        expr = pl.col(column).cast(pl.Float64).fill_null(lo).clip(lo, hi)
        return expr, lo, hi

    def count(self) -> str:
        dp = _dp()
        return self._part("count", lambda: dp.len(signed=True))

    def total(self, column: str) -> str:
        expr, lo, hi = self._value(column)
        return self._part(f"sum:{column}", lambda: expr.dp.sum((lo, hi)))

    def total_of_product(self, a: str, b: str) -> str:
        ea, la, ha = self._value(a)
        eb, lb, hb = self._value(b)
        lo, hi = _i_mul((la, ha), (lb, hb))
        a, b = sorted((a, b))
        return self._part(f"sum2:{a}*{b}", lambda: (ea * eb).clip(lo, hi).dp.sum((lo, hi)))

    def add_count(self, name: str) -> None:
        n = self.count()
        self.aggregates.append(Aggregate(name, [n], lambda v: v[n], lambda i: i[n]))

    def add_sum(self, name: str, column: str) -> None:
        s = self.total(column)
        self.aggregates.append(Aggregate(name, [s], lambda v: v[s], lambda i: i[s]))

    def add_mean(self, name: str, column: str) -> None:
        s, n = self.total(column), self.count()
        lo, hi = self.metadata.column(column).bounds()

        def finish(v: dict[str, float]) -> float:
            return min(max(v[s] / v[n], lo), hi) if v[n] > 0 else (lo + hi) / 2

        def bound(i: dict[str, Interval]) -> Interval:
            low, high = _i_div(i[s], (max(i[n][0], 0.0), i[n][1]))
            return max(low, lo), min(high, hi)

        self.aggregates.append(Aggregate(name, [s, n], finish, bound))

    def add_variance(self, name: str, column: str) -> None:
        self.add_covariance(name, column, column)

    def add_covariance(self, name: str, a: str, b: str) -> None:
        n, sa, sb, sab = self.count(), self.total(a), self.total(b), self.total_of_product(a, b)
        parts = list(dict.fromkeys([n, sa, sb, sab]))

        def finish(v: dict[str, float]) -> float:
            if v[n] <= 1:
                return math.nan
            return (v[sab] - v[sa] * v[sb] / v[n]) / (v[n] - 1)

        def bound(i: dict[str, Interval]) -> Interval:
            count = (max(i[n][0], 1.0 + 1e-9), max(i[n][1], 1.0 + 1e-9))
            cross = _i_sq(i[sa]) if sa == sb else _i_mul(i[sa], i[sb])
            return _i_div(_i_sub(i[sab], _i_div(cross, count)), _i_sub(count, (1.0, 1.0)))

        self.aggregates.append(Aggregate(name, parts, finish, bound))

    def add_quantile(self, name: str, column: str, q: float, candidates: Sequence[float] | None = None) -> None:
        if not 0 <= q <= 1:
            raise InvalidInput(f"A quantile must be in [0, 1], got {q!r}.")
        expr, lo, hi = self._value(column)
        cands = [float(c) for c in candidates] if candidates is not None else \
            [lo + (hi - lo) * k / 100 for k in range(101)]
        p = self._part(f"q:{column}:{q}:{cands}", lambda: expr.dp.quantile(q, cands))
        self.aggregates.append(Aggregate(name, [p], lambda v: v[p], None))


@dataclass
class Plan:
    """A resolved private query: its measurement and loss are known before it runs."""

    statistic: str
    query: str
    columns: list[str]
    data: Any  # the LazyFrame the measurement is invoked on
    measurement: Any
    d_in: Any
    aggregates: list[Aggregate]
    group_by: list[str]
    shape: str  # "scalar" | "table" | "matrix" | "histogram"
    extra: dict[str, Any] = field(default_factory=dict)

    def loss(self) -> tuple[float, float]:
        """(epsilon, delta) this release spends, as OpenDP maps it."""
        out = self.measurement.map(self.d_in)
        eps, delta = out if isinstance(out, tuple) else (out, 0.0)
        return float(eps), float(delta)

    def release(self) -> PrivateResult:
        import pandas as pd
        from opendp.accuracy import summarize_polars_measurement

        frame = _collect(self.measurement(self.data)).to_pandas()
        accuracy: dict[int, dict[str, float | None]] = {}
        for k in {len(a.parts) for a in self.aggregates}:
            summary = summarize_polars_measurement(self.measurement, ALPHA / k)
            accuracy[k] = dict(zip(summary["column"].to_list(), summary["accuracy"].to_list(), strict=True))
        values = pd.DataFrame({g: frame[g] for g in self.group_by})
        lowers, uppers = values.copy(), values.copy()
        has_interval = True
        for agg in self.aggregates:
            acc = accuracy[len(agg.parts)]
            vals, los, his = [], [], []
            for _, row in frame.iterrows():
                v = {p: float(row[p]) for p in agg.parts}
                vals.append(agg.finish(v))
                if agg.bound is None or any(acc.get(p) is None for p in agg.parts):
                    los.append(math.nan)
                    his.append(math.nan)
                    continue
                lo, hi = agg.bound({p: (v[p] - acc[p], v[p] + acc[p]) for p in agg.parts})  # type: ignore[operator]
                los.append(lo)
                his.append(hi)
            values[agg.name], lowers[agg.name], uppers[agg.name] = vals, los, his
            has_interval = has_interval and agg.bound is not None
        eps, delta = self.loss()
        value, interval = _shape(self, values, lowers, uppers, has_interval)
        return PrivateResult(value=value, epsilon=eps, delta=delta, interval=interval, statistic=self.statistic,
                             query=self.query, columns=self.columns,
                             group_by=[g for g in self.group_by if not g.startswith("__")])


def _shape(plan: Plan, values: Any, lowers: Any, uppers: Any, has_interval: bool) -> tuple[Any, Any]:
    import pandas as pd

    if plan.shape == "scalar":
        name = plan.aggregates[0].name
        value = float(values[name].iloc[0])
        return value, ((float(lowers[name].iloc[0]), float(uppers[name].iloc[0])) if has_interval else None)
    if plan.shape == "quantiles":
        names = [a.name for a in plan.aggregates]
        return {float(n): float(values[n].iloc[0]) for n in names}, None
    if plan.shape == "matrix":
        cols = plan.extra["matrix"]
        out = []
        for frame in (values, lowers, uppers):
            m = pd.DataFrame(index=cols, columns=cols, dtype=float)
            for a, b in itertools.combinations_with_replacement(cols, 2):
                m.loc[a, b] = m.loc[b, a] = float(frame[f"{a}|{b}"].iloc[0])
            out.append(m)
        return out[0], (out[1], out[2])
    if plan.shape == "histogram":
        edges = plan.extra.get("edges")
        key = plan.group_by[0]
        order = values[key].argsort().to_numpy()
        values, lowers, uppers = (f.iloc[order].reset_index(drop=True) for f in (values, lowers, uppers))
        if edges is not None:
            def binned(f: Any) -> Any:
                return pd.DataFrame({"lower": [edges[int(i)] for i in f[key]],
                                     "upper": [edges[int(i) + 1] for i in f[key]], "count": f["count"]})
            values, lowers, uppers = binned(values), binned(lowers), binned(uppers)
        values["count"] = values["count"].astype("int64")
        return values, (lowers, uppers)
    if plan.group_by:  # the groups in the order of their keys
        order = values.sort_values(plan.group_by).index
        values, lowers, uppers = (f.loc[order].reset_index(drop=True) for f in (values, lowers, uppers))
    return values, (lowers, uppers)  # NaN where OpenDP states no accuracy (quantiles)


class PrivateTable:
    """A table with its privacy metadata; builds OpenDP plans over it.

    ``frame`` is a pandas DataFrame or a polars (Lazy)Frame. The row bound OpenDP
    needs (``Margin.max_length``) is ``metadata.max_rows``, else the table's row count,
    which the dataset's registration already makes public.
    """

    def __init__(self, frame: Any, metadata: PrivacyMetadata, *, name: str = "data") -> None:
        import pandas as pd
        import polars as pl

        if isinstance(frame, pd.DataFrame):
            self.lazy = pl.from_pandas(frame).lazy()
            rows = len(frame)
        elif isinstance(frame, pl.DataFrame):
            self.lazy, rows = frame.lazy(), frame.height
        elif isinstance(frame, pl.LazyFrame):
            self.lazy = frame
            rows = int(frame.select(pl.len()).collect().item())
        else:
            raise InvalidInput(f"A private table is a pandas or polars DataFrame, got {type(frame).__name__}.")
        self.metadata = metadata
        self.name = name
        self.rows = metadata.max_rows or rows
        self.columns = list(self.lazy.collect_schema().names())

    # -- plans --------------------------------------------------------------------------------
    def plan(self, builder: Builder, *, epsilon: float, delta: float = 0.0, statistic: str, query: str,
             columns: Sequence[str] = (), where: Any = None, group_by: Sequence[str] = (),
             keys: Any = None, with_columns: Sequence[Any] = (), shape: str = "scalar",
             extra: dict[str, Any] | None = None) -> Plan:
        import polars as pl

        dp = _dp()
        epsilon = check_epsilon(epsilon)
        delta = check_delta(delta, self.rows)
        for col in [*columns, *group_by]:
            if col not in self.columns and not col.startswith("__"):
                raise InvalidInput(f"Column {col!r} is not in {self.name!r}. Columns: {', '.join(self.columns)}.")
        identifier = self.metadata.identifier
        if identifier is not None and identifier not in self.columns:
            raise InvalidInput(f"The identifier column {identifier!r} is not in {self.name!r}.")
        # With an identifier column, OpenDP bounds each individual's rows itself (truncation to
        # max_rows_per_individual per group); without one, that bound is the user's statement.
        unit = (dp.unit_of(contributions=1, identifier=pl.col(identifier)) if identifier is not None
                else dp.unit_of(contributions=self.metadata.max_rows_per_individual))
        loss = dp.loss_of(epsilon=epsilon, delta=delta)
        # The plan is built on an empty frame of the same schema: OpenDP's scale search
        # then never serialises the data, and the measurement runs on the data afterwards.
        shape_only = pl.LazyFrame(schema=self.lazy.collect_schema())
        context = dp.Context.compositor(data=shape_only, privacy_unit=unit, privacy_loss=loss, split_evenly_over=1,
                                        margins=[dp.polars.Margin(max_length=self.rows)])
        q = context.query()
        if where is not None:
            q = q.filter(where)
        if with_columns:
            q = q.with_columns(*with_columns)
        if identifier is not None:
            k = self.metadata.max_rows_per_individual
            q = q.truncate_per_group(k, by=list(group_by)) if group_by else q.truncate_per_group(k)
        exprs = [p.expr for p in builder.parts.values()]
        if group_by:
            if keys is None:
                keys = pl.DataFrame({g: self.metadata.column(g).keys() for g in group_by[:1]})
                for g in group_by[1:]:
                    keys = keys.join(pl.DataFrame({g: self.metadata.column(g).keys()}), how="cross")
                keys = keys.with_columns(*(pl.col(g).cast(self.lazy.collect_schema()[g]) for g in group_by))
            q = q.group_by(*group_by).agg(*exprs).with_keys(keys)
        else:
            q = q.select(*exprs)
        try:
            measurement = _calibrate(q, epsilon, delta)
        except Exception as exc:  # OpenDP says why the plan cannot be private
            raise InvalidInput(f"OpenDP cannot make {query!r} private: {_reason(exc)}") from exc
        return Plan(statistic=statistic, query=query, columns=list(columns), data=self.lazy, measurement=measurement,
                    d_in=context.d_in, aggregates=builder.aggregates, group_by=list(group_by), shape=shape,
                    extra=extra or {})

    def count(self, *, epsilon: float, delta: float = 0.0) -> Plan:
        b = Builder(self.metadata)
        b.add_count("count")
        return self.plan(b, epsilon=epsilon, delta=delta, statistic="count", query="count(*)")

    def sum(self, column: str, *, epsilon: float, delta: float = 0.0) -> Plan:
        b = Builder(self.metadata)
        b.add_sum(column, column)
        return self.plan(b, epsilon=epsilon, delta=delta, statistic="sum", query=f"sum({column})", columns=[column])

    def mean(self, column: str, *, epsilon: float, delta: float = 0.0) -> Plan:
        b = Builder(self.metadata)
        b.add_mean(column, column)
        return self.plan(b, epsilon=epsilon, delta=delta, statistic="mean", query=f"mean({column})", columns=[column])

    def variance(self, column: str, *, epsilon: float, delta: float = 0.0) -> Plan:
        b = Builder(self.metadata)
        b.add_variance(column, column)
        return self.plan(b, epsilon=epsilon, delta=delta, statistic="variance", query=f"variance({column})",
                         columns=[column])

    def covariance(self, columns: Sequence[str], *, epsilon: float, delta: float = 0.0) -> Plan:
        cols = list(columns)
        if len(cols) < 2:
            raise InvalidInput(f"A covariance needs at least two columns, got {cols}.")
        b = Builder(self.metadata)
        for a, c in itertools.combinations_with_replacement(cols, 2):
            b.add_covariance(f"{a}|{c}", a, c)
        return self.plan(b, epsilon=epsilon, delta=delta, statistic="covariance",
                         query=f"covariance({', '.join(cols)})", columns=cols, shape="matrix",
                         extra={"matrix": cols})

    def quantiles(self, column: str, quantiles: Sequence[float] = (0.25, 0.5, 0.75), *, epsilon: float,
                  delta: float = 0.0, candidates: Sequence[float] | None = None) -> Plan:
        b = Builder(self.metadata)
        for q in quantiles:
            b.add_quantile(str(float(q)), column, float(q), candidates)
        return self.plan(b, epsilon=epsilon, delta=delta, statistic="quantiles",
                         query=f"quantiles({column}, {list(quantiles)})", columns=[column], shape="quantiles")

    def histogram(self, column: str, *, epsilon: float, delta: float = 0.0,
                  bins: int | Sequence[float] | None = None) -> Plan:
        """Counts per public key of ``column``; or, for a numeric column with ``bins``, per bin of its bounds."""
        import polars as pl

        meta = self.metadata.column(column)
        b = Builder(self.metadata)
        b.add_count("count")
        if bins is None and (meta.categories or meta.type in ("int", "bool")):
            return self.plan(b, epsilon=epsilon, delta=delta, statistic="histogram", query=f"histogram({column})",
                             columns=[column], group_by=[column], shape="histogram")
        lo, hi = meta.bounds()
        if bins is None or isinstance(bins, int):
            n = bins or 10
            edges = [lo + (hi - lo) * k / n for k in range(n + 1)]
        else:
            edges = sorted(float(e) for e in bins)
        if len(edges) < 2:
            raise InvalidInput("A histogram needs at least one bin (two edges).")
        n = len(edges) - 1
        # The bin of each row from its public edges: (number of inner edges <= x), a row-wise map.
        value = pl.col(column).cast(pl.Float64).fill_null(lo).clip(edges[0], edges[-1])
        index = sum(((value >= e).cast(pl.Int64) for e in edges[1:-1]), pl.lit(0, dtype=pl.Int64)).alias("__bin")
        keys = pl.DataFrame({"__bin": list(range(n))}, schema={"__bin": pl.Int64})
        return self.plan(b, epsilon=epsilon, delta=delta, statistic="histogram", query=f"histogram({column})",
                         columns=[column], group_by=["__bin"], keys=keys, with_columns=[index],
                         shape="histogram", extra={"edges": edges})


def _calibrate(query: Any, epsilon: float, delta: float) -> Any:
    """The measurement of ``query`` with the smallest noise scale whose loss OpenDP maps within (epsilon, delta).

    OpenDP's ``resolve`` bisects the scale to full float precision (about a thousand
    measurements); here the scale is solved from the loss at scale 1 (Laplace and
    exponential-mechanism losses are proportional to 1/scale) and then checked, and
    nudged up until OpenDP's own privacy map confirms it. The plan's internals are read
    the way ``LazyFrameQuery.resolve`` reads them.
    """
    from opendp.measurements import make_private_lazyframe

    plan = object.__getattribute__(query, "polars_plan")
    inner = object.__getattribute__(query, "_query")
    input_domain, input_metric = inner._chain
    d_in = inner._d_in

    def make(scale: float) -> Any:
        return make_private_lazyframe(input_domain=input_domain, input_metric=input_metric,
                                      output_measure=inner._output_measure, lazyframe=plan, global_scale=scale)

    def loss(m: Any) -> tuple[float, float]:
        out = m.map(d_in)
        return (float(out[0]), float(out[1])) if isinstance(out, tuple) else (float(out), 0.0)

    at_one = loss(make(1.0))[0]
    if at_one == 0.0:
        return make(1.0)
    scale = at_one / epsilon
    for step in range(60):
        m = make(scale)
        eps, dlt = loss(m)
        if eps <= epsilon:
            if dlt > delta:
                raise InvalidInput(f"this query needs delta >= {dlt:.3g}; it was given {delta:.3g}.")
            return m
        scale *= 1 + 1e-12 * 2 ** step
    raise InvalidInput(f"no noise scale meets epsilon={epsilon}")  # pragma: no cover


def _collect(released: Any) -> Any:
    """A polars DataFrame from what a measurement released (an OnceFrame, or a frame)."""
    from opendp.extras.polars import OnceFrame

    if isinstance(released, OnceFrame):
        return released.collect()
    return released.collect() if hasattr(released, "collect") else released


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1][:400] if text else type(exc).__name__
