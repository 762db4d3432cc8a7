"""The workspace's metadata store: SQLAlchemy Core tables on SQLite (WAL) or any URL.

Every service keeps its state here, never only in a process's memory, so a
kernel, the CLI and the supervisor all see the same workspace. The tables are
defined in :mod:`.schema`; opening a store brings its database to that schema
with the migrations in :mod:`.migrations` (see there for old workspaces and
for several processes opening one at once).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from studio_ext.backends.local.core import migrations
from studio_ext.backends.local.core.schema import assets, settings
from studio_ext.backends.local.core.urls import redact, sqlite_file, with_installed_driver
from studio_ext.errors import BackendUnavailable


def now() -> float:
    return time.time()


def to_datetime(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


class MetadataStore:
    """One engine per workspace per process; thread-safe through SQLAlchemy's pool.

    Opening it migrates the database to the code's schema (:mod:`.migrations`);
    :attr:`schema_change` says what that did, :attr:`schema_version` reads the
    revision the database is at.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        try:
            self.engine = _create_engine(url)
            self.schema_change: migrations.SchemaChange | None = migrations.upgrade(self.engine)
        except OperationalError as exc:
            raise BackendUnavailable(_unreachable(url, exc)) from exc

    @property
    def schema_version(self) -> str | None:
        """The schema revision recorded in the database (Alembic's version table)."""
        with self.engine.connect() as conn:
            return migrations.current_revision(conn)

    # -- generic versioned assets --------------------------------------------
    def put_asset(self, kind: str, name: str, payload: dict[str, Any], version: int | None = None) -> int:
        """Insert a new version (next free number unless given) atomically; return it."""
        with self.engine.begin() as conn:
            if version is None:
                current = conn.execute(
                    sa.select(sa.func.max(assets.c.version)).where(
                        assets.c.kind == kind, assets.c.name == name
                    )
                ).scalar()
                version = (current or 0) + 1
            conn.execute(
                assets.insert().values(
                    kind=kind,
                    name=name,
                    version=version,
                    created_at=now(),
                    archived=False,
                    payload=json.dumps(payload, default=str),
                )
            )
        return version

    def replace_asset(self, kind: str, name: str, version: int, payload: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                assets.update()
                .where(assets.c.kind == kind, assets.c.name == name, assets.c.version == version)
                .values(payload=json.dumps(payload, default=str))
            )

    def get_asset(self, kind: str, name: str, version: int | None = None) -> tuple[int, dict[str, Any], bool] | None:
        """Return (version, payload, archived) of a version, or of the latest one."""
        q = sa.select(assets.c.version, assets.c.payload, assets.c.archived).where(
            assets.c.kind == kind, assets.c.name == name
        )
        if version is None:
            q = q.order_by(assets.c.version.desc()).limit(1)
        else:
            q = q.where(assets.c.version == version)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        return row.version, json.loads(row.payload), bool(row.archived)

    def list_assets(
        self, kind: str, name: str | None = None, include_archived: bool = False
    ) -> Iterator[tuple[str, int, dict[str, Any], bool]]:
        q = sa.select(assets.c.name, assets.c.version, assets.c.payload, assets.c.archived).where(
            assets.c.kind == kind
        )
        if name is not None:
            q = q.where(assets.c.name == name)
        if not include_archived:
            q = q.where(assets.c.archived == sa.false())
        q = q.order_by(assets.c.name, assets.c.version)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        for row in rows:
            yield row.name, row.version, json.loads(row.payload), bool(row.archived)

    def set_archived(self, kind: str, name: str, version: int | None, archived: bool = True) -> int:
        q = assets.update().where(assets.c.kind == kind, assets.c.name == name)
        if version is not None:
            q = q.where(assets.c.version == version)
        with self.engine.begin() as conn:
            return conn.execute(q.values(archived=archived)).rowcount

    def delete_asset(self, kind: str, name: str) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                assets.delete().where(assets.c.kind == kind, assets.c.name == name)
            ).rowcount

    # -- settings -------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(settings.c.value).where(settings.c.key == key)).scalar()
        return default if value is None else json.loads(value)

    def set_setting(self, key: str, value: Any) -> None:
        encoded = json.dumps(value, default=str)
        with self.engine.begin() as conn:
            updated = conn.execute(
                settings.update().where(settings.c.key == key).values(value=encoded)
            ).rowcount
            if not updated:
                conn.execute(settings.insert().values(key=key, value=encoded))

    def delete_setting(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(settings.delete().where(settings.c.key == key))

    def dispose(self) -> None:
        self.engine.dispose()


def _create_engine(url: str) -> sa.Engine:
    url = with_installed_driver(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:  # DB-API objects
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _unreachable(url: str, exc: OperationalError) -> str:
    """Why a store did not open, blaming a file for SQLite and a server otherwise."""
    path = sqlite_file(url)
    if path is not None:
        return (
            f"Cannot open the metadata database file {path}: {exc.orig}. Check that the file "
            "exists (with the folder it is in) and that you may read and write both."
        )
    return (
        f"Cannot open the metadata store at {redact(url)}: {exc.orig}. "
        "Check that the database server is running and the URL is right."
    )
