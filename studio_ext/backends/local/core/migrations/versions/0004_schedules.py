"""Schedules: their desired state, every slot's decision, and APScheduler's job store.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

New tables only; no existing row changes. The definitions are frozen copies of
``core/schema.py``'s at this revision (``schedule_timers`` has APScheduler's own
SQLAlchemy job store layout, so its store finds the table made).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("is_enabled", sa.Boolean, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("enabled_at", sa.Float, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "schedule_fires",
        sa.Column("schedule_name", sa.String(255), nullable=False),
        sa.Column("slot", sa.Float, nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("job_name", sa.String(255)),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("schedule_name", "slot"),
    )
    op.create_table(
        "schedule_timers",
        sa.Column("id", sa.Unicode(191), nullable=False),
        sa.Column("next_run_time", sa.Float(25)),
        sa.Column("job_state", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_schedule_timers_next_run_time", "schedule_timers", ["next_run_time"])


def downgrade() -> None:
    op.drop_index("ix_schedule_timers_next_run_time", "schedule_timers")
    op.drop_table("schedule_timers")
    op.drop_table("schedule_fires")
    op.drop_table("schedules")
