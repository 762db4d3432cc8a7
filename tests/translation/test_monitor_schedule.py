"""Model monitors: azure-ai-ml's MonitorSchedule <-> studio_ext's <-> v2 YAML, loaded back by Azure's own loader."""

from __future__ import annotations

import io

import pytest
from azure.ai.ml import Input as AzureInput
from azure.ai.ml.entities import AlertNotification as AzureAlertNotification
from azure.ai.ml.entities import BaselineDataRange as AzureBaselineDataRange
from azure.ai.ml.entities import CategoricalDriftMetrics as AzureCategoricalDriftMetrics
from azure.ai.ml.entities import DataDriftMetricThreshold as AzureDataDriftMetricThreshold
from azure.ai.ml.entities import DataDriftSignal as AzureDataDriftSignal
from azure.ai.ml.entities import DataQualityMetricsNumerical as AzureDataQualityMetricsNumerical
from azure.ai.ml.entities import DataQualityMetricThreshold as AzureDataQualityMetricThreshold
from azure.ai.ml.entities import DataQualitySignal as AzureDataQualitySignal
from azure.ai.ml.entities import MonitorDefinition as AzureMonitorDefinition
from azure.ai.ml.entities import MonitorFeatureFilter as AzureMonitorFeatureFilter
from azure.ai.ml.entities import MonitoringTarget as AzureMonitoringTarget
from azure.ai.ml.entities import MonitorSchedule as AzureMonitorSchedule
from azure.ai.ml.entities import NumericalDriftMetrics as AzureNumericalDriftMetrics
from azure.ai.ml.entities import PredictionDriftMetricThreshold as AzurePredictionDriftMetricThreshold
from azure.ai.ml.entities import PredictionDriftSignal as AzurePredictionDriftSignal
from azure.ai.ml.entities import ProductionData as AzureProductionData
from azure.ai.ml.entities import RecurrencePattern as AzureRecurrencePattern
from azure.ai.ml.entities import RecurrenceTrigger as AzureRecurrenceTrigger
from azure.ai.ml.entities import ReferenceData as AzureReferenceData
from azure.ai.ml.entities import ServerlessSparkCompute

from studio_ext import translation
from studio_ext.entities import (
    DataDriftSignal,
    DataQualitySignal,
    MonitorFeatureFilter,
    MonitorSchedule,
    PredictionDriftSignal,
    RecurrenceTrigger,
)
from studio_ext.errors import InvalidInput
from studio_ext.translation import monitor_schedule, schedule


def _azure() -> AzureMonitorSchedule:
    reference = AzureReferenceData(input_data=AzureInput(path="azureml:diabetes:1", type="mltable"),
                                   data_context="training", data_column_names={"target_column": "Diabetic"})
    return AzureMonitorSchedule(
        name="credit", tags={"team": "risk", monitor_schedule.WEBHOOK_TAG: "http://127.0.0.1:9/hook"},
        trigger=AzureRecurrenceTrigger(frequency="day", interval=1, schedule=AzureRecurrencePattern(hours=3, minutes=15)),
        create_monitor=AzureMonitorDefinition(
            compute=ServerlessSparkCompute(instance_type="standard_e4s_v3", runtime_version="3.4"),
            monitoring_target=AzureMonitoringTarget(ml_task="classification", endpoint_deployment_id="azureml:ep:blue"),
            monitoring_signals={
                "drift": AzureDataDriftSignal(
                    production_data=AzureProductionData(
                        input_data=AzureInput(path="azureml:ep-blue-model_inputs:1", type="uri_folder"),
                        data_context="model_inputs",
                        data_window=AzureBaselineDataRange(lookback_window_size="P7D", lookback_window_offset="P0D")),
                    reference_data=reference, features=AzureMonitorFeatureFilter(top_n_feature_importance=5),
                    alert_enabled=True, metric_thresholds=AzureDataDriftMetricThreshold(
                        numerical=AzureNumericalDriftMetrics(jensen_shannon_distance=0.01),
                        categorical=AzureCategoricalDriftMetrics(pearsons_chi_squared_test=0.02))),
                "prediction": AzurePredictionDriftSignal(
                    reference_data=reference, metric_thresholds=AzurePredictionDriftMetricThreshold(
                        numerical=AzureNumericalDriftMetrics(normalized_wasserstein_distance=0.2))),
                "quality": AzureDataQualitySignal(
                    features=["Age", "BMI"], metric_thresholds=AzureDataQualityMetricThreshold(
                        numerical=AzureDataQualityMetricsNumerical(null_value_rate=0.1))),
            },
            alert_notification=AzureAlertNotification(emails=["ops@example.com"])))


def test_azure_monitor_schedule_round_trips_through_studio_ext_and_yaml() -> None:
    result = translation.from_azure_any(_azure())
    ours = result.entity
    assert isinstance(ours, MonitorSchedule) and isinstance(ours.trigger, RecurrenceTrigger)
    assert [n.field for n in result.notes] == ["create_monitor.compute"]
    definition = ours.create_monitor
    assert definition.monitoring_target.endpoint_deployment_id == "azureml:ep:blue"
    drift = definition.monitoring_signals["drift"]
    assert isinstance(drift, DataDriftSignal) and drift.alert_enabled
    assert drift.features == MonitorFeatureFilter(top_n_feature_importance=5)
    assert drift.metric_thresholds.numerical.jensen_shannon_distance == 0.01
    assert drift.production_data.data_window.lookback_window_size == "P7D"
    assert drift.reference_data.data_column_names == {"target_column": "Diabetic"}
    assert isinstance(definition.monitoring_signals["prediction"], PredictionDriftSignal)
    quality = definition.monitoring_signals["quality"]
    assert isinstance(quality, DataQualitySignal) and quality.metric_thresholds.numerical.null_value_rate == 0.1
    assert definition.alert_notification.emails == ["ops@example.com"]
    assert definition.alert_notification.webhook_url == "http://127.0.0.1:9/hook" and ours.tags == {"team": "risk"}

    text = translation.to_yaml(ours)
    again = schedule.from_yaml(text).entity
    assert again.create_monitor == ours.create_monitor and again.tags == ours.tags
    back = monitor_schedule.to_azure(ours)
    assert isinstance(back, AzureMonitorSchedule)
    assert back.create_monitor.monitoring_signals["drift"].metric_thresholds.categorical.pearsons_chi_squared_test == 0.02
    assert back.tags[monitor_schedule.WEBHOOK_TAG] == "http://127.0.0.1:9/hook"


@pytest.mark.parametrize(("signal", "message"), [
    ("{type: model_performance}", "is a model_performance signal, which is not built here"),
    ("{type: data_drift, metric_thresholds: {numerical: {accuracy: 0.1}}}",
     "has fields accuracy that NumericalDriftMetrics does not take"),
    ("{type: data_drift, reference_data: {data_context: training}}", "reference_data.input_data needs a path"),
])
def test_signals_that_cannot_run_here_are_refused_by_name(signal: str, message: str) -> None:
    import yaml

    text = ("name: m\ntrigger: {type: cron, expression: '0 3 * * *'}\ncreate_monitor:\n"
            f"  monitoring_target: {{endpoint_deployment_id: 'azureml:ep:blue'}}\n  monitoring_signals:\n    s: {signal}\n")
    with pytest.raises(InvalidInput, match=message):
        schedule.from_v2(yaml.safe_load(io.StringIO(text)))
