"""Managed online endpoints and their deployments, named as in ``azure.ai.ml.entities``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from studio_ext.entities._enum import ValueEnum
from studio_ext.entities._model import Model


class ProvisioningState(ValueEnum):
    """Where a create/update/delete of an endpoint or deployment stands."""

    CREATING = "Creating"
    UPDATING = "Updating"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    DELETING = "Deleting"


class DeploymentState(ValueEnum):
    """The health of a deployment's server, as the supervisor last saw it."""

    CREATING = "Creating"
    HEALTHY = "Healthy"
    UNHEALTHY = "Unhealthy"
    FAILED = "Failed"


class KeyType(ValueEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"


@dataclass(kw_only=True)
class CodeConfiguration:
    """A scoring script with ``init()`` and ``run(raw_data)`` in the folder ``code``."""

    code: str
    scoring_script: str


@dataclass(kw_only=True)
class OnlineRequestSettings:
    """Per-deployment limits, with Azure ML's defaults.

    Over ``request_timeout_ms`` a request gets 408; with more than twice
    ``max_concurrent_requests_per_instance`` in flight, 429 with Retry-After;
    a body over ``max_body_bytes`` gets 413 before it is read.
    """

    request_timeout_ms: int = 5000
    max_concurrent_requests_per_instance: int = 1
    max_queue_wait_ms: int = 500
    max_body_bytes: int = 10 * 1024 * 1024


@dataclass(kw_only=True)
class ProbeSettings:
    """Liveness/readiness probing, with Azure ML's defaults."""

    initial_delay: int = 10
    period: int = 10
    timeout: int = 2
    success_threshold: int = 1
    failure_threshold: int = 30


@dataclass(kw_only=True)
class DeploymentCollection:
    """One collection of a deployment's ``DataCollector``, as in ``azure.ai.ml.entities``.

    ``enabled`` is Azure's string ``"true"`` or ``"false"``. ``data`` names the data asset
    the collection is registered as (``azureml:<endpoint>-<deployment>-<collection>:<version>``);
    the service fills it in. ``client_id`` (a managed identity on Azure) is kept, unused locally.
    """

    enabled: str | None = None
    data: str | None = None
    client_id: str | None = None

    @property
    def is_enabled(self) -> bool:
        return str(self.enabled).lower() == "true"


@dataclass(kw_only=True)
class RequestLogging:
    """Request headers to keep with every collected record (``capture_headers``)."""

    capture_headers: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class DataCollector:
    """Model data collection of an online deployment, as in ``azure.ai.ml.entities``.

    ``collections={"model_inputs": DeploymentCollection(enabled="true"), "model_outputs": ...}``:
    each sampled request's input rows and output predictions are written, off the request
    path, as JSON Lines under the workspace datastore's
    ``modelDataCollector/<endpoint>/<deployment>/<collection>/YYYY/MM/DD/HH/``
    (``rolling_rate`` ``"hour"``; ``"day"`` drops the hour folder, ``"minute"`` adds one),
    and registered as the ``uri_folder`` data asset ``<endpoint>-<deployment>-<collection>``.
    Other collection names are for a scoring script's own ``Collector(name=...).collect(df)``
    (``azureml.ai.monitoring``). ``sampling_rate`` (0.0-1.0; None means 1.0) is the share of
    requests collected.
    """

    collections: dict[str, DeploymentCollection] = field(default_factory=dict)
    rolling_rate: str | None = None
    sampling_rate: float | None = None
    request_logging: RequestLogging | None = None


@dataclass(kw_only=True)
class EndpointAuthKeys:
    primary_key: str
    secondary_key: str


@dataclass(kw_only=True)
class ManagedOnlineEndpoint:
    """An endpoint: a stable scoring URI, keys, and a traffic split over deployments.

    ``traffic={"blue": 90, "green": 10}`` routes by weight (summing to 100);
    ``mirror_traffic={"green": 10}`` also sends a copy of 10% of requests to green,
    whose answers are dropped.
    """

    name: str
    auth_mode: str = "key"
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    traffic: dict[str, int] = field(default_factory=dict)
    mirror_traffic: dict[str, int] = field(default_factory=dict)
    # Filled in by the service.
    scoring_uri: str | None = None
    openapi_uri: str | None = None
    provisioning_state: ProvisioningState | None = None
    creation_time: datetime | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # Azure fields kept with no local meaning (AzureFieldNote)


@dataclass(kw_only=True)
class ManagedOnlineDeployment:
    """A model served behind an endpoint, in its own server process.

    Give ``code_configuration`` for a scoring script; leave it out for an MLflow
    model (no-code deployment). ``model`` is a ``Model`` or ``"azureml:name:version"``.
    """

    name: str
    endpoint_name: str
    model: Model | str | None = None
    code_configuration: CodeConfiguration | None = None
    environment: str | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    instance_type: str = "local"
    instance_count: int = 1
    request_settings: OnlineRequestSettings = field(default_factory=OnlineRequestSettings)
    liveness_probe: ProbeSettings = field(default_factory=ProbeSettings)
    readiness_probe: ProbeSettings = field(default_factory=ProbeSettings)
    data_collector: DataCollector | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # Filled in by the service.
    provisioning_state: ProvisioningState | None = None
    state: DeploymentState | None = None
    reason: str | None = None
    port: int | None = None
    restarts: int = 0
    ready_instances: int = 0  # of instance_count, the servers answering their readiness probe
    code_version: int = 0
    creation_time: datetime | None = None
    scoring_uri: str | None = None
    notes: list[str] = field(default_factory=list)  # Azure fields kept with no local meaning (AzureFieldNote)

    @property
    def type(self) -> str:
        """Azure's deployment type: ``"managed"`` (a server this studio runs)."""
        return "managed"


@dataclass(kw_only=True)
class EndpointMetrics:
    """Request telemetry of an endpoint, bucketed by time (``interval_seconds``).

    ``series`` rows: ``time``, ``requests``, ``failures``, ``p50_ms``, ``p95_ms``,
    ``p99_ms``; the totals cover the whole window.
    """

    endpoint_name: str
    deployment_name: str | None
    interval_seconds: int
    series: list[dict[str, Any]] = field(default_factory=list)
    total_requests: int = 0
    total_failures: int = 0
    requests_per_minute: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    by_status: dict[int, int] = field(default_factory=dict)
