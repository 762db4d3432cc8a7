"""``studio-ext demo PATH``: the headless lifecycle on a fresh workspace."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole lifecycle headless on a fresh workspace")
    p.add_argument("path")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from studio_ext.demo import run_demo

    run_demo(args.path)
    return 0
