"""Pipeline components: studio_ext ``PipelineComponent`` <-> v2 ``pipelineComponent`` <-> azure-ai-ml ``PipelineComponent``.

The v2 mapping is a pipeline job's ``jobs:`` and ``outputs:`` (read and written by
:mod:`~studio_ext.translation.pipeline_job`) with the typed ``inputs:`` of a component
(type, default, optional, as :mod:`~studio_ext.translation.component` reads them); it has no
``settings:`` (those belong to the job that runs it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from studio_ext.entities._component import PipelineComponent
from studio_ext.entities._pipeline import PipelineJob
from studio_ext.errors import InvalidInput
from studio_ext.translation import component as component_kind
from studio_ext.translation import pipeline_job
from studio_ext.translation._common import SCHEMA_ROOT, Translated, azure_dict, azure_load, dump, plain, put, str_map

SCHEMA = SCHEMA_ROOT + "pipelineComponent.schema.json"


def to_v2(component: PipelineComponent) -> dict[str, Any]:
    out: dict[str, Any] = {"$schema": SCHEMA, "type": "pipeline"}
    put(out, name=component.name, version=None if component.version is None else str(component.version),
        display_name=component.display_name, description=component.description, tags=dict(component.tags))
    put(out, inputs={k: component_kind._input_to_v2(v) for k, v in component.inputs.items()})
    body = pipeline_job.to_v2(PipelineJob(jobs=component.jobs, outputs=component.outputs))
    put(out, outputs={k: put({"type": v.type}, description=v.description) for k, v in component.outputs.items()})
    out["jobs"] = body["jobs"]
    return out


def from_v2(mapping: Mapping[str, Any], base_path: str | os.PathLike[str] | None = None
            ) -> Translated[PipelineComponent]:
    """A studio_ext ``PipelineComponent`` from v2 ``pipelineComponent`` YAML's mapping."""
    mapping = plain(mapping)
    if str(mapping.get("type", "pipeline")) != "pipeline":
        raise InvalidInput(f"This translation takes a pipeline component (type: pipeline). Got type "
                           f"{mapping.get('type')!r}.")
    name = mapping.get("name")
    inputs = {str(k): component_kind._input_from_v2(str(name), str(k), v)
              for k, v in (mapping.get("inputs") or {}).items()}
    body = pipeline_job.from_v2({"type": "pipeline", "jobs": mapping.get("jobs"),
                                 "outputs": mapping.get("outputs") or {}}, base_path)
    version = mapping.get("version")
    result: Translated[PipelineComponent] = Translated(PipelineComponent(
        name=None if name is None else str(name), version=None if version is None else str(version),
        display_name=mapping.get("display_name"), description=mapping.get("description"),
        tags=str_map(mapping.get("tags")), jobs=body.entity.jobs,
        inputs=inputs, outputs={k: component_kind._output_from_v2(str(name), k, v)
                                for k, v in (mapping.get("outputs") or {}).items()}))
    result.notes.extend(body.notes)
    result.requires.extend(body.requires)
    return result


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[PipelineComponent]:
    """From azure-ai-ml's ``PipelineComponent`` (a ``@dsl.pipeline`` job's ``.component``, ``load_component``)."""
    mapping = azure_dict(obj, ("PipelineComponent",), "pipeline component")
    base = base_path or getattr(obj, "base_path", None) or os.getcwd()
    for step_name, step in (mapping.get("jobs") or {}).items():
        inner = getattr((obj.jobs or {}).get(step_name), "component", None)
        code = getattr(inner, "code", None)
        if isinstance(step.get("component"), dict) and isinstance(code, (str, os.PathLike)) \
                and not str(code).startswith("azureml:"):
            from studio_ext.translation._common import local_path

            step["component"]["code"] = local_path(os.fspath(code), getattr(inner, "base_path", None) or base)
    return from_v2(mapping, base)


def to_azure(component: PipelineComponent) -> Any:
    return azure_load("load_component", to_v2(component), "pipeline component")


def to_yaml(component: PipelineComponent) -> str:
    return dump(to_v2(component))
