"""A workspace folder that is copied or moved uses its own stores; creating one cleans up after a failure."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from studio_ext import Workspace
from studio_ext.backends.local import LocalBackend
from studio_ext.backends.local.core import tracking
from studio_ext.backends.local.core.locations import ROOT_SETTING
from studio_ext.backends.local.core.urls import with_installed_driver
from studio_ext.errors import BackendUnavailable, WorkspaceError


def storage_of(path: Path) -> dict[str, str]:
    return tomllib.loads((path / "workspace.toml").read_text())["storage"]


def log_note(ws: Workspace, text: str, experiment: str = "notes") -> str:
    """An MLflow run of ``ws`` with one text artifact; returns the run id."""
    b = LocalBackend.of(ws)
    exp = tracking.ensure_experiment(b.tracking_uri, b.artifacts_uri, experiment)
    client = tracking.client(b.tracking_uri)
    run = client.create_run(exp)
    client.log_text(run.info.run_id, text, "note.txt")
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def read_note(ws: Workspace, run_id: str, dest: Path) -> str:
    client = tracking.client(LocalBackend.of(ws).tracking_uri)
    return Path(client.download_artifacts(run_id, "note.txt", str(dest))).read_text()


def test_a_new_workspace_names_its_databases_relative_to_its_folder(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    ws.close()
    assert storage_of(ws.path) == {"metadata_uri": "sqlite:///studio.db", "tracking_uri": "sqlite:///mlflow.db"}
    b = LocalBackend(ws.path, tomllib.loads((ws.path / "workspace.toml").read_text()))
    try:
        assert b.metadata_uri == f"sqlite:///{ws.path / 'studio.db'}"
        assert b.tracking_uri == f"sqlite:///{ws.path / 'mlflow.db'}"
        assert b.store.get_setting(ROOT_SETTING) == str(ws.path)
    finally:
        b.close()


@pytest.mark.slow
def test_a_copied_workspace_uses_its_own_databases_and_artifacts(tmp_path: Path) -> None:
    original = Workspace.create(tmp_path / "ws5")
    run_id = log_note(original, "from ws5")
    LocalBackend.of(original).store.set_setting("who", "ws5")
    original.close()
    tracking.forget_clients()
    shutil.copytree(original.path, tmp_path / "ws7")

    copy = Workspace(tmp_path / "ws7")
    try:
        b = LocalBackend.of(copy)
        assert b.metadata_uri == f"sqlite:///{copy.path / 'studio.db'}"
        assert b.tracking_uri == f"sqlite:///{copy.path / 'mlflow.db'}"
        b.store.set_setting("who", "ws7")
        assert read_note(copy, run_id, tmp_path / "read7") == "from ws5"
        # The copy's run writes into the copy's artifacts, not the original's.
        client = tracking.client(b.tracking_uri)
        assert client.get_run(run_id).info.artifact_uri.startswith(copy.path.as_uri() + "/")
        client.log_text(run_id, "only in ws7", "more.txt")
        assert list(copy.path.glob("artifacts/notes/*/artifacts/more.txt"))
        assert not list(original.path.glob("artifacts/notes/*/artifacts/more.txt"))
    finally:
        copy.close()
        tracking.forget_clients()
    reopened = Workspace(original.path)
    try:
        assert LocalBackend.of(reopened).store.get_setting("who") == "ws5"
        assert tracking.client(LocalBackend.of(reopened).tracking_uri).get_run(run_id).info.artifact_uri \
            .startswith(original.path.as_uri() + "/")
    finally:
        reopened.close()


@pytest.mark.slow
def test_a_moved_workspace_reads_its_own_artifacts(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "before")
    run_id = log_note(ws, "kept")
    ws.close()
    tracking.forget_clients()
    shutil.move(ws.path, tmp_path / "after")

    moved = Workspace(tmp_path / "after")
    try:
        assert read_note(moved, run_id, tmp_path / "read") == "kept"
        conn = sqlite3.connect(moved.path / "mlflow.db")
        try:
            locations = [r[0] for r in conn.execute(
                "SELECT artifact_location FROM experiments UNION ALL SELECT artifact_uri FROM runs")]
        finally:
            conn.close()
        assert all(loc.startswith(moved.path.as_uri() + "/") for loc in locations), locations
        assert LocalBackend.of(moved).store.get_setting(ROOT_SETTING) == str(moved.path)
    finally:
        moved.close()
        tracking.forget_clients()


def test_a_workspace_opens_the_same_from_another_working_directory(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    LocalBackend.of(ws).store.set_setting("mark", 1)
    ws.close()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cwd = os.getcwd()
    os.chdir(elsewhere)
    try:
        again = Workspace(os.path.relpath(ws.path, elsewhere))
        try:
            assert LocalBackend.of(again).store.get_setting("mark") == 1
            assert LocalBackend.of(again).metadata_uri == f"sqlite:///{ws.path / 'studio.db'}"
        finally:
            again.close()
    finally:
        os.chdir(cwd)
    assert not list(elsewhere.iterdir())  # no studio.db made beside the working directory


def test_an_old_toml_naming_another_folder_is_rewritten_relative(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    ws.close()
    old = "/nonexistent/old-place/ws"
    (ws.path / "workspace.toml").write_text(
        f'name = "ws"\nbackend = "local"\n\n[storage]\nmetadata_uri = "sqlite:///{old}/studio.db"\n'
        f'tracking_uri = "sqlite:///{old}/mlflow.db"\nartifacts_uri = "file://{old}/artifacts"\n')
    again = Workspace(ws.path)
    try:
        assert LocalBackend.of(again).metadata_uri == f"sqlite:///{ws.path / 'studio.db'}"
        assert LocalBackend.of(again).artifacts_uri == (ws.path / "artifacts").as_uri()
    finally:
        again.close()
    assert storage_of(ws.path) == {"metadata_uri": "sqlite:///studio.db", "tracking_uri": "sqlite:///mlflow.db"}
    assert tomllib.loads((ws.path / "workspace.toml").read_text())["name"] == "ws"
    assert not list(ws.path.glob("*.tmp"))


def test_a_missing_database_is_named_and_not_blamed_on_a_server(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    ws.close()
    (ws.path / "studio.db").unlink()
    with pytest.raises(WorkspaceError, match=r"names the metadata database .*studio.db, which does not exist") as info:
        Workspace(ws.path)
    assert "server" not in str(info.value)
    assert not (ws.path / "studio.db").exists()  # no empty store made in its place

    shutil.rmtree(ws.path)
    other = Workspace.create(tmp_path / "ws2")
    other.close()
    (other.path / "mlflow.db").unlink()
    (other.path / "workspace.toml").write_text(
        'name = "ws2"\n[storage]\ntracking_uri = "sqlite:////nonexistent/place/mlflow.db"\n')
    with pytest.raises(WorkspaceError, match=r"MLflow tracking database /nonexistent/place/mlflow.db, which does "
                                             r"not exist, and the workspace folder has no mlflow.db"):
        Workspace(other.path)


def test_a_plain_postgresql_url_gets_the_installed_driver() -> None:
    assert with_installed_driver("postgresql://u:p@h/db") == "postgresql+psycopg2://u:p@h/db"
    assert with_installed_driver("postgres://u:p@h/db") == "postgresql+psycopg2://u:p@h/db"
    assert with_installed_driver("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert with_installed_driver("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "empty-folder"])
def test_a_failed_create_removes_what_it_made(tmp_path: Path, existing: bool) -> None:
    path = tmp_path / "ws"
    if existing:
        path.mkdir()
        (path / "keep.txt").write_text("mine")
    # Nothing listens on port 1: the metadata store cannot open.
    with pytest.raises(BackendUnavailable, match="Check that the database server is running"):
        Workspace.create(path, metadata_uri="postgresql://user:pw@127.0.0.1:1/nothing")
    if existing:
        assert sorted(p.name for p in path.iterdir()) == ["keep.txt"]
    else:
        assert not path.exists()


@pytest.mark.postgres
@pytest.mark.slow
def test_create_with_a_plain_postgresql_url(new_pg_database: Callable[[], str], tmp_path: Path) -> None:
    metadata = new_pg_database().replace("postgresql+psycopg2://", "postgresql://")
    ws = Workspace.create(tmp_path / "pg", metadata_uri=metadata)
    try:
        assert storage_of(ws.path)["metadata_uri"] == metadata  # as given
        assert LocalBackend.of(ws).metadata_uri.startswith("postgresql+psycopg2://")
        LocalBackend.of(ws).store.set_setting("k", "v")
        assert LocalBackend.of(ws).store.get_setting("k") == "v"
        assert (ws.path / "workspace.toml").stat().st_mode & 0o077 == 0
    finally:
        ws.close()


@pytest.mark.postgres
@pytest.mark.slow
def test_a_moved_workspace_with_metadata_on_a_server_still_reads_its_own_artifacts(
        new_pg_database: Callable[[], str], tmp_path: Path) -> None:
    """MLflow's file moves with the folder even when the metadata store stays on its server."""
    ws = Workspace.create(tmp_path / "before", metadata_uri=new_pg_database())
    run_id = log_note(ws, "kept")
    ws.close()
    tracking.forget_clients()
    shutil.move(ws.path, tmp_path / "after")
    moved = Workspace(tmp_path / "after")
    try:
        assert read_note(moved, run_id, tmp_path / "read") == "kept"
        run = tracking.client(LocalBackend.of(moved).tracking_uri).get_run(run_id)
        assert run.info.artifact_uri.startswith(moved.path.as_uri() + "/")
    finally:
        moved.close()
        tracking.forget_clients()
