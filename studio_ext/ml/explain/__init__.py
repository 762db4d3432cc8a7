"""Explanations of tabular models on their raw input columns: SHAP, mimic and permutation importance.

Pure engines: models and DataFrames in, an :class:`Explanation` out, no storage.
``ws.explanations`` runs them as jobs and stores the results with the model's run.

Example::

    from studio_ext.ml.explain import explain
    exp = explain(model, df, "income")           # TreeExplainer/LinearExplainer/Permutation, chosen for the model
    exp = explain(model, df, "income", explainer="mimic", surrogate="decision_tree")
    exp = explain(model, df, "income", explainer="pfi", metric="roc_auc", repeats=10)
"""

from studio_ext.ml.explain._api import ExplainerChoice, explain
from studio_ext.ml.explain._mimic import SurrogateKind, build_surrogate
from studio_ext.ml.explain._pfi import score_metric
from studio_ext.ml.explain._raw_features import NoRawMapping, RawFeatureMap, raw_feature_map, split_pipeline
from studio_ext.ml.explain._result import ExplainerKind, Explanation
from studio_ext.ml.explain._tabular import ShapAlgorithm, plan_tabular

__all__ = [
    "ExplainerChoice",
    "ExplainerKind",
    "Explanation",
    "NoRawMapping",
    "RawFeatureMap",
    "ShapAlgorithm",
    "SurrogateKind",
    "build_surrogate",
    "explain",
    "plan_tabular",
    "raw_feature_map",
    "score_metric",
    "split_pipeline",
]
