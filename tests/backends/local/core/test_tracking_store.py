"""A new workspace's MLflow store: a copy of one migrated once per process, the same as a freshly migrated one."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import mlflow
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from studio_ext import Workspace
from studio_ext.backends.local.core.tracking import init_tracking_store


def _rows(db: Path) -> list[str]:
    """The store's schema and rows as SQL, in a stable order, creation times blanked.

    A table's lines are sorted too: MLflow's SQLite migrations recreate tables with their
    CHECK constraints in an order that varies between processes (a set's order), which says
    nothing about the schema.
    """
    conn = sqlite3.connect(db)
    try:
        return sorted("\n".join(sorted(re.sub(r"\b1\d{12}\b", "T", line).split("\n")))
                      for line in conn.iterdump())
    finally:
        conn.close()


def test_a_new_store_is_the_same_as_a_freshly_migrated_one(tmp_path: Path) -> None:
    artifacts = str(tmp_path / "artifacts")
    SqlAlchemyStore(f"sqlite:///{tmp_path / 'migrated.db'}", artifacts).engine.dispose()
    for name in ("first.db", "second.db"):  # the first may make the process's copy, the second uses it
        init_tracking_store(f"sqlite:///{tmp_path / name}", artifacts)
        assert _rows(tmp_path / name) == _rows(tmp_path / "migrated.db"), name


def test_each_workspace_has_its_own_default_experiment_and_runs(tmp_path: Path) -> None:
    first, second = Workspace.create(tmp_path / "one"), Workspace.create(tmp_path / "two")
    try:
        for ws in (first, second):
            client = mlflow.MlflowClient(ws.mlflow_tracking_uri)
            default = client.get_experiment("0")
            assert default.name == "Default" and Path(ws.path).resolve().as_posix() in default.artifact_location
        run = mlflow.MlflowClient(first.mlflow_tracking_uri).create_run("0")
        assert mlflow.MlflowClient(second.mlflow_tracking_uri).search_runs(["0"]) == []
        assert [r.info.run_id for r in mlflow.MlflowClient(first.mlflow_tracking_uri).search_runs(["0"])] == [
            run.info.run_id]
    finally:
        first.close()
        second.close()
