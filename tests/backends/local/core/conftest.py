"""Fixtures of the core tests: fresh PostgreSQL databases on the session's server."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa


@pytest.fixture
def new_pg_database(postgres_url: str) -> Callable[[], str]:
    """Make an empty database on the test server; returns its URL (psycopg2 driver)."""

    def make() -> str:
        name = "core_" + uuid.uuid4().hex[:10]
        engine = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
        finally:
            engine.dispose()
        return postgres_url.rsplit("/", 1)[0] + "/" + name

    return make
