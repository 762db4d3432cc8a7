"""The embedded default backend: a workspace folder on this machine.

:class:`LocalBackend` satisfies :class:`studio_ext.backends.Backend`. It is registered
under the kind ``"local"`` (entry point in pyproject.toml, and built in). Its runtime
is the workspace supervisor (``runtime/supervisor.py``), reached through
:class:`LocalRuntime` as ``ws.runtime``.
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio_ext.backends._protocol import RuntimeStatus
from studio_ext.backends.local.core.bootstrap import open_stores
from studio_ext.errors import WorkspaceError

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.services import (
        AutoMLOperations,
        BatchDeploymentOperations,
        BatchEndpointOperations,
        ComponentOperations,
        ComputeOperations,
        DataDriftOperations,
        DataOperations,
        DatastoreOperations,
        EnvironmentOperations,
        ExplanationOperations,
        FairnessOperations,
        JobOperations,
        ModelOperations,
        OnlineDeploymentOperations,
        OnlineEndpointOperations,
        PipelineOperations,
        PrivacyOperations,
        ScheduleOperations,
        SweepOperations,
    )
    from studio_ext.workspace import Workspace


# One builder per service, each typed with the Protocol it must return: the type checker
# refuses a local class that misses a Protocol method (it declares the Protocol as a base,
# so an unimplemented method is abstract) or changes a signature. Imports are late so
# opening a workspace loads only the services it uses.
def _jobs(b: LocalBackend) -> JobOperations:
    from studio_ext.backends.local.jobs.service import LocalJobs
    return LocalJobs(b)


def _compute(b: LocalBackend) -> ComputeOperations:
    from studio_ext.backends.local.compute.service import LocalCompute
    return LocalCompute(b)


def _environments(b: LocalBackend) -> EnvironmentOperations:
    from studio_ext.backends.local.jobs.environments import LocalEnvironments
    return LocalEnvironments(b)


def _models(b: LocalBackend) -> ModelOperations:
    from studio_ext.backends.local.models.service import LocalModels
    return LocalModels(b)


def _online_endpoints(b: LocalBackend) -> OnlineEndpointOperations:
    from studio_ext.backends.local.endpoints.service import LocalOnlineEndpoints
    return LocalOnlineEndpoints(b)


def _online_deployments(b: LocalBackend) -> OnlineDeploymentOperations:
    from studio_ext.backends.local.endpoints.service import LocalOnlineDeployments
    return LocalOnlineDeployments(b)


def _datastores(b: LocalBackend) -> DatastoreOperations:
    from studio_ext.backends.local.data.datastores import LocalDatastores
    return LocalDatastores(b)


def _data(b: LocalBackend) -> DataOperations:
    from studio_ext.backends.local.data.service import LocalData
    return LocalData(b)


def _automl(b: LocalBackend) -> AutoMLOperations:
    from studio_ext.backends.local.automl.service import LocalAutoML
    return LocalAutoML(b)


def _explanations(b: LocalBackend) -> ExplanationOperations:
    from studio_ext.backends.local.insights.explanations import LocalExplanations
    return LocalExplanations(b)


def _fairness(b: LocalBackend) -> FairnessOperations:
    from studio_ext.backends.local.insights.fairness import LocalFairness
    return LocalFairness(b)


def _privacy(b: LocalBackend) -> PrivacyOperations:
    from studio_ext.backends.local.privacy.service import LocalPrivacy
    return LocalPrivacy(b)


def _data_drift(b: LocalBackend) -> DataDriftOperations:
    from studio_ext.backends.local.monitors.service import LocalDataDrift
    return LocalDataDrift(b)


def _schedules(b: LocalBackend) -> ScheduleOperations:
    from studio_ext.backends.local.schedules.service import LocalSchedules
    return LocalSchedules(b)


def _components(b: LocalBackend) -> ComponentOperations:
    from studio_ext.backends.local.pipelines.components import LocalComponents
    return LocalComponents(b)


def _pipelines(b: LocalBackend) -> PipelineOperations:
    from studio_ext.backends.local.pipelines.service import LocalPipelines
    return LocalPipelines(b)


def _batch_endpoints(b: LocalBackend) -> BatchEndpointOperations:
    from studio_ext.backends.local.batch.service import LocalBatchEndpoints
    return LocalBatchEndpoints(b)


def _batch_deployments(b: LocalBackend) -> BatchDeploymentOperations:
    from studio_ext.backends.local.batch.service import LocalBatchDeployments
    return LocalBatchDeployments(b)


def _sweeps(b: LocalBackend) -> SweepOperations:
    from studio_ext.backends.local.sweeps.service import LocalSweeps
    return LocalSweeps(b)


# service name -> its builder (names as in studio_ext.backends.SERVICE_PROTOCOLS).
SERVICES: dict[str, Callable[[LocalBackend], object]] = {
    "jobs": _jobs,
    "compute": _compute,
    "environments": _environments,
    "models": _models,
    "online_endpoints": _online_endpoints,
    "online_deployments": _online_deployments,
    "batch_endpoints": _batch_endpoints,
    "batch_deployments": _batch_deployments,
    "datastores": _datastores,
    "data": _data,
    "automl": _automl,
    "explanations": _explanations,
    "fairness": _fairness,
    "privacy": _privacy,
    "sweeps": _sweeps,
    "components": _components,
    "pipelines": _pipelines,
    "schedules": _schedules,
    "data_drift": _data_drift,
}


class LocalRuntime:
    """The workspace supervisor seen from a kernel: ``ws.runtime`` on a local workspace.

    ``start()`` starts the supervisor unless one runs (waiting until it has recovered the
    workspace's state) and returns True if this call started it; ``stop()`` sends it
    SIGTERM, waits, and returns True if one was running; ``status()`` says whether one
    runs, its pid and when it started.
    """

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    def start(self) -> bool:
        from studio_ext.backends.local.runtime import supervisor
        return supervisor.ensure_running(self._b.path, self._b.store)

    def stop(self) -> bool:
        from studio_ext.backends.local.runtime import supervisor
        return supervisor.stop(self._b.path, self._b.store)

    def status(self) -> RuntimeStatus:
        from studio_ext.backends.local.runtime import supervisor
        if not supervisor.is_running(self._b.path):
            return RuntimeStatus(running=False)
        record = self._b.store.get_setting(supervisor.SETTING) or {}
        started = record.get("started")
        return RuntimeStatus(
            running=True,
            pid=record.get("pid"),
            started=datetime.fromtimestamp(started).astimezone() if started else None,
        )

    def __repr__(self) -> str:
        return f"LocalRuntime(path={str(self._b.path)!r})"


class LocalBackend:
    """Holds the workspace's stores and builds its services on first use."""

    kind = "local"

    def __init__(self, path: Path, config: Mapping[str, Any], *, resume_schedules: bool = True) -> None:
        """``resume_schedules``: start the supervisor (without waiting) when an enabled schedule has none
        running, so schedules fire again after a reboot once anything opens the workspace."""
        self.path = path
        self.config = dict(config)
        # Resolved against the folder (a copied or moved workspace uses its own stores),
        # the metadata schema migrated: see core/bootstrap.py and core/locations.py.
        storage, self.store = open_stores(path, config)
        self.metadata_uri: str = storage.metadata_uri
        self.tracking_uri: str = storage.tracking_uri
        self.artifacts_uri: str = storage.artifacts_uri
        self.datastore_uri: str = storage.datastore_uri
        self.runtime = LocalRuntime(self)
        self._services: dict[str, Any] = {}
        self._lock = threading.Lock()
        if resume_schedules:
            from studio_ext.backends.local.schedules.service import resume

            resume(self)

    @classmethod
    def of(cls, ws: Workspace) -> LocalBackend:
        """The local backend behind ``ws`` (its store, folders, ...); refuses another kind."""
        backend = ws.backend
        if not isinstance(backend, cls):
            raise WorkspaceError(
                f"{ws!r} runs on the {backend.kind} backend; this needs a local workspace "
                "(one made with `studio-ext init PATH`)."
            )
        return backend

    @classmethod
    def from_folder(cls, path: Path) -> LocalBackend:
        """The backend of the workspace folder ``path``, read from its workspace.toml.

        For processes of the local backend (the supervisor, job wrappers) that have a
        folder and no Workspace. ``Workspace(path)`` checks the file and explains what is
        wrong with it; this expects a workspace made by ``Workspace.create``.
        """
        path = Path(path).expanduser().resolve()
        config = tomllib.loads((path / "workspace.toml").read_text(encoding="utf-8"))
        return cls(path, config, resume_schedules=False)

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def jobs_dir(self) -> Path:
        return self.path / "jobs"

    def service(self, name: str) -> Any:
        with self._lock:
            if name not in self._services:
                self._services[name] = SERVICES[name](self)
            return self._services[name]

    def services_available(self) -> set[str]:
        return set(SERVICES)

    def sdk_preamble(self) -> str:
        return f"from studio_ext import Workspace\n\nws = Workspace({str(self.path)!r})\n"

    def ensure_supervisor(self, wait_reconciled: bool = False) -> bool:
        """Start the workspace supervisor if none runs; True if it was (re)started."""
        return self.runtime.start()

    def close(self) -> None:
        self.store.dispose()
