"""Command components: studio_ext ``CommandComponent`` <-> v2 ``commandComponent`` <-> azure-ai-ml ``CommandComponent``.

azure-ai-ml keeps a loaded component's ``code`` relative to its YAML file (``./src``) and the
file's folder in ``base_path``; a component made inside a pipeline's ``_to_dict()`` has it
absolute. Both are made absolute here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from studio_ext.entities._component import COMPONENT_INPUT_TYPES, CommandComponent
from studio_ext.entities._job import LITERAL_TYPES, OUTPUT_TYPES, Input, Output
from studio_ext.errors import InvalidInput
from studio_ext.translation import environment as environment_kind
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
    str_map,
    strip_arm,
)

SCHEMA = SCHEMA_ROOT + "commandComponent.schema.json"
_NO_LOCAL_MEANING = {
    "resources": "instance_type and instance_count choose Azure VMs; locally the step runs on its compute",
    "distribution": "distributed training is not run across nodes locally",
    "additional_includes": "extra code folders are not merged into the snapshot locally",
    "instance_count": "locally a step runs on one node",
}
_HANDLED = {"$schema", "type", "name", "version", "display_name", "description", "tags", "command", "code",
            "environment", "environment_variables", "inputs", "outputs", "is_deterministic", "id",
            "creation_context", "properties", "_source"}


def to_v2(component: CommandComponent) -> dict[str, Any]:
    out: dict[str, Any] = {"$schema": SCHEMA, "type": "command"}
    put(out, name=component.name, version=None if component.version is None else str(component.version),
        display_name=component.display_name, description=component.description, tags=dict(component.tags))
    out["command"] = component.command
    put(out, code=component.code, environment=arm(component.environment),
        environment_variables=dict(component.environment_variables))
    put(out, inputs={k: _input_to_v2(v) for k, v in component.inputs.items()},
        outputs={k: put({"type": v.type}, description=v.description) for k, v in component.outputs.items()})
    if not component.is_deterministic:
        out["is_deterministic"] = False
    return out


def _input_to_v2(value: Input) -> dict[str, Any]:
    return put({"type": value.type}, default=value.default, optional=value.optional or None,
               description=value.description)


def from_v2(mapping: Mapping[str, Any], base_path: str | os.PathLike[str] | None = None) -> Translated[CommandComponent]:
    """A studio_ext ``CommandComponent`` from v2 ``commandComponent`` YAML's mapping."""
    mapping = plain(mapping)
    if str(mapping.get("type", "command")) != "command":
        raise InvalidInput(f"Only command components are taken here (type: command). Got type {mapping.get('type')!r}.")
    if not mapping.get("command"):
        raise InvalidInput("A command component needs a 'command' (the shell line it runs), as "
                           "'python prep.py --input ${{inputs.input_data}}'.")
    result: Translated[CommandComponent] = Translated(CommandComponent())
    kept: dict[str, str] = {}
    keep_rest(mapping, _HANDLED, kept, result, _NO_LOCAL_MEANING)
    environment = environment_kind.field_from_v2(mapping.get("environment"), base_path, result)
    code = mapping.get("code")
    name = mapping.get("name")
    inputs = {str(k): _input_from_v2(str(name), str(k), v) for k, v in (mapping.get("inputs") or {}).items()}
    outputs = {str(k): _output_from_v2(str(name), str(k), v) for k, v in (mapping.get("outputs") or {}).items()}
    version = mapping.get("version")
    result.entity = CommandComponent(
        name=None if name is None else str(name), version=None if version is None else str(version),
        display_name=mapping.get("display_name"), description=mapping.get("description"),
        tags=str_map(mapping.get("tags")), command=str(mapping["command"]),
        code=local_path(code, base_path) if isinstance(code, str) else None,
        environment=strip_arm(environment) if isinstance(environment, str) else None,
        environment_variables=str_map(mapping.get("environment_variables")),
        inputs=inputs, outputs=outputs, is_deterministic=bool(mapping.get("is_deterministic", True)))
    return result


def _input_from_v2(component: str, key: str, value: Any) -> Input:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"Input {key!r} of component {component!r} must be a mapping with a type, as "
                           f"'{key}: {{type: uri_folder}}'. Got {value!r}.")
    kind = str(value.get("type", "uri_folder"))
    if kind not in COMPONENT_INPUT_TYPES:
        raise InvalidInput(f"Input {key!r} of component {component!r} has type {kind!r}; a component input is one "
                           f"of {', '.join(COMPONENT_INPUT_TYPES)}.")
    default = value.get("default")
    if default is not None and kind in LITERAL_TYPES:
        default = coerce(kind, default, f"the default of input {key!r} of component {component!r}")
    return Input(type=kind, default=default, optional=bool(value.get("optional", False)),
                 description=value.get("description"), mode=str(value.get("mode") or "ro_mount"))


def _output_from_v2(component: str, key: str, value: Any) -> Output:
    value = value or {}
    kind = str(value.get("type", "uri_folder"))
    if kind not in OUTPUT_TYPES:
        raise InvalidInput(f"Output {key!r} of component {component!r} has type {kind!r}; a component output is "
                           f"one of {', '.join(OUTPUT_TYPES)}.")
    return Output(type=kind, description=value.get("description"), mode=str(value.get("mode") or "rw_mount"))


def coerce(kind: str, value: Any, what: str) -> Any:
    """``value`` as the literal type ``kind`` (integer, number, string, boolean); InvalidInput saying so if not."""
    try:
        if kind == "integer":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(str(value)) if not isinstance(value, float) else int(value)
        if kind == "number":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "false"):
                return text == "true"
            raise ValueError
        return str(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{what[0].upper() + what[1:]} must be of type {kind}. Got {value!r}.") from None


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[CommandComponent]:
    """A studio_ext ``CommandComponent`` from azure-ai-ml's ``CommandComponent`` (``load_component`` / ``command()``)."""
    from azure.ai.ml.entities import Command as AzureCommand

    component = obj.component if isinstance(obj, AzureCommand) else obj
    if isinstance(component, str):
        raise InvalidInput(f"This azure-ai-ml node refers to the component {component!r} by name; register it first "
                           "or load it with load_component(source=...).")
    mapping = azure_dict(component, ("CommandComponent",), "command component")
    base = base_path or getattr(component, "base_path", None)
    code = getattr(component, "code", None)
    if isinstance(code, (str, os.PathLike)) and not str(code).startswith("azureml:"):
        mapping["code"] = local_path(os.fspath(code), base)
    return from_v2(mapping, base)


def to_azure(component: CommandComponent) -> Any:
    return azure_load("load_component", to_v2(component), "command component")


def to_yaml(component: CommandComponent) -> str:
    return dump(to_v2(component))
