"""Batch endpoints: the endpoints and their deployments (ws.batch_endpoints, ws.batch_deployments).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

New tables only; no existing row changes. The definitions are frozen copies of
``core/schema.py``'s at this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_endpoints",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("default_deployment", sa.String(64)),
        sa.Column("provisioning_state", sa.String(20), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "batch_deployments",
        sa.Column("endpoint_name", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("provisioning_state", sa.String(20), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("endpoint_name", "name"),
    )


def downgrade() -> None:
    op.drop_table("batch_deployments")
    op.drop_table("batch_endpoints")
