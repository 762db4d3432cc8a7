"""Differential privacy: per-version metadata, a budget ledger and the query records.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

New tables only; no existing row changes. The definitions are frozen copies of
``core/schema.py``'s at this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_metadata",
        sa.Column("dataset", sa.String(255), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("budget_version", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("dataset", "version"),
    )
    op.create_table(
        "privacy_ledger",
        sa.Column("dataset", sa.String(255), nullable=False),
        sa.Column("budget_version", sa.String(64), nullable=False),
        sa.Column("epsilon_spent", sa.Float, nullable=False),
        sa.Column("delta_spent", sa.Float, nullable=False),
        sa.Column("queries", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("dataset", "budget_version"),
    )
    op.create_table(
        "privacy_queries",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("dataset", sa.String(255), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("budget_version", sa.String(64), nullable=False),
        sa.Column("statistic", sa.String(40), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("epsilon", sa.Float, nullable=False),
        sa.Column("delta", sa.Float, nullable=False),
        sa.Column("caller", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_privacy_queries_budget", "privacy_queries", ["dataset", "budget_version"])


def downgrade() -> None:
    op.drop_index("ix_privacy_queries_budget", "privacy_queries")
    op.drop_table("privacy_queries")
    op.drop_table("privacy_ledger")
    op.drop_table("privacy_metadata")
