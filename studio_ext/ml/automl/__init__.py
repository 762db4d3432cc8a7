"""AutoML engines: featurization, guardrails, metrics, the search, ensembles, forecasting, reports.

Pure: DataFrames in, fitted scikit-learn pipelines and result objects out. The
workspace's AutoML service runs them as a job and records what they produce.
"""

from studio_ext.ml.automl.engine import (
    AutoMLResult,
    AutoMLSettings,
    Prepared,
    predictions_frame,
    prepare,
    run,
    score_test_data,
)
from studio_ext.ml.automl.featurization import FeaturizationPlan, plan_featurization
from studio_ext.ml.automl.guardrails import Guardrail, GuardrailStatus, check_guardrails
from studio_ext.ml.automl.learners import LEARNERS, learners_for, resolve_learners
from studio_ext.ml.automl.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS, PrimaryMetric, Task, parse_metric
from studio_ext.ml.automl.report import ClassificationReport, RegressionReport, report_from_dict
from studio_ext.ml.automl.search import DaskRunner, InProcessRunner, Search, SearchLimits
from studio_ext.ml.automl.trial import TrialData, TrialResult, TrialSpec, TrialStatus, run_trial
from studio_ext.ml.automl.validation import ValidationKind, ValidationPlan, plan_validation

__all__ = [
    "CLASSIFICATION_METRICS",
    "LEARNERS",
    "REGRESSION_METRICS",
    "AutoMLResult",
    "AutoMLSettings",
    "ClassificationReport",
    "DaskRunner",
    "FeaturizationPlan",
    "Guardrail",
    "GuardrailStatus",
    "InProcessRunner",
    "Prepared",
    "PrimaryMetric",
    "RegressionReport",
    "Search",
    "SearchLimits",
    "Task",
    "TrialData",
    "TrialResult",
    "TrialSpec",
    "TrialStatus",
    "ValidationKind",
    "ValidationPlan",
    "check_guardrails",
    "learners_for",
    "parse_metric",
    "plan_featurization",
    "plan_validation",
    "predictions_frame",
    "prepare",
    "report_from_dict",
    "resolve_learners",
    "run",
    "run_trial",
    "score_test_data",
]
