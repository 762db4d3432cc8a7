"""The run explorer's read side: searching runs fast in MLflow's store, kept consistent.

MLflow keeps runs as key/value rows (``latest_metrics``, ``params``, ``tags``), so a
filter such as ``metrics.accuracy > 0.9 and params.model = 'lgbm'`` joins several
rows per run. On SQLite that costs 0.2-1 s at 100,000 runs even with good indexes,
and MLflow's own query for "sorted by a metric" can fall into a quadratic plan when
the statistics are stale. Two read paths live here:

* :class:`RunIndex` (SQLite tracking stores): a wide table, one row per run and one
  column per metric, param and tag key, in its own file (``run_index.db`` in the
  workspace). Triggers installed in MLflow's database record, in the same
  transaction as every MLflow write, which run changed and a change counter; every
  search first applies the changes since the counter it last saw. So the index is
  never stale for the reader (read-your-writes), MLflow's writers are never blocked
  by it, and losing the file only costs a rebuild. If the triggers vanish (an MLflow
  upgrade that rebuilds a table), a new generation is installed and the index is
  rebuilt from scratch.
* :class:`MlflowTablesSearch` (any SQL store, e.g. PostgreSQL): the same filter tree
  compiled to correlated subqueries over MLflow's own tables with SQLAlchemy Core.

The index is not part of the metadata schema (``core/schema.py`` and its Alembic
migrations): it is a cache derived from MLflow's database, its wide table grows a column
per key as runs log them, and it is rebuilt whenever it is lost or its triggers'
generation changes, so a new layout is a rebuild, not a migration. Its triggers and
change tables live in MLflow's database, next to the tables MLflow itself migrates.

Both return run ids in order; :class:`MlflowTables` then reads the page's rows from
MLflow's tables, so what is shown is always MLflow's own data.
"""

from __future__ import annotations

import fcntl
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from studio_ext.backends.local.runs.query import TAG_BACKED_ATTRIBUTES, Column, ColumnKind, OrderKey
from studio_ext.entities import JobStatus
from studio_ext.entities._job import MLFLOW_RUN_STATUSES
from studio_ext.errors import BackendUnavailable

log = logging.getLogger("studio_ext.run_index")

#: SQLite allows 2,000 columns a table; keys beyond this many are searched the slow way.
MAX_INDEXED_COLUMNS = 1800
_FULL_SCAN_ABOVE = 20_000  # changed runs beyond which reading whole tables is faster
_CHUNK = 500
#: Sorting by a column reads its index in order, so a first page costs ~1 ms at 100k runs.
#: Metric columns get one when they appear, others on their first sort; each costs writes.
MAX_SORT_INDEXES = 64
_KIND_TABLE = {ColumnKind.METRIC: "latest_metrics", ColumnKind.PARAM: "params", ColumnKind.TAG: "tags"}


# -- MLflow's tables (the stable, public schema of its migrations) ------------------------
class MlflowTables:
    """SQLAlchemy Core views of the MLflow tables the explorer reads, plus reads over them."""

    def __init__(self, tracking_uri: str) -> None:
        self.uri = tracking_uri
        self.dialect = sa.engine.make_url(tracking_uri).get_backend_name()
        md = sa.MetaData()
        self.experiments = sa.Table(
            "experiments", md,
            sa.Column("experiment_id", sa.Integer), sa.Column("name", sa.String),
            sa.Column("lifecycle_stage", sa.String), sa.Column("creation_time", sa.BigInteger),
            sa.Column("last_update_time", sa.BigInteger),
        )
        self.runs = sa.Table(
            "runs", md,
            sa.Column("run_uuid", sa.String), sa.Column("name", sa.String), sa.Column("status", sa.String),
            sa.Column("start_time", sa.BigInteger), sa.Column("end_time", sa.BigInteger),
            sa.Column("lifecycle_stage", sa.String), sa.Column("experiment_id", sa.Integer),
            sa.Column("user_id", sa.String), sa.Column("artifact_uri", sa.String),
        )
        self.latest_metrics = sa.Table(
            "latest_metrics", md,
            sa.Column("key", sa.String), sa.Column("value", sa.Float), sa.Column("timestamp", sa.BigInteger),
            sa.Column("step", sa.BigInteger), sa.Column("is_nan", sa.Boolean), sa.Column("run_uuid", sa.String),
        )
        self.metrics = sa.Table(
            "metrics", md,
            sa.Column("key", sa.String), sa.Column("value", sa.Float), sa.Column("timestamp", sa.BigInteger),
            sa.Column("step", sa.BigInteger), sa.Column("is_nan", sa.Boolean), sa.Column("run_uuid", sa.String),
        )
        self.params = sa.Table(
            "params", md, sa.Column("key", sa.String), sa.Column("value", sa.String), sa.Column("run_uuid", sa.String))
        self.tags = sa.Table(
            "tags", md, sa.Column("key", sa.String), sa.Column("value", sa.String), sa.Column("run_uuid", sa.String))
        if self.dialect == "sqlite":
            self.engine = sa.create_engine(tracking_uri, connect_args={"timeout": 30, "check_same_thread": False})
        else:
            self.engine = sa.create_engine(tracking_uri, pool_pre_ping=True)

    def table(self, kind: ColumnKind) -> sa.Table:
        return {ColumnKind.METRIC: self.latest_metrics, ColumnKind.PARAM: self.params,
                ColumnKind.TAG: self.tags}[kind]

    # -- reads ---------------------------------------------------------------------------
    def experiments_by_name(self, include_archived: bool = False) -> dict[str, dict[str, Any]]:
        q = sa.select(self.experiments)
        if not include_archived:
            q = q.where(self.experiments.c.lifecycle_stage == "active")
        with self.engine.connect() as conn:
            return {r.name: dict(r._mapping) for r in conn.execute(q)}

    def run_rows(self, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Attributes, latest metrics, params and tags of the given runs (one query per table)."""
        out: dict[str, dict[str, Any]] = {}
        if not run_ids:
            return out
        with self.engine.connect() as conn:
            for chunk in _chunks(list(run_ids), _CHUNK):
                q = sa.select(self.runs, self.experiments.c.name.label("experiment_name")).join(
                    self.experiments, self.experiments.c.experiment_id == self.runs.c.experiment_id
                ).where(self.runs.c.run_uuid.in_(chunk))
                for r in conn.execute(q):
                    out[r.run_uuid] = {**r._mapping, "metrics": {}, "params": {}, "tags": {}}
                for kind, bucket in ((ColumnKind.METRIC, "metrics"), (ColumnKind.PARAM, "params"),
                                     (ColumnKind.TAG, "tags")):
                    t = self.table(kind)
                    cols = [t.c.run_uuid, t.c.key, t.c.value]
                    if kind is ColumnKind.METRIC:
                        cols.append(t.c.is_nan)
                    for r in conn.execute(sa.select(*cols).where(t.c.run_uuid.in_(chunk))):
                        value = float("nan") if kind is ColumnKind.METRIC and r.is_nan else r.value
                        if r.run_uuid in out:
                            out[r.run_uuid][bucket][r.key] = value
        return out

    def metric_history(self, run_id: str, key: str) -> list[tuple[Any, Any, Any, Any]]:
        """(step, timestamp, value, is_nan) rows of one metric, in step order.

        Ordered by step alone so MLflow's (run_uuid, key, step) index yields the order
        (no sort of 100k rows); rows come straight off the DB-API cursor, since building
        100k SQLAlchemy rows costs more than reading them.
        """
        m = self.metrics
        q = (sa.select(m.c.step, m.c.timestamp, m.c.value, m.c.is_nan)
             .where(m.c.run_uuid == run_id, m.c.key == key)
             .order_by(m.c.step))
        with self.engine.connect() as conn:
            return conn.execute(q).cursor.fetchall()

    def metric_keys(self, run_id: str) -> list[str]:
        t = self.latest_metrics
        with self.engine.connect() as conn:
            return sorted(r[0] for r in conn.execute(sa.select(t.c.key).where(t.c.run_uuid == run_id)))

    def dispose(self) -> None:
        self.engine.dispose()


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


# -- the search contract shared by both paths ---------------------------------------------
@dataclass
class SearchRequest:
    """A search already parsed and checked; the engines only turn it into SQL."""

    experiment_ids: list[int]
    where: Callable[[Any], sa.ColumnElement]  # resolver -> condition
    order: list[OrderKey]
    lifecycle: str | None  # "active", "deleted" or None for both
    offset: int
    limit: int
    active_jobs: dict[str, JobStatus] = field(default_factory=dict)


def status_condition(statuses: set[JobStatus], status_col: sa.ColumnElement, run_id_col: sa.ColumnElement,
                     active_jobs: dict[str, JobStatus]) -> sa.ColumnElement:
    """Runs in ``statuses``: exact for jobs still active (their row knows), MLflow's status otherwise.

    MLflow only knows RUNNING while a job may be Queued, Starting or Finalizing, so for
    active jobs the jobs table decides and MLflow's status is used for everything else.
    """
    matching_jobs = [rid for rid, st in active_jobs.items() if st in statuses]
    mlflow_names = sorted(name for name in MLFLOW_RUN_STATUSES if JobStatus.from_mlflow(name) in statuses)
    parts = []
    if matching_jobs:
        parts.append(run_id_col.in_(matching_jobs))
    if mlflow_names:
        cond = status_col.in_(mlflow_names)
        if active_jobs:
            cond = sa.and_(cond, run_id_col.not_in(list(active_jobs)))
        parts.append(cond)
    return sa.or_(*parts) if parts else sa.false()


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- the generic path: SQL over MLflow's own tables --------------------------------------------
class _MlflowResolver:
    def __init__(self, t: MlflowTables, active_jobs: dict[str, JobStatus]) -> None:
        self.t = t
        self.active_jobs = active_jobs

    def column(self, column: Column) -> sa.ColumnElement:
        runs = self.t.runs
        if column.kind is ColumnKind.ATTRIBUTE:
            if column.key in TAG_BACKED_ATTRIBUTES:
                return self.column(Column(ColumnKind.TAG, TAG_BACKED_ATTRIBUTES[column.key]))
            return {
                "name": runs.c.name, "run_id": runs.c.run_uuid, "user": runs.c.user_id,
                "start_time": runs.c.start_time, "end_time": runs.c.end_time, "status": runs.c.status,
                "duration": (sa.func.coalesce(runs.c.end_time, _now_ms()) - runs.c.start_time) / 1000.0,
            }[column.key]
        t = self.t.table(column.kind)
        return (sa.select(t.c.value).where(t.c.run_uuid == runs.c.run_uuid, t.c.key == column.key)
                .correlate(runs).scalar_subquery())

    def status_in(self, statuses: set[JobStatus]) -> sa.ColumnElement:
        return status_condition(statuses, self.t.runs.c.status, self.t.runs.c.run_uuid, self.active_jobs)


class MlflowTablesSearch:
    """Search with SQLAlchemy Core over MLflow's tables; works on SQLite and PostgreSQL alike."""

    def __init__(self, tables: MlflowTables) -> None:
        self.t = tables

    def known_keys(self, experiment_ids: list[int]) -> dict[ColumnKind, set[str]]:
        out: dict[ColumnKind, set[str]] = {}
        runs = self.t.runs
        with self.t.engine.connect() as conn:
            for kind in (ColumnKind.METRIC, ColumnKind.PARAM, ColumnKind.TAG):
                t = self.t.table(kind)
                q = sa.select(t.c.key).distinct().join(runs, runs.c.run_uuid == t.c.run_uuid).where(
                    runs.c.experiment_id.in_(experiment_ids))
                out[kind] = {r[0] for r in conn.execute(q)}
        return out

    def experiment_stats(self) -> dict[int, tuple[int, int | None]]:
        runs = self.t.runs
        q = sa.select(runs.c.experiment_id, sa.func.count(),
                      sa.func.max(sa.func.coalesce(runs.c.end_time, runs.c.start_time))).where(
            runs.c.lifecycle_stage == "active").group_by(runs.c.experiment_id)
        with self.t.engine.connect() as conn:
            return {r[0]: (r[1], r[2]) for r in conn.execute(q)}

    def search(self, req: SearchRequest) -> tuple[list[str], int]:
        runs = self.t.runs
        resolver = _MlflowResolver(self.t, req.active_jobs)
        cond = sa.and_(runs.c.experiment_id.in_(req.experiment_ids), req.where(resolver))
        if req.lifecycle:
            cond = sa.and_(cond, runs.c.lifecycle_stage == req.lifecycle)
        order = _order_clauses(req.order, resolver) + [runs.c.run_uuid]
        q = sa.select(runs.c.run_uuid).where(cond).order_by(*order).limit(req.limit).offset(req.offset)
        with self.t.engine.connect() as conn:
            ids = [r[0] for r in conn.execute(q)]
            total = conn.execute(sa.select(sa.func.count()).select_from(runs).where(cond)).scalar_one()
        return ids, int(total)


def _order_clauses(order: list[OrderKey], resolver: Any) -> list[sa.ColumnElement]:
    out = []
    for key in order:
        expr = resolver.column(key.column)
        out.append(expr.desc().nulls_last() if key.descending else expr.asc().nulls_last())
    return out


# -- the SQLite index ----------------------------------------------------------------------------
_WATCHED_TABLES = ("runs", "latest_metrics", "params", "tags")
_EVENTS = ("INSERT", "UPDATE", "DELETE")
TRIGGER_NAMES = tuple(f"studio_ix_{t}_{e.lower()}" for t in _WATCHED_TABLES for e in _EVENTS)
_BASE_COLUMNS = ("id", "run_uuid", "experiment_id", "lifecycle_stage", "name", "status", "start_time",
                 "end_time", "user_id")
_INDEX_SCHEMA = """
CREATE TABLE IF NOT EXISTS ix_state(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS ix_columns(kind TEXT NOT NULL, key TEXT NOT NULL, col TEXT, PRIMARY KEY(kind, key));
CREATE TABLE IF NOT EXISTS ix_keys(experiment_id INTEGER NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
    PRIMARY KEY(experiment_id, kind, key));
CREATE TABLE IF NOT EXISTS ix_runs(id INTEGER PRIMARY KEY, run_uuid TEXT NOT NULL UNIQUE, experiment_id INTEGER,
    lifecycle_stage TEXT, name TEXT, status TEXT, start_time INTEGER, end_time INTEGER, user_id TEXT);
CREATE INDEX IF NOT EXISTS ix_runs_scope ON ix_runs(experiment_id, lifecycle_stage, start_time, end_time);
"""


def _trigger_sql(table: str, event_name: str) -> str:
    ref = "OLD" if event_name == "DELETE" else "NEW"
    return (
        f"CREATE TRIGGER IF NOT EXISTS studio_ix_{table}_{event_name.lower()} AFTER {event_name} ON {table} "
        "BEGIN "
        "UPDATE studio_change_clock SET seq = seq + 1 WHERE id = 1; "
        f"INSERT INTO studio_run_changes(run_uuid, seq) SELECT {ref}.run_uuid, seq FROM studio_change_clock "
        "WHERE id = 1 ON CONFLICT(run_uuid) DO UPDATE SET seq = excluded.seq; "
        "END"
    )


class _IndexResolver:
    """Columns of the wide table. With ``scan=True`` every column is written ``+ix_runs.col``.

    SQLite has no statistics on value spread, so left alone it happily walks a sort
    index for ``metrics.x > 0.1`` and fetches 90% of the rows at random (0.8 s). The
    unary ``+`` keeps a column out of index selection: filters then read the scope's
    rows in storage order (~50 ms at 100k), and only an unfiltered sort walks an index.
    """

    def __init__(self, columns: dict[tuple[str, str], str], active_jobs: dict[str, JobStatus], *,
                 scan: bool) -> None:
        self.columns = columns
        self.active_jobs = active_jobs
        self.scan = scan

    def _col(self, name: str, type_: Any = None) -> sa.ColumnElement:
        return sa.literal_column(f"{'+' if self.scan else ''}ix_runs.{name}", type_)

    def column(self, column: Column) -> sa.ColumnElement:
        if column.kind is ColumnKind.ATTRIBUTE:
            if column.key in TAG_BACKED_ATTRIBUTES:
                return self.column(Column(ColumnKind.TAG, TAG_BACKED_ATTRIBUTES[column.key]))
            if column.key == "duration":
                return (sa.func.coalesce(self._col("end_time", sa.BigInteger), _now_ms())
                        - self._col("start_time", sa.BigInteger)) / 1000.0
            name = {"name": "name", "run_id": "run_uuid", "user": "user_id", "start_time": "start_time",
                    "end_time": "end_time", "status": "status"}[column.key]
            return self._col(name, sa.BigInteger if name.endswith("_time") else sa.String)
        physical = self.columns.get((column.kind.value, column.key))
        if physical is None:  # no run has this key (yet): every run lacks it
            return sa.null()
        return self._col(physical, sa.Float if column.kind is ColumnKind.METRIC else sa.String)

    def status_in(self, statuses: set[JobStatus]) -> sa.ColumnElement:
        return status_condition(statuses, self._col("status", sa.String), self._col("run_uuid", sa.String),
                                self.active_jobs)


class RunIndex:
    """The wide, trigger-fed index of a SQLite tracking store (see the module docstring)."""

    def __init__(self, tracking_db: Path, index_path: Path) -> None:
        self.tracking_db = Path(tracking_db)
        self.path = Path(index_path)
        self._lock = threading.Lock()
        self._applied: int | None = None
        self._generation: str | None = None
        self._catalog: dict[tuple[str, str], str | None] = {}
        self._table: sa.TableClause | None = None
        self._sorted: set[str] = set()
        self.engine = sa.create_engine(f"sqlite:///{self.path}",
                                       connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(self.engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    # -- keeping it fresh -------------------------------------------------------------------
    @contextmanager
    def _writer(self) -> Iterator[None]:
        """One applier at a time across threads and processes (the index has one writer)."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        with self._lock, open(lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _mlflow_conn(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.tracking_db), timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _index_conn(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_INDEX_SCHEMA)
        return conn

    def _clock(self, mconn: sqlite3.Connection) -> tuple[int, str] | None:
        try:
            row = mconn.execute("SELECT seq, generation FROM studio_change_clock WHERE id = 1").fetchone()
        except sqlite3.OperationalError:
            return None
        return (int(row[0]), str(row[1])) if row else None

    def _install_triggers(self, mconn: sqlite3.Connection) -> None:
        """(Re)install the change triggers in MLflow's database under a new generation."""
        present = {r[0] for r in mconn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'studio_ix_%'")}
        if present == set(TRIGGER_NAMES) and self._clock(mconn) is not None:
            return
        mconn.execute("BEGIN IMMEDIATE")
        try:
            for name in present:
                mconn.execute(f'DROP TRIGGER IF EXISTS "{name}"')
            mconn.execute("CREATE TABLE IF NOT EXISTS studio_change_clock("
                          "id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, generation TEXT NOT NULL)")
            mconn.execute("CREATE TABLE IF NOT EXISTS studio_run_changes("
                          "run_uuid TEXT PRIMARY KEY, seq INTEGER NOT NULL)")
            mconn.execute("CREATE INDEX IF NOT EXISTS studio_run_changes_seq ON studio_run_changes(seq)")
            generation = secrets.token_hex(8)
            mconn.execute("INSERT INTO studio_change_clock(id, seq, generation) VALUES (1, 0, ?) "
                          "ON CONFLICT(id) DO UPDATE SET generation = excluded.generation", (generation,))
            for table in _WATCHED_TABLES:
                for ev in _EVENTS:
                    mconn.execute(_trigger_sql(table, ev))
            mconn.execute("COMMIT")
        except BaseException:
            mconn.execute("ROLLBACK")
            raise

    def refresh(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Apply MLflow's changes since the last refresh; return how many runs changed.

        Cheap when nothing changed (one indexed read). The first call on a store, or after
        the triggers were lost, rebuilds the whole index (``progress(done, total)`` reports).
        """
        mconn = self._mlflow_conn()
        try:
            clock = self._clock(mconn)
            if (clock is not None and self._applied is not None and clock[1] == self._generation
                    and clock[0] == self._applied and self._triggers_present(mconn) and self.path.exists()):
                return 0
            if not self.path.exists():  # deleted under us: forget what this process knew of it
                self.engine.dispose()
                self._applied = self._generation = self._table = None
                self._catalog, self._sorted = {}, set()
            with self._writer():
                self._install_triggers(mconn)
                iconn = self._index_conn()
                try:
                    return self._apply(mconn, iconn, progress)
                finally:
                    iconn.close()
        except sqlite3.OperationalError as exc:
            raise BackendUnavailable(
                f"The run index could not read MLflow's store {self.tracking_db}: {exc}. "
                "Check the file exists and is not locked by a crashed process; the index itself "
                f"({self.path}) can be deleted safely and is rebuilt."
            ) from exc
        finally:
            mconn.close()

    def pending(self) -> int:
        """How many runs the next refresh must (re)index: all of them when it has to rebuild."""
        mconn = self._mlflow_conn()
        try:
            clock = self._clock(mconn)
            if not self.path.exists() or clock is None or not self._triggers_present(mconn):
                return int(mconn.execute("SELECT count(*) FROM runs").fetchone()[0])
            iconn = sqlite3.connect(str(self.path), timeout=30)
            try:
                state = dict(iconn.execute("SELECT key, value FROM ix_state").fetchall())
            except sqlite3.OperationalError:
                state = {}
            finally:
                iconn.close()
            if state.get("generation") != clock[1]:
                return int(mconn.execute("SELECT count(*) FROM runs").fetchone()[0])
            applied = int(state.get("applied_seq", "0"))
            return int(mconn.execute("SELECT count(*) FROM studio_run_changes WHERE seq > ?",
                                     (applied,)).fetchone()[0])
        finally:
            mconn.close()

    def _triggers_present(self, mconn: sqlite3.Connection) -> bool:
        n = mconn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'studio_ix_%'"
                          ).fetchone()[0]
        return n == len(TRIGGER_NAMES)

    def _state(self, iconn: sqlite3.Connection) -> dict[str, str]:
        return dict(iconn.execute("SELECT key, value FROM ix_state").fetchall())

    def _apply(self, mconn: sqlite3.Connection, iconn: sqlite3.Connection,
               progress: Callable[[int, int], None] | None) -> int:
        state = self._state(iconn)
        mconn.execute("BEGIN")  # one snapshot of MLflow's store for everything read below
        try:
            seq, generation = self._clock(mconn) or (0, "")
            rebuild = state.get("generation") != generation
            applied = 0 if rebuild else int(state.get("applied_seq", "0"))
            if not rebuild and applied == seq:
                self._remember(iconn, seq, generation)
                return 0
            if rebuild:
                changed = None
                total = mconn.execute("SELECT count(*) FROM runs").fetchone()[0]
            else:
                changed = [r[0] for r in mconn.execute(
                    "SELECT run_uuid FROM studio_run_changes WHERE seq > ?", (applied,))]
                total = len(changed)
            iconn.execute("BEGIN IMMEDIATE")
            try:
                if rebuild:
                    log.info("building the run index %s (%d runs)", self.path, total)
                    iconn.execute("DROP TABLE IF EXISTS ix_runs")
                    iconn.execute("DELETE FROM ix_columns")
                    iconn.execute("DELETE FROM ix_keys")
                    iconn.execute("DELETE FROM ix_state")
                    for statement in _INDEX_SCHEMA.split(";"):
                        if statement.strip():
                            iconn.execute(statement)
                self._write_runs(mconn, iconn, changed, total, progress)
                iconn.execute("INSERT OR REPLACE INTO ix_state(key, value) VALUES ('applied_seq', ?)", (str(seq),))
                iconn.execute("INSERT OR REPLACE INTO ix_state(key, value) VALUES ('generation', ?)", (generation,))
                iconn.execute("COMMIT")
            except BaseException:
                iconn.execute("ROLLBACK")
                self._catalog = {}
                self._table = None
                raise
        finally:
            mconn.execute("COMMIT")
        self._remember(iconn, seq, generation)
        return total

    def _remember(self, iconn: sqlite3.Connection, seq: int, generation: str) -> None:
        self._applied, self._generation = seq, generation
        self._load_catalog(iconn)

    def _load_catalog(self, iconn: sqlite3.Connection) -> None:
        catalog = {(k, key): col for k, key, col in iconn.execute("SELECT kind, key, col FROM ix_columns")}
        if catalog != self._catalog or self._table is None:
            self._catalog = catalog
            self._sorted = {r[0][len("ix_sort_"):] for r in iconn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_sort_%'")}
            types = {ColumnKind.METRIC.value: sa.Float}
            self._table = sa.table(
                "ix_runs",
                *(sa.column(c) for c in _BASE_COLUMNS),
                *(sa.column(col, types.get(kind, sa.String)()) for (kind, _), col in catalog.items() if col),
            )

    def _batches(self, mconn: sqlite3.Connection, changed: list[str] | None
                 ) -> Iterator[tuple[list[tuple], Iterable[tuple[str, str, str, Any]]]]:
        """Yield (run rows, (run_uuid, kind, key, value) rows) from one MLflow snapshot.

        A run id whose row is gone (garbage-collected in MLflow) comes back with
        ``None`` attributes, so it leaves the index too.
        """
        run_cols = "run_uuid, experiment_id, lifecycle_stage, name, status, start_time, end_time, user_id"
        if changed is None or len(changed) > _FULL_SCAN_ABOVE:
            # Reading whole tables in storage order beats a lookup per run.
            wanted = None if changed is None else set(changed)
            runs = [r for r in mconn.execute(f"SELECT {run_cols} FROM runs") if wanted is None or r[0] in wanted]
            if wanted is not None:
                found = {r[0] for r in runs}
                runs += [(rid, *[None] * 7) for rid in changed if rid not in found]

            def every_value() -> Iterator[tuple[str, str, str, Any]]:
                for kind, table in _KIND_TABLE.items():
                    for rid, key, value in mconn.execute(f"SELECT run_uuid, key, value FROM {table}"):
                        if wanted is None or rid in wanted:
                            yield rid, kind.value, key, value

            yield runs, every_value()
            return
        for chunk in _chunks(changed, _CHUNK):
            marks = ",".join("?" * len(chunk))
            runs = mconn.execute(f"SELECT {run_cols} FROM runs WHERE run_uuid IN ({marks})", chunk).fetchall()
            found = {r[0] for r in runs}
            runs += [(rid, *[None] * 7) for rid in chunk if rid not in found]
            rows = [(rid, kind.value, key, value)
                    for kind, table in _KIND_TABLE.items()
                    for rid, key, value in mconn.execute(
                        f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({marks})", chunk)]
            yield runs, rows

    def _write_runs(self, mconn: sqlite3.Connection, iconn: sqlite3.Connection, changed: list[str] | None,
                    total: int, progress: Callable[[int, int], None] | None) -> None:
        catalog: dict[tuple[str, str], str | None] = {
            (k, key): col for k, key, col in iconn.execute("SELECT kind, key, col FROM ix_columns")}
        n_cols = sum(1 for c in catalog.values() if c)
        done = 0
        new_metric_cols: list[str] = []
        for runs, values in self._batches(mconn, changed):
            live = {r[0]: r for r in runs if r[1] is not None}
            extra: dict[str, dict[str, Any]] = {rid: {} for rid in live}
            keys_seen: set[tuple[int, str, str]] = set()
            for rid, kind, key, value in values:
                if rid not in extra:
                    continue
                if (kind, key) not in catalog:
                    # A new key becomes a new column (cheap in SQLite: no table rewrite).
                    col = None
                    if n_cols < MAX_INDEXED_COLUMNS:
                        n_cols += 1
                        col = f"c{n_cols}"
                        affinity = "REAL" if kind == ColumnKind.METRIC.value else "TEXT"
                        iconn.execute(f"ALTER TABLE ix_runs ADD COLUMN {col} {affinity}")
                    iconn.execute("INSERT INTO ix_columns(kind, key, col) VALUES (?, ?, ?)", (kind, key, col))
                    catalog[(kind, key)] = col
                    if col and kind == ColumnKind.METRIC.value:
                        new_metric_cols.append(col)
                keys_seen.add((live[rid][1], kind, key))
                col = catalog[(kind, key)]
                if col:
                    extra[rid][col] = value
            cols = [c for c in catalog.values() if c]
            names = [*_BASE_COLUMNS[1:], *cols]
            rows = [(*live[rid], *(extra[rid].get(c) for c in cols)) for rid in live]
            ids = [r[0] for r in runs]
            if changed is not None:
                for chunk in _chunks(ids, _CHUNK):
                    iconn.execute(f"DELETE FROM ix_runs WHERE run_uuid IN ({','.join('?' * len(chunk))})", chunk)
            insert = f"INSERT INTO ix_runs({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
            for chunk in _chunks(rows, 10_000):  # in slices, so a rebuild can report progress
                iconn.executemany(insert, chunk)
                done += len(chunk)
                if progress is not None:
                    progress(min(done, total), total)
            if keys_seen:
                iconn.executemany("INSERT OR IGNORE INTO ix_keys(experiment_id, kind, key) VALUES (?, ?, ?)",
                                  sorted(keys_seen))
            done += len(runs) - len(rows)  # runs that left the index
            if progress is not None:
                progress(min(done, total), total)
        for col in new_metric_cols:  # after the rows: one sorted build beats row-by-row upkeep
            self._create_sort_index(iconn, col)

    @staticmethod
    def _create_sort_index(iconn: sqlite3.Connection, col: str) -> bool:
        existing = iconn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                 "AND name LIKE 'ix_sort_%'").fetchone()[0]
        if existing >= MAX_SORT_INDEXES:
            return False
        iconn.execute(f"CREATE INDEX IF NOT EXISTS ix_sort_{col} ON ix_runs(experiment_id, lifecycle_stage, {col})")
        return True

    def prepare_sort(self, order: Sequence[OrderKey]) -> None:
        """Give each sorted param or tag column an index on its first sort (metrics have one)."""
        wanted = []
        for key in order:
            col = key.column
            if col.kind is ColumnKind.ATTRIBUTE:
                if col.key not in TAG_BACKED_ATTRIBUTES:
                    continue
                col = Column(ColumnKind.TAG, TAG_BACKED_ATTRIBUTES[col.key])
            physical = self._catalog.get((col.kind.value, col.key))
            if physical and physical not in self._sorted:
                wanted.append(physical)
        if not wanted:
            return
        with self._writer():
            iconn = self._index_conn()
            try:
                self._sorted |= {r[0][len("ix_sort_"):] for r in iconn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_sort_%'")}
                for physical in wanted:
                    if physical not in self._sorted and self._create_sort_index(iconn, physical):
                        self._sorted.add(physical)
            finally:
                iconn.close()

    # -- reading ------------------------------------------------------------------------------
    def known_keys(self, experiment_ids: list[int]) -> dict[ColumnKind, set[str]]:
        out: dict[ColumnKind, set[str]] = {ColumnKind.METRIC: set(), ColumnKind.PARAM: set(), ColumnKind.TAG: set()}
        ix_keys = sa.table("ix_keys", sa.column("experiment_id"), sa.column("kind"), sa.column("key"))
        q = sa.select(ix_keys.c.kind, ix_keys.c.key).distinct().where(ix_keys.c.experiment_id.in_(experiment_ids))
        with self.engine.connect() as conn:
            for kind, key in conn.execute(q):
                out[ColumnKind(kind)].add(key)
        return out

    def experiment_stats(self) -> dict[int, tuple[int, int | None]]:
        # The scope index covers these columns; naming it keeps the planner off the sort indexes.
        q = sa.text("SELECT experiment_id, count(*), max(coalesce(end_time, start_time)) "
                    "FROM ix_runs INDEXED BY ix_runs_scope WHERE lifecycle_stage = 'active' GROUP BY experiment_id")
        with self.engine.connect() as conn:
            return {r[0]: (r[1], r[2]) for r in conn.execute(q)}

    def covers(self, columns: Iterable[Column]) -> bool:
        """False when a column's key exceeded the index's column limit (search generically)."""
        for col in columns:
            if col.kind is ColumnKind.ATTRIBUTE:
                if col.key not in TAG_BACKED_ATTRIBUTES:
                    continue
                col = Column(ColumnKind.TAG, TAG_BACKED_ATTRIBUTES[col.key])
            key = (col.kind.value, col.key)
            if key in self._catalog and self._catalog[key] is None:
                return False
        return True

    def search(self, req: SearchRequest, *, filtered: bool) -> tuple[list[str], int]:
        """Run ids of one page in order, and how many runs match in all.

        ``filtered`` says the condition narrows the scope (filter, text or status): the
        rows are then scanned and sorted; without it a sort walks the column's index.
        """
        if self._table is None:
            raise RuntimeError("RunIndex.search before refresh()")  # a bug in the caller, not user input
        columns = {k: v for k, v in self._catalog.items() if v}
        where_resolver = _IndexResolver(columns, req.active_jobs, scan=True)
        order_resolver = _IndexResolver(columns, req.active_jobs, scan=False)
        # Name the index: the planner cannot tell a selective filter from a broad one, and
        # picking a sort index for the scope turns a scan into 100k random reads.
        chosen = "ix_runs_scope"
        if not filtered and req.order:
            first = req.order[0].column
            if first.kind is not ColumnKind.ATTRIBUTE:
                physical = columns.get((first.kind.value, first.key))
                if physical in self._sorted:
                    chosen = f"ix_sort_{physical}"
        source = sa.text(f"ix_runs INDEXED BY {chosen}")
        scope = _IndexResolver(columns, req.active_jobs, scan=False)._col
        cond = sa.and_(scope("experiment_id", sa.Integer).in_(req.experiment_ids), req.where(where_resolver))
        if req.lifecycle:
            cond = sa.and_(cond, scope("lifecycle_stage", sa.String) == req.lifecycle)
        order = _order_clauses(req.order, order_resolver) + [scope("run_uuid", sa.String)]
        # Only the run id goes through the sorter, so deep pages stay cheap. (A window
        # count in the same query would materialize every row first: slower.)
        base = sa.select(scope("run_uuid", sa.String)).select_from(source).where(cond).order_by(*order)
        count = sa.select(sa.func.count()).select_from(sa.text("ix_runs INDEXED BY ix_runs_scope")).where(cond)
        with self.engine.connect() as conn:
            # Two statements on purpose: in the scope index's start-time order the page
            # stops after its first matches, so it is cheap; only the count reads everything.
            ids = [r[0] for r in conn.execute(base.limit(req.limit).offset(req.offset))]
            total = conn.execute(count).scalar_one()
        return ids, int(total)

    def dispose(self) -> None:
        self.engine.dispose()
