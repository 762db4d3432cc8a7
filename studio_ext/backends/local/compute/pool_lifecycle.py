"""The life of one compute target's pool of nodes: start, resize, restart, stop, idle shutdown, what it reports.

:class:`PoolLifecycle` holds the target's pool (see ``pools.py``) and records in the
``computes`` table what it sees: the state, the nodes and which of them are busy.
It knows jobs only as the job scheduler describes them (:class:`NodeUsage`); the
controller (``runner.py``) calls both from its thread, one step at a time.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from studio_ext.backends.local.compute import store as compute_store
from studio_ext.backends.local.compute.store import Desired
from studio_ext.backends.local.core.schema import computes
from studio_ext.entities import ComputeState, ComputeType
from studio_ext.errors import StudioError

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

log = logging.getLogger("studio_ext.supervisor.compute")
HEARTBEAT_SECONDS = 5.0
ATTACHED_RETRY_SECONDS = 5.0


@dataclass
class NodeUsage:
    """What the job scheduler says about the nodes, for the target's record."""

    jobs_on: dict[str, str] = field(default_factory=dict)  # node address -> the job running there
    adopted: int = 0  # jobs watched by pid (adopted after a restart): each holds a slot of this machine
    names: list[str] = field(default_factory=list)  # every job sent to the target


class PoolLifecycle:
    """Starts, resizes, restarts and stops one target's pool, and records what it sees there."""

    def __init__(self, backend: LocalBackend, name: str) -> None:
        self._b = backend
        self.compute_name = name
        self.pool: Any = None
        self.applied_generation = 0
        self.applied_restarts: int | None = None
        self._retry_at = 0.0
        self._last_observed: dict[str, Any] = {}
        self._last_write = 0.0
        self._last_activity = time.monotonic()

    def start(self, row: Any, starting: ComputeState) -> bool:
        """Start the pool the target's spec asks for; False if it failed (recorded) or waits to retry."""
        if row.restarts != self.applied_restarts or row.generation != self.applied_generation:
            self._retry_at = 0.0  # the user asked again: try again now
        if time.monotonic() < self._retry_at:
            return False
        from studio_ext.backends.local.compute.pools import AttachedPool, InstancePool, LocalClusterPool

        spec = json.loads(row.spec)
        kind = ComputeType(row.type)
        retrying = self._retry_at > 0 and row.restarts == self.applied_restarts
        self.applied_restarts = row.restarts
        if not retrying:  # a quiet retry keeps showing Failed until it works
            compute_store.observe(self._b.store.engine, self.compute_name, state=starting.value, error=None)
        try:
            if kind == ComputeType.COMPUTE_INSTANCE:
                self.pool = InstancePool(spec.get("max_concurrent_jobs") or os.cpu_count() or 1)
            elif kind == ComputeType.AML_COMPUTE:
                self.pool = LocalClusterPool(self.compute_name, spec["min_instances"], spec["max_instances"],
                                             float(spec["idle_time_before_scale_down"]))
            else:
                timeout = float(spec["connect_timeout"])
                self.pool = AttachedPool(spec["address"], min(timeout, ATTACHED_RETRY_SECONDS) if retrying else timeout)
        except Exception as exc:  # noqa: BLE001 - recorded as the target's failure; retried for attached schedulers
            message = exc.message if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"
            log.warning("compute %s could not start: %s", self.compute_name, message)
            self.pool = None
            self._retry_at = time.monotonic() + ATTACHED_RETRY_SECONDS if kind == ComputeType.ATTACHED else float("inf")
            compute_store.observe(self._b.store.engine, self.compute_name, state=ComputeState.FAILED.value,
                                  error=message, current_nodes=0, busy_nodes=0, nodes=[],
                                  applied_generation=row.generation, applied_restarts=row.restarts)
            self.applied_generation = row.generation
            return False
        self._retry_at = 0.0
        self.applied_generation = row.generation
        self._last_activity = time.monotonic()
        self._last_observed = {}
        return True

    def apply_spec(self, row: Any) -> None:
        """A changed size applies in place; a changed address reconnects."""
        from studio_ext.backends.local.compute.pools import LocalClusterPool

        spec = json.loads(row.spec)
        if isinstance(self.pool, LocalClusterPool):
            self.pool.resize(spec["min_instances"], spec["max_instances"], float(spec["idle_time_before_scale_down"]))
        elif ComputeType(row.type) == ComputeType.COMPUTE_INSTANCE:
            self.pool.slots = spec.get("max_concurrent_jobs") or os.cpu_count() or 1
        elif self.pool is not None and self.pool.scheduler_address != spec["address"]:
            self.close()
            return
        self.applied_generation = row.generation
        self._last_observed = {}

    def stop(self, row: Any, during: ComputeState, after: ComputeState | None, *, jobs_on_pool: bool) -> bool:
        """Close the pool once no job runs on it (``jobs_on_pool`` says whether one does); True once closed."""
        if jobs_on_pool:
            compute_store.observe(self._b.store.engine, self.compute_name, state=during.value)
            return False
        if self.pool is not None:
            compute_store.observe(self._b.store.engine, self.compute_name, state=during.value)
            self.close()
        if after is not None:
            values = {"state": after.value, "current_nodes": 0, "busy_nodes": 0, "nodes": [],
                      "scheduler_address": None, "dashboard_link": None, "error": None,
                      "applied_generation": row.generation, "applied_restarts": row.restarts}
            if self._last_observed != values:
                compute_store.observe(self._b.store.engine, self.compute_name, **values)
                self._last_observed = values
        self.applied_generation = row.generation
        self.applied_restarts = row.restarts
        return True

    def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            pool.close()

    def lost(self, problem: str) -> None:
        """An attached scheduler went away (its jobs are already ended): fail the target, try again soon."""
        self.close()
        self._retry_at = time.monotonic() + ATTACHED_RETRY_SECONDS
        compute_store.observe(self._b.store.engine, self.compute_name, state=ComputeState.FAILED.value,
                              error=problem + " Retrying every few seconds.", current_nodes=0, busy_nodes=0,
                              nodes=[])
        self._last_observed = {}

    def supervisor_stopped(self) -> None:
        """The supervisor stops: close the pool, and say why a target that should run does not."""
        self.close()
        row = compute_store.read(self._b.store.engine, self.compute_name)
        if row is not None and row.desired == Desired.RUNNING.value:
            compute_store.observe(self._b.store.engine, self.compute_name, state=ComputeState.STOPPED.value,
                                  current_nodes=0, busy_nodes=0, nodes=[], scheduler_address=None,
                                  dashboard_link=None, last_operation=(
                                      "The workspace supervisor stopped; the compute starts again "
                                      "as soon as the workspace is used."))

    def remove_target(self) -> None:
        """The target was deleted and its pool is closed: drop its record."""
        with self._b.store.engine.begin() as conn:
            conn.execute(computes.delete().where(computes.c.name == self.compute_name,
                                                 computes.c.desired == Desired.DELETED.value))

    def note_activity(self) -> None:
        """Jobs wait for or run on the target: the idle shutdown counts from now."""
        self._last_activity = time.monotonic()

    def observe(self, row: Any, nodes: list[Any], usage: NodeUsage) -> None:
        """Record the target's state and nodes (written when they change, and every few seconds)."""
        from studio_ext.backends.local.compute.pools import HOST, LocalClusterPool

        records = [{"name": str(n.name), "address": n.address, "busy": n.address in usage.jobs_on,
                    "job_name": usage.jobs_on.get(n.address), "pid": n.pid, "host": n.host} for n in nodes]
        if ComputeType(row.type) == ComputeType.COMPUTE_INSTANCE and records:
            records[0].update(busy=bool(usage.names), job_name=", ".join(sorted(usage.names)) or None, host=HOST)
        busy = sum(1 for r in records if r["busy"]) + (
            usage.adopted if ComputeType(row.type) != ComputeType.COMPUTE_INSTANCE else 0)
        state = ComputeState.RUNNING
        if isinstance(self.pool, LocalClusterPool) and self.pool.planned_nodes() != len(nodes):
            state = ComputeState.SCALING
        values = {"state": state.value, "error": None, "current_nodes": len(records), "busy_nodes": busy,
                  "nodes": records, "scheduler_address": self.pool.scheduler_address,
                  "dashboard_link": self.pool.dashboard_link, "applied_generation": self.applied_generation,
                  "applied_restarts": self.applied_restarts}
        if values != self._last_observed or time.monotonic() - self._last_write > HEARTBEAT_SECONDS:
            compute_store.observe(self._b.store.engine, self.compute_name, **values)
            self._last_observed, self._last_write = values, time.monotonic()

    def idle_shutdown(self, row: Any) -> None:
        """A compute instance without jobs for its idle time asks to be stopped."""
        if ComputeType(row.type) != ComputeType.COMPUTE_INSTANCE:
            return
        minutes = json.loads(row.spec).get("idle_time_before_shutdown_minutes")
        if not minutes or time.monotonic() - self._last_activity < minutes * 60:
            return
        with self._b.store.engine.begin() as conn:
            conn.execute(computes.update().where(
                computes.c.name == self.compute_name, computes.c.desired == Desired.RUNNING.value).values(
                desired=Desired.STOPPED.value,
                last_operation=f"Stopped after {minutes:g} min without jobs (idle shutdown)."))
        log.info("compute %s idle for %s min: stopping", self.compute_name, minutes)
