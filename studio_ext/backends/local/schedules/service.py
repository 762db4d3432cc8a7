"""``ws.schedules`` on the local backend: check a schedule, record it, read it back.

A schedule is a row of ``schedules`` (its desired state: enabled or not, the trigger and
what each fire does, as JSON); the supervisor's :class:`~.duty.SchedulesDuty` keeps one
APScheduler timer per enabled schedule and fires it. Every slot a schedule reaches gets a
row of ``schedule_fires`` (its history), written before the slot's job is created.

What a fire does is an *action*: ``job`` (a job's v2 mapping, submitted through
``ws.jobs.create_or_update`` under a name made from the schedule and the slot),
``job_reference`` (an existing job, run again with ``ws.jobs.resubmit``),
``invoke_batch_endpoint`` (a ``BatchEndpointInvocation``: Azure's batch invoke body, passed to
``ws.batch_endpoints.invoke`` under the slot's job name; see ``batch/scheduled.py``) and a
``MonitorSchedule``'s monitor run (see ``monitors/scheduling.py``).

Everything is checked before anything is written: the name, the trigger (its cron
expression field by field, interval, start and end, time zone), and the job (its compute,
environment, code folder and script, as ``ws.jobs`` would refuse them at fire time). A
command job's code folder is copied into the workspace (``schedules/NAME/code``) when the
schedule is made, as Azure uploads it, so later edits or a deleted folder do not change what
the schedule runs.
"""

from __future__ import annotations

import builtins
import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from studio_ext._poller import DonePoller, Poller
from studio_ext._validation import check_name
from studio_ext.backends.local.core import code_snapshot
from studio_ext.backends.local.core.accepting import register
from studio_ext.backends.local.core.schema import schedule_fires, schedules
from studio_ext.backends.local.core.store import now, to_datetime
from studio_ext.backends.local.monitors import scheduling as monitor_scheduling
from studio_ext.entities import BatchEndpointInvocation, CommandJob, Job, PipelineJob, SweepJob
from studio_ext.entities._monitor import MonitorSchedule
from studio_ext.entities._schedule import CronTrigger, JobSchedule, RecurrenceTrigger, ScheduleFire
from studio_ext.errors import InvalidInput, NotFound
from studio_ext.services import ScheduleOperations

if TYPE_CHECKING:  # pragma: no cover
    import azure.ai.ml.entities as aml

    from studio_ext.backends.local import LocalBackend

SCHEDULE_TAG = "schedule_name"
SLOT_TAG = "schedule_fire_time"
LIST_VIEWS = ("enabled_only", "disabled_only", "all")
ACTIONS = ("job", "job_reference", "invoke_batch_endpoint")
WHAT = "ws.schedules.begin_create_or_update"


def job_name_for(schedule: str, slot: datetime) -> str:
    """The name of the job a slot creates: the schedule's name and the slot's UTC time, so a slot has one."""
    return f"{schedule[:200]}-{slot.astimezone(UTC):%Y%m%dT%H%M%SZ}"


class LocalSchedules(ScheduleOperations):
    """Job schedules on the local backend (``ws.schedules``)."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    # -- write ----------------------------------------------------------------------------------
    def begin_create_or_update(self, schedule: JobSchedule | MonitorSchedule | aml.JobSchedule | aml.MonitorSchedule
                               ) -> Poller[JobSchedule | MonitorSchedule]:
        """Check the schedule and record it (enabled unless ``is_enabled=False``); nothing is stored on bad input.

        It takes studio_ext's ``JobSchedule`` or azure-ai-ml's (translated at the door, its job by
        its own kind; an inline environment is registered, and Azure fields with no local meaning
        are noted as :class:`~studio_ext.errors.AzureFieldNote`).
        """
        from studio_ext.translation import show_notes

        schedule, notes = self._accept(schedule)
        poller = self._create(schedule)
        show_notes(None, notes, WHAT)
        poller.result().notes.extend(str(n) for n in notes)
        return poller

    def _accept(self, schedule: Any) -> tuple[JobSchedule | MonitorSchedule, builtins.list[Any]]:
        """(a studio_ext JobSchedule whose job is a studio_ext job, the translation's notes)."""
        from studio_ext import translation
        from studio_ext.translation import schedule as schedule_translation

        notes: builtins.list[Any] = []
        if translation.is_azure(schedule):
            result = schedule_translation.from_azure(schedule)
            for required in result.requires:
                register(self._b, required, notes)
            notes.extend(result.notes)
            return result.entity, notes
        if isinstance(schedule, MonitorSchedule):  # its monitor is checked by the monitors' code in _create
            return schedule, notes
        if not isinstance(schedule, JobSchedule):
            raise InvalidInput(f"{WHAT} takes studio_ext.entities.JobSchedule or azure.ai.ml.entities.JobSchedule "
                               "(or their MonitorSchedule). "
                               f"Got {type(schedule).__module__}.{type(schedule).__qualname__} instead.")
        job = schedule.create_job
        if translation.is_azure(job):  # a studio_ext schedule of an azure-ai-ml job
            accepted = translation.accept(job, Job, f"{WHAT} (create_job)")
            for required in accepted.requires:
                register(self._b, required, notes)
            notes.extend(accepted.notes)
            schedule = replace(schedule, create_job=accepted.entity)
        return schedule, notes

    def _create(self, schedule: JobSchedule | MonitorSchedule) -> Poller[JobSchedule | MonitorSchedule]:
        from studio_ext.ml import schedules as engine
        from studio_ext.translation.schedule import trigger_to_v2

        name = check_name(schedule.name, "schedule name")
        trigger = schedule.trigger
        if not isinstance(trigger, (CronTrigger, RecurrenceTrigger)):
            raise InvalidInput(f"The schedule {name!r} has no trigger. Give trigger=RecurrenceTrigger(frequency=..., "
                               "interval=...) or CronTrigger(expression='0 2 * * *').")
        stamp = now()
        anchor = datetime.fromtimestamp(int(stamp), UTC)
        built = engine.build(trigger, anchor=anchor)
        if built.get_next_fire_time(None, anchor) is None:
            raise InvalidInput(f"The schedule {name!r} would never fire: its end_time {trigger.end_time!s} is past. "
                               "Give a later end_time, or none.")
        monitor_spec = None
        if isinstance(schedule, MonitorSchedule):
            action, monitor_spec = monitor_scheduling.action(self._b, name, schedule)
            code_plan = None
        else:
            action, code_plan = self._action(name, schedule.create_job)
        payload = {
            "trigger": trigger_to_v2(trigger), "action": action, "display_name": schedule.display_name,
            "description": schedule.description, "tags": {str(k): str(v) for k, v in schedule.tags.items()},
            "properties": {str(k): str(v) for k, v in schedule.properties.items()},
            # a recurrence without start_time counts from when it was made
            "anchor": anchor.isoformat(),
        }
        folder = self._b.path / "schedules" / name
        if code_plan is not None:  # copied aside, then swapped in as the row is written
            staging = code_snapshot.partial_path(folder.parent, name)
            code_snapshot.copy(code_plan, staging)
        enabled = schedule.is_enabled is not False
        try:
            with self._b.store.engine.begin() as conn:
                row = conn.execute(schedules.select().where(schedules.c.name == name)).first()
                if row is not None:
                    old = json.loads(row.payload)
                    payload["anchor"] = old.get("anchor", payload["anchor"])
                    conn.execute(schedules.update().where(schedules.c.name == name).values(
                        is_enabled=enabled, revision=row.revision + 1, updated_at=stamp, enabled_at=stamp,
                        payload=json.dumps(payload)))
                else:
                    conn.execute(schedules.insert().values(
                        name=name, is_enabled=enabled, revision=1, created_at=stamp, updated_at=stamp,
                        enabled_at=stamp, payload=json.dumps(payload)))
                monitor_scheduling.record(conn, name, monitor_spec)
                if code_plan is not None:
                    shutil.rmtree(folder / "code", ignore_errors=True)
                    folder.mkdir(parents=True, exist_ok=True)
                    staging.rename(folder / "code")
        except BaseException:
            if code_plan is not None:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        if enabled:
            self._b.ensure_supervisor()
        return DonePoller(self.get(name))

    def _action(self, name: str, create_job: Any) -> tuple[dict[str, Any], Any]:
        """What each fire does, checked: (the action's JSON, the code folder's copy plan or None)."""
        from studio_ext import translation

        if isinstance(create_job, str):
            reference = create_job.strip()
            job_name = reference.rsplit("/", 1)[-1] if reference.startswith("azureml:/") else \
                reference.removeprefix("azureml:")
            try:
                self._b.service("jobs").get(job_name)
            except NotFound:
                raise InvalidInput(f"The schedule {name!r} runs the job {reference!r}, which does not exist. Give an "
                                   "existing job's name as 'azureml:NAME', or a job (command(...), a pipeline job).") \
                    from None
            return {"kind": "job_reference", "job": job_name}, None
        if isinstance(create_job, Job):
            plan = None
            if isinstance(create_job, CommandJob):
                plan = self._check_command_job(create_job)
            elif isinstance(create_job, PipelineJob):  # the checks its submit makes: steps, bindings, computes
                self._b.service("pipelines").check(create_job)
            elif isinstance(create_job, SweepJob):
                self._b.service("sweeps").check(create_job)
            mapping = translation.to_v2(replace(create_job, name=None) if create_job.name else create_job)
            return {"kind": "job", "job_type": create_job.type, "job": mapping}, plan
        if isinstance(create_job, BatchEndpointInvocation):
            from studio_ext.backends.local.batch import scheduled

            return scheduled.action(self._b, name, create_job), None
        what = type(create_job).__module__ + "." + type(create_job).__qualname__
        raise InvalidInput(
            f"The schedule {name!r} has create_job={what}; a schedule here runs a job: a studio_ext or azure-ai-ml "
            "job (command(...), a sweep, an AutoML or a pipeline job), an existing job's name 'azureml:NAME', or "
            "BatchEndpointInvocation(endpoint_name=...) to invoke a batch endpoint.")

    def _check_command_job(self, job: CommandJob) -> Any:
        """The checks ``ws.jobs.create_or_update`` makes before writing (so a bad job is refused now, not at 2 am)."""
        jobs = self._b.service("jobs")
        jobs._check_compute(job.compute or "local")
        self._b.service("environments").resolve(job.environment)
        code_dir = jobs._check_code(job.code)
        jobs._check_script(jobs._split_command(job.command), code_dir)
        from studio_ext.backends.local.jobs import command_line

        command_line.render(job.command, {"inputs": {k: getattr(v, "path", None) or getattr(v, "default", v)
                                                     for k, v in job.inputs.items()},
                                          "outputs": {k: f"<{k}>" for k in job.outputs}})
        return code_snapshot.scan(code_dir) if code_dir is not None else None

    def _set_enabled(self, name: str, enabled: bool) -> Poller[JobSchedule | MonitorSchedule]:
        stamp = now()
        with self._b.store.engine.begin() as conn:
            row = self._require(name, conn)
            if bool(row.is_enabled) != enabled:
                conn.execute(schedules.update().where(schedules.c.name == name).values(
                    is_enabled=enabled, revision=row.revision + 1, updated_at=stamp,
                    **({"enabled_at": stamp} if enabled else {})))
        if enabled:
            self._b.ensure_supervisor()
        return DonePoller(self.get(name))

    def begin_enable(self, name: str) -> Poller[JobSchedule | MonitorSchedule]:
        """Enable the schedule: it fires from its next slot on."""
        return self._set_enabled(name, True)

    def begin_disable(self, name: str) -> Poller[JobSchedule | MonitorSchedule]:
        """Disable the schedule: no slot after this call fires."""
        return self._set_enabled(name, False)

    def begin_delete(self, name: str) -> Poller[str]:
        """Delete the schedule and its history (the jobs it created stay)."""
        with self._b.store.engine.begin() as conn:
            row = self._require(name, conn)
            action = json.loads(row.payload)["action"]
            if action["kind"] == monitor_scheduling.KIND:
                monitor_scheduling.deleted(conn, action)
            conn.execute(schedules.delete().where(schedules.c.name == name))
            conn.execute(schedule_fires.delete().where(schedule_fires.c.schedule_name == name))
        shutil.rmtree(self._b.path / "schedules" / name, ignore_errors=True)
        return DonePoller(name)

    # -- read -----------------------------------------------------------------------------------
    def to_yaml(self, schedule: JobSchedule | MonitorSchedule) -> str:
        """Azure ML v2 schedule YAML (``az ml schedule create --file``)."""
        from studio_ext.translation import schedule as schedule_translation

        return schedule_translation.to_yaml(schedule)

    def get(self, name: str) -> JobSchedule | MonitorSchedule:
        """The schedule with its state and next five fire times."""
        with self._b.store.engine.connect() as conn:
            row = self._require(name, conn)
        return self._from_row(row)

    def list(self, *, list_view_type: str = "enabled_only") -> builtins.list[JobSchedule | MonitorSchedule]:
        """The workspace's schedules: ``enabled_only`` (default, as on Azure), ``disabled_only`` or ``all``."""
        view = str(getattr(list_view_type, "value", list_view_type)).lower()
        if view not in LIST_VIEWS:
            raise InvalidInput(f"list_view_type is one of {', '.join(LIST_VIEWS)}. Got {list_view_type!r}.")
        query = schedules.select().order_by(schedules.c.name)
        if view != "all":
            query = query.where(schedules.c.is_enabled == (view == "enabled_only"))
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [self._from_row(r) for r in rows]

    def history(self, name: str, *, limit: int = 50) -> builtins.list[ScheduleFire]:
        """The slots the schedule reached, newest first, and what was decided for each."""
        with self._b.store.engine.connect() as conn:
            self._require(name, conn)
            rows = conn.execute(schedule_fires.select().where(schedule_fires.c.schedule_name == name)
                                .order_by(schedule_fires.c.slot.desc()).limit(limit)).all()
        return [ScheduleFire(schedule_name=r.schedule_name, slot=datetime.fromtimestamp(r.slot, UTC),
                             decision=r.decision, job_name=r.job_name, message=r.message,
                             recorded_at=to_datetime(r.recorded_at)) for r in rows]

    def _require(self, name: str, conn: Any) -> Any:
        row = conn.execute(schedules.select().where(schedules.c.name == name)).first()
        if row is None:
            known = [r.name for r in conn.execute(sa.select(schedules.c.name).order_by(schedules.c.name))]
            raise NotFound(f"There is no schedule named {name!r}. Schedules here: {', '.join(known) or 'none'} "
                           "(ws.schedules.list(list_view_type='all')).")
        return row

    def _from_row(self, row: Any) -> JobSchedule | MonitorSchedule:
        from studio_ext.ml import schedules as engine
        from studio_ext.translation.schedule import trigger_from_v2

        payload = json.loads(row.payload)
        trigger = trigger_from_v2(payload["trigger"])
        upcoming: list[datetime] = []
        if row.is_enabled:
            anchor = datetime.fromisoformat(payload["anchor"])
            after = max(datetime.now(UTC), datetime.fromtimestamp(row.enabled_at, UTC))
            upcoming = engine.next_fire_times(trigger, 5, after=after, anchor=anchor)
        if payload["action"]["kind"] == monitor_scheduling.KIND:
            return monitor_scheduling.entity(self._b, row, payload, trigger, upcoming)
        return JobSchedule(
            name=row.name, trigger=trigger, create_job=action_job(payload["action"]),
            display_name=payload.get("display_name"), description=payload.get("description"),
            tags=dict(payload.get("tags") or {}), properties=dict(payload.get("properties") or {}),
            is_enabled=bool(row.is_enabled), provisioning_state="Succeeded", next_fire_times=upcoming,
            creation_time=to_datetime(row.created_at), last_modified_time=to_datetime(row.updated_at))


def action_job(action: dict[str, Any]) -> Any:
    """The job an action runs: a studio_ext job entity, or ``azureml:NAME`` for a job run again."""
    if action["kind"] == "job_reference":
        return f"azureml:{action['job']}"
    if action["kind"] == "invoke_batch_endpoint":
        from studio_ext.backends.local.batch import scheduled

        return scheduled.invocation(action)
    from studio_ext.translation import _dispatch

    return _dispatch.kind_of_v2(action["job"]).from_v2(action["job"]).entity


def code_folder(backend: LocalBackend, name: str) -> Path:
    """Where a schedule's copy of its command job's code folder is kept."""
    return backend.path / "schedules" / name / "code"


def resume(backend: LocalBackend) -> None:
    """Start the workspace's supervisor, without waiting, if a schedule is enabled and none runs.

    Called when a workspace is opened: schedules fire while the supervisor runs, and after a
    reboot the first process that opens the workspace brings it back (missed slots then follow
    the grace policy). A job's own process does not.
    """
    import os

    from studio_ext.backends.local.core.processes import JOB_MARKER
    from studio_ext.backends.local.runtime import supervisor

    if os.environ.get(JOB_MARKER):
        return
    try:
        with backend.store.engine.connect() as conn:
            enabled = conn.execute(sa.select(schedules.c.name).where(schedules.c.is_enabled.is_(True)).limit(1)).first()
    except sa.exc.SQLAlchemyError:  # a store another version made: the services say what is wrong
        return
    if enabled is not None and not supervisor.is_running(backend.path):
        supervisor.spawn_detached(backend.path)
