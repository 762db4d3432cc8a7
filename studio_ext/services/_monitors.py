from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from studio_ext.entities._job import Job
from studio_ext.entities._monitor import DataDriftMonitor, DriftWindowResult, MonitorAlert
from studio_ext.entities._schedule import CronTrigger, RecurrenceTrigger


@runtime_checkable
class DataDriftOperations(Protocol):
    """``ws.data_drift``: dataset drift monitors (v1's ``DataDriftDetector``), monitor results and alerts.

    A dataset monitor compares each ``frequency`` window of a target dataset with a baseline;
    a backfill computes past windows as a job, and its schedule (``enable_schedule``) runs the
    latest window as a job at each slot. Model monitors (v2 ``MonitorSchedule``) are made through
    ``ws.schedules``; their results and alerts are read here too, by the schedule's name.
    """

    def create(self, name: str, *, baseline: str, target: str, timestamp_column: str, frequency: str = "Week",
               features: builtins.list[str] | None = None, drift_threshold: float = 20.0, latency: int = 0,
               alert_emails: builtins.list[str] | None = None, alert_webhook: str | None = None,
               description: str | None = None) -> DataDriftMonitor:
        """Check the datasets, the timestamp column and the features, and record the monitor (schedule off)."""

    def get(self, name: str) -> DataDriftMonitor:
        """The dataset monitor, its schedule state, last run and unacknowledged alert count."""

    def list(self) -> builtins.list[DataDriftMonitor]:
        """Every dataset monitor, by name."""

    def delete(self, name: str) -> None:
        """Delete the monitor, its schedule, results and alerts (its jobs stay)."""

    def backfill(self, name: str, start: datetime | str, end: datetime | str) -> Job:
        """Compute the windows from ``start`` to ``end`` as a job (returned at once; its results land as it runs)."""

    def run(self, name: str, target_date: datetime | str | None = None) -> Job:
        """Run the monitor once now, as a job, exactly as its schedule's fire at ``target_date`` (default now) would:
        a dataset monitor's latest whole window, a model monitor's look-back window up to then."""

    def window_values(self, name: str, window_start: datetime | str, feature: str, *, signal: str | None = None,
                      rows: int = 5000) -> tuple[Any, Any]:
        """The values of ``feature`` on the reference side and in the target window that starts at
        ``window_start`` (pandas Series, up to ``rows`` each, sampled): what a window's distributions compare."""

    def enable_schedule(self, name: str, *, trigger: CronTrigger | RecurrenceTrigger | None = None) -> DataDriftMonitor:
        """Run the monitor on a schedule (every ``frequency`` by default): each slot's job computes its latest window."""

    def disable_schedule(self, name: str) -> DataDriftMonitor:
        """Stop the monitor's schedule."""

    def get_results(self, name: str, start: datetime | str | None = None, end: datetime | str | None = None, *,
                    signal: str | None = None) -> builtins.list[DriftWindowResult]:
        """One record per window (and signal) whose start is in [start, end), oldest first, for a dataset monitor
        or a model monitor (the ``MonitorSchedule``'s name)."""

    def list_alerts(self, monitor: str | None = None, *, include_acknowledged: bool = True,
                    limit: int = 100) -> builtins.list[MonitorAlert]:
        """Alerts raised, newest first, of one monitor or all."""

    def alert_count(self, monitor: str | None = None, *, unacknowledged_only: bool = True) -> int:
        """How many alerts (not yet acknowledged, by default): the sidebar's badge."""

    def acknowledge_alerts(self, monitor: str | None = None) -> int:
        """Mark the alerts (of one monitor or all) seen; returns how many changed."""
