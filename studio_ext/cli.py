"""The ``studio-ext`` command.

Each group of subcommands lives in ``studio_ext/cli_groups/NAME.py`` with a
``register(subparsers)`` function; :data:`GROUPS` lists them in help order.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from studio_ext.errors import StudioError

GROUPS = [
    "workspace",  # init, info, server, studio
    "jobs",  # job create | submit | list | show | logs | cancel
    "compute",  # compute list | show | create | start | stop | restart | delete
    "data",  # data create | register | list | show | preview | profile | archive; datastore create | list | show | delete
    "models",  # model create | register | list | show | download | archive
    "environments",  # environment create | list | show
    "endpoints",  # endpoint create | deploy | list | show | invoke | keys | traffic | logs | reload | delete
    "online",  # online-endpoint create | show | list; online-deployment create | show | list (az ml's, from files)
    "schedules",  # schedule create | list | show | enable | disable | delete | history
    "batch",  # batch-endpoint create | list | show | delete | invoke; batch-deployment create | list | show | delete
    "demo",  # demo PATH
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studio-ext",
        description="The Azure ML studio inside Jupyter: workspaces, jobs, compute, data, models, endpoints.",
    )
    parser.add_argument("-w", "--workspace", help="workspace folder (default: $STUDIO_EXT_WORKSPACE or found from the current folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for group in GROUPS:
        importlib.import_module(f"studio_ext.cli_groups.{group}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except StudioError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
