"""What every ``studio-ext <group> create --file`` shares, in ``az ml``'s shape.

The file is read by azure-ai-ml's own loader (``studio_ext.translation.from_yaml``), so
a refused field gets Azure's message with the file and line. ``--set FIELD=VALUE``
(repeatable, several per flag) and ``--name``/``--version``/... become the loader's
``params_override``, applied over the file as ``az ml`` applies them. Notes (fields
kept with no local meaning) are printed; entities the file gives inline (an
environment, a model) are registered before the entity that names them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from studio_ext.errors import InvalidInput
from studio_ext.workspace import Workspace

OUTPUTS = ("text", "json", "yaml")


def add_file_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """``-f/--file`` and ``--set``, as ``az ml <group> create`` has them."""
    parser.add_argument("-f", "--file", required=required, metavar="YAML",
                        help="an Azure ML v2 YAML file (the same file az ml reads)")
    parser.add_argument("--set", dest="set_values", action="append", nargs="+", default=[], metavar="FIELD=VALUE",
                        help="set a field over the file's, by its dotted path: --set inputs.lr=0.1 compute=local")


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    """``-o/--output text|json|yaml`` (yaml: the Azure ML v2 YAML of the entity)."""
    parser.add_argument("-o", "--output", choices=OUTPUTS, default=None,
                        help="text (default), json, or yaml: the Azure ML v2 YAML az ml and azure-ai-ml read")


def output_of(args: argparse.Namespace) -> str:
    """The output asked for: ``--output``, else ``--json``, else text."""
    if getattr(args, "output", None):
        return str(args.output)
    return "json" if getattr(args, "json", False) else "text"


def split_pairs(groups: list[list[str]], flag: str, form: str) -> list[tuple[str, str]]:
    """The ``NAME=VALUE`` items of a repeatable option taking several each time, in order; an item
    with no ``=`` or no name is refused as ``{flag} 'item' must look like {form}.``"""
    out: list[tuple[str, str]] = []
    for group in groups:
        for item in group:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise InvalidInput(f"{flag} {item!r} must look like {form}.")
            out.append((key.strip(), value))
    return out


def overrides(args: argparse.Namespace, **fields: Any) -> list[dict[str, Any]]:
    """azure-ai-ml's ``params_override``: every ``--set`` pair, then the named options given."""
    out: list[dict[str, Any]] = [
        {key: value} for key, value in split_pairs(args.set_values or [], "--set", "FIELD=VALUE, e.g. --set inputs.lr=0.1")]
    out.extend({key: value} for key, value in fields.items() if value is not None)
    return out


def load(args: argparse.Namespace, expected: type | tuple[type, ...], group: str, **fields: Any) -> Any:
    """The ``Translated`` result of ``args.file`` with the overrides, once it is the ``expected`` kind."""
    from studio_ext.translation import from_yaml

    # azure-ai-ml logs "Class XSchema: This is an experimental class" for its own schema
    # classes while loading any file: nothing the user wrote, so not on their terminal.
    logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)
    result = from_yaml(args.file, params_override=overrides(args, **fields))
    if not isinstance(result.entity, expected):
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise InvalidInput(
            f"{args.file} describes a {type(result.entity).__name__} (studio_ext.entities), not a {names}: "
            f"create it with the matching group (studio-ext {_group_for(result.entity)} create --file), "
            f"not studio-ext {group} create.")
    for note in result.notes:
        print(f"note: {note}")
    return result


def register_requires(ws: Workspace, result: Any) -> None:
    """Register what the file gives inline (an environment, a model) before the entity naming it."""
    from studio_ext.entities import Data, Environment, Model

    for required in getattr(result, "requires", []) or []:
        if isinstance(required, Environment):
            done: Any = ws.environments.create_or_update(required)
        elif isinstance(required, Model):
            done = ws.models.create_or_update(required)
        elif isinstance(required, Data):
            done = ws.data.create_or_update(required)
        else:
            raise InvalidInput(f"The file needs a {type(required).__name__} registered first, which this command "
                               "cannot register; register it on its own, then name it in the file.")
        print(f"Registered {type(required).__name__.lower()} {done.name}:{done.version} (given inline in the file)")


def show(entity: Any, info: dict[str, Any], output: str, to_yaml: Any) -> None:
    """Print ``info`` as text or JSON, or ``entity`` as Azure ML v2 YAML (``to_yaml``)."""
    if output == "yaml":
        sys.stdout.write(to_yaml(entity))
        return
    if output == "json":
        print(json.dumps(info, default=str, indent=1))
        return
    for key, value in info.items():
        if isinstance(value, dict):
            if value:
                print(f"{key}:")
                for k, v in value.items():
                    print(f"  {k}: {v}")
        elif isinstance(value, list):
            if value:
                print(f"{key}:")
                for v in value:
                    print(f"  {v}")
        elif value not in (None, ""):
            print(f"{key}: {value}")


def _group_for(entity: object) -> str:
    from studio_ext import entities as e

    for cls, group in ((e.Job, "job"), (e.Data, "data"), (e.Model, "model"), (e.Environment, "environment"),
                       (e.Compute, "compute"), (e.Datastore, "datastore"),
                       (e.ManagedOnlineEndpoint, "online-endpoint"),
                       (e.ManagedOnlineDeployment, "online-deployment"), (e.BatchEndpoint, "batch-endpoint"),
                       (e.ModelBatchDeployment, "batch-deployment"),
                       (e.PipelineComponentBatchDeployment, "batch-deployment")):
        if isinstance(entity, cls):
            return group
    return "<group>"
