"""Every table of the workspace's metadata store, in one place.

Services import their tables from here; :class:`~.store.MetadataStore` brings a
database to this schema with the Alembic migrations in ``core/migrations/``
when it opens. Changing a table here is half a change: the other half is a new
revision in ``core/migrations/versions/`` that makes an existing database look
like this module (see docs/architecture.md, "Schema and migrations"). A test
checks that the migrations and this module agree.

MLflow's own tables (in the tracking store) and the run explorer's index
(``runs/index.py``, a rebuildable cache in a file of its own) are not part of
this schema.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "assets",
    "batch_deployments",
    "batch_endpoints",
    "computes",
    "jobs",
    "metadata",
    "monitor_alerts",
    "monitor_results",
    "monitors",
    "online_deployments",
    "online_endpoints",
    "online_instances",
    "pipeline_step_reuse",
    "privacy_ledger",
    "privacy_metadata",
    "privacy_queries",
    "schedule_fires",
    "schedule_timers",
    "schedules",
    "settings",
]

metadata = sa.MetaData()

# -- assets, jobs, settings ------------------------------------------------------------------

# Versioned assets of every kind (environments, datastores, datasets, models, insight
# records ...): one row per (kind, name, version), the entity as JSON.
assets = sa.Table(
    "assets",
    metadata,
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("archived", sa.Boolean, nullable=False, default=False),
    sa.Column("payload", sa.Text, nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False, unique=True),
    sa.Column("experiment_name", sa.String(255), nullable=False, index=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("compute", sa.String(255), nullable=False, index=True),
    sa.Column("parent_job_name", sa.String(255), index=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("start_time", sa.Float),
    sa.Column("end_time", sa.Float),
    sa.Column("pid", sa.Integer),
    sa.Column("pid_start", sa.Float),
    sa.Column("exit_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("finalized_at", sa.Float),
    sa.Column("spec", sa.Text, nullable=False),  # what the job runs: command, argv, code, inputs ...
)

# Small shared facts: the supervisor's pid and port, settings that panels persist.
settings = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# -- compute ----------------------------------------------------------------------------------

# What the user asked a compute target to be, and what the supervisor observed.
# Kernels and the CLI write the desired side (spec, desired state, generation and
# restart counters); the supervisor's compute duty writes the observed side.
computes = sa.Table(
    "computes",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("desired", sa.String(20), nullable=False),
    sa.Column("generation", sa.Integer, nullable=False, default=1),
    sa.Column("restarts", sa.Integer, nullable=False, default=0),
    sa.Column("force", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    # Written by the supervisor.
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("last_operation", sa.Text),
    sa.Column("current_nodes", sa.Integer, nullable=False, default=0),
    sa.Column("busy_nodes", sa.Integer, nullable=False, default=0),
    sa.Column("nodes", sa.Text, nullable=False, default="[]"),
    sa.Column("scheduler_address", sa.String(255)),
    sa.Column("dashboard_link", sa.String(255)),
    sa.Column("applied_generation", sa.Integer, nullable=False, default=0),
    sa.Column("applied_restarts", sa.Integer, nullable=False, default=0),
    sa.Column("observed_at", sa.Float),
)

# -- online endpoints -------------------------------------------------------------------------
# The services write what the user asked for (spec, traffic, generation, code version);
# the supervisor's endpoints duty writes what it saw (pid, port, state, reason). Keys are
# not here: see ``studio_ext.serving.endpoint_files``.

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

# -- differential privacy (ws.privacy) ----------------------------------------------------------
# The public privacy metadata of a dataset version (bounds, privacy unit, budget) as JSON,
# and the version whose budget it spends: its own, or an older one's when the versions
# share rows (the budget carries over unless the user states they share none).
privacy_metadata = sa.Table(
    "privacy_metadata",
    metadata,
    sa.Column("dataset", sa.String(255), primary_key=True),
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("budget_version", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
)

# One budget ledger per (dataset, budget version): the loss spent so far, as OpenDP composes
# the charges. Its row is updated first in every charge's transaction, which serialises them.
privacy_ledger = sa.Table(
    "privacy_ledger",
    metadata,
    sa.Column("dataset", sa.String(255), primary_key=True),
    sa.Column("budget_version", sa.String(64), primary_key=True),
    sa.Column("epsilon_spent", sa.Float, nullable=False, default=0.0),
    sa.Column("delta_spent", sa.Float, nullable=False, default=0.0),
    sa.Column("queries", sa.Integer, nullable=False, default=0),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# Each private query as a run record: what was asked, what it spent, when and by whom.
# No exact value, and no released value either, is stored here.
privacy_queries = sa.Table(
    "privacy_queries",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("dataset", sa.String(255), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("budget_version", sa.String(64), nullable=False),
    sa.Column("statistic", sa.String(40), nullable=False),
    sa.Column("query", sa.Text, nullable=False),
    sa.Column("epsilon", sa.Float, nullable=False),
    sa.Column("delta", sa.Float, nullable=False),
    sa.Column("caller", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_privacy_queries_budget", "dataset", "budget_version"),
)


# -- schedules (ws.schedules) -------------------------------------------------------------------
# A schedule's desired state: enabled or not, its trigger and what each fire does (payload JSON).
# ``revision`` grows with every change the supervisor must act on; its slots count from ``enabled_at``.
schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("is_enabled", sa.Boolean, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("enabled_at", sa.Float, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
)

# Every time slot a schedule reached, decided once: the (schedule, slot) key is written before a
# fire's job is created, so no slot fires twice; skipped and folded slots say why.
schedule_fires = sa.Table(
    "schedule_fires",
    metadata,
    sa.Column("schedule_name", sa.String(255), primary_key=True),
    sa.Column("slot", sa.Float, primary_key=True),  # the fire time, seconds since the epoch (UTC)
    sa.Column("decision", sa.String(20), nullable=False),  # firing, fired, failed, skipped, folded
    sa.Column("job_name", sa.String(255)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.Float, nullable=False),
)

# APScheduler's SQLAlchemy job store (its own layout: id, next_run_time, the pickled job), one
# timer per enabled schedule, kept by the supervisor's schedules duty.
schedule_timers = sa.Table(
    "schedule_timers",
    metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary, nullable=False),
)

# Pipeline step reuse: a completed step's recipe (component, code snapshot hash, environment, input
# content hashes, parameters) -> the job that ran it, so an unchanged step is reused, not rerun.
pipeline_step_reuse = sa.Table(
    "pipeline_step_reuse",
    metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("job_name", sa.String(255), nullable=False),
    sa.Column("step", sa.String(255), nullable=False),
    sa.Column("component", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)


# -- batch endpoints (ws.batch_endpoints, ws.batch_deployments) ----------------------------------
# An endpoint's description and tags (spec JSON) and its default deployment; its keys are in
# ``batch/NAME/keys.json`` (0600), as an online endpoint's. A deployment's spec is frozen at
# create, with its scoring spec and code snapshot in ``batch/ENDPOINT/DEPLOYMENT/``.
batch_endpoints = sa.Table(
    "batch_endpoints",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),  # description, tags, properties, auth_mode
    sa.Column("default_deployment", sa.String(64)),
    sa.Column("provisioning_state", sa.String(20), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

batch_deployments = sa.Table(
    "batch_deployments",
    metadata,
    sa.Column("endpoint_name", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(20), nullable=False),  # "model" or "pipeline", as Azure's deployment type
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("provisioning_state", sa.String(20), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)


# -- monitors (ws.data_drift, monitor schedules) -------------------------------------------------
# A monitor's definition (kind "data_drift": a v1 dataset monitor; "model": a v2 MonitorSchedule's
# MonitorDefinition, its v2 mapping) as JSON; its schedule, when it has one, is a ``schedules`` row
# whose action is {"kind": "monitor", "monitor": NAME}.
monitors = sa.Table(
    "monitors",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("schedule_name", sa.String(255)),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# One row per (monitor, signal, window): what the window's run found (a later run of the same
# window replaces it). Written by the monitor run job.
monitor_results = sa.Table(
    "monitor_results",
    metadata,
    sa.Column("monitor", sa.String(255), primary_key=True),
    sa.Column("signal", sa.String(255), primary_key=True),
    sa.Column("window_start", sa.Float, primary_key=True),  # seconds since the epoch (UTC)
    sa.Column("window_end", sa.Float, nullable=False),
    sa.Column("job_name", sa.String(255)),
    sa.Column("backfill", sa.Boolean, nullable=False),
    sa.Column("drift_magnitude", sa.Float),  # None: no data
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.Float, nullable=False),
)

# A signal over its threshold in one window, and what its notification did.
monitor_alerts = sa.Table(
    "monitor_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("monitor", sa.String(255), nullable=False, index=True),
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
    sa.Column("payload", sa.Text, nullable=False),  # message, emails and their status, webhook and its status
)
