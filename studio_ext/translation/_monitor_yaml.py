"""A v2 monitor schedule (``create_monitor``) loaded by azure-ai-ml, its refusals told field by field.

azure-ai-ml 1.35's ``load_schedule`` cannot report a monitor's schema error: while turning
marshmallow's ``ValidationError`` into its own report it asks ``MonitorSchedule`` for a
validation schema, which raises an empty ``NotImplementedError`` (``load_common`` ->
``PathAwareSchemaValidatableMixin._create_schema_for_validation``). :func:`load` loads the
file as ``load_schedule`` does (``MonitorSchedule._load`` with the file as relative origin
and the overrides), and, on a refusal, reads marshmallow's own messages against
``MonitorScheduleSchema``:

- a union (a signal is one of eight signal schemas) is told by the alternative whose
  ``type`` matched, not by all eight; a ``type`` no alternative takes is named with the
  types there are;
- an unknown field names the fields its mapping takes, and the nearest one;
- a field the schema takes but azure-ai-ml's class then refuses (a ``TypeError`` from the
  class's ``__init__``, so no field path in Azure's message) is found in the file and named.

Known difference from the Azure docs: their advanced monitor YAML gives
``reference_data.target_column_name``, which azure-ai-ml 1.35's ``ReferenceData`` does not
take; the 1.35 spelling is ``data_column_names: {target_column: NAME}``. It is named so.
"""

from __future__ import annotations

import difflib
import io
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from studio_ext.errors import InvalidYaml
from studio_ext.translation._yaml_errors import _line_for, _line_index

# a field azure-ai-ml's schema reads but its class refuses -> what to write instead ({value}: the one given)
_INSTEAD = {
    "target_column_name": "data_column_names: {{target_column: {value}}} (azure-ai-ml 1.35's ReferenceData takes the "
                          "label column there; the Azure docs' advanced monitor YAML still shows target_column_name)",
}
_UNEXPECTED = re.compile(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")
_MISSING = re.compile(r"(\w+)\.__init__\(\) missing \d+ required (?:keyword-only |positional )?arguments?: '(\w+)'")
_OWNER = {"MonitorSchedule": (), "MonitorDefinition": ("create_monitor",)}  # azure-ai-ml class -> its YAML field
_REQUIRED = {
    "trigger": "Give it as a job schedule's: trigger: {type: recurrence, frequency: day, interval: 1} or "
               "trigger: {type: cron, expression: '0 2 * * *'}.",
    "create_monitor.compute": "It is the serverless Spark pool Azure runs the monitor on (kept, no local meaning), "
                              "and azure-ai-ml 1.35 requires it: compute: {instance_type: standard_e4s_v3, "
                              "runtime_version: '3.4'}.",
}
_PLAIN = {  # marshmallow's words, with what to write
    "Missing data for required field.": "missing: this field is required.",
    "Not a valid number.": "not a valid number: write a number (0.01).",
    "Not a valid string.": "not a valid string: write text ('P7D', 'azureml:ENDPOINT:DEPLOYMENT').",
    "Not a valid list.": "not a valid list: write a YAML list (one '- item' a line).",
    "Not a valid mapping type.": "not a mapping: write NAME: {type: ..., ...} for each entry.",
    "Field may not be null.": "empty: give it a value or leave the field out.",
    "Invalid input type.": "not a mapping: write its fields under it.",
}
_NOT_IN_SET = re.compile(r"Value (.+?) passed is not in set \[(.*)\]")
_MAX_LINES = 12


def load(source: str | os.PathLike[str] | io.StringIO, relative_origin: str | None,
         params_override: list[dict[str, Any]] | None) -> Any:
    """azure-ai-ml's ``MonitorSchedule`` from v2 YAML, as ``load_schedule`` makes it; InvalidYaml naming each field."""
    from azure.ai.ml.entities import MonitorSchedule
    from azure.ai.ml.entities._load_functions import _try_load_yaml_dict
    from marshmallow.exceptions import ValidationError

    path = None if isinstance(source, io.StringIO) else str(source)
    text = source.getvalue() if isinstance(source, io.StringIO) else Path(source).read_text(encoding="utf-8")
    data = _try_load_yaml_dict(io.StringIO(text))
    origin = relative_origin or path or "./"
    try:
        return MonitorSchedule._load(data=data, yaml_path=origin, params_override=params_override or [])
    except ValidationError as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, ValidationError) else exc
        raise refusal(cause, data, text, path) from exc
    except TypeError as exc:  # the schema passed; azure-ai-ml's MonitorSchedule refused what it was given
        missing = _MISSING.search(str(exc))
        if missing is None or missing.group(1) not in _OWNER:
            raise
        key = ".".join((*_OWNER[missing.group(1)], missing.group(2)))
        line = _line_for(tuple(key.split("."))[:-1], _line_index(text)) if "." in key else None
        raise InvalidYaml(f"Azure ML's v2 schema refuses the monitor schedule {path or 'in this YAML'} "
                          f"(MonitorSchedule):\n  {path or '<yaml>'}{f':{line}' if line else ''}: {key}: missing. "
                          f"{_REQUIRED.get(key, 'azure-ai-ml 1.35 requires it.')}", file=path, fields=(key,)) from exc


def refusal(exc: Any, data: Mapping[str, Any], text: str, path: str | None) -> InvalidYaml:
    """marshmallow's refusal of a monitor schedule mapping as InvalidYaml: file:line: field: what, and what to do."""
    from azure.ai.ml._schema.monitoring.schedule import MonitorScheduleSchema
    from azure.ai.ml.constants._common import BASE_PATH_CONTEXT_KEY

    schema = MonitorScheduleSchema(context={BASE_PATH_CONTEXT_KEY: Path(path).parent if path else Path.cwd()})
    messages = getattr(exc, "messages", None)
    raw = messages if isinstance(messages, (dict, list)) else {"_schema": [str(exc)]}
    found: dict[str, str] = {}
    for field, message in (*_known_differences(data), *_walk(raw, schema, (), data)):
        found.setdefault(".".join(field), message)
    if not found:
        found["(file)"] = str(exc).strip().splitlines()[0][:600] if str(exc).strip() else type(exc).__name__
    lines_of = _line_index(text)
    where = path or "<yaml>"
    shown = []
    for key, message in found.items():
        line = _line_for(tuple(key.split(".")), lines_of)
        shown.append(f"  {where}{f':{line}' if line else ''}: {key}: {message}")
    more = len(shown) - _MAX_LINES
    shown = shown[:_MAX_LINES] + ([f"  ... and {more} more"] if more > 0 else [])
    head = f"Azure ML's v2 schema refuses the monitor schedule {path or 'in this YAML'} (MonitorSchedule):"
    tail = "Fix the field(s) named above and create the schedule again."
    return InvalidYaml("\n".join([head, *shown, tail]), file=path, fields=tuple(found))


def _known_differences(data: Any, field: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """Fields the Azure docs write that azure-ai-ml 1.35 does not take, wherever they are in the file."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            here = (*field, str(key))
            if str(key) in _INSTEAD and field and field[-1] in ("reference_data", "production_data"):
                yield here, f"azure-ai-ml 1.35 does not take {key}: write {_instead(str(key), value)}."
            yield from _known_differences(value, here)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _known_differences(value, (*field, str(index)))


def _fields_of(schema: Any) -> dict[str, Any]:
    """A marshmallow schema's fields by the key they are written with in YAML."""
    return {(f.data_key or name): f for name, f in schema.load_fields.items()}


def _walk(msg: Any, node: Any, field: tuple[str, ...], data: Any) -> Iterator[tuple[tuple[str, ...], str]]:
    """(field path, message) for each refusal, following the schema (``node``) the messages came from."""
    from azure.ai.ml._schema.core.fields import UnionField
    from marshmallow import Schema, fields

    if isinstance(node, fields.Nested):
        node = node.schema
    if isinstance(node, Schema) and isinstance(msg, dict):
        known = _fields_of(node)
        for key, inner in msg.items():
            value = data.get(key) if isinstance(data, Mapping) else None
            if key == "_schema":
                yield from _walk(inner, None, field, data)
            elif key not in known and inner == ["Unknown field."]:
                yield (*field, str(key)), _unknown(str(key), sorted(known), field)
            else:
                yield from _walk(inner, known.get(key), (*field, str(key)), value)
        return
    if isinstance(node, UnionField) and isinstance(msg, list) and len(msg) == len(node._union_fields):
        yield from _union(msg, node, field, data)
        return
    if isinstance(node, fields.Dict) and isinstance(msg, dict):
        for key, inner in msg.items():
            value = data.get(key) if isinstance(data, Mapping) else None
            if isinstance(inner, dict) and "value" in inner:
                yield from _walk(inner["value"], node.value_field, (*field, str(key)), value)
            if isinstance(inner, dict) and "key" in inner:
                yield from _walk(inner["key"], None, (*field, str(key)), value)
        return
    if isinstance(node, fields.List) and isinstance(msg, dict):
        for index, inner in msg.items():
            value = data[int(index)] if isinstance(data, list) and str(index).isdigit() and int(index) < len(data) \
                else None
            yield from _walk(inner, node.inner, (*field, str(index)), value)
        return
    if isinstance(msg, dict):  # a structure with no schema known for it: its leaves, by key
        for key, inner in msg.items():
            if key in ("_schema", "value"):
                yield from _walk(inner, None, field, data)
            else:
                yield from _walk(inner, None, (*field, str(key)),
                                 data.get(key) if isinstance(data, Mapping) else None)
        return
    if isinstance(msg, list):
        if sum(isinstance(m, (dict, list)) for m in msg) > 1:  # a union we could not follow: its closest try
            yield from _walk(min(msg, key=_size), None, field, data)
            return
        for item in msg:
            yield from _walk(item, None, field, data) if isinstance(item, (dict, list)) else _leaf(str(item), field,
                                                                                                    data)
        return
    yield from _leaf(str(msg), field, data)


def _union(msg: list[Any], node: Any, field: tuple[str, ...], data: Any) -> Iterator[tuple[tuple[str, ...], str]]:
    """A union's refusal told by the alternative that was meant: the one whose ``type`` matched, else the closest."""
    def refuses_type(alt: Any) -> bool:
        return isinstance(alt, dict) and "type" in alt

    matched = [i for i, alt in enumerate(msg) if not refuses_type(alt)]
    typed = isinstance(data, Mapping) and "type" in data
    if typed and not matched:  # no alternative takes this type
        kinds = []
        for alternative in node._union_fields:
            schema = getattr(alternative, "schema", None)
            type_field = _fields_of(schema).get("type") if schema is not None else None
            kinds += [k for k in getattr(type_field, "allowed_values", None) or [] if k not in kinds]
        close = difflib.get_close_matches(str(data["type"]), kinds, n=1, cutoff=0.75)
        yield (*field, "type"), (f"{data['type']!r} is not a type here: write one of {', '.join(kinds)}."
                                 + (f" Did you mean {close[0]!r}?" if close else "")
                                 if kinds else f"{data['type']!r} is not a type here.")
        return
    candidates = matched or list(range(len(msg)))
    shaped = [i for i in candidates if _fits(node._union_fields[i], data)]
    candidates = shaped or candidates
    best = min(candidates, key=lambda i: _size(msg[i]))
    yield from _walk(msg[best], node._union_fields[best], field, data)


def _fits(alternative: Any, data: Any) -> bool:
    """Whether a union's alternative reads values of ``data``'s shape (a mapping, a list, a scalar)."""
    from marshmallow import fields

    if isinstance(alternative, fields.Nested):
        return isinstance(data, list) if alternative.many else isinstance(data, Mapping)
    if isinstance(alternative, fields.List):
        return isinstance(data, list)
    if isinstance(alternative, fields.Dict):
        return isinstance(data, Mapping)
    return not isinstance(data, (Mapping, list))


def _size(msg: Any) -> int:
    if isinstance(msg, dict):
        return sum(_size(v) for v in msg.values())
    if isinstance(msg, list):
        return sum(_size(v) for v in msg) if msg else 1
    return 1


def _unknown(key: str, known: list[str], field: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    owner = field[-1] if field else "the schedule"
    hint = f" Did you mean {close[0]!r}?" if close else " Remove it or use one of those."
    if key in _INSTEAD:
        hint = f" azure-ai-ml 1.35 does not take it: write {_instead(key, None)}."
    return f"{key!r} is not a field of {owner}, which takes {', '.join(known)}.{hint}"


def _leaf(text: str, field: tuple[str, ...], data: Any) -> Iterator[tuple[tuple[str, ...], str]]:
    """One message of Azure's, made to name the field and say what to write."""
    first = text.strip().splitlines()[0] if text.strip() else text
    unexpected = _UNEXPECTED.search(first)
    if unexpected:
        cls, key = unexpected.groups()
        where = _find_key(data, key)
        instead = f": write {_instead(key, None)}" if key in _INSTEAD else ": remove it"
        yield ((*field, *where) if where is not None else (*field, key)), (
            f"azure-ai-ml 1.35's {cls} (azure.ai.ml.entities.{cls}) does not take {key}{instead}.")
        return
    not_in = _NOT_IN_SET.search(first)
    if not_in:
        value, allowed = not_in.groups()
        options = ", ".join(part.strip().strip("'\"") for part in allowed.split(","))
        yield field, f"{value} is not one of {options}: write one of those."
        return
    yield field, _PLAIN.get(first, first)


def _instead(key: str, value: Any) -> str:
    return _INSTEAD[key].format(value=value if isinstance(value, str) and value else "<the label column>")


def _find_key(data: Any, key: str) -> tuple[str, ...] | None:
    """The path of the first field named ``key`` under ``data``, depth first."""
    if isinstance(data, Mapping):
        if key in data:
            return (key,)
        for name, value in data.items():
            inner = _find_key(value, key)
            if inner is not None:
                return (str(name), *inner)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            inner = _find_key(value, key)
            if inner is not None:
                return (str(index), *inner)
    return None
