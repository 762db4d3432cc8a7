"""The metadata store's schema versions: Alembic migrations, applied when a store opens.

:func:`upgrade` brings a database to :data:`HEAD`:

* a new database runs every revision from the baseline (``0001``), which creates
  the tables as the first versioned release had them;
* a workspace made before migrations existed (its tables, no version table) runs
  the same chain: the baseline creates only the tables it lacks and later revisions
  change what is there, so nothing is recreated and no row is lost;
* a database already at :data:`HEAD` costs one read (Alembic is not imported);
* a database at a revision this code does not know was upgraded by a newer
  studio-ext: opening it raises :class:`~studio_ext.errors.WorkspaceError` saying
  to upgrade studio-ext, and nothing is written.

The revision reached is recorded in Alembic's version table, named
:data:`VERSION_TABLE` so that it never meets MLflow's own ``alembic_version``.

Several processes may open an old workspace at once; exactly one migrates while
the others wait, then find the database at :data:`HEAD`:

* SQLite: an exclusive ``flock`` on ``<database file>.lock`` beside the file, and
  the whole chain runs in one ``BEGIN IMMEDIATE`` transaction (SQLite's DDL is
  transactional), so a migration killed half-way leaves the old schema whole;
* PostgreSQL: ``pg_advisory_xact_lock`` taken in the migration's transaction;
* other databases: the migration's transaction only.

Adding a revision: see docs/architecture.md, "Schema and migrations", and
``python -m studio_ext.backends.local.core.migrations --help``.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import NullPool

from studio_ext.errors import WorkspaceError

if TYPE_CHECKING:  # pragma: no cover
    from alembic.config import Config

__all__ = ["HEAD", "VERSION_TABLE", "SchemaChange", "alembic_config", "current_revision", "upgrade"]

#: The newest revision in ``versions/`` (a test checks it against Alembic's own view).
HEAD = "0007"
VERSION_TABLE = "studio_schema_version"
FOLDER = Path(__file__).resolve().parent
_PG_LOCK_KEY = 0x53_54_55_44_49_4F  # "STUDIO": the advisory lock of schema changes
MSG_TOO_NEW = (
    "The metadata store {where} is at schema revision {revision!r}, which this studio-ext does not "
    "know (it knows up to {head!r}): a newer studio-ext has upgraded it. Upgrade studio-ext "
    "(pip install -U studio-ext) to open this workspace."
)


@dataclass(frozen=True)
class SchemaChange:
    """What :func:`upgrade` did: the revision found (None: none recorded) and the one reached."""

    before: str | None
    after: str
    #: The tables were there without a version table: a workspace made before migrations.
    unversioned: bool


def alembic_config() -> Config:
    """Alembic's configuration for these migrations (no ini file needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(FOLDER))
    cfg.set_main_option("path_separator", "os")
    return cfg


def current_revision(conn: sa.Connection) -> str | None:
    """The revision recorded in the database, or None if it has no version table."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def upgrade(engine: sa.Engine) -> SchemaChange | None:
    """Bring the database behind ``engine`` to :data:`HEAD`; None if it was there already."""
    with engine.connect() as conn:
        if current_revision(conn) == HEAD:
            return None
    if engine.dialect.name == "sqlite":
        return _upgrade_sqlite(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        return _migrate(conn)


def _migrate(conn: sa.Connection) -> SchemaChange | None:
    """Run the chain on ``conn`` (in a transaction, under the lock)."""
    before = current_revision(conn)  # again: another process may have migrated while we waited
    if before == HEAD:
        return None
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = alembic_config()
    known = {script.revision for script in ScriptDirectory.from_config(cfg).walk_revisions()}
    if before is not None and before not in known:
        where = conn.engine.url.render_as_string(hide_password=True)
        raise WorkspaceError(MSG_TOO_NEW.format(where=where, revision=before, head=HEAD))
    unversioned = before is None and sa.inspect(conn).has_table("assets")
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")
    return SchemaChange(before=before, after=current_revision(conn) or HEAD, unversioned=unversioned)


def _upgrade_sqlite(engine: sa.Engine) -> SchemaChange | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        with engine.begin() as conn:  # a private database: no one to race with
            return _migrate(conn)
    with _file_lock(Path(database).with_name(Path(database).name + ".lock")):
        migrator = _transactional_sqlite_engine(engine.url)
        try:
            with migrator.begin() as conn:
                return _migrate(conn)
        finally:
            migrator.dispose()


def _transactional_sqlite_engine(url: sa.URL) -> sa.Engine:
    """An engine whose transactions are real SQLite transactions, DDL included.

    Python's sqlite3 module opens transactions only before DML; SQLAlchemy's recipe
    (driver autocommit, then our own BEGIN) makes CREATE/ALTER part of the transaction.
    """
    migrator = sa.create_engine(url, poolclass=NullPool, connect_args={"timeout": 60})

    @event.listens_for(migrator, "connect")
    def _autocommit_driver(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(migrator, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return migrator


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
