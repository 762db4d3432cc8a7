"""A dataset monitor over Parquet-backed data assets reads them as numpy columns (``drift.read_table``, as
``benchmarks/drift.py`` measures) and gives the same numbers and alerts as the DataFrame path; a clock stored
as text is read as DataFrames, as before."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from studio_ext.backends.local import LocalBackend
from studio_ext.backends.local.monitors.run import parquet_tables, run_dataset_monitor
from studio_ext.entities import Data
from studio_ext.ml.drift import Columns
from studio_ext.workspace import Workspace
from tests.helpers import completed_log


def _traffic(rng: np.random.Generator, zone: str | None) -> pd.DataFrame:
    """Three weeks from 2026-01-05, the third shifted (in x and the category mix); a few values missing."""
    days = pd.date_range("2026-01-05", periods=21, freq="D", tz=zone)
    rows = []
    for i, day in enumerate(days):
        shifted = i >= 14
        for _ in range(30):
            rows.append({"ts": day + pd.Timedelta(hours=int(rng.integers(0, 24))),
                         "x": rng.normal(2.0 if shifted else 0.0, 1),
                         "n": int(rng.integers(0, 50)),
                         "cat": rng.choice(list("abc"), p=[0.1, 0.1, 0.8] if shifted else [1 / 3] * 3)})
    frame = pd.DataFrame(rows)
    frame.loc[::17, "x"] = np.nan
    return frame


@pytest.fixture(scope="module")
def ws(module_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    folder = tmp_path_factory.mktemp("parquet-drift")
    rng = np.random.default_rng(7)
    base = pd.DataFrame({"x": rng.normal(0, 1, 500), "n": rng.integers(0, 50, 500),
                         "cat": rng.choice(list("abc"), 500)})
    base.to_parquet(folder / "base.parquet")
    _traffic(rng, None).to_parquet(folder / "naive.parquet")
    _traffic(rng, "Europe/Paris").to_parquet(folder / "zoned.parquet")
    _traffic(rng, None).assign(ts=lambda f: f["ts"].astype(str)).to_parquet(folder / "text.parquet")
    for name in ("base", "naive", "zoned", "text"):
        module_workspace.data.create_or_update(Data(name=name, path=str(folder / f"{name}.parquet"), type="mltable"))
    return module_workspace


class Capture:
    """What a run records, window by window (a Recorder's ``window`` arguments)."""

    def __init__(self) -> None:
        self.windows: list[dict[str, Any]] = []

    def window(self, signal: str, start: datetime, end: datetime, **values: Any) -> None:
        self.windows.append({"signal": signal, "start": start, "end": end, **values})


def _spec(target: str) -> dict[str, Any]:
    return {"monitor": "m", "mode": "backfill", "start": "2026-01-05T00:00:00+00:00",
            "end": "2026-01-26T00:00:00+00:00",
            "definition": {"baseline": "base", "target": target, "timestamp_column": "ts", "frequency": "Week",
                           "features": ["x", "n", "cat"], "drift_threshold": 30.0}}


def _both(ws: Workspace, target: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    backend = LocalBackend.of(ws)
    numpy_side, frame_side = Capture(), Capture()
    run_dataset_monitor(backend, _spec(target), numpy_side, columns=True)  # type: ignore[arg-type]
    run_dataset_monitor(backend, _spec(target), frame_side, columns=False)  # type: ignore[arg-type]
    return numpy_side.windows, frame_side.windows


@pytest.mark.parametrize("target", ["naive", "zoned"])
def test_parquet_assets_are_read_as_columns_with_the_same_numbers(ws: Workspace, target: str) -> None:
    tables = parquet_tables(LocalBackend.of(ws), _spec(target)["definition"])
    assert tables is not None and all(isinstance(t, Columns) for t in tables)
    assert tables[1].columns == ["ts", "x", "n", "cat"] and len(tables[0]) == 500
    columns, frames = _both(ws, target)
    assert len(columns) == 3 and [w["start"] for w in columns] == [
        datetime(2026, 1, d, tzinfo=UTC) for d in (5, 12, 19)]
    assert columns == frames  # every metric, magnitude, row count, kind and alert, to the bit
    assert [len(w["alerts"]) for w in columns] == [0, 0, 1]


def test_a_clock_stored_as_text_is_read_as_a_dataframe(ws: Workspace) -> None:
    assert parquet_tables(LocalBackend.of(ws), _spec("text")["definition"]) is None
    columns, frames = _both(ws, "text")
    assert columns == frames and len(columns) == 3


def test_reading_and_comparing_import_no_pandas(ws: Workspace) -> None:
    """The job process imports pandas anyway (the backend's services and MLflow do, and scikit-learn, which the
    drift magnitude's classifier needs, imports it); the read, the baseline's side and the windows do not,
    checked in a process that loads only the engine and pyarrow."""
    backend = LocalBackend.of(ws)
    data = backend.service("data")
    files = [data.parquet_file("base"), data.parquet_file("naive")]
    code = (
        "import sys\n"
        "from studio_ext.ml import drift\n"
        f"base = drift.Reference(drift.read_table({str(files[0])!r}, ['x', 'n', 'cat']))\n"
        f"target = drift.read_table({str(files[1])!r}, ['ts', 'x', 'n', 'cat'])\n"
        "rows = [w.rows for w in drift.iter_windows(target, 'ts', 'Week', start='2026-01-05', end='2026-01-26')]\n"
        "print(len(rows), sum(rows), 'pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parents[4], check=True).stdout.split()
    assert out == ["3", "630", "False"]


def test_the_monitor_job_reads_parquet_as_columns(ws: Workspace) -> None:
    """A real backfill job over the Parquet-backed asset: its log says how it read, its results equal the
    DataFrame path's."""
    ws.data_drift.create("pq", baseline="base", target="naive", timestamp_column="ts", frequency="Week",
                         features=["x", "n", "cat"], drift_threshold=0.3)
    job = ws.data_drift.backfill("pq", "2026-01-05", "2026-01-26")
    log = completed_log(ws, job, timeout=180)
    assert "(read as numpy columns)" in log and "3 window result(s)" in log
    _, frames = _both(ws, "naive")
    results = ws.data_drift.get_results("pq", "2026-01-01", "2026-02-01")
    assert [r.drift_magnitude for r in results] == [w["magnitude"] for w in frames]
    assert [r.features for r in results] == [w["features"] for w in frames]
    assert ws.data_drift.alert_count("pq") == 1 == sum(len(w["alerts"]) for w in frames)
