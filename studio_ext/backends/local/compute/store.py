"""Reads and writes of the ``computes`` table: what the user asked for and what the supervisor observed.

Kernels and the CLI write the desired side (spec, desired state, generation and
restart counters); the supervisor's compute duty writes the observed side (state,
nodes, scheduler address). One row per target, so any process reads the same truth.
The table itself is defined with the others in ``core/schema.py``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import fields
from typing import Any

import sqlalchemy as sa

from studio_ext.backends.local.core.schema import computes
from studio_ext.backends.local.core.store import now, to_datetime
from studio_ext.entities import (
    AmlCompute,
    AttachedCompute,
    Compute,
    ComputeInstance,
    ComputeNode,
    ComputeState,
    ComputeType,
)


class Desired(str, enum.Enum):
    """What the user asked a target to be."""

    RUNNING = "running"
    STOPPED = "stopped"
    DELETED = "deleted"


CLASSES: dict[ComputeType, type[Compute]] = {
    ComputeType.COMPUTE_INSTANCE: ComputeInstance,
    ComputeType.AML_COMPUTE: AmlCompute,
    ComputeType.ATTACHED: AttachedCompute,
}
# Fields the service fills in: never part of what the user asked for.
_OBSERVED = {f.name for f in fields(Compute)} - {"name", "description", "tags"}


def spec_of(compute: Compute) -> dict[str, Any]:
    """The user-given fields of a compute, as stored."""
    return {f.name: getattr(compute, f.name) for f in fields(compute) if f.name not in _OBSERVED}


def entity_of(row: Any, queued: Iterable[str] = (), running: Iterable[str] = ()) -> Compute:
    """Rebuild the entity from a row, with the observed state and the jobs on it."""
    cls = CLASSES[ComputeType(row.type)]
    compute = cls(**json.loads(row.spec))
    state = ComputeState(row.state)
    if row.desired == Desired.DELETED.value and state != ComputeState.FAILED:
        state = ComputeState.DELETING
    compute.state = state
    compute.error = row.error
    compute.last_operation = row.last_operation
    compute.current_nodes = row.current_nodes or 0
    compute.busy_nodes = row.busy_nodes or 0
    compute.queued_jobs = list(queued)
    compute.running_jobs = list(running)
    compute.scheduler_address = row.scheduler_address
    compute.dashboard_link = row.dashboard_link
    compute.created_on = to_datetime(row.created_at)
    return compute


def nodes_of(row: Any) -> list[ComputeNode]:
    return [ComputeNode(**n) for n in json.loads(row.nodes or "[]")]


def read(engine: sa.Engine, name: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(computes).where(computes.c.name == name)).first()


def names(engine: sa.Engine) -> list[str]:
    """The targets' names only: what the supervisor looks at a few times a second."""
    with engine.connect() as conn:
        return list(conn.execute(sa.select(computes.c.name)).scalars())


def read_all(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(computes).order_by(computes.c.name)))


def observe(engine: sa.Engine, name: str, **values: Any) -> None:
    """Record what the supervisor sees (state, nodes, addresses)."""
    if "nodes" in values and not isinstance(values["nodes"], str):
        values["nodes"] = json.dumps(values["nodes"])
    with engine.begin() as conn:
        conn.execute(computes.update().where(computes.c.name == name).values(observed_at=now(), **values))
