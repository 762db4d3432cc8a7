"""A model monitor run's data, on collected files written by the collector's own writer (no serving round trip):
a classifier's 0/1 outputs are class labels (categorical thresholds apply), a regressor's stay numbers; a signal's
production_data.input_data is read over its look-back window and size/offset; the reference's data_window (rolling
or fixed dates) cuts it by its timestamp column; bad windows are refused by name when the monitor is checked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from studio_ext.backends.local import LocalBackend
from studio_ext.backends.local.core.schema import monitors
from studio_ext.backends.local.monitors import windows
from studio_ext.backends.local.monitors.run import Recorder, run_model_monitor
from studio_ext.backends.local.monitors.service import default_signals, forget, record_monitor, window_size
from studio_ext.entities import (
    Data,
    DataCollector,
    DeploymentCollection,
    ManagedOnlineDeployment,
    RecurrenceTrigger,
)
from studio_ext.errors import InvalidInput
from studio_ext.serving.data_collection import RecordWriter
from studio_ext.workspace import Workspace

SLOT = datetime(2026, 3, 10, 12, tzinfo=UTC)


def _write(folder: Path, collection: str, rows_at: list[tuple[datetime, list[dict[str, Any]]]]) -> None:
    writer = RecordWriter({"folder": str(folder), "pid": 1})
    writer.write([(collection, f"req-{i}", when.timestamp(), "rows", rows, None, None)
                  for i, (when, rows) in enumerate(rows_at)])


@pytest.fixture(scope="module")
def ws(module_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """Collected outputs and inputs (a folder each, registered as uri_folder assets as the collector registers
    them), a labelled reference table with a timestamp column."""
    ws = module_workspace
    root = tmp_path_factory.mktemp("collected")
    # model_outputs: 0/1 labels, mostly 0 in the reference, mostly 1 in production (the last day)
    outputs = [(SLOT - timedelta(hours=2 + i), [{"predictions": int(i % 10 < 7)}]) for i in range(20)]
    _write(root, "model_outputs", outputs)
    # model_inputs: one row an hour over the 5 days before the slot, x = the hours back
    inputs = [(SLOT - timedelta(hours=h, minutes=30), [{"x": float(h), "c": "a" if h % 2 else "b"}])
              for h in range(0, 120)]
    _write(root, "model_inputs", inputs)
    backend = LocalBackend.of(ws)
    data = backend.service("data")
    from studio_ext.backends.local.data.datastores import local_folder

    store = local_folder(backend.datastore_uri)
    for collection in ("model_outputs", "model_inputs"):
        target = store / "collected-tests" / collection
        target.parent.mkdir(parents=True, exist_ok=True)
        (root / collection).rename(target)
        data.register_folder_reference(f"clf-{collection}", f"azureml://datastores/workspaceblobstore/paths/"
                                                             f"collected-tests/{collection}/")
    days = pd.date_range("2026-01-01", periods=60, freq="D", tz="UTC")
    ref = pd.DataFrame({"when": days, "x": [float(i) for i in range(60)], "c": ["a", "b"] * 30,
                        "label": [int(i % 10 >= 7) for i in range(60)]})
    ref.to_parquet(root / "ref.parquet")
    ws.data.create_or_update(Data(name="clf-ref", path=str(root / "ref.parquet"), type="mltable"))
    yield ws


def _run(ws: Workspace, name: str, signals: dict[str, Any], ml_task: str = "classification", *,
         window_size: str | None = None, slot: datetime = SLOT, keep: bool = False) -> LocalBackend:
    backend = LocalBackend.of(ws)
    definition: dict[str, Any] = {"create_monitor": {"monitoring_target": {
        "ml_task": ml_task, "endpoint_deployment_id": "azureml:none-ep:blue"}, "monitoring_signals": signals}}
    if window_size:
        definition["window_size"] = window_size
    with backend.store.engine.begin() as conn:
        if not keep:
            forget(conn, name)
        record_monitor(conn, name, "model", definition, None)
    recorder = Recorder(backend, name, "job-1", False, [], None)
    run_model_monitor(backend, {"definition": definition, "slot": slot.isoformat()}, recorder)
    return backend


def _collecting(*collections: str) -> ManagedOnlineDeployment:
    """A deployment entity (not deployed) whose data collector writes the fixture's collected assets."""
    return ManagedOnlineDeployment(name="blue", endpoint_name="none-ep", data_collector=DataCollector(collections={
        c: DeploymentCollection(enabled="true", data=f"azureml:clf-{c}:1") for c in collections}))


def test_the_out_of_box_monitor_compares_with_recent_past_production_data(ws: Workspace) -> None:
    """No monitoring_signals (Azure's documented out-of-box monitor): each default signal reads its collection
    over the trigger's period against the same collection over the two periods before, not the training data."""
    backend = LocalBackend.of(ws)
    target = {"ml_task": "classification", "endpoint_deployment_id": "azureml:none-ep:blue"}
    size = window_size(RecurrenceTrigger(frequency="day", interval=1))
    signals = default_signals(backend, "oob", target, _collecting("model_inputs", "model_outputs"), size)
    drift = signals["data-drift-signal"]
    assert drift["reference_data"] == {
        "input_data": {"type": "uri_folder", "path": "azureml:clf-model_inputs:1"}, "data_context": "model_inputs",
        "data_window": {"lookback_window_size": "P2D", "lookback_window_offset": "P1D"}}
    assert signals["prediction-drift-signal"]["reference_data"]["input_data"]["path"] == "azureml:clf-model_outputs:1"
    _run(ws, "oob", signals, window_size=size)
    result = ws.data_drift.get_results("oob", signal="data-drift-signal")[-1]
    # production: the day before the slot (24 hourly inputs); reference: the two days before that (48)
    assert (result.start, result.end) == (SLOT - timedelta(days=1), SLOT)
    assert (result.rows_reference, result.rows_target) == (48, 24) and not result.no_data
    assert result.extra["reference"] == "azureml:clf-model_inputs:1"
    quality = ws.data_drift.get_results("oob", signal="data-quality-signal")[-1]
    assert quality.extra["reference"] == "azureml:clf-model_inputs:1" and quality.rows_reference == 48
    # the outputs were all collected in the last day: the reference window is empty, said as no data
    prediction = ws.data_drift.get_results("oob", signal="prediction-drift-signal")[-1]
    assert prediction.no_data and prediction.extra["reference"] == "azureml:clf-model_outputs:1"
    assert "No reference data: azureml:clf-model_outputs:1 has no rows from 2026-03-07 12:00 to 2026-03-09 12:00" \
        in prediction.warnings[0]
    with backend.store.engine.begin() as conn:
        forget(conn, "oob")


@pytest.mark.parametrize("collects", [("model_inputs",), ("model_outputs",), ()])
def test_the_out_of_box_monitor_needs_both_collections(ws: Workspace, collects: tuple[str, ...]) -> None:
    target = {"ml_task": "classification", "endpoint_deployment_id": "azureml:none-ep:blue"}
    with pytest.raises(InvalidInput) as err:
        default_signals(LocalBackend.of(ws), "oob", target, _collecting(*collects), "P1D")
    missing = "model_outputs" if collects == ("model_inputs",) else "model_inputs"
    assert f"does not collect {missing}" in err.value.message and "data_collector=DataCollector(" in err.value.message


def test_a_signal_without_a_data_window_looks_back_one_trigger_period(ws: Workspace) -> None:
    """Azure's default production look-back is the schedule's period (a daily trigger: one day), not a week."""
    assert window_size(RecurrenceTrigger(frequency="day", interval=1)) == "P1D"
    signal = {"type": "data_drift", "features": ["x"], "reference_data": REF,
              "production_data": {"input_data": {"type": "uri_folder", "path": "azureml:clf-model_inputs:1"}}}
    _run(ws, "daily", {"drift": signal}, window_size="P1D")
    result = ws.data_drift.get_results("daily", signal="drift")[-1]
    assert (result.start, result.end) == (SLOT - timedelta(days=1), SLOT) and result.rows_target == 24
    with LocalBackend.of(ws).store.engine.begin() as conn:
        forget(conn, "daily")


def test_runs_seconds_apart_record_one_window(ws: Workspace) -> None:
    """A cron every 2 seconds: runs in one minute compute the same window; the later replaces the earlier."""
    signal = {"type": "data_drift", "features": ["x"], "reference_data": REF,
              "production_data": {"input_data": {"type": "uri_folder", "path": "azureml:clf-model_inputs:1"}}}
    for i, seconds in enumerate((14, 16, 18)):
        _run(ws, "every-2s", {"drift": signal}, window_size="P1D", slot=SLOT + timedelta(seconds=seconds), keep=i > 0)
    results = ws.data_drift.get_results("every-2s", signal="drift")
    assert [(r.start, r.end) for r in results] == [(SLOT + timedelta(minutes=1) - timedelta(days=1),
                                                   SLOT + timedelta(minutes=1))]
    with LocalBackend.of(ws).store.engine.begin() as conn:
        forget(conn, "every-2s")


REF = {"input_data": {"type": "mltable", "path": "azureml:clf-ref:1"}, "data_column_names": {"target_column": "label"}}
OUTPUTS = {"input_data": {"type": "uri_folder", "path": "azureml:clf-model_outputs:1"},
           "data_window": {"lookback_window_size": "P1D"}}


def test_a_classifiers_labels_are_categories_and_its_categorical_threshold_alerts(ws: Workspace) -> None:
    signal = {"type": "prediction_drift", "production_data": OUTPUTS, "reference_data": REF, "alert_enabled": True,
              "metric_thresholds": {"categorical": {"pearsons_chi_squared_test": 0.02}}}
    _run(ws, "clf-monitor", {"pred": signal})
    result = ws.data_drift.get_results("clf-monitor", signal="pred")[-1]
    assert result.rows_target == 20 and result.rows_reference == 60
    assert result.feature_kinds == {"label": "categorical"}, result
    assert "pearsons_chi_squared_test_p_value" in result.features["label"]
    alerts = ws.data_drift.list_alerts("clf-monitor")
    assert [(a.signal, a.metric, a.threshold) for a in alerts] == [("pred", "pearsons_chi_squared_test", 0.02)]
    # A regressor's outputs stay numbers: the numerical metrics, and no categorical threshold applies.
    _run(ws, "reg-monitor", {"pred": signal}, ml_task="regression")
    numeric = ws.data_drift.get_results("reg-monitor", signal="pred")[-1]
    assert numeric.feature_kinds == {"label": "numerical"} and "normalized_wasserstein_distance" in numeric.features[
        "label"]
    assert ws.data_drift.list_alerts("reg-monitor") == []


def test_production_input_data_and_both_windows_are_honoured(ws: Workspace) -> None:
    production = {"input_data": {"type": "uri_folder", "path": "azureml:clf-model_inputs:1"},
                  "data_window": {"lookback_window_size": "P1D", "lookback_window_offset": "P2D"}}
    reference = {"input_data": {"type": "mltable", "path": "azureml:clf-ref:1"},
                 "data_column_names": {"timestamp_column": "when"},
                 "data_window": {"window_start": "2026-01-11", "window_end": "2026-01-21"}}
    rolling = {**reference, "data_window": {"lookback_window_size": "P10D", "lookback_window_offset": "P50D"}}
    _run(ws, "window-monitor", {
        "fixed": {"type": "data_drift", "production_data": production, "reference_data": reference,
                  "features": ["x", "c"]},
        "rolling": {"type": "data_quality", "production_data": production, "reference_data": rolling,
                    "features": ["x"]}})
    fixed = ws.data_drift.get_results("window-monitor", signal="fixed")[-1]
    # production: the 24 hourly rows from 3 days to 2 days before the slot, from the asset named (not the
    # deployment's collection: that deployment has collected nothing)
    assert (fixed.start, fixed.end) == (SLOT - timedelta(days=3), SLOT - timedelta(days=2))
    assert fixed.rows_target == 24 and not fixed.no_data
    assert fixed.rows_reference == 10  # 2026-01-11 up to 2026-01-21
    assert fixed.extra["reference"] == "azureml:clf-ref:1"
    quality = ws.data_drift.get_results("window-monitor", signal="rolling")[-1]
    # 10 days ending 50 days before the slot: 2026-01-09 12:00 to 2026-01-19 12:00, 10 daily rows
    assert quality.rows_reference == 10 and quality.rows_target == 24
    # the page's two sides of a feature are the rows the run read
    ref_values, target_values = ws.data_drift.window_values("window-monitor", fixed.start, "x", signal="fixed")
    assert sorted(ref_values) == [float(i) for i in range(10, 20)]
    assert sorted(target_values) == [float(h) for h in range(48, 72)]


@pytest.mark.parametrize(("signal", "says"), [
    ({"production_data": {"data_window": {"lookback_window_size": "7 days"}}},
     "production_data.data_window.lookback_window_size is '7 days', which is not an ISO 8601 duration"),
    ({"production_data": {"data_window": {"lookback_window_size": "P0D"}}}, "must be longer than 0"),
    ({"production_data": {"data_window": {"lookback_window_offset": "-P1D"}}}, "a negative duration"),
    ({"production_data": {"data_window": {"window_start": "2026-01-01", "window_end": "2026-02-01"}}},
     "production data takes a rolling window"),
    ({"reference_data": {"data_window": {"window_start": "2026-02-01", "window_end": "2026-01-01"}}},
     "window_end must be after window_start"),
    ({"reference_data": {"data_window": {"window_start": "2026-31-01", "window_end": "2026-02-01"}}},
     "window_start is '2026-31-01', which is not a date"),
    ({"reference_data": {"data_window": {"window_start": "2026-01-01"}}}, "a fixed window needs both"),
    ({"reference_data": {"data_window": {"window_start": "2026-01-01", "window_end": "2026-02-01",
                                         "lookback_window_size": "P7D"}}}, "not both"),
    ({"reference_data": {"data_window": {"lookback_window_offset": "P7D"}}}, "no lookback_window_size"),
    ({"reference_data": {"input_data": {"type": "mltable", "path": "azureml:clf-ref:1"},
                         "data_window": {"lookback_window_size": "P7D"}}}, "data_column_names: {timestamp_column"),
])
def test_bad_windows_are_refused_naming_the_field(signal: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidInput) as err:
        windows.check_signal("drift", {"type": "data_drift", **signal})
    assert says in err.value.message and "monitoring_signals.drift." in err.value.message


def test_a_bad_window_in_a_stored_monitor_is_said_in_its_result(ws: Workspace) -> None:
    bad = {"type": "data_drift", "production_data": {"data_window": {"lookback_window_size": "P1X"}}}
    _run(ws, "bad-window", {"drift": bad})
    result = ws.data_drift.get_results("bad-window", signal="drift")[-1]
    assert result.no_data and "not an ISO 8601 duration" in result.warnings[0]
    backend = LocalBackend.of(ws)
    with backend.store.engine.begin() as conn:
        for name in ("bad-window", "window-monitor", "clf-monitor", "reg-monitor"):
            forget(conn, name)
        assert conn.execute(monitors.select()).first() is None
