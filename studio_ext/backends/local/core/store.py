"""The workspace's metadata store: SQLAlchemy Core tables on SQLite (WAL) or any URL.

Every service keeps its state here, never only in a process's memory, so a
kernel, the CLI and the supervisor all see the same workspace. Services that
need their own tables define them on :data:`metadata` in their module and the
store creates them (idempotently) when the workspace opens.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from studio_ext.errors import BackendUnavailable

metadata = sa.MetaData()

# Versioned assets of every kind (environments, computes, datastores, datasets,
# endpoints ...): one row per (kind, name, version), the entity as JSON.
assets = sa.Table(
    "assets",
    metadata,
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("archived", sa.Boolean, nullable=False, default=False),
    sa.Column("payload", sa.Text, nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False, unique=True),
    sa.Column("experiment_name", sa.String(255), nullable=False, index=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("compute", sa.String(255), nullable=False, index=True),
    sa.Column("parent_job_name", sa.String(255), index=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("start_time", sa.Float),
    sa.Column("end_time", sa.Float),
    sa.Column("pid", sa.Integer),
    sa.Column("pid_start", sa.Float),
    sa.Column("exit_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("finalized_at", sa.Float),
    sa.Column("spec", sa.Text, nullable=False),
)

# Small shared facts: the supervisor's pid and port, settings that panels persist.
settings = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


def now() -> float:
    return time.time()


def to_datetime(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc)


class MetadataStore:
    """One engine per workspace per process; thread-safe through SQLAlchemy's pool."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        try:
            self.engine = _create_engine(url)
            with self.engine.begin() as conn:
                metadata.create_all(conn, checkfirst=True)
        except OperationalError as exc:
            raise BackendUnavailable(
                f"Cannot open the metadata store at {_redact(url)}: {exc.orig}. "
                "Check that the database server is running and the URL is right."
            ) from exc

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

    def list_assets(self, kind: str, name: str | None = None, include_archived: bool = False) -> Iterator[tuple[str, int, dict[str, Any], bool]]:
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
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001 - DB-API objects
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _redact(url: str) -> str:
    """Hide a password in a database URL before it reaches a message or a log."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL has nothing we can safely show
        return "<database url>"


# Services with their own tables register them on `metadata` here, before any store opens.
from studio_ext.backends.local.endpoints import tables as endpoint_tables  # noqa: E402,F401
