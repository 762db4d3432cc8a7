"""AutoML engines: featurization, guardrails, metrics, the search, ensembles, forecasting, reports.

Pure: DataFrames in, fitted scikit-learn pipelines and result objects out. The
workspace's AutoML service runs them as a job and records what they produce.
"""

from studio_ext.ml.automl.engine import AutoMLResult, AutoMLSettings, Prepared, predictions_frame, prepare, run, score_test_data
from studio_ext.ml.automl.featurization import FeaturizationPlan, plan_featurization
from studio_ext.ml.automl.guardrails import Guardrail, GuardrailStatus, check_guardrails
from studio_ext.ml.automl.learners import LEARNERS, learners_for, resolve_learners
from studio_ext.ml.automl.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS, PrimaryMetric, Task, parse_metric
from studio_ext.ml.automl.report import ClassificationReport, RegressionReport, report_from_dict
from studio_ext.ml.automl.search import DaskRunner, InProcessRunner, Search, SearchLimits
from studio_ext.ml.automl.trial import TrialData, TrialResult, TrialSpec, TrialStatus, run_trial
from studio_ext.ml.automl.validation import ValidationKind, ValidationPlan, plan_validation

__all__ = [
    "AutoMLResult", "AutoMLSettings", "Prepared", "prepare", "run", "predictions_frame", "score_test_data",
    "FeaturizationPlan", "plan_featurization",
    "Guardrail", "GuardrailStatus", "check_guardrails",
    "LEARNERS", "learners_for", "resolve_learners",
    "CLASSIFICATION_METRICS", "REGRESSION_METRICS", "PrimaryMetric", "Task", "parse_metric",
    "ClassificationReport", "RegressionReport", "report_from_dict",
    "DaskRunner", "InProcessRunner", "Search", "SearchLimits",
    "TrialData", "TrialResult", "TrialSpec", "TrialStatus", "run_trial",
    "ValidationKind", "ValidationPlan", "plan_validation",
]
