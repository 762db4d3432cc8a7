"""Job schedules: studio_ext ``JobSchedule`` <-> v2 ``schedule`` YAML <-> azure-ai-ml ``JobSchedule``.

The trigger (``CronTrigger`` / ``RecurrenceTrigger`` with its ``RecurrencePattern``) maps
field for field; ``create_job`` is translated by its own kind's module (a command job, a
pipeline job ...), its notes and required entities passed on, or kept as a reference
(``azureml:NAME``). v2 YAML's ``create_job`` takes the forms Azure's loader does (a job file
``./job.yml``, ``azureml:NAME``, or ``{job: ./job.yml, <fields to change>}``), and also an
inline job mapping (``{type: command, command: ..., code: ...}``), which is what
azure-ai-ml's own ``JobSchedule._to_dict()`` writes; that form is read by ``load_job``.

azure-ai-ml quirks absorbed: ``load_schedule`` is not exported from ``azure.ai.ml`` in 1.35
(``azure.ai.ml.entities._load_functions``); its loader refuses an inline job mapping, so
:func:`to_azure` loads the schedule with the job as a reference and sets the translated job
after; ``time_zone`` may be a ``TimeZone`` enum; an ``is_enabled`` of None means enabled.
A ``MonitorSchedule`` (``create_monitor``) is translated by :mod:`.monitor_schedule`; data import
schedules are refused by name.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from studio_ext.entities import Job
from studio_ext.entities._monitor import MonitorSchedule
from studio_ext.entities._schedule import (
    BatchEndpointInvocation,
    CronTrigger,
    JobSchedule,
    RecurrencePattern,
    RecurrenceTrigger,
)
from studio_ext.errors import InvalidInput, NotFound
from studio_ext.translation._common import SCHEMA_ROOT, Translated, dump, plain, put, str_map
from studio_ext.translation._yaml_errors import describe

SCHEMA = SCHEMA_ROOT + "schedule.schema.json"
_PLACEHOLDER = "azureml:studio-ext-schedule-job"
_NOT_YET = {
    "ImportDataSchedule": "a data import schedule (import_data) is not built here",
}


# -- triggers -----------------------------------------------------------------------------------
def trigger_to_v2(trigger: CronTrigger | RecurrenceTrigger) -> dict[str, Any]:
    """A trigger as v2 YAML's ``trigger:`` mapping."""
    out: dict[str, Any] = {"type": trigger.type}
    for key in ("start_time", "end_time"):
        value = getattr(trigger, key)
        if value is not None and value != "":
            out[key] = value.isoformat() if isinstance(value, datetime) else str(value)
    out["time_zone"] = str(getattr(trigger.time_zone, "value", trigger.time_zone) or "UTC")
    if isinstance(trigger, CronTrigger):
        out["expression"] = trigger.expression
        return out
    out["frequency"] = str(getattr(trigger.frequency, "value", trigger.frequency)).lower()
    out["interval"] = trigger.interval
    pattern = trigger.schedule
    if pattern is not None and (pattern.hours or pattern.minutes or pattern.week_days or pattern.month_days):
        out["schedule"] = put({}, hours=pattern.hours, minutes=pattern.minutes, week_days=pattern.week_days,
                              month_days=pattern.month_days)
        out["schedule"].setdefault("hours", [])
        out["schedule"].setdefault("minutes", [])
    return out


def trigger_from_v2(mapping: Mapping[str, Any]) -> CronTrigger | RecurrenceTrigger:
    """A studio_ext trigger from v2 YAML's ``trigger:`` mapping."""
    data = plain(dict(mapping))
    kind = str(data.get("type") or "").lower()
    common = {"start_time": data.get("start_time"), "end_time": data.get("end_time"),
              "time_zone": str(data.get("time_zone") or "UTC")}
    if kind == "cron":
        return CronTrigger(expression=str(data.get("expression") or ""), **common)
    if kind == "recurrence":
        pattern = data.get("schedule")
        return RecurrenceTrigger(
            frequency=str(data.get("frequency") or "").lower(), interval=data.get("interval"),
            schedule=RecurrencePattern(**{k: _listed(pattern.get(k)) for k in ("hours", "minutes", "week_days",
                                                                                "month_days")
                                          if pattern.get(k) is not None}) if isinstance(pattern, Mapping) else None,
            **common)
    raise InvalidInput(f"A schedule's trigger has type 'recurrence' or 'cron'. Got {data.get('type')!r}.")


def _listed(value: Any) -> list[Any]:
    """A pattern's field as a list (Azure takes ``hours=1`` and ``hours=[1]`` alike)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


# -- the four ways ------------------------------------------------------------------------------
def to_v2(schedule: JobSchedule | MonitorSchedule) -> dict[str, Any]:
    """The schedule as v2 ``schedule`` YAML's mapping (an inline job as azure-ai-ml's ``_to_dict`` writes it)."""
    if isinstance(schedule, MonitorSchedule):
        from studio_ext.translation import monitor_schedule

        return monitor_schedule.to_v2(schedule)
    if schedule.trigger is None:
        raise InvalidInput(f"The schedule {schedule.name!r} has no trigger.")
    out: dict[str, Any] = {"$schema": SCHEMA, "name": schedule.name}
    put(out, display_name=schedule.display_name, description=schedule.description, tags=dict(schedule.tags),
        properties=dict(schedule.properties))
    out["trigger"] = trigger_to_v2(schedule.trigger)
    out["create_job"] = _job_to_v2(schedule.create_job)
    return out


def _job_to_v2(job: Any) -> Any:
    if isinstance(job, str):
        return job if job.startswith("azureml:") else "azureml:" + job
    if isinstance(job, Job):
        from studio_ext.translation import _dispatch

        mapping = dict(_dispatch.to_v2(job))
        mapping.pop("$schema", None)
        return mapping
    if isinstance(job, BatchEndpointInvocation):
        raise InvalidInput(f"The schedule invokes the batch endpoint {job.endpoint_name!r}: Azure's REST API has that "
                           "action (InvokeBatchEndpoint), but v2 YAML and azure-ai-ml have no form for it, so it has no "
                           "YAML. ws.schedules.get(name).create_job shows it.")
    raise InvalidInput(f"A schedule's create_job is a job or an existing job's name ('azureml:NAME'). Got "
                       f"{type(job).__module__}.{type(job).__qualname__}.")


def from_v2(mapping: Mapping[str, Any], base_path: str | os.PathLike[str] | None = None) -> Translated[Any]:
    """A studio_ext ``JobSchedule`` from v2 ``schedule`` YAML's mapping (``create_job`` in any form above).

    A mapping with ``create_monitor`` is a ``MonitorSchedule`` (:mod:`.monitor_schedule`).
    """
    data = plain(dict(mapping))
    if "create_monitor" in data:
        from studio_ext.translation import monitor_schedule

        monitored: Translated[Any] = monitor_schedule.from_v2(data, base_path)
        return monitored
    if "import_data" in data:
        raise InvalidInput(f"This schedule is an azure.ai.ml.entities.ImportDataSchedule: "
                           f"{_NOT_YET['ImportDataSchedule']}. A schedule here takes create_job or create_monitor.")
    if not data.get("name"):
        raise InvalidInput("A v2 schedule needs a name.")
    if not isinstance(data.get("trigger"), Mapping):
        raise InvalidInput(f"The schedule {data['name']!r} has no trigger: give trigger: {{type: cron, expression: "
                           "'0 2 * * *'}} or {type: recurrence, frequency: day, interval: 1}.")
    result: Translated[JobSchedule] = Translated(JobSchedule(name=str(data["name"]), trigger=None))
    job = _job_from_v2(data.get("create_job"), base_path, result)
    result.entity = JobSchedule(
        name=str(data["name"]), trigger=trigger_from_v2(data["trigger"]), create_job=job,
        display_name=data.get("display_name"), description=data.get("description"),
        tags=str_map(data.get("tags")),
        properties=str_map(data.get("properties")),
        is_enabled=data.get("is_enabled") is not False)
    return result


def _job_from_v2(value: Any, base_path: str | os.PathLike[str] | None, result: Translated[Any]) -> Any:
    from studio_ext.translation import _dispatch

    if value is None:
        raise InvalidInput("The schedule has no create_job: give a job file (./job.yml), an existing job "
                           "(azureml:NAME) or a job mapping.")
    if isinstance(value, str):
        if value.startswith("azureml:"):
            return value
        path = Path(base_path or ".") / value
        inner = _dispatch.from_yaml(path)
    elif isinstance(value, Mapping) and "job" in value:
        path = Path(base_path or ".") / str(value["job"])
        if not path.is_file():
            raise NotFound(f"The schedule's create_job.job file {str(path)!r} does not exist.")
        job_map = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        merged = {**job_map, **{k: v for k, v in value.items() if k != "job"}}
        for key, changed in value.items():  # nested mappings are changed field by field, as azure-ai-ml merges
            if isinstance(changed, Mapping) and isinstance(job_map.get(key), Mapping):
                merged[key] = {**job_map[key], **changed}
        inner = _load_job_mapping(merged, path.parent)
    elif isinstance(value, Mapping):
        inner = _load_job_mapping(dict(value), Path(base_path) if base_path else None)
    else:
        raise InvalidInput(f"The schedule's create_job is a job file, 'azureml:NAME' or a job mapping. Got {value!r}.")
    result.notes.extend(inner.notes)
    result.requires.extend(inner.requires)
    return inner.entity


def _load_job_mapping(mapping: dict[str, Any], base_path: Path | None) -> Translated[Any]:
    """An inline job mapping read by its kind (azure-ai-ml's ``load_job`` for the kinds it loads)."""
    from studio_ext.translation import _dispatch

    module = _dispatch.kind_of_v2(mapping)
    if module.__name__.rsplit(".", 1)[-1] in ("command_job", "sweep_job", "automl_job"):
        import azure.ai.ml as aml
        from marshmallow.exceptions import ValidationError

        text = dump(mapping)
        try:
            # relative_origin names a file: paths are taken from its folder
            obj = aml.load_job(io.StringIO(text), relative_origin=str(Path(base_path or Path.cwd()) / "create_job.yml"))
        except ValidationError as exc:
            raise InvalidInput("The schedule's create_job: " + describe(exc, text, None)) from exc
        job: Translated[Any] = _dispatch.from_azure_any(obj, base_path)
        return job
    other: Translated[Any] = module.from_v2(mapping, base_path)
    return other


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[Any]:
    """A studio_ext ``JobSchedule`` from azure-ai-ml's ``JobSchedule`` (its job translated by its own kind).

    azure-ai-ml's ``MonitorSchedule`` becomes studio_ext's (:mod:`.monitor_schedule`).
    """
    import azure.ai.ml.entities as aml_entities

    if isinstance(obj, aml_entities.MonitorSchedule):
        from studio_ext.translation import monitor_schedule

        monitored: Translated[Any] = monitor_schedule.from_azure(obj, base_path)
        return monitored

    for name, reason in _NOT_YET.items():
        if isinstance(obj, getattr(aml_entities, name)):
            raise InvalidInput(f"azure.ai.ml.entities.{name} is not taken here: {reason}. ws.schedules takes "
                               "azure.ai.ml.entities.JobSchedule and MonitorSchedule.")
    if not isinstance(obj, aml_entities.JobSchedule):
        raise InvalidInput(f"The schedule translation takes azure.ai.ml.entities.JobSchedule. Got "
                           f"{type(obj).__module__}.{type(obj).__qualname__}.")
    trigger = obj.trigger
    if trigger is None:
        raise InvalidInput(f"The schedule {obj.name!r} has no trigger: give trigger=CronTrigger(...) or "
                           "RecurrenceTrigger(...).")
    mapping = plain(dict(obj._to_dict(), create_job=_PLACEHOLDER))
    result = from_v2(mapping, base_path)
    job = obj.create_job
    if isinstance(job, str):
        result.entity.create_job = job if job.startswith("azureml:") else "azureml:" + job.rsplit("/", 1)[-1]
    elif job is not None:
        from studio_ext.translation._dispatch import from_azure_any

        inner: Translated[Any] = from_azure_any(job, base_path)
        result.entity.create_job = inner.entity
        result.notes.extend(inner.notes)
        result.requires.extend(inner.requires)
    else:
        raise InvalidInput(f"The schedule {obj.name!r} has no create_job: give a job or 'azureml:NAME'.")
    result.entity.is_enabled = getattr(obj, "is_enabled", None) is not False
    return result


def load_azure(source: Any, *, relative_origin: str | None = None,
               params_override: list[dict[str, Any]] | None = None) -> Any:
    """azure-ai-ml's ``load_schedule`` (kept in ``azure.ai.ml.entities._load_functions`` in 1.35).

    A monitor (``create_monitor``) is loaded by :mod:`._monitor_yaml`: ``load_schedule`` raises an
    empty NotImplementedError in place of a monitor's schema refusal (azure-ai-ml 1.35).
    """
    from azure.ai.ml.entities._load_functions import load_schedule
    from marshmallow.exceptions import ValidationError

    text = source.getvalue() if isinstance(source, io.StringIO) else Path(source).read_text(encoding="utf-8")
    mapping = yaml.safe_load(text)
    if isinstance(mapping, Mapping) and "create_monitor" in mapping:  # load_schedule cannot report its refusal
        from studio_ext.translation import _monitor_yaml

        return _monitor_yaml.load(source, relative_origin, params_override)
    try:
        return load_schedule(source, relative_origin, params_override=params_override or [])
    except ValidationError as exc:
        raise InvalidInput(describe(exc, text, None if isinstance(source, io.StringIO) else str(source))) from exc


def to_azure(schedule: JobSchedule | MonitorSchedule) -> Any:
    """azure-ai-ml's ``JobSchedule``, loaded by its own ``load_schedule``; an inline job is set after, translated."""
    if isinstance(schedule, MonitorSchedule):
        from studio_ext.translation import monitor_schedule

        return monitor_schedule.to_azure(schedule)
    mapping = to_v2(schedule)
    job = schedule.create_job
    if isinstance(job, Job):
        mapping["create_job"] = _PLACEHOLDER
    obj = load_azure(io.StringIO(dump(mapping)))
    if isinstance(job, Job):
        from studio_ext.translation._dispatch import to_azure as job_to_azure

        obj.create_job = job_to_azure(job)
    return obj


def from_yaml(source: str | os.PathLike[str], *,
              params_override: list[dict[str, Any]] | None = None) -> Translated[Any]:
    """A schedule from a v2 YAML file (or text), checked by azure-ai-ml's ``load_schedule``.

    A ``create_job`` Azure's loader takes (a file, ``azureml:NAME``, ``{job: file, ...}``) is
    loaded by it whole; an inline job mapping is read by the job's own loader, the rest of the
    schedule by ``load_schedule``.
    """
    from studio_ext.translation._dispatch import read_mapping

    text, path, mapping = read_mapping(source)
    base = Path(path).parent if path else Path.cwd()
    if "create_monitor" in mapping:
        from studio_ext.translation import monitor_schedule

        monitored: Translated[Any] = monitor_schedule.from_yaml(source, params_override=params_override)
        return monitored
    job = mapping.get("create_job")
    if isinstance(job, Mapping) and "job" not in job:  # inline: Azure's schedule loader refuses it
        checked = dict(mapping, create_job=_PLACEHOLDER)
        load_azure(io.StringIO(dump(checked)), relative_origin=str(base), params_override=params_override)
        return from_v2(mapping, base)
    obj = load_azure(path if path else io.StringIO(text), relative_origin=None if path else str(base),
                     params_override=params_override)
    return from_azure(obj, base)


def to_yaml(schedule: JobSchedule | MonitorSchedule) -> str:
    """Azure ML v2 schedule YAML (``az ml schedule create --file``)."""
    return dump(to_v2(schedule))
