"""What explanations and fairness work on: a model and a table, resolved from references.

A model is a registered version (a ``Model`` from ``ws.models``, ``azureml:NAME:VERSION``,
``NAME:VERSION`` or ``NAME`` for the latest) or an MLflow model logged by a run
(``runs:/<run id or job name>/<path>``). A dataset is a registered tabular version (a
``Data``, ``azureml:NAME:VERSION``, ``azureml:NAME@latest``, ``NAME:VERSION``, ``NAME``) or a
pandas DataFrame. Loading a model follows the registry's trust rules: files are
checked against their SHA-256 manifest, and a pickle is loaded only when it was
registered with ``allow_pickle=True`` (or the caller says so for a run's model). A custom
model registered from one joblib/pickle file (``Model(name=..., path="model.pkl",
allow_pickle=True)``, as the course's first labs do) loads as the estimator it holds.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio_ext.entities import Data, Model
from studio_ext.errors import InvalidInput, NotFound

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from studio_ext.backends.local import LocalBackend

_ASSET = re.compile(r"^(?:azureml:)?([A-Za-z0-9][A-Za-z0-9_.-]*?)(?::(\d+)|@(latest))?$")
_RUN_MODEL = re.compile(r"^runs:/([^/]+)/(.+?)/?$")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav")


@dataclass(kw_only=True)
class ModelSource:
    """A resolved model reference: what to load, and the run it came from."""

    reference: str  # how results name it: azureml:NAME:VERSION or runs:/RUN/PATH
    name: str | None = None
    version: str | None = None
    run_id: str | None = None  # the run that produced the model (parent of explanation runs)
    job_name: str | None = None  # the job behind that run, when there is one
    artifact_path: str | None = None  # for runs:/ models
    allow_pickle: bool = False
    trusted_types: list[str] = field(default_factory=list)
    pickle_file: str | None = None  # a custom model's joblib/pickle file, relative to its registered folder

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def resolve_model(backend: LocalBackend, model: Any, *, allow_pickle: bool = False) -> ModelSource:
    """Check that ``model`` names a registered model version or a run's MLflow model."""
    models = backend.service("models")
    if isinstance(model, Model):
        if model.version is None:
            raise InvalidInput(f"The Model {model.name!r} has no version; pass the entity ws.models.get(...) returned.")
        entity = models.get(model.name, model.version)
    elif isinstance(model, str) and (match := _RUN_MODEL.match(model)):
        ref, path = match.group(1), match.group(2)
        try:
            job = backend.service("jobs").get(ref)
        except NotFound:
            raise NotFound(f"The model {model!r} names no job or run {ref!r}. List runs with ws.jobs.list().") from None
        return ModelSource(reference=f"runs:/{job.run_id}/{path}", run_id=job.run_id,
                           job_name=None if getattr(job, "interactive", False) else job.name,
                           artifact_path=path, allow_pickle=allow_pickle)
    elif isinstance(model, str) and (match := _ASSET.match(model)):
        entity = models.get(match.group(1), match.group(2))
    else:
        raise InvalidInput(
            f"The model must be a registered Model, 'azureml:NAME:VERSION', 'NAME:VERSION', 'NAME' or "
            f"'runs:/<run>/<path>'. Got {model!r} instead."
        )
    trusted = bool(entity.allow_pickle or allow_pickle)
    pickle_file = None
    if entity.type is not None and str(entity.type) != "mlflow_model":
        pickle_file = _custom_pickle(entity, trusted)
    return ModelSource(reference=entity.id, name=entity.name, version=str(entity.version), run_id=entity.run_id,
                       job_name=entity.job_name, allow_pickle=trusted,
                       trusted_types=list(entity.trusted_types), pickle_file=pickle_file)


def _custom_pickle(entity: Model, trusted: bool) -> str:
    """The one joblib/pickle file of a custom model (``Model(path="model.pkl")``), if its owner trusted it."""
    candidates = sorted(f for f in entity.files if f.lower().endswith(PICKLE_SUFFIXES))
    what = f"Model {entity.name!r} version {entity.version}"
    if not candidates:
        raise InvalidInput(
            f"{what} is a custom model (no MLflow flavor) with no {'/'.join(PICKLE_SUFFIXES)} file, so it cannot be "
            "loaded to predict here. Register the MLflow model folder your training logged, or a joblib file of a "
            "scikit-learn-compatible estimator with allow_pickle=True."
        )
    if len(candidates) > 1:
        raise InvalidInput(
            f"{what} holds several pickle files ({', '.join(candidates)}); which one is the model is not known. "
            "Register the one estimator file on its own: Model(name=..., path=\"model.pkl\", allow_pickle=True)."
        )
    if not trusted:
        raise InvalidInput(
            f"{what} is a pickle ({candidates[0]}) registered without allow_pickle=True; loading a pickle runs code "
            "from the file, so it is loaded only when you said you trust it. If you do, register it again: "
            f"ws.models.create_or_update(Model(name={entity.name!r}, path=\"{candidates[0]}\", "
            "allow_pickle=True)) (a new version), then use that version."
        )
    return candidates[0]


def load_model(backend: LocalBackend, source: ModelSource) -> Any:
    """Load the model after its integrity and trust checks (a scikit-learn estimator when it is one)."""
    from studio_ext.serving.model_files import inspect_mlflow_model, mlmodel_dir, verify_files

    if source.name is not None:
        models = backend.service("models")
        entity = models.get(source.name, source.version)
        root = models.local_path(source.name, source.version)
        verify_files(root, entity.files)
        if source.pickle_file is not None:
            return _load_pickle(root / source.pickle_file, source, f"Model {source.name!r} version {source.version}")
        folder = mlmodel_dir(root)
        return _load_folder(folder, source, f"Model {source.name!r} version {source.version}")
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    tmp = Path(tempfile.mkdtemp(prefix="studio-insight-model-"))
    try:
        local = Path(download_artifacts(artifact_uri=source.reference, dst_path=str(tmp),
                                        tracking_uri=backend.tracking_uri))
    except (MlflowException, OSError) as exc:
        raise NotFound(f"The run has no model at {source.reference} ({exc}). Check the path the model was logged under.") from exc
    facts = inspect_mlflow_model(local) if (local / "MLmodel").is_file() else None
    if facts is None:
        raise InvalidInput(f"{source.reference} is not an MLflow model folder (no MLmodel file).")
    source.trusted_types = sorted(set(source.trusted_types) | set(facts.get("recorded_trusted_types") or []))
    return _load_folder(local, source, source.reference)


def _load_pickle(path: Path, source: ModelSource, what: str) -> Any:
    """A joblib/pickle file of a scikit-learn-compatible estimator, loaded only when trusted."""
    if not source.allow_pickle:  # resolve_model refuses first; this guards any other caller
        raise InvalidInput(f"{what} is a pickle registered without allow_pickle=True, so it is not loaded.")
    import joblib

    try:
        estimator = joblib.load(path)
    except Exception as exc:  # any unpickling failure is the file's, said plainly
        raise InvalidInput(
            f"{what}: {path.name} could not be loaded with joblib ({type(exc).__name__}: {exc}). Save the fitted "
            "estimator with joblib.dump(model, 'model.pkl') in an environment with the same packages."
        ) from exc
    if not callable(getattr(estimator, "predict", None)):
        raise InvalidInput(
            f"{what}: {path.name} holds a {type(estimator).__module__}.{type(estimator).__qualname__}, which has no "
            "predict method. Register a fitted scikit-learn-compatible estimator (or Pipeline)."
        )
    return estimator


def _load_folder(folder: Path | None, source: ModelSource, what: str) -> Any:
    from studio_ext.serving.model_files import inspect_mlflow_model

    if folder is None:
        raise InvalidInput(f"{what} has no MLmodel file, so it cannot be loaded to predict here.")
    facts = inspect_mlflow_model(folder)
    serialization = facts["serialization"]
    if "sklearn" in facts["flavors"] and serialization == "skops":
        import skops.io
        import yaml

        meta = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
        weights = folder / meta["flavors"]["sklearn"].get("pickled_model", "model.skops")
        untrusted = sorted(set(skops.io.get_untrusted_types(file=str(weights))) - set(source.trusted_types))
        if untrusted:
            raise InvalidInput(
                f"{what} holds types nobody trusted: {', '.join(untrusted)}. Register it with "
                "Model(..., trusted_types=[...]) naming them if you trust its source."
            )
        return skops.io.load(str(weights), trusted=source.trusted_types)
    if serialization in ("pickle", "cloudpickle") and not source.allow_pickle:
        raise InvalidInput(
            f"{what} is stored as a {serialization}; loading it runs code from the file. Register it with "
            "Model(..., allow_pickle=True) (or pass allow_pickle=True for a run's model) if you trust its source."
        )
    if "sklearn" in facts["flavors"]:
        import mlflow.sklearn

        return mlflow.sklearn.load_model(str(folder))
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(folder))


@dataclass(kw_only=True)
class DatasetSource:
    """A resolved dataset reference (a registered tabular version, or an in-memory DataFrame)."""

    reference: str  # azureml:NAME:VERSION, or "(DataFrame)"
    name: str | None = None
    version: str | None = None
    columns: list[str] = field(default_factory=list)
    row_count: int | None = None
    frame: Any = None  # the DataFrame given directly (not stored in the record)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "frame"}


def resolve_dataset(backend: LocalBackend, dataset: Any) -> DatasetSource:
    """Check that ``dataset`` names a registered tabular dataset version (or is a DataFrame)."""
    import pandas as pd

    if isinstance(dataset, pd.DataFrame):
        return DatasetSource(reference="(DataFrame)", columns=[str(c) for c in dataset.columns],
                             row_count=len(dataset), frame=dataset)
    data = backend.service("data")
    if isinstance(dataset, Data):
        entity = data.get(dataset.name, dataset.version)
    elif isinstance(dataset, str) and (match := _ASSET.match(dataset)):
        entity = data.get(match.group(1), match.group(2))
    else:
        raise InvalidInput(
            "The dataset must be a registered Data, 'azureml:NAME:VERSION', 'azureml:NAME@latest', 'NAME:VERSION', "
            f"'NAME' or a pandas DataFrame. Got {dataset!r} instead."
        )
    if str(entity.type) != "tabular":
        raise InvalidInput(
            f"Dataset {entity.name!r} version {entity.version} is a {entity.type} dataset; explanations and fairness "
            "need a tabular one. Register the table with type='tabular'."
        )
    return DatasetSource(reference=f"azureml:{entity.name}:{entity.version}", name=entity.name,
                         version=str(entity.version), columns=[c.name for c in entity.columns],
                         row_count=entity.row_count)


def load_dataset(backend: LocalBackend, source: DatasetSource) -> pd.DataFrame:
    if source.frame is not None:
        return source.frame
    return backend.service("data").load(source.name, source.version)


def check_columns(source: DatasetSource, target_column: str | None, *groups: tuple[str, Any]) -> None:
    """Cheap checks on the dataset's schema (before loading anything)."""
    known = set(source.columns)
    if target_column is not None and target_column not in known:
        raise InvalidInput(
            f"The target column {target_column!r} is not in {source.reference}. Columns: {', '.join(source.columns)}."
        )
    for what, names in groups:
        if names is None:
            continue
        missing = [n for n in ([names] if isinstance(names, str) else names) if n not in known]
        if missing:
            raise InvalidInput(
                f"The {what} {', '.join(map(repr, missing))} are not columns of {source.reference}. "
                f"Columns: {', '.join(source.columns)}."
            )
