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
