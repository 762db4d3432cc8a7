"""Developer commands for the metadata store's migrations.

    python -m studio_ext.backends.local.core.migrations revision -m "add runs.priority" --autogenerate
    python -m studio_ext.backends.local.core.migrations check
    python -m studio_ext.backends.local.core.migrations history

``revision`` writes ``versions/NNNN_<message>.py`` after :data:`HEAD`; with
``--autogenerate`` Alembic fills it with what ``core/schema.py`` has and a database
at :data:`HEAD` lacks (read it: Alembic misses renames and data changes). Then set
:data:`HEAD` in ``migrations/__init__.py`` to the new revision. ``check`` exits 1
if ``core/schema.py`` and the migrations disagree.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa


def _scratch_engine(folder: str) -> sa.Engine:
    """A SQLite database brought to HEAD by the migrations."""
    from studio_ext.backends.local.core.migrations import upgrade

    engine = sa.create_engine(f"sqlite:///{Path(folder) / 'scratch.db'}")
    upgrade(engine)
    return engine


def main(argv: list[str] | None = None) -> int:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from studio_ext.backends.local.core.migrations import HEAD, VERSION_TABLE, alembic_config
    from studio_ext.backends.local.core.schema import metadata

    parser = argparse.ArgumentParser(prog="python -m studio_ext.backends.local.core.migrations")
    sub = parser.add_subparsers(dest="command", required=True)
    revision = sub.add_parser("revision", help="write a new revision after HEAD")
    revision.add_argument("-m", "--message", required=True)
    revision.add_argument("--autogenerate", action="store_true", help="fill it from core/schema.py")
    sub.add_parser("check", help="exit 1 if core/schema.py and the migrations disagree")
    sub.add_parser("history", help="list the revisions")
    args = parser.parse_args(argv)

    cfg = alembic_config()
    if args.command == "history":
        command.history(cfg)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        engine = _scratch_engine(folder)
        try:
            with engine.begin() as conn:
                if args.command == "check":
                    context = MigrationContext.configure(
                        conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
                    diffs = compare_metadata(context, metadata)
                    for diff in diffs:
                        print(diff)
                    print("core/schema.py and the migrations agree." if not diffs else
                          "core/schema.py differs from the migrations: add a revision.")
                    return 1 if diffs else 0
                cfg.attributes["connection"] = conn
                slug = re.sub(r"[^a-z0-9]+", "_", args.message.lower()).strip("_")[:40]
                rev_id = f"{int(HEAD) + 1:04d}"
                command.revision(cfg, message=args.message, autogenerate=args.autogenerate,
                                 rev_id=rev_id, head=HEAD)
                print(f"Wrote versions/{rev_id}_{slug}.py. Now set HEAD = {rev_id!r} in "
                      "studio_ext/backends/local/core/migrations/__init__.py.")
        finally:
            engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
