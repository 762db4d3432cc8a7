"""The embedded default backend: a workspace folder on this machine."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import Any

from studio_ext.backends.local.core.bootstrap import default_uris
from studio_ext.backends.local.core.store import MetadataStore

# service name -> "module:Class"; each class is built with the backend.
SERVICES: dict[str, str] = {
    "jobs": "studio_ext.backends.local.jobs.service:LocalJobs",
    "compute": "studio_ext.backends.local.compute.service:LocalCompute",
    "environments": "studio_ext.backends.local.jobs.environments:LocalEnvironments",
    "models": "studio_ext.backends.local.models.service:LocalModels",
    "online_endpoints": "studio_ext.backends.local.endpoints.service:LocalOnlineEndpoints",
    "online_deployments": "studio_ext.backends.local.endpoints.service:LocalOnlineDeployments",
    "datastores": "studio_ext.backends.local.data.datastores:LocalDatastores",
    "data": "studio_ext.backends.local.data.service:LocalData",
    "automl": "studio_ext.backends.local.automl.service:LocalAutoML",
    "explanations": "studio_ext.backends.local.insights.explanations:LocalExplanations",
    "fairness": "studio_ext.backends.local.insights.fairness:LocalFairness",
}


class LocalBackend:
    """Holds the workspace's stores and builds its services on first use."""

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self.path = path
        self.config = config
        defaults = default_uris(path)
        storage = config.get("storage", {}) or {}
        self.metadata_uri: str = storage.get("metadata_uri") or defaults["metadata_uri"]
        self.tracking_uri: str = storage.get("tracking_uri") or defaults["tracking_uri"]
        self.artifacts_uri: str = storage.get("artifacts_uri") or defaults["artifacts_uri"]
        self.datastore_uri: str = storage.get("datastore_uri") or defaults["datastore_uri"]
        self.store = MetadataStore(self.metadata_uri)
        self._services: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def jobs_dir(self) -> Path:
        return self.path / "jobs"

    def service(self, name: str) -> Any:
        with self._lock:
            if name not in self._services:
                module, _, cls = SERVICES[name].partition(":")
                self._services[name] = getattr(importlib.import_module(module), cls)(self)
            return self._services[name]

    def services_available(self) -> set[str]:
        return set(SERVICES)

    def ensure_supervisor(self, wait_reconciled: bool = False) -> bool:
        """Start the workspace supervisor if none runs; True if it was (re)started."""
        from studio_ext.backends.local.runtime import supervisor
        return supervisor.ensure_running(self.path, self.store)

    def stop_supervisor(self) -> bool:
        from studio_ext.backends.local.runtime import supervisor
        return supervisor.stop(self.path, self.store)

    def close(self) -> None:
        self.store.dispose()
