"""``import mltable`` where Microsoft's package is absent: the studio's stand-in, in real job
processes and kernels, and never in place of a real ``mltable``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from studio_ext.cli_groups.workspace import studio_environment
from studio_ext.compat import FALLBACK_HOOK, with_fallback_hook
from studio_ext.compat import mltable as local_mltable
from studio_ext.entities import Data, Datastore
from studio_ext.errors import InvalidInput, NotInLocalFallback

DIABETES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dp100" / "diabetes.csv"
LAB03_MLTABLE = ("paths:\n  - file: ./diabetes.csv\ntransformations:\n  - read_delimited:\n"
                 "      delimiter: ','\n      encoding: ascii\n")


@pytest.fixture(scope="module")
def ws(module_workspace):
    return module_workspace


def _table_folder(parent: Path, name: str = "data", spec: str = LAB03_MLTABLE) -> Path:
    folder = parent / name
    folder.mkdir(parents=True)
    shutil.copy(DIABETES, folder / "diabetes.csv")
    (folder / "MLTable").write_text(spec)
    return folder


def _python(code: str, pythonpath: str, cwd: Path, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = pythonpath
    return subprocess.run([python, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


# -- the module ------------------------------------------------------------------------------------
def test_the_stand_in_reads_saves_and_transforms_as_the_package_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(DIABETES, tmp_path / "diabetes.csv")
    tbl = local_mltable.from_delimited_files(paths=[{"file": "./diabetes.csv"}])
    assert tbl.paths == [{"file": "./diabetes.csv"}]
    assert len(tbl.show(3)) == 3
    tbl.filter('col("Age") > 50').keep_columns(["PatientID", "Age"]).save("./data", colocated=True)
    assert (tmp_path / "data" / "diabetes.csv").is_file()
    saved = local_mltable.load("./data")
    assert saved.paths == [{"file": "./diabetes.csv"}]
    frame = saved.to_pandas_dataframe()
    assert list(frame.columns) == ["PatientID", "Age"] and len(frame) > 0 and (frame["Age"] > 50).all()
    assert list(saved.take(5).drop_columns("Age").to_pandas_dataframe().columns) == ["PatientID"]
    assert len(local_mltable.load(tmp_path / "data" / "MLTable").skip(10).to_pandas_dataframe()) == len(frame) - 10

    # not colocated: the file stays where it is and the MLTable file points at it
    local_mltable.from_delimited_files(paths=[{"file": "./diabetes.csv"}]).save("other")
    assert "../diabetes.csv" in (tmp_path / "other" / "MLTable").read_text()
    assert len(local_mltable.load("other").to_pandas_dataframe()) == 10000

    frame.to_parquet(tmp_path / "part.parquet")
    assert local_mltable.from_parquet_files([{"pattern": "./*.parquet"}]).to_pandas_dataframe().equals(frame)
    frame.to_json(tmp_path / "rows.jsonl", orient="records", lines=True)
    assert len(local_mltable.from_json_lines_files([{"file": "rows.jsonl"}]).to_pandas_dataframe()) == len(frame)


def test_what_the_stand_in_lacks_is_an_attribute_error_naming_the_full_package(tmp_path):
    tbl = local_mltable.load(_table_folder(tmp_path))
    for missing in (lambda: tbl.random_split(0.5), lambda: local_mltable.from_paths, lambda: local_mltable.DataType):
        with pytest.raises(NotInLocalFallback, match="pip or conda spec") as caught:
            missing()
        assert isinstance(caught.value, AttributeError)
    assert not hasattr(tbl, "to_dask_dataframe")
    with pytest.raises(NotInLocalFallback, match="https://"):
        local_mltable.load("https://example.com/data")


def test_azureml_references_need_a_workspace(tmp_path, monkeypatch):
    monkeypatch.delenv("STUDIO_EXT_WORKSPACE", raising=False)
    with pytest.raises(InvalidInput, match="STUDIO_EXT_WORKSPACE"):
        local_mltable.load("azureml:/azureml:diabetes-table:1")


def test_data_assets_and_datastore_paths_load_through_the_workspace(ws, tmp_path, monkeypatch):
    folder = _table_folder(tmp_path, spec=LAB03_MLTABLE + "  - take: 7\n")
    data = ws.data.create_or_update(Data(name="fallback-table", path=str(folder), type="mltable"))
    monkeypatch.setenv("STUDIO_EXT_WORKSPACE", str(ws.path))
    for uri in (f"azureml:/{data.id}", data.id, "azureml:fallback-table@latest",
                f"azureml://subscriptions/0/resourcegroups/rg/workspaces/w/data/fallback-table/versions/{data.version}"):
        assert len(local_mltable.load(uri).to_pandas_dataframe()) == 7, uri
    monkeypatch.delenv("STUDIO_EXT_WORKSPACE")
    assert len(local_mltable.load(data.id, ml_client=ws).to_pandas_dataframe()) == 7

    _table_folder(tmp_path / "store" / "on-store", name="t")
    ws.datastores.create_or_update(Datastore(name="fallback_store", url=(tmp_path / "store").as_uri()))
    stored = local_mltable.load("azureml://datastores/fallback_store/paths/on-store/t", ml_client=ws)
    assert len(stored.to_pandas_dataframe()) == 10000


# -- the finder: last in sys.meta_path ----------------------------------------------------------------
def test_the_finder_is_last_and_a_real_mltable_on_the_path_wins(tmp_path):
    hook = with_fallback_hook(None)
    probe = ("import sys, mltable; print(mltable.__name__, getattr(mltable, 'REAL', False), "
             "type(sys.meta_path[-1]).__name__)")
    alone = _python(probe, hook, tmp_path)
    assert alone.returncode == 0, alone.stderr
    assert alone.stdout.split() == ["studio_ext.compat.mltable", "False", "_FallbackFinder"]

    real = tmp_path / "site" / "mltable"
    real.mkdir(parents=True)
    (real / "__init__.py").write_text("REAL = True\n")
    shadowed = _python(probe, os.pathsep.join([hook, str(tmp_path / "site")]), tmp_path)
    assert shadowed.returncode == 0, shadowed.stderr
    assert shadowed.stdout.split() == ["mltable", "True", "_FallbackFinder"]  # the real one, the finder unused
    first = _python(probe, os.pathsep.join([str(tmp_path / "site"), hook]), tmp_path)
    assert first.stdout.split() == ["mltable", "True", "_FallbackFinder"]


def test_a_sitecustomize_after_the_hook_still_runs_and_the_finder_is_added_once(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import builtins; builtins.OTHER_SITE = True\n")
    hooks = with_fallback_hook(str(other), FALLBACK_HOOK)  # the hook twice, as two PYTHONPATH owners may add it
    assert hooks.split(os.pathsep) == [FALLBACK_HOOK, str(other)]
    out = _python("import sys, builtins; print(builtins.OTHER_SITE, "
                  "sum(type(f).__name__ == '_FallbackFinder' for f in sys.meta_path))",
                  os.pathsep.join([FALLBACK_HOOK, FALLBACK_HOOK, str(other)]), tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "1"]


def test_a_venv_without_the_studio_says_to_add_mltable_to_its_spec(tmp_path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True, timeout=120)
    python = str(tmp_path / "venv" / "bin" / "python")
    out = _python("import mltable", FALLBACK_HOOK, tmp_path, python=python)
    assert out.returncode == 1
    assert "ModuleNotFoundError: No module named 'mltable'" in out.stderr
    assert "Add 'mltable' to the job environment's pip or conda spec" in out.stderr


# -- real processes: a job and a kernel -----------------------------------------------------------------
@pytest.mark.slow
def test_a_job_on_a_curated_environment_reads_its_mltable_input_with_mltable_load(ws, tmp_path, code_dir):
    from studio_ext import Input, command
    from tests.helpers import completed_log

    folder = _table_folder(tmp_path, spec=LAB03_MLTABLE + "  - filter: 'col(\"Age\") > 50'\n")
    data = ws.data.create_or_update(Data(name="fallback-job-table", path=str(folder), type="mltable"))
    (code_dir / "read.py").write_text(
        "import argparse\nimport mltable\n"
        "parser = argparse.ArgumentParser()\nparser.add_argument('--input')\nargs = parser.parse_args()\n"
        "tbl = mltable.load(args.input)\ndf = tbl.to_pandas_dataframe()\n"
        "print('module', mltable.__name__, 'rows', len(df), 'old', bool((df['Age'] > 50).all()))\n")
    job = ws.jobs.create_or_update(command(code=str(code_dir), command="python read.py --input ${{inputs.table}}",
                                           inputs={"table": Input(type="mltable", path=data.reference)},
                                           environment="AzureML-sklearn-1.5@latest"))
    log = completed_log(ws, job, timeout=300)
    assert f"module studio_ext.compat.mltable rows {data.row_count} old True" in log


@pytest.fixture
def studio_kernel(ws, tmp_path: Path) -> Iterator[object]:
    """A kernel started with the environment ``studio-ext studio`` gives JupyterLab's kernels."""
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=studio_environment(ws), cwd=str(tmp_path))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.mark.slow
def test_a_studio_kernel_loads_a_data_asset_by_its_id(ws, tmp_path, studio_kernel):
    data = ws.data.create_or_update(Data(name="fallback-kernel-table", path=str(_table_folder(tmp_path)),
                                         type="mltable"))
    printed: list[str] = []

    def collect(message: dict) -> None:
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            printed.append("\n".join(message["content"]["traceback"]))

    reply = studio_kernel.execute_interactive(  # type: ignore[attr-defined]
        "import mltable\n"
        f"tbl = mltable.load(f\"azureml:/{{'{data.id}'}}\")\n"
        "df = tbl.to_pandas_dataframe()\n"
        "print(mltable.__name__, df.shape)\n", timeout=120, output_hook=collect)
    assert reply["content"]["status"] == "ok", "".join(printed)
    assert "".join(printed).split() == ["studio_ext.compat.mltable", "(10000,", "10)"]
