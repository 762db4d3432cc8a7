"""Baseline: the metadata store as studio-ext 0.1.0 made it.

Revision ID: 0001
Revises:
Create Date: 2026-12-07

Workspaces made before schema versions existed already have these tables (all of
them, or those their services had touched); each table is created only if it is
missing, so such a workspace is brought under versioning without losing a row.
The definitions are frozen copies: ``core/schema.py`` moves on, this file does not.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> list[tuple[str, list[sa.SchemaItem], list[tuple[str, list[str], bool]]]]:
    """(name, columns and constraints, indexes as (name, columns, unique)) of each table."""
    return [
        ("assets", [
            sa.Column("kind", sa.String(40), nullable=False),
            sa.Column("name", sa.String(255), nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("archived", sa.Boolean, nullable=False),
            sa.Column("payload", sa.Text, nullable=False),
            sa.PrimaryKeyConstraint("kind", "name", "version"),
        ], []),
        ("jobs", [
            sa.Column("name", sa.String(255), nullable=False),
            sa.Column("run_id", sa.String(64), nullable=False),
            sa.Column("experiment_name", sa.String(255), nullable=False),
            sa.Column("type", sa.String(40), nullable=False),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("compute", sa.String(255), nullable=False),
            sa.Column("parent_job_name", sa.String(255)),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("start_time", sa.Float),
            sa.Column("end_time", sa.Float),
            sa.Column("pid", sa.Integer),
            sa.Column("pid_start", sa.Float),
            sa.Column("exit_code", sa.Integer),
            sa.Column("error", sa.Text),
            sa.Column("finalized_at", sa.Float),
            sa.Column("spec", sa.Text, nullable=False),
            sa.PrimaryKeyConstraint("name"),
            sa.UniqueConstraint("run_id"),
        ], [
            ("ix_jobs_compute", ["compute"], False),
            ("ix_jobs_experiment_name", ["experiment_name"], False),
            ("ix_jobs_parent_job_name", ["parent_job_name"], False),
            ("ix_jobs_status", ["status"], False),
        ]),
        ("settings", [
            sa.Column("key", sa.String(255), nullable=False),
            sa.Column("value", sa.Text, nullable=False),
            sa.PrimaryKeyConstraint("key"),
        ], []),
        ("online_endpoints", [
            sa.Column("name", sa.String(64), nullable=False),
            sa.Column("spec", sa.Text, nullable=False),
            sa.Column("revision", sa.Integer, nullable=False),
            sa.Column("applied_revision", sa.Integer, nullable=False),
            sa.Column("provisioning_state", sa.String(20), nullable=False),
            sa.Column("error", sa.Text),
            sa.Column("port", sa.Integer),
            sa.Column("pid", sa.Integer),
            sa.Column("pid_start", sa.Float),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False),
            sa.PrimaryKeyConstraint("name"),
        ], []),
        ("online_deployments", [
            sa.Column("endpoint_name", sa.String(64), nullable=False),
            sa.Column("name", sa.String(64), nullable=False),
            sa.Column("spec", sa.Text, nullable=False),
            sa.Column("generation", sa.Integer, nullable=False),
            sa.Column("running_generation", sa.Integer, nullable=False),
            sa.Column("code_version", sa.Integer, nullable=False),
            sa.Column("loaded_code_version", sa.Integer, nullable=False),
            sa.Column("provisioning_state", sa.String(20), nullable=False),
            sa.Column("state", sa.String(20), nullable=False),
            sa.Column("reason", sa.Text),
            sa.Column("port", sa.Integer),
            sa.Column("pid", sa.Integer),
            sa.Column("pid_start", sa.Float),
            sa.Column("started_at", sa.Float),
            sa.Column("restarts", sa.Integer, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False),
            sa.PrimaryKeyConstraint("endpoint_name", "name"),
        ], []),
        ("online_instances", [
            sa.Column("endpoint_name", sa.String(64), nullable=False),
            sa.Column("deployment_name", sa.String(64), nullable=False),
            sa.Column("generation", sa.Integer, nullable=False),
            sa.Column("idx", sa.Integer, nullable=False),
            sa.Column("spec", sa.Text, nullable=False),
            sa.Column("state", sa.String(20), nullable=False),
            sa.Column("reason", sa.Text),
            sa.Column("port", sa.Integer),
            sa.Column("pid", sa.Integer),
            sa.Column("pid_start", sa.Float),
            sa.Column("started_at", sa.Float),
            sa.Column("loaded_code_version", sa.Integer, nullable=False),
            sa.Column("restarts", sa.Integer, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False),
            sa.PrimaryKeyConstraint("endpoint_name", "deployment_name", "generation", "idx"),
        ], []),
        ("computes", [
            sa.Column("name", sa.String(64), nullable=False),
            sa.Column("type", sa.String(40), nullable=False),
            sa.Column("spec", sa.Text, nullable=False),
            sa.Column("desired", sa.String(20), nullable=False),
            sa.Column("generation", sa.Integer, nullable=False),
            sa.Column("restarts", sa.Integer, nullable=False),
            sa.Column("force", sa.Boolean, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("state", sa.String(20), nullable=False),
            sa.Column("error", sa.Text),
            sa.Column("last_operation", sa.Text),
            sa.Column("current_nodes", sa.Integer, nullable=False),
            sa.Column("busy_nodes", sa.Integer, nullable=False),
            sa.Column("nodes", sa.Text, nullable=False),
            sa.Column("scheduler_address", sa.String(255)),
            sa.Column("dashboard_link", sa.String(255)),
            sa.Column("applied_generation", sa.Integer, nullable=False),
            sa.Column("applied_restarts", sa.Integer, nullable=False),
            sa.Column("observed_at", sa.Float),
            sa.PrimaryKeyConstraint("name"),
        ], []),
    ]


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, items, indexes in _tables():
        if name in existing:  # made by a release before schema versions: keep it and its rows
            continue
        op.create_table(name, *items)
        for index, columns, unique in indexes:
            op.create_index(index, name, columns, unique=unique)


def downgrade() -> None:
    for name, _items, _indexes in reversed(_tables()):
        op.drop_table(name)
