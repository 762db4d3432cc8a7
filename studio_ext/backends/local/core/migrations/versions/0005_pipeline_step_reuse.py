"""Pipelines: the step reuse index (a completed step's recipe hash -> the job that ran it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

A new table only; no existing row changes. The definition is a frozen copy of
``core/schema.py``'s at this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_step_reuse",
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("job_name", sa.String(255), nullable=False),
        sa.Column("step", sa.String(255), nullable=False),
        sa.Column("component", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("fingerprint"),
    )


def downgrade() -> None:
    op.drop_table("pipeline_step_reuse")
