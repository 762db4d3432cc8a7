"""A command job's command line, inputs and outputs as Azure ML runs them: a shell, v2 input kinds and modes,
outputs to datastores and registered as assets. Real jobs, real processes, a real http server."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from studio_ext import Input, Output, Workspace, command
from studio_ext.entities import Datastore, JobStatus, Model
from studio_ext.entities._data import Data, DataType
from studio_ext.errors import Conflict, InvalidInput, NotFound
from tests.helpers import serve

# A script that prints its arguments as JSON, one line, between markers the tests look for.
ARGS = "import json, sys\nprint('ARGS=' + json.dumps(sys.argv[1:]))\n"
PAYLOADS = ["; rm -rf ~", "$(id)", "`id`", "it's", 'say "hi"', "two\nlines", "back\\slash", "$HOME", "*"]


def ref(kind: str, name: str) -> str:
    return "${{" + kind + "." + name + "}}"


def run(ws: Workspace, timeout: float = 180, **spec: object) -> object:
    job = ws.jobs.create_or_update(command(**spec))
    done = ws.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=timeout)
    assert done.status == JobStatus.COMPLETED, f"{done.error}\n{ws.jobs.get_logs(job.name)}"
    return done


def args_of(ws: Workspace, name: str) -> list[str]:
    line = next(ln for ln in ws.jobs.get_logs(name).splitlines() if ln.startswith("ARGS="))
    return json.loads(line[len("ARGS="):])


def test_the_command_runs_in_a_shell_and_every_value_reaches_the_script_literally(
        workspace: Workspace, code_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (code_dir / "a.py").write_text(ARGS)
    inputs: dict[str, object] = {f"p{i}": v for i, v in enumerate(PAYLOADS)}
    inputs["kill"] = f"; rm -f {victim}; $(rm -f {victim}) `rm -f {victim}`"
    inputs["n"] = Input(type="integer", default=5)
    inputs["left_out"] = Input(type="number", optional=True)
    inputs["flag"] = Input(type="boolean", default="true")
    names = list(inputs)
    unquoted = " ".join(ref("inputs", k) for k in names if k not in ("left_out",))
    done = run(workspace, code=str(code_dir), inputs=inputs, outputs={"o": Output()},
               command=f'echo hi && python a.py {unquoted} "${{{{inputs.p4}}}}" \'${{{{inputs.p3}}}}\' '
                       "$[[--lr ${{inputs.left_out}}]] $[[--n ${{inputs.n}}]] > ${{outputs.o}}/x.txt")
    assert victim.read_text() == "keep me"
    assert workspace.jobs.get_logs(done.name).startswith("hi\n")
    printed = (Path(done.output_paths["o"]) / "x.txt").read_text()
    got = json.loads(printed.split("ARGS=", 1)[1])
    expected = [*PAYLOADS, inputs["kill"], "5", "True", 'say "hi"', "it's", "--n", "5"]
    assert got == expected
    assert "--lr" not in got  # the optional segment of a left-out input is dropped
    # the job keeps the declared types
    job = workspace.jobs.get(done.name)
    assert job.inputs["n"] == Input(type="integer", default=5)
    assert job.inputs["left_out"].optional and job.inputs["left_out"].default is None
    # submitted again with a typed input changed: checked against its declared type, the rest as it was
    with pytest.raises(InvalidInput, match="declared type 'integer'"):
        workspace.jobs.resubmit(done.name, inputs={"n": "seven"})
    again = workspace.jobs.stream(workspace.jobs.resubmit(done.name, inputs={"n": "7"}).name,
                                  out=open(os.devnull, "w"), timeout=180)
    assert again.status == JobStatus.COMPLETED, again.error
    redone = json.loads((Path(again.output_paths["o"]) / "x.txt").read_text().split("ARGS=", 1)[1])
    assert redone == [*expected[:len(PAYLOADS) + 1], "7", *expected[len(PAYLOADS) + 2:-1], "7"]


@pytest.mark.parametrize(("inputs", "command_line", "error", "message"), [
    ({"n": Input(type="integer", default="five")}, "python a.py ${{inputs.n}}", InvalidInput,
     "declared type 'integer' but its value is 'five'"),
    ({"n": Input(type="boolean", default=3)}, "python a.py ${{inputs.n}}", InvalidInput, "declared type 'boolean'"),
    ({"n": Input(type="integer")}, "python a.py ${{inputs.n}}", InvalidInput, "has no value"),
    ({"n": Input(type="integer", optional=True)}, "python a.py --n ${{inputs.n}}", InvalidInput,
     "outside an optional segment"),
    ({}, "python a.py ${{search_space.lr}}", InvalidInput, "'search_space' values are not known"),
    ({"d": Input(type="uri_file", path="wasbs://c@acct.blob.core.windows.net/x.csv")}, "python a.py", InvalidInput,
     "Register its storage as a datastore"),
    ({"d": Input(type="uri_folder", path="https://example.com/x.csv")}, "python a.py", InvalidInput, "a URL is one file"),
    ({"d": Input(type="uri_file", path="azureml:nothing:1")}, "python a.py", NotFound, "nothing"),
    ({"d": Input(type="uri_file", path="azureml://jobs/nojob/outputs/o")}, "python a.py", NotFound, "nojob"),
    ({"d": Input(type="uri_file", path="x.csv", mode="rw_mount")}, "python a.py", InvalidInput,
     "one of ro_mount, download, direct"),
    ({"d": Input(type="triton_model", path="x")}, "python a.py", InvalidInput, "has type 'triton_model'"),
])
def test_bad_inputs_are_refused_at_submit(workspace: Workspace, code_dir: Path, inputs: dict, command_line: str,
                                          error: type, message: str) -> None:
    (code_dir / "a.py").write_text(ARGS)
    with pytest.raises(error, match=message):
        workspace.jobs.create_or_update(command(code=str(code_dir), command=command_line, inputs=inputs))
    assert list((workspace.path / "jobs").iterdir()) == []


def test_input_kinds_paths_and_modes(workspace: Workspace, code_dir: Path, tmp_path: Path) -> None:
    (code_dir / "a.py").write_text(ARGS)
    csv = tmp_path / "diabetes.csv"
    csv.write_text("Pregnancies,Diabetic\n1,0\n2,1\n")
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "one.txt").write_text("1")
    table = tmp_path / "table"
    table.mkdir()
    (table / "MLTable").write_text("paths:\n  - file: ./diabetes.csv\ntransformations:\n  - read_delimited: {}\n")
    (table / "diabetes.csv").write_text(csv.read_text())
    workspace.data.create_or_update(Data(name="diab-file", path=str(csv), type=DataType.FILE))
    workspace.data.create_or_update(Data(name="diab-file", path=str(csv), type=DataType.FILE))
    workspace.data.create_or_update(Data(name="diab-table", path=str(csv), type=DataType.TABULAR))
    workspace.data.create_or_update(Data(name="diab-mltable", path=str(table), type=DataType.TABULAR))
    store_root = Path(workspace.datastores.get("workspaceblobstore").url.removeprefix("file://"))
    (store_root / "raw").mkdir(parents=True, exist_ok=True)
    (store_root / "raw" / "d.csv").write_text("x\n1\n")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "weights.bin").write_bytes(b"\0\1")
    workspace.models.create_or_update(Model(name="m", path=str(model_dir), type="custom_model"))
    site = tmp_path / "site"
    site.mkdir()
    (site / "remote.csv").write_text("r\n1\n")
    access = tmp_path / "access.log"
    with serve(lambda port: [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(site)], name="http", log_path=access) as server:
        url = f"http://127.0.0.1:{server.port}/remote.csv"
        inputs = {
            "file": Input(type="uri_file", path=str(csv)),
            "folder_copy": Input(type="uri_folder", path=str(folder), mode="download"),
            "table": Input(type="mltable", path=str(table)),
            "asset": Input(type="uri_file", path="azureml:diab-file@latest"),
            "asset_v1": Input(type="uri_file", path="azureml:diab-file:1"),
            "store": Input(type="uri_file", path="azureml://datastores/workspaceblobstore/paths/raw/d.csv"),
            "store_direct": Input(type="uri_folder", path="azureml://datastores/workspaceblobstore/paths/raw",
                                  mode="direct"),
            "web": Input(type="uri_file", path=url),
            "web_direct": Input(type="uri_file", path=url, mode="direct"),
            "model": Input(type="custom_model", path="azureml:m:1"),
            "parsed_table": Input(type="mltable", path="azureml:diab-table@latest"),
            "mltable_asset": Input(type="mltable", path="azureml:diab-mltable:1"),
        }
        first = run(workspace, code=str(code_dir), inputs=inputs,
                    command="python a.py " + " ".join(ref("inputs", k) for k in inputs))
        again = run(workspace, code=str(code_dir), inputs={"web": inputs["web"]}, command="python a.py ${{inputs.web}}")
    got = dict(zip(inputs, args_of(workspace, first.name)))
    assert got["file"] == str(csv)  # ro_mount: where it is
    job_dir = workspace.path / "jobs" / first.name
    assert got["folder_copy"] == str(job_dir / "inputs" / "folder_copy")  # download: a copy in the job's folder
    assert (Path(got["folder_copy"]) / "one.txt").read_text() == "1"
    assert got["table"] == str(table) and (Path(got["table"]) / "MLTable").is_file()  # an MLTable folder
    assert Path(got["asset"]).read_text() == csv.read_text() and "/diab-file/2/" in got["asset"]
    assert "/diab-file/1/" in got["asset_v1"]
    assert got["store"] == str(store_root / "raw" / "d.csv")
    assert got["store_direct"] == "azureml://datastores/workspaceblobstore/paths/raw"  # direct: the URI itself
    assert Path(got["web"]).read_text() == "r\n1\n" and got["web_direct"] == url
    assert (Path(got["model"]) / "weights.bin").read_bytes() == b"\0\1"
    for key in ("parsed_table", "mltable_asset"):  # an mltable asset is an MLTable folder, as Azure mounts it
        assert (Path(got[key]) / "MLTable").is_file(), key
    assert (Path(got["mltable_asset"]) / "diabetes.csv").read_text() == csv.read_text()
    # the URL was fetched once: the second job reused the cached file
    assert args_of(workspace, again.name) == [got["web"]]
    assert access.read_text().count("GET /remote.csv") == 1


def test_outputs_go_to_datastores_register_themselves_and_feed_other_jobs(
        workspace: Workspace, code_dir: Path, tmp_path: Path) -> None:
    (code_dir / "w.py").write_text(
        "import os, sys\n"
        "for folder in sys.argv[1:4]:\n"
        "    os.makedirs(folder, exist_ok=True)\n"
        "    open(os.path.join(folder, 'part.csv'), 'w').write('a\\n1\\n')\n"
        "open(sys.argv[4], 'w').write('single')\n"
        "print('direct', sys.argv[5])\n"
        "os.makedirs(sys.argv[6], exist_ok=True)\n"
        "open(os.path.join(sys.argv[6], 'model.pkl'), 'wb').write(b'm')\n")
    lake = tmp_path / "lake"
    lake.mkdir()
    workspace.datastores.create_or_update(Datastore(name="lake", url=lake.as_uri()))
    outputs = {
        "in_place": Output(path="azureml://datastores/workspaceblobstore/paths/prepped/v1"),
        "uploaded": Output(path="azureml://datastores/lake/paths/out/run1", mode="upload"),
        "kept": Output(type="uri_folder", name="prepped", version="1"),
        "one_file": Output(type="uri_file", path="azureml://datastores/lake/paths/files/one.txt"),
        "direct": Output(path="azureml://datastores/lake/paths/direct", mode="direct"),
        "model": Output(type="custom_model", name="job-model"),
    }
    done = run(workspace, code=str(code_dir), outputs=outputs,
               command="python w.py " + " ".join(ref("outputs", k) for k in outputs))
    store_root = Path(workspace.datastores.get("workspaceblobstore").url.removeprefix("file://"))
    assert (store_root / "prepped" / "v1" / "part.csv").read_text() == "a\n1\n"  # rw_mount: written in place
    assert (lake / "out" / "run1" / "part.csv").read_text() == "a\n1\n"  # upload: copied when the job ended
    assert (lake / "files" / "one.txt").read_text() == "single"
    assert "direct azureml://datastores/lake/paths/direct" in workspace.jobs.get_logs(done.name)
    # outputs with a name registered themselves
    data = workspace.data.get("prepped", "1")
    assert data.type == DataType.FOLDER and data.files == ["part.csv"]
    model = workspace.models.get("job-model")
    assert model.version == "1" and set(model.files) == {"model/model.pkl"}
    assert model.properties["azureml.job_name"] == done.name
    log = workspace.jobs.get_logs(done.name)
    assert "[studio-ext] Registered output 'kept' as data asset azureml:prepped:1." in log
    assert "[studio-ext] Registered output 'model' as model azureml:job-model:1." in log
    assert done.output_paths["uploaded"] == "azureml://datastores/lake/paths/out/run1"
    # named outputs download as azure-ai-ml lays them out, from wherever they were written
    workspace.jobs.download(done.name, download_path=tmp_path / "dl", all=True)
    for key in ("in_place", "uploaded", "kept"):
        assert (tmp_path / "dl" / "named-outputs" / key / "part.csv").read_text() == "a\n1\n"
    assert (tmp_path / "dl" / "named-outputs" / "one_file" / "one.txt").read_text() == "single"
    # another job reads this one's output
    (code_dir / "a.py").write_text(ARGS)
    reader = run(workspace, code=str(code_dir), command="python a.py ${{inputs.prev}} ${{inputs.prev2}}", inputs={
        "prev": Input(type="uri_folder", path=f"azureml://jobs/{done.name}/outputs/uploaded"),
        "prev2": Input(type="uri_folder", path=f"azureml://jobs/{done.name}/outputs/kept")})
    first, second = args_of(workspace, reader.name)
    assert (Path(first) / "part.csv").read_text() == "a\n1\n" and (Path(second) / "part.csv").exists()
    # the asset version is taken now: the same job again is refused before it runs
    with pytest.raises(Conflict, match="data asset 'prepped' version 1, which exists already"):
        workspace.jobs.create_or_update(command(code=str(code_dir), command="python a.py",
                                                outputs={"kept": Output(name="prepped", version="1")}))


def test_an_output_bound_for_nowhere_is_refused(workspace: Workspace, code_dir: Path) -> None:
    (code_dir / "a.py").write_text(ARGS)
    for output, message in [(Output(path="./local/folder"), "azureml://datastores/NAME/paths/PATH"),
                            (Output(path="azureml://datastores/nostore/paths/x"), "nostore"),
                            (Output(mode="ro_mount"), "one of rw_mount, upload, direct"),
                            (Output(type="uri_file", name="bad name"), "bad name")]:
        with pytest.raises((InvalidInput, NotFound), match=message):
            workspace.jobs.create_or_update(command(code=str(code_dir), command="python a.py", outputs={"o": output}))


def test_an_azure_ai_ml_command_runs_as_written(workspace: Workspace, code_dir: Path) -> None:
    from azure.ai.ml import Input as AzureInput
    from azure.ai.ml import Output as AzureOutput
    from azure.ai.ml import command as azure_command

    (code_dir / "prep.py").write_text(ARGS + "import os\nopen(os.path.join(sys.argv[-1], 'prepped.csv'), 'w').write('a\\n1\\n')\n")
    job = azure_command(
        code=str(code_dir), compute="local",
        command="python prep.py --n ${{inputs.n}} $[[--x ${{inputs.x}}]] $[[--d ${{inputs.d}}]] ${{outputs.unused}} "
                "${{outputs.prepped}}",
        inputs={"n": AzureInput(type="integer", default=5), "x": AzureInput(type="number", optional=True),
                "d": AzureInput(type="uri_file", optional=True)},
        outputs={"prepped": AzureOutput(type="uri_folder", name="prepped-az", version="1",
                                        path="azureml://datastores/workspaceblobstore/paths/azout/"),
                 "unused": AzureOutput(type="uri_folder", name="never-written")})
    done = workspace.jobs.stream(workspace.jobs.create_or_update(job).name, out=open(os.devnull, "w"), timeout=180)
    assert done.status == JobStatus.COMPLETED, workspace.jobs.get_logs(done.name)
    args = args_of(workspace, done.name)
    assert args[:2] == ["--n", "5"] and len(args) == 4  # the two optional segments are dropped
    assert workspace.data.get("prepped-az", "1").type == DataType.FOLDER
    assert "Output 'unused' is empty: not registered as 'never-written'." in workspace.jobs.get_logs(done.name)
    with pytest.raises(NotFound):
        workspace.data.get("never-written")


def test_a_job_reads_and_writes_a_blob_datastore(workspace: Workspace, code_dir: Path, tmp_path: Path,
                                                  azurite: object) -> None:
    from azure.ai.ml.entities import AccountKeyConfiguration, AzureBlobDatastore

    azurite.create_container("job-io")
    azurite.upload("job-io", "raw/diabetes.csv", b"PatientID,Diabetic\n1,0\n2,1\n")
    workspace.datastores.create_or_update(AzureBlobDatastore(
        name="blob_jobs", account_name=azurite.account, container_name="job-io",
        credentials=AccountKeyConfiguration(account_key=azurite.account_key), **azurite.datastore_endpoint))
    (code_dir / "copy.py").write_text(
        "import os, shutil, sys\n"
        "shutil.copy(sys.argv[1], os.path.join(sys.argv[2], 'copied.csv'))\n"
        "open(sys.argv[3], 'w').write('one file')\n")
    done = run(workspace, code=str(code_dir),
               command="python copy.py ${{inputs.raw}} ${{outputs.folder}} ${{outputs.file}}",
               inputs={"raw": Input(type="uri_file", path="azureml://datastores/blob_jobs/paths/raw/diabetes.csv")},
               outputs={"folder": Output(path="azureml://datastores/blob_jobs/paths/prepped/"),  # rw_mount: at the end
                        "file": Output(type="uri_file", path="azureml://datastores/blob_jobs/paths/single/f.txt",
                                       mode="upload", name="blob-file")})
    assert azurite.read("job-io", "prepped/copied.csv") == b"PatientID,Diabetic\n1,0\n2,1\n"
    assert azurite.read("job-io", "single/f.txt") == b"one file"
    assert workspace.data.get("blob-file").type == DataType.FILE
    workspace.jobs.download(done.name, download_path=tmp_path, output_name="folder")  # read back from the blob store
    assert (tmp_path / "named-outputs" / "folder" / "copied.csv").read_bytes().startswith(b"PatientID")
