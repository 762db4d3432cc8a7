"""``studio-ext model create | register | list | show | download | archive``."""

from __future__ import annotations

import argparse
import json

from studio_ext.cli_groups import open_workspace, print_table
from studio_ext.cli_groups._actions import action_group
from studio_ext.cli_groups._files import add_file_arguments, add_output_argument, load, show
from studio_ext.cli_groups.jobs import _pairs
from studio_ext.entities import Model


def register(sub: argparse._SubParsersAction) -> None:
    model = action_group(sub, "model", "register and list models")

    p = model.add_parser("create", help="register a model version from an Azure ML v2 YAML file (az ml model create)")
    add_file_arguments(p)
    p.add_argument("-n", "--name")
    p.add_argument("-v", "--version")
    p.add_argument("-p", "--path", help="the model's path, over the file's")
    p.add_argument("-t", "--type", choices=["mlflow_model", "custom_model"], help="over the file's")
    p.set_defaults(func=_create)

    p = model.add_parser("register", help="register a model version from a run, a job output or files")
    p.add_argument("--name", required=True)
    p.add_argument("--path", required=True,
                   help="runs:/<run or job>/model, azureml://jobs/<job>/outputs/artifacts/paths/model/, or a local path")
    p.add_argument("--type", choices=["mlflow_model", "custom_model"])
    p.add_argument("--description")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--trusted-type", action="append", default=[], help="a skops type you trust (repeatable)")
    p.add_argument("--allow-pickle", action="store_true", help="you trust this pickle's source: serving it may unpickle it")
    p.set_defaults(func=_register)

    p = model.add_parser("list", help="latest version of every model, or every version of one")
    p.add_argument("--name")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_list)

    p = model.add_parser("show", help="a model version: lineage, files, signature, trust")
    p.add_argument("name")
    p.add_argument("--version")
    add_output_argument(p)
    p.set_defaults(func=_show)

    p = model.add_parser("download", help="copy a model version's files (nothing is loaded)")
    p.add_argument("name")
    p.add_argument("--version", required=True)
    p.add_argument("--to", default=".")
    p.set_defaults(func=_download)

    p = model.add_parser("archive", help="hide a model version (or all versions) from lists")
    p.add_argument("name")
    p.add_argument("--version")
    p.set_defaults(func=_archive)


def _row(m: Model) -> dict[str, object]:
    return {"name": m.name, "version": m.version, "type": m.type, "serialization": m.serialization,
            "job": m.job_name, "tags": ",".join(f"{k}={v}" for k, v in m.tags.items())}


def _create(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    model = ws.models.create_or_update(
        load(args, Model, "model", name=args.name, version=args.version, path=args.path, type=args.type).entity)
    print(f"Registered model {model.name}:{model.version} ({model.type}, {len(model.files)} files)")
    for reason in model.needs_trust:
        print(f"  note: serving it needs trust: {reason}")
    return 0


def _register(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    model = ws.models.create_or_update(Model(
        name=args.name, path=args.path, type=args.type, description=args.description, tags=_pairs(args.tag, "tag"),
        trusted_types=list(args.trusted_type), allow_pickle=args.allow_pickle))
    print(f"Registered {model.name}:{model.version} ({model.type}, {len(model.files)} files, SHA-256 recorded)")
    for reason in model.needs_trust:
        print(f"  note: serving it needs trust: {reason}")
    return 0


def _list(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    models = ws.models.list(args.name, tags=_pairs(args.tag, "tag") or None)
    if args.json:
        print(json.dumps([_row(m) for m in models], default=str, indent=1))
    else:
        print_table([_row(m) for m in models], ["name", "version", "type", "serialization", "job", "tags"])
    return 0


def _show(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    m = ws.models.get(args.name, args.version)
    info = {**_row(m), "run_id": m.run_id, "datasets": m.datasets, "flavors": m.flavors,
            "needs_trust": m.needs_trust, "files": m.files, "signature": m.signature}
    show(m, info, args.output or "json", ws.models.to_yaml)
    return 0


def _download(args: argparse.Namespace) -> int:
    path = open_workspace(args).models.download(args.name, args.version, args.to)
    print(f"Downloaded to {path}")
    return 0


def _archive(args: argparse.Namespace) -> int:
    open_workspace(args).models.archive(args.name, args.version)
    print(f"Archived {args.name}" + (f":{args.version}" if args.version else " (all versions)"))
    return 0
