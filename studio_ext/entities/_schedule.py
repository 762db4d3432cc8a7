"""Job schedules and their triggers, named as in ``azure.ai.ml.entities``.

``JobSchedule(name, trigger, create_job)`` runs ``create_job`` (a job, or the name of an
existing job as ``azureml:NAME``) at every time its trigger gives: a
``RecurrenceTrigger(frequency, interval, schedule=RecurrencePattern(...))`` or a
``CronTrigger(expression)``, each with an optional ``start_time``, ``end_time`` and
``time_zone`` (Azure's Windows names such as ``"W. Europe Standard Time"``, or IANA names
such as ``"Europe/Berlin"``; ``"UTC"`` by default). Which times those are is computed by
:func:`studio_ext.ml.schedules.next_fire_times`; the service fills ``next_fire_times``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["BatchEndpointInvocation", "CronTrigger", "JobSchedule", "RecurrencePattern", "RecurrenceTrigger",
           "ScheduleFire"]


@dataclass(kw_only=True)
class RecurrencePattern:
    """At which hours and minutes (and week days or month days) a recurrence fires, as Azure's."""

    hours: int | list[int] = field(default_factory=list)
    minutes: int | list[int] = field(default_factory=list)
    week_days: str | list[str] | None = None
    month_days: int | list[int] | None = None


@dataclass(kw_only=True)
class _Trigger:
    start_time: str | datetime | None = None
    end_time: str | datetime | None = None
    time_zone: str = "UTC"


@dataclass(kw_only=True)
class CronTrigger(_Trigger):
    """A cron expression (``MINUTES HOURS DAYS MONTHS DAYS-OF-WEEK``, as Azure's NCronTab form).

    A sixth leading field of seconds (NCronTab's seconds form) is taken locally, for tests and
    quick checks; Azure schedules take the five-field form.
    """

    expression: str
    type: str = field(default="cron", init=False)


@dataclass(kw_only=True)
class RecurrenceTrigger(_Trigger):
    """Every ``interval`` ``frequency`` (minute, hour, day, week, month), at ``schedule``'s times if given."""

    frequency: str
    interval: int
    schedule: RecurrencePattern | None = None
    type: str = field(default="recurrence", init=False)


@dataclass(kw_only=True)
class BatchEndpointInvocation:
    """What a schedule does when it invokes a batch endpoint: the arguments of ``ws.batch_endpoints.invoke``.

    Azure's REST API calls this schedule action ``InvokeBatchEndpoint`` (its
    ``endpointInvocationDefinition`` is the batch invoke body); azure-ai-ml has no class for it,
    so ``JobSchedule(create_job=BatchEndpointInvocation(...))`` says it here, as "schedule the
    published pipeline" asks. Each slot starts one batch job named after the schedule and the slot.

    Example::

        JobSchedule(name="nightly-scoring", trigger=CronTrigger(expression="0 2 * * *"),
                    create_job=BatchEndpointInvocation(endpoint_name="diabetes-batch",
                                                       input=Input(type="uri_folder", path="azureml:new-patients@latest")))
    """

    endpoint_name: str
    deployment_name: str | None = None
    input: Any = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    params_override: list[dict[str, Any]] = field(default_factory=list)
    experiment_name: str | None = None
    type: str = field(default="batch_endpoint", init=False)

    @property
    def display_name(self) -> str:
        """What lists show for it: the endpoint and the deployment it invokes."""
        return f"{self.endpoint_name}/{self.deployment_name or 'default'}"


@dataclass(kw_only=True)
class ScheduleFire:
    """One time slot a schedule reached and what was decided for it (its history line).

    ``decision``: ``fired`` (``job_name`` was created), ``failed`` (creating the job failed:
    ``message`` says why), ``skipped`` (missed beyond the grace period), ``folded`` (missed
    within it: one run stands for these slots), or ``firing`` (the job is being created).
    """

    schedule_name: str
    slot: datetime
    decision: str
    job_name: str | None = None
    message: str = ""
    recorded_at: datetime | None = None


@dataclass(kw_only=True, repr=False)
class _Schedule:
    """What every schedule has, as azure-ai-ml's ``Schedule`` base: its name, trigger, texts and state."""

    name: str
    trigger: CronTrigger | RecurrenceTrigger | None
    display_name: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    # Filled in by the service.
    is_enabled: bool = True
    provisioning_state: str = "Succeeded"
    next_fire_times: list[datetime] = field(default_factory=list)
    creation_time: datetime | None = None
    last_modified_time: datetime | None = None
    notes: list[str] = field(default_factory=list)  # Azure fields kept with no local meaning (AzureFieldNote)

    def _trigger_text(self) -> str:
        trigger = self.trigger
        return (f"cron {trigger.expression!r}" if isinstance(trigger, CronTrigger) else
                f"every {trigger.interval} {trigger.frequency}" if isinstance(trigger, RecurrenceTrigger) else "none")


@dataclass(kw_only=True, repr=False)
class JobSchedule(_Schedule):
    """Run a job at the times a trigger gives, as ``azure.ai.ml.entities.JobSchedule``.

    ``create_job`` is a job (``command(...)``, a pipeline job ...), ``"azureml:NAME"`` (an
    existing job, run again with its definition) or a :class:`BatchEndpointInvocation`.
    ``is_enabled``, ``provisioning_state``, ``next_fire_times`` and the times are filled in by
    the service.

    Example::

        schedule = JobSchedule(name="nightly", trigger=CronTrigger(expression="0 2 * * *",
                               time_zone="Europe/Berlin"), create_job=command(code="src", command="python t.py"))
        ws.schedules.begin_create_or_update(schedule).result()
    """

    create_job: Any = None
    type: str = "job"

    def __repr__(self) -> str:
        job = self.create_job if isinstance(self.create_job, str) else type(self.create_job).__name__
        return (f"JobSchedule(name={self.name!r}, trigger={self._trigger_text()}, time_zone="
                f"{getattr(self.trigger, 'time_zone', None)!r}, create_job={job}, is_enabled={self.is_enabled})")
