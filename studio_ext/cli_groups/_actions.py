"""How the groups wire their actions: one ``studio-ext GROUP ACTION`` group, and the
``create --file`` / ``-n NAME [-e ENDPOINT]`` actions the endpoint groups share (``az ml``'s
online-endpoint, online-deployment, batch-endpoint and batch-deployment)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from studio_ext.cli_groups._files import add_file_arguments, add_output_argument

Handler = Callable[[argparse.Namespace], int]


def action_group(sub: argparse._SubParsersAction, name: str, text: str) -> argparse._SubParsersAction:
    """The group ``studio-ext NAME``, whose ACTION is required; its actions are added to what this returns."""
    actions = sub.add_parser(name, help=text).add_subparsers(dest=f"{name.replace('-', '_')}_command",
                                                             metavar="ACTION")
    actions.required = True
    return actions


def add_endpoint_argument(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``-e/--endpoint-name`` (``--endpoint`` too), the endpoint a deployment belongs to."""
    parser.add_argument("-e", "--endpoint-name", "--endpoint", dest="endpoint_name", required=required)


def add_create_action(actions: argparse._SubParsersAction, text: str, func: Handler, *,
                      endpoint: bool = False) -> argparse.ArgumentParser:
    """``create -f FILE [--set ...] [-n NAME] [-e ENDPOINT]``: the names over the file's."""
    p = actions.add_parser("create", help=text)
    add_file_arguments(p)
    p.add_argument("-n", "--name")
    if endpoint:
        add_endpoint_argument(p, required=False)
    p.set_defaults(func=func)
    return p


def add_named_action(actions: argparse._SubParsersAction, action: str, text: str, func: Handler, *,
                     endpoint: bool = False, output: bool = False) -> argparse.ArgumentParser:
    """``ACTION -n NAME [-e ENDPOINT] [-o text|json|yaml]``, on one endpoint or deployment."""
    p = actions.add_parser(action, help=text)
    p.add_argument("-n", "--name", required=True)
    if endpoint:
        add_endpoint_argument(p, required=True)
    if output:
        add_output_argument(p)
    p.set_defaults(func=func)
    return p
