"""Model monitors: studio_ext ``MonitorSchedule`` <-> v2 ``schedule`` YAML with ``create_monitor`` <-> azure-ai-ml.

The v2 mapping is azure-ai-ml's own (``MonitorSchedule._to_dict()``): ``create_monitor``
holds ``monitoring_target`` (``ml_task``, ``endpoint_deployment_id``, ``model_id``),
``monitoring_signals`` (a name -> signal mapping; each signal's ``type`` is ``data_drift``,
``prediction_drift``, ``data_quality`` or ``feature_attribution_drift``), ``alert_notification``
(``emails``) and ``compute`` (serverless Spark: no local meaning, kept and noted). The trigger
maps as a job schedule's (:mod:`.schedule`).

studio_ext's ``AlertNotification.webhook_url`` has no v2 field: it travels as the schedule's tag
``studio_ext.alert_webhook_url``. Signals azure-ai-ml has that are not built here (model
performance, custom, generation safety and token statistics) are refused by name.

azure-ai-ml quirks absorbed: ``load_schedule`` lives in ``azure.ai.ml.entities._load_functions``
(1.35); ``ReferenceData`` takes no ``target_column_name`` (it is ``data_column_names.target_column``);
a signal's ``features`` is a list, ``{"top_n_feature_importance": N}`` or ``all_features``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from studio_ext.entities._job import Input
from studio_ext.entities._monitor import (
    SIGNAL_TYPES,
    AlertNotification,
    BaselineDataRange,
    CategoricalDriftMetrics,
    DataDriftMetricThreshold,
    DataQualityMetricsCategorical,
    DataQualityMetricsNumerical,
    DataQualityMetricThreshold,
    FADProductionData,
    FeatureAttributionDriftMetricThreshold,
    MonitorDefinition,
    MonitorFeatureFilter,
    MonitoringTarget,
    MonitorSchedule,
    NumericalDriftMetrics,
    PredictionDriftMetricThreshold,
    ProductionData,
    ReferenceData,
)
from studio_ext.errors import InvalidInput
from studio_ext.translation._common import SCHEMA_ROOT, Translated, dump, plain, put, str_map

SCHEMA = SCHEMA_ROOT + "schedule.schema.json"
WEBHOOK_TAG = "studio_ext.alert_webhook_url"
COMPUTE_KEY = "azureml.compute"
_NOT_BUILT = ("model_performance", "custom", "generation_safety_quality", "generation_token_statistics")
_THRESHOLDS: dict[str, tuple[type, type | None, type | None]] = {
    "data_drift": (DataDriftMetricThreshold, NumericalDriftMetrics, CategoricalDriftMetrics),
    "prediction_drift": (PredictionDriftMetricThreshold, NumericalDriftMetrics, CategoricalDriftMetrics),
    "data_quality": (DataQualityMetricThreshold, DataQualityMetricsNumerical, DataQualityMetricsCategorical),
    "feature_attribution_drift": (FeatureAttributionDriftMetricThreshold, None, None),
}


# -- v2 -> entities -----------------------------------------------------------------------------
def _fields_of(cls: type, data: Mapping[str, Any], where: str) -> dict[str, Any]:
    names = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InvalidInput(f"{where} has fields {', '.join(unknown)} that {cls.__name__} does not take. "
                           f"It takes: {', '.join(sorted(names))}.")
    return dict(data)


def _data(value: Any, cls: type, where: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where} is a mapping with input_data (type, path). Got {value!r}.")
    data = _fields_of(cls, value, where)
    source = data.get("input_data")
    if not isinstance(source, Mapping) or not source.get("path"):
        raise InvalidInput(f"{where}.input_data needs a path (azureml:NAME:VERSION) and a type (mltable, uri_folder).")
    data["input_data"] = Input(type=str(source.get("type") or "uri_folder"), path=str(source["path"]))
    if isinstance(data.get("data_window"), Mapping):
        data["data_window"] = BaselineDataRange(**_fields_of(BaselineDataRange, data["data_window"],
                                                             f"{where}.data_window"))
    data["data_column_names"] = str_map(data.get("data_column_names"))
    return cls(**data)


def _features(value: Any, where: str) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return MonitorFeatureFilter(**_fields_of(MonitorFeatureFilter, value, f"{where}.features"))
    if isinstance(value, list):
        return [str(v) for v in value]
    raise InvalidInput(f"{where}.features is all_features, a list of column names or "
                       f"{{top_n_feature_importance: N}}. Got {value!r}.")


def _thresholds(kind: str, value: Any, where: str) -> Any:
    if value is None:
        return None
    outer, numerical, categorical = _THRESHOLDS[kind]
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where}.metric_thresholds is a mapping. Got {value!r}.")
    data = _fields_of(outer, value, f"{where}.metric_thresholds")
    for key, cls in (("numerical", numerical), ("categorical", categorical)):
        if cls is not None and isinstance(data.get(key), Mapping):
            data[key] = cls(**_fields_of(cls, data[key], f"{where}.metric_thresholds.{key}"))
    return outer(**data)


def signal_from_v2(name: str, value: Mapping[str, Any]) -> Any:
    """One signal of ``monitoring_signals`` from its v2 mapping."""
    where = f"monitoring_signals.{name}"
    data = dict(value)
    kind = str(data.pop("type", "") or "")
    if kind in _NOT_BUILT:
        raise InvalidInput(f"{where} is a {kind} signal, which is not built here. Signals here: "
                           f"{', '.join(SIGNAL_TYPES)}.")
    if kind not in SIGNAL_TYPES:
        raise InvalidInput(f"{where} has type {kind!r}; a signal's type is one of {', '.join(SIGNAL_TYPES)}.")
    cls = SIGNAL_TYPES[kind]
    data = _fields_of(cls, data, where)
    if kind == "feature_attribution_drift":
        production = data.get("production_data")
        data["production_data"] = [_data(p, FADProductionData, f"{where}.production_data")
                                   for p in (production or [])] or None
    else:
        data["production_data"] = _data(data.get("production_data"), ProductionData, f"{where}.production_data")
    data["reference_data"] = _data(data.get("reference_data"), ReferenceData, f"{where}.reference_data")
    if "features" in data:
        data["features"] = _features(data["features"], where)
    data["metric_thresholds"] = _thresholds(kind, data.get("metric_thresholds"), where)
    data["alert_enabled"] = bool(data.get("alert_enabled", False))
    data["properties"] = str_map(data.get("properties"))
    return cls(**data)


def definition_from_v2(mapping: Mapping[str, Any], result: Translated[Any] | None = None,
                       webhook_url: str | None = None) -> MonitorDefinition:
    """A ``MonitorDefinition`` from v2's ``create_monitor`` mapping (``compute`` kept, noted in ``result``)."""
    data = plain(dict(mapping))
    unknown = sorted(set(data) - {"monitoring_target", "monitoring_signals", "alert_notification", "compute"})
    if unknown:
        raise InvalidInput(f"create_monitor has fields {', '.join(unknown)} that are not taken here. It takes "
                           "monitoring_target, monitoring_signals, alert_notification and compute.")
    target = data.get("monitoring_target")
    signals = data.get("monitoring_signals") or {}
    if not isinstance(signals, Mapping):
        raise InvalidInput("create_monitor.monitoring_signals is a mapping of signal names to signals.")
    alert = data.get("alert_notification")
    emails = list(alert.get("emails") or []) if isinstance(alert, Mapping) else []
    compute = data.get("compute")
    if compute and result is not None:
        result.note("create_monitor.compute", "serverless Spark compute has no local meaning: a monitor run is a "
                    "local job here. Kept for the way back to Azure.")
    return MonitorDefinition(
        monitoring_target=MonitoringTarget(**_fields_of(MonitoringTarget, target, "monitoring_target"))
        if isinstance(target, Mapping) else None,
        monitoring_signals={str(k): signal_from_v2(str(k), v) for k, v in signals.items()},
        alert_notification=AlertNotification(emails=[str(e) for e in emails], webhook_url=webhook_url)
        if (emails or webhook_url) else None,
        compute=dict(compute) if isinstance(compute, Mapping) else None)


def from_v2(mapping: Mapping[str, Any], base_path: str | os.PathLike[str] | None = None) -> Translated[MonitorSchedule]:
    """A studio_ext ``MonitorSchedule`` from a v2 schedule mapping with ``create_monitor``."""
    from studio_ext.translation.schedule import trigger_from_v2

    data = plain(dict(mapping))
    if not data.get("name"):
        raise InvalidInput("A v2 monitor schedule needs a name.")
    if not isinstance(data.get("trigger"), Mapping):
        raise InvalidInput(f"The monitor schedule {data['name']!r} has no trigger: give trigger: {{type: recurrence, "
                           "frequency: day, interval: 1}} or {type: cron, expression: '0 3 * * *'}.")
    if not isinstance(data.get("create_monitor"), Mapping):
        raise InvalidInput(f"The monitor schedule {data['name']!r} has no create_monitor mapping.")
    tags = str_map(data.get("tags"))
    webhook = tags.pop(WEBHOOK_TAG, None)
    result: Translated[MonitorSchedule] = Translated(MonitorSchedule(name=str(data["name"]), trigger=None))
    definition = definition_from_v2(data["create_monitor"], result, webhook)
    result.entity = MonitorSchedule(
        name=str(data["name"]), trigger=trigger_from_v2(data["trigger"]), create_monitor=definition,
        display_name=data.get("display_name"), description=data.get("description"), tags=tags,
        properties=str_map(data.get("properties")),
        is_enabled=data.get("is_enabled") is not False)
    return result


# -- entities -> v2 -----------------------------------------------------------------------------
def _to_plain(value: Any) -> Any:
    """A monitor entity as v2's mapping: fields by name, None and empty values left out."""
    if isinstance(value, Input):
        return {"type": value.type, "path": value.path}
    if is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in fields(value):
            item = _to_plain(getattr(value, f.name))
            if item is None or item == {} or item == []:
                continue
            out[f.name] = item
        return out
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def definition_to_v2(definition: MonitorDefinition) -> dict[str, Any]:
    """v2's ``create_monitor`` mapping (no webhook: it is a tag of the schedule)."""
    out: dict[str, Any] = {}
    if definition.compute:
        out["compute"] = dict(definition.compute)
    if definition.monitoring_target is not None:
        out["monitoring_target"] = _to_plain(definition.monitoring_target)
    if definition.monitoring_signals:
        signals = {}
        for name, signal in definition.monitoring_signals.items():
            mapping = _to_plain(signal)
            mapping["alert_enabled"] = bool(signal.alert_enabled)
            signals[name] = mapping
        out["monitoring_signals"] = signals
    alert = definition.alert_notification
    if alert is not None and alert.emails:
        out["alert_notification"] = {"emails": list(alert.emails)}
    return out


def to_v2(schedule: MonitorSchedule) -> dict[str, Any]:
    """The monitor schedule as v2 ``schedule`` YAML's mapping."""
    from studio_ext.translation.schedule import trigger_to_v2

    if schedule.trigger is None:
        raise InvalidInput(f"The monitor schedule {schedule.name!r} has no trigger.")
    if schedule.create_monitor is None:
        raise InvalidInput(f"The schedule {schedule.name!r} runs the dataset monitor {schedule.data_drift_monitor!r} "
                           "(ws.data_drift), which has no Azure ML v2 form; see ws.data_drift.get.")
    tags = dict(schedule.tags)
    alert = schedule.create_monitor.alert_notification
    if alert is not None and alert.webhook_url:
        tags[WEBHOOK_TAG] = alert.webhook_url
    out: dict[str, Any] = {"$schema": SCHEMA, "name": schedule.name}
    put(out, display_name=schedule.display_name, description=schedule.description, tags=tags,
        properties=dict(schedule.properties))
    out["trigger"] = trigger_to_v2(schedule.trigger)
    out["create_monitor"] = definition_to_v2(schedule.create_monitor)
    return out


def to_yaml(schedule: MonitorSchedule) -> str:
    """Azure ML v2 monitor schedule YAML (``az ml schedule create --file``)."""
    return dump(to_v2(schedule))


# -- azure-ai-ml --------------------------------------------------------------------------------
def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[MonitorSchedule]:
    """A studio_ext ``MonitorSchedule`` from azure-ai-ml's (through its own ``_to_dict()``)."""
    import azure.ai.ml.entities as aml_entities

    if not isinstance(obj, aml_entities.MonitorSchedule):
        raise InvalidInput(f"The monitor schedule translation takes azure.ai.ml.entities.MonitorSchedule. Got "
                           f"{type(obj).__module__}.{type(obj).__qualname__}.")
    if obj.trigger is None:
        raise InvalidInput(f"The monitor schedule {obj.name!r} has no trigger: give trigger=RecurrenceTrigger(...) "
                           "or CronTrigger(...).")
    result = from_v2(plain(obj._to_dict()), base_path)
    result.entity.is_enabled = getattr(obj, "is_enabled", None) is not False
    return result


def to_azure(schedule: MonitorSchedule) -> Any:
    """azure-ai-ml's ``MonitorSchedule``, loaded by its own ``load_schedule``."""
    from studio_ext.translation.schedule import load_azure

    return load_azure(io.StringIO(dump(to_v2(schedule))))


def from_yaml(source: str | os.PathLike[str], *,
              params_override: list[dict[str, Any]] | None = None) -> Translated[MonitorSchedule]:
    """A monitor schedule from v2 YAML (a file or text), checked by azure-ai-ml's ``load_schedule``."""
    from studio_ext.translation._dispatch import read_mapping
    from studio_ext.translation.schedule import load_azure

    text, path, _ = read_mapping(source)
    base = Path(path).parent if path else Path.cwd()
    obj = load_azure(path if path else io.StringIO(text), relative_origin=None if path else str(base),
                     params_override=params_override)
    return from_azure(obj, base)


def is_monitor_v2(mapping: Mapping[str, Any]) -> bool:
    return "create_monitor" in mapping


__all__ = ["WEBHOOK_TAG", "definition_from_v2", "definition_to_v2", "from_azure", "from_v2", "from_yaml",
           "signal_from_v2", "to_azure", "to_v2", "to_yaml"]
