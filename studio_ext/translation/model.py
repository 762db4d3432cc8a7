"""Models: studio_ext ``Model`` <-> v2 ``model`` <-> azure-ai-ml ``Model``.

An inline model with no name (an anonymous asset on Azure) gets the name ``""``: the
service names it when it registers it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from studio_ext.entities import Model
from studio_ext.translation._common import (
    SCHEMA_ROOT,
    Translated,
    arm,
    azure_dict,
    azure_load,
    dump,
    keep_rest,
    local_path,
    plain,
    put,
    restore,
    str_map,
)

SCHEMA = SCHEMA_ROOT + "model.schema.json"
_HANDLED = {"name", "version", "description", "tags", "properties", "path", "type", "creation_context", "id"}
_REASONS = {"stage": "model stages are Azure's; locally use tags",
            "flavors": "read from the MLmodel file when the model is registered",
            "job_name": "locally a model's job is read from its runs:/ or azureml://jobs/ path",
            "datastore": "the path names the datastore locally"}


def to_v2(model: Model) -> dict[str, Any]:
    """The model as v2 ``model`` YAML's mapping."""
    out: dict[str, Any] = {"$schema": SCHEMA}
    put(out, name=model.name or None, version=model.version, description=model.description,
        type=str(model.type) if model.type else None, path=model.path, tags=dict(model.tags))
    restore(out, model.properties, "properties")
    return out


def from_v2(mapping: Mapping[str, Any], base_path: str | os.PathLike[str] | None = None) -> Translated[Model]:
    """A studio_ext ``Model`` from v2 ``model`` YAML's mapping."""
    mapping = plain(mapping)
    result: Translated[Model] = Translated(Model(name=""))
    properties = str_map(mapping.get("properties"))
    keep_rest(mapping, _HANDLED, properties, result, _REASONS)
    kind = mapping.get("type")
    if kind == "triton_model":
        result.note("type", "'triton_model' is kept; locally a Triton model is served only by a scoring script")
    path = mapping.get("path")
    version = mapping.get("version")
    result.entity = Model(
        name=str(mapping.get("name") or ""), version=None if version is None else str(version),
        path=local_path(path, base_path) if isinstance(path, str) else path, type=kind,
        description=mapping.get("description"), properties=properties,
        tags=str_map(mapping.get("tags")))
    return result


def field_to_v2(model: Model | str | None) -> Any:
    """A deployment's v2 ``model`` field: ``azureml:NAME:VERSION`` once registered, else the model inline."""
    if isinstance(model, Model):
        if model.name and model.version:
            return arm(f"{model.name}:{model.version}")
        return {k: v for k, v in to_v2(model).items() if k != "$schema"}
    return arm(model)


def field_from_v2(given: Any, base_path: str | os.PathLike[str] | None,
                  result: Translated[Any]) -> Model | str | None:
    """A deployment's v2 ``model`` field: one given inline (an anonymous model on Azure, which the
    service registers) as a studio_ext ``Model``, its notes in ``result``; a reference as text."""
    if isinstance(given, Mapping):
        inner = from_v2(given, base_path)
        result.notes.extend(inner.notes)
        return inner.entity
    return None if given is None else str(given)


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[Model]:
    """A studio_ext ``Model`` from azure-ai-ml's ``Model``."""
    return from_v2(azure_dict(obj, ("Model",), "model"), base_path)


def to_azure(model: Model) -> Any:
    """azure-ai-ml's ``Model``, loaded from the v2 YAML by ``azure.ai.ml.load_model``."""
    return azure_load("load_model", to_v2(model), "model")


def to_yaml(model: Model) -> str:
    return dump(to_v2(model))
