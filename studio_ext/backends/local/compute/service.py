"""``ws.compute`` on the local backend: compute instances, Dask clusters, attached schedulers.

This class only records what the user wants in the ``computes`` table and reads
back what the workspace supervisor observed; the supervisor's compute duty
(:mod:`compute_runner`) owns the clusters, so they outlive the notebook kernel
that created them and any kernel or the CLI sees the same ones.
"""

from __future__ import annotations

import builtins
import json
import math
import os
import re
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import psutil
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from studio_ext._poller import Poller
from studio_ext._validation import check_name
from studio_ext.backends.local.compute import store as compute_store
from studio_ext.backends.local.compute.node import mark_canceled
from studio_ext.backends.local.compute.pools import probe_scheduler
from studio_ext.backends.local.compute.store import Desired
from studio_ext.backends.local.core.accepting import accepts
from studio_ext.backends.local.core.schema import computes
from studio_ext.backends.local.core.schema import jobs as jobs_table
from studio_ext.backends.local.core.store import now
from studio_ext.entities import (
    AmlCompute,
    AttachedCompute,
    CapacityWarning,
    Compute,
    ComputeInstance,
    ComputeNode,
    ComputeState,
    ComputeType,
    JobStatus,
)
from studio_ext.errors import AlreadyExists, BackendUnavailable, Conflict, InvalidInput, NotFound
from studio_ext.services import ComputeOperations

if TYPE_CHECKING:  # pragma: no cover
    import azure.ai.ml.entities as aml

    from studio_ext.backends.local import LocalBackend

# Azure ML's rule for compute names, which also keeps them safe as Dask cluster names.
_COMPUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$")
_ADDRESS = re.compile(r"^(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9A-Fa-f:]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")
_SCHEMES = ("tcp", "tls")
# A node is a worker process of about this size; the machine must hold them all.
NODE_MEMORY_BYTES = 256 * 2**20
MAX_CONNECT_TIMEOUT = 120.0

MSG_BAD_NAME = ("The compute name {name!r} is not valid. Use 3-24 letters, digits or hyphens, "
                "starting with a letter and not ending with a hyphen.")
MSG_RESERVED = "'local' is the built-in compute (this machine, always there); pick another name."
MSG_INT = "The {param!r} parameter of {cls} must be an int {rule}. Got {value!r} instead."
MSG_NUMBER = "The {param!r} parameter of {cls} must be a number {rule}. Got {value!r} instead."
MSG_MIN_MAX = ("The 'min_instances' parameter of AmlCompute ({min}) is more than 'max_instances' ({max}). "
               "Set min_instances <= max_instances.")
MSG_TOO_MANY_NODES = ("This machine ({memory:.1f} GiB) cannot hold {count} nodes of about "
                      "{node_mib} MiB each: use at most {limit}, or attach a larger Dask cluster "
                      "with AttachedCompute(address=...).")
MSG_CORES = ("{param}={count} is more than the {cores} cores of this machine: {what} will share cores "
             "and each job runs slower. Use {param} <= {cores}, or attach a larger Dask cluster.")
MSG_ADDRESS = ("The 'address' parameter of AttachedCompute must look like 'tcp://host:8786' "
               "(scheme tcp or tls, then host and port). Got {value!r} instead.")
MSG_TYPE_TAKEN = ("A compute named {name!r} already exists as a {label}. Pick another name, "
                  "or delete it first with ws.compute.begin_delete({name!r}).")


class LocalCompute(ComputeOperations):
    """``ws.compute``: the ComputeOperations of the local backend."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    # -- create ------------------------------------------------------------------------
    def validate(self, compute: Compute) -> builtins.list[str]:
        """Check a compute before creating it: raise on what is wrong, return warnings.

        The warnings (more nodes or parallel jobs than this machine has cores) do not
        stop a create; ``begin_create_or_update`` also issues them as ``CapacityWarning``.
        """
        if not isinstance(compute, (ComputeInstance, AmlCompute, AttachedCompute)):
            raise InvalidInput(
                "ws.compute takes a ComputeInstance, AmlCompute or AttachedCompute. "
                f"Got {type(compute).__name__} instead.")
        name = check_name(compute.name, "compute name")
        if name == "local":
            raise AlreadyExists(MSG_RESERVED)
        if not _COMPUTE_NAME.match(name):
            raise InvalidInput(MSG_BAD_NAME.format(name=name))
        if not isinstance(compute.tags, dict) or not all(isinstance(k, str) for k in compute.tags):
            raise InvalidInput(f"The 'tags' of a compute must be a dict of strings. Got {compute.tags!r} instead.")
        cls = type(compute).__name__
        cores = os.cpu_count() or 1
        found: list[str] = []
        if isinstance(compute, AmlCompute):
            _int(compute.min_instances, "min_instances", cls, 0)
            _int(compute.max_instances, "max_instances", cls, 1)
            _number(compute.idle_time_before_scale_down, "idle_time_before_scale_down", cls, ">= 0 (seconds)",
                    lambda v: v >= 0)
            if compute.min_instances > compute.max_instances:
                raise InvalidInput(MSG_MIN_MAX.format(min=compute.min_instances, max=compute.max_instances))
            memory = psutil.virtual_memory().total
            limit = max(int(memory // NODE_MEMORY_BYTES), 1)
            if compute.max_instances > limit:
                raise InvalidInput(MSG_TOO_MANY_NODES.format(
                    memory=memory / 2**30, count=compute.max_instances, node_mib=NODE_MEMORY_BYTES // 2**20,
                    limit=limit))
            if compute.max_instances > cores:
                found.append(MSG_CORES.format(param="max_instances", count=compute.max_instances, cores=cores,
                                              what="nodes"))
        elif isinstance(compute, ComputeInstance):
            if compute.idle_time_before_shutdown_minutes is not None:
                _number(compute.idle_time_before_shutdown_minutes, "idle_time_before_shutdown_minutes", cls,
                        "> 0 (minutes) or None", lambda v: v > 0)
            if compute.max_concurrent_jobs is not None:
                _int(compute.max_concurrent_jobs, "max_concurrent_jobs", cls, 1)
                if compute.max_concurrent_jobs > cores:
                    found.append(MSG_CORES.format(param="max_concurrent_jobs", count=compute.max_concurrent_jobs,
                                                  cores=cores, what="jobs"))
        else:
            normalize_address(compute.address)
            _number(compute.connect_timeout, "connect_timeout", cls, f"in (0, {MAX_CONNECT_TIMEOUT:g}] (seconds)",
                    lambda v: 0 < v <= MAX_CONNECT_TIMEOUT)
        return found

    def to_yaml(self, compute: Compute) -> str:
        """Azure ML v2 YAML of ``compute`` (an AmlCompute or ComputeInstance, as ``az ml compute create --file`` reads it)."""
        from studio_ext.translation import to_yaml

        return to_yaml(compute)

    @accepts(Compute, "ws.compute.begin_create_or_update")
    def begin_create_or_update(self, compute: Compute | aml.AmlCompute | aml.ComputeInstance) -> Poller[Compute]:
        """Create a target, or update the size of an existing one of the same kind.

        An attached scheduler is contacted first (within ``connect_timeout``), so a
        wrong address fails here with ``BackendUnavailable`` and records nothing.
        """
        for message in self.validate(compute):
            warnings.warn(message, CapacityWarning, stacklevel=2)
        existing = compute_store.read(self._b.store.engine, compute.name)
        if existing is not None:
            self._check_replaceable(existing, compute)
        if isinstance(compute, AttachedCompute):
            compute = replace(compute, address=normalize_address(compute.address))
            probe_scheduler(compute.address, compute.connect_timeout)  # fails fast, records nothing
        spec = compute_store.spec_of(compute)
        encoded = json.dumps(spec, default=str)
        try:
            with self._b.store.engine.begin() as conn:
                if existing is None:
                    conn.execute(computes.insert().values(
                        name=compute.name, type=compute.type.value, spec=encoded, desired=Desired.RUNNING.value,
                        generation=1, restarts=0, force=False, created_at=now(), state=ComputeState.CREATING.value,
                        nodes="[]", current_nodes=0, busy_nodes=0, applied_generation=0, applied_restarts=0,
                        last_operation="Created"))
                else:
                    changed = conn.execute(computes.update().where(
                        computes.c.name == compute.name, computes.c.type == compute.type.value,
                        computes.c.desired != Desired.DELETED.value).values(
                        spec=encoded, generation=computes.c.generation + 1, last_operation="Updated")).rowcount
                    if not changed:
                        raise Conflict(f"The compute {compute.name!r} changed while it was being updated "
                                       "(deleted?). Look at ws.compute.get() and try again.")
        except IntegrityError as exc:
            raise AlreadyExists(f"A compute named {compute.name!r} was just created by someone else. "
                                "Pick another name.") from exc
        self._b.ensure_supervisor()
        verb = "Creating" if existing is None else "Updating"
        return self._settled(compute.name, f"{verb} compute {compute.name!r}")

    # -- read --------------------------------------------------------------------------
    def get(self, name: str) -> Compute:
        """The target with its state, nodes, and the jobs running on or waiting for it."""
        row = self._require(name)
        self._keep_supervised([row])
        return self._entities([row])[0]

    def list(self, compute_type: str | ComputeType | None = None) -> builtins.list[Compute]:
        rows = compute_store.read_all(self._b.store.engine)
        if compute_type is not None:
            wanted = _compute_type(compute_type)
            rows = [r for r in rows if r.type == wanted.value]
        self._keep_supervised(rows)
        return self._entities(rows)

    def list_nodes(self, name: str) -> builtins.list[ComputeNode]:
        """The target's nodes (Dask workers, or this machine) and the job on each."""
        return compute_store.nodes_of(self._require(name))

    # -- change ------------------------------------------------------------------------
    def begin_start(self, name: str) -> Poller[Compute]:
        """Start a stopped (or failed) target; a running one is left as it is."""
        row = self._require_alive(name)
        again = row.desired == Desired.STOPPED.value or row.state == ComputeState.FAILED.value
        self._set(name, desired=Desired.RUNNING.value, restarts=computes.c.restarts + (1 if again else 0),
                  **({"last_operation": "Started by the user"} if again else {}))
        return self._settled(name, f"Starting compute {name!r}")

    def begin_stop(self, name: str, *, force: bool = False) -> Poller[Compute]:
        """Stop a target. Queued jobs wait for the next start; running ones need ``force=True``."""
        self._require_alive(name)
        self._make_way(name, "stop", force, include_waiting=False)
        self._set(name, desired=Desired.STOPPED.value, last_operation="Stopped by the user")
        return self._settled(name, f"Stopping compute {name!r}")

    def begin_restart(self, name: str, *, force: bool = False) -> Poller[Compute]:
        """Stop and start again (a new cluster, a fresh connection); running jobs need ``force=True``."""
        self._require_alive(name)
        self._make_way(name, "restart", force, include_waiting=False)
        self._set(name, desired=Desired.RUNNING.value, restarts=computes.c.restarts + 1,
                  last_operation="Restarted by the user")
        return self._settled(name, f"Restarting compute {name!r}")

    def begin_delete(self, name: str, *, force: bool = False) -> Poller[bool]:
        """Delete a target. With jobs queued or running on it, ``force=True`` cancels them first."""
        self._require(name)
        canceled = self._make_way(name, "delete", force, include_waiting=True)
        self._set(name, desired=Desired.DELETED.value, force=force, last_operation="Deleted by the user")
        self._b.ensure_supervisor()

        def gone() -> bool | None:
            if compute_store.read(self._b.store.engine, name) is not None:
                return None
            return True if not self._unfinished(canceled) else None

        return Poller(gone, f"Deleting compute {name!r}")

    # -- helpers -------------------------------------------------------------------------
    def _require(self, name: str) -> Any:
        row = compute_store.read(self._b.store.engine, name) if isinstance(name, str) else None
        if row is None:
            if name == "local":
                raise NotFound(
                    "'local' is this machine, not a compute resource: a job with compute='local' (or none) "
                    "runs here, and there is nothing to get, start or stop. ws.compute.list() shows the "
                    "compute instances and clusters.")
            known = [r.name for r in compute_store.read_all(self._b.store.engine)]
            raise NotFound(
                f"There is no compute named {name!r}. Known: {', '.join(known) or 'none yet'} "
                "(and 'local', this machine, for jobs). "
                "Create one with ws.compute.begin_create_or_update(AmlCompute(name=...)).")
        return row

    def _require_alive(self, name: str) -> Any:
        row = self._require(name)
        if row.desired == Desired.DELETED.value:
            raise Conflict(f"The compute {name!r} is being deleted; it cannot be started, stopped or restarted.")
        return row

    def _check_replaceable(self, existing: Any, compute: Compute) -> None:
        if existing.type != compute.type.value:
            raise AlreadyExists(MSG_TYPE_TAKEN.format(name=compute.name, label=ComputeType(existing.type).label))
        if existing.desired == Desired.DELETED.value:
            raise Conflict(f"The compute {compute.name!r} is being deleted. Wait for the delete to finish "
                           "(ws.compute.begin_delete(...).result()), then create it again.")

    def _set(self, name: str, **values: Any) -> None:
        with self._b.store.engine.begin() as conn:
            conn.execute(computes.update().where(computes.c.name == name).values(**values))
        self._b.ensure_supervisor()

    def _jobs_on(self, names: builtins.list[str], states: tuple[JobStatus, ...]) -> dict[str, builtins.list[Any]]:
        if not names:
            return {}
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs_table.c.name, jobs_table.c.compute, jobs_table.c.status).where(
                jobs_table.c.compute.in_(names), jobs_table.c.status.in_([s.value for s in states]))
                .order_by(jobs_table.c.created_at)).all()
        out: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            out[row.compute].append(row)
        return out

    def _make_way(self, name: str, action: str, force: bool, include_waiting: bool) -> builtins.list[str]:
        """Refuse while jobs need the target, or (``force``) cancel them; return those canceled."""
        states = _DISPATCHED + (_WAITING if include_waiting else ())
        jobs = [r.name for r in self._jobs_on([name], states).get(name, [])]
        if not jobs:
            return []
        if not force:
            shown = ", ".join(jobs[:5]) + (f" and {len(jobs) - 5} more" if len(jobs) > 5 else "")
            what = "has jobs queued or running" if include_waiting else "runs jobs"
            raise Conflict(
                f"The compute {name!r} {what}: {shown}. Wait for them to finish, cancel them "
                f"(ws.jobs.begin_cancel), or {action} with force=True to cancel them.")
        done = {"stop": "stopped", "restart": "restarted", "delete": "deleted"}[action]
        reason = f"Canceled because its compute {name!r} was {done} with force=True."
        with self._b.store.engine.begin() as conn:
            conn.execute(jobs_table.update().where(
                jobs_table.c.name.in_(jobs), jobs_table.c.status.in_([s.value for s in states])).values(
                status=JobStatus.CANCELED.value, error=reason, end_time=now()))
        for job in jobs:
            mark_canceled(str(self._b.jobs_dir / job))
        return jobs

    def _unfinished(self, names: builtins.list[str]) -> bool:
        if not names:
            return False
        with self._b.store.engine.connect() as conn:
            return bool(conn.execute(sa.select(sa.func.count()).select_from(jobs_table).where(
                jobs_table.c.name.in_(names), jobs_table.c.finalized_at.is_(None))).scalar())

    def _entities(self, rows: builtins.list[Any]) -> builtins.list[Compute]:
        names = [r.name for r in rows]
        waiting = self._jobs_on(names, _WAITING)
        dispatched = self._jobs_on(names, _DISPATCHED)
        return [compute_store.entity_of(r, [j.name for j in waiting.get(r.name, [])],
                                        [j.name for j in dispatched.get(r.name, [])]) for r in rows]

    def _keep_supervised(self, rows: builtins.list[Any]) -> None:
        """Targets that should run need the supervisor: start it if it is gone."""
        if any(r.desired != Desired.STOPPED.value for r in rows):
            self._b.ensure_supervisor()

    def _settled(self, name: str, description: str) -> Poller[Compute]:
        """A poller that waits until the supervisor applied the latest request."""
        row = self._require(name)
        generation, restarts = row.generation, row.restarts

        def check() -> Compute | None:
            current = compute_store.read(self._b.store.engine, name)
            if current is None:
                raise NotFound(f"The compute {name!r} was deleted while {description.lower()} was under way.")
            if current.applied_generation < generation or current.applied_restarts < restarts:
                return None
            state = ComputeState(current.state)
            if state == ComputeState.FAILED:
                raise BackendUnavailable(f"{description} failed: {current.error}")
            if current.desired == Desired.STOPPED.value:
                done = state == ComputeState.STOPPED
            else:
                minimum = compute_store.entity_of(current).min_nodes
                done = state in (ComputeState.RUNNING, ComputeState.SCALING) and current.current_nodes >= minimum
            return self._entities([current])[0] if done else None

        return Poller(check, description)


_WAITING = (JobStatus.NOT_STARTED, JobStatus.QUEUED)
_DISPATCHED = (JobStatus.STARTING, JobStatus.RUNNING)


def normalize_address(address: object) -> str:
    """``host:port`` or ``tcp://host:port`` → ``tcp://host:port``; anything else is refused."""
    match = _ADDRESS.match(address.strip()) if isinstance(address, str) else None
    if match is None or (match["scheme"] or "tcp") not in _SCHEMES or not 0 < int(match["port"]) < 65536:
        raise InvalidInput(MSG_ADDRESS.format(value=address))
    return f"{match['scheme'] or 'tcp'}://{match['host']}:{int(match['port'])}"


def _compute_type(value: str | ComputeType) -> ComputeType:
    try:
        return ComputeType(value)
    except ValueError:
        raise InvalidInput(f"Unknown compute type {value!r}. Use one of: "
                           f"{', '.join(t.value for t in ComputeType)}.") from None


def _int(value: object, param: str, cls: str, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidInput(MSG_INT.format(param=param, cls=cls, rule=f">= {minimum}", value=value))


def _number(value: object, param: str, cls: str, rule: str, ok: Callable[[float], bool]) -> None:
    if (not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)
            or not ok(value)):
        raise InvalidInput(MSG_NUMBER.format(param=param, cls=cls, rule=rule, value=value))
