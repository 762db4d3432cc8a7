"""The ``computes`` table: what the user asked for and what the supervisor observed.

Kernels and the CLI write the desired side (spec, desired state, generation and
restart counters); the supervisor's compute duty writes the observed side (state,
nodes, scheduler address). One row per target, so any process reads the same truth.
"""

from __future__ import annotations

import enum
import json
from dataclasses import fields
from typing import Any, Iterable

import sqlalchemy as sa

from studio_ext.entities import AmlCompute, AttachedCompute, Compute, ComputeInstance, ComputeNode, ComputeState, ComputeType
from studio_ext.backends.local.core.store import metadata, now, to_datetime

computes = sa.Table(
    "computes",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("desired", sa.String(20), nullable=False),
    sa.Column("generation", sa.Integer, nullable=False, default=1),
    sa.Column("restarts", sa.Integer, nullable=False, default=0),
    sa.Column("force", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    # Written by the supervisor.
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("last_operation", sa.Text),
    sa.Column("current_nodes", sa.Integer, nullable=False, default=0),
    sa.Column("busy_nodes", sa.Integer, nullable=False, default=0),
    sa.Column("nodes", sa.Text, nullable=False, default="[]"),
    sa.Column("scheduler_address", sa.String(255)),
    sa.Column("dashboard_link", sa.String(255)),
    sa.Column("applied_generation", sa.Integer, nullable=False, default=0),
    sa.Column("applied_restarts", sa.Integer, nullable=False, default=0),
    sa.Column("observed_at", sa.Float),
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


def ensure_tables(engine: sa.Engine) -> None:
    """Create the table if the store was opened before this module was imported."""
    metadata.create_all(engine, tables=[computes], checkfirst=True)


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
