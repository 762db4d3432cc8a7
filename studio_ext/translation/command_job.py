"""Command jobs: studio_ext ``CommandJob`` <-> v2 ``commandJob`` <-> azure-ai-ml ``CommandJob`` / ``command()``.

azure-ai-ml quirks handled here: ``command()`` returns a ``Command`` node whose
``_to_dict()`` drops ``experiment_name`` (its ``_to_job()`` keeps it, but leaves an input
given as ``Input(type="integer", default=5)`` to the component); ``_to_dict()``
writes a local ``code`` folder and local or https input paths with an ``azureml:``
prefix (``azureml:./src``, ``azureml:https://...``), so those are read from the object.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from studio_ext.entities import CommandJob, Input, Output
from studio_ext.errors import InvalidInput
from studio_ext.translation import environment as environment_kind
from studio_ext.translation._common import (
    LOCAL_PREFIX,
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
    strip_arm,
)

SCHEMA = SCHEMA_ROOT + "commandJob.schema.json"
# A job with no environment runs in the studio's interpreter; Azure needs one, so the export names
# the curated image closest to it (scikit-learn, pandas, MLflow) and marks that it stood for none.
NO_ENVIRONMENT = "azureml:AzureML-sklearn-1.5@latest"
_NO_ENVIRONMENT_MARK = (LOCAL_PREFIX + "environment", "studio-interpreter")
LITERAL_TYPES = ("integer", "number", "string", "boolean")
_NO_LOCAL_MEANING = {
    "resources": "instance_type, instance_count and the rest choose Azure VMs; locally the job runs on its compute",
    "distribution": "distributed training (PyTorch, MPI, TensorFlow) is not run across nodes locally",
    "limits": "Azure's job time limit is not enforced locally",
    "identity": "locally the job runs as the user who started the studio",
    "services": "interactive services (Jupyter, SSH, TensorBoard on the node) are Azure's",
    "queue_settings": "Azure's job tiers and priorities do not apply locally",
    "parameters": "Azure's job parameters are not used locally",
}
_HANDLED = {"type", "name", "display_name", "experiment_name", "description", "tags", "properties", "compute",
            "command", "code", "environment", "environment_variables", "inputs", "outputs",
            "component", "status", "creation_context", "id"}


def to_v2(job: CommandJob) -> dict[str, Any]:
    """The job as v2 ``commandJob`` YAML's mapping."""
    out: dict[str, Any] = {"$schema": SCHEMA, "type": "command"}
    put(out, name=job.name, display_name=job.display_name, experiment_name=job.experiment_name,
        description=job.description, tags=dict(job.tags))
    props: dict[str, Any] = {}
    restore(props, job.properties, "properties")
    # an output's asset name/version was kept as azureml.outputs.NAME.name / .version
    output_fields = {k[len("outputs."):]: props.pop(k) for k in list(props) if k.startswith("outputs.")}
    out.update({k: v for k, v in props.items() if k != "properties"})
    put(out, properties=props.get("properties"))
    if job.compute:
        out["compute"] = job.compute if job.compute == "local" else arm(job.compute)
    out["command"] = job.command
    if job.environment is None:
        out.setdefault("properties", {})[_NO_ENVIRONMENT_MARK[0]] = _NO_ENVIRONMENT_MARK[1]
    put(out, code=job.code, environment=arm(job.environment) or NO_ENVIRONMENT,
        environment_variables=str_map(job.environment_variables))
    inputs = {name: _input_to_v2(value) for name, value in job.inputs.items()}
    put(out, inputs={name: value for name, value in inputs.items() if value is not None},  # None: left out
        outputs={name: _output_to_v2(value) for name, value in job.outputs.items()})
    for key, value in output_fields.items():
        name, _, field_name = key.rpartition(".")
        if name in out.get("outputs", {}):
            out["outputs"][name][field_name] = value
    return out


def _input_to_v2(value: Any) -> Any:
    if isinstance(value, Input):
        if value.type in LITERAL_TYPES or value.path is None:
            return value.default  # a job's literal inputs are bare values in v2 YAML
        return put({"type": value.type, "path": value.path}, description=value.description,
                   mode=None if value.mode == "ro_mount" else value.mode, optional=value.optional or None)
    return plain(value)


def _output_to_v2(value: Output | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    return put({"type": value.type}, path=value.path, description=value.description,
               mode=None if value.mode == "rw_mount" else value.mode, name=value.name,
               version=None if value.version is None else str(value.version))


def from_v2(mapping: Mapping[str, Any], base_path: str | os.PathLike[str] | None = None) -> Translated[CommandJob]:
    """A studio_ext ``CommandJob`` from v2 ``commandJob`` YAML's mapping (paths relative to ``base_path``)."""
    mapping = plain(mapping)
    if mapping.get("type", "command") != "command":
        raise InvalidInput(f"This translation takes a command job (type: command). Got type {mapping.get('type')!r}.")
    if not mapping.get("command"):
        raise InvalidInput("A v2 command job needs a 'command' (the shell line it runs), as in 'python train.py'.")
    result: Translated[CommandJob] = Translated(CommandJob(command=""))
    properties = str_map(mapping.get("properties"))
    keep_rest(mapping, _HANDLED, properties, result, _NO_LOCAL_MEANING)
    compute = strip_arm(mapping.get("compute"))
    environment = mapping.get("environment")
    if properties.get(_NO_ENVIRONMENT_MARK[0]) == _NO_ENVIRONMENT_MARK[1]:
        del properties[_NO_ENVIRONMENT_MARK[0]]
        if environment == NO_ENVIRONMENT:  # exported from a job that named none: it runs as it did
            environment = None
    environment = environment_kind.field_from_v2(environment, base_path, result)
    code = mapping.get("code")
    result.entity = CommandJob(
        name=mapping.get("name"), display_name=mapping.get("display_name"),
        experiment_name=mapping.get("experiment_name"), description=mapping.get("description"),
        tags=str_map(mapping.get("tags")), properties=properties,
        compute=compute, command=str(mapping["command"]),
        code=local_path(code, base_path) if isinstance(code, str) else code,
        inputs={str(k): _input_from_v2(v, base_path) for k, v in (mapping.get("inputs") or {}).items()},
        outputs={str(k): _output_from_v2(str(k), v) for k, v in (mapping.get("outputs") or {}).items()},
        environment=strip_arm(environment),
        environment_variables=str_map(mapping.get("environment_variables")),
    )
    return result


def _input_from_v2(value: Any, base_path: str | os.PathLike[str] | None) -> Any:
    if not isinstance(value, Mapping):
        return value  # a literal
    kind = str(value.get("type", "uri_folder"))
    if kind in LITERAL_TYPES:  # a typed literal (from a command() node's component): its type is checked at submit
        return Input(type=kind, default=value.get("default"), optional=bool(value.get("optional", False)),
                     description=value.get("description"))
    return Input(type=kind, path=local_path(value.get("path"), base_path), description=value.get("description"),
                 optional=bool(value.get("optional", False)), mode=str(value.get("mode") or "ro_mount"))


def _output_from_v2(name: str, value: Any) -> Output:
    value = value or {}
    version = value.get("version")
    return Output(type=str(value.get("type", "uri_folder")), path=value.get("path"),
                  description=value.get("description"), mode=str(value.get("mode") or "rw_mount"),
                  name=value.get("name"), version=None if version is None else str(version))


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[CommandJob]:
    """A studio_ext ``CommandJob`` from azure-ai-ml's ``CommandJob`` or a ``command()`` node."""
    from azure.ai.ml.entities import Command

    # a Command node's _to_dict() drops experiment_name: the job it stands for keeps it
    job = obj._to_job() if isinstance(obj, Command) else obj
    mapping = azure_dict(job, ("CommandJob",), "command job")
    if isinstance(obj, Command):  # a typed literal with only a default (or none) is left to the component by _to_job()
        inputs = mapping.setdefault("inputs", {})
        for name, spec in (getattr(obj.component, "inputs", None) or {}).items():
            kind, default = str(getattr(spec, "type", "")), getattr(spec, "default", None)
            optional = bool(getattr(spec, "optional", False))
            given = inputs.get(name)
            if isinstance(given, dict) and given.get("path") is None and optional:
                given["optional"] = True  # _to_job() writes a left-out file input without its optional flag
            if name in inputs or (default is None and not optional):
                continue
            if kind in LITERAL_TYPES:  # its declared type goes with it
                inputs[name] = {"type": kind, "default": default, "optional": optional}
            elif default is not None:
                inputs[name] = default
            else:  # an optional file, folder or model input left out: its $[[...]] segment is dropped
                inputs[name] = {"type": kind or "uri_folder", "optional": True}
    if isinstance(job.code, (str, os.PathLike)) and _prefixed_path(mapping.get("code"), os.fspath(job.code)):
        mapping["code"] = os.fspath(job.code)
    for name, value in (mapping.get("inputs") or {}).items():
        given = getattr((job.inputs or {}).get(name), "path", None)
        if isinstance(value, dict) and isinstance(given, str) and _prefixed_path(value.get("path"), given):
            value["path"] = given
    conda_path = getattr(job.environment, "_conda_file_path", None)
    if conda_path and isinstance(mapping.get("environment"), dict):
        mapping["environment"]["conda_file"] = os.fspath(conda_path)
    return from_v2(mapping, base_path)


_ASSET_REF = re.compile(r"^[\w.-]+(:[\w.-]+|@[\w.-]+)$")


def _prefixed_path(dumped: Any, given: str) -> bool:
    """Whether ``_to_dict()`` wrote the local path or URL ``given`` as ``azureml:<given>``.

    The object holds an asset reference without its prefix too (``diabetes:1``): that one stays.
    """
    return dumped == "azureml:" + given and not _ASSET_REF.match(given)


def to_azure(job: CommandJob) -> Any:
    """azure-ai-ml's ``CommandJob`` for ``job``, loaded from its v2 YAML by ``azure.ai.ml.load_job``."""
    from azure.ai.ml.entities import Command

    loaded = azure_load("load_job", to_v2(job), "command job")
    return loaded._to_job() if isinstance(loaded, Command) else loaded


def to_yaml(job: CommandJob) -> str:
    return dump(to_v2(job))
