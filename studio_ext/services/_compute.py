from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from studio_ext._poller import Poller
from studio_ext.entities import Compute, ComputeNode, ComputeType

if TYPE_CHECKING:  # pragma: no cover  (azure-ai-ml's objects are taken too: translated at the service's entry)
    import azure.ai.ml.entities as aml


@runtime_checkable
class ComputeOperations(Protocol):
    """``ws.compute``: compute instances, clusters and attached compute, as ``MLClient.compute``.

    Every ``begin_*`` call records what is wanted and returns at once; the poller's
    ``result(timeout)`` waits until the target got there (or raises why it could not).
    """

    def begin_create_or_update(self, compute: Compute | aml.AmlCompute | aml.ComputeInstance) -> Poller[Compute]:
        """Create or resize a target: a studio_ext compute, or azure-ai-ml's AmlCompute or ComputeInstance."""

    def to_yaml(self, compute: Compute) -> str:
        """Azure ML v2 YAML of an AmlCompute or ComputeInstance (``az ml compute create --file``)."""

    def validate(self, compute: Compute) -> builtins.list[str]: ...

    def get(self, name: str) -> Compute: ...

    def list(self, compute_type: str | ComputeType | None = None) -> builtins.list[Compute]: ...

    def list_nodes(self, name: str) -> builtins.list[ComputeNode]: ...

    def begin_start(self, name: str) -> Poller[Compute]: ...

    def begin_stop(self, name: str, *, force: bool = False) -> Poller[Compute]: ...

    def begin_restart(self, name: str, *, force: bool = False) -> Poller[Compute]: ...

    def begin_delete(self, name: str, *, force: bool = False) -> Poller[bool]: ...
