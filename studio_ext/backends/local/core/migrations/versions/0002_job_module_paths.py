"""Queued jobs of 0.1.0 name job modules that have moved: point them at the new homes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

The local backend was regrouped by capability, so ``python -m`` paths that a job
queued by the previous release stores in ``jobs.spec`` (its command and argv) no
longer exist. Jobs that have not finished get the new paths; finished jobs keep
the record of what ran.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MOVED = {
    "studio_ext.backends.local.automl_run": "studio_ext.backends.local.automl.run",
    "studio_ext.backends.local.insight_job": "studio_ext.backends.local.insights.job",
    "studio_ext.backends.local.warm_start": "studio_ext.backends.local.automl.warm_start",
    "studio_ext.serving.supervisor": "studio_ext.backends.local.runtime.supervisor",
}
FINISHED = ("Completed", "Failed", "Canceled")  # JobStatus values, frozen here
_jobs = sa.table("jobs", sa.column("name", sa.String), sa.column("status", sa.String),
                 sa.column("spec", sa.Text))


def _rewrite(mapping: dict[str, str]) -> None:
    pattern = re.compile(r"(?<![\w.])(" + "|".join(re.escape(old) for old in mapping) + r")(?![\w.])")
    conn = op.get_bind()
    rows = conn.execute(sa.select(_jobs.c.name, _jobs.c.spec).where(_jobs.c.status.not_in(FINISHED))).all()
    for name, spec in rows:
        new = pattern.sub(lambda m: mapping[m.group(1)], spec)
        if new != spec:
            conn.execute(_jobs.update().where(_jobs.c.name == name).values(spec=new))


def upgrade() -> None:
    _rewrite(MOVED)


def downgrade() -> None:
    _rewrite({new: old for old, new in MOVED.items()})
