"""Subcommand groups of the ``studio-ext`` command, one module each."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from studio_ext.workspace import Workspace


def open_workspace(args: argparse.Namespace) -> Workspace:
    """The workspace named by ``-w``, ``$STUDIO_EXT_WORKSPACE``, or found from the current folder."""
    return Workspace.from_config(args.workspace)


def print_table(rows: Sequence[Mapping[str, object]], columns: list[str]) -> None:
    """A plain, aligned text table (the CLI's one output format besides JSON)."""
    if not rows:
        print("(none)")
        return
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
