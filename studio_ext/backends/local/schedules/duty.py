"""The supervisor's schedules duty: one APScheduler timer per enabled schedule, fired into ``ws.jobs``.

APScheduler 3 (a ``BackgroundScheduler`` whose ``SQLAlchemyJobStore`` is the workspace's
``schedule_timers`` table) keeps the timers and computes the slots, time zones and
daylight-saving changes included. Its executor here is :class:`SlotExecutor`, which hands
each due timer's *slots* (the scheduled times, late ones included) to :meth:`SchedulesDuty.reached`:

1. the slots are decided by :func:`studio_ext.ml.schedules.decide` (on time: fire; missed
   while the supervisor was down: the latest within the grace period fires, earlier ones are
   folded into it, older ones are skipped; ``$STUDIO_EXT_SCHEDULE_GRACE_SECONDS``, 300 s);
2. each decision is written to ``schedule_fires`` under the key (schedule, slot), in the
   transaction that checks the schedule is still enabled at the same revision, *before* the
   job is created (decision ``firing``): a slot already there is never fired again, and a
   schedule disabled or changed before the slot was claimed does not fire;
3. the job is created through ``ws.jobs`` (named from the schedule and the slot, tagged
   ``schedule_name`` and ``schedule_fire_time``), and the row says ``fired`` with the job's
   name, or ``failed`` with the reason.

A supervisor killed between 2 and 3 leaves a ``firing`` row: :meth:`recover` finds the job
by its name (or tags) and marks it fired, or creates it when the slot is within the grace
period, or marks it failed saying so. The desired state is the ``schedules`` table; each
tick (every 0.5 s at most) the duty brings the timers in line with it (a new, changed,
disabled or deleted schedule), so the timers are a cache that a restart rebuilds: a timer
(re)made counts its slots from the last decided slot, or from when the schedule was enabled.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from studio_ext.backends.local.core.schema import jobs as jobs_table
from studio_ext.backends.local.core.schema import schedule_fires, schedules
from studio_ext.backends.local.core.store import now
from studio_ext.backends.local.schedules.service import (
    SCHEDULE_TAG,
    SLOT_TAG,
    code_folder,
    job_name_for,
)
from studio_ext.entities import CommandJob
from studio_ext.errors import Conflict
from studio_ext.translation.schedule import trigger_from_v2

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

log = logging.getLogger("studio_ext.supervisor.schedules")
SYNC_SECONDS = 0.5
TIMERS_TABLE = "schedule_timers"


def timer_target(**_: Any) -> None:
    """The function APScheduler's job store names for every timer; :class:`SlotExecutor` runs the duty instead."""
    raise RuntimeError("A schedule timer runs through the schedules duty's executor, not on its own.")


class SlotExecutor(BaseExecutor):  # APScheduler 3 ships no type hints: BaseExecutor is Any here
    """APScheduler's executor interface, handing a due timer's slots to the duty on a small thread pool."""

    def __init__(self, duty: SchedulesDuty) -> None:
        super().__init__()
        self._duty = duty
        # One thread: slots are created in order, and imports never race each other.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="schedule-fire")

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        revision = job.kwargs.get("revision")

        def work() -> None:
            try:
                self._duty.reached(job.id, revision, run_times)
            except Exception:  # one schedule failing must not stop the others
                log.exception("schedule %s failed at %s", job.id, run_times)
            finally:
                self._run_job_success(job.id, [])

        self._pool.submit(work)

    def submit(self, work: Any) -> None:
        self._pool.submit(work)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)


class SchedulesDuty:
    """Keeps the timers of the workspace's enabled schedules and fires them (see the module docstring)."""

    busy_tick_seconds = 0.25

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend
        self._scheduler: Any = None
        self._executor: SlotExecutor | None = None
        self._seen: tuple[Any, ...] | None = None
        self._synced_at = 0.0
        self._enabled = False
        self._lock = threading.Lock()
        self._warmed = False

    def _warm(self) -> None:
        """Load what creating a job needs, once, on the supervisor's own thread: Python's imports of MLflow from
        two threads at once (this duty's and the job runner's) can fail half-way, and a first fire that loads
        them itself starts seconds late."""
        if self._warmed:
            return
        from studio_ext.backends.local.core import tracking
        from studio_ext.translation import command_job  # noqa: F401  (loaded for the fire thread)

        tracking.client(self._b.tracking_uri).search_experiments(max_results=1)
        self._b.service("jobs")
        self._b.service("environments")
        self._warmed = True

    # -- the supervisor's calls -------------------------------------------------------------------
    def recover(self) -> None:
        """Start APScheduler on the workspace's job store, bring its timers in line, settle interrupted fires."""
        self._executor = SlotExecutor(self)
        store = SQLAlchemyJobStore(engine=self._b.store.engine, tablename=TIMERS_TABLE)
        self._scheduler = BackgroundScheduler(jobstores={"default": store}, executors={"default": self._executor},
                                              timezone=UTC)
        self._scheduler.start(paused=True)
        self._sync()
        # Slots a stopped supervisor left half-done are settled first (the fire thread is FIFO), before
        # the timers run again and claim new slots.
        with self._b.store.engine.connect() as conn:
            pending = conn.execute(schedule_fires.select().where(schedule_fires.c.decision == "firing")).all()
        for row in pending:
            self._executor.submit(lambda row=row: self._settle(row))
        self._scheduler.resume()

    def tick(self) -> None:
        if time.monotonic() - self._synced_at >= SYNC_SECONDS:
            self._sync()

    def busy(self) -> bool:
        """An enabled schedule keeps the supervisor from its idle exit."""
        return self._enabled

    def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    # -- timers -----------------------------------------------------------------------------------
    def _sync(self) -> None:
        """Add, change or remove timers so there is one per enabled schedule, at its current revision."""
        from studio_ext.ml import schedules as engine

        self._synced_at = time.monotonic()
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(schedules.c.name, schedules.c.is_enabled, schedules.c.revision,
                                          schedules.c.enabled_at)).all()
        seen = tuple(sorted((r.name, bool(r.is_enabled), r.revision) for r in rows))
        self._enabled = any(r.is_enabled for r in rows)
        if seen == self._seen:
            return
        if self._enabled:
            self._warm()
        with self._lock:
            wanted = {r.name: r for r in rows if r.is_enabled}
            timers = {job.id: job for job in self._scheduler.get_jobs()}
            for name in set(timers) - set(wanted):
                self._scheduler.remove_job(name)
                log.info("schedule %s: timer removed (disabled or deleted)", name)
            for name, row in wanted.items():
                timer = timers.get(name)
                if timer is not None and timer.kwargs.get("revision") == row.revision:
                    continue
                with self._b.store.engine.connect() as conn:
                    payload = json.loads(conn.execute(sa.select(schedules.c.payload).where(
                        schedules.c.name == name)).scalar_one())
                    last = conn.execute(sa.select(sa.func.max(schedule_fires.c.slot)).where(
                        schedule_fires.c.schedule_name == name)).scalar()
                try:
                    trigger = engine.build(trigger_from_v2(payload["trigger"]),
                                           anchor=datetime.fromisoformat(payload["anchor"]))
                except Exception:  # a trigger that no longer builds: leave it off, say why in the log
                    log.exception("schedule %s: its trigger does not build; no timer", name)
                    continue
                since = max(row.enabled_at, (last or 0.0) + 0.001)
                first = trigger.get_next_fire_time(None, datetime.fromtimestamp(since, UTC))
                if first is None:
                    if timer is not None:
                        self._scheduler.remove_job(name)
                    log.info("schedule %s: no fire time left (past its end_time)", name)
                    continue
                self._scheduler.add_job(
                    timer_target, trigger=trigger, id=name, name=name, kwargs={"revision": row.revision},
                    next_run_time=first, replace_existing=True, coalesce=False, misfire_grace_time=None,
                    max_instances=1_000_000)
                log.info("schedule %s (revision %s): timer set, first slot %s", name, row.revision, first)
            self._seen = seen

    # -- fires ------------------------------------------------------------------------------------
    def reached(self, name: str, revision: int | None, slots: list[datetime], *,
                at: datetime | None = None) -> list[tuple[datetime, str]]:
        """Decide ``slots`` of schedule ``name`` (see the module docstring); returns (slot, decision) recorded.

        ``at`` is the time of the decision (now by default): tests give their own clock.
        """
        from studio_ext.ml import schedules as engine

        moment = at or datetime.now(UTC)
        done: list[tuple[datetime, str]] = []
        for slot, decision, message in engine.decide(slots, moment, engine.grace_seconds()):
            claimed = self._claim(name, revision, slot, "firing" if decision == "fire" else decision, message)
            if claimed is None:
                continue
            if decision == "fire":
                decision = self._create(name, slot, claimed, message)
            else:
                log.info("schedule %s: slot %s %s: %s", name, slot.isoformat(), decision, message)
            done.append((slot, decision))
        return done

    def _claim(self, name: str, revision: int | None, slot: datetime, decision: str, message: str) -> Any:
        """Write the slot's row if the schedule is enabled at ``revision`` and the slot is new; its payload, or None."""
        key = slot.timestamp()
        with self._b.store.engine.begin() as conn:
            row = conn.execute(schedules.select().where(schedules.c.name == name)).first()
            if row is None or not row.is_enabled or (revision is not None and row.revision != revision):
                return None
            if key < row.enabled_at - 1.0:  # a slot from before it was (re-)enabled is not its to run
                return None
            exists = conn.execute(sa.select(schedule_fires.c.decision).where(
                schedule_fires.c.schedule_name == name, schedule_fires.c.slot == key)).first()
            if exists is not None:
                log.info("schedule %s: slot %s was decided already (%s)", name, slot.isoformat(), exists.decision)
                return None
            conn.execute(schedule_fires.insert().values(schedule_name=name, slot=key, decision=decision,
                                                        message=message, recorded_at=now()))
            return json.loads(row.payload)

    def _create(self, name: str, slot: datetime, payload: dict[str, Any], message: str) -> str:
        """Create the slot's job and record the outcome; returns ``fired`` or ``failed``."""
        try:
            job_name = self._submit(name, slot, payload["action"])
            decision, text = "fired", message or f"job {job_name} created"
        except Exception as exc:  # recorded: the history says why the slot did not run
            log.exception("schedule %s: slot %s failed", name, slot.isoformat())
            job_name, decision = None, "failed"
            text = f"creating the job failed: {getattr(exc, 'message', None) or exc}"
        with self._b.store.engine.begin() as conn:
            conn.execute(schedule_fires.update().where(
                schedule_fires.c.schedule_name == name, schedule_fires.c.slot == slot.timestamp())
                .values(decision=decision, job_name=job_name, message=text, recorded_at=now()))
        log.info("schedule %s: slot %s %s %s", name, slot.isoformat(), decision, job_name or text)
        return decision

    def _submit(self, name: str, slot: datetime, action: dict[str, Any]) -> str:
        jobs = self._b.service("jobs")
        tags = {SCHEDULE_TAG: name, SLOT_TAG: slot.astimezone(UTC).isoformat()}
        if action["kind"] == "job_reference":
            return str(jobs.resubmit(action["job"], tags=tags).name)
        if action["kind"] == "monitor":
            from studio_ext.backends.local.monitors import scheduling

            return scheduling.fire(self._b, action, job_name_for(name, slot), slot, tags)
        if action["kind"] == "invoke_batch_endpoint":
            from studio_ext.backends.local.batch import scheduled

            return scheduled.fire(self._b, action, job_name_for(name, slot))
        if action["kind"] != "job":
            raise Conflict(f"The schedule's action {action['kind']!r} is not known to this version of studio_ext.")
        from studio_ext.translation import _dispatch

        job = _dispatch.kind_of_v2(action["job"]).from_v2(action["job"]).entity
        job_name = job_name_for(name, slot)
        code = code_folder(self._b, name)
        changes: dict[str, Any] = {"name": job_name, "tags": {**job.tags, **tags}}
        if isinstance(job, CommandJob) and job.code and code.is_dir():
            changes["code"] = str(code)
        try:
            return str(jobs.create_or_update(replace(job, **changes)).name)
        except Conflict:
            if self._job_exists(job_name):  # created before a restart: the slot has its job
                return job_name
            raise

    def _job_exists(self, job_name: str) -> bool:
        with self._b.store.engine.connect() as conn:
            return conn.execute(sa.select(jobs_table.c.name).where(jobs_table.c.name == job_name)).first() is not None

    def _settle(self, row: Any) -> None:
        """A slot left ``firing`` by a supervisor that stopped: fired if its job exists, else run or failed."""
        from studio_ext.ml import schedules as engine

        slot = datetime.fromtimestamp(row.slot, UTC)
        found = self._find_job(row.schedule_name, slot)
        late = (datetime.now(UTC) - slot).total_seconds()
        if found is not None:
            decision, job_name, text = "fired", found, f"job {found} created (found after a supervisor restart)"
        elif late <= engine.grace_seconds():
            with self._b.store.engine.connect() as conn:
                schedule = conn.execute(schedules.select().where(schedules.c.name == row.schedule_name)).first()
            if schedule is None or not schedule.is_enabled:
                decision, job_name, text = "failed", None, "the schedule was disabled or deleted before its job was made"
            else:
                self._create(row.schedule_name, slot, json.loads(schedule.payload),
                             f"the supervisor stopped while creating this slot's job; created on restart, {late:.0f} s late")
                return
        else:
            decision, job_name = "failed", None
            text = (f"the supervisor stopped while creating this slot's job and came back {late:.0f} s later, past the "
                    f"grace period of {engine.grace_seconds():.0f} s: not run")
        with self._b.store.engine.begin() as conn:
            conn.execute(schedule_fires.update().where(
                schedule_fires.c.schedule_name == row.schedule_name, schedule_fires.c.slot == row.slot)
                .values(decision=decision, job_name=job_name, message=text, recorded_at=now()))

    def _find_job(self, name: str, slot: datetime) -> str | None:
        job_name = job_name_for(name, slot)
        if self._job_exists(job_name):
            return job_name
        wanted = slot.astimezone(UTC).isoformat()
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs_table.c.name, jobs_table.c.spec).where(
                jobs_table.c.created_at >= slot.timestamp() - 1)).all()
        for row in rows:  # a job run again (job_reference) carries the slot in its tags
            tags = json.loads(row.spec).get("tags") or {}
            if tags.get(SCHEDULE_TAG) == name and tags.get(SLOT_TAG) == wanted:
                return str(row.name)
        return None
