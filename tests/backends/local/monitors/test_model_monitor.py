"""v2 model monitors: azure-ai-ml's MonitorSchedule and v2 monitor YAML through ws.schedules and the CLI; a
deployed model that collects its data gets traffic from
two distributions, and its scheduled monitor's run job raises a data drift alert (POSTed to a webhook);
data quality and feature attribution drift (SHAP importance on both sides, NDCG) are measured too."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from azure.ai.ml import Input as AzureInput
from azure.ai.ml.entities import AlertNotification as AzureAlertNotification
from azure.ai.ml.entities import DataDriftMetricThreshold as AzureDataDriftMetricThreshold
from azure.ai.ml.entities import DataDriftSignal as AzureDataDriftSignal
from azure.ai.ml.entities import DataQualitySignal as AzureDataQualitySignal
from azure.ai.ml.entities import FeatureAttributionDriftMetricThreshold as AzureFeatureAttributionDriftMetricThreshold
from azure.ai.ml.entities import FeatureAttributionDriftSignal as AzureFeatureAttributionDriftSignal
from azure.ai.ml.entities import MonitorDefinition as AzureMonitorDefinition
from azure.ai.ml.entities import MonitorFeatureFilter as AzureMonitorFeatureFilter
from azure.ai.ml.entities import MonitoringTarget as AzureMonitoringTarget
from azure.ai.ml.entities import MonitorSchedule as AzureMonitorSchedule
from azure.ai.ml.entities import NumericalDriftMetrics as AzureNumericalDriftMetrics
from azure.ai.ml.entities import RecurrenceTrigger as AzureRecurrenceTrigger
from azure.ai.ml.entities import ReferenceData as AzureReferenceData
from azure.ai.ml.entities import ServerlessSparkCompute

from studio_ext.entities import (
    CronTrigger,
    Data,
    DataCollector,
    DeploymentCollection,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    Model,
    MonitorSchedule,
)
from studio_ext.errors import NotFound
from studio_ext.workspace import Workspace
from tests.helpers import completed_log, wait_until

pytestmark = pytest.mark.slow(seconds=140)  # a deployed model (about 80 s to set up here) and a monitor run job

EP = "drift-ep"
FEATURES = ["age", "bmi", "bp"]


def _diabetes() -> object:
    from sklearn.datasets import load_diabetes

    return load_diabetes(return_X_y=True, as_frame=True)


TRAIN = """
import argparse, mlflow, pandas as pd
from sklearn.linear_model import Ridge
p = argparse.ArgumentParser(); p.add_argument("--data"); a = p.parse_args()
frame = pd.read_parquet(a.data)
X = frame[["age", "bmi", "bp"]]
with mlflow.start_run():
    mlflow.sklearn.log_model(Ridge().fit(X, frame["target"]), name="model", input_example=X.head(2))
"""


@pytest.fixture(scope="module")
def ws(module_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A deployed diabetes model collecting its inputs and outputs, trained by a job that read its training
    data as a registered dataset (the features and the label), so its lineage names that dataset."""
    from studio_ext import Input, command

    ws = module_workspace
    X, y = _diabetes()
    folder = tmp_path_factory.mktemp("monitor-data")
    X[FEATURES].assign(target=y).to_csv(folder / "reference.csv", index=False)
    ws.data.create_or_update(Data(name="diabetes-ref", path=str(folder / "reference.csv"), type="mltable"))
    (folder / "code").mkdir()
    (folder / "code" / "train.py").write_text(TRAIN)
    job = ws.jobs.create_or_update(command(
        code=str(folder / "code"), command="python train.py --data ${{inputs.data}}", experiment_name="monitor-tests",
        inputs={"data": Input(type="uri_file", path="azureml:diabetes-ref@latest")}))
    completed_log(ws, job, timeout=180)
    ws.models.create_or_update(Model(name="diabetes", path=f"azureml://jobs/{job.name}/outputs/artifacts/paths/model"))
    ws.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=EP)).result(timeout=60)
    ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="blue", endpoint_name=EP, model="azureml:diabetes:1", environment="AzureML-sklearn-1.5@latest",
        data_collector=DataCollector(collections={"model_inputs": DeploymentCollection(enabled="true"),
                                                  "model_outputs": DeploymentCollection(enabled="true")}))
    ).result(timeout=180)
    try:
        yield ws
    finally:
        ws.online_endpoints.begin_delete(EP).result(timeout=60)


def _azure_monitor(name: str, deployment: str, *, trigger: object = None, tags: dict | None = None) -> object:
    reference = AzureReferenceData(input_data=AzureInput(path="azureml:diabetes-ref:1", type="mltable"),
                                   data_context="training")
    return AzureMonitorSchedule(
        name=name, trigger=trigger or AzureRecurrenceTrigger(frequency="day", interval=1), tags=tags or {},
        create_monitor=AzureMonitorDefinition(
            compute=ServerlessSparkCompute(instance_type="standard_e4s_v3", runtime_version="3.4"),
            monitoring_target=AzureMonitoringTarget(ml_task="regression", endpoint_deployment_id=deployment),
            monitoring_signals={
                "drift": AzureDataDriftSignal(
                    reference_data=reference, features=FEATURES, alert_enabled=True,
                    metric_thresholds=AzureDataDriftMetricThreshold(
                        numerical=AzureNumericalDriftMetrics(normalized_wasserstein_distance=0.5))),
                "quality": AzureDataQualitySignal(reference_data=reference, alert_enabled=False,
                                                  features=AzureMonitorFeatureFilter(top_n_feature_importance=2)),
                "lineage": AzureDataDriftSignal(features=FEATURES),  # no reference: the model's training data
                "attribution": AzureFeatureAttributionDriftSignal(
                    reference_data=reference, alert_enabled=True,
                    metric_thresholds=AzureFeatureAttributionDriftMetricThreshold(
                        normalized_discounted_cumulative_gain=0.999)),
            },
            alert_notification=AzureAlertNotification(emails=["ml-ops@example.com"])))


def test_v2_monitor_yaml_through_the_cli(ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from studio_ext import cli

    made = ws.schedules.begin_create_or_update(_azure_monitor("yaml-source", f"azureml:{EP}:blue")).result()
    text = ws.schedules.to_yaml(made)
    assert "create_monitor:" in text and "normalized_wasserstein_distance: 0.5" in text
    ws.schedules.begin_delete("yaml-source").result()
    path = tmp_path / "monitor.yml"
    path.write_text(text.replace("name: yaml-source", "name: from-yaml"))
    assert cli.main(["-w", str(ws.path), "schedule", "create", "--file", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Schedule from-yaml created (enabled)" in out and "serverless Spark compute has no local meaning" in out
    got = ws.schedules.get("from-yaml")
    assert isinstance(got, MonitorSchedule) and got.create_monitor is not None
    assert got.create_monitor.monitoring_target.endpoint_deployment_id == f"azureml:{EP}:blue"
    assert set(got.create_monitor.monitoring_signals) == {"drift", "quality", "lineage", "attribution"}
    assert got.create_monitor.alert_notification.emails == ["ml-ops@example.com"]
    ws.schedules.begin_delete("from-yaml").result()
    with pytest.raises(NotFound):
        ws.data_drift.get_results("from-yaml")


def test_traffic_from_two_distributions_raises_a_drift_alert(ws: Workspace, hook: tuple[str, Path]) -> None:
    url, received = hook
    X, _ = _diabetes()
    rows = X[FEATURES]
    shifted = rows.assign(age=rows["age"] + 0.15, bmi=rows["bmi"] * 3)
    uri, key = ws.online_endpoints.get(EP).scoring_uri, ws.online_endpoints.get_keys(EP).primary_key
    with httpx.Client(timeout=30) as client:
        for frame in (rows.head(100), shifted.head(100)):
            for start in range(0, 100, 20):
                body = {"input_data": json.loads(frame.iloc[start:start + 20].to_json(orient="split", index=False))}
                answer = client.post(uri, json=body, headers={"Authorization": f"Bearer {key}"})
                assert answer.status_code == 200, answer.text
    monitor = _azure_monitor("diabetes-monitor", f"azureml:{EP}:blue",
                             trigger=None, tags={"studio_ext.alert_webhook_url": url})
    made = ws.schedules.begin_create_or_update(monitor).result()
    assert made.create_monitor.alert_notification.webhook_url == url
    ws.schedules.begin_disable("diabetes-monitor").result()  # now fire it every 2 s until one slot is taken
    fast = MonitorSchedule(name="diabetes-monitor", trigger=CronTrigger(expression="*/2 * * * * *"),
                           create_monitor=made.create_monitor)
    ws.schedules.begin_create_or_update(fast).result()
    fired = wait_until(lambda: [f for f in ws.schedules.history("diabetes-monitor") if f.decision == "fired"],
                       timeout=60, what=lambda: f"a fire: {ws.schedules.history('diabetes-monitor')}")
    ws.schedules.begin_disable("diabetes-monitor").result()
    for fire in [f for f in ws.schedules.history("diabetes-monitor") if f.decision == "fired"]:
        completed_log(ws, ws.jobs.get(fire.job_name), timeout=180)
    drift = ws.data_drift.get_results("diabetes-monitor", signal="drift")
    assert drift and drift[-1].rows_target == 200 and drift[-1].rows_reference == len(rows)
    assert drift[-1].drift_magnitude is not None and drift[-1].drift_magnitude > 20
    alerts = ws.data_drift.list_alerts("diabetes-monitor")
    bmi = [a for a in alerts if a.signal == "drift" and a.feature == "bmi"]
    assert bmi and bmi[0].metric == "normalized_wasserstein_distance" and bmi[0].threshold == 0.5
    assert bmi[0].email_status == "not sent locally" and bmi[0].webhook_status == "sent (204)"
    assert any(json.loads(line)["feature"] == "bmi" for line in received.read_text().splitlines())
    quality = ws.data_drift.get_results("diabetes-monitor", signal="quality")
    assert quality and len(quality[-1].features) == 2 and "bmi" in quality[-1].features  # the top 2 by importance
    assert quality[-1].warnings[0].startswith("Top 2 features by the model's importance on the reference: ")
    assert quality[-1].features["bmi"]["out_of_bounds_rate"] > 0  # tripled BMIs leave the reference's range
    # No reference given: the model's training data, the dataset version its job read (its lineage).
    lineage = ws.data_drift.get_results("diabetes-monitor", signal="lineage")
    assert lineage and not lineage[-1].no_data and lineage[-1].extra["reference"] == "azureml:diabetes-ref:1"
    assert lineage[-1].rows_reference == len(rows) and lineage[-1].drift_magnitude > 20
    assert drift[-1].extra["reference"] == "azureml:diabetes-ref:1"
    # Only the columns the signals compare are read from the reference (not its label column).
    log = ws.jobs.get_logs(fired[0].job_name)
    read = re.findall(r"columns read: ([^)]*)\)", log)
    assert "age, bmi, bp" in read and not any("target" in r for r in read), log

    # The monitor's page draws reference against production for the lineage-found reference too, any window.
    from studio_ext.panels.monitoring import MonitoringPanel

    view = MonitoringPanel(ws, monitor="diabetes-monitor").view
    assert view is not None and view.signal.layout.display is None
    assert [v for _, v in view.signal.options] == ["drift", "lineage"]
    view.signal.value = "lineage"
    assert view.drift_results == lineage
    view.feature.value = "bmi"
    for result in lineage:  # each window picked (or clicked) draws both sides
        view.window.value = result.start.isoformat()
        metric_fig, dist_fig = view.feature_figures
        assert [t.name for t in dist_fig.data] == ["reference", "target"] and dist_fig.data[0].type == "histogram"
        assert len(dist_fig.data[0].x) == len(rows) and len(dist_fig.data[1].x) == 200
        assert "normalized wasserstein distance" in view.feature_table.value  # bmi's, in Over threshold
        lo, hi = metric_fig.layout.xaxis.range  # a single window is shown over its whole span, not milliseconds
        assert (pd.Timestamp(hi) - pd.Timestamp(lo)) >= pd.Timedelta(days=7)
    attribution = ws.data_drift.get_results("diabetes-monitor", signal="attribution")[-1]
    assert set(attribution.features) == set(FEATURES) and not attribution.no_data
    ndcg = attribution.extra["normalized_discounted_cumulative_gain"]
    assert 0 < ndcg <= 1 and attribution.features["bmi"]["production_importance"] > 0
    assert bool([a for a in alerts if a.signal == "attribution"]) == (ndcg < 0.999)
    job = ws.jobs.get(fired[0].job_name)
    assert "drift.bmi.normalized_wasserstein_distance" in job.metrics
    assert job.metrics["attribution.normalized_discounted_cumulative_gain"] == pytest.approx(ndcg)
    assert ws.data_drift.alert_count("diabetes-monitor") == len(alerts)
    ws.schedules.begin_delete("diabetes-monitor").result()
    assert ws.data_drift.list_alerts("diabetes-monitor") == []
    assert os.path.isdir(ws.path)


OUT_OF_BOX = """
$schema: http://azureml/sdk-2-0/Schedule.json
name: out_of_box
description: Azure's out-of-box monitor (azureml-examples cli/monitoring/out-of-box-monitoring.yaml)
trigger:
  type: recurrence
  frequency: day
  interval: 1
  schedule: {hours: 3, minutes: 15}
create_monitor:
  compute: {instance_type: standard_e4s_v3, runtime_version: "3.4"}
  monitoring_target:
    ml_task: regression
    endpoint_deployment_id: azureml:%s:blue
  alert_notification:
    emails: [abc@example.com]
"""


def test_an_out_of_box_monitor_gets_the_default_signals(ws: Workspace, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """No monitoring_signals: data drift, prediction drift and data quality with Azure's default thresholds on
    the collected inputs/outputs over the schedule's day, against recent past production data (the same collection
    over the two days before, as Azure's out-of-box monitor). The run reads collected files written by the
    collector's writer for past days (no serving round trip)."""
    from datetime import UTC, datetime, timedelta

    from studio_ext import cli
    from studio_ext.backends.local import LocalBackend
    from studio_ext.backends.local.data.datastores import local_folder
    from studio_ext.backends.local.monitors.run import Recorder, run_model_monitor
    from studio_ext.backends.local.monitors.service import model_spec
    from studio_ext.serving.data_collection import RecordWriter, deployment_folder

    path = tmp_path / "out-of-box.yml"
    path.write_text(OUT_OF_BOX % EP)
    assert cli.main(["-w", str(ws.path), "schedule", "create", "--file", str(path)]) == 0, capsys.readouterr()
    got = ws.schedules.get("out_of_box")
    signals = got.create_monitor.monitoring_signals
    assert set(signals) == {"data-drift-signal", "prediction-drift-signal", "data-quality-signal"}
    drift = signals["data-drift-signal"]
    assert drift.reference_data.input_data.path == f"azureml:{EP}-blue-model_inputs:1"
    assert (drift.reference_data.data_window.lookback_window_size,
            drift.reference_data.data_window.lookback_window_offset) == ("P2D", "P1D")
    assert drift.production_data.input_data.path == f"azureml:{EP}-blue-model_inputs:1"
    assert drift.production_data.data_window.lookback_window_size == "P1D"  # the daily trigger's period
    assert drift.metric_thresholds.numerical.normalized_wasserstein_distance == 0.1 and drift.alert_enabled
    assert signals["prediction-drift-signal"].production_data.input_data.path == f"azureml:{EP}-blue-model_outputs:1"
    assert signals["data-quality-signal"].metric_thresholds.numerical.out_of_bounds_rate == 0.0
    text = ws.schedules.to_yaml(got)
    assert "data-drift-signal:" in text and "lookback_window_offset: P1D" in text

    backend = LocalBackend.of(ws)
    slot = datetime(2020, 1, 2, 3, 15, tzinfo=UTC)
    X, _ = _diabetes()
    rows = X[FEATURES].head(60)
    shifted = rows.assign(bmi=rows["bmi"] * 3)
    writer = RecordWriter({"folder": str(deployment_folder(local_folder(backend.datastore_uri), EP, "blue")),
                           "pid": 99})
    batch = []
    for i in range(60):
        when = (slot - timedelta(hours=20, minutes=i)).timestamp()
        batch.append(("model_inputs", f"r{i}", when, "rows", [shifted.iloc[i].to_dict()], None, None))
        batch.append(("model_outputs", f"r{i}", when, "predictions", [150.0 + i], None, None))
        past = (slot - timedelta(days=2, minutes=i)).timestamp()  # the reference: the two days before the day
        batch.append(("model_inputs", f"p{i}", past, "rows", [rows.iloc[i].to_dict()], None, None))
        batch.append(("model_outputs", f"p{i}", past, "predictions", [100.0 + i], None, None))
    writer.write(batch)
    recorder = Recorder(backend, "out_of_box", "job-oob", False, ["abc@example.com"], None)
    run_model_monitor(backend, {"definition": model_spec(backend, "out_of_box"), "slot": slot.isoformat()}, recorder)
    results = {r.signal: r for r in ws.data_drift.get_results("out_of_box")}
    assert set(results) == set(signals)
    for result in results.values():
        assert not result.no_data and result.rows_target == 60 and result.rows_reference == 60, result
        collection = "model_outputs" if result.signal == "prediction-drift-signal" else "model_inputs"
        assert result.extra["reference"] == f"azureml:{EP}-blue-{collection}:1"
    assert set(results["data-drift-signal"].features) == set(FEATURES)
    assert len(results["prediction-drift-signal"].features) == 1
    alerts = ws.data_drift.list_alerts("out_of_box")
    bmi = [a for a in alerts if a.signal == "data-drift-signal" and a.feature == "bmi"]
    assert bmi and bmi[0].metric == "normalized_wasserstein_distance" and bmi[0].emails == ["abc@example.com"]

    # The page shows the defaulted signals in its code, and a drift signal held to another metric opens on it
    # (with its threshold line); a signal with alerts off says so in the Alerts tab.
    from studio_ext.entities import NumericalDriftMetrics
    from studio_ext.panels.monitoring import MonitoringPanel

    view = MonitoringPanel(ws, monitor="out_of_box").view
    assert view is not None and "data-quality-signal" in view.yaml.code and "data-drift-signal" in view.sdk.code
    magnitude = view.magnitude_figure
    assert "no magnitude threshold" in magnitude.layout.title.text and not magnitude.layout.shapes
    changed = got.create_monitor
    changed.monitoring_signals["data-drift-signal"].metric_thresholds.numerical = NumericalDriftMetrics(
        jensen_shannon_distance=0.01)
    changed.monitoring_signals["data-drift-signal"].alert_enabled = False
    ws.schedules.begin_create_or_update(MonitorSchedule(name="out_of_box", trigger=got.trigger,
                                                        create_monitor=changed)).result()
    recorder = Recorder(backend, "out_of_box", "job-oob-2", False, ["abc@example.com"], None)
    run_model_monitor(backend, {"definition": model_spec(backend, "out_of_box"), "slot": slot.isoformat()}, recorder)
    view = MonitoringPanel(ws, monitor="out_of_box").view
    view.signal.value = "data-drift-signal"
    view.feature.value = "bmi"
    assert view.metric.value == "jensen_shannon_distance"
    metric_fig, dist_fig = view.feature_figures
    assert [s.y0 for s in metric_fig.layout.shapes] == [0.01]
    assert dist_fig.data[0].xbins == dist_fig.data[1].xbins and dist_fig.data[0].xbins.size is not None
    assert "off (alert_enabled: false)" in view.alerts.value
    ws.schedules.begin_delete("out_of_box").result()
