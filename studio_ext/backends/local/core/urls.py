"""Database URLs of a workspace's stores: the file behind a SQLite URL, the driver, redaction."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import overload

import sqlalchemy as sa

__all__ = ["redact", "sqlite_file", "sqlite_url", "with_installed_driver"]

_SQLITE_PREFIXES = ("sqlite:///", "sqlite+pysqlite:///")


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (relative if the URL is), or None (in memory, not SQLite)."""
    for prefix in _SQLITE_PREFIXES:
        if url.startswith(prefix):
            path = url[len(prefix):].split("?", 1)[0]
            return Path(path) if path and path != ":memory:" else None
    return None


def sqlite_url(url: str, path: Path) -> str:
    """``url`` with its file replaced by ``path`` (driver and query string kept)."""
    for prefix in _SQLITE_PREFIXES:
        if url.startswith(prefix):
            _, sep, query = url[len(prefix):].partition("?")
            return f"{prefix}{path}{sep}{query}"
    raise ValueError(f"not a SQLite file URL: {url!r}")


@overload
def with_installed_driver(url: str) -> str: ...
@overload
def with_installed_driver(url: sa.URL) -> sa.URL: ...
def with_installed_driver(url: str | sa.URL) -> str | sa.URL:
    """A plain ``postgresql://`` URL with the PostgreSQL driver that is installed.

    SQLAlchemy 2.1 reads ``postgresql://`` as psycopg 3, while the ``postgres``
    extra installs psycopg2: use psycopg2 when only it is there. A URL that names
    its driver (``postgresql+psycopg2://``) is kept as it is; ``postgres://`` (the
    form many hosting services print) means ``postgresql://``. Takes and returns a
    string or a SQLAlchemy ``URL``.
    """
    if isinstance(url, sa.URL):
        return url.set(drivername=_installed_driver(url.drivername))
    scheme, sep, rest = url.partition("://")
    return f"{_installed_driver(scheme)}://{rest}" if sep else url


def _installed_driver(drivername: str) -> str:
    if drivername not in ("postgresql", "postgres"):
        return drivername
    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2"
    return "postgresql"


def redact(url: str) -> str:
    """Hide a password in a database URL before it reaches a message or a log."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):  # an unparsable URL has nothing we can safely show
        return "<database url>"
