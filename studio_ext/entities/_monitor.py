"""Monitors: the v1 dataset drift monitor and the v2 model monitor, named as Azure names them.

**v2 model monitors** (``azure.ai.ml.entities``' names, fields and defaults): a
``MonitorSchedule(name, trigger, create_monitor=MonitorDefinition(...))`` runs, at every
time its trigger gives, the signals of its definition (``DataDriftSignal``,
``PredictionDriftSignal``, ``DataQualitySignal``, ``FeatureAttributionDriftSignal``) on the
production data of ``MonitoringTarget.endpoint_deployment_id`` (the deployment's collected
``<endpoint>-<deployment>-model_inputs`` / ``-model_outputs`` data assets) against their
reference data (given, or the deployed model's training data found through its lineage).
Every signal has metric thresholds; one over its threshold raises a :class:`MonitorAlert`,
notified to ``AlertNotification.emails`` (kept; not sent locally) and, a studio_ext field,
``webhook_url`` (POSTed as JSON).

**v1 dataset monitors** (the ``DataDriftDetector`` flow of ``azureml-datadrift``):
a :class:`DataDriftMonitor` compares each ``frequency`` window of a ``target`` tabular
dataset (cut on its ``timestamp_column``) with a ``baseline`` dataset; each window gives a
:class:`DriftWindowResult` with the overall ``drift_magnitude`` (0-100) and per-feature metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from studio_ext.entities._job import Input
from studio_ext.entities._schedule import _Schedule

__all__ = [
    "SIGNAL_TYPES",
    "AlertNotification",
    "BaselineDataRange",
    "CategoricalDriftMetrics",
    "DataDriftMetricThreshold",
    "DataDriftMonitor",
    "DataDriftSignal",
    "DataQualityMetricThreshold",
    "DataQualityMetricsCategorical",
    "DataQualityMetricsNumerical",
    "DataQualitySignal",
    "DriftWindowResult",
    "FADProductionData",
    "FeatureAttributionDriftMetricThreshold",
    "FeatureAttributionDriftSignal",
    "MonitorAlert",
    "MonitorDefinition",
    "MonitorFeatureFilter",
    "MonitorSchedule",
    "MonitoringTarget",
    "NumericalDriftMetrics",
    "PredictionDriftMetricThreshold",
    "PredictionDriftSignal",
    "ProductionData",
    "ReferenceData",
]


# -- data ---------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class BaselineDataRange:
    """Which rows of a data asset a signal reads: fixed dates, or a look-back (ISO 8601 durations: ``P7D``)."""

    window_start: str | None = None
    window_end: str | None = None
    lookback_window_size: str | None = None
    lookback_window_offset: str | None = None


@dataclass(kw_only=True)
class ProductionData:
    """The data a signal watches: a data asset (``Input(type="uri_folder", path="azureml:NAME:VERSION")``).

    Given none, a signal reads the deployment's collected ``model_inputs`` (``model_outputs`` for
    prediction drift). ``data_column_names`` names special columns (``{"timestamp_column": ...}``).
    """

    input_data: Input
    data_context: str | None = None
    pre_processing_component: str | None = None
    data_window: BaselineDataRange | None = None
    data_column_names: dict[str, str] = field(default_factory=dict)


@dataclass(kw_only=True)
class ReferenceData(ProductionData):
    """The data a signal compares with (``data_context`` ``training``, ``test``, ``validation``, ...).

    Given none, the deployed model's training data is found through its lineage.
    ``data_column_names={"target_column": ...}`` names the label (left out of the features).
    """


@dataclass(kw_only=True)
class FADProductionData(ProductionData):
    """Production data of a feature attribution drift signal (inputs and outputs, as Azure's)."""


# -- thresholds ---------------------------------------------------------------------------------
@dataclass(kw_only=True)
class NumericalDriftMetrics:
    """Drift thresholds for numerical features (Azure's default: normalized Wasserstein distance 0.1)."""

    jensen_shannon_distance: float | None = None
    normalized_wasserstein_distance: float | None = None
    population_stability_index: float | None = None
    two_sample_kolmogorov_smirnov_test: float | None = None


@dataclass(kw_only=True)
class CategoricalDriftMetrics:
    """Drift thresholds for categorical features (Azure's default: Jensen-Shannon distance 0.1)."""

    jensen_shannon_distance: float | None = None
    population_stability_index: float | None = None
    pearsons_chi_squared_test: float | None = None


@dataclass(kw_only=True)
class DataDriftMetricThreshold:
    numerical: NumericalDriftMetrics | None = None
    categorical: CategoricalDriftMetrics | None = None


@dataclass(kw_only=True)
class PredictionDriftMetricThreshold:
    numerical: NumericalDriftMetrics | None = None
    categorical: CategoricalDriftMetrics | None = None


@dataclass(kw_only=True)
class DataQualityMetricsNumerical:
    null_value_rate: float | None = None
    data_type_error_rate: float | None = None
    out_of_bounds_rate: float | None = None


@dataclass(kw_only=True)
class DataQualityMetricsCategorical:
    null_value_rate: float | None = None
    data_type_error_rate: float | None = None
    out_of_bounds_rate: float | None = None


@dataclass(kw_only=True)
class DataQualityMetricThreshold:
    """Data quality thresholds (Azure's defaults: every rate 0.0 for both kinds)."""

    numerical: DataQualityMetricsNumerical | None = None
    categorical: DataQualityMetricsCategorical | None = None


@dataclass(kw_only=True)
class FeatureAttributionDriftMetricThreshold:
    """Alert when the normalized discounted cumulative gain of the importance ranking falls *below* this."""

    normalized_discounted_cumulative_gain: float | None = None


# -- signals ------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class MonitorFeatureFilter:
    """The top N features by the model's global importance (Azure: ``features=MonitorFeatureFilter(...)``)."""

    top_n_feature_importance: int = 10


@dataclass(kw_only=True)
class _Signal:
    production_data: Any = None
    reference_data: ReferenceData | None = None
    alert_enabled: bool = False
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(kw_only=True)
class DataDriftSignal(_Signal):
    """Per-feature drift of the production inputs against the reference.

    ``features``: ``None``/``"all_features"``, a list of names, or ``MonitorFeatureFilter(top_n_feature_importance=N)``.
    """

    features: list[str] | MonitorFeatureFilter | str | None = None
    feature_type_override: dict[str, str] = field(default_factory=dict)
    metric_thresholds: DataDriftMetricThreshold | None = None
    type: str = field(default="data_drift", init=False)


@dataclass(kw_only=True)
class PredictionDriftSignal(_Signal):
    """Drift of the model's outputs (the collected ``model_outputs``) against the reference's labels or outputs."""

    metric_thresholds: PredictionDriftMetricThreshold | None = None
    type: str = field(default="prediction_drift", init=False)


@dataclass(kw_only=True)
class DataQualitySignal(_Signal):
    """Null values, type errors and out-of-range values of the production inputs, per feature."""

    features: list[str] | MonitorFeatureFilter | str | None = None
    feature_type_override: dict[str, str] = field(default_factory=dict)
    metric_thresholds: DataQualityMetricThreshold | None = None
    type: str = field(default="data_quality", init=False)


@dataclass(kw_only=True)
class FeatureAttributionDriftSignal(_Signal):
    """The change of the deployed model's global feature importance between reference and production (NDCG)."""

    metric_thresholds: FeatureAttributionDriftMetricThreshold | None = None
    type: str = field(default="feature_attribution_drift", init=False)


SIGNAL_TYPES: dict[str, type[_Signal]] = {
    "data_drift": DataDriftSignal, "prediction_drift": PredictionDriftSignal, "data_quality": DataQualitySignal,
    "feature_attribution_drift": FeatureAttributionDriftSignal,
}


# -- definition and schedule --------------------------------------------------------------------
@dataclass(kw_only=True)
class MonitoringTarget:
    """What is monitored: ``endpoint_deployment_id`` (``azureml:ENDPOINT:DEPLOYMENT``) and the model's ``ml_task``."""

    ml_task: str | None = None
    endpoint_deployment_id: str | None = None
    model_id: str | None = None


@dataclass(kw_only=True)
class AlertNotification:
    """Who hears of an alert: ``emails`` (kept and shown; no mail is sent locally) and ``webhook_url``.

    ``webhook_url`` is studio_ext's own (Azure alerts by email): every alert is POSTed there as JSON.
    """

    emails: list[str] = field(default_factory=list)
    webhook_url: str | None = None


@dataclass(kw_only=True)
class MonitorDefinition:
    """The signals a monitor schedule runs, on which target, and whom it alerts.

    ``compute`` (Azure's serverless Spark settings) has no local meaning: it is kept for the way back.
    """

    monitoring_target: MonitoringTarget | None = None
    monitoring_signals: dict[str, Any] = field(default_factory=dict)
    alert_notification: AlertNotification | None = None
    compute: dict[str, Any] | None = None


@dataclass(kw_only=True, repr=False)
class MonitorSchedule(_Schedule):
    """Run a model monitor at the times a trigger gives, as ``azure.ai.ml.entities.MonitorSchedule``.

    Example::

        ws.schedules.begin_create_or_update(MonitorSchedule(
            name="credit-monitor", trigger=RecurrenceTrigger(frequency="day", interval=1),
            create_monitor=MonitorDefinition(
                monitoring_target=MonitoringTarget(ml_task="classification",
                                                   endpoint_deployment_id="azureml:credit:blue"),
                monitoring_signals={"drift": DataDriftSignal()}))).result()

    A v1 :class:`DataDriftMonitor`'s schedule is listed here too: its ``create_monitor`` is None and
    ``data_drift_monitor`` names it.
    """

    create_monitor: MonitorDefinition | None = None
    data_drift_monitor: str | None = None
    type: str = "monitor"

    def __repr__(self) -> str:
        target = (self.create_monitor.monitoring_target if self.create_monitor else None)
        watched = (target.endpoint_deployment_id if target else None) or self.data_drift_monitor
        signals = list(self.create_monitor.monitoring_signals) if self.create_monitor else []
        return (f"MonitorSchedule(name={self.name!r}, trigger={self._trigger_text()}, target={watched!r}, signals={signals}, "
                f"is_enabled={self.is_enabled})")


# -- v1 dataset monitors ------------------------------------------------------------------------
@dataclass(kw_only=True)
class DataDriftMonitor:
    """A v1 dataset monitor (``DataDriftDetector``): each ``frequency`` window of ``target`` against ``baseline``.

    ``baseline`` and ``target`` are registered tabular datasets (``NAME``, ``NAME:VERSION`` or
    ``azureml:NAME@latest``). ``features``: the columns compared (all common ones but the
    timestamp when empty). ``drift_threshold``: the drift magnitude (0-100 here, as the results
    report it; a fraction 0-1 is read as a share of 100) over which a window raises an alert.
    ``latency``: hours after a window's end before a scheduled run computes it.
    """

    name: str
    baseline: str
    target: str
    timestamp_column: str
    frequency: str = "Week"
    features: list[str] = field(default_factory=list)
    drift_threshold: float = 20.0
    latency: int = 0
    alert_emails: list[str] = field(default_factory=list)
    alert_webhook: str | None = None
    description: str | None = None
    # Filled in by the service.
    schedule_name: str | None = None
    state: str = "Disabled"  # Enabled while its schedule is
    creation_time: datetime | None = None
    last_run_job: str | None = None
    alert_count: int = 0


@dataclass(kw_only=True)
class DriftWindowResult:
    """One window of a monitor's results: when, how much drift, and each feature's metrics.

    ``no_data`` windows had no rows on one side: their magnitude is None, not zero.
    ``signal`` is the v2 signal's name (``"data_drift"`` for a v1 monitor).
    """

    monitor: str
    signal: str
    start: datetime
    end: datetime
    drift_magnitude: float | None
    features: dict[str, dict[str, float]] = field(default_factory=dict)
    feature_kinds: dict[str, str] = field(default_factory=dict)
    rows_reference: int = 0
    rows_target: int = 0
    no_data: bool = False
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    job_name: str | None = None
    backfill: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class MonitorAlert:
    """A signal over its threshold: recorded in the workspace, and notified.

    ``email_status`` is ``"not sent locally"`` when emails were given (they are kept and shown);
    ``webhook_status`` says what the webhook answered (``"sent (200)"``, ``"failed: ..."``) or ``""``.
    """

    id: int
    monitor: str
    signal: str
    metric: str
    value: float
    threshold: float
    feature: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    job_name: str | None = None
    created_at: datetime | None = None
    message: str = ""
    emails: list[str] = field(default_factory=list)
    email_status: str = ""
    webhook_url: str | None = None
    webhook_status: str = ""
    acknowledged: bool = False
