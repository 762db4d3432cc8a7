"""``ws.online_endpoints`` and ``ws.online_deployments`` on the local backend.

These classes only record what the user asks for (in the metadata store) and
wait for the workspace supervisor's endpoints duty
(``studio_ext.backends.local.endpoints.duty``) to make it so: one router process per
endpoint on a stable port, ``instance_count`` uvicorn servers per deployment,
updates rolled out beside the running servers. Kernels come and go; the servers stay.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from studio_ext._poller import DonePoller, Poller
from studio_ext._validation import check_name
from studio_ext.backends.local.core import code_snapshot
from studio_ext.backends.local.core.accepting import accepts
from studio_ext.backends.local.core.schema import online_deployments as deployments_table
from studio_ext.backends.local.core.schema import online_endpoints as endpoints_table
from studio_ext.backends.local.core.schema import online_instances as instances_table
from studio_ext.backends.local.core.store import now, to_datetime
from studio_ext.entities import (
    CodeConfiguration,
    DataCollector,
    DeploymentState,
    EndpointAuthKeys,
    EndpointMetrics,
    KeyType,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    Model,
    ModelType,
    OnlineRequestSettings,
    ProbeSettings,
    ProvisioningState,
)
from studio_ext.errors import Conflict, InvalidInput, NotFound, StudioError
from studio_ext.services import OnlineDeploymentOperations, OnlineEndpointOperations, ScoringService
from studio_ext.serving import data_collection
from studio_ext.serving import endpoint_files as files

if TYPE_CHECKING:  # pragma: no cover
    import azure.ai.ml.entities as aml

    from studio_ext.backends.local import LocalBackend

# Azure ML's rule for endpoint and deployment names.
_ENDPOINT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")
MAX_TIMEOUT_MS = 180_000
MAX_INSTANCES = 16  # each instance is a process on this machine


class DeploymentFailed(StudioError):
    """A deployment's server could not start; the message has the reason and where the logs are."""


class ScoringError(StudioError):
    """The endpoint answered with an error status; ``http_status`` is its status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = status


def _check_endpoint_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not _ENDPOINT_NAME.match(name):
        raise InvalidInput(
            f"The {what} {name!r} is not valid. Use 3-32 letters, digits and '-', starting with a letter "
            "and not ending with '-' (as Azure ML requires)."
        )
    return name


class LocalOnlineEndpoints(OnlineEndpointOperations):
    """``ws.online_endpoints``: endpoints, keys, traffic, invocation and telemetry."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    # -- create / update / delete ------------------------------------------------------------
    def to_yaml(self, endpoint: ManagedOnlineEndpoint) -> str:
        """Azure ML v2 YAML of ``endpoint`` (what ``az ml online-endpoint create --file`` reads)."""
        from studio_ext.translation import to_yaml

        return to_yaml(endpoint)

    @accepts(ManagedOnlineEndpoint, "ws.online_endpoints.begin_create_or_update")
    def begin_create_or_update(
        self, endpoint: ManagedOnlineEndpoint | aml.ManagedOnlineEndpoint
    ) -> Poller[ManagedOnlineEndpoint]:
        """Create the endpoint (keys, router) or update its traffic, mirror and description."""
        if not isinstance(endpoint, ManagedOnlineEndpoint):
            raise InvalidInput(f"begin_create_or_update takes a ManagedOnlineEndpoint. Got {type(endpoint).__name__} instead.")
        name = _check_endpoint_name(endpoint.name, "endpoint name")
        if endpoint.auth_mode != "key":
            raise InvalidInput(f"auth_mode {endpoint.auth_mode!r} is not available locally; use auth_mode='key'.")
        row = self._row(name)
        existing = {d.name for d in self._deployment_rows(name)} if row else set()
        traffic = _check_traffic(endpoint.traffic, existing, "traffic")
        mirror = _check_traffic(endpoint.mirror_traffic, existing, "mirror_traffic", mirror=True)
        if traffic and sum(traffic.values()) != 100:
            raise InvalidInput(f"The traffic weights must add up to 100. Got {traffic} (sum {sum(traffic.values())}) instead.")
        both = sorted(k for k in mirror if traffic.get(k))
        if both:
            raise InvalidInput(f"A deployment cannot take both live and mirrored traffic: {', '.join(both)}.")
        spec = {"auth_mode": "key", "description": endpoint.description, "tags": dict(endpoint.tags),
                "traffic": traffic, "mirror_traffic": mirror}
        if row is None:
            files.write_private_json(files.keys_path(self._b.path, name),
                                     {"primary": files.new_key(), "secondary": files.new_key()})
            try:
                with self._b.store.engine.begin() as conn:
                    conn.execute(endpoints_table.insert().values(
                        name=name, spec=json.dumps(spec), revision=1, applied_revision=0,
                        provisioning_state=ProvisioningState.CREATING.value, created_at=now(), updated_at=now()))
            except sa.exc.IntegrityError:
                raise Conflict(f"The endpoint {name!r} was created by someone else just now; get it instead.") from None
            revision = 1
        else:
            if row.provisioning_state == ProvisioningState.DELETING.value:
                raise Conflict(f"The endpoint {name!r} is being deleted; wait for that to finish, then create it again.")
            with self._b.store.engine.begin() as conn:
                conn.execute(endpoints_table.update().where(endpoints_table.c.name == name).values(
                    spec=json.dumps(spec), revision=endpoints_table.c.revision + 1, updated_at=now()))
            revision = self._row(name).revision
        self._b.ensure_supervisor()

        def check() -> ManagedOnlineEndpoint | None:
            current = self._row(name)
            if current is None:
                raise NotFound(f"The endpoint {name!r} was deleted while being created.")
            if current.provisioning_state == ProvisioningState.FAILED.value:
                raise StudioError(f"The endpoint {name!r} could not start: {current.error}")
            if current.applied_revision >= revision and current.provisioning_state == ProvisioningState.SUCCEEDED.value:
                time.sleep(0.1)  # the router re-reads its table at most every 50 ms
                return self._entity(current)
            return None

        return Poller(check, f"Creating/updating endpoint {name!r}")

    def begin_delete(self, name: str) -> Poller[str]:
        """Stop the endpoint's router and deployments and forget them (keys included)."""
        self._require(name)
        with self._b.store.engine.begin() as conn:
            conn.execute(endpoints_table.update().where(endpoints_table.c.name == name)
                         .values(provisioning_state=ProvisioningState.DELETING.value, updated_at=now()))
        self._b.ensure_supervisor()
        return Poller(lambda: name if self._row(name) is None else None, f"Deleting endpoint {name!r}")

    # -- read ---------------------------------------------------------------------------------
    def get(self, name: str) -> ManagedOnlineEndpoint:
        row = self._require(name)
        self._watch(row)
        return self._entity(row)

    def list(self) -> builtins.list[ManagedOnlineEndpoint]:
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(endpoints_table).order_by(endpoints_table.c.name)).all()
        if rows:
            self._watch(rows[0])
        return [self._entity(r) for r in rows]

    # -- keys ---------------------------------------------------------------------------------
    def get_keys(self, name: str) -> EndpointAuthKeys:
        self._require(name)
        keys = files.read_keys(files.keys_path(self._b.path, name))
        return EndpointAuthKeys(primary_key=keys["primary"], secondary_key=keys["secondary"])

    def begin_regenerate_keys(self, name: str, *, key_type: str | KeyType = KeyType.PRIMARY) -> Poller[EndpointAuthKeys]:
        """Replace one key; the old one is refused from the next request on."""
        self._require(name)
        try:
            which = KeyType(key_type)
        except ValueError:
            raise InvalidInput(f"key_type must be 'primary' or 'secondary'. Got {key_type!r} instead.") from None
        path = files.keys_path(self._b.path, name)
        keys = files.read_keys(path)
        keys[which.value] = files.new_key()
        files.write_private_json(path, keys)
        time.sleep(2 * files.KEY_RECHECK_SECONDS)  # every server has seen the new file by now
        return DonePoller(self.get_keys(name))

    def regenerate_keys(self, name: str, *, key_type: str | KeyType = KeyType.PRIMARY) -> EndpointAuthKeys:
        return self.begin_regenerate_keys(name, key_type=key_type).result()

    # -- use ----------------------------------------------------------------------------------
    def invoke(
        self,
        endpoint_name: str,
        request_file: str | os.PathLike[str] | None = None,
        deployment_name: str | None = None,
        *,
        request_data: Any = None,
    ) -> str:
        """POST a request to the scoring URI with the primary key; return the response text."""
        import httpx

        endpoint = self.get(endpoint_name)
        if (request_file is None) == (request_data is None):
            raise InvalidInput("Give exactly one of request_file= (a JSON file) or request_data= (a str or JSON value).")
        if request_file is not None:
            path = Path(request_file).expanduser()
            if not path.is_file():
                raise NotFound(f"The request file {str(request_file)!r} does not exist.")
            body = path.read_bytes()
        else:
            body = request_data.encode() if isinstance(request_data, str) else json.dumps(request_data).encode()
        headers = {"Authorization": f"Bearer {self.get_keys(endpoint_name).primary_key}",
                   "Content-Type": "application/json"}
        if deployment_name:
            headers["azureml-model-deployment"] = deployment_name
        if not endpoint.scoring_uri:
            raise Conflict(f"The endpoint {endpoint_name!r} has no scoring URI yet ({endpoint.provisioning_state}).")
        try:
            response = httpx.post(endpoint.scoring_uri, content=body, headers=headers, timeout=MAX_TIMEOUT_MS / 1000 + 5)
        except httpx.HTTPError as exc:
            raise ScoringError(503, f"The endpoint {endpoint_name!r} did not answer: {exc}") from exc
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            reason = response.headers.get("ms-azureml-model-error-reason")
            raise ScoringError(response.status_code, f"The endpoint answered {response.status_code}: {message}"
                               + (f" (model error: {reason})" if reason else ""))
        return response.text

    def get_service(self, endpoint_name: str, deployment_name: str | None = None) -> EndpointService:
        """A v1-style handle: ``service.run(input_data=json)`` returns the parsed answer."""
        self._require(endpoint_name)
        return EndpointService(self, endpoint_name, deployment_name)

    def get_metrics(
        self, endpoint_name: str, *, deployment_name: str | None = None, minutes: float = 60, interval_seconds: int = 60
    ) -> EndpointMetrics:
        """Requests per minute, failures and latency percentiles from the endpoint's telemetry."""
        from studio_ext.serving.telemetry import query_metrics

        self._require(endpoint_name)
        until = time.time()
        return query_metrics(files.telemetry_path(self._b.path), endpoint_name, deployment=deployment_name,
                             since=until - minutes * 60, until=until, interval_seconds=interval_seconds)

    # -- helpers ------------------------------------------------------------------------------
    def _row(self, name: str) -> Any:
        with self._b.store.engine.connect() as conn:
            return conn.execute(sa.select(endpoints_table).where(endpoints_table.c.name == name)).first()

    def _require(self, name: str) -> Any:
        row = self._row(name)
        if row is None:
            with self._b.store.engine.connect() as conn:
                known = [r.name for r in conn.execute(sa.select(endpoints_table.c.name))]
            raise NotFound(f"There is no endpoint named {name!r}. Endpoints: {', '.join(known) or 'none'}. "
                           "Create one with ws.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=...)).")
        return row

    def _deployment_rows(self, endpoint: str) -> builtins.list[Any]:
        with self._b.store.engine.connect() as conn:
            return builtins.list(conn.execute(sa.select(deployments_table)
                                              .where(deployments_table.c.endpoint_name == endpoint)
                                              .order_by(deployments_table.c.name)).all())

    def _watch(self, row: Any) -> None:
        """Endpoints exist, so someone must supervise them (after a reboot, say)."""
        if row is not None:
            self._b.ensure_supervisor()

    def _entity(self, row: Any) -> ManagedOnlineEndpoint:
        spec = json.loads(row.spec)
        base = f"http://127.0.0.1:{row.port}" if row.port else None
        return ManagedOnlineEndpoint(
            name=row.name, auth_mode=spec.get("auth_mode", "key"), description=spec.get("description"),
            tags=spec.get("tags") or {}, traffic=spec.get("traffic") or {}, mirror_traffic=spec.get("mirror_traffic") or {},
            scoring_uri=f"{base}/score" if base else None, openapi_uri=f"{base}/swagger.json" if base else None,
            provisioning_state=ProvisioningState(row.provisioning_state), creation_time=to_datetime(row.created_at),
            error=row.error)


class EndpointService(ScoringService):
    """``service.run(input_data=...)`` as azureml-core's ``Webservice.run``, on an endpoint."""

    def __init__(self, endpoints: LocalOnlineEndpoints, name: str, deployment: str | None) -> None:
        self._endpoints, self.name, self.deployment = endpoints, name, deployment

    @property
    def scoring_uri(self) -> str | None:
        return self._endpoints.get(self.name).scoring_uri

    @property
    def swagger_uri(self) -> str | None:
        return self._endpoints.get(self.name).openapi_uri

    def get_keys(self) -> tuple[str, str]:
        keys = self._endpoints.get_keys(self.name)
        return keys.primary_key, keys.secondary_key

    def run(self, input_data: Any) -> Any:
        """Score ``input_data`` (a JSON string or a JSON-able value); return the decoded answer."""
        answer = self._endpoints.invoke(self.name, request_data=input_data, deployment_name=self.deployment)
        try:
            return json.loads(answer)
        except json.JSONDecodeError:
            return answer


def _check_traffic(traffic: dict[str, int] | None, existing: set[str], what: str, mirror: bool = False) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, weight in (traffic or {}).items():
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= (50 if mirror else 100):
            limit = "0 to 50 (Azure mirrors at most half)" if mirror else "0 to 100"
            raise InvalidInput(f"The {what} of {name!r} must be a whole number from {limit}. Got {weight!r} instead.")
        if name not in existing:
            raise NotFound(f"The {what} names the deployment {name!r}, which this endpoint does not have. "
                           f"Deployments: {', '.join(sorted(existing)) or 'none'}.")
        if weight:
            out[name] = weight
    return out


class LocalOnlineDeployments(OnlineDeploymentOperations):
    """``ws.online_deployments``: deployments behind an endpoint, their state, logs and reloads."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    @property
    def _endpoints(self) -> LocalOnlineEndpoints:
        return self._b.service("online_endpoints")

    def to_yaml(self, deployment: ManagedOnlineDeployment) -> str:
        """Azure ML v2 YAML of ``deployment`` (what ``az ml online-deployment create --file`` reads)."""
        from studio_ext.translation import to_yaml

        return to_yaml(deployment)

    @accepts(ManagedOnlineDeployment, "ws.online_deployments.begin_create_or_update")
    def begin_create_or_update(
        self, deployment: ManagedOnlineDeployment | aml.ManagedOnlineDeployment
    ) -> Poller[ManagedOnlineDeployment]:
        """Validate, record and start a deployment (or roll out its new spec beside the running one)."""
        if not isinstance(deployment, ManagedOnlineDeployment):
            raise InvalidInput(f"begin_create_or_update takes a ManagedOnlineDeployment. Got {type(deployment).__name__} instead.")
        name = _check_endpoint_name(deployment.name, "deployment name")
        endpoint_row = self._endpoints._require(deployment.endpoint_name)
        if endpoint_row.provisioning_state == ProvisioningState.DELETING.value:
            raise Conflict(f"The endpoint {deployment.endpoint_name!r} is being deleted.")
        model = self._resolve_model(deployment.model)
        settings = _check_settings(deployment.request_settings)
        count = deployment.instance_count
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_INSTANCES:
            raise InvalidInput(f"instance_count must be a whole number from 1 to {MAX_INSTANCES} (each instance is a "
                               f"server process on this machine). Got {count!r} instead.")
        script = self._check_code(deployment.code_configuration)
        collector = self._check_collector(deployment.data_collector, scripted=script is not None)
        if script is None:
            if model is None or ModelType(model.type) is not ModelType.MLFLOW:
                raise InvalidInput(
                    "A deployment without code_configuration serves an MLflow model with no code; "
                    + ("give model=." if model is None else f"model {model.name}:{model.version} is a {model.type}. ")
                    + "Otherwise give code_configuration=CodeConfiguration(code=..., scoring_script='score.py').")
            if model.needs_trust:
                raise InvalidInput(
                    f"Model {model.name}:{model.version} cannot be served without trust: {'; '.join(model.needs_trust)}. "
                    "If you trust where it came from, register it again with Model(..., allow_pickle=True) or "
                    "Model(..., trusted_types=[...]); or load it yourself in a scoring script.")
        self._prepare_environment(deployment.environment)
        for key in deployment.environment_variables:
            if not isinstance(key, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise InvalidInput(f"The environment variable name {key!r} is not valid.")
        endpoint = deployment.endpoint_name
        row = self._row(endpoint, name)
        if collector is not None:
            self._register_collections(endpoint, name, collector)
        ddir = files.deployment_dir(self._b.path, endpoint, name)
        code_version = (row.code_version + 1) if row is not None else 1
        if script is not None:
            _snapshot_code(Path(script[0]), ddir / "code")
        spec = {
            "model": _model_spec(model, self._b) if model is not None else None,
            "code": script[0] if script else None, "scoring_script": script[1] if script else None,
            "environment": deployment.environment,
            "environment_variables": {str(k): str(v) for k, v in deployment.environment_variables.items()},
            "instance_type": deployment.instance_type, "instance_count": deployment.instance_count,
            "request_settings": settings,
            "liveness_probe": asdict(deployment.liveness_probe or ProbeSettings()),
            "readiness_probe": asdict(deployment.readiness_probe or ProbeSettings()),
            "description": deployment.description, "tags": dict(deployment.tags),
            "data_collector": collector,
        }
        with self._b.store.engine.begin() as conn:
            if row is None:
                conn.execute(deployments_table.insert().values(
                    endpoint_name=endpoint, name=name, spec=json.dumps(spec), generation=1, running_generation=0,
                    code_version=code_version, loaded_code_version=0,
                    provisioning_state=ProvisioningState.CREATING.value, state=DeploymentState.CREATING.value,
                    restarts=0, created_at=now(), updated_at=now()))
            else:
                conn.execute(deployments_table.update().where(
                    deployments_table.c.endpoint_name == endpoint, deployments_table.c.name == name).values(
                    spec=json.dumps(spec), generation=deployments_table.c.generation + 1, code_version=code_version,
                    provisioning_state=ProvisioningState.UPDATING.value, updated_at=now()))
            generation = conn.execute(sa.select(deployments_table.c.generation).where(
                deployments_table.c.endpoint_name == endpoint, deployments_table.c.name == name)).scalar()
            # The first deployment of an endpoint with no traffic takes all of it, as the studio does.
            ep_spec = json.loads(endpoint_row.spec)
            if not ep_spec.get("traffic"):
                ep_spec["traffic"] = {name: 100}
                conn.execute(endpoints_table.update().where(endpoints_table.c.name == endpoint).values(
                    spec=json.dumps(ep_spec), revision=endpoints_table.c.revision + 1, updated_at=now()))
        self._b.ensure_supervisor()
        return Poller(lambda: self._settled(endpoint, name, generation),
                      f"Deploying {endpoint}/{name}", interval=0.1)

    def get(self, name: str, endpoint_name: str) -> ManagedOnlineDeployment:
        return self._entity(self._require(endpoint_name, name))

    def list(self, endpoint_name: str) -> builtins.list[ManagedOnlineDeployment]:
        self._endpoints._require(endpoint_name)
        return [self._entity(r) for r in self._endpoints._deployment_rows(endpoint_name)]

    def begin_delete(self, name: str, endpoint_name: str) -> Poller[str]:
        self._require(endpoint_name, name)
        traffic = self._endpoints.get(endpoint_name).traffic
        if traffic.get(name):
            raise Conflict(f"The deployment {name!r} takes {traffic[name]}% of the traffic of {endpoint_name!r}. "
                           "Move its traffic to other deployments first (update the endpoint's traffic).")
        with self._b.store.engine.begin() as conn:
            conn.execute(deployments_table.update().where(
                deployments_table.c.endpoint_name == endpoint_name, deployments_table.c.name == name)
                .values(provisioning_state=ProvisioningState.DELETING.value, updated_at=now()))
        self._b.ensure_supervisor()
        return Poller(lambda: name if self._row(endpoint_name, name) is None else None,
                      f"Deleting deployment {endpoint_name}/{name}")

    def get_logs(self, name: str, endpoint_name: str, lines: int = 100) -> str:
        """The last ``lines`` lines of the deployment server's log (stdout, stderr, tracebacks)."""
        self._require(endpoint_name, name)
        path = self.log_path(name, endpoint_name)
        if not path.exists():
            return ""
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def log_path(self, name: str, endpoint_name: str) -> Path:
        return files.deployment_dir(self._b.path, endpoint_name, name) / "server.log"

    def begin_reload(self, name: str, endpoint_name: str) -> Poller[ManagedOnlineDeployment]:
        """Copy the scoring script's folder again and re-run ``init()`` in the running server."""
        row = self._require(endpoint_name, name)
        spec = json.loads(row.spec)
        if not spec.get("scoring_script"):
            raise InvalidInput(f"The deployment {name!r} has no scoring script to reload (a no-code MLflow deployment).")
        source = Path(spec["code"])
        if not (source / spec["scoring_script"]).is_file():
            raise NotFound(f"The scoring script {spec['scoring_script']!r} is no longer in {str(source)!r}.")
        _snapshot_code(source, files.deployment_dir(self._b.path, endpoint_name, name) / "code")
        with self._b.store.engine.begin() as conn:
            conn.execute(deployments_table.update().where(
                deployments_table.c.endpoint_name == endpoint_name, deployments_table.c.name == name)
                .values(code_version=deployments_table.c.code_version + 1, updated_at=now()))
        target = row.code_version + 1
        self._b.ensure_supervisor()

        def check() -> ManagedOnlineDeployment | None:
            current = self._require(endpoint_name, name)
            if current.loaded_code_version < target:
                return None
            if current.reason and current.reason.startswith("Reload failed"):
                raise DeploymentFailed(f"{current.reason} The previous script keeps serving. "
                                       f"Logs: ws.online_deployments.get_logs({name!r}, {endpoint_name!r}).")
            return self._entity(current)

        return Poller(check, f"Reloading {endpoint_name}/{name}")

    # -- helpers ------------------------------------------------------------------------------
    def _settled(self, endpoint: str, name: str, generation: int) -> ManagedOnlineDeployment | None:
        row = self._row(endpoint, name)
        if row is None:
            raise NotFound(f"The deployment {endpoint}/{name} was deleted while being deployed.")
        if row.running_generation < generation:
            with self._b.store.engine.connect() as conn:
                failed = conn.execute(sa.select(instances_table.c.reason).where(
                    instances_table.c.endpoint_name == endpoint, instances_table.c.deployment_name == name,
                    instances_table.c.generation == generation,
                    instances_table.c.state == DeploymentState.FAILED.value)).first()
            if failed is not None and row.running_generation > 0:
                raise DeploymentFailed(
                    f"The update of {endpoint}/{name} failed: {failed.reason} The previous version keeps serving. "
                    f"Logs: ws.online_deployments.get_logs({name!r}, {endpoint!r}).")
            return None
        if row.state == DeploymentState.FAILED.value:
            raise DeploymentFailed(
                f"The deployment {endpoint}/{name} failed: {row.reason} "
                f"Logs: ws.online_deployments.get_logs({name!r}, {endpoint!r}).")
        if row.state == DeploymentState.HEALTHY.value:
            return self._entity(row)
        return None

    def _ready_instances(self, row: Any) -> int:
        with self._b.store.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(instances_table).where(
                instances_table.c.endpoint_name == row.endpoint_name, instances_table.c.deployment_name == row.name,
                instances_table.c.generation == row.running_generation,
                instances_table.c.state == DeploymentState.HEALTHY.value)).scalar() or 0

    def _row(self, endpoint: str, name: str) -> Any:
        with self._b.store.engine.connect() as conn:
            return conn.execute(sa.select(deployments_table).where(
                deployments_table.c.endpoint_name == endpoint, deployments_table.c.name == name)).first()

    def _require(self, endpoint: str, name: str) -> Any:
        row = self._row(endpoint, name)
        if row is None:
            self._endpoints._require(endpoint)
            known = [r.name for r in self._endpoints._deployment_rows(endpoint)]
            raise NotFound(f"The endpoint {endpoint!r} has no deployment {name!r}. Deployments: {', '.join(known) or 'none'}.")
        return row

    def _resolve_model(self, model: Model | str | None) -> Model | None:
        models = self._b.service("models")
        if model is None:
            return None
        if isinstance(model, Model):
            if model.version is not None:
                return models.get(model.name, model.version)
            return models.create_or_update(model)  # an inline model is registered, as on Azure
        if not isinstance(model, str):
            raise InvalidInput(f"model must be a Model or 'azureml:NAME:VERSION'. Got {type(model).__name__} instead.")
        ref = model.removeprefix("azureml:")
        name, _, version = ref.partition("@") if "@" in ref else ref.partition(":")
        check_name(name, "model name")
        return models.get(name, None if version in ("", "latest") else version)

    @staticmethod
    def _check_code(code: CodeConfiguration | None) -> tuple[str, str] | None:
        if code is None:
            return None
        if not isinstance(code, CodeConfiguration):
            raise InvalidInput(f"code_configuration must be a CodeConfiguration. Got {type(code).__name__} instead.")
        folder = Path(code.code).expanduser()
        if not folder.is_dir():
            raise NotFound(f"The code folder {code.code!r} does not exist (looked in {folder.resolve()}).")
        script = str(code.scoring_script)
        from studio_ext._validation import resolve_inside

        path = resolve_inside(folder.resolve(), script, "scoring script")
        if not path.is_file():
            raise NotFound(f"The scoring script {script!r} is not in {str(folder.resolve())!r}.")
        return str(folder.resolve()), script

    @staticmethod
    def _check_collector(collector: DataCollector | None, *, scripted: bool = True) -> dict[str, Any] | None:
        """``data_collector`` checked as Azure checks it, as its v2 mapping (what the spec keeps)."""
        if collector is None:
            return None
        from studio_ext.translation import online_deployment as translation

        if not isinstance(collector, DataCollector):
            raise InvalidInput("data_collector must be a studio_ext.entities.DataCollector (or, in an "
                               "azure.ai.ml.entities.ManagedOnlineDeployment, an azure.ai.ml.entities.DataCollector). "
                               f"Got {type(collector).__name__} instead.")
        try:
            mapping = translation.collector_to_v2(collector)
        except (AttributeError, TypeError) as exc:
            raise InvalidInput(f"data_collector.collections must map names to DeploymentCollection(enabled='true'): {exc}") from None
        translation.collector_from_v2(mapping)  # Azure's checks: enabled, sampling_rate, rolling_rate
        for key in mapping["collections"]:
            if not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$", key):
                raise InvalidInput(f"The collection name {key!r} is not valid: use letters, digits, '_' and '-' "
                                   "(Azure's are model_inputs, model_outputs, request and response; others are "
                                   "for Collector(name=...)).")
        try:
            data_collection.check_names({k: (v or {}).get("enabled") == "true" for k, v in mapping["collections"].items()},
                                        scripted=scripted)
        except ValueError as exc:
            raise InvalidInput(f"data_collector.collections: {exc}") from None
        return mapping

    def _register_collections(self, endpoint: str, deployment: str, collector: dict[str, Any]) -> None:
        """Each enabled collection's folder, registered as the data asset ``<endpoint>-<deployment>-<collection>``.

        A ``uri_folder`` read where the server writes (nothing copied), as Azure registers it; a
        new version only when the asset does not name this folder already. Its id goes into the
        collection's ``data``.
        """
        from studio_ext.backends.local.data.datastores import DEFAULT_NAME, local_folder

        data = self._b.service("data")
        root = local_folder(self._b.datastore_uri)
        for collection, item in collector["collections"].items():
            if item.get("enabled") != "true":
                continue
            rel = data_collection.datastore_path(endpoint, deployment, collection)
            (root / rel).mkdir(parents=True, exist_ok=True)
            path = f"azureml://datastores/{DEFAULT_NAME}/paths/{rel}/"
            asset = f"{endpoint}-{deployment}-{collection}"
            try:
                latest = data.get(asset)
            except NotFound:
                latest = None
            if latest is None or latest.path != path:
                latest = data.register_folder_reference(
                    asset, path, description=f"Data collected by {endpoint}/{deployment} ({collection}), "
                                             "partitioned by hour (YYYY/MM/DD/HH/*.jsonl).",
                    tags={"endpoint": endpoint, "deployment": deployment, "collection": collection})
            item["data"] = f"azureml:{asset}:{latest.version}"

    def _prepare_environment(self, environment: str | None) -> None:
        """Resolve the deployment's environment and build its venv now, so a bad spec fails the call, not the server.

        An environment that asks for packages (conda file, pip) serves from a venv of its own that
        also sees the studio's packages after its own (for ``studio_ext.serving``); a curated one,
        or one with only an image, serves from the studio's interpreter. Pip's output goes to
        the workspace's ``logs/environment-builds.log``.
        """
        if environment is None:
            return
        envs = self._b.service("environments")
        envs.python_for(envs.resolve(environment), log=self._b.path / "logs" / "environment-builds.log", serving=True)

    def _entity(self, row: Any) -> ManagedOnlineDeployment:
        spec = json.loads(row.spec)
        model = spec.get("model") or {}
        code = CodeConfiguration(code=spec["code"], scoring_script=spec["scoring_script"]) if spec.get("scoring_script") else None
        return ManagedOnlineDeployment(
            name=row.name, endpoint_name=row.endpoint_name,
            model=f"azureml:{model['name']}:{model['version']}" if model else None,
            code_configuration=code, environment=spec.get("environment"),
            environment_variables=spec.get("environment_variables") or {},
            instance_type=spec.get("instance_type", "local"), instance_count=spec.get("instance_count", 1),
            request_settings=OnlineRequestSettings(**spec["request_settings"]),
            liveness_probe=ProbeSettings(**spec["liveness_probe"]), readiness_probe=ProbeSettings(**spec["readiness_probe"]),
            data_collector=_collector(spec.get("data_collector")),
            description=spec.get("description"), tags=spec.get("tags") or {},
            provisioning_state=ProvisioningState(row.provisioning_state), state=DeploymentState(row.state),
            reason=row.reason, port=row.port, restarts=row.restarts, code_version=row.code_version,
            ready_instances=self._ready_instances(row),
            creation_time=to_datetime(row.created_at),
            scoring_uri=f"http://127.0.0.1:{row.port}/score" if row.port else None)


def _collector(mapping: dict[str, Any] | None) -> DataCollector | None:
    if not mapping:
        return None
    from studio_ext.translation import online_deployment as translation

    return translation.collector_from_v2(mapping)


def _check_settings(settings: OnlineRequestSettings | None) -> dict[str, int]:
    settings = settings or OnlineRequestSettings()
    values = asdict(settings)
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInput(f"request_settings.{key} must be a positive whole number. Got {value!r} instead.")
    if values["request_timeout_ms"] > MAX_TIMEOUT_MS:
        raise InvalidInput(f"request_settings.request_timeout_ms must be at most {MAX_TIMEOUT_MS} (as on Azure). "
                           f"Got {values['request_timeout_ms']} instead.")
    return values


def _model_spec(model: Model, backend: LocalBackend) -> dict[str, Any]:
    """What the server needs to verify and load the model (no loading here)."""
    root = backend.service("models").local_path(model.name, model.version)
    return {"name": model.name, "version": model.version, "root": str(root), "files": model.files,
            "type": str(model.type), "flavors": model.flavors, "serialization": str(model.serialization),
            "trusted_types": model.trusted_types, "allow_pickle": model.allow_pickle,
            "signature": model.signature, "input_example": model.input_example,
            "mlflow_subpath": _mlflow_subpath(backend, model)}


def _mlflow_subpath(backend: LocalBackend, model: Model) -> str | None:
    found = backend.store.get_asset("model", model.name, int(model.version))
    return found[1].get("mlflow_subpath") if found else None


def _snapshot_code(source: Path, dest: Path) -> None:
    """Copy the code folder under the code folder rule (core/code_snapshot.py), swapped in once whole."""
    code_snapshot.snapshot_code(source, dest, replace=True)
