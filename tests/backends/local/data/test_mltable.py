"""MLTable folders as mltable data assets: paths and transformations honoured by preview,
profile and load; the folder kept whole for jobs; clear errors for what is missing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from studio_ext.entities import Data
from studio_ext.errors import Conflict, InvalidInput, UnsafePath
from studio_ext.ml import mltable
from studio_ext.translation import to_azure
from tests.backends.local.data.test_data import web_root  # noqa: F401 - a fixture: a web server on 127.0.0.1

DIABETES = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "dp100" / "diabetes.csv"


@pytest.fixture(scope="module")
def ws(module_workspace):
    return module_workspace


def _folder(tmp_path: Path, spec: str, files: dict[str, str | bytes] | None = None, name: str = "table") -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLTable").write_text(spec)
    for rel, content in (files or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(content.encode() if isinstance(content, str) else content)
    return folder


def test_the_dp100_mltable_folder_registers_and_reads(ws, tmp_path):
    """Lab 03's folder: an MLTable file beside diabetes.csv, read_delimited with an ascii encoding."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(DIABETES, folder / "diabetes.csv")
    (folder / "MLTable").write_text("# MLTable definition file\n\npaths:\n  - file: ./diabetes.csv\n"
                                    "transformations:\n  - read_delimited:\n        delimiter: ','\n"
                                    "        encoding: 'ascii'\n")
    data = ws.data.create_or_update(Data(name="diabetes-table", path=str(folder), type="mltable"))
    expected = pd.read_csv(DIABETES)
    assert data.row_count == len(expected) == 10000 and data.files == ["MLTable", "diabetes.csv"]
    assert data.path == "azureml://datastores/workspaceblobstore/paths/diabetes-table/1/source/"
    assert data.read_options is None
    pd.testing.assert_frame_equal(ws.data.load("diabetes-table"), expected)
    assert ws.data.preview("diabetes-table", n=3)["PatientID"].tolist() == expected["PatientID"][:3].tolist()
    assert ws.data.profile("diabetes-table").column("Age").max == expected["Age"].max()
    # a job's mltable input gets the folder as registered: its MLTable file and its data
    job_folder = ws.data.mltable_folder("diabetes-table")
    assert sorted(p.name for p in job_folder.iterdir()) == ["MLTable", "diabetes.csv"]
    assert ws.data.resolve_input_path("azureml:diabetes-table:1", type="mltable") == str(job_folder)
    assert ws.data.resolve_input_path("azureml:diabetes-table@latest").endswith("data.parquet")
    # it exports as Azure's mltable asset on its folder
    exported = to_azure(ws.data.get("diabetes-table"))
    assert (exported.type, exported.path) == ("mltable", data.path)


def test_paths_and_read_delimited_options(ws, tmp_path):
    spec = ("type: mltable\npaths:\n  - pattern: ./parts/*.csv\n  - file: ./extra/c.csv\n"
            "transformations:\n  - read_delimited:\n      delimiter: ';'\n      header: from_first_file\n"
            "      include_path_column: true\n      empty_as_string: true\n")
    folder = _folder(tmp_path, spec, {"parts/a.csv": "k;v;s\n1;2.5;x\n", "parts/b.csv": "2;3;\n",
                                      "parts/notes.txt": "not matched", "extra/c.csv": "3;4;z\n"})
    ws.data.create_or_update(Data(name="opts", path=str(folder), type="mltable"))
    frame = ws.data.load("opts")
    assert frame.columns.tolist() == ["k", "v", "s", "Path"]
    assert frame["k"].tolist() == [1, 2, 3] and frame["v"].tolist() == [2.5, 3.0, 4.0]
    assert frame["s"].tolist() == ["x", "", "z"]  # empty_as_string keeps the empty text
    assert frame["Path"].tolist() == ["parts/a.csv", "parts/b.csv", "extra/c.csv"]

    spec = ("paths:\n  - folder: ./parts\ntransformations:\n  - read_delimited:\n      header: no_header\n"
            "      infer_column_types: false\n      encoding: latin1\n")
    folder = _folder(tmp_path, spec, {"parts/a.csv": "1,caf\xe9\n".encode("latin-1"), "parts/b.csv": "2,b\n"},
                     name="noheader")
    ws.data.create_or_update(Data(name="noheader", path=str(folder), type="mltable"))
    frame = ws.data.load("noheader")
    assert frame.columns.tolist() == ["Column1", "Column2"] and frame["Column1"].tolist() == ["1", "2"]
    assert frame["Column2"].tolist() == ["café", "b"]

    spec = ("paths:\n  - pattern: ./*.csv\ntransformations:\n  - read_delimited:\n"
            "      header: all_files_different_headers\n")
    folder = _folder(tmp_path, spec, {"a.csv": "k,v\n1,2\n", "b.csv": "k,w\n2,x\n"}, name="different")
    frame = ws.data.load(ws.data.create_or_update(Data(name="different", path=str(folder), type="mltable")).name)
    assert frame.columns.tolist() == ["k", "v", "w"] and frame["w"].tolist()[1] == "x" and pd.isna(frame["v"][1])


def test_parquet_and_json_lines(ws, tmp_path):
    folder = tmp_path / "pq"
    folder.mkdir()
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), folder / "one.parquet")
    pq.write_table(pa.table({"a": [3], "b": ["z"]}), folder / "two.parquet")
    (folder / "MLTable").write_text("paths:\n  - pattern: ./*.parquet\ntransformations:\n"
                                    "  - read_parquet:\n      include_path_column: true\n")
    frame = ws.data.load(ws.data.create_or_update(Data(name="pq", path=str(folder), type="mltable")).name)
    assert frame.to_dict("list") == {"a": [1, 2, 3], "b": ["x", "y", "z"],
                                     "Path": ["one.parquet", "one.parquet", "two.parquet"]}

    lines = '{"id": 1, "t": "a"}\nnot json\n{"id": 2, "t": "b"}\n'
    spec = "paths:\n  - file: ./orders.jsonl\ntransformations:\n  - read_json_lines:\n      invalid_lines: {mode}\n"
    folder = _folder(tmp_path, spec.format(mode="drop"), {"orders.jsonl": lines}, name="json")
    frame = ws.data.load(ws.data.create_or_update(Data(name="json", path=str(folder), type="mltable")).name)
    assert frame.to_dict("list") == {"id": [1, 2], "t": ["a", "b"]}
    folder = _folder(tmp_path, spec.format(mode="error"), {"orders.jsonl": lines}, name="json-error")
    with pytest.raises(InvalidInput, match=r"orders.jsonl: line 2 is not a JSON object .*invalid_lines: drop"):
        ws.data.create_or_update(Data(name="json-error", path=str(folder), type="mltable"))


def test_transformations_after_the_read(ws, tmp_path):
    rows = "\n".join(f"{i},{'UK' if i % 2 else 'FR'},{i * 10},{'yes' if i % 3 else 'no'},0{i % 9 + 1}/01/2024"
                     for i in range(100))
    spec = """paths:
  - file: ./t.csv
transformations:
  - read_delimited:
      delimiter: ','
  - filter: 'col("location") == "UK" and col("temperature") > 320 or not col("id") < 99'
  - convert_column_types:
      - columns: [hot]
        column_type:
          boolean:
            true_values: ['yes']
            false_values: ['no']
      - columns: day
        column_type:
          datetime:
            formats: ['%d/%m/%Y']
      - columns: temperature
        column_type: float
  - drop_columns: location
  - skip: 1
  - take: 5
"""
    folder = _folder(tmp_path, spec, {"t.csv": "id,location,temperature,hot,day\n" + rows + "\n"})
    data = ws.data.create_or_update(Data(name="steps", path=str(folder), type="mltable"))
    frame = ws.data.load("steps")
    assert frame["id"].tolist() == [35, 37, 39, 41, 43] and data.row_count == 5
    assert frame.columns.tolist() == ["id", "temperature", "hot", "day"]
    assert frame["temperature"].dtype == "float64" and frame["hot"].tolist() == [True, True, False, True, True]
    assert frame["day"].iloc[0] == pd.Timestamp("2024-01-09")
    assert [c.type for c in data.columns] == ["integer", "float", "boolean", "datetime"]

    sample = ("paths:\n  - file: ./t.csv\ntransformations:\n  - read_delimited: {}\n"
              "  - take_random_sample:\n      probability: 0.3\n      seed: 7\n  - keep_columns: [id]\n")
    folder = _folder(tmp_path, sample, {"t.csv": "id,x\n" + "\n".join(f"{i},{i}" for i in range(1000)) + "\n"},
                     name="sample")
    first = ws.data.load(ws.data.create_or_update(Data(name="sample", path=str(folder), type="mltable")).name)
    again = ws.data.load(ws.data.create_or_update(Data(name="sample", path=str(folder), type="mltable")).name,
                         version=2)
    assert 200 < len(first) < 400 and first["id"].tolist() == again["id"].tolist()  # the seed repeats the sample


def test_read_options_do_not_apply_to_an_mltable_folder(ws, tmp_path):
    folder = _folder(tmp_path, "paths:\n  - file: ./a.csv\ntransformations:\n  - read_delimited: {}\n",
                     {"a.csv": "a;b\n1;2\n"})
    with pytest.raises(InvalidInput, match="is an MLTable folder: its MLTable file says how to read the data"):
        ws.data.create_or_update(Data(name="opts-given", path=str(folder), read_options={"delimiter": ";"}))
    # the defaults (what a form sends when nothing was changed) are no reason to refuse
    data = ws.data.create_or_update(Data(name="opts-given", path=str(folder), read_options={"encoding": "utf-8"}))
    assert data.read_options is None and [c.name for c in data.columns] == ["a;b"]


def test_preview_source_reads_an_mltable_folder(ws, tmp_path):
    folder = _folder(tmp_path, "paths:\n  - file: ./a.csv\ntransformations:\n  - read_delimited: {}\n"
                               "  - keep_columns: [b]\n", {"a.csv": "a,b\n1,2\n3,4\n5,6\n"})
    preview = ws.data.preview_source(path=str(folder), n=2)
    assert preview.frame.to_dict("list") == {"b": [2, 4]} and [c.name for c in preview.columns] == ["b"]


def test_a_csv_file_registered_as_mltable_keeps_working(ws, tmp_path):
    """studio_ext's own tabular registration: the version folder is itself an MLTable folder for jobs."""
    src = tmp_path / "plain.csv"
    src.write_text("x,y\n1,2\n3,4\n")
    data = ws.data.create_or_update(Data(name="plain", path=str(src), type="mltable"))
    assert data.row_count == 2 and data.path == "azureml://datastores/workspaceblobstore/paths/plain/1/"
    folder = ws.data.mltable_folder("plain")
    assert folder == Path(data.local_path) and mltable.parse((folder / "MLTable").read_text()).read == "read_parquet"
    (folder / "MLTable").unlink()  # a version registered before the file was written gets it on first use
    assert (ws.data.mltable_folder("plain") / "MLTable").is_file()
    with pytest.raises(Conflict, match="not an mltable one"):
        ws.data.create_or_update(Data(name="afile", path=str(src), type="uri_file"))
        ws.data.mltable_folder("afile")


def test_azure_mltable_asset_must_be_an_mltable_folder(ws, tmp_path):
    from azure.ai.ml.entities import Data as AzureData

    from studio_ext.translation import from_azure_any

    folder = tmp_path / "csvs"
    folder.mkdir()
    (folder / "a.csv").write_text("x\n1\n")
    (folder / "b.csv").write_text("x\n2\n")
    with pytest.raises(InvalidInput, match=r"csvs has no MLTable file.*Add one, for example:\n\npaths:\n  - pattern"):
        ws.data.create_or_update(AzureData(name="bare", path=str(folder), type="mltable"))
    assert ws.data.list("bare") == []
    # studio_ext's own tabular datasets still read a folder of delimited files with read options
    studio = Data(name="bare", path=str(folder), type="mltable", read_options={"header": "all_files_same"})
    assert ws.data.create_or_update(studio).row_count == 2
    (folder / "img.png").write_bytes(b"\x89PNG")
    with pytest.raises(InvalidInput, match=r"'img.png' is not a delimited text file.*add an MLTable file"):
        ws.data.create_or_update(Data(name="mixed", path=str(folder), type="mltable"))
    (folder / "MLTable").write_text("paths:\n  - pattern: ./*.csv\ntransformations:\n  - read_delimited: {}\n")
    with pytest.raises(InvalidInput, match="is an MLTable file; register the folder"):
        ws.data.create_or_update(Data(name="file-only", path=str(folder / "MLTable"), type="mltable"))
    assert ws.data.create_or_update(AzureData(name="mixed", path=str(folder), type="mltable")).row_count == 2
    # a CSV file as mltable is read (studio_ext's tabular dataset), with a note that Azure wants the folder
    noted = from_azure_any(AzureData(name="one", path=str(folder / "a.csv"), type="mltable"))
    assert [n.field for n in noted.notes] == ["path"] and "Azure ML's mltable asset is a folder" in str(noted.notes[0])


@pytest.mark.parametrize(("spec", "message"), [
    ("paths: [1]", r"each item of 'paths' is one of"),
    ("transformations: []", r"needs a 'paths:' list"),
    ("paths:\n  - file: ./a.csv\ntransformations:\n  - read_delta_lake: {version_as_of: 1}\n",
     "'read_delta_lake' is not supported locally: Delta Lake"),
    ("paths:\n  - file: ./a.csv\ntransformations:\n  - explode: 1\n", "unknown transformation 'explode'"),
    ("paths:\n  - file: ./a.csv\ntransformations:\n  - read_delimited: {header: sometimes}\n",
     "header must be one of all_files_same_headers"),
    ("paths:\n  - file: ./a.csv\ntransformations:\n  - read_delimited: {encoding: klingon}\n",
     "encoding 'klingon' is not one of utf8"),
    ("paths:\n  - file: ./a.csv\ntransformations:\n  - read_delimited: {}\n  - filter: '__import__(\"os\")'\n",
     "which a filter cannot hold"),
    ("paths:\n  - file: ./a.csv\ntransformations:\n  - read_delimited: {}\n  - filter: 'col(\"nope\") > 1'\n",
     "filter 'col\\(\"nope\"\\) > 1' cannot be applied"),
    ("paths:\n  - file: ./a.csv\ntransformations:\n  - read_delimited: {}\n  - keep_columns: [zz]\n",
     "keep_columns names the column 'zz', which the table does not have. Its columns are: a, b"),
    ("paths:\n  - file: ./missing.csv\n", r"file './missing.csv' does not exist in its folder"),
    ("paths:\n  - file: wasbs://c@acct.blob.core.windows.net/a.csv\n",
     r"wasbs:// URL, which is not read here. Register the storage as a datastore"),
    ("paths: [: bad", r"MLTable is not valid YAML \(line 1\)"),
])
def test_bad_mltable_files_are_refused_and_nothing_is_registered(ws, tmp_path, spec, message):
    folder = _folder(tmp_path, spec, {"a.csv": "a,b\n1,2\n"})
    with pytest.raises(InvalidInput, match=message):
        ws.data.create_or_update(Data(name="bad", path=str(folder), type="mltable"))
    assert ws.data.list("bad", include_archived=True) == []
    assert not any((ws.path / "datastore" / ".staging").iterdir())


def test_mltable_paths_cannot_leave_their_folder(ws, tmp_path):
    (tmp_path / "secret.csv").write_text("a\n1\n")
    for spec in ("paths:\n  - file: ../secret.csv\n", "paths:\n  - pattern: ../*.csv\n"):
        folder = _folder(tmp_path, spec + "transformations:\n  - read_delimited: {}\n")
        with pytest.raises(UnsafePath, match="leaves its folder"):
            ws.data.create_or_update(Data(name="escape", path=str(folder), type="mltable"))


def test_an_mltable_path_on_a_web_server(ws, tmp_path, web_root):  # noqa: F811 - the imported fixture
    root, base = web_root
    (root / "iris.csv").write_text("sepal,species\n5.1,setosa\n7.0,versicolor\n")
    folder = _folder(tmp_path, f"paths:\n  - file: {base}/iris.csv\ntransformations:\n  - read_delimited:\n"
                               "      delimiter: ','\n      header: all_files_same_headers\n"
                               "      include_path_column: true\n", name="iris")
    data = ws.data.create_or_update(Data(name="iris-from-https", path=str(folder), type="mltable"))
    frame = ws.data.load("iris-from-https")
    assert frame["species"].tolist() == ["setosa", "versicolor"] and set(frame["Path"]) == {f"{base}/iris.csv"}
    assert data.files == ["MLTable"]  # the data stays where the MLTable points


def test_no_read_step_gives_the_table_of_paths(ws, tmp_path):
    folder = _folder(tmp_path, "paths:\n  - pattern: ./img/*.png\n", {"img/a.png": b"1", "img/b.png": b"2"})
    frame = ws.data.load(ws.data.create_or_update(Data(name="images", path=str(folder), type="mltable")).name)
    assert frame.to_dict("list") == {"Path": ["img/a.png", "img/b.png"]}


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("*.csv", "a.csv", True), ("*.csv", "sub/a.csv", False), ("**/*.csv", "a.csv", True),
    ("**/*.csv", "x/y/a.csv", True), ("sub/*.csv", "sub/a.csv", True), ("a?.csv", "ab.csv", True),
    ("a?.csv", "a/.csv", False), ("[ab].csv", "b.csv", True), ("[!ab].csv", "b.csv", False), ("**", "x/y", True),
])
def test_patterns_are_globs(pattern, path, matches):
    assert mltable.glob_match(pattern, path) is matches


def test_the_engine_parses_every_documented_read_option():
    spec = mltable.parse(json.dumps({"paths": [{"pattern": "./*.csv"}], "transformations": [{"read_delimited": {
        "delimiter": "\t", "header": "no_header", "encoding": "utf8bom", "empty_as_string": True,
        "include_path_column": True, "infer_column_types": False, "support_multi_line": True}}]}))
    assert spec.read == "read_delimited" and spec.read_options["encoding"] == "utf-8-sig"
    assert spec.paths == [mltable.PathEntry("pattern", "./*.csv")]
    with pytest.raises(InvalidInput, match="must be the first transformation"):
        mltable.parse("paths: [{file: a}]\ntransformations:\n  - take: 1\n  - read_parquet: {}\n")


@pytest.mark.slow
def test_a_job_environment_with_microsofts_mltable_reads_the_registered_folder(ws, tmp_path, code_dir):
    """Microsoft's mltable pins azure-identity<=1.17 and cloudpickle<3, so it lives in a job's venv, not the
    studio's interpreter: a pip spec builds that venv (about 30 s with a warm pip cache) and the script reads
    the mltable input with mltable.load, as on Azure."""
    from studio_ext import Input, command
    from studio_ext.entities import Environment
    from tests.helpers import completed_log

    folder = _folder(tmp_path, "paths:\n  - file: ./diabetes.csv\ntransformations:\n  - read_delimited:\n"
                               "      delimiter: ','\n      encoding: ascii\n  - filter: 'col(\"Age\") > 50'\n"
                               "  - keep_columns: [PatientID, Age]\n", name="job-table")
    shutil.copy(DIABETES, folder / "diabetes.csv")
    data = ws.data.create_or_update(Data(name="job-table", path=str(folder), type="mltable"))
    env = ws.environments.create_or_update(Environment(name="mltable-env", pip_requirements=["mltable", "pandas"]))
    (code_dir / "read.py").write_text(
        "import sys, mltable\n"
        "df = mltable.load(sys.argv[1]).to_pandas_dataframe()\n"
        "print('shape', df.shape, 'columns', list(df.columns))\n"
        "print('mltable module:', mltable.__name__, '.')\n")
    job = ws.jobs.create_or_update(command(code=str(code_dir), command="python read.py ${{inputs.table}}",
                                           inputs={"table": Input(type="mltable", path=data.reference)},
                                           environment=f"{env.name}:{env.version}"))
    log = completed_log(ws, job, timeout=600)
    assert f"shape ({data.row_count}, 2) columns ['PatientID', 'Age']" in log  # the same rows the studio read
    assert "mltable module: mltable ." in log  # Microsoft's package, not the studio's stand-in (studio_ext.compat)
