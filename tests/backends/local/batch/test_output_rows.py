"""The batch output folder's rows file and the worker's CSV text, without a cluster (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studio_ext.backends.local.batch import scoring
from studio_ext.backends.local.batch.minibatches import OutputState


def test_a_mini_batch_committed_twice_is_written_once_and_bytes_with_no_line_are_never_read(tmp_path: Path) -> None:
    state = OutputState(tmp_path, "predictions.csv")
    assert state.open("plan-a") == ({}, None)
    state.commit(1, 1, b"1,b\n", attempts=1)
    state.commit(0, 1, "0,a\n", attempts=1)
    state.commit(1, 1, b"1,b\n", attempts=2)  # a retry whose first try also came back
    state.close()
    with open(state.rows_file, "ab") as rows:  # a driver killed between its rows and their manifest line
        rows.write(b"9,lost\n")

    again = OutputState(tmp_path, "predictions.csv")
    committed, note = again.open("plan-a")
    assert note is None and sorted(committed) == [0, 1] and committed[1]["attempts"] == 2
    again.commit(2, 1, b"2,c\n", attempts=1)  # appended after the bytes nobody reads
    assert again.assemble([0, 1, 2]) == len(b"0,a\n1,b\n2,c\n")
    assert (tmp_path / "predictions.csv").read_bytes() == b"0,a\n1,b\n2,c\n"
    again.finish(complete=True, summary={"output_bytes": 12})
    assert sorted(p.name for p in (tmp_path / ".batch").iterdir()) == ["done.json", "manifest.jsonl", "plan.json"]

    other = OutputState(tmp_path, "predictions.csv")
    committed, note = other.open("plan-b")  # another input: its rows do not belong to this one
    assert committed == {} and note is not None and not other.rows_file.exists()


def test_a_manifest_line_beyond_the_rows_file_is_not_committed(tmp_path: Path) -> None:
    state = OutputState(tmp_path, "out.csv")
    state.open("p")
    state.commit(0, 2, b"0,x\n1,y\n", attempts=1)
    state.close()
    with open(state.manifest, "a") as manifest:
        manifest.write(json.dumps({"index": 1, "rows": 1, "attempts": 1, "offset": 8, "bytes": 4}) + "\n")
    assert sorted(OutputState(tmp_path, "out.csv").open("p")[0]) == [0]


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"row": np.arange(5000), "prediction": np.arange(5000) % 2, "file": "patients-001.csv"}),
    pd.DataFrame({"a": np.array([-3, 2**62, 0]), "b": [True, False, True], "c": ["x y", "é", "t\tz"],
                  "d": np.array([1, 2, 3], dtype=np.uint8)}),
    pd.DataFrame({"row": np.arange(0), "prediction": np.arange(0), "file": pd.Series([], dtype=str)}),
], ids=["mlflow-rows", "ints-bools-strings", "empty"])
def test_plain_columns_are_written_as_pandas_writes_them(frame: pd.DataFrame) -> None:
    text = scoring._plain_csv(frame)
    assert text is not None and text == frame.to_csv(header=False, index=False, lineterminator="\n")


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"a": [1, 2], "s": ["a,b", "c"]}), pd.DataFrame({"a": [1.5, 2.0]}),
    pd.DataFrame({"a": pd.array([1, None], dtype="Int64")}), pd.DataFrame({"a": ["x", None]}),
    pd.DataFrame({"a": ["x", ""]}), pd.DataFrame({"a": pd.Categorical(["x", "y"])}),
], ids=["comma", "float", "nullable-int", "missing", "empty-string", "categorical"])
def test_other_columns_are_left_to_pandas(frame: pd.DataFrame) -> None:
    assert scoring._plain_csv(frame) is None
    assert scoring.format_rows(frame, keep=True)[1] == frame.to_csv(header=False, index=False, lineterminator="\n")


def test_preloaded_modules_follow_what_loading_the_model_imports(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    inputs = json.dumps([{"type": "double", "name": "x", "required": True}])
    def mlmodel(fmt: str) -> str:
        return ("flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n  sklearn:\n"
                f"    pickled_model: model.skops\n    serialization_format: {fmt}\n"
                f"signature:\n  inputs: '{inputs}'\n")

    (model / "MLmodel").write_text(mlmodel("skops"))
    assert scoring.preload_modules(str(tmp_path), None) == ["numpy", "pandas", "skops.io"]
    (model / "MLmodel").write_text(mlmodel("pickle"))
    assert scoring.preload_modules(str(model), None) == ["numpy", "pandas", "sklearn"]
    (model / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: mlflow.pytorch\n")
    assert scoring.preload_modules(str(model), None) == ["numpy", "pandas", "mlflow.pyfunc"]
    assert scoring.preload_modules(str(model), "score.py") == ["numpy", "pandas"]  # a script's imports are its own
