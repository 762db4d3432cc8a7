"""What every kind's translation shares: the result object, notes, references, Azure's loaders.

Fields that have no local meaning are kept, never dropped: in a field the studio_ext
entity already has (``AmlCompute.size``, ``Environment.image``), else under an
``azureml.`` key of the entity's ``properties`` (or ``tags`` where it has none), from
where :func:`restore` puts them back into the v2 mapping on the way out. Each one is
named in a :class:`Note`.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml

from studio_ext.errors import InvalidInput

SCHEMA_ROOT = "https://azuremlschemas.azureedge.net/latest/"
KEEP_PREFIX = "azureml."  # fields with no local meaning, kept for the way back to Azure
LOCAL_PREFIX = "studio_ext."  # studio_ext fields with no v2 field, kept in v2 tags or properties

E = TypeVar("E")


@dataclass(frozen=True)
class Note:
    """A field of the Azure ML v2 form that has no meaning locally: where it was kept and why."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass
class Translated(Generic[E]):
    """A studio_ext entity made from an Azure ML v2 form, with what the translation has to say.

    ``requires`` holds entities the caller registers first: an environment or model given
    inline (anonymous on Azure), which ``entity`` refers to by name.
    """

    entity: E
    notes: list[Note] = field(default_factory=list)
    requires: list[Any] = field(default_factory=list)

    def note(self, name: str, message: str) -> None:
        self.notes.append(Note(name, message))


def plain(value: Any) -> Any:
    """``value`` with OrderedDicts, tuples and enums made plain, so ``yaml.safe_dump`` takes it."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "value") and type(value).__module__ != "builtins" and isinstance(value.value, (str, int)):
        return value.value  # an enum
    return value


def compact(value: Any) -> Any:
    """``value`` without the empty or None entries azure-ai-ml adds to nested mappings."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items() if v is not None and v != {} and v != []}
    return value


def dump(mapping: Mapping[str, Any]) -> str:
    return yaml.safe_dump(plain(mapping), sort_keys=False, default_flow_style=False)


def keep(out: dict[str, str], result: Translated[Any], name: str, value: Any, reason: str) -> None:
    """Store ``value`` under ``azureml.NAME`` in ``out`` (properties or tags) and note it."""
    value = compact(plain(value))
    out[KEEP_PREFIX + name] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    result.note(name, f"{_shown(value)} is kept (under {KEEP_PREFIX + name!r}) for Azure; {reason}")


def keep_rest(mapping: Mapping[str, Any], handled: set[str], out: dict[str, str], result: Translated[Any],
              reasons: Mapping[str, str], defaults: Mapping[str, Any] | None = None) -> None:
    """Keep every field of ``mapping`` this kind does not translate (Azure's defaults aside) and note it."""
    defaults = defaults or {}
    for name, value in mapping.items():
        if name in handled or name.startswith("$") or value is None or value == {} or value == []:
            continue
        if name in defaults and defaults[name] == value:
            continue  # Azure's default: nothing is lost by leaving it out
        keep(out, result, name, value, reasons.get(name, "it has no meaning locally"))


def restore(mapping: dict[str, Any], kept: Mapping[str, str], target: str) -> dict[str, str]:
    """Put the ``azureml.*`` entries of ``kept`` back as v2 fields; the rest go to ``mapping[target]``."""
    rest: dict[str, str] = {}
    for key, value in kept.items():
        if key.startswith(KEEP_PREFIX):
            name = key[len(KEEP_PREFIX):]
            try:
                loaded = json.loads(value)
            except ValueError:
                loaded = value
            # numbers stay text: a kept version "3" must not come back as 3
            mapping[name] = loaded if isinstance(loaded, (bool, dict, list)) else value
        else:
            rest[key] = value
    if rest:
        mapping[target] = rest
    return rest


def split_local(values: Mapping[str, Any] | None) -> tuple[dict[str, str], dict[str, str]]:
    """(the user's own entries, the ``studio_ext.*`` entries with the prefix removed)."""
    own: dict[str, str] = {}
    local: dict[str, str] = {}
    for key, value in (values or {}).items():
        if str(key).startswith(LOCAL_PREFIX):
            local[str(key)[len(LOCAL_PREFIX):]] = str(value)
        else:
            own[str(key)] = str(value)
    return own, local


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(plain(value), sort_keys=True)
    return repr(text if len(text) <= 80 else text[:77] + "...")


def strip_arm(value: str | None) -> str | None:
    """``azureml:NAME:VERSION`` / ``azureml:NAME@label`` -> ``NAME:VERSION`` / ``NAME@label``.

    Long references (``azureml://registries/...``) pass through: they are resolved later.
    """
    if value is None:
        return None
    return value[len("azureml:"):] if value.startswith("azureml:") and not value.startswith("azureml://") else value


def arm(value: str | None) -> str | None:
    """The short-reference form v2 YAML writes: ``NAME:VERSION`` -> ``azureml:NAME:VERSION``."""
    if value is None or value.startswith("azureml:"):
        return value
    return "azureml:" + value


def is_local_path(value: str) -> bool:
    return "://" not in value and not value.startswith("azureml:")


def local_path(value: str | None, base_path: str | os.PathLike[str] | None) -> str | None:
    """A local path of a v2 file, made absolute against the file's folder (``base_path``)."""
    if value is None or base_path is None or not is_local_path(value) or os.path.isabs(value):
        return value
    return str((Path(base_path) / value).resolve())


def str_map(values: Mapping[Any, Any] | None) -> dict[str, str]:
    """``values`` (tags, properties, settings, environment variables; None is empty) with text keys and values."""
    return {str(k): str(v) for k, v in (values or {}).items()}


def put(mapping: dict[str, Any], **values: Any) -> dict[str, Any]:
    """Add the values that are set (not None, not empty) to ``mapping``."""
    for key, value in values.items():
        if value is None or (isinstance(value, (dict, list)) and not value):
            continue
        mapping[key] = value
    return mapping


def azure_dict(obj: object, class_names: tuple[str, ...], kind: str) -> dict[str, Any]:
    """``obj._to_dict()`` made plain, once ``obj`` is one of ``azure.ai.ml.entities.<class_names>``."""
    import azure.ai.ml.entities as aml_entities

    check_type(obj, tuple(getattr(aml_entities, name) for name in class_names), kind)
    mapping: dict[str, Any] = plain(obj._to_dict())  # type: ignore[attr-defined]
    return mapping


def azure_load(loader_name: str, mapping: Mapping[str, Any], what: str) -> Any:
    """``mapping`` loaded by azure-ai-ml's own ``azure.ai.ml.<loader_name>``: Azure's validation.

    A refusal (marshmallow's ``ValidationError``) becomes InvalidInput with Azure's message.
    """
    import azure.ai.ml as aml
    from marshmallow.exceptions import ValidationError

    try:
        return getattr(aml, loader_name)(io.StringIO(dump(mapping)))
    except ValidationError as exc:
        raise InvalidInput(
            f"Azure ML's v2 schema refuses this {what}: {_first_lines(str(exc))} "
            "Change the field it names (see the v2 YAML reference linked in the message)."
        ) from exc


def _first_lines(text: str, limit: int = 1200) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + " ..."


def class_path(obj: object) -> str:
    """The public dotted path of ``obj``'s class: ``azure.ai.ml.entities.Data``, never a bare name."""
    return type_path(type(obj))


def type_path(cls: type) -> str:
    """The public dotted path of ``cls``: ``studio_ext.entities.Data``, ``azure.ai.ml.entities.Data``."""
    module = cls.__module__
    if module.startswith("studio_ext.entities."):
        import studio_ext.entities as local_entities

        if getattr(local_entities, cls.__name__, None) is cls:
            return f"studio_ext.entities.{cls.__name__}"
    if module.startswith("azure.ai.ml"):
        import azure.ai.ml as aml
        import azure.ai.ml.automl as aml_automl
        import azure.ai.ml.entities as aml_entities

        for public, namespace in (("azure.ai.ml.entities", aml_entities), ("azure.ai.ml", aml),
                                  ("azure.ai.ml.automl", aml_automl)):
            if getattr(namespace, cls.__name__, None) is cls:
                return f"{public}.{cls.__name__}"
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def check_type(obj: object, expected: tuple[type, ...], kind: str) -> None:
    if not isinstance(obj, expected):
        names = " or ".join(f"{c.__module__.split('._')[0]}.{c.__name__}" for c in expected)
        raise InvalidInput(f"The {kind} translation takes {names}. Got {class_path(obj)} instead.")
