"""Compute targets named as in ``azure.ai.ml.entities``: instances, clusters, attached compute.

Locally a :class:`ComputeInstance` is this machine, an :class:`AmlCompute` is a Dask
``LocalCluster`` whose workers are the nodes, and an :class:`AttachedCompute` is an
existing Dask scheduler reached by address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from studio_ext.entities._enum import ValueEnum
from studio_ext.errors import InvalidInput


class ComputeType(ValueEnum):
    """The kinds of compute target, with Azure ML's type names."""

    COMPUTE_INSTANCE = "computeinstance"
    AML_COMPUTE = "amlcompute"
    ATTACHED = "attached"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    ComputeType.COMPUTE_INSTANCE: "Compute instance",
    ComputeType.AML_COMPUTE: "Compute cluster",
    ComputeType.ATTACHED: "Attached compute",
}


class ComputeState(ValueEnum):
    """What a compute target is doing now (Azure's states, one list for every kind)."""

    CREATING = "Creating"
    STARTING = "Starting"
    RUNNING = "Running"
    SCALING = "Scaling"
    RESTARTING = "Restarting"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    DELETING = "Deleting"
    FAILED = "Failed"

    @property
    def is_transitional(self) -> bool:
        return self in _TRANSITIONAL


_TRANSITIONAL = frozenset({
    ComputeState.CREATING, ComputeState.STARTING, ComputeState.SCALING,
    ComputeState.RESTARTING, ComputeState.STOPPING, ComputeState.DELETING,
})


_PROVISIONING = {ComputeState.CREATING: "Creating", ComputeState.DELETING: "Deleting", ComputeState.FAILED: "Failed"}


class CapacityWarning(UserWarning):
    """A compute asks for more nodes or parallel jobs than this machine has cores."""


@dataclass(kw_only=True)
class ComputeNode:
    """One node of a compute target: a Dask worker, or this machine for an instance."""

    name: str
    address: str
    busy: bool = False
    job_name: str | None = None
    pid: int | None = None
    host: str | None = None


@dataclass(kw_only=True)
class Compute:
    """What every compute target shares: its name, and the state the service reports."""

    name: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # Filled in by the service.
    state: ComputeState = ComputeState.CREATING
    error: str | None = None
    last_operation: str | None = None
    current_nodes: int = 0
    busy_nodes: int = 0
    queued_jobs: list[str] = field(default_factory=list)
    running_jobs: list[str] = field(default_factory=list)
    scheduler_address: str | None = None
    dashboard_link: str | None = None
    created_on: datetime | None = None
    notes: list[str] = field(default_factory=list)  # Azure fields kept with no local meaning (AzureFieldNote)

    kind: ClassVar[ComputeType]
    if TYPE_CHECKING:  # each kind declares the field ``type`` with its own default
        type: ComputeType

    def __post_init__(self) -> None:
        # ``type`` is a field of each kind (as azure-ai-ml's AmlCompute(type="amlcompute") takes it), fixed by its class
        given = getattr(self, "type", self.kind)
        try:
            parsed = ComputeType(str(given).lower())
        except ValueError:
            parsed = None
        if parsed is not self.kind:
            raise InvalidInput(
                f"The 'type' parameter of studio_ext.entities.{type(self).__name__} must be {self.kind.value!r}. "
                f"Got {given!r} instead. Leave it out: each compute class has one type.")
        object.__setattr__(self, "type", parsed)

    @property
    def provisioning_state(self) -> str:
        """Azure's ``provisioning_state``: ``Creating``, ``Succeeded`` (there, running or stopped), ``Deleting``,
        ``Failed``; ``state`` says what it is doing now."""
        return _PROVISIONING.get(self.state, "Succeeded")

    @property
    def location(self) -> str:
        """Azure's region of the compute; a local target is on this machine: ``"local"``."""
        return "local"

    @property
    def min_nodes(self) -> int:
        return 0

    @property
    def max_nodes(self) -> int | None:
        """The most nodes this target can have (None: whatever the scheduler has)."""
        return None


@dataclass(kw_only=True)
class ComputeInstance(Compute):
    """A development workstation; locally, this machine.

    Jobs run on it as on ``compute="local"``, at most ``max_concurrent_jobs`` at a time
    (default: one per core). With ``idle_time_before_shutdown_minutes`` it stops itself
    after that long without jobs.
    """

    size: str | None = None
    idle_time_before_shutdown_minutes: float | None = None
    max_concurrent_jobs: int | None = None
    type: ComputeType = ComputeType.COMPUTE_INSTANCE

    kind: ClassVar[ComputeType] = ComputeType.COMPUTE_INSTANCE

    @property
    def min_nodes(self) -> int:
        return 1

    @property
    def max_nodes(self) -> int:
        return 1


@dataclass(kw_only=True)
class AmlCompute(Compute):
    """A compute cluster that scales between ``min_instances`` and ``max_instances`` nodes.

    Each node runs one job at a time; jobs beyond the nodes wait in Queued. A node
    idle for ``idle_time_before_scale_down`` seconds is released, so ``min_instances=0``
    costs nothing while no job runs. Example::

        ws.compute.begin_create_or_update(
            AmlCompute(name="cpu-cluster", min_instances=0, max_instances=2)).result()

    ``size`` (a VM size) and ``tier`` (``"dedicated"`` or ``"low_priority"``) are kept for
    Azure and noted: locally every node is a Dask worker on this machine, never preempted.
    """

    size: str | None = None
    min_instances: int = 0
    max_instances: int = 4
    idle_time_before_scale_down: float = 120
    tier: str = "dedicated"
    type: ComputeType = ComputeType.AML_COMPUTE

    kind: ClassVar[ComputeType] = ComputeType.AML_COMPUTE

    def __post_init__(self) -> None:
        super().__post_init__()
        tier = str(self.tier).lower().replace("lowpriority", "low_priority")
        if tier not in ("dedicated", "low_priority"):
            raise InvalidInput(f"The 'tier' parameter of studio_ext.entities.AmlCompute must be 'dedicated' or "
                               f"'low_priority'. Got {self.tier!r} instead.")
        self.tier = tier

    @property
    def min_nodes(self) -> int:
        return self.min_instances

    @property
    def max_nodes(self) -> int:
        return self.max_instances


@dataclass(kw_only=True)
class AttachedCompute(Compute):
    """An existing Dask scheduler (``tcp://host:8786``) whose workers run the jobs.

    Its workers must see the workspace folder at the same path (a shared filesystem)
    and reach the workspace's MLflow tracking store. ``connect_timeout`` (seconds)
    bounds every attempt to reach the scheduler.
    """

    address: str
    connect_timeout: float = 5.0
    type: ComputeType = ComputeType.ATTACHED

    kind: ClassVar[ComputeType] = ComputeType.ATTACHED
