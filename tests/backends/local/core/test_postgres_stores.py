"""A workspace whose metadata and MLflow tracking live in a real PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from studio_ext import Workspace, command
from studio_ext.backends.local import LocalBackend
from studio_ext.entities import JobStatus


def new_database(server_url: str) -> str:
    name = "ws_" + uuid.uuid4().hex[:10]
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.mark.postgres
@pytest.mark.slow
def test_jobs_run_with_metadata_and_tracking_on_postgresql(postgres_url: str, tmp_path: Path, code_dir: Path) -> None:
    ws = Workspace.create(tmp_path / "pg-ws", metadata_uri=new_database(postgres_url),
                          tracking_uri=new_database(postgres_url))
    try:
        assert ws.metadata_uri.startswith("postgresql")
        (code_dir / "train.py").write_text("import mlflow\nmlflow.log_metric('auc', 0.87)\n")
        job = ws.jobs.create_or_update(command(code=str(code_dir), command="python train.py", experiment_name="pg"))
        done = ws.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=180)
        assert done.status == JobStatus.COMPLETED, done.error
        assert done.metrics == {"auc": 0.87}
        reopened = Workspace(ws.path)
        assert [j.name for j in reopened.jobs.list("pg")] == [job.name]
        assert (ws.path / "workspace.toml").stat().st_mode & 0o077 == 0
        # the password never shows in what the workspace prints
        assert "pw-" not in repr(ws) and "***" in LocalBackend.of(ws).store.engine.url.render_as_string(hide_password=True)
    finally:
        ws.runtime.stop()
