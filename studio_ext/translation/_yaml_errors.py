"""Azure's schema refusals of a v2 YAML file, one line per field, with the file's line.

azure-ai-ml's loaders raise marshmallow's ``ValidationError`` whose message nests JSON
in text ("Validation for CommandSchema failed: { ... }"). :func:`describe` takes it
apart into ``FILE:LINE: inputs.lr: Not a valid number.`` lines, the line found from
the YAML's own node marks (the nearest enclosing field when Azure names one that the
file does not have).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

_SCHEMA_NAME = re.compile(r"Validation for (\w+?)(?:Schema)? failed")
_MAX_LINES = 12


def describe(exc: Exception, text: str, path: str | None) -> str:
    """``exc`` (Azure's ValidationError) as lines naming each refused field and where it is."""
    messages = getattr(exc, "messages", None)
    raw = messages if isinstance(messages, (dict, list)) else str(exc)
    kind = _SCHEMA_NAME.search(str(exc))
    lines_of = _line_index(text)
    where = path or "<yaml>"
    found: list[str] = []
    seen: set[tuple[str, str]] = set()
    for field, message in _leaves(raw, ()):
        key = ".".join(field)
        if (key, message) in seen:
            continue
        seen.add((key, message))
        line = _line_for(field, lines_of)
        found.append(f"  {where}{f':{line}' if line else ''}: {key or '(file)'}: {message}")
    shown = found[:_MAX_LINES] + ([f"  ... and {len(found) - _MAX_LINES} more"] if len(found) > _MAX_LINES else [])
    head = f"Azure ML's v2 schema refuses {path or 'this YAML'}{f' ({kind.group(1)})' if kind else ''}:"
    return "\n".join([head, *(shown or [f"  {str(exc).strip()[:600]}"])])


def _leaves(value: Any, field: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    """(field path, message) for every message in Azure's nested error structure."""
    if isinstance(value, dict):
        if isinstance(value.get("errors"), list):  # {"result": "Failed", "errors": [{"message": ...}]}
            for item in value["errors"]:
                yield from _leaves(item.get("message") if isinstance(item, dict) else item, field)
            return
        for key, inner in value.items():
            if key in ("_schema", "value", "null"):
                yield from _leaves(inner, field)
            else:
                yield from _leaves(inner, (*field, str(key)))
        return
    if isinstance(value, list):
        alternatives = [v for v in value if isinstance(v, dict)]
        if len(alternatives) > 1:  # a union field: report the alternative that got furthest
            best = max(alternatives, key=lambda alt: -sum(1 for _ in _leaves(alt, ())))
            yield from _leaves(best, field)
            return
        for item in value:
            yield from _leaves(item, field)
        return
    text = str(value).strip()
    start = text.find("{")
    if text.startswith("Validation for") and start >= 0:
        try:
            nested, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            nested = None
        if nested is not None:
            yield from _leaves(nested, field)
            return
    if text:
        yield field, text.splitlines()[0]


def _line_index(text: str) -> dict[tuple[str, ...], int]:
    """Field path -> 1-based line of every mapping key in the YAML text."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    out: dict[tuple[str, ...], int] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, inner in node.value:
                here = (*path, str(key.value))
                out[here] = key.start_mark.line + 1
                walk(inner, here)
        elif isinstance(node, yaml.SequenceNode):
            for index, inner in enumerate(node.value):
                walk(inner, (*path, str(index)))

    walk(root, ())
    return out


def _line_for(field: tuple[str, ...], lines_of: dict[tuple[str, ...], int]) -> int | None:
    for end in range(len(field), 0, -1):
        if field[:end] in lines_of:
            return lines_of[field[:end]]
    return None
