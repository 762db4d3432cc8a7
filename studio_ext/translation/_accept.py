"""The one door every service's create call goes through: a studio_ext entity or an azure-ai-ml object.

``accept(obj, expected, what)`` returns a :class:`Translated` whose ``entity`` is an
instance of ``expected``:

- a studio_ext entity of that class passes through (no notes, nothing required);
- an azure-ai-ml object (its class lives in ``azure.ai.ml``) is translated by
  :func:`from_azure_any` and must come out as ``expected``;
- anything else is refused with :class:`InvalidInput` naming both classes by their
  full dotted path, and what the service takes.

:func:`show_notes` emits a translation's notes as :class:`AzureFieldNote` warnings and
keeps them on the entity's ``notes`` list, so a notebook, the CLI and the panels all
see which Azure fields were kept with no local meaning.
"""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from pathlib import Path
from typing import Any, TypeVar, cast

from studio_ext import entities
from studio_ext.entities._component import CommandComponent
from studio_ext.entities._pipeline import PipelineJob
from studio_ext.entities._sweep import SweepJob
from studio_ext.errors import AzureFieldNote, InvalidInput
from studio_ext.translation._common import Note, Translated, class_path, type_path

E = TypeVar("E")

# studio_ext entity class -> the azure-ai-ml classes that translate to it (named as users write them)
_AZURE_NAMES: dict[type, tuple[str, ...]] = {
    entities.CommandJob: ("azure.ai.ml.command(...)", "azure.ai.ml.entities.CommandJob"),
    SweepJob: ("azure.ai.ml.command(...).sweep(...)", "azure.ai.ml.entities.SweepJob"),
    PipelineJob: ("azure.ai.ml.dsl.pipeline(...)", "azure.ai.ml.entities.PipelineJob"),
    CommandComponent: ("azure.ai.ml.load_component(...)", "azure.ai.ml.entities.CommandComponent"),
    entities.AutoMLJob: ("azure.ai.ml.automl.classification(...)", "azure.ai.ml.automl.regression(...)",
                         "azure.ai.ml.automl.forecasting(...)"),
    entities.Data: ("azure.ai.ml.entities.Data",),
    entities.Model: ("azure.ai.ml.entities.Model",),
    entities.Environment: ("azure.ai.ml.entities.Environment",),
    entities.AmlCompute: ("azure.ai.ml.entities.AmlCompute",),
    entities.ComputeInstance: ("azure.ai.ml.entities.ComputeInstance",),
    entities.Datastore: ("azure.ai.ml.entities.AzureBlobDatastore", "azure.ai.ml.entities.AzureDataLakeGen2Datastore"),
    entities.ManagedOnlineEndpoint: ("azure.ai.ml.entities.ManagedOnlineEndpoint",),
    entities.ManagedOnlineDeployment: ("azure.ai.ml.entities.ManagedOnlineDeployment",),
    entities.JobSchedule: ("azure.ai.ml.entities.JobSchedule",),
    entities.BatchEndpoint: ("azure.ai.ml.entities.BatchEndpoint",),
    entities.ModelBatchDeployment: ("azure.ai.ml.entities.ModelBatchDeployment", "azure.ai.ml.entities.BatchDeployment"),
    entities.PipelineComponentBatchDeployment: ("azure.ai.ml.entities.PipelineComponentBatchDeployment",),
}


def is_azure(obj: object) -> bool:
    """Whether ``obj`` is an azure-ai-ml object (checked by module name: azure-ai-ml is not imported)."""
    return type(obj).__module__.startswith("azure.ai.ml")


def takes(expected: type | tuple[type, ...]) -> str:
    """What a service taking ``expected`` accepts, by full dotted path: studio_ext's then azure-ai-ml's."""
    classes = expected if isinstance(expected, tuple) else (expected,)
    names = [type_path(c) for c in classes]
    for cls in classes:
        for known, azure in _AZURE_NAMES.items():
            if issubclass(known, cls):
                names += [n for n in azure if n not in names]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def accept(obj: Any, expected: type[E] | tuple[type, ...], what: str) -> Translated[E]:
    """``obj`` as a studio_ext ``expected``: passed through, or translated from azure-ai-ml.

    ``what`` names the call for messages (``"ws.data.create_or_update"``).

    Example::

        accepted = accept(azure_data, Data, "ws.data.create_or_update")
        accepted.entity       # a studio_ext.entities.Data
        accepted.notes        # Azure fields kept with no local meaning
        accepted.requires     # inline entities to register first
    """
    if isinstance(obj, expected):
        return Translated(cast(E, obj), notes=_local_notes(obj))
    if is_azure(obj):
        _refuse_what_cannot_work(obj, what)
        from studio_ext.translation._dispatch import from_azure_any

        try:
            result: Translated[Any] = from_azure_any(obj)
        except InvalidInput as exc:
            if "has no studio_ext translation" not in exc.message:
                raise
            raise InvalidInput(f"{what} takes {takes(expected)}. Got {class_path(obj)}, which has no studio_ext "
                               f"translation.") from None
        if getattr(obj, "_is_anonymous", False) and isinstance(result.entity, (entities.Data, entities.Model)):
            # azure-ai-ml names an asset given with no name itself (a GUID, or its upload hash) and
            # version 1; the service names it from its files instead, so the same files find the same asset
            result.entity.name, result.entity.version = "", None
        inline = getattr(obj, "model", None)
        if getattr(inline, "_is_anonymous", False) and isinstance(getattr(result.entity, "model", None), entities.Model):
            result.entity.model.name, result.entity.model.version = "", None
        if not isinstance(result.entity, expected):
            raise InvalidInput(
                f"{what} takes {takes(expected)}. Got {class_path(obj)}, which is a "
                f"{type_path(type(result.entity))} here, not a {_names(expected)}. Pass it to the service of its "
                "kind, or to ws.create_or_update(...), which chooses the service by the object's type.")
        return result
    raise InvalidInput(f"{what} takes {takes(expected)}. Got {class_path(obj)} instead.")


def _local_notes(entity: Any) -> list[Note]:
    """Notes for the fields of a studio_ext entity that, as on Azure's, have no local meaning."""
    from studio_ext.translation.compute import SIZE_REASON, TIER_REASON
    from studio_ext.translation.online_deployment import INSTANCE_TYPE_REASON

    notes: list[Note] = []
    if isinstance(entity, (entities.AmlCompute, entities.ComputeInstance)) and entity.size:
        what = "each node is a Dask worker on this machine" if isinstance(entity, entities.AmlCompute) else \
            "the instance is this machine"
        notes.append(Note("size", f"{entity.size!r} {SIZE_REASON.format(what=what)}"))
    if isinstance(entity, entities.AmlCompute) and entity.tier != "dedicated":
        notes.append(Note("tier", f"{entity.tier!r} is kept for Azure; {TIER_REASON}"))
    if isinstance(entity, entities.ManagedOnlineDeployment) and entity.instance_type != "local":
        notes.append(Note("instance_type", f"{entity.instance_type!r} {INSTANCE_TYPE_REASON}"))
    return notes


def _refuse_what_cannot_work(obj: Any, what: str) -> None:
    """Fields of an azure-ai-ml object that cannot work here: refused, saying what to do instead."""
    for where, env in (("", obj), ("environment", getattr(obj, "environment", None))):
        build = getattr(env, "build", None) if type(env).__name__ == "Environment" and is_azure(env) else None
        if build is not None and not getattr(env, "conda_file", None):
            whose = f"{class_path(obj)} whose environment has" if where else f"{class_path(obj)} with"
            raise InvalidInput(
                f"{what} got an {whose} build=BuildContext(path={getattr(build, 'path', None)!r}): "
                "a Docker build context is not built "
                "locally. Give the environment a conda_file= (a conda YAML with the packages your Dockerfile "
                "installs) or an image= with a conda_file, and keep the BuildContext for Azure.")


def _names(expected: type | tuple[type, ...]) -> str:
    classes = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(type_path(c) for c in classes)


def show_notes(entity: Any, notes: list[Note] | list[str], what: str) -> Any:
    """Warn each note (:class:`AzureFieldNote`) and keep them on ``entity.notes``; return ``entity``.

    The warning points at the caller's line (the first frame outside studio_ext). An
    entity without a ``notes`` list (or a None result) only gets the warnings.
    """
    texts = [str(n) for n in notes]
    level = _caller_level()
    for text in texts:
        warnings.warn(f"{what}: {text}", AzureFieldNote, stacklevel=level)
    kept = getattr(entity, "notes", None)
    if isinstance(kept, list):
        kept.extend(t for t in texts if t not in kept)
    return entity


def _caller_level() -> int:
    """The ``stacklevel`` that attributes a warning raised in :func:`show_notes` to the user's code."""
    frame = sys._getframe(2)  # show_notes' caller
    level = 2  # the stacklevel of that caller
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("studio_ext."):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def anonymous_name(path: str | os.PathLike[str] | None, kind: str) -> str:
    """The name an asset given with no name gets, from a hash of its files (or of its path), as Azure does.

    The same files give the same name, so registering them again finds the same asset.
    ``kind`` prefixes nothing: it only says what is hashed in messages.
    """
    digest = hashlib.sha256()
    source = Path(os.fspath(path)) if path is not None and "://" not in os.fspath(path) else None
    if source is not None and source.exists():
        files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        for file in files:
            digest.update(file.relative_to(source).as_posix().encode() if file != source else file.name.encode())
            with file.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    else:
        digest.update(f"{kind}:{os.fspath(path) if path is not None else ''}".encode())
    return "anonymous-" + digest.hexdigest()[:16]
