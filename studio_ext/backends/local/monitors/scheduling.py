"""How monitors ride on ``ws.schedules``: the ``monitor`` action, its rows, its fire.

A ``MonitorSchedule`` is a ``schedules`` row whose action is ``{"kind": "monitor", "monitor": NAME}``.
A model monitor's definition (the v2 ``create_monitor`` mapping) is a ``monitors`` row of kind
``model`` under the schedule's name, written in the schedule's own transaction; a dataset
monitor's schedule (``ws.data_drift.enable_schedule``) names its ``data_drift`` monitor. Each
slot submits one monitor run job (:func:`.service.submit_run`), named from the schedule and slot.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from studio_ext.backends.local.core.schema import monitors
from studio_ext.backends.local.core.store import to_datetime
from studio_ext.entities._monitor import MonitorSchedule
from studio_ext.errors import InvalidInput, NotFound

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

KIND = "monitor"


def action(backend: LocalBackend, name: str, schedule: MonitorSchedule) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the schedule's action, the model monitor's spec to record or None), checked; nothing is written."""
    from studio_ext.backends.local.monitors.service import check_model_monitor

    if schedule.create_monitor is not None:
        return {"kind": KIND, "monitor": name}, check_model_monitor(backend, name, schedule.create_monitor,
                                                                   schedule.trigger)
    if not schedule.data_drift_monitor:
        raise InvalidInput(f"The monitor schedule {name!r} has no create_monitor: give create_monitor="
                           "MonitorDefinition(monitoring_target=..., monitoring_signals={...}).")
    with backend.store.engine.connect() as conn:
        row = conn.execute(monitors.select().where(monitors.c.name == schedule.data_drift_monitor)).first()
    if row is None or row.kind != "data_drift":
        raise NotFound(f"There is no data drift monitor named {schedule.data_drift_monitor!r} (ws.data_drift.list()).")
    return {"kind": KIND, "monitor": schedule.data_drift_monitor}, None


def record(conn: Any, name: str, spec: dict[str, Any] | None) -> None:
    """Inside the schedule's transaction: write a model monitor's definition under the schedule's name."""
    from studio_ext.backends.local.monitors.service import record_monitor

    if spec is not None:
        record_monitor(conn, name, "model", spec, name)


def deleted(conn: Any, action: dict[str, Any]) -> None:
    """Inside the schedule's delete: a model monitor goes with it; a dataset monitor loses its schedule."""
    from studio_ext.backends.local.monitors.service import forget

    row = conn.execute(monitors.select().where(monitors.c.name == action["monitor"])).first()
    if row is None:
        return
    if row.kind == "model":
        forget(conn, row.name)
    else:
        conn.execute(monitors.update().where(monitors.c.name == row.name).values(schedule_name=None))


def entity(backend: LocalBackend, row: Any, payload: dict[str, Any], trigger: Any,
           upcoming: list[datetime]) -> MonitorSchedule:
    """The ``MonitorSchedule`` a schedules row with a monitor action stands for."""
    from studio_ext.translation.monitor_schedule import definition_from_v2

    monitor = payload["action"]["monitor"]
    with backend.store.engine.connect() as conn:
        spec_row = conn.execute(sa.select(monitors.c.kind, monitors.c.spec).where(monitors.c.name == monitor)).first()
    definition = None
    if spec_row is not None and spec_row.kind == "model":
        import json

        spec = json.loads(spec_row.spec)
        definition = definition_from_v2(spec["create_monitor"], webhook_url=spec.get("webhook_url"))
    return MonitorSchedule(
        name=row.name, trigger=trigger, create_monitor=definition,
        data_drift_monitor=monitor if definition is None else None,
        display_name=payload.get("display_name"), description=payload.get("description"),
        tags=dict(payload.get("tags") or {}), properties=dict(payload.get("properties") or {}),
        is_enabled=bool(row.is_enabled), provisioning_state="Succeeded", next_fire_times=upcoming,
        creation_time=to_datetime(row.created_at), last_modified_time=to_datetime(row.updated_at))


def fire(backend: LocalBackend, action: dict[str, Any], job_name: str, slot: datetime, tags: dict[str, str]) -> str:
    """A slot of a monitor schedule: submit the monitor's run job; its name."""
    from studio_ext.backends.local.monitors.service import submit_run

    return str(submit_run(backend, action["monitor"], mode="scheduled", slot=slot, job_name=job_name,
                          tags=tags).name)
