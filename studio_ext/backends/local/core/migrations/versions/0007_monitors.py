"""Monitors: definitions, per-window results and alerts (ws.data_drift, monitor schedules).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

New tables only; no existing row changes. The definitions are frozen copies of
``core/schema.py``'s at this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("schedule_name", sa.String(255)),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "monitor_results",
        sa.Column("monitor", sa.String(255), nullable=False),
        sa.Column("signal", sa.String(255), nullable=False),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.Column("window_end", sa.Float, nullable=False),
        sa.Column("job_name", sa.String(255)),
        sa.Column("backfill", sa.Boolean, nullable=False),
        sa.Column("drift_magnitude", sa.Float),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("monitor", "signal", "window_start"),
    )
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("monitor", sa.String(255), nullable=False),
        sa.Column("signal", sa.String(255), nullable=False),
        sa.Column("feature", sa.String(255)),
        sa.Column("metric", sa.String(100), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("window_start", sa.Float),
        sa.Column("window_end", sa.Float),
        sa.Column("job_name", sa.String(255)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("acknowledged", sa.Boolean, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_monitor_alerts_monitor", "monitor_alerts", ["monitor"])


def downgrade() -> None:
    op.drop_index("ix_monitor_alerts_monitor", table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
    op.drop_table("monitor_results")
    op.drop_table("monitors")
