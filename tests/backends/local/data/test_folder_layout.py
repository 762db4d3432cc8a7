"""A uri_folder registered from a folder is that folder's contents, as on Azure (whose asset path
ends in the uploaded folder's name): a job listing its input sees the files, and so do Data.path,
ws.data.local_path, the datastore and the stored file list. Versions stored in the earlier layout
(the folder kept under its own name, source/p/) still read the same way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from studio_ext import Input, Workspace, command
from studio_ext.backends.local import LocalBackend
from studio_ext.entities import Data
from tests.helpers import wait_until


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    workspace = Workspace.create(tmp_path_factory.mktemp("layout-ws") / "ws")
    yield workspace
    workspace.runtime.stop()
    workspace.close()


@pytest.fixture(scope="module")
def patients(ws, tmp_path_factory):
    folder = tmp_path_factory.mktemp("src") / "p"
    folder.mkdir()
    (folder / "a.csv").write_text("id,age\n1,30\n")
    (folder / "b.csv").write_text("id,age\n2,40\n")
    return ws.data.create_or_update(Data(name="patients", path=str(folder), type="uri_folder"))


def test_a_folder_asset_is_the_folders_contents(ws, patients):
    assert patients.files == ["a.csv", "b.csv"]
    assert patients.path == "azureml://datastores/workspaceblobstore/paths/patients/1/source/"
    local = ws.data.local_path("patients", 1)
    assert sorted(os.listdir(local)) == ["a.csv", "b.csv"]
    assert ws.data.resolve_input_path("azureml:patients:1") == str(local)
    assert sorted(os.listdir(ws.data.resolve_input_path(patients.path))) == ["a.csv", "b.csv"]  # through the datastore
    listed = ws.datastores.list_paths("workspaceblobstore", "patients/1/source")
    assert sorted(e["name"] for e in listed) == ["a.csv", "b.csv"]


def test_a_job_lists_exactly_the_csv_files_at_the_top_of_its_input(ws, patients, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "ls.py").write_text("import os, sys\nprint('listed', sorted(os.listdir(sys.argv[1])))\n")
    job = ws.jobs.create_or_update(command(code=str(code), command="python ls.py ${{inputs.patients}}",
                                           inputs={"patients": Input(type="uri_folder", path="azureml:patients:1")}))
    wait_until(lambda: ws.jobs.get(job.name).status.is_terminal, timeout=120, interval=0.3, what="the job to finish")
    assert str(ws.jobs.get(job.name).status) == "Completed", ws.jobs.get_logs(job.name)
    assert "listed ['a.csv', 'b.csv']" in ws.jobs.get_logs(job.name)


def test_a_version_stored_in_the_earlier_layout_still_resolves(ws):
    """Before, source/ kept the folder under its own name and 'files' started with it; no 'layout' key."""
    version_folder = ws.path / "datastore" / "oldp" / "1"
    (version_folder / "source" / "p" / "sub").mkdir(parents=True)
    (version_folder / "source" / "p" / "x.csv").write_text("a\n1\n")
    (version_folder / "source" / "p" / "sub" / "y.csv").write_text("a\n2\n")
    LocalBackend.of(ws).store.put_asset("data", "oldp", {
        "name": "oldp", "type": "folder", "description": None, "tags": {}, "read_options": None, "datastore": None,
        "query": None, "created_at": 1767225600.0, "source": "/somewhere/p",
        "files": ["p/sub/y.csv", "p/x.csv"], "size_bytes": 8}, version=1)
    old = ws.data.get("oldp", 1)
    assert old.files == ["sub/y.csv", "x.csv"]
    assert old.path == "azureml://datastores/workspaceblobstore/paths/oldp/1/source/p/"
    resolved = ws.data.resolve_input_path("azureml:oldp:1")
    assert Path(resolved) == ws.data.local_path("oldp", 1) == version_folder / "source" / "p"
    assert sorted(os.listdir(resolved)) == ["sub", "x.csv"]
    # a file registered before: its one file at the top of source/
    (version_folder.parent.parent / "oldf" / "1" / "source").mkdir(parents=True)
    (version_folder.parent.parent / "oldf" / "1" / "source" / "f.txt").write_text("hi")
    LocalBackend.of(ws).store.put_asset("data", "oldf", {
        "name": "oldf", "type": "file", "description": None, "tags": {}, "read_options": None, "datastore": None,
        "query": None, "created_at": 1767225600.0, "source": "/somewhere/f.txt",
        "files": ["f.txt"], "size_bytes": 2}, version=1)
    assert Path(ws.data.resolve_input_path("azureml:oldf:1")).read_text() == "hi"
    assert ws.data.get("oldf", 1).path.endswith("/oldf/1/source/f.txt")


def test_a_folder_holding_one_file_is_still_a_folder(ws, tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "only.csv").write_text("a\n1\n")
    from studio_ext.errors import InvalidInput

    with pytest.raises(InvalidInput, match="needs one file"):
        ws.data.create_or_update(Data(name="one-as-file", path=str(folder), type="uri_file"))
    data = ws.data.create_or_update(Data(name="one-as-folder", path=str(folder), type="uri_folder"))
    assert data.files == ["only.csv"] and os.listdir(ws.data.local_path("one-as-folder")) == ["only.csv"]
