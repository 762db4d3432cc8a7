from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from studio_ext._poller import Poller
from studio_ext.entities._monitor import MonitorSchedule
from studio_ext.entities._schedule import JobSchedule, ScheduleFire

if TYPE_CHECKING:  # pragma: no cover  (azure-ai-ml's objects are taken too: translated at the service's entry)
    import azure.ai.ml.entities as aml



@runtime_checkable
class ScheduleOperations(Protocol):
    """``ws.schedules``: job and monitor schedules (recurrence and cron triggers), as ``MLClient.schedules``.

    Every ``begin_*`` call records what is wanted and returns a poller whose ``result()`` is the
    schedule as it now stands (``begin_delete``: its name). The next fire times of a trigger
    being typed come from ``studio_ext.ml.schedules.next_fire_times``, with no call here.
    """

    def begin_create_or_update(self, schedule: JobSchedule | MonitorSchedule | aml.JobSchedule | aml.MonitorSchedule
                               ) -> Poller[JobSchedule | MonitorSchedule]:
        """Check the schedule (trigger and job or monitor; nothing is stored on bad input) and record it, enabled."""

    def to_yaml(self, schedule: JobSchedule | MonitorSchedule) -> str:
        """Azure ML v2 schedule YAML (``az ml schedule create --file``)."""

    def get(self, name: str) -> JobSchedule | MonitorSchedule:
        """The schedule with ``is_enabled`` and its next five fire times (none while disabled)."""

    def list(self, *, list_view_type: str = "enabled_only") -> builtins.list[JobSchedule | MonitorSchedule]:
        """Schedules: ``enabled_only`` (the default, as on Azure), ``disabled_only`` or ``all``."""

    def begin_enable(self, name: str) -> Poller[JobSchedule | MonitorSchedule]:
        """Enable a schedule: it fires from its next slot on (the slots while it was disabled are not run)."""

    def begin_disable(self, name: str) -> Poller[JobSchedule | MonitorSchedule]:
        """Disable a schedule: no slot after this call fires until it is enabled again."""

    def begin_delete(self, name: str) -> Poller[str]:
        """Delete a schedule and its history; the jobs it created stay."""

    def history(self, name: str, *, limit: int = 50) -> builtins.list[ScheduleFire]:
        """The slots the schedule reached, newest first: fired (with the job), failed, skipped or folded, and why."""
