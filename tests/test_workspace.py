"""Opening, creating and finding workspaces, including the bad cases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio_ext import Workspace
from studio_ext.backends.local import LocalBackend
from studio_ext.errors import AlreadyExists, WorkspaceError


def test_create_makes_the_folder_layout_and_opens(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "my-ws")
    assert ws.name == "my-ws"
    for name in ("workspace.toml", "studio.db", "mlflow.db", "artifacts", "datastore", "logs"):
        assert (ws.path / name).exists(), name
    assert ws.mlflow_tracking_uri == f"sqlite:///{ws.path / 'mlflow.db'}"
    assert Workspace(tmp_path / "my-ws").name == "my-ws"


def test_create_refuses_an_existing_workspace_unless_asked(tmp_path: Path) -> None:
    Workspace.create(tmp_path / "ws")
    with pytest.raises(AlreadyExists, match="already a workspace"):
        Workspace.create(tmp_path / "ws", exist_ok=False)
    assert Workspace.create(tmp_path / "ws", exist_ok=True).name == "ws"


def test_sqlite_metadata_runs_in_wal_mode(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    with LocalBackend.of(ws).store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_a_folder_that_is_not_a_workspace_is_refused_with_advice(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="not a studio workspace: it has no workspace.toml.*studio-ext init"):
        Workspace(tmp_path)
    with pytest.raises(WorkspaceError, match="is not a folder"):
        Workspace(tmp_path / "missing")


def test_a_corrupt_workspace_toml_is_refused_with_advice(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    (ws.path / "workspace.toml").write_text("name = [unclosed\n")
    with pytest.raises(WorkspaceError, match="workspace.toml is corrupt .*Fix the file by hand"):
        Workspace(ws.path)
    (ws.path / "workspace.toml").write_text("backend = 'local'\n")
    with pytest.raises(WorkspaceError, match="has no 'name' entry"):
        Workspace(ws.path)


def test_from_config_finds_the_workspace_from_a_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace.create(tmp_path / "ws")
    nested = ws.path / "notebooks" / "labs"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    monkeypatch.delenv("STUDIO_EXT_WORKSPACE", raising=False)
    assert Workspace.from_config().path == ws.path
    assert Workspace.from_config(ws.path / "workspace.toml").path == ws.path
    monkeypatch.setenv("STUDIO_EXT_WORKSPACE", str(ws.path))
    monkeypatch.chdir(tmp_path)
    assert Workspace.from_config().path == ws.path


def test_from_config_with_nothing_to_find_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STUDIO_EXT_WORKSPACE", raising=False)
    with pytest.raises(WorkspaceError, match="No workspace found from .*workspace.toml, config.json"):
        Workspace.from_config(tmp_path)


def test_an_azure_config_json_selects_the_azure_backend(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(
        {"subscription_id": "0000", "resource_group": "rg", "workspace_name": "aml-ws"}))
    with pytest.raises(WorkspaceError, match="names the Azure ML workspace 'aml-ws'.*azure backend is not available"):
        Workspace.from_config(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"subscription_id": "0000"}))
    with pytest.raises(WorkspaceError, match="lacks resource_group, workspace_name"):
        Workspace.from_config(tmp_path)


@pytest.mark.slow
def test_eight_processes_creating_the_same_new_workspace_all_succeed(tmp_path: Path) -> None:
    target = tmp_path / "shared-ws"
    code = (
        "import sys; from studio_ext import Workspace\n"
        "ws = Workspace.create(sys.argv[1])\n"
        "ws.jobs.list()\nprint(ws.name)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err[-2000:] for _, err in results]
    assert all(out.strip() == "shared-ws" for out, _ in results)
    ws = Workspace(target)
    assert ws.jobs.list_experiments() == ["Default"]
