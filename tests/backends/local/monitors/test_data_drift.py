"""ws.data_drift on the local backend: a dataset monitor's bad input stores nothing; a backfill is a real job
whose windows give drift magnitudes (a gap week as "no data"), MLflow metrics and a result table; an alert
is recorded, POSTed to a webhook on 127.0.0.1 and its emails kept as not sent locally; a schedule's slot
fires a monitor run job that computes the latest window (the same window run again replaces its row)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studio_ext.entities import (
    CronTrigger,
    Data,
    DataDriftSignal,
    JobStatus,
    MonitorDefinition,
    MonitoringTarget,
    MonitorSchedule,
)
from studio_ext.errors import Conflict, InvalidInput, NotFound, UnsafePath
from studio_ext.workspace import Workspace
from tests.helpers import completed_log, wait_until


def _frames(today: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A baseline, and four weeks of traffic from 2026-01-05: the second week empty, the fourth shifted; and the
    last two days before ``today``, shifted (for the scheduled run)."""
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"x": rng.normal(0, 1, 600), "cat": rng.choice(list("abc"), 600)})
    rows = []
    days = list(pd.date_range("2026-01-05", periods=28, freq="D"))
    recent = [pd.Timestamp(today.date()) - pd.Timedelta(days=d) for d in (1, 2)]
    for i, day in enumerate(days + recent):
        if 7 <= i < 14:
            continue
        shifted = i >= 21
        for _ in range(40):
            rows.append({"ts": day + pd.Timedelta(hours=int(rng.integers(0, 24))),
                         "x": rng.normal(2.5 if shifted else 0.0, 1),
                         "cat": rng.choice(list("abc"), p=[0.1, 0.1, 0.8] if shifted else [1 / 3] * 3)})
    return base, pd.DataFrame(rows)


@pytest.fixture(scope="module")
def ws(module_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    folder = tmp_path_factory.mktemp("drift-data")
    base, traffic = _frames(datetime.now(UTC))
    base.to_csv(folder / "base.csv", index=False)
    traffic.to_csv(folder / "traffic.csv", index=False)
    traffic.drop(columns=["ts"]).to_csv(folder / "no_time.csv", index=False)
    base.drop(columns=["cat"]).to_csv(folder / "no_cat.csv", index=False)
    (folder / "notes.txt").write_text("not a table\n")
    for name, file, kind in (("base", "base.csv", "mltable"), ("traffic", "traffic.csv", "mltable"),
                             ("no-time", "no_time.csv", "mltable"), ("no-cat", "no_cat.csv", "mltable"),
                             ("notes", "notes.txt", "uri_file")):
        module_workspace.data.create_or_update(Data(name=name, path=str(folder / file), type=kind))
    return module_workspace


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"target": "no-time"}, "The target dataset 'no-time' has no column 'ts' (the timestamp_column)"),
    ({"baseline": "no-cat", "features": ["x", "cat"]}, "Feature 'cat' (missing from the baseline 'no-cat')"),
    ({"frequency": "Hour"}, "must be one of 'Day', 'Week', 'Month'. Got 'Hour' instead"),
    ({"baseline": "nope"}, "The baseline dataset 'nope' does not exist"),
    ({"baseline": "notes"}, "is a uri_file asset; a drift monitor compares tabular datasets"),
    ({"drift_threshold": 140}, "drift_threshold is a drift magnitude from 0 to 100"),
    ({"features": ["x", "y"]}, "Feature 'y' (missing from the baseline 'base'), 'y' (missing from the target"),
])
def test_bad_input_is_refused_and_stores_nothing(ws: Workspace, kwargs: dict, message: str) -> None:
    args = {"baseline": "base", "target": "traffic", "timestamp_column": "ts", "frequency": "Week", **kwargs}
    with pytest.raises((InvalidInput, NotFound)) as info:
        ws.data_drift.create("bad", **args)
    assert message in info.value.message
    assert [m.name for m in ws.data_drift.list()] == [m.name for m in ws.data_drift.list() if m.name != "bad"]
    with pytest.raises(NotFound, match="There is no monitor named 'bad'"):
        ws.data_drift.get("bad")


def test_a_model_monitor_of_a_deployment_that_does_not_exist_is_refused(ws: Workspace) -> None:
    from azure.ai.ml.entities import DataDriftSignal as AzureDataDriftSignal
    from azure.ai.ml.entities import MonitorDefinition as AzureMonitorDefinition
    from azure.ai.ml.entities import MonitoringTarget as AzureMonitoringTarget
    from azure.ai.ml.entities import MonitorSchedule as AzureMonitorSchedule
    from azure.ai.ml.entities import RecurrenceTrigger as AzureRecurrenceTrigger
    from azure.ai.ml.entities import ServerlessSparkCompute

    azure = AzureMonitorSchedule(
        name="nowhere", trigger=AzureRecurrenceTrigger(frequency="day", interval=1),
        create_monitor=AzureMonitorDefinition(
            compute=ServerlessSparkCompute(instance_type="standard_e4s_v3", runtime_version="3.4"),
            monitoring_target=AzureMonitoringTarget(ml_task="regression", endpoint_deployment_id="azureml:ep:blue"),
            monitoring_signals={"drift": AzureDataDriftSignal()}))
    with pytest.raises(NotFound, match="watches 'azureml:ep:blue', but there is no deployment 'blue' on an online "
                                       "endpoint 'ep'"):
        ws.schedules.begin_create_or_update(azure)
    with pytest.raises(InvalidInput, match="endpoint_deployment_id is 'azureml:ENDPOINT:DEPLOYMENT'"):
        ws.begin_create_or_update(MonitorSchedule(
            name="nowhere", trigger=CronTrigger(expression="0 3 * * *"), create_monitor=MonitorDefinition(
                monitoring_target=MonitoringTarget(endpoint_deployment_id="just-a-name"),
                monitoring_signals={"drift": DataDriftSignal()})))
    assert not [s for s in ws.schedules.list(list_view_type="all") if s.name == "nowhere"]


def test_an_unsafe_webhook_is_refused(ws: Workspace) -> None:
    with pytest.raises(UnsafePath, match="link-local or reserved address"):
        ws.data_drift.create("unsafe", baseline="base", target="traffic", timestamp_column="ts",
                             alert_webhook="http://169.254.169.254/latest/meta-data/")
    with pytest.raises(InvalidInput, match="Only http:// and https://"):
        ws.data_drift.create("unsafe", baseline="base", target="traffic", timestamp_column="ts",
                             alert_webhook="file:///etc/passwd")


@pytest.mark.slow(seconds=60)  # two monitor run jobs
def test_backfill_and_a_scheduled_run(ws: Workspace, hook: tuple[str, Path]) -> None:
    """One test for both jobs, so they run at once: a backfill, and a schedule's slot."""
    url, received = hook
    ws.data_drift.create("daily", baseline="base", target="traffic", timestamp_column="ts", frequency="Day")
    made = ws.data_drift.enable_schedule("daily", trigger=CronTrigger(expression="*/3 * * * * *"))
    assert made.state == "Enabled" and made.schedule_name == "daily-schedule"
    made = ws.data_drift.create("weekly", baseline="base", target="traffic", timestamp_column="ts",
                                frequency="Week", drift_threshold=0.3, alert_emails=["ops@example.com"],
                                alert_webhook=url)
    assert made.features == ["x", "cat"] and made.drift_threshold == 30.0 and made.state == "Disabled"
    with pytest.raises(Conflict, match="A monitor named 'weekly' already exists"):
        ws.data_drift.create("weekly", baseline="base", target="traffic", timestamp_column="ts")
    with pytest.raises(InvalidInput, match="is not after its start"):
        ws.data_drift.backfill("weekly", "2026-02-01", "2026-01-01")

    job = ws.data_drift.backfill("weekly", "2026-01-05", "2026-02-02")
    fired = wait_until(lambda: [f for f in ws.schedules.history("daily-schedule") if f.decision == "fired"],
                       timeout=60, what=lambda: f"a fire: {ws.schedules.history('daily-schedule')}")
    ws.data_drift.disable_schedule("daily")
    log = completed_log(ws, job, timeout=180)
    assert "4 window result(s)" in log

    results = ws.data_drift.get_results("weekly", "2026-01-01", "2026-03-01")
    assert [r.start.date().isoformat() for r in results] == ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"]
    assert all(r.backfill and r.job_name == job.name and r.end - r.start == timedelta(days=7) for r in results)
    quiet, empty, _, drifted = results
    assert empty.no_data and empty.drift_magnitude is None and empty.rows_target == 0
    assert quiet.drift_magnitude is not None and quiet.drift_magnitude < 30
    assert drifted.drift_magnitude is not None and drifted.drift_magnitude > 80
    assert drifted.features["x"]["normalized_wasserstein_distance"] > 1.0
    assert drifted.feature_kinds == {"x": "numerical", "cat": "categorical"}
    assert [r.start.day for r in ws.data_drift.get_results("weekly", "2026-01-19")] == [19, 26]

    run = ws.jobs.get(job.name)
    assert run.metrics["drift_magnitude"] == pytest.approx(drifted.drift_magnitude)
    assert "x.normalized_wasserstein_distance" in run.metrics and "cat.jensen_shannon_distance" in run.metrics
    assert any(a.path == "monitor_results.json" for a in ws.jobs.list_artifacts(job.name))

    alerts = ws.data_drift.list_alerts("weekly")
    assert len(alerts) == 1 and ws.data_drift.alert_count("weekly") == 1
    alert = alerts[0]
    assert (alert.metric, alert.threshold, alert.window_start.day) == ("drift_magnitude", 30.0, 26)
    assert alert.emails == ["ops@example.com"] and alert.email_status == "not sent locally"
    assert alert.webhook_status == "sent (204)"
    posted = [json.loads(line) for line in received.read_text().splitlines()]
    assert posted[-1]["monitor"] == "weekly" and posted[-1]["value"] == pytest.approx(alert.value)
    assert ws.data_drift.get("weekly").alert_count == 1
    assert ws.data_drift.acknowledge_alerts("weekly") == 1 and ws.data_drift.alert_count("weekly") == 0

    schedule = ws.schedules.get("daily-schedule")
    assert schedule.type == "monitor" and schedule.data_drift_monitor == "daily"
    assert ws.data_drift.get("daily").state == "Disabled"
    fired = [f for f in ws.schedules.history("daily-schedule") if f.decision == "fired"]  # one, or two in a race
    jobs = [ws.jobs.get(f.job_name) for f in fired]
    assert all(j.tags["monitor_name"] == "daily" and j.tags["schedule_name"] == "daily-schedule" for j in jobs)
    for scheduled in jobs:
        completed_log(ws, scheduled, timeout=120)
    results = ws.data_drift.get_results("daily")  # each run computes the day before its slot; a rerun replaces it
    assert {r.start.date() for r in results} == {f.slot.date() - timedelta(days=1) for f in fired}
    assert {r.job_name for r in results} <= {j.name for j in jobs} and not any(r.backfill for r in results)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    recent = [r for r in results if r.start.date() == yesterday]  # the shifted recent traffic
    assert all(r.rows_target == 40 and r.drift_magnitude > 20 for r in recent)
    assert ws.data_drift.alert_count() == ws.data_drift.alert_count("daily") == len(recent)  # the sidebar's badge
    ws.data_drift.delete("daily")
    with pytest.raises(NotFound):
        ws.schedules.get("daily-schedule")
    assert [m.name for m in ws.data_drift.list()] == ["weekly"]
    assert ws.jobs.get(jobs[0].name).status == JobStatus.COMPLETED  # its jobs stay
