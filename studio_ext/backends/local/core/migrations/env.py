"""Alembic's environment for the metadata store (run by ``alembic`` commands, not imported).

At run time :func:`studio_ext.backends.local.core.migrations.upgrade` hands a
connection in ``config.attributes["connection"]``, already in a transaction and
under the schema lock. ``python -m studio_ext.backends.local.core.migrations``
(for developers) does the same with a scratch database.
"""

from __future__ import annotations

from alembic import context

from studio_ext.backends.local.core.migrations import VERSION_TABLE
from studio_ext.backends.local.core.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite alters a table by copying it: let Alembic write that
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
