"""``ws.models`` on the local backend: MLflow's model registry plus an integrity manifest.

Registering copies the model's files to an immutable folder in the artifact store
(``_registry/NAME/<uuid>/``), records the SHA-256 of every file, and creates an
MLflow model version pointing at that folder. It never loads (unpickles) the model.
"""

from __future__ import annotations

import builtins
import re
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio_ext._validation import check_name
from studio_ext.backends.local.core import tracking
from studio_ext.backends.local.core.accepting import accepts
from studio_ext.backends.local.core.store import to_datetime
from studio_ext.entities import Model, ModelType, Serialization
from studio_ext.errors import Conflict, InvalidInput, NotFound, UnsafePath
from studio_ext.services import ModelOperations
from studio_ext.serving.model_files import hash_files, inspect_mlflow_model, mlmodel_dir

if TYPE_CHECKING:  # pragma: no cover
    import azure.ai.ml.entities as aml

    from studio_ext.backends.local import LocalBackend

KIND = "model"
REGISTRY_FOLDER = "_registry"  # asset names start with a letter or digit, so no experiment clashes
_JOB_OUTPUT = re.compile(r"^azureml://jobs/([^/]+)/outputs/artifacts/paths/(.+?)/?$")
_RUNS = re.compile(r"^runs:/([^/]+)/(.+?)/?$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_ACCEPTED = ("'runs:/<run id or job name>/<path>', 'azureml://jobs/<job>/outputs/artifacts/paths/<path>/' "
             "or a local file or folder")


class LocalModels(ModelOperations):
    """``ws.models``: register, get, list, download and archive model versions."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    # -- register ------------------------------------------------------------------
    def to_yaml(self, model: Model) -> str:
        """Azure ML v2 YAML of ``model`` (what ``az ml model create --file`` and ``azure.ai.ml.load_model`` read)."""
        from studio_ext.translation import to_yaml

        return to_yaml(model)

    @accepts(Model, "ws.models.create_or_update")
    def create_or_update(self, model: Model | aml.Model) -> Model:
        """Register a new, immutable version of ``model``; nothing is written on bad input."""
        if not isinstance(model, Model):
            raise InvalidInput(f"ws.models.create_or_update takes a Model(...). Got {type(model).__name__} instead.")
        name = check_name(model.name, "model name")
        if model.version is not None:
            if not str(model.version).isdigit():
                raise InvalidInput(f"The model version must be a whole number. Got {model.version!r} instead.")
            if self._b.store.get_asset(KIND, name, int(model.version)) is not None:
                raise Conflict(
                    f"Model {name!r} version {model.version} already exists and versions are immutable. "
                    "Leave version empty to register the next one."
                )
        if not model.path:
            raise InvalidInput(f"Model {name!r} has no path. Give path= as {_ACCEPTED}.")
        kind = ModelType(model.type) if str(model.type) in {t.value for t in ModelType} else None
        if kind is None and model.type is not None:
            raise InvalidInput(
                f"The model type {model.type!r} is not supported. Use 'mlflow_model' or 'custom_model'."
            )
        with tempfile.TemporaryDirectory(prefix="studio-model-") as tmp:
            staged, run_id, job_name = self._stage(str(model.path), Path(tmp))
            facts = self._facts(staged, kind, name)
            facts.pop("run_id", None)  # lineage is what we saw, not what a file claims
            files = hash_files(staged.parent)
            uri = f"{self._b.artifacts_uri}/{REGISTRY_FOLDER}/{name}/{uuid.uuid4().hex}"
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

            get_artifact_repository(uri).log_artifacts(str(staged.parent))
        try:
            version = self._register(name, model, uri, run_id)
            payload = {
                "path": model.path, "description": model.description,
                "tags": {str(k): str(v) for k, v in model.tags.items()},
                "properties": {str(k): str(v) for k, v in model.properties.items()},
                "trusted_types": sorted(set(model.trusted_types) | set(facts.pop("recorded_trusted_types", []))),
                "allow_pickle": bool(model.allow_pickle),
                "job_name": job_name, "run_id": run_id, "datasets": self._datasets(job_name, run_id),
                "files": files, "subpath": staged.name, "uri": uri, "created_at": time.time(), **facts,
            }
            self._b.store.put_asset(KIND, name, payload, version=version)
        except BaseException:
            self._delete_files(uri)
            raise
        return self.get(name, version)

    # -- read ----------------------------------------------------------------------
    def get(self, name: str, version: int | str | None = None, label: str | None = None) -> Model:
        if version == "latest" or label == "latest":
            version = None
        if version is not None and not str(version).isdigit():
            raise InvalidInput(f"The model version must be a whole number or 'latest'. Got {version!r} instead.")
        found = self._b.store.get_asset(KIND, name, int(version) if version is not None else None)
        if found is None:
            known = sorted({n for n, *_ in self._b.store.list_assets(KIND)})
            raise NotFound(
                f"Model {name!r}{'' if version is None else f' version {version}'} does not exist. "
                f"Registered models: {', '.join(known) or 'none'}. Register one with ws.models.create_or_update(Model(...))."
            )
        return self._entity(name, found[0], found[1], found[2])

    def list(
        self,
        name: str | None = None,
        *,
        tags: dict[str, str] | None = None,
        properties: dict[str, str] | None = None,
        include_archived: bool = False,
    ) -> builtins.list[Model]:
        """All versions of ``name``, or the latest version of every model; filtered by tags/properties.

        A tag given with the value ``None`` matches any value (``tags={"stage": None}``).
        """
        rows = list(self._b.store.list_assets(KIND, name, include_archived=include_archived))
        if name is None:
            latest: dict[str, tuple] = {}
            for row in rows:
                latest[row[0]] = row  # rows are ordered by name, version
            rows = list(latest.values())
        out = [self._entity(n, v, p, a) for n, v, p, a in rows]
        return [m for m in out if _matches(m.tags, tags) and _matches(m.properties, properties)]

    def local_path(self, name: str, version: int | str) -> Path:
        """The folder holding the registered files (``AZUREML_MODEL_DIR`` of a deployment)."""
        model = self.get(name, version)
        local = _local_path(model.uri)
        if local is not None:
            return local
        dest = self._b.path / "models-cache" / name / str(model.version)
        if not dest.is_dir():
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

            tmp = dest.with_name(dest.name + f".tmp{uuid.uuid4().hex[:6]}")
            get_artifact_repository(model.uri).download_artifacts("", str(tmp))
            tmp.rename(dest)
        return dest

    def download(self, name: str, version: int | str, download_path: str | Path = ".") -> Path:
        """Copy a model version's files to ``download_path/NAME`` (nothing is loaded)."""
        source = self.local_path(name, version)
        dest = Path(download_path).expanduser() / name
        shutil.copytree(source, dest, dirs_exist_ok=True)
        return dest

    def archive(self, name: str, version: int | str | None = None) -> None:
        """Hide a version (or every version) from lists; deployments that use it keep working."""
        self.get(name, version)
        self._b.store.set_archived(KIND, name, int(version) if version is not None else None, True)

    def restore(self, name: str, version: int | str | None = None) -> None:
        if not self._b.store.set_archived(KIND, name, int(version) if version is not None else None, False):
            raise NotFound(f"Model {name!r} has no version {version} to restore.")

    # -- helpers ---------------------------------------------------------------------
    def _stage(self, path: str, tmp: Path) -> tuple[Path, str | None, str | None]:
        """Copy the source into ``tmp/files/<basename>``; return it with the run and job it came from."""
        root = tmp / "files"
        root.mkdir()
        match = _JOB_OUTPUT.match(path) or _RUNS.match(path)
        if match:
            ref, artifact_path = match.group(1), match.group(2)
            run_id, job_name = self._run_of(ref)
            if ".." in re.split(r"[\\/]+", artifact_path) or artifact_path.startswith("/"):
                raise UnsafePath(f"The artifact path {artifact_path!r} must stay inside the run's artifacts.")
            local = self._download_run_artifact(run_id, artifact_path.rstrip("/"), tmp / "download")
            target = root / Path(artifact_path.rstrip("/")).name
            shutil.move(str(local), target)
            return target, run_id, job_name
        if _SCHEME.match(path) and not re.match(r"^[A-Za-z]:[\\/]", path):
            raise UnsafePath(f"The model path {path!r} has a scheme this workspace does not fetch from. Give {_ACCEPTED}.")
        source = Path(path).expanduser()
        if not source.exists():
            raise NotFound(f"The model path {path!r} does not exist (looked in {source.resolve()}). Give {_ACCEPTED}.")
        if source.is_symlink():
            raise UnsafePath(f"The model path {path!r} is a symbolic link; give the real file or folder.")
        target = root / source.resolve().name
        if source.is_dir():
            hash_files(source)  # refuses symlinks before anything is copied
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)
        return target, None, None

    def _download_run_artifact(self, run_id: str, artifact_path: str, dest: Path) -> Path:
        """A run's artifact, or (MLflow 3) the model the run logged under that name."""
        from mlflow.exceptions import MlflowException
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        client = tracking.client(self._b.tracking_uri)
        dest.mkdir(parents=True, exist_ok=True)
        def fetch(root_uri: str, path: str, target: Path) -> Path:
            local = _local_path(root_uri)
            if local is not None:  # a folder in this workspace: copy it, no download machinery
                source = local / path if path else local
                out = target / source.name if path else target
                if source.is_dir():
                    shutil.copytree(source, out, symlinks=True, dirs_exist_ok=True)
                else:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, out)
                return out
            return Path(get_artifact_repository(root_uri).download_artifacts(path, str(target)))

        try:
            run = client.get_run(run_id)
            run_repo = get_artifact_repository(run.info.artifact_uri)
            if run_repo.list_artifacts(artifact_path):
                return fetch(run.info.artifact_uri, artifact_path, dest)
            head, _, rest = artifact_path.partition("/")
            for logged in client.search_logged_models(experiment_ids=[run.info.experiment_id]):
                if logged.source_run_id == run_id and logged.name == head:
                    target = dest / head
                    target.mkdir()
                    fetch(logged.artifact_location, rest, target)
                    return target / rest if rest else target
        except (MlflowException, OSError) as exc:
            raise NotFound(f"Could not read the artifact {artifact_path!r} of run {run_id}: {exc}") from exc
        raise NotFound(
            f"The run {run_id} has no artifact or logged model {artifact_path!r}. "
            "Check the name the training script logged the model under (e.g. name='model')."
        )

    def _run_of(self, ref: str) -> tuple[str, str | None]:
        """A job name or a run id → (run id, job name)."""
        jobs = self._b.service("jobs")
        try:
            job = jobs.get(ref)
            return str(job.run_id), (None if job.interactive else job.name)
        except NotFound:
            raise NotFound(f"There is no job or run named {ref!r}. List them with ws.jobs.list().") from None

    @staticmethod
    def _facts(staged: Path, kind: ModelType | None, name: str) -> dict[str, Any]:
        folder = mlmodel_dir(staged) if staged.is_dir() else None
        if kind is ModelType.MLFLOW and folder is None:
            raise InvalidInput(
                f"Model {name!r} is declared type='mlflow_model' but its files have no MLmodel file. "
                "Give the folder MLflow logged (e.g. runs:/<run>/model), or use type='custom_model'."
            )
        if folder is None:
            return {"type": (kind or ModelType.CUSTOM).value, "serialization": Serialization.NONE.value}
        facts = inspect_mlflow_model(folder)
        # An MLflow folder is an MLflow model unless the caller says custom (to use a scoring script).
        facts["type"] = (kind or ModelType.MLFLOW).value
        facts["mlflow_subpath"] = folder.relative_to(staged.parent).as_posix()
        return facts

    def _register(self, name: str, model: Model, uri: str, run_id: str | None) -> int:
        from mlflow.exceptions import MlflowException

        client = tracking.client(self._b.tracking_uri)
        try:
            client.create_registered_model(name)
        except MlflowException as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                raise
        tags = {str(k): str(v) for k, v in model.tags.items()}
        if model.version is not None:
            # MLflow numbers versions itself; an explicit version must be the next one.
            latest = self._b.store.get_asset(KIND, name)
            expected = (latest[0] if latest else 0) + 1
            if int(model.version) != expected:
                raise Conflict(f"Model {name!r} can only get version {expected} next. Got {model.version} instead.")
        mv = client.create_model_version(name, source=uri, run_id=run_id, tags=tags, description=model.description)
        return int(mv.version)

    def _datasets(self, job_name: str | None, run_id: str | None) -> builtins.list[str]:
        names: list[str] = []
        if job_name:
            job = self._b.service("jobs").get(job_name)
            for value in getattr(job, "inputs", {}).values():
                path = getattr(value, "path", None)
                if isinstance(path, str) and path.startswith("azureml:"):
                    names.append(path)
        if run_id:
            run = tracking.client(self._b.tracking_uri).get_run(run_id)
            for item in getattr(run.inputs, "dataset_inputs", None) or []:
                names.append(f"{item.dataset.name}@{item.dataset.digest}")
        return sorted(set(names))

    def _delete_files(self, uri: str) -> None:
        local = _local_path(uri)
        if local is not None:
            shutil.rmtree(local, ignore_errors=True)

    @staticmethod
    def _entity(name: str, version: int, payload: dict[str, Any], archived: bool) -> Model:
        fields = {k: payload[k] for k in Model.__dataclass_fields__ if k in payload and k not in ("name", "version")}
        fields["type"] = ModelType(payload.get("type", "custom_model"))
        fields["serialization"] = Serialization(payload.get("serialization", "none"))
        model = Model(name=name, version=str(version), archived=archived, **fields)
        model.creation_time = to_datetime(payload.get("created_at"))
        return model


def _matches(values: dict[str, str], wanted: dict[str, str] | None) -> bool:
    if not wanted:
        return True
    return all(k in values and (v is None or values[k] == str(v)) for k, v in wanted.items())



def _local_path(uri: str | None) -> Path | None:
    """The folder behind a ``file://`` URI (None for remote stores)."""
    if not uri or not uri.startswith("file:"):
        return None
    parsed = urllib.parse.urlparse(uri)
    return Path(urllib.request.url2pathname(parsed.path))
