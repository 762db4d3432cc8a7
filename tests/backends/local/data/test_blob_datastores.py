"""Azure Blob datastores for real, on Azurite (the Azure Storage emulator, tests/azurite.py): the same
AzureBlobDatastore object a DP-100 lab registers, pointed at the emulator by its endpoint and protocol,
with an account key, a SAS token or no credential; listing, data assets on azureml:// paths, writing."""

from __future__ import annotations

import os

import pytest
from azure.ai.ml.entities import (
    AccountKeyConfiguration,
    AzureBlobDatastore,
    AzureDataLakeGen2Datastore,
    SasTokenConfiguration,
)
from azure.ai.ml.entities import Data as AzureData

from studio_ext.entities import Data, Datastore, DatastoreType
from studio_ext.errors import AzureFieldNote, BackendUnavailable, Conflict, InvalidInput, NotFound
from studio_ext.translation import from_azure_any, to_azure


@pytest.fixture(scope="module")
def ws(module_workspace):
    return module_workspace


@pytest.fixture(scope="module")
def container(azurite):
    azurite.create_container("training-data")
    azurite.upload("training-data", "data/diabetes.csv", b"PatientID,Age,Diabetic\n1,21,0\n2,50,1\n3,33,0\n")
    azurite.upload("training-data", "data/more/extra.csv", b"PatientID,Age,Diabetic\n4,60,1\n")
    return "training-data"


def _store(azurite, name: str, credentials) -> AzureBlobDatastore:
    """Lab 03's datastore cell, with the two fields that point it at the emulator."""
    return AzureBlobDatastore(name=name, description="Blob Storage for training data", account_name=azurite.account,
                              container_name="training-data", credentials=credentials, **azurite.datastore_endpoint)


def test_an_azure_blob_datastore_with_an_account_key_reads_the_emulator(ws, azurite, container):
    created = ws.datastores.create_or_update(
        _store(azurite, "blob_training_data", AccountKeyConfiguration(account_key=azurite.account_key)))
    assert created.type == DatastoreType.AZURE_BLOB and azurite.account_key not in repr(created)
    assert created.options == {"account_name": "devstoreaccount1", "endpoint": f"127.0.0.1:{azurite.port}",
                               "protocol": "http"}
    assert "blob_training_data" in [d.name for d in ws.datastores.list()]
    assert [(e["name"], e["is_dir"]) for e in ws.datastores.list_paths("blob_training_data", "data")] == [
        ("diabetes.csv", False), ("more", True)]
    # the datastore goes back to azure-ai-ml unchanged: endpoint, protocol and key kept
    back = to_azure(ws.datastores.get("blob_training_data"))
    assert (back.account_name, back.container_name, back.endpoint, back.protocol) == (
        "devstoreaccount1", "training-data", f"127.0.0.1:{azurite.port}", "http")
    assert back.credentials.account_key == azurite.account_key


def test_data_assets_on_blob_paths(ws, azurite, container):
    ws.datastores.create_or_update(
        _store(azurite, "blob_assets", AccountKeyConfiguration(account_key=azurite.account_key)))
    one = ws.data.create_or_update(AzureData(name="blob-file", path="azureml://datastores/blob_assets/paths/data/diabetes.csv",
                                             type="uri_file"))
    assert one.files == ["diabetes.csv"]
    local = ws.data.resolve_input_path(one.reference)
    assert open(local, "rb").read().startswith(b"PatientID,Age")
    folder = ws.data.create_or_update(Data(name="blob-folder", path="azureml://datastores/blob_assets/paths/data/",
                                           type="uri_folder"))
    assert folder.files == ["diabetes.csv", "more/extra.csv"]  # the folder's contents, as its path names them
    assert sorted(os.listdir(ws.data.resolve_input_path(folder.reference))) == ["diabetes.csv", "more"]
    table = ws.data.create_or_update(Data(name="blob-table", path="azureml://datastores/blob_assets/paths/data/diabetes.csv"))
    assert ws.data.load("blob-table")["Age"].tolist() == [21, 50, 33]
    assert ws.data.preview("blob-table", n=1)["PatientID"].tolist() == [1] and table.row_count == 3
    # an input straight from the datastore path, copied into the workspace's cache
    extra = "azureml://datastores/blob_assets/paths/data/more/extra.csv"
    first = ws.data.resolve_input_path(extra)
    assert open(first).read() == "PatientID,Age,Diabetic\n4,60,1\n" and ws.data.resolve_input_path(extra) == first
    azurite.upload("training-data", "data/more/extra.csv", b"PatientID,Age,Diabetic\n5,70,1\n")  # written anew
    assert open(ws.data.resolve_input_path(extra)).read() == "PatientID,Age,Diabetic\n5,70,1\n"
    assert open(first).read() == "PatientID,Age,Diabetic\n4,60,1\n"  # a job still reading the old copy keeps it
    azurite.upload("training-data", "data/more/extra.csv", b"PatientID,Age,Diabetic\n4,60,1\n")
    with pytest.raises(NotFound, match="'data/nope.csv' does not exist in the datastore 'blob_assets'"):
        ws.data.create_or_update(Data(name="blob-none", path="azureml://datastores/blob_assets/paths/data/nope.csv",
                                      type="uri_file"))


def test_a_uri_folder_on_a_path_nothing_has_written_yet(ws, azurite, container):
    """Lab 03: 'The path doesn't have to exist yet. The folder will be created when data is uploaded.'"""
    ws.datastores.create_or_update(
        _store(azurite, "blob_future", AccountKeyConfiguration(account_key=azurite.account_key)))
    path = "azureml://datastores/blob_future/paths/data-asset-path/"
    data = ws.data.create_or_update(AzureData(name="diabetes-datastore-path", path=path, type="uri_folder",
                                              description="Data asset pointing to data-asset-path folder in datastore"))
    assert data.path == path and data.files == [] and data.version == "1"
    with pytest.raises(NotFound, match="'data-asset-path' does not exist in the datastore 'blob_future'"):
        ws.data.resolve_input_path("azureml:diabetes-datastore-path:1")
    azurite.upload("training-data", "data-asset-path/part.csv", b"a\n1\n")
    local = ws.data.resolve_input_path("azureml:diabetes-datastore-path:1")
    assert sorted(p.name for p in __import__("pathlib").Path(local).iterdir()) == ["part.csv"]


def test_an_mltable_folder_on_a_blob_datastore(ws, azurite, container):
    azurite.upload("training-data", "tables/diabetes/MLTable",
                   b"paths:\n  - pattern: ./*.csv\ntransformations:\n  - read_delimited:\n      delimiter: ','\n"
                   b"  - filter: 'col(\"Age\") > 30'\n")
    azurite.upload("training-data", "tables/diabetes/a.csv", b"PatientID,Age\n1,21\n2,50\n")
    azurite.upload("training-data", "tables/remote/MLTable",
                   b"paths:\n  - pattern: azureml://datastores/blob_mltable/paths/data/*.csv\n"
                   b"  - file: azureml://subscriptions/s/resourcegroups/rg/workspaces/w/datastores/blob_mltable/"
                   b"paths/data/more/extra.csv\n"
                   b"transformations:\n  - read_delimited:\n      include_path_column: true\n")
    ws.datastores.create_or_update(
        _store(azurite, "blob_mltable", AccountKeyConfiguration(account_key=azurite.account_key)))
    data = ws.data.create_or_update(AzureData(name="blob-mltable", type="mltable",
                                              path="azureml://datastores/blob_mltable/paths/tables/diabetes"))
    assert ws.data.load("blob-mltable").to_dict("list") == {"PatientID": [2], "Age": [50]}
    assert sorted(p.name for p in ws.data.mltable_folder("blob-mltable").iterdir()) == ["MLTable", "a.csv"]
    assert data.path.endswith("/blob-mltable/1/source/")
    # an MLTable whose paths name the datastore itself: read from the emulator at registration
    remote = ws.data.create_or_update(Data(name="blob-remote", type="mltable",
                                           path="azureml://datastores/blob_mltable/paths/tables/remote"))
    frame = ws.data.load("blob-remote")
    assert remote.row_count == 4 and frame["Path"].tolist()[0] == "azureml://datastores/blob_mltable/paths/data/diabetes.csv"
    assert frame["Path"].tolist()[-1].endswith("/datastores/blob_mltable/paths/data/more/extra.csv")


def test_writing_to_a_blob_datastore(ws, azurite, container, tmp_path):
    """What a job's output on azureml://datastores/NAME/paths/PATH uses: datastores.upload."""
    ws.datastores.create_or_update(
        _store(azurite, "blob_out", AccountKeyConfiguration(account_key=azurite.account_key)))
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "diabetes.csv").write_text("a,b\n1,2\n")
    (out / "sub" / "model.pkl").write_bytes(b"\x00\x01")
    uri = ws.datastores.upload("blob_out", out, "datastore-path")
    assert uri == "azureml://datastores/blob_out/paths/datastore-path"
    assert azurite.list("training-data", "datastore-path/") == ["datastore-path/diabetes.csv",
                                                                "datastore-path/sub/model.pkl"]
    assert azurite.read("training-data", "datastore-path/sub/model.pkl") == b"\x00\x01"
    ws.datastores.upload("blob_out", out / "diabetes.csv", "single/copy.csv")
    assert azurite.read("training-data", "single/copy.csv") == b"a,b\n1,2\n"
    # what was written reads back as a data asset
    back = ws.data.create_or_update(Data(name="written", path=uri + "/diabetes.csv"))
    assert ws.data.load("written")["b"].tolist() == [2] and back.row_count == 1
    with pytest.raises(NotFound, match="there is nothing to upload"):
        ws.datastores.upload("blob_out", tmp_path / "missing", "x")


def test_a_sas_token_and_no_credential(ws, azurite, container):
    ws.datastores.create_or_update(_store(azurite, "blob_sas", SasTokenConfiguration(sas_token=azurite.sas_token())))
    assert ws.datastores.get("blob_sas").credentials.keys() == {"sas_token"}
    assert [e["name"] for e in ws.datastores.list_paths("blob_sas", "data/more")] == ["extra.csv"]
    ws.datastores.upload("blob_sas", __import__("pathlib").Path(__file__), "sas/test.py")
    assert azurite.list("training-data", "sas/") == ["sas/test.py"]

    azurite.create_container("public-data", public=True)
    azurite.upload("public-data", "open/a.csv", b"x\n1\n2\n")
    anonymous = AzureBlobDatastore(name="blob_public", account_name=azurite.account, container_name="public-data",
                                   **azurite.datastore_endpoint)
    with pytest.warns(AzureFieldNote, match="locally it is read anonymously"):
        ws.datastores.create_or_update(anonymous)
    assert ws.datastores.get("blob_public").credentials == {}
    assert ws.data.create_or_update(Data(name="public", path="azureml://datastores/blob_public/paths/open/a.csv")).row_count == 2
    # the private container refuses anonymous reads, with Azure's reason in a studio_ext error
    private = AzureBlobDatastore(name="blob_private_anon", account_name=azurite.account, container_name="training-data",
                                 **azurite.datastore_endpoint)
    with pytest.warns(AzureFieldNote):
        ws.datastores.create_or_update(private)
    with pytest.raises((BackendUnavailable, NotFound)):
        ws.data.create_or_update(Data(name="denied", path="azureml://datastores/blob_private_anon/paths/data/diabetes.csv"))


def test_a_wrong_account_key_is_reported(ws, azurite, container):
    bad = "A" * 86 + "=="
    ws.datastores.create_or_update(_store(azurite, "blob_badkey", AccountKeyConfiguration(account_key=bad)))
    with pytest.raises((BackendUnavailable, NotFound)) as caught:
        ws.data.create_or_update(Data(name="badkey", path="azureml://datastores/blob_badkey/paths/data/diabetes.csv"))
    assert bad not in str(caught.value)
    assert ws.data.list("badkey") == []


def test_gen2_datastores_are_registered_with_a_note(ws):
    gen2 = AzureDataLakeGen2Datastore(name="lake", account_name="acct", filesystem="raw",
                                      credentials=None)
    translated = from_azure_any(gen2)
    assert any("no Gen2 (dfs) endpoint" in str(n) for n in translated.notes)
    with pytest.warns(AzureFieldNote) as noted:
        registered = ws.datastores.create_or_update(gen2)
    assert any("no Gen2 (dfs) endpoint" in str(w.message) for w in noted)
    assert any("read anonymously" in str(w.message) for w in noted)
    assert registered.url == "abfs://raw@acct.dfs.core.windows.net" and registered.type == DatastoreType.AZURE_BLOB
    assert to_azure(ws.datastores.get("lake")).filesystem == "raw"


def test_writing_is_refused_where_it_cannot_work(ws, tmp_path):
    src = tmp_path / "f.csv"
    src.write_text("a\n1\n")
    ws.data.create_or_update(Data(name="kept", path=str(src)))
    with pytest.raises(Conflict, match="holds dataset versions, which are immutable"):
        ws.datastores.upload("workspaceblobstore", src, "kept/1/f.csv")
    assert ws.datastores.upload("workspaceblobstore", src, "outputs/f.csv").endswith("/paths/outputs/f.csv")
    assert (ws.path / "datastore" / "outputs" / "f.csv").read_text() == "a\n1\n"
    ws.datastores.create_or_update(Datastore(name="web", url="http://127.0.0.1:9/"))
    with pytest.raises(Conflict, match="cannot be written"):
        ws.datastores.upload("web", src, "x.csv")
    with pytest.raises(InvalidInput):
        ws.datastores.upload("workspaceblobstore", src, "../escape.csv")
