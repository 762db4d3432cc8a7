"""``studio-ext environment create | list | show``."""

from __future__ import annotations

import argparse
from typing import Any

from studio_ext.cli_groups import open_workspace, print_table
from studio_ext.cli_groups._actions import action_group
from studio_ext.cli_groups._files import add_file_arguments, add_output_argument, load, output_of, show


def register(sub: argparse._SubParsersAction) -> None:
    env = action_group(sub, "environment", "register and list environments")

    p = env.add_parser("create", help="register an environment version from an Azure ML v2 YAML file")
    add_file_arguments(p)
    p.add_argument("-n", "--name")
    p.add_argument("-v", "--version")
    p.set_defaults(func=_create)

    p = env.add_parser("list", help="environments (registered and curated), or the versions of one")
    p.add_argument("-n", "--name")
    p.set_defaults(func=_list)

    p = env.add_parser("show", help="an environment version")
    p.add_argument("name")
    p.add_argument("-v", "--version")
    p.add_argument("--json", action="store_true")
    add_output_argument(p)
    p.set_defaults(func=_show)


def _create(args: argparse.Namespace) -> int:
    from studio_ext.entities import Environment

    ws = open_workspace(args)
    result = load(args, Environment, "environment", name=args.name, version=args.version)
    env = ws.environments.create_or_update(result.entity)
    where = "the studio's interpreter" if env.uses_current_interpreter else "a venv built on first use"
    print(f"Registered environment {env.name}:{env.version} (runs in {where})")
    return 0


def _row(env: Any) -> dict[str, object]:
    return {"name": env.name, "version": env.version, "image": env.image,
            "packages": len(env.pip_requirements) if isinstance(env.pip_requirements, list) else env.pip_requirements,
            "conda_file": env.conda_file, "description": env.description}


def _list(args: argparse.Namespace) -> int:
    rows = [_row(e) for e in open_workspace(args).environments.list(args.name)]
    print_table(rows, ["name", "version", "image", "packages", "description"])
    return 0


def _show(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    env = ws.environments.get(args.name, args.version)
    info = {**_row(env), "pip_requirements": env.pip_requirements if isinstance(env.pip_requirements, list) else None,
            "tags": env.tags, "id": env.id}
    show(env, info, output_of(args), ws.environments.to_yaml)
    return 0
