from __future__ import annotations

import builtins
import os
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from studio_ext._poller import Poller
from studio_ext.entities import (
    EndpointAuthKeys,
    EndpointMetrics,
    KeyType,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
)

if TYPE_CHECKING:  # pragma: no cover  (azure-ai-ml's objects are taken too: translated at the service's entry)
    import azure.ai.ml.entities as aml


@runtime_checkable
class ScoringService(Protocol):
    """What ``ws.online_endpoints.get_service`` returns: an azureml-core ``Webservice``-like handle."""

    @property
    def scoring_uri(self) -> str | None: ...

    @property
    def swagger_uri(self) -> str | None: ...

    def get_keys(self) -> tuple[str, str]:
        """The primary and secondary keys."""
        ...

    def run(self, input_data: Any) -> Any:
        """Score ``input_data`` (a JSON string or a JSON-able value); return the decoded answer."""
        ...


@runtime_checkable
class OnlineEndpointOperations(Protocol):
    """``ws.online_endpoints``: endpoints, their keys, traffic, invocation and telemetry."""

    def begin_create_or_update(
        self, endpoint: ManagedOnlineEndpoint | aml.ManagedOnlineEndpoint
    ) -> Poller[ManagedOnlineEndpoint]:
        """Create the endpoint or update its traffic (a studio_ext or an azure-ai-ml ManagedOnlineEndpoint)."""

    def to_yaml(self, endpoint: ManagedOnlineEndpoint) -> str:
        """Azure ML v2 YAML of ``endpoint`` (``az ml online-endpoint create --file``)."""

    def get(self, name: str) -> ManagedOnlineEndpoint: ...

    def list(self) -> builtins.list[ManagedOnlineEndpoint]: ...

    def begin_delete(self, name: str) -> Poller[str]: ...

    def get_keys(self, name: str) -> EndpointAuthKeys: ...

    def begin_regenerate_keys(self, name: str, *, key_type: str | KeyType = KeyType.PRIMARY) -> Poller[EndpointAuthKeys]: ...

    def invoke(
        self,
        endpoint_name: str,
        request_file: str | os.PathLike[str] | None = None,
        deployment_name: str | None = None,
        *,
        request_data: Any = None,
    ) -> str: ...

    def get_metrics(
        self, endpoint_name: str, *, deployment_name: str | None = None, minutes: float = 60, interval_seconds: int = 60
    ) -> EndpointMetrics: ...

    def get_service(self, endpoint_name: str, deployment_name: str | None = None) -> ScoringService: ...


@runtime_checkable
class OnlineDeploymentOperations(Protocol):
    """``ws.online_deployments``: deployments behind an endpoint, their state and logs."""

    def begin_create_or_update(
        self, deployment: ManagedOnlineDeployment | aml.ManagedOnlineDeployment
    ) -> Poller[ManagedOnlineDeployment]:
        """Start a deployment or roll out its new spec (a studio_ext or an azure-ai-ml ManagedOnlineDeployment)."""

    def to_yaml(self, deployment: ManagedOnlineDeployment) -> str:
        """Azure ML v2 YAML of ``deployment`` (``az ml online-deployment create --file``)."""

    def get(self, name: str, endpoint_name: str) -> ManagedOnlineDeployment: ...

    def list(self, endpoint_name: str) -> builtins.list[ManagedOnlineDeployment]: ...

    def begin_delete(self, name: str, endpoint_name: str) -> Poller[str]: ...

    def get_logs(self, name: str, endpoint_name: str, lines: int = 100) -> str: ...

    def begin_reload(self, name: str, endpoint_name: str) -> Poller[ManagedOnlineDeployment]: ...
