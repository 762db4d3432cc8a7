"""Opening, creating and finding workspaces, including the bad cases."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from studio_ext import Workspace
from studio_ext.backends.local import LocalBackend
from studio_ext.errors import AlreadyExists, InvalidInput, WorkspaceError


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


# -- MLClient's shape: credentials, identity, workspaces, top-level verbs ---------------------------

def test_default_azure_credential_builds_offline_and_is_accepted_and_unused(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.identity import DefaultAzureCredential

    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "IDENTITY_ENDPOINT", "MSI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # any network call would fail, none is made
    credential = DefaultAzureCredential()  # as a notebook writes it: builds lazily, signs in on first get_token
    ws = Workspace.create(tmp_path / "ws")
    monkeypatch.chdir(ws.path)
    monkeypatch.delenv("STUDIO_EXT_WORKSPACE", raising=False)
    assert Workspace.from_config(credential=credential).path == ws.path
    assert Workspace.from_config(credential).path == ws.path  # MLClient.from_config(credential): credential first
    assert Workspace.from_config(credential, path=ws.path).path == ws.path
    assert Workspace(ws.path, credential).name == "ws" and Workspace(ws.path, credential=credential).name == "ws"


def test_from_config_refuses_what_is_neither_a_path_nor_a_credential(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"takes a folder or config file path\. Got int instead"):
        Workspace.from_config(42)


def test_from_config_file_name_names_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "aml-config.json").write_text(json.dumps(
        {"subscription_id": "0000", "resource_group": "rg", "workspace_name": "aml-ws"}))
    with pytest.raises(WorkspaceError, match="names the Azure ML workspace 'aml-ws'"):
        Workspace.from_config(path=tmp_path, file_name="aml-config.json")
    with pytest.raises(WorkspaceError, match="looked for workspace.toml, config.json"):
        Workspace.from_config(path=tmp_path)


def test_identity_is_local_and_says_so(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "lab-ws")
    assert (ws.subscription_id, ws.resource_group_name, ws.workspace_name) == ("local", "local", "lab-ws")


def test_workspaces_get_describes_this_workspace_as_azure_does(tmp_path: Path) -> None:
    from studio_ext.entities import WorkspaceInfo
    from studio_ext.errors import NotFound

    ws = Workspace.create(tmp_path / "lab-ws")
    info = ws.workspaces.get(ws.workspace_name)
    assert isinstance(info, WorkspaceInfo) and info == ws.workspaces.get()
    assert (info.name, info.location, info.mlflow_tracking_uri) == ("lab-ws", "local", ws.mlflow_tracking_uri)
    assert info.id == ("/subscriptions/local/resourceGroups/local/providers/Microsoft.MachineLearningServices"
                       "/workspaces/lab-ws")
    assert ws.workspaces.list() == [info]
    with pytest.raises(NotFound, match=r"This client's workspace is 'lab-ws' .*it does not see 'other'"):
        ws.workspaces.get("other")


def test_top_level_verbs_dispatch_on_the_entity_type(workspace: Workspace, tmp_path: Path) -> None:
    from azure.ai.ml import entities as aml

    from studio_ext.entities import AmlCompute, Data, ManagedOnlineEndpoint

    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    assert workspace.create_or_update(Data(name="local-d", path=str(tmp_path / "d.csv"))).version == "1"
    assert workspace.create_or_update(aml.Data(name="azure-d", path=str(tmp_path / "d.csv"),
                                               type="uri_file")).type == "file"
    endpoint = workspace.begin_create_or_update(ManagedOnlineEndpoint(name="verbs-endpoint")).result(timeout=120)
    assert endpoint.name == "verbs-endpoint"
    workspace.online_endpoints.begin_delete("verbs-endpoint").result(timeout=120)
    with pytest.raises(InvalidInput, match=re.escape(
            "studio_ext.entities.AmlCompute is created with ws.begin_create_or_update(...), as MLClient does (it "
            "returns a Poller: add .result() to wait).")):
        workspace.create_or_update(AmlCompute(name="cpu-cluster"))
    with pytest.raises(InvalidInput, match=re.escape(
            "azure.ai.ml.entities.Data is created with ws.create_or_update(...), as MLClient does.")):
        workspace.begin_create_or_update(aml.Data(name="x", path=str(tmp_path / "d.csv")))
    with pytest.raises(InvalidInput, match=re.escape(
            "azure.ai.ml.entities.BatchEndpoint is created with ws.begin_create_or_update(...)")):
        workspace.create_or_update(aml.BatchEndpoint(name="batch"))
    assert workspace.begin_create_or_update(aml.BatchEndpoint(name="verbs-batch")).result().name == "verbs-batch"
    workspace.batch_endpoints.begin_delete("verbs-batch").result()
    with pytest.raises(InvalidInput, match=r"^ws\.create_or_update takes a job .* Got azure\.ai\.ml\.entities\."
                                           r"Workspace instead\.$"):
        workspace.create_or_update(aml.Workspace(name="other"))
