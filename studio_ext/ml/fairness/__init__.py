"""Fairness of a model across sensitive groups: assessment and mitigation, on fairlearn.

Pure engines: models and DataFrames in, results out, no storage. ``ws.fairness``
runs them on registered models and datasets and stores the results with the runs.

Example::

    from studio_ext.ml.fairness import assess, mitigate
    a = assess(model, adult, "income", ["sex"])
    a.summary["sex"]["demographic_parity_difference"]
    r = mitigate(model, adult, "income", ["sex"], method="grid_search", constraint="equalized_odds")
    [r.candidates[i].name for i in r.pareto_front]
"""

from studio_ext.ml.fairness._assess import (
    DEFAULT_METRICS,
    METRICS,
    FairnessAssessment,
    assess,
    assess_predictions,
    group_order,
    sensitive_frame,
)
from studio_ext.ml.fairness._mitigate import (
    DISPARITY_OF,
    Candidate,
    FairnessConstraint,
    MitigatedModel,
    MitigationMethod,
    MitigationResult,
    check_mitigation,
    mitigate,
    pareto_front,
)

__all__ = [
    "DEFAULT_METRICS",
    "DISPARITY_OF",
    "METRICS",
    "Candidate",
    "FairnessAssessment",
    "FairnessConstraint",
    "MitigatedModel",
    "MitigationMethod",
    "MitigationResult",
    "assess",
    "assess_predictions",
    "check_mitigation",
    "group_order",
    "mitigate",
    "pareto_front",
    "sensitive_frame",
]
