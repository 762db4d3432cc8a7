"""The metadata schema: one module of tables, Alembic migrations that build exactly it, applied on open."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from studio_ext.backends.local.core import migrations
from studio_ext.backends.local.core.schema import metadata
from studio_ext.backends.local.core.store import MetadataStore
from studio_ext.errors import WorkspaceError

PACKAGE = Path(__file__).resolve().parents[4] / "studio_ext"
FIXTURE_DB = Path(__file__).resolve().parents[3] / "fixtures" / "workspace-0.1.0" / "studio.db"


def differences(engine: sa.Engine) -> list[object]:
    """What Alembic's autogenerate would change to make the database match core/schema.py."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": migrations.VERSION_TABLE, "compare_type": True})
        return compare_metadata(context, metadata)


def test_head_is_the_newest_revision_in_versions() -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config())
    assert script.get_heads() == [migrations.HEAD]


def test_every_table_of_the_metadata_store_is_defined_in_core_schema() -> None:
    """Tables are declared in one module; the run explorer's views of MLflow's tables are not ours."""
    allowed = {PACKAGE / "backends/local/core/schema.py", PACKAGE / "backends/local/runs/index.py"}
    offenders = [
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
        if path not in allowed and "migrations" not in path.parts
        and re.search(r"\bsa\.Table\(|\bmetadata\.create_all\(|\bensure_tables\(", path.read_text())
    ]
    assert offenders == []


def test_a_new_store_is_built_by_the_migrations_and_matches_the_schema(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'studio.db'}")
    try:
        assert store.schema_change is not None and store.schema_change.before is None
        assert not store.schema_change.unversioned
        assert store.schema_version == migrations.HEAD
        assert differences(store.engine) == []
    finally:
        store.dispose()
    again = MetadataStore(f"sqlite:///{tmp_path / 'studio.db'}")
    try:
        assert again.schema_change is None  # at HEAD: nothing to do
    finally:
        again.dispose()


def test_a_0_1_0_store_is_brought_under_versioning_in_place(tmp_path: Path) -> None:
    db = tmp_path / "studio.db"
    shutil.copy(FIXTURE_DB, db)
    before = _rows(db)
    store = MetadataStore(f"sqlite:///{db}")
    try:
        assert store.schema_change is not None and store.schema_change.unversioned
        assert store.schema_version == migrations.HEAD
        assert differences(store.engine) == []
    finally:
        store.dispose()
    assert _rows(db) == before  # nothing recreated, no row lost


def test_queued_jobs_of_0_1_0_get_the_moved_job_modules_and_finished_ones_keep_theirs(tmp_path: Path) -> None:
    db = tmp_path / "studio.db"
    shutil.copy(FIXTURE_DB, db)
    old_automl = "python -m studio_ext.backends.local.automl_run --workspace /w --job j1"
    old_insight = "python -m studio_ext.backends.local.insight_job insight_spec.json"
    conn = sqlite3.connect(db)
    with conn:
        for name, status, command in (("queued_automl", "Queued", old_automl), ("running_insight", "Running", old_insight),
                                      ("done_automl", "Completed", old_automl),
                                      ("lookalike", "Queued", "python -m studio_ext.backends.local.automl_runner x")):
            spec = {"command": command, "argv": command.split()}
            conn.execute("INSERT INTO jobs (name, run_id, experiment_name, type, status, compute, created_at, spec) "
                         "VALUES (?, ?, 'e', 'command', ?, 'local', 0, ?)", (name, name + "-run", status, json.dumps(spec)))
    conn.close()
    MetadataStore(f"sqlite:///{db}").dispose()
    specs = {name: json.loads(spec) for name, spec in _query(db, "SELECT name, spec FROM jobs")}
    assert specs["queued_automl"]["command"] == "python -m studio_ext.backends.local.automl.run --workspace /w --job j1"
    assert specs["queued_automl"]["argv"][2] == "studio_ext.backends.local.automl.run"
    assert specs["running_insight"]["argv"][2] == "studio_ext.backends.local.insights.job"
    assert specs["done_automl"]["command"] == old_automl  # the record of what ran
    assert specs["lookalike"]["argv"][2] == "studio_ext.backends.local.automl_runner"


def test_a_store_upgraded_by_a_newer_studio_ext_is_refused_with_advice(tmp_path: Path) -> None:
    db = tmp_path / "studio.db"
    MetadataStore(f"sqlite:///{db}").dispose()
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(f"UPDATE {migrations.VERSION_TABLE} SET version_num = '0099'")
    conn.close()
    with pytest.raises(WorkspaceError, match=r"schema revision '0099', which this studio-ext does not know .*"
                                             r"Upgrade studio-ext \(pip install -U studio-ext\)"):
        MetadataStore(f"sqlite:///{db}")
    assert _query(db, f"SELECT version_num FROM {migrations.VERSION_TABLE}") == [("0099",)]


def test_a_missing_database_folder_blames_the_file_not_a_server(tmp_path: Path) -> None:
    from studio_ext.errors import BackendUnavailable

    with pytest.raises(BackendUnavailable) as info:
        MetadataStore(f"sqlite:///{tmp_path / 'gone' / 'studio.db'}")
    assert "database file" in str(info.value) and str(tmp_path / "gone" / "studio.db") in str(info.value)
    assert "server" not in str(info.value)


@pytest.mark.postgres
def test_a_postgresql_store_is_migrated_once_by_concurrent_openers(new_pg_database: Callable[[], str]) -> None:
    url = new_pg_database()
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: MetadataStore(url), range(4)))
    try:
        assert [s.schema_change is not None for s in stores].count(True) == 1
        assert {s.schema_version for s in stores} == {migrations.HEAD}
        assert differences(stores[0].engine) == []
    finally:
        for store in stores:
            store.dispose()


def _query(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _rows(db: Path) -> dict[str, list[tuple]]:
    tables = ("assets", "jobs", "settings", "online_endpoints", "online_deployments", "online_instances", "computes")
    return {t: sorted(_query(db, f"SELECT * FROM {t}")) for t in tables}
