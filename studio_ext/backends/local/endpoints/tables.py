"""The metadata tables of online endpoints and deployments (desired and observed state).

The services write what the user asked for (spec, traffic, generation, code
version); the supervisor's endpoints duty writes what it saw (pid, port, state,
reason). Keys are not here: see ``studio_ext.serving.endpoint_files``.
"""

from __future__ import annotations

import sqlalchemy as sa

from studio_ext.backends.local.core.store import metadata

online_endpoints = sa.Table(
    "online_endpoints",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),  # auth_mode, description, tags, traffic, mirror_traffic
    sa.Column("revision", sa.Integer, nullable=False, default=1),  # bumped by every update
    sa.Column("applied_revision", sa.Integer, nullable=False, default=0),  # what the router serves
    sa.Column("provisioning_state", sa.String(20), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("port", sa.Integer),
    sa.Column("pid", sa.Integer),
    sa.Column("pid_start", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

online_deployments = sa.Table(
    "online_deployments",
    metadata,
    sa.Column("endpoint_name", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False, default=1),  # bumped by every update
    sa.Column("running_generation", sa.Integer, nullable=False, default=0),
    sa.Column("code_version", sa.Integer, nullable=False, default=0),  # bumped by every reload
    sa.Column("loaded_code_version", sa.Integer, nullable=False, default=0),
    sa.Column("provisioning_state", sa.String(20), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("port", sa.Integer),
    sa.Column("pid", sa.Integer),
    sa.Column("pid_start", sa.Float),
    sa.Column("started_at", sa.Float),
    sa.Column("restarts", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# One row per server process of a deployment: ``instance_count`` of them per generation.
# During a rolling update the new generation's instances start beside the running ones;
# the deployment's ``running_generation`` says which of them the router sends traffic to.
online_instances = sa.Table(
    "online_instances",
    metadata,
    sa.Column("endpoint_name", sa.String(64), primary_key=True),
    sa.Column("deployment_name", sa.String(64), primary_key=True),
    sa.Column("generation", sa.Integer, primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),  # the deployment spec this instance was started with
    sa.Column("state", sa.String(20), nullable=False),  # Creating/Healthy/Unhealthy/Failed/Draining/Stopping
    sa.Column("reason", sa.Text),
    sa.Column("port", sa.Integer),
    sa.Column("pid", sa.Integer),
    sa.Column("pid_start", sa.Float),
    sa.Column("started_at", sa.Float),
    sa.Column("loaded_code_version", sa.Integer, nullable=False, default=0),
    sa.Column("restarts", sa.Integer, nullable=False, default=0),
    sa.Column("updated_at", sa.Float, nullable=False),
)
