"""Column profiles of a Parquet table with DuckDB: statistics, top values, histograms.

Pure: a Parquet path in, a :class:`DataProfile` out. DuckDB scans only the columns it
needs, in parallel, under a memory limit (it spills to ``temp_dir`` beyond it), so a
table larger than memory profiles in a few passes. Exact figures up to
``EXACT_ROWS`` rows; beyond, ``distinct`` is a HyperLogLog estimate, quantiles come
from a 16,384-value reservoir sample (exact ones would hold every value in memory),
and columns with more than ``TOP_MAX_DISTINCT`` distinct values list no most frequent
values (none stands out, and counting them all costs a pass per column).
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from studio_ext.entities._data import ColumnProfile, DataProfile

__all__ = ["QUANTILES", "profile_parquet"]

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
EXACT_ROWS = 1_000_000
TOP_MAX_DISTINCT = 100_000
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "FLOAT", "DOUBLE", "REAL")
_TEMPORAL = ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS")


def profile_parquet(
    path: str | Path,
    *,
    bins: int = 20,
    top: int = 5,
    memory_limit: str = "512MB",
    threads: int | None = None,
    temp_dir: str | Path | None = None,
) -> DataProfile:
    """Profile every column of the Parquet file (or folder of files) at ``path``."""
    started = time.perf_counter()
    config: dict[str, Any] = {"memory_limit": memory_limit}
    if threads:
        config["threads"] = threads
    if temp_dir:
        config["temp_directory"] = str(temp_dir)
    con = duckdb.connect(config=config)
    try:
        source = _relation(Path(path))
        con.execute(f"CREATE VIEW t AS SELECT * FROM {source}")
        schema = con.execute("DESCRIBE t").fetchall()
        columns = [(row[0], row[1]) for row in schema]
        row_count = con.execute("SELECT count(*) FROM t").fetchone()[0]
        stats = _summary(con, columns, exact=row_count <= EXACT_ROWS)
        profiles = []
        for name, dtype in columns:
            kind = _kind(dtype)
            s = stats[name]
            prof = ColumnProfile(
                name=name, type=_type_name(dtype), count=int(s["count"]), missing=int(row_count - s["count"]),
                distinct=int(s["distinct"]), min=_plain(s["min"]), max=_plain(s["max"]),
                mean=_float(s.get("mean")), std=_float(s.get("std")),
                quantiles={str(q): _plain(v) for q, v in zip(QUANTILES, s.get("quantiles") or [])},
            )
            if prof.distinct <= TOP_MAX_DISTINCT:
                prof.most_frequent = _top_values(con, name, top)
            if kind in ("numeric", "temporal") and s["min"] is not None:
                prof.histogram_edges, prof.histogram_counts = _histogram(con, name, kind, s["min"], s["max"], bins)
            elif kind in ("text", "boolean"):
                prof.histogram_edges = [v for v, _ in prof.most_frequent]
                prof.histogram_counts = [c for _, c in prof.most_frequent]
            profiles.append(prof)
        return DataProfile(row_count=int(row_count), columns=profiles, seconds=time.perf_counter() - started)
    finally:
        con.close()


def _relation(path: Path) -> str:
    target = str(path / "*.parquet") if path.is_dir() else str(path)
    return "read_parquet(" + _literal(target) + ")"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _kind(dtype: str) -> str:
    base = dtype.upper().split("(")[0]
    if base in _NUMERIC or base.startswith("DECIMAL"):
        return "numeric"
    if base in _TEMPORAL or base.startswith("TIMESTAMP"):
        return "temporal"
    if base == "BOOLEAN":
        return "boolean"
    if base in ("VARCHAR", "STRING", "TEXT", "UUID", "ENUM"):
        return "text"
    return "other"


def _type_name(dtype: str) -> str:
    kind = _kind(dtype)
    base = dtype.upper()
    if kind == "numeric":
        return "integer" if base in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                                     "USMALLINT", "UINTEGER", "UBIGINT") else "float"
    if kind == "temporal":
        return "date" if base == "DATE" else "datetime"
    return {"boolean": "boolean", "text": "string"}.get(kind, dtype.lower())


def _summary(con: duckdb.DuckDBPyConnection, columns: list[tuple[str, str]], exact: bool) -> dict[str, dict[str, Any]]:
    """One scan for every column's count, distinct, min, max, mean, std and quantiles."""
    parts: list[str] = []
    qs = ", ".join(str(q) for q in QUANTILES)
    for name, dtype in columns:
        col, kind = _ident(name), _kind(dtype)
        orderable = kind in ("numeric", "temporal", "text", "boolean")
        distinct = f"count(DISTINCT {col})" if exact else f"approx_count_distinct({col})"
        quantile = f"quantile_disc({col}, [{qs}])" if exact else f"reservoir_quantile({col}, [{qs}], 16384)"
        if kind == "numeric" and exact:
            quantile = f"quantile_cont({col}, [{qs}])"
        parts += [f"count({col})", distinct,
                  f"min({col})" if orderable else "NULL", f"max({col})" if orderable else "NULL"]
        if kind == "numeric":
            parts += [f"avg({col}::DOUBLE)", f"stddev_samp({col}::DOUBLE)", quantile]
        elif kind == "temporal":
            parts += ["NULL", "NULL", quantile if exact else f"approx_quantile({col}, [{qs}])"]
        else:
            parts += ["NULL", "NULL", "NULL"]
    row = con.execute("SELECT " + ", ".join(parts) + " FROM t").fetchone()
    out: dict[str, dict[str, Any]] = {}
    for i, (name, _) in enumerate(columns):
        c, d, lo, hi, mean, std, qs = row[i * 7:(i + 1) * 7]
        out[name] = {"count": c, "distinct": d, "min": lo, "max": hi, "mean": mean, "std": std, "quantiles": qs}
    return out


def _top_values(con: duckdb.DuckDBPyConnection, name: str, top: int) -> list[tuple[Any, int]]:
    col = _ident(name)
    rows = con.execute(
        f"SELECT {col}, count(*) AS n FROM t WHERE {col} IS NOT NULL GROUP BY {col} "
        f"ORDER BY n DESC, {col} LIMIT {int(top)}"
    ).fetchall()
    return [(_plain(v), int(n)) for v, n in rows]


def _histogram(con: duckdb.DuckDBPyConnection, name: str, kind: str, lo: Any, hi: Any, bins: int) -> tuple[list[Any], list[int]]:
    """Equal-width bins from min to max; the edges are returned as plain values."""
    col = _ident(name)
    expr = f"epoch_us({col}::TIMESTAMP)" if kind == "temporal" else f"{col}::DOUBLE"
    lo_v = _epoch_us(lo) if kind == "temporal" else float(lo)
    hi_v = _epoch_us(hi) if kind == "temporal" else float(hi)
    if hi_v == lo_v:
        count = con.execute(f"SELECT count({col}) FROM t").fetchone()[0]
        return [_plain(lo), _plain(hi)], [int(count)]
    width = (hi_v - lo_v) / bins
    rows = con.execute(
        f"SELECT least(floor(({expr} - {lo_v!r}) / {width!r})::BIGINT, {bins - 1}), count(*) "
        f"FROM t WHERE {col} IS NOT NULL GROUP BY 1"
    ).fetchall()
    counts = [0] * bins
    for b, n in rows:
        counts[int(b)] = int(n)
    edges = [lo_v + i * width for i in range(bins + 1)]
    if kind == "temporal":
        edges = [(datetime(1970, 1, 1) + timedelta(microseconds=e)).isoformat() for e in edges]
    return edges, counts


def _epoch_us(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp() * 1e6 if value.tzinfo else (value - datetime(1970, 1, 1)).total_seconds() * 1e6
    if isinstance(value, date):
        return (datetime(value.year, value.month, value.day) - datetime(1970, 1, 1)).total_seconds() * 1e6
    return float(value)


def _plain(value: Any) -> Any:
    """JSON-friendly: dates as ISO text, decimals as floats."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
