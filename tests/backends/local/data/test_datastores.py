"""ws.datastores: the default store, fsspec stores (a real S3 emulator), SQL stores on a
real PostgreSQL server, credentials kept out of sight, missing drivers named."""

from __future__ import annotations

import logging
import shutil
import socket

import httpx
import pytest
import sqlalchemy as sa

from studio_ext import Workspace
from studio_ext.cli import main as cli_main
from studio_ext.entities import Data, Datastore, DatastoreType
from studio_ext.errors import Conflict, InvalidInput, MissingDependency, NotFound, UnsafePath
from tests.helpers import serve


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    workspace = Workspace.create(tmp_path_factory.mktemp("stores-ws") / "ws")
    yield workspace
    workspace.close()


def test_default_datastore_exists_and_cannot_be_removed(ws):
    default = ws.datastores.get_default()
    assert default.name == "workspaceblobstore" and default.is_default and default.type == DatastoreType.LOCAL
    assert default.url == (ws.path / "datastore").as_uri()
    assert default.creation_time is not None  # made with the workspace (the Datastores page's "Created on")
    assert ws.datastores.list()[0].name == "workspaceblobstore"
    with pytest.raises(Conflict, match="cannot be deleted"):
        ws.datastores.delete("workspaceblobstore")
    with pytest.raises(Conflict, match="cannot be replaced"):
        ws.datastores.create_or_update(Datastore(name="workspaceblobstore", url="file:///tmp"))


def test_file_datastore_crud(ws, tmp_path):
    created = ws.datastores.create_or_update(Datastore(name="scratch", url=tmp_path.as_uri(), description="d"))
    assert created.type == DatastoreType.FILE and created.creation_time is not None
    updated = ws.datastores.create_or_update(Datastore(name="scratch", url=tmp_path.as_uri(), description="e"))
    assert updated.description == "e" and [d.name for d in ws.datastores.list()].count("scratch") == 1
    ws.datastores.delete("scratch")
    with pytest.raises(NotFound, match="There is no datastore named 'scratch'"):
        ws.datastores.get("scratch")
    with pytest.raises(NotFound, match="does not exist; create it first"):
        ws.datastores.create_or_update(Datastore(name="gone", url=(tmp_path / "nope").as_uri()))
    with pytest.raises(InvalidInput, match="has no known scheme"):
        ws.datastores.create_or_update(Datastore(name="odd", url="ftp:/x"))
    with pytest.raises(InvalidInput, match="path character"):
        ws.datastores.create_or_update(Datastore(name="../x", url=tmp_path.as_uri()))


def test_missing_fsspec_driver_names_the_extra(ws):
    import adlfs  # noqa: F401 - a required dependency: abfs:// is accepted without a network call
    with pytest.raises(MissingDependency, match=r"needs the 'gcsfs' package.*pip install 'studio-ext\[gcs\]'"):
        ws.datastores.create_or_update(Datastore(name="gcs", url="gs://bucket/folder"))
    assert "gcs" not in [d.name for d in ws.datastores.list()]


def test_credentials_never_shown(ws, tmp_path, capsys, caplog):
    secret = "s3cr3t-value-xyz"
    ds = ws.datastores.create_or_update(Datastore(name="lake", url="s3://bucket/raw",
                                                  credentials={"key": "AKIA", "secret": secret},
                                                  options={"endpoint_url": "http://127.0.0.1:1"}))
    assert ds.credentials["secret"] == secret  # the service can use it...
    assert secret not in repr(ds) and secret not in str(ds) and "'secret': '***'" in repr(ds)  # ...nobody sees it
    with caplog.at_level(logging.DEBUG):
        for argv in (["datastore", "list"], ["datastore", "show", "lake"], ["datastore", "show", "lake", "--json"]):
            assert cli_main(["-w", str(ws.path), *argv]) == 0
    out = capsys.readouterr()
    assert "lake" in out.out and secret not in out.out + out.err + caplog.text


# -- S3 through a real emulator ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def moto_s3():
    # the venv's moto (the dev extra), not another interpreter's on PATH (an older one fails multipart uploads)
    venv = __import__("pathlib").Path(__import__("sys").executable).with_name("moto_server")
    exe = str(venv) if venv.exists() else shutil.which("moto_server")
    with serve(lambda port: [exe, "-H", "127.0.0.1", "-p", str(port)], name="moto_server", timeout=30,
               ready=lambda server: httpx.get(server.url, timeout=1) is not None, stop_timeout=10) as server:
        yield server.url


def test_s3_datastore_on_moto(ws, moto_s3, tmp_path):
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_s3, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1")
    s3.create_bucket(Bucket="lake")
    s3.put_object(Bucket="lake", Key="raw/2024/a.csv", Body=b"id,v\n1,2.5\n2,3.5\n")
    s3.put_object(Bucket="lake", Key="raw/2024/b.csv", Body=b"id,v\n3,4.5\n")
    ws.datastores.create_or_update(Datastore(name="s3lake", url="s3://lake/raw", credentials={"key": "k", "secret": "s"},
                                             options={"endpoint_url": moto_s3}))
    assert [(e["name"], e["is_dir"]) for e in ws.datastores.list_paths("s3lake", "2024")] == [("a.csv", False), ("b.csv", False)]
    one = ws.data.create_or_update(Data(name="s3one", path="azureml://datastores/s3lake/paths/2024/a.csv"))
    assert one.row_count == 2 and ws.data.load("s3one")["v"].tolist() == [2.5, 3.5]
    folder = ws.data.create_or_update(Data(name="s3folder", path="azureml://datastores/s3lake/paths/2024",
                                           read_options={"header": "all_files_same"}))
    assert folder.row_count == 3 and folder.files == ["a.csv", "b.csv"]
    local = ws.data.resolve_input_path("azureml://datastores/s3lake/paths/2024/b.csv")
    assert open(local).read() == "id,v\n3,4.5\n"
    out = tmp_path / "out.csv"
    out.write_text("id,v\n9,9.5\n")
    assert ws.datastores.upload("s3lake", out, "written/out.csv") == "azureml://datastores/s3lake/paths/written/out.csv"
    assert s3.get_object(Bucket="lake", Key="raw/written/out.csv")["Body"].read() == b"id,v\n9,9.5\n"
    with pytest.raises(NotFound, match="'2024/zz.csv' does not exist in the datastore 's3lake'"):
        ws.data.create_or_update(Data(name="s3none", path="azureml://datastores/s3lake/paths/2024/zz.csv"))


# -- SQL on a real PostgreSQL -------------------------------------------------------------------------
@pytest.mark.postgres
def test_postgres_query_dataset(ws, postgres_url):
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS flights"))
        conn.execute(sa.text("CREATE TABLE flights (id int, carrier text, delay numeric(10,2), day date)"))
        conn.execute(sa.text("INSERT INTO flights SELECT g, CASE WHEN g % 2 = 0 THEN 'AA' ELSE 'UA' END, "
                             "g / 4.0, DATE '2024-01-01' + g FROM generate_series(1, 120000) g"))
    engine.dispose()
    password = sa.engine.make_url(postgres_url).password
    plain_url = postgres_url.replace("postgresql+psycopg2://", "postgresql://")  # as a user writes it
    ds = ws.datastores.create_or_update(Datastore(name="pg", url=plain_url))
    assert ds.type == DatastoreType.SQL and password not in ds.url and password not in repr(ds)
    assert ds.credentials == {"password": password}

    preview = ws.data.preview_source(datastore="pg", query="SELECT * FROM flights ORDER BY id", n=3)
    assert preview.frame["id"].tolist() == [1, 2, 3]
    data = ws.data.create_or_update(Data(name="pgflights", datastore="pg", type="tabular",
                                         query="SELECT id, carrier, delay, day FROM flights ORDER BY id"))
    assert data.row_count == 120000 and data.source == "sql:pg" and data.files == ["query.sql"]
    assert [(c.name, c.type) for c in data.columns] == [("id", "integer"), ("carrier", "string"), ("delay", "float"), ("day", "date")]
    frame = ws.data.load("pgflights")
    assert frame["delay"].iloc[-1] == 30000.0 and (frame["carrier"] == "AA").sum() == 60000
    assert ws.data.profile("pgflights").column("carrier").distinct == 2

    with pytest.raises(InvalidInput, match="The query on datastore 'pg' failed: .*relation \"nope\" does not exist"):
        ws.data.create_or_update(Data(name="pgbad", datastore="pg", query="SELECT * FROM nope"))
    with pytest.raises(InvalidInput, match="returned no rows"):
        ws.data.create_or_update(Data(name="pgbad", datastore="pg", query="SELECT * FROM flights WHERE id < 0"))
    with pytest.raises(InvalidInput, match="returns the column 'id' twice"):
        ws.data.create_or_update(Data(name="pgbad", datastore="pg", query="SELECT id, id FROM flights"))
    assert ws.data.list("pgbad", include_archived=True) == []
    assert not (ws.path / "datastore" / "pgbad").exists() or not any((ws.path / "datastore" / "pgbad").iterdir())


def test_sqlite_datastore_and_unreachable_server(ws, tmp_path):
    db = tmp_path / "small.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (a INTEGER, b TEXT)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1, 'x'), (2, NULL)"))
    engine.dispose()
    ws.datastores.create_or_update(Datastore(name="lite", url=f"sqlite:///{db}"))
    data = ws.data.create_or_update(Data(name="lite", datastore="lite", query="SELECT * FROM t"))
    assert ws.data.load("lite")["b"].isna().tolist() == [False, True] and data.row_count == 2

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ws.datastores.create_or_update(Datastore(name="down", url=f"postgresql://u:pw@127.0.0.1:{port}/db"))
    from studio_ext.errors import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="The database of datastore 'down' could not be reached"):
        ws.data.create_or_update(Data(name="downq", datastore="down", query="SELECT 1"))


def _leaky_store(ws, tmp_path, name):
    root = tmp_path / "d"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.csv").write_text("a,b\n1,2\n")
    ws.datastores.create_or_update(Datastore(name=name, url=root.as_uri()))
    return root


@pytest.mark.parametrize("target, kind", [("/etc/passwd", "uri_folder"), ("/etc/passwd", "mltable"),
                                          ("../../outside.csv", "uri_folder"), ("/etc", "uri_folder")])
def test_a_datastore_folder_refuses_links_that_leave_the_datastore(ws, tmp_path, target, kind):
    root = _leaky_store(ws, tmp_path, "loc")
    (tmp_path / "outside.csv").write_text("secret,x\n1,2\n")
    (root / "sub" / "link.csv").symlink_to(target)
    uri = "azureml://datastores/loc/paths/sub"
    expected = (f"The datastore 'loc' contains a symbolic link that leaves it (sub/link.csv -> {target}); "
                "copy the real file in its place, or remove the link, and try again.")
    with pytest.raises(UnsafePath) as info:
        ws.data.create_or_update(Data(name="leak", path=uri, type=kind))
    assert str(info.value) == expected
    with pytest.raises(UnsafePath, match=r"\(sub/link.csv -> "):
        ws.data.preview_source(path=uri)
    with pytest.raises(UnsafePath, match=r"\(sub/link.csv -> "):
        ws.data.resolve_input_path(uri)
    with pytest.raises(NotFound):
        ws.data.get("leak")
    ws.datastores.delete("loc")


def test_a_datastore_folder_reads_links_that_stay_inside_it(ws, tmp_path):
    root = _leaky_store(ws, tmp_path, "inside")
    (root / "other").mkdir()
    (root / "other" / "real.csv").write_text("a,b\n3,4\n")
    (root / "sub" / "alias.csv").symlink_to("../other/real.csv")
    (root / "sub" / "loop").symlink_to(".")  # a folder link is not walked: no endless copy
    data = ws.data.create_or_update(Data(name="inside", path="azureml://datastores/inside/paths/sub", type="uri_folder"))
    assert sorted(data.files) == ["alias.csv", "ok.csv"]
    assert ws.data.resolve_input_path("azureml://datastores/inside/paths/sub") == str(root.resolve() / "sub")
    ws.datastores.delete("inside")
