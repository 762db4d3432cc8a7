"""What a backend gives a :class:`~studio_ext.workspace.Workspace`: its services, its stores, its runtime."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class RuntimeStatus:
    """What ``ws.runtime.status()`` says.

    ``running`` is whether the backend's long-lived side is up (the local supervisor
    process; a remote service is always up). ``pid`` and ``started`` are known only
    for a process on this machine.
    """

    running: bool
    pid: int | None = None
    started: datetime | None = None


@runtime_checkable
class Runtime(Protocol):
    """``ws.runtime``: the part of a backend that outlives a kernel.

    On the local backend it is the workspace supervisor (one process per workspace that
    runs jobs, clusters and endpoints). ``start()`` starts it unless it runs and returns
    True if this call started it; ``stop()`` stops it and returns True if it was running.
    A backend whose runtime is a remote service answers ``start()`` and ``stop()`` with
    False and ``status().running`` with True.
    """

    def start(self) -> bool: ...

    def stop(self) -> bool: ...

    def status(self) -> RuntimeStatus: ...


@runtime_checkable
class Backend(Protocol):
    """One kind of workspace (local folder, Azure ML, ...), as a Workspace sees it.

    A backend is built by a :class:`BackendFactory` found in the registry
    (:func:`studio_ext.backends.get_backend_factory`). It builds its services on
    first use; ``service("jobs")`` returns the object behind ``ws.jobs``, which must
    implement :class:`studio_ext.services.JobOperations`, and so on for each name in
    :data:`studio_ext.backends.SERVICE_PROTOCOLS`.
    """

    @property
    def kind(self) -> str:
        """The registry key of this backend: ``"local"``, ``"azure"``, ..."""
        ...

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI of the workspace."""
        ...

    @property
    def metadata_uri(self) -> str:
        """Where the workspace's metadata lives (an SQLAlchemy URL for the local backend)."""
        ...

    @property
    def artifacts_uri(self) -> str:
        """The default MLflow artifact root of the workspace."""
        ...

    @property
    def runtime(self) -> Runtime:
        """Start, stop and ask about the backend's long-lived side."""
        ...

    def service(self, name: str) -> object:
        """The service called ``name`` (``"jobs"``, ``"compute"``, ...), built once."""
        ...

    def services_available(self) -> set[str]:
        """The service names this backend provides."""
        ...

    def sdk_preamble(self) -> str:
        """Python lines that open this workspace, ending with ``ws = ...`` (for code snippets)."""
        ...

    def close(self) -> None:
        """Release this process's connections (the runtime keeps running)."""
        ...


class BackendFactory(Protocol):
    """Builds a backend for the workspace at ``path`` whose config file held ``config``.

    A backend class whose ``__init__`` takes ``path`` and ``config`` is a factory.
    """

    def __call__(self, path: Path, config: Mapping[str, Any]) -> Backend: ...
