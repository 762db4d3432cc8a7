"""A workspace made by studio-ext 0.1.0 (tests/fixtures/workspace-0.1.0) opens with nothing lost.

The fixture was made by the previous release in /tmp/work/fixture/ws: its
workspace.toml and its stores name absolute paths there, whether or not that folder
exists where the tests run. Every test works on a copy; the fixture's files are
never changed.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from studio_ext import Workspace
from studio_ext.backends.local import LocalBackend
from studio_ext.backends.local.core import migrations
from studio_ext.entities import JobStatus

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "workspace-0.1.0"
JOB = "calm_delta_8dafce72"


def copy_fixture(dest: Path) -> Path:
    shutil.copytree(FIXTURE, dest)
    return dest


def test_the_fixture_is_an_unversioned_0_1_0_workspace() -> None:
    """What the upgrade starts from: tables, no version table, paths of another folder."""
    conn = sqlite3.connect(f"file:{FIXTURE / 'studio.db'}?immutable=1", uri=True)  # no -wal/-shm beside it
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    assert {"assets", "jobs", "settings", "online_endpoints", "computes"} <= tables
    assert migrations.VERSION_TABLE not in tables
    assert "/tmp/work/fixture/ws/studio.db" in (FIXTURE / "workspace.toml").read_text()


@pytest.mark.slow
def test_a_0_1_0_workspace_opens_with_its_jobs_datasets_environments_models_and_endpoints(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path / "old-ws")
    ws = Workspace(path)
    try:
        store = LocalBackend.of(ws).store
        assert store.schema_version == migrations.HEAD
        assert store.schema_change is not None and store.schema_change.unversioned
        assert store.schema_change.before is None and store.schema_change.after == migrations.HEAD

        job = ws.jobs.get(JOB)
        assert job.status == JobStatus.COMPLETED
        assert job.experiment_name == "fixture"
        assert set(job.metrics) == {"r2"}
        assert [j.name for j in ws.jobs.list("fixture")] == [JOB]

        data = ws.data.get("diabetes-small", 1)
        assert data.version in (1, "1")
        assert len(ws.data.load("diabetes-small", 1)) == 60

        assert [e.name for e in ws.environments.list() if not e.name.startswith("AzureML-")] == ["sk"]

        model = ws.models.get("diabetes-ridge", 1)
        assert model.job_name == JOB
        downloaded = ws.models.download("diabetes-ridge", 1, tmp_path / "download")
        assert any(Path(downloaded).rglob("MLmodel")), list(Path(downloaded).rglob("*"))
        assert all(path.resolve().is_relative_to(tmp_path) for path in Path(downloaded).rglob("*"))

        endpoint = ws.online_endpoints.get("fixture-ep")
        assert (endpoint.name, endpoint.description, str(endpoint.auth_mode)) == ("fixture-ep", "fixture", "key")
        assert [e.name for e in ws.online_endpoints.list()] == ["fixture-ep"]
        keys = json.loads((FIXTURE / "endpoints" / "fixture-ep" / "keys.json").read_text())
        assert ws.online_endpoints.get_keys("fixture-ep").primary_key == keys["primary"]

        # Its stores now name this folder, and workspace.toml names its own files relative.
        toml = (path / "workspace.toml").read_text()
        assert "/tmp/work/fixture" not in toml and 'metadata_uri = "sqlite:///studio.db"' in toml
        mlflow_db = sqlite3.connect(path / "mlflow.db")
        try:
            locations = [r[0] for r in mlflow_db.execute(
                "SELECT artifact_location FROM experiments UNION ALL SELECT artifact_uri FROM runs "
                "UNION ALL SELECT source FROM model_versions UNION ALL SELECT storage_location FROM model_versions")]
        finally:
            mlflow_db.close()
        assert locations and all(loc.startswith(path.as_uri() + "/") for loc in locations), locations
    finally:
        _stop(ws)


def _stop(ws: Workspace) -> None:
    """Reading endpoints starts the supervisor, which starts the endpoint's router: end both.

    The router outlives a stopped supervisor (the next one adopts it), so it is ended by
    the pid the store records, once its command line shows it serves this workspace.
    """
    import signal

    import sqlalchemy as sa

    from studio_ext.backends.local.core.schema import online_endpoints

    try:
        ws.runtime.stop()
        with LocalBackend.of(ws).store.engine.connect() as conn:
            pids = conn.execute(sa.select(online_endpoints.c.pid)).scalars().all()
        for pid in filter(None, pids):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(ws.path) in cmdline:
                os.kill(pid, signal.SIGTERM)
    finally:
        ws.close()


def test_an_upgraded_workspace_opens_again_without_migrating(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path / "old-ws")
    Workspace(path).close()
    ws = Workspace(path)
    try:
        assert LocalBackend.of(ws).store.schema_change is None
        assert LocalBackend.of(ws).store.schema_version == migrations.HEAD
    finally:
        ws.close()


@pytest.mark.slow
def test_several_processes_opening_an_old_workspace_at_once_all_succeed_and_one_migrates(tmp_path: Path) -> None:
    path = copy_fixture(tmp_path / "old-ws")
    go = tmp_path / "go"
    script = textwrap.dedent(f"""
        import json, os, sys, time
        go = {str(go)!r}
        while not os.path.exists(go):
            time.sleep(0.005)
        from studio_ext import Workspace
        from studio_ext.backends.local import LocalBackend
        ws = Workspace({str(path)!r})
        store = LocalBackend.of(ws).store
        change = store.schema_change
        print(json.dumps({{"migrated": change is not None, "version": store.schema_version,
                           "job": ws.jobs.get({JOB!r}).status.value}}))
    """)
    # Import studio_ext first in each process, then release them together.
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=str(tmp_path)) for _ in range(4)]
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["migrated"] for r in results].count(True) == 1, results
    assert {r["version"] for r in results} == {migrations.HEAD}
    assert {r["job"] for r in results} == {"Completed"}
    conn = sqlite3.connect(path / "studio.db")
    try:
        assert conn.execute(f"SELECT version_num FROM {migrations.VERSION_TABLE}").fetchall() == [(migrations.HEAD,)]
        assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (1,)
    finally:
        conn.close()


def test_the_fixture_is_left_as_it_was() -> None:
    """Tests copy the fixture; none writes into it."""
    assert not (FIXTURE / "studio.db.lock").exists()
    assert not any(p.name.endswith(("-wal", "-shm", ".lock")) for p in FIXTURE.iterdir())
    assert "/tmp/work/fixture/ws" in (FIXTURE / "workspace.toml").read_text()
    assert os.access(FIXTURE / "studio.db", os.R_OK)
