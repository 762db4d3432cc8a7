"""Differential privacy on OpenDP's Polars context: metadata, statistics, a SQL subset.

Pure engines: a table and its public metadata in, noisy answers with the privacy
loss OpenDP maps and 95 % intervals out; no storage, no budget (``ws.privacy``
keeps the ledger). Never hand-written noise: every release is an OpenDP measurement.

Example::

    from studio_ext.ml.privacy import ColumnMetadata, PrivacyMetadata, PrivateTable, plan_sql
    md = PrivacyMetadata(columns={"Age": ColumnMetadata(name="Age", type="int", lower=0, upper=120)})
    table = PrivateTable(df, md, name="diabetes")
    plan = table.mean("Age", epsilon=0.5)
    plan.loss()                 # (0.5, 0.0), before anything runs
    r = plan.release()          # r.value, r.epsilon, r.delta, r.interval
    plan_sql(table, "SELECT COUNT(*), AVG(Age) FROM diabetes WHERE Age > 30", epsilon=1.0).release()
"""

from studio_ext.ml.privacy._compose import compose
from studio_ext.ml.privacy._engine import ALPHA, Plan, PrivateResult, PrivateTable
from studio_ext.ml.privacy._metadata import (
    ColumnMetadata,
    PrivacyMetadata,
    check_delta,
    check_epsilon,
    infer_metadata,
    observed_extremes,
)
from studio_ext.ml.privacy._records import Comparison, PrivacyBudget, PrivacyQueryRecord
from studio_ext.ml.privacy._sql import SUPPORTED, plan_sql
from studio_ext.ml.privacy._synth import METHODS, SynthesisPlan, plan_synthesis

__all__ = [
    "ALPHA",
    "METHODS",
    "SUPPORTED",
    "ColumnMetadata",
    "Comparison",
    "Plan",
    "PrivacyBudget",
    "PrivacyMetadata",
    "PrivacyQueryRecord",
    "PrivateResult",
    "PrivateTable",
    "SynthesisPlan",
    "check_delta",
    "check_epsilon",
    "compose",
    "infer_metadata",
    "observed_extremes",
    "plan_sql",
    "plan_synthesis",
]
