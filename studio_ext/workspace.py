"""The Workspace: opens a backend and exposes its services, like azure-ai-ml's MLClient.

A local workspace is a folder::

    my-workspace/
      workspace.toml   name, settings, the tracking and metadata URIs
      studio.db        metadata (SQLite in WAL mode), or any SQLAlchemy URL
      mlflow.db        MLflow tracking and model registry
      artifacts/       MLflow artifacts
      datastore/       the default datastore
      logs/            job and server logs

``workspace.toml`` is written last (atomically), so a folder without it is never
mistaken for a finished workspace.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from studio_ext._poller import Poller
from studio_ext.backends import SERVICE_PROTOCOLS, Backend, Runtime, get_backend_factory, kind_of_config
from studio_ext.backends._registry import AZURE_CONFIG_FILE, AZURE_KIND, WORKSPACE_FILE
from studio_ext.entities import (
    BatchEndpoint,
    Compute,
    Data,
    Datastore,
    Environment,
    Job,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    Model,
    ModelBatchDeployment,
    PipelineComponentBatchDeployment,
    WorkspaceInfo,
)
from studio_ext.entities._component import CommandComponent
from studio_ext.entities._monitor import MonitorSchedule
from studio_ext.entities._schedule import JobSchedule
from studio_ext.entities._workspace import LOCAL_RESOURCE_GROUP, LOCAL_SUBSCRIPTION, workspace_id
from studio_ext.errors import InvalidInput, NotFound, WorkspaceError
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

__all__ = ["AZURE_CONFIG_FILE", "WORKSPACE_FILE", "Workspace"]


class Workspace:
    """A studio workspace. ``Workspace(path)`` opens one; ``Workspace.create(path)`` makes one.

    It takes azure-ai-ml's objects as well as studio_ext's, and answers MLClient's calls,
    so a notebook written for Azure ML runs here with only the client line changed::

        from azure.identity import DefaultAzureCredential
        ml_client = Workspace.from_config(credential=DefaultAzureCredential())  # the credential is not used
        ml_client.create_or_update(command(code="src", command="python train.py"))

    Example::

        ws = Workspace.create("my-ws")
        job = ws.jobs.create_or_update(command(code="src", command="python train.py"))
        ws.jobs.stream(job.name)
    """

    def __init__(self, path: str | os.PathLike[str], credential: Any = None) -> None:
        """Open the workspace folder ``path``.

        ``credential`` (an azure-identity credential, as ``MLClient`` takes) is accepted and
        not used: a local workspace needs no sign-in. ``DefaultAzureCredential()`` builds
        offline, so a notebook's client line keeps its shape.
        """
        del credential  # accepted for MLClient's shape; a local workspace has nothing to sign in to
        self.path = Path(path).expanduser().resolve()
        toml_path = self.path / WORKSPACE_FILE
        if not self.path.is_dir():
            raise WorkspaceError(
                f"{self.path} is not a folder. Create a workspace with "
                f"`studio-ext init {path}` or Workspace.create({str(path)!r})."
            )
        if not toml_path.is_file():
            raise WorkspaceError(
                f"{self.path} is not a studio workspace: it has no {WORKSPACE_FILE}. "
                f"Create one with `studio-ext init {path}` or Workspace.create({str(path)!r})."
            )
        try:
            self.config: dict[str, Any] = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise WorkspaceError(
                f"{toml_path} is corrupt ({exc}). Fix the file by hand, or move it away and run "
                f"`studio-ext init {path}` to write a fresh one (your data and runs are kept)."
            ) from exc
        if not isinstance(self.config.get("name"), str):
            raise WorkspaceError(
                f"{toml_path} has no 'name' entry. Add a line such as name = \"my-workspace\"."
            )
        self.name: str = self.config["name"]
        kind = kind_of_config(toml_path, self.config)
        factory = get_backend_factory(kind, wanted_by=f"{toml_path} asks for the {kind!r} backend")
        self._backend: Backend = factory(self.path, self.config)
        self._checked: dict[str, object] = {}

    # -- construction ------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        metadata_uri: str | None = None,
        tracking_uri: str | None = None,
        exist_ok: bool = True,
    ) -> Workspace:
        """Create a local workspace folder (safe when several processes race), then open it."""
        from studio_ext.backends.local.core.bootstrap import create_workspace

        create_workspace(
            Path(path).expanduser().resolve(),
            name=name,
            metadata_uri=metadata_uri,
            tracking_uri=tracking_uri,
            exist_ok=exist_ok,
        )
        return cls(path)

    @classmethod
    def from_config(cls, source: Any = None, credential: Any = None, *, path: str | os.PathLike[str] | None = None,
                    file_name: str | None = None, **kwargs: Any) -> Workspace:
        """Find a workspace the way ``MLClient.from_config`` finds its config.

        ``source`` (or ``path=``) may be a workspace folder, a ``workspace.toml`` or a ``config.json``.
        With no path, ``$STUDIO_EXT_WORKSPACE`` is tried, then the current folder and
        its parents (each checked for ``workspace.toml``, ``config.json`` and
        ``.azureml/config.json``). ``file_name`` names the config file to look for
        instead of ``config.json``, as MLClient's does.

        MLClient's shapes are taken: ``from_config(credential=DefaultAzureCredential())``,
        ``from_config(DefaultAzureCredential())`` (a credential first) and
        ``from_config(credential, path=..., file_name=...)``. The credential is not used.
        Other MLClient keywords (``logging_enable``, ``cloud`` ...) are accepted and not used.
        """
        if source is not None and not isinstance(source, (str, os.PathLike)):
            if credential is not None or not hasattr(source, "get_token"):
                raise WorkspaceError(
                    f"Workspace.from_config takes a folder or config file path. Got {type(source).__name__} "
                    "instead. Pass the credential as credential=... (it is accepted and not used).")
            source, credential = None, source  # MLClient.from_config(credential): the credential comes first
        if source is not None and path is not None:
            raise WorkspaceError("Give Workspace.from_config one path: as its first argument or as path=..., not both.")
        path = source if source is not None else path
        del credential, kwargs  # accepted for MLClient's shape; a local workspace has nothing to sign in to
        config_name = file_name or AZURE_CONFIG_FILE
        if path is None and os.environ.get("STUDIO_EXT_WORKSPACE"):
            path = os.environ["STUDIO_EXT_WORKSPACE"]
        start = Path(path).expanduser().resolve() if path is not None else Path.cwd()
        candidates: list[Path]
        if start.is_file():
            candidates = [start]
        else:
            folders = [start] if path is not None else [start, *start.parents]
            candidates = [
                f / name
                for f in folders
                for name in (WORKSPACE_FILE, config_name, f".azureml/{config_name}")
            ]
        for candidate in candidates:
            if not candidate.is_file():
                continue
            if candidate.name == WORKSPACE_FILE:
                return cls(candidate.parent)
            if candidate.name in (AZURE_CONFIG_FILE, config_name) or candidate.suffix == ".json":
                return cls._from_azure_config(candidate)
        raise WorkspaceError(
            f"No workspace found from {start}: looked for {WORKSPACE_FILE}, {config_name} "
            f"and .azureml/{config_name}. Pass the workspace folder, set STUDIO_EXT_WORKSPACE, "
            "or create one with `studio-ext init PATH`."
        )

    @classmethod
    def _from_azure_config(cls, config_path: Path) -> Workspace:
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise WorkspaceError(f"{config_path} is not valid JSON ({exc}).") from exc
        missing = [k for k in ("subscription_id", "resource_group", "workspace_name") if not config.get(k)]
        if missing:
            raise WorkspaceError(
                f"{config_path} lacks {', '.join(missing)}. Download config.json again from the "
                "Azure ML studio (workspace overview → Download config file)."
            )
        # config.json (or the file from_config(file_name=...) named) describes an Azure ML workspace
        kind = kind_of_config(config_path, config) if config_path.name == AZURE_CONFIG_FILE else \
            str(config.get("backend") or AZURE_KIND)
        factory = get_backend_factory(
            kind, wanted_by=f"{config_path} names the Azure ML workspace {config['workspace_name']!r}")
        return cls._opened(path=config_path.parent, name=config["workspace_name"], config=config,
                           backend=factory(config_path.parent, config))

    @classmethod
    def _opened(cls, *, path: Path, name: str, config: Mapping[str, Any], backend: Backend) -> Workspace:
        """A Workspace around a backend built from a config other than workspace.toml."""
        ws = cls.__new__(cls)
        ws.path, ws.name, ws.config = path, name, dict(config)
        ws._backend = backend
        ws._checked = {}
        return ws

    # -- the backend ---------------------------------------------------------
    @property
    def backend(self) -> Backend:
        """The backend behind this workspace (``studio_ext.backends.Backend``).

        Its ``kind`` says which (``"local"``, ...). Code that needs one backend's own
        objects asks that backend for them: ``LocalBackend.of(ws).store`` on a local
        workspace (it refuses another kind).
        """
        return self._backend

    @property
    def runtime(self) -> Runtime:
        """Start, stop and ask about the backend's long-lived side (``studio_ext.backends.Runtime``).

        On a local workspace it is the supervisor process that runs jobs, clusters and
        endpoints; services start it on demand, and ``studio-ext server`` drives it::

            ws.runtime.status()   # RuntimeStatus(running=True, pid=4242, started=...)
            ws.runtime.stop()     # True: it was running
        """
        return self._backend.runtime

    def sdk_preamble(self) -> str:
        """The Python lines that open this workspace, for the code snippets panels show.

        It ends with ``ws = ...``, so a snippet appends its calls on ``ws``.
        """
        return self._backend.sdk_preamble()

    def _service(self, name: str) -> Any:
        # Any: each property below states the Protocol; this checks the object against it once.
        found = self._checked.get(name)
        if found is None:
            found = self._backend.service(name)
            if not isinstance(found, SERVICE_PROTOCOLS[name]):
                raise WorkspaceError(
                    f"The {self._backend.kind} backend's {name!r} service ({type(found).__name__}) does not "
                    f"implement {SERVICE_PROTOCOLS[name].__name__}. Fix or update the backend package."
                )
            self._checked[name] = found
        return found

    # -- services (named like MLClient's operation groups) -------------------
    @property
    def compute(self) -> ComputeOperations:
        """Compute instances, Dask clusters and attached schedulers (``services.ComputeOperations``)."""
        return self._service("compute")

    @property
    def jobs(self) -> JobOperations:
        """Submit, watch, cancel and list jobs and runs (``services.JobOperations``)."""
        return self._service("jobs")

    @property
    def environments(self) -> EnvironmentOperations:
        """Register and list Python environments (``services.EnvironmentOperations``)."""
        return self._service("environments")

    @property
    def datastores(self) -> DatastoreOperations:
        """The default datastore plus registered fsspec/SQL stores (``services.DatastoreOperations``)."""
        return self._service("datastores")

    @property
    def data(self) -> DataOperations:
        """Register, preview, profile and load datasets (``services.DataOperations``)."""
        return self._service("data")

    @property
    def models(self) -> ModelOperations:
        """Register, list and download model versions (``services.ModelOperations``)."""
        return self._service("models")

    @property
    def automl(self) -> AutoMLOperations:
        """AutoML jobs: check before a run, leaderboard, best model, report (``services.AutoMLOperations``)."""
        return self._service("automl")

    @property
    def components(self) -> ComponentOperations:
        """Command components, registered and versioned (``services.ComponentOperations``), as ``MLClient.components``."""
        return self._service("components")

    @property
    def pipelines(self) -> PipelineOperations:
        """Pipeline jobs: each step's state and run (``services.PipelineOperations``); submit them with
        ``ws.jobs.create_or_update``, as on Azure."""
        return self._service("pipelines")

    @property
    def sweeps(self) -> SweepOperations:
        """Hyperparameter sweeps: the best trial and every trial's figures (``services.SweepOperations``);
        submit them with ``ws.jobs.create_or_update``, as on Azure."""
        return self._service("sweeps")

    @property
    def data_drift(self) -> DataDriftOperations:
        """Dataset drift monitors (v1's ``DataDriftDetector``: create, backfill, get_results, schedules), and the
        results and alerts of every monitor, model monitors included (``services.DataDriftOperations``)."""
        return self._service("data_drift")

    @property
    def schedules(self) -> ScheduleOperations:
        """Job schedules on recurrence and cron triggers: create, enable, disable, delete, history
        (``services.ScheduleOperations``), as ``MLClient.schedules``."""
        return self._service("schedules")

    @property
    def online_endpoints(self) -> OnlineEndpointOperations:
        """Real-time endpoints: keys, traffic, invoke, metrics (``services.OnlineEndpointOperations``)."""
        return self._service("online_endpoints")

    @property
    def online_deployments(self) -> OnlineDeploymentOperations:
        """Deployments behind endpoints: state, logs, reload (``services.OnlineDeploymentOperations``)."""
        return self._service("online_deployments")

    @property
    def batch_endpoints(self) -> BatchEndpointOperations:
        """Batch endpoints: create, keys, invoke (a batch job), their jobs (``services.BatchEndpointOperations``),
        as ``MLClient.batch_endpoints``."""
        return self._service("batch_endpoints")

    @property
    def batch_deployments(self) -> BatchDeploymentOperations:
        """Model and pipeline component deployments behind batch endpoints (``services.BatchDeploymentOperations``),
        as ``MLClient.batch_deployments``."""
        return self._service("batch_deployments")

    @property
    def explanations(self) -> ExplanationOperations:
        """Explain models on datasets as jobs; stored results (``services.ExplanationOperations``)."""
        return self._service("explanations")

    @property
    def fairness(self) -> FairnessOperations:
        """Assess and mitigate unfairness across sensitive groups (``services.FairnessOperations``)."""
        return self._service("fairness")

    @property
    def privacy(self) -> PrivacyOperations:
        """Differentially private statistics and SQL with a budget per dataset version (``services.PrivacyOperations``)."""
        return self._service("privacy")

    @property
    def workspaces(self) -> WorkspaceOperations:
        """This workspace described as Azure's workspace entity (``ws.workspaces.get()``), as ``MLClient.workspaces``."""
        return WorkspaceOperations(self)

    # -- MLClient's identity and top-level verbs -------------------------------
    @property
    def subscription_id(self) -> str:
        """``"local"`` on a local workspace (it has no Azure subscription); a config.json's value otherwise."""
        return str(self.config.get("subscription_id") or LOCAL_SUBSCRIPTION)

    @property
    def resource_group_name(self) -> str:
        """``"local"`` on a local workspace (it has no resource group); a config.json's value otherwise."""
        return str(self.config.get("resource_group") or LOCAL_RESOURCE_GROUP)

    @property
    def workspace_name(self) -> str:
        """The workspace's name (``name`` in workspace.toml, by default its folder's name), as MLClient's."""
        return self.name

    def create_or_update(self, entity: Any, **kwargs: Any) -> Any:
        """Create or update a job, a data asset, a model, an environment or a datastore, as ``MLClient`` does.

        Chooses the service by the entity's type (a studio_ext entity or an azure-ai-ml
        object): ``ws.jobs``, ``ws.data``, ``ws.models``, ``ws.environments`` or
        ``ws.datastores``. ``kwargs`` go to the service (``experiment_name=`` for a job).
        Compute, endpoints and deployments are long-running: use :meth:`begin_create_or_update`.
        """
        service = self._dispatch(entity, "create_or_update")
        return getattr(self, service).create_or_update(entity, **kwargs)

    def begin_create_or_update(self, entity: Any, **kwargs: Any) -> Poller[Any]:
        """Start creating a compute target, an online endpoint or a deployment; returns a Poller, as ``MLClient``.

        ``ws.begin_create_or_update(cluster).result()`` waits until it is there.
        """
        service = self._dispatch(entity, "begin_create_or_update")
        poller: Poller[Any] = getattr(self, service).begin_create_or_update(entity, **kwargs)
        return poller

    def _dispatch(self, entity: Any, verb: str) -> str:
        """The service (property name) for ``entity`` under ``verb``, or InvalidInput saying what each verb takes."""
        service = _service_for(entity)
        wants = "begin_create_or_update" if service in _LONG_RUNNING else "create_or_update"
        if service is not None and wants == verb:
            return service
        from studio_ext.translation._common import class_path

        takes = _VERB_TAKES[verb]
        if service is not None:
            raise InvalidInput(
                f"ws.{verb} takes {takes}. {class_path(entity)} is created with ws.{wants}(...), as MLClient "
                f"does{' (it returns a Poller: add .result() to wait)' if wants.startswith('begin') else ''}.")
        raise InvalidInput(f"ws.{verb} takes {takes}. Got {class_path(entity)} instead.")

    # -- MLflow ------------------------------------------------------------
    @property
    def mlflow_tracking_uri(self) -> str:
        """The MLflow tracking URI of this workspace, for ``mlflow.set_tracking_uri``.

        Reading it also points MLflow's default artifact root at the workspace in this
        process, so experiments made with plain ``mlflow.set_experiment`` keep their
        artifacts inside the workspace rather than in ``./mlruns``.
        """
        os.environ["_MLFLOW_SERVER_ARTIFACT_ROOT"] = self._backend.artifacts_uri
        return self._backend.tracking_uri

    @property
    def metadata_uri(self) -> str:
        """Where the workspace's metadata lives (an SQLAlchemy URL on the local backend)."""
        return self._backend.metadata_uri

    def close(self) -> None:
        """Release this process's connections (the supervisor keeps running)."""
        self._backend.close()

    def __repr__(self) -> str:
        return f"Workspace(name={self.name!r}, path={str(self.path)!r}, backend={self._backend.kind!r})"


_LONG_RUNNING = frozenset({"compute", "online_endpoints", "online_deployments", "schedules", "batch_endpoints",
                           "batch_deployments"})
_VERB_TAKES = {
    "create_or_update": "a job (studio_ext.command(...), a studio_ext.automl job, azure.ai.ml.command(...) or an "
                        "azure.ai.ml.entities job), a Data, Model or Environment asset or a Datastore (studio_ext.entities "
                        "or azure.ai.ml.entities)",
    "begin_create_or_update": "a compute target (AmlCompute, ComputeInstance, studio_ext's AttachedCompute), a "
                              "ManagedOnlineEndpoint, a ManagedOnlineDeployment, a JobSchedule, a MonitorSchedule, a "
                              "BatchEndpoint or a batch deployment "
                              "(studio_ext.entities or "
                              "azure.ai.ml.entities)",
}
# studio_ext entity class -> the service that creates it
_LOCAL_KINDS: tuple[tuple[type, str], ...] = (
    (Job, "jobs"), (Data, "data"), (Model, "models"), (Environment, "environments"), (Datastore, "datastores"),
    (Compute, "compute"), (ManagedOnlineEndpoint, "online_endpoints"), (ManagedOnlineDeployment, "online_deployments"),
    (CommandComponent, "components"), (JobSchedule, "schedules"), (MonitorSchedule, "schedules"),
    (BatchEndpoint, "batch_endpoints"), (ModelBatchDeployment, "batch_deployments"),
    (PipelineComponentBatchDeployment, "batch_deployments"),
)
# azure.ai.ml.entities base class name -> the service that takes it (its services translate it)
_AZURE_KINDS = (
    ("Job", "jobs"), ("Data", "data"), ("Model", "models"), ("Environment", "environments"),
    ("Datastore", "datastores"), ("Compute", "compute"), ("OnlineEndpoint", "online_endpoints"), ("JobSchedule", "schedules"),
    ("MonitorSchedule", "schedules"),
    ("OnlineDeployment", "online_deployments"), ("Component", "components"), ("BatchEndpoint", "batch_endpoints"),
    ("BatchDeployment", "batch_deployments"), ("ModelBatchDeployment", "batch_deployments"),
    ("PipelineComponentBatchDeployment", "batch_deployments"),
)


def _service_for(entity: Any) -> str | None:
    for cls, service in _LOCAL_KINDS:
        if isinstance(entity, cls):
            return service
    if type(entity).__module__.startswith("azure.ai.ml"):
        import azure.ai.ml.entities as aml

        for name, service in _AZURE_KINDS:
            if isinstance(entity, getattr(aml, name)):
                return service
    return None


class WorkspaceOperations:
    """``ws.workspaces``: this workspace as Azure's workspace entity, as ``MLClient.workspaces``.

    A local workspace client sees only its own workspace; open another with ``Workspace(path)``.
    """

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    def get(self, name: str | None = None, **kwargs: Any) -> WorkspaceInfo:
        """This workspace's description (``name`` None or this workspace's name), else NotFound."""
        del kwargs  # MLClient's extra keywords (resource_group ...) have no local meaning
        ws = self._ws
        if name is not None and name != ws.name:
            raise NotFound(
                f"This client's workspace is {ws.name!r} (at {ws.path}); it does not see {name!r}. "
                f"Open that one with Workspace(path) or Workspace.from_config(path), or call "
                f"ws.workspaces.get({ws.name!r}).")
        return WorkspaceInfo(
            name=ws.name, display_name=str(ws.config.get("display_name") or ws.name),
            description=ws.config.get("description"), location=str(ws.config.get("location") or "local"),
            resource_group=ws.resource_group_name, mlflow_tracking_uri=ws.mlflow_tracking_uri,
            id=workspace_id(ws.subscription_id, ws.resource_group_name, ws.name))

    def list(self, **kwargs: Any) -> list[WorkspaceInfo]:
        """This workspace, as the only one this client sees."""
        del kwargs
        return [self.get()]
