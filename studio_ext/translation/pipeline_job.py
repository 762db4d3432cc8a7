"""Pipeline jobs: studio_ext ``PipelineJob`` <-> v2 ``pipelineJob`` YAML <-> azure-ai-ml ``PipelineJob``.

v2 pipeline YAML is read here rather than by ``azure.ai.ml.load_job``: Azure's loader resolves
every binding while loading and stops at the first it cannot follow with a message that names
neither the step nor the fix; the studio's own reading keeps each step as written, and the
pipelines service checks the whole graph (bindings, cycles, types, components) naming the step.
A step's ``component:`` is a file (``./prep.yml``, read by azure-ai-ml's ``load_component``),
``azureml:NAME:VERSION`` (resolved with ``ws.components`` at submit) or an inline mapping; a step
with no ``component:`` is an inline command (``command``, ``code``, ``environment``).

An azure-ai-ml ``PipelineJob`` (``@dsl.pipeline``) is read through its ``_to_dict()``, with the
input paths taken from the objects (``_to_dict()`` writes a local path as ``azureml:./x``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from studio_ext.entities._component import CommandComponent
from studio_ext.entities._job import LITERAL_TYPES, Input, Output
from studio_ext.entities._pipeline import Command, PipelineJob, PipelineJobSettings, parse_binding
from studio_ext.errors import InvalidInput, NotFound
from studio_ext.translation import component as component_kind
from studio_ext.translation._common import (
    SCHEMA_ROOT,
    Translated,
    arm,
    azure_load,
    dump,
    local_path,
    plain,
    put,
    str_map,
    strip_arm,
)

SCHEMA = SCHEMA_ROOT + "pipelineJob.schema.json"
_STEP_FIELDS = {"type", "component", "inputs", "outputs", "compute", "name", "display_name", "description",
                "tags", "command", "code", "environment", "environment_variables", "is_deterministic",
                "properties", "experiment_name", "$schema", "_source", "resources", "distribution", "limits"}


def to_v2(job: PipelineJob) -> dict[str, Any]:
    out: dict[str, Any] = {"$schema": SCHEMA, "type": "pipeline"}
    put(out, name=job.name, display_name=job.display_name, experiment_name=job.experiment_name,
        description=job.description, tags=dict(job.tags))
    s = job.settings
    settings = put({}, default_compute=arm(s.default_compute), default_datastore=arm(s.default_datastore),
                   default_environment=arm(s.default_environment))
    if s.continue_on_step_failure:
        settings["continue_on_step_failure"] = True
    if s.force_rerun:
        settings["force_rerun"] = True
    put(out, settings=settings)
    put(out, inputs={k: _value_to_v2(v) for k, v in job.inputs.items() if v is not None},
        outputs={k: _output_to_v2(v) for k, v in job.outputs.items()})
    out["jobs"] = {name: _step_to_v2(step) for name, step in job.jobs.items()}
    return out


def _value_to_v2(value: Any) -> Any:
    if isinstance(value, Input):
        if value.path is None:
            return value.default
        return put({"type": value.type, "path": value.path}, mode=None if value.mode == "ro_mount" else value.mode)
    return plain(value)


def _output_to_v2(value: Any) -> Any:
    if isinstance(value, Output):
        return put({"type": value.type}, path=value.path, mode=None if value.mode == "rw_mount" else value.mode,
                   name=value.name, version=None if value.version is None else str(value.version))
    return plain(value)


def _step_to_v2(step: Command) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "command"}
    component = step.component
    if isinstance(component, CommandComponent):
        inline = component_kind.to_v2(component)
        inline.pop("$schema", None)
        out["component"] = inline
    elif isinstance(component, str):
        out["component"] = component if component.startswith(("azureml:", ".", "/")) else arm(component)
    else:
        put(out, command=step.command, code=step.code, environment=arm(step.environment))
    put(out, compute=arm(step.compute), display_name=step.display_name,
        inputs={k: _value_to_v2(v) for k, v in step.inputs.items() if v is not None},
        outputs={k: _output_to_v2(v) for k, v in step.outputs.items() if not (isinstance(v, Output) and
                                                                              v == Output(type=v.type))})
    if step.is_deterministic is False:
        out["is_deterministic"] = False
    return out


def from_v2(mapping: Mapping[str, Any], base_path: str | os.PathLike[str] | None = None) -> Translated[PipelineJob]:
    """A studio_ext ``PipelineJob`` from v2 ``pipelineJob`` YAML's mapping (paths relative to ``base_path``)."""
    mapping = plain(mapping)
    if str(mapping.get("type", "pipeline")) != "pipeline":
        raise InvalidInput(f"This translation takes a pipeline job (type: pipeline). Got type {mapping.get('type')!r}.")
    jobs_map = mapping.get("jobs")
    if not isinstance(jobs_map, Mapping) or not jobs_map:
        raise InvalidInput("A v2 pipeline job needs 'jobs:', a mapping of step name -> step (a command, or "
                           "component: ./x.yml / azureml:NAME:VERSION with its inputs).")
    result: Translated[PipelineJob] = Translated(PipelineJob())
    raw_settings = mapping.get("settings") or {}
    if not isinstance(raw_settings, Mapping):
        raise InvalidInput(f"The pipeline's settings must be a mapping (default_compute, default_datastore, "
                           f"continue_on_step_failure, force_rerun). Got {raw_settings!r}.")
    unknown = sorted(set(raw_settings) - {"default_compute", "default_datastore", "continue_on_step_failure",
                                          "force_rerun", "default_environment", "on_init", "on_finalize"})
    for key in unknown:
        result.note(f"settings.{key}", "has no meaning locally and is not used")
    settings = PipelineJobSettings(
        default_compute=strip_arm(raw_settings.get("default_compute")),
        default_datastore=strip_arm(raw_settings.get("default_datastore")),
        default_environment=strip_arm(raw_settings.get("default_environment")),
        continue_on_step_failure=_flag(raw_settings.get("continue_on_step_failure")),
        force_rerun=_flag(raw_settings.get("force_rerun")))
    inputs = {str(k): _input_from_v2(v, base_path) for k, v in (mapping.get("inputs") or {}).items()}
    outputs = {str(k): _output_from_v2(v) for k, v in (mapping.get("outputs") or {}).items()}
    jobs: dict[str, Command] = {}
    for name, raw in jobs_map.items():
        jobs[str(name)] = _step_from_v2(str(name), raw, base_path, result)
    result.entity = PipelineJob(
        name=mapping.get("name"), display_name=mapping.get("display_name"),
        experiment_name=mapping.get("experiment_name"), description=mapping.get("description"),
        tags=str_map(mapping.get("tags")),
        compute=strip_arm(mapping.get("compute")), jobs=jobs, inputs=inputs, outputs=outputs, settings=settings)
    if result.entity.compute and not settings.default_compute:
        settings.default_compute = result.entity.compute
    return result


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _input_from_v2(value: Any, base_path: str | os.PathLike[str] | None) -> Any:
    if isinstance(value, Mapping):
        kind = str(value.get("type") or "uri_folder")
        if kind in LITERAL_TYPES:
            given = value.get("default", value.get("value"))
            return None if given is None else component_kind.coerce(kind, given, "a pipeline input")
        path = value.get("path")
        if isinstance(path, str) and parse_binding(path) is None:
            path = local_path(path, base_path)
        return Input(type=kind, path=path, mode=str(value.get("mode") or "ro_mount"),
                     optional=bool(value.get("optional", False)), description=value.get("description"))
    return value


def _output_from_v2(value: Any) -> Any:
    if isinstance(value, str):
        return value  # a binding
    value = value or {}
    version = value.get("version")
    return Output(type=str(value.get("type") or "uri_folder"), path=value.get("path"),
                  mode=str(value.get("mode") or "rw_mount"), name=value.get("name"),
                  version=None if version is None else str(version), description=value.get("description"))


def _step_from_v2(name: str, raw: Any, base_path: str | os.PathLike[str] | None,
                  result: Translated[PipelineJob]) -> Command:
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"Step {name!r} of the pipeline must be a mapping (type, component or command, inputs, "
                           f"outputs). Got {raw!r}.")
    kind = str(raw.get("type") or "command")
    if kind != "command":
        raise InvalidInput(f"Step {name!r} has type {kind!r}; pipeline steps here are command steps (type: command, "
                           "with a component or a command). Run a sweep or AutoML job as a job of its own.")
    for key in sorted(set(raw) - _STEP_FIELDS):
        result.note(f"jobs.{name}.{key}", "has no meaning locally and is not used")
    for key in ("resources", "distribution", "limits"):
        if raw.get(key):
            result.note(f"jobs.{name}.{key}", "Azure's VM and distribution settings are not used locally")
    source = raw.get("component")
    component: CommandComponent | str | None
    if isinstance(source, Mapping):
        made = component_kind.from_v2({**source, "name": source.get("name") or name}, base_path)
        result.requires.extend(made.requires)
        result.notes.extend(made.notes)
        component = made.entity
    elif isinstance(source, str) and source.strip():
        component = _component_reference(name, source.strip(), base_path, result)
    elif source is not None:
        raise InvalidInput(f"Step {name!r} has component {source!r}; give a file (./x.yml), azureml:NAME:VERSION "
                           "or an inline mapping.")
    else:
        if not raw.get("command"):
            raise InvalidInput(f"Step {name!r} has neither a component nor a command. Give component: ./x.yml (or "
                               "azureml:NAME:VERSION), or command: with code: and environment:.")
        component = None
    inputs = {str(k): _step_input(v, base_path) for k, v in (raw.get("inputs") or {}).items()}
    outputs = {str(k): _output_from_v2(v) for k, v in (raw.get("outputs") or {}).items()}
    code = raw.get("code")
    if isinstance(component, CommandComponent):
        for key, declared in component.outputs.items():
            outputs.setdefault(key, Output(type=declared.type, mode=declared.mode))
    step = Command(name=name, display_name=raw.get("display_name"), description=raw.get("description"),
                   tags=str_map(raw.get("tags")),
                   compute=strip_arm(raw.get("compute")),
                   command=component.command if isinstance(component, CommandComponent) else str(raw.get("command") or ""),
                   code=component.code if isinstance(component, CommandComponent) else
                   (local_path(code, base_path) if isinstance(code, str) else None),
                   environment=component.environment if isinstance(component, CommandComponent) else
                   strip_arm(raw.get("environment")) if isinstance(raw.get("environment"), str) else None,
                   environment_variables=str_map(raw.get("environment_variables")),
                   inputs=inputs, outputs=outputs, component=component,
                   is_deterministic=None if raw.get("is_deterministic") is None else _flag(raw.get("is_deterministic")))
    return step


def _step_input(value: Any, base_path: str | os.PathLike[str] | None) -> Any:
    if isinstance(value, Mapping):
        path = value.get("path")
        if isinstance(path, str) and parse_binding(path) is not None and set(value) <= {"path", "mode", "type"}:
            return path  # {path: ${{parent...}}}: the binding itself
        if "path" not in value and "value" in value:
            return value["value"]
        return _input_from_v2(value, base_path)
    return value


def _component_reference(step: str, source: str, base_path: str | os.PathLike[str] | None,
                         result: Translated[PipelineJob]) -> CommandComponent | str:
    if source.startswith("azureml:") or (":" in source and not source.endswith((".yml", ".yaml"))):
        return source if source.startswith("azureml:") else "azureml:" + source
    path = Path(source.removeprefix("file:"))
    if not path.is_absolute() and base_path is not None:
        path = Path(base_path) / path
    if not path.is_file():
        raise NotFound(f"Step {step!r} uses the component file {source!r}, which does not exist"
                       f"{f' (looked in {Path(base_path).resolve()})' if base_path else ''}. Check the path, "
                       "relative to the pipeline YAML's folder.")
    import yaml

    try:
        mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"The component file {str(path)!r} of step {step!r} is not valid YAML: {exc}") from exc
    if not isinstance(mapping, Mapping):
        raise InvalidInput(f"The component file {str(path)!r} of step {step!r} holds no YAML mapping.")
    made = component_kind.from_v2(mapping, path.parent)
    result.requires.extend(made.requires)
    result.notes.extend(made.notes)
    return made.entity


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[PipelineJob]:
    """A studio_ext ``PipelineJob`` from azure-ai-ml's ``PipelineJob`` (``@dsl.pipeline`` or ``load_job``)."""
    from studio_ext.translation._common import azure_dict

    mapping = azure_dict(obj, ("PipelineJob",), "pipeline job")
    base = base_path or getattr(obj, "base_path", None) or os.getcwd()
    for key, value in (mapping.get("inputs") or {}).items():
        given = getattr((obj.inputs or {}).get(key), "_data", None)
        path = getattr(given, "path", None)
        if isinstance(value, dict) and isinstance(path, str):
            value["path"] = path
    for step_name, step in (mapping.get("jobs") or {}).items():
        node = (obj.jobs or {}).get(step_name)
        inner = getattr(node, "component", None)
        if isinstance(step.get("component"), dict) and inner is not None and not isinstance(inner, str):
            code = getattr(inner, "code", None)
            if isinstance(code, (str, os.PathLike)) and not str(code).startswith("azureml:"):
                step["component"]["code"] = local_path(os.fspath(code), getattr(inner, "base_path", None) or base)
        for key, value in (step.get("inputs") or {}).items():
            given = getattr((getattr(node, "inputs", None) or {}).get(key), "_data", None)
            path = getattr(given, "path", None)
            if isinstance(value, dict) and isinstance(path, str) and parse_binding(path) is None \
                    and str(value.get("path", "")).startswith("azureml:" + path):
                value["path"] = path
    return from_v2(mapping, base)


def to_azure(job: PipelineJob) -> Any:
    return azure_load("load_job", to_v2(job), "pipeline job")


def to_yaml(job: PipelineJob) -> str:
    return dump(to_v2(job))
