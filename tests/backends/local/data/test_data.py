"""ws.data on the local backend: registration with read options, versions, previews,
profiles, job inputs and lineage, and every kind of bad input refused whole."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
from pathlib import Path

import pandas as pd
import pytest

from studio_ext import Input, Workspace, command
from studio_ext.entities import Data, Datastore, DelimitedReadOptions
from studio_ext.errors import (
    AlreadyExists,
    BackendUnavailable,
    Conflict,
    InvalidInput,
    NotFound,
    UnsafePath,
)
from tests.helpers import wait_until


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """One workspace for the module (creating one costs seconds); tests use distinct names."""
    workspace = Workspace.create(tmp_path_factory.mktemp("data-ws") / "ws")
    yield workspace
    workspace.runtime.stop()
    workspace.close()


def _file(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _nothing_registered(ws, name: str) -> None:
    """No row, no version folder, nothing left in staging."""
    assert ws.data.list(name, include_archived=True) == []
    root = ws.path / "datastore"
    assert not (root / name).exists() or not any((root / name).iterdir())
    assert not (root / ".staging").exists() or not any((root / ".staging").iterdir())


# -- registration and read options ----------------------------------------------------------
def test_register_csv_detects_delimiter_types_and_versions(ws, tmp_path):
    src = _file(tmp_path, "trips.csv", "id;fare;city;day\n1;12,5;Paris;2024-01-02\n2;7,25;Lyon;2024-01-03\n")
    first = ws.data.create_or_update(Data(name="trips", path=str(src), read_options={"decimal": ","},
                                                 description="taxi trips", tags={"team": "a"}))
    assert first.version == "1"
    assert first.read_options.delimiter == ";"  # detected, then recorded with the version
    assert [(c.name, c.type) for c in first.columns] == [("id", "integer"), ("fare", "float"), ("city", "string"), ("day", "date")]
    assert first.row_count == 2 and first.files == ["trips.csv"] and first.tags == {"team": "a"}
    # the original file is kept beside the parsed Parquet, in the workspace datastore
    version_dir = ws.path / "datastore" / "trips" / "1"
    assert (version_dir / "source" / "trips.csv").read_bytes() == src.read_bytes()
    assert (version_dir / "data.parquet").is_file()
    frame = ws.data.load("trips")
    assert frame["fare"].tolist() == [12.5, 7.25]

    src.write_text("id;fare;city;day\n3;1,0;Nice;2024-02-01\n")
    second = ws.data.create_or_update(Data(name="trips", path=str(src), read_options={"decimal": ","}))
    assert second.version == "2"
    assert ws.data.load("trips", 1)["id"].tolist() == [1, 2]  # version 1 unchanged
    assert ws.data.get("trips", "latest").version == "2"
    assert [d.version for d in ws.data.list("trips")] == ["1", "2"]
    assert "trips" in [d.name for d in ws.data.list()]

    with pytest.raises(AlreadyExists, match="versions are immutable"):
        ws.data.create_or_update(Data(name="trips", version="2", path=str(src)))
    ws.data.archive("trips", 2)
    assert ws.data.get("trips").version == "1"
    assert ws.data.get("trips", 2).archived
    ws.data.restore("trips", 2)
    assert ws.data.get("trips").version == "2"


def test_read_options_header_names_types_include_exclude_and_formats(ws, tmp_path):
    src = _file(tmp_path, "raw.txt", "# exported\n# by a tool\n7|x|31/12/2023|1\n8|y|01/02/2024|0\n")
    options = DelimitedReadOptions(delimiter="|", header="none", skip_rows=2,
                                   column_names=["n", "label", "when", "flag"],
                                   column_types={"when": "date", "n": "float"},
                                   datetime_formats=["%d/%m/%Y"], exclude=["flag"])
    data = ws.data.create_or_update(Data(name="raw", path=str(src), read_options=options))
    assert [(c.name, c.type) for c in data.columns] == [("n", "float"), ("label", "string"), ("when", "date")]
    frame = ws.data.load("raw")
    assert str(frame["when"].iloc[0]) == "2023-12-31" and frame["n"].tolist() == [7.0, 8.0]

    quoted = _file(tmp_path, "q.csv", 'a,b\n1,"say \\"hi\\", twice"\n2,"two\nlines"\n')
    ws.data.create_or_update(Data(name="quoted", path=str(quoted),
                                         read_options={"escape_char": "\\", "include": ["b"]}))
    assert ws.data.load("quoted")["b"].tolist() == ['say "hi", twice', "two\nlines"]


@pytest.mark.parametrize("encoding, text", [("latin-1", "café"), ("cp1252", "€5"), ("utf-16", "naïve"), ("utf-8-sig", "plain")])
def test_encodings(ws, tmp_path, encoding, text):
    src = _file(tmp_path, "e.csv", f"k,v\n1,{text}\n".encode(encoding))
    ws.data.create_or_update(Data(name="enc", path=str(src), read_options={"encoding": encoding}))
    assert ws.data.load("enc")["v"].tolist() == [text]


def test_bom_and_mixed_line_endings_are_read_cleanly(ws, tmp_path):
    src = _file(tmp_path, "bom.csv", "\ufeffa,b\r\n1,x\n2,y\r\n3,z\n".encode("utf-8"))
    ws.data.create_or_update(Data(name="bom", path=str(src)))
    frame = ws.data.load("bom")
    assert list(frame.columns) == ["a", "b"]  # no BOM glued to the first name
    assert frame["b"].tolist() == ["x", "y", "z"]  # no stray carriage returns


def test_folder_of_files_with_all_files_same_header(ws, tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "a.csv").write_text("k,v\n1,2.5\n")
    (folder / "b.csv").write_text("k,v\n2,3\n")
    (folder / ".hidden").write_text("ignored")
    data = ws.data.create_or_update(Data(name="parts", path=str(folder), read_options={"header": "all_files_same"}))
    assert data.files == ["a.csv", "b.csv"] and data.row_count == 2
    assert ws.data.load("parts")["v"].tolist() == [2.5, 3.0]
    (folder / "c.csv").write_text("k,other\n3,4\n")
    with pytest.raises(InvalidInput, match=r"c.csv has the columns \['k', 'other'\]"):
        ws.data.create_or_update(Data(name="parts", path=str(folder), read_options={"header": "all_files_same"}))
    assert [d.version for d in ws.data.list("parts")] == ["1"]


def test_file_and_folder_datasets_keep_files_as_they_are(ws, tmp_path):
    image = _file(tmp_path, "pic.bin", bytes(range(256)))
    data = ws.data.create_or_update(Data(name="pic", path=str(image), type="uri_file"))
    assert str(data.type) == "file"
    path = ws.data.resolve_input_path("azureml:pic:1")
    assert Path(path).read_bytes() == bytes(range(256))
    with pytest.raises(Conflict, match="preview, profile and load need a tabular one"):
        ws.data.preview("pic")


# -- preview, profile --------------------------------------------------------------------------------
def test_preview_and_profile_are_computed_once(ws, tmp_path):
    rows = "\n".join(f"{i},{'abc'[i % 3]},{i * 0.5 if i % 10 else ''}" for i in range(1000))
    src = _file(tmp_path, "p.csv", "i,s,x\n" + rows + "\n")
    ws.data.create_or_update(Data(name="p", path=str(src)))
    head = ws.data.preview("p", n=5)
    assert head["i"].tolist() == [0, 1, 2, 3, 4]

    profile = ws.data.profile("p")
    x = profile.column("x")
    assert profile.row_count == 1000
    assert (x.count, x.missing, x.type) == (900, 100, "float")
    assert x.min == 0.5 and x.max == 499.5 and x.mean == pytest.approx(pd.read_csv(src)["x"].mean())
    assert x.quantiles["0.5"] == pytest.approx(pd.read_csv(src)["x"].median())
    assert sum(x.histogram_counts) == 900 and len(x.histogram_edges) == len(x.histogram_counts) + 1
    s = profile.column("s")
    assert s.distinct == 3 and s.most_frequent[0] == ("a", 334)
    cache = ws.path / "datastore" / "p" / "1" / "profile.json"
    assert cache.is_file()
    stamp = cache.stat().st_mtime_ns
    again = ws.data.profile("p")
    assert cache.stat().st_mtime_ns == stamp and again.column("s").most_frequent[0] == ("a", 334)


def test_preview_source_follows_options_without_registering(ws, tmp_path):
    src = _file(tmp_path, "s.csv", "a;b\n1,5;x\n")
    plain = ws.data.preview_source(path=str(src))
    assert plain.delimiter == ";" and [c.type for c in plain.columns] == ["string", "string"]
    european = ws.data.preview_source(path=str(src), read_options={"decimal": ","})
    assert european.frame["a"].tolist() == [1.5]
    assert "s" not in [d.name for d in ws.data.list()]


# -- bad input: a clear error, nothing registered ----------------------------------------------------
BAD_FILES = [
    ("ragged.csv", "a,b,c\n1,2,3\n4,5,6,7\n", {}, r"ragged.csv: line 3 has 4 fields where the header has 3"),
    ("latin.csv", "a,b\n1,ok\n2,caf\xe9\n".encode("latin-1"), {}, r"latin.csv is not valid utf-8 at line 3 \(byte 0xe9\)"),
    ("empty.csv", "", {}, r"empty.csv is empty"),
    ("header.csv", "a,b,c\n", {}, r"header.csv has a header but no data rows"),
    ("dupes.csv", "a,b,a\n1,2,3\n", {}, r"the column name 'a' appears twice \(columns 1 and 3\)"),
    ("typed.csv", "a,b\n1,2\n3,zz\n", {"column_types": {"b": "integer"}},
     r"column 'b' is set to integer in column_types, but 'zz' on line 3 is not a valid integer"),
    ("cols.csv", "a,b\n1,2\n", {"column_types": {"nope": "integer"}}, r"'column_types' read option names the column 'nope'"),
    ("opts.csv", "a,b\n1,2\n", {"delimeter": ";"}, r"Unknown read option 'delimeter'"),
    ("enc.csv", "a,b\n1,2\n", {"encoding": "klingon"}, r"'encoding' read option 'klingon' is not a known encoding"),
    ("types.csv", "a,b\n1,2\n", {"column_types": {"a": "bigint"}}, r"column_types entry for 'a' must be one of string, integer"),
]


@pytest.mark.parametrize("name, content, options, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_give_clear_errors_and_register_nothing(ws, tmp_path, name, content, options, message):
    src = _file(tmp_path, name, content)
    with pytest.raises(InvalidInput, match=message):
        ws.data.create_or_update(Data(name="bad", path=str(src), read_options=options))
    _nothing_registered(ws, "bad")


def test_a_late_value_widens_an_inferred_column(ws, tmp_path):
    body = "".join(f"{i},x\n" for i in range(700_000))  # 6 MB: more than the first 4 MB block
    src = _file(tmp_path, "late.csv", "n,s\n" + body + "2.5,y\n")
    assert src.stat().st_size > 4 << 20
    data = ws.data.create_or_update(Data(name="late", path=str(src)))
    assert data.columns[0].type == "float" and data.row_count == 700_001
    assert ws.data.load("late")["n"].iloc[-1] == 2.5


@pytest.mark.parametrize("name", ["a/b", "..", "../up", "a\\b", "x\x00y", "-lead"])  # no name: anonymous, named by hash
def test_dataset_names_with_path_characters_are_refused(ws, tmp_path, name):
    src = _file(tmp_path, "ok.csv", "a\n1\n")
    before = sorted(p.name for p in (ws.path / "datastore").iterdir())
    with pytest.raises(InvalidInput, match="name"):
        ws.data.create_or_update(Data(name=name, path=str(src)))
    assert sorted(p.name for p in (ws.path / "datastore").iterdir()) == before


ESCAPES = ["..", "../outside.csv", "a/../../outside.csv", "/etc/passwd", "%2e%2e/outside.csv", "%252e%252e/outside.csv",
           "..%2foutside.csv", "file:///etc/passwd", "/etc/passwd%00.jpg", "ok.csv%00", "//proc/self/root",
           "ok.csv#frag", "ok.csv;params", "ok.csv?x=1", "..\\outside.csv", "link/passwd"]


@pytest.mark.parametrize("path", ESCAPES)
def test_datastore_paths_cannot_escape(ws, tmp_path, path):
    root = tmp_path / "store"
    root.mkdir()
    (root / "ok.csv").write_text("a\n1\n")
    (tmp_path / "outside.csv").write_text("secret\n1\n")
    (root / "link").symlink_to("/etc")
    if not (ws.path / "datastore" / "link").is_symlink():
        (ws.path / "datastore" / "link").symlink_to("/etc")
    ws.datastores.create_or_update(Datastore(name="files", url=root.as_uri()))
    for store in ("files", "workspaceblobstore"):
        with pytest.raises(UnsafePath):
            ws.data.create_or_update(Data(name="esc", path=f"azureml://datastores/{store}/paths/{path}"))
        with pytest.raises(UnsafePath):
            ws.data.resolve_input_path(f"azureml://datastores/{store}/paths/{path}")
    _nothing_registered(ws, "esc")


def test_a_file_datastore_serves_its_own_files(ws, tmp_path):
    root = tmp_path / "own"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.csv").write_text("a\n1\n")
    ws.datastores.create_or_update(Datastore(name="own", url=root.as_uri()))
    assert [e["name"] for e in ws.datastores.list_paths("own")] == ["sub"]
    assert ws.data.create_or_update(Data(name="own", path="azureml://datastores/own/paths/sub/ok.csv")).row_count == 1
    assert ws.data.resolve_input_path("azureml://datastores/own/paths/sub") == str(root / "sub")


def test_a_version_folder_left_on_disk_is_never_overwritten(ws, tmp_path):
    orphan = ws.path / "datastore" / "kept" / "1"
    orphan.mkdir(parents=True)
    (orphan / "marker").write_text("from a crash")
    data = ws.data.create_or_update(Data(name="kept", path=str(_file(tmp_path, "k.csv", "a\n1\n"))))
    assert data.version == "2" and (orphan / "marker").read_text() == "from a crash"


def test_missing_and_unsupported_sources(ws, tmp_path):
    with pytest.raises(NotFound, match="does not exist"):
        ws.data.create_or_update(Data(name="m", path=str(tmp_path / "nope.csv")))
    with pytest.raises(InvalidInput, match="Register a datastore for it"):
        ws.data.create_or_update(Data(name="m", path="s3://bucket/x.csv"))
    with pytest.raises(InvalidInput, match="file:///absolute/path"):
        ws.data.create_or_update(Data(name="m", path="file://evil.example/etc/passwd"))
    with pytest.raises(InvalidInput, match="'type' of a dataset must be"):
        Data(name="m", path="x", type="table")
    with pytest.raises(NotFound, match="Dataset 'm' does not exist"):
        ws.data.get("m")
    _nothing_registered(ws, "m")


# -- URLs ----------------------------------------------------------------------------------------------
class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/to-metadata"):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        if self.path.startswith("/to-file"):
            self.send_response(302)
            self.send_header("Location", "/served.csv")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def web_root(tmp_path):
    root = tmp_path / "web"
    root.mkdir()
    handler = functools.partial(_Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_register_from_url_and_http_datastore(ws, web_root):
    root, base = web_root
    (root / "served.csv").write_text("a,b\n1,2\n3,4\n")
    data = ws.data.create_or_update(Data(name="web", path=f"{base}/served.csv"))
    assert data.source == f"{base}/served.csv" and data.row_count == 2
    assert ws.data.create_or_update(Data(name="web", path=f"{base}/to-file")).version == "2"
    ws.datastores.create_or_update(Datastore(name="site", url=base))
    via_store = ws.data.create_or_update(Data(name="web", path="azureml://datastores/site/paths/served.csv"))
    assert ws.data.load("web", via_store.version)["b"].tolist() == [2, 4]
    with pytest.raises(InvalidInput, match="answered HTTP 404"):
        ws.data.create_or_update(Data(name="web", path=f"{base}/missing.csv"))
    with pytest.raises(UnsafePath, match="169.254.169.254, a link-local or reserved address"):
        ws.data.create_or_update(Data(name="web", path=f"{base}/to-metadata"))
    assert [d.version for d in ws.data.list("web")] == ["1", "2", "3"]


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/x.csv",
                                 "http://metadata.google.internal/computeMetadata/v1/", "http://0.0.0.0/x.csv"])
def test_metadata_and_link_local_urls_are_refused(ws, url):
    with pytest.raises(UnsafePath, match="refused"):
        ws.data.create_or_update(Data(name="ssrf", path=url))
    with pytest.raises(UnsafePath):
        ws.datastores.create_or_update(Datastore(name="ssrf", url=url))


def test_unreachable_url(ws):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(BackendUnavailable, match=f"http://127.0.0.1:{port}/x.csv could not be reached"):
        ws.data.create_or_update(Data(name="down", path=f"http://127.0.0.1:{port}/x.csv"))
    _nothing_registered(ws, "down")


# -- jobs: inputs and lineage ----------------------------------------------------------------------------
@pytest.mark.slow
def test_a_job_reads_a_dataset_and_is_listed_as_its_consumer(ws, tmp_path, code_dir):
    ws.data.create_or_update(Data(name="d", path=str(_file(tmp_path, "d.csv", "x,y\n1,2\n3,4\n"))))
    ws.data.create_or_update(Data(name="d", path=str(_file(tmp_path, "d2.csv", "x,y\n5,6\n"))))
    (code_dir / "count.py").write_text(
        "import sys, pandas as pd\nprint('rows', len(pd.read_parquet(sys.argv[1])))\n")
    jobs = [ws.jobs.create_or_update(command(code=str(code_dir), command="python count.py ${{inputs.table}}",
                                                    inputs={"table": Input(type="uri_file", path=ref)}))
            for ref in ("azureml:d:1", "azureml:d@latest")]
    wait_until(lambda: all(ws.jobs.get(j.name).status.is_terminal for j in jobs), timeout=120, interval=0.3,
               what="the jobs to finish")
    assert "rows 2" in ws.jobs.get_logs(jobs[0].name)
    assert "rows 1" in ws.jobs.get_logs(jobs[1].name)
    assert [(c.job_name, c.data_version) for c in ws.data.list_consumers("d", 1)] == [(jobs[0].name, "1")]
    assert [(c.job_name, c.input_name) for c in ws.data.list_consumers("d", 2)] == [(jobs[1].name, "table")]
    assert len(ws.data.list_consumers("d")) == 2


def test_cli_register_list_show_preview_profile(ws, tmp_path, capsys):
    from studio_ext.cli import main as cli_main

    src = _file(tmp_path, "cli.tsv", "id\tprice\tnote\n1\t2,5\tx\n2\t3,5\ty\n")
    base = ["-w", str(ws.path), "data"]
    assert cli_main([*base, "register", "clidata", str(src), "--delimiter", "tab", "--decimal", ",",
                     "--column-type", "id=float", "--exclude", "note", "--tag", "k=v"]) == 0
    out = capsys.readouterr().out
    assert "Registered clidata version 1: 2 rows, 2 columns" in out and "azureml:clidata:1" in out
    assert ws.data.get("clidata").columns[0].type == "float" and ws.data.get("clidata").tags == {"k": "v"}
    assert cli_main([*base, "list"]) == 0 and "clidata" in capsys.readouterr().out
    assert cli_main([*base, "show", "clidata"]) == 0
    assert "price: float" in capsys.readouterr().out
    assert cli_main([*base, "preview", "clidata", "-n", "1"]) == 0
    assert "2.5" in capsys.readouterr().out
    assert cli_main([*base, "profile", "clidata"]) == 0
    assert "2 rows" in capsys.readouterr().out
    assert cli_main([*base, "register", "clidata", str(src), "--column-type", "id"]) == 2
    assert "--column-type 'id' must look like KEY=VALUE" in capsys.readouterr().err


def test_demo_step_registers_the_diabetes_table(ws):
    import io

    from studio_ext.demo import DemoContext, step_register_dataset

    out = io.StringIO()
    ctx = DemoContext(ws=ws, out=out)
    step_register_dataset(ctx)
    data = ws.data.get("diabetes")
    assert (data.row_count, len(data.columns)) == (442, 11) and ctx.facts["dataset"] == f"azureml:diabetes:{data.version}"
    assert ws.data.load("diabetes")["bmi"].dtype == "float64"  # read with decimal=','
    assert "[data] registered diabetes" in out.getvalue()
