"""AutoML engines: featurization, guardrails, metrics, the search, ensembles, forecasting, reports.

Pure: DataFrames in, fitted scikit-learn pipelines and result objects out. The
workspace's AutoML service runs them as a job and records what they produce.
"""

from .engine import AutoMLResult, AutoMLSettings, Prepared, predictions_frame, prepare, run, score_test_data
from .featurization import FeaturizationPlan, plan_featurization
from .guardrails import Guardrail, GuardrailStatus, check_guardrails
from .learners import LEARNERS, learners_for, resolve_learners
from .metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS, PrimaryMetric, Task, parse_metric
from .report import ClassificationReport, RegressionReport, report_from_dict
from .search import DaskRunner, InProcessRunner, Search, SearchLimits
from .trial import TrialData, TrialResult, TrialSpec, TrialStatus, run_trial
from .validation import ValidationKind, ValidationPlan, plan_validation

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
