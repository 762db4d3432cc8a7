"""Explanations on the Adult census: the right explainer, raw columns, additive values, clear refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studio_ext.errors import InvalidInput
from studio_ext.ml.census import census_pipeline
from studio_ext.ml.explain import ExplainerKind, Explanation, explain, raw_feature_map

RAW = ["age", "workclass", "education", "education_num", "marital_status", "occupation", "relationship",
       "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country"]


def test_tree_model_in_a_pipeline_is_explained_exactly_on_raw_columns(adult, adult_gbm) -> None:
    exp = explain(adult_gbm, adult, "income", sample=400)
    assert exp.kind is ExplainerKind.TABULAR and exp.method == "shap.TreeExplainer"
    assert exp.features == RAW and set(exp.global_importance) == set(RAW)
    assert exp.outputs == [">50K"] and exp.output_space == "log-odds"
    assert "summed back to 13 raw columns" in exp.notes[0]
    assert exp.local_importance.shape == (400, 13)
    # Summing one-hot contributions keeps SHAP's additivity: base + contributions = the model's log-odds.
    margin = adult_gbm.decision_function(exp.data)
    np.testing.assert_allclose(exp.expected_value[0] + exp.values[:, :, 0].sum(axis=1), margin, atol=1e-6)
    top = exp.top_features(3)
    assert {"relationship", "marital_status", "capital_gain", "education_num", "age"} & set(top)
    assert exp.sampling["rows_explained"] == 400 and exp.sampling["rows_total"] == 3000
    assert exp.predictions.shape == (400,)
    np.testing.assert_array_equal(exp.predictions, adult_gbm.predict(exp.data))


@pytest.mark.parametrize("make", ["forest", "multiclass"])
def test_tree_classifiers_predictions_match_the_model(adult, make: str) -> None:
    """Predicted classes are read off the SHAP values' sums; they must be the model's own."""
    from lightgbm import LGBMClassifier
    from sklearn.ensemble import RandomForestClassifier

    data = adult.copy()
    if make == "multiclass":
        data["income"] = pd.cut(data["age"], [0, 30, 45, 120], labels=["young", "middle", "older"]).astype(str)
        data = data.drop(columns="age")
        estimator = LGBMClassifier(n_estimators=20, verbose=-1, random_state=0)  # log-odds per class
    else:
        estimator = RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0)  # probabilities
    X = data.drop(columns="income")
    model = census_pipeline(X, estimator).fit(X, data["income"])
    exp = explain(model, data, "income", sample=500)
    assert exp.method == "shap.TreeExplainer"
    np.testing.assert_array_equal(exp.predictions, model.predict(exp.data))


def test_linear_model_uses_linear_explainer_and_stays_additive(adult, adult_logistic) -> None:
    exp = explain(adult_logistic, adult, "income", sample=300)
    assert exp.method == "shap.LinearExplainer"
    margin = adult_logistic.decision_function(exp.data)
    np.testing.assert_allclose(exp.expected_value[0] + exp.values[:, :, 0].sum(axis=1), margin, atol=1e-6)
    # Asking for the other class of a one-score model negates the score.
    other = explain(adult_logistic, adult, "income", sample=300, classes=["<=50K"])
    np.testing.assert_allclose(other.values[:, :, 0], -exp.values[:, :, 0])


@pytest.mark.slow
def test_other_models_get_a_model_agnostic_explainer_on_raw_columns(adult) -> None:
    from sklearn.neural_network import MLPClassifier

    X = adult.drop(columns="income")
    mlp = census_pipeline(X, MLPClassifier((8,), max_iter=200, random_state=0)).fit(X, adult["income"])
    exp = explain(mlp, adult, "income", sample=8, background=20)
    assert exp.method == "shap.KernelExplainer" and exp.outputs == ["<=50K", ">50K"]
    assert exp.output_space == "probability" and exp.features == RAW
    assert "explained a random sample of 8 of 3,000 rows" in exp.notes[-1]
    proba = mlp.predict_proba(exp.data)
    # Kernel SHAP is additive by construction: base + contributions = the predicted probability.
    np.testing.assert_allclose(np.asarray(exp.expected_value)[None, :] + exp.values.sum(axis=1), proba, atol=1e-6)
    # local_importance reads each row's predicted class.
    predicted = np.asarray(exp.predictions)
    k = np.where(predicted == ">50K", 1, 0)
    np.testing.assert_allclose(exp.local_importance.to_numpy(), exp.values[np.arange(8), :, k])


@pytest.mark.slow
def test_featurization_that_mixes_columns_is_explained_as_a_whole(adult) -> None:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    numeric = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
    model = Pipeline([("scale", StandardScaler()), ("pca", PCA(n_components=3)),
                      ("model", LogisticRegression())]).fit(adult[numeric], adult["income"])
    exp = explain(model, adult, "income", features=numeric, sample=5, background=10)
    assert exp.method == "shap.KernelExplainer" and exp.features == numeric
    assert "whole model over its raw columns" in exp.notes[0] and "PCA" in exp.notes[0]
    with pytest.raises(InvalidInput, match="The linear explainer cannot be used: the step PCA"):
        explain(model, adult, "income", features=numeric, algorithm="linear")


def test_mimic_surrogates_report_fidelity_and_raw_importances(adult, adult_gbm) -> None:
    for surrogate in ("lightgbm", "linear", "decision_tree"):
        exp = explain(adult_gbm, adult, "income", explainer="mimic", surrogate=surrogate, sample=2000)
        assert exp.kind is ExplainerKind.MIMIC and exp.method.startswith(f"mimic:{surrogate}+shap.")
        assert exp.fidelity["metric"] == "accuracy" and exp.fidelity["surrogate"] == surrogate
        assert exp.fidelity["value"] > 0.85, (surrogate, exp.fidelity)
        assert exp.features == RAW and exp.local_importance.shape == (2000, 13)
        # predictions are the model's own, which the surrogate imitates
        assert list(exp.predictions[:20]) == list(adult_gbm.predict(exp.data.iloc[:20]))


def test_mimic_of_a_regressor_reports_r2() -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    data = load_diabetes(as_frame=True).frame
    model = Ridge(alpha=0.1).fit(data.drop(columns="target"), data["target"])
    exp = explain(model, data, "target", explainer="mimic", surrogate="linear")
    # a linear surrogate can imitate a linear model almost perfectly; a depth-8 tree cannot
    assert exp.fidelity["metric"] == "r2" and exp.fidelity["value"] > 0.99
    assert exp.outputs == ["prediction"] and exp.output_space == "prediction"
    tree = explain(model, data, "target", explainer="mimic", surrogate="decision_tree")
    assert tree.fidelity["value"] < exp.fidelity["value"]


def test_permutation_importance_has_error_bars_and_the_chosen_metric(adult, adult_gbm) -> None:
    exp = explain(adult_gbm, adult, "income", explainer="pfi", metric="roc_auc", repeats=3, sample=1500)
    assert exp.kind is ExplainerKind.PFI and exp.metric == "roc_auc"
    assert set(exp.global_importance) == set(RAW) and set(exp.importance_std) == set(RAW)
    assert all(v >= 0 for v in exp.importance_std.values())
    assert max(exp.global_importance.values()) > 0.01
    assert exp.local_importance is None and not exp.has_local
    assert exp.sampling["repeats"] == 3


def test_bad_input_is_refused_before_any_work(adult, adult_gbm, adult_logistic) -> None:
    with pytest.raises(InvalidInput, match="asks for 5,000 rows but the data has only 3,000"):
        explain(adult_gbm, adult, "income", sample=5000)
    with pytest.raises(InvalidInput, match="The features 'salary' are not in the data"):
        explain(adult_gbm, adult, "income", features=["age", "salary"])
    with pytest.raises(InvalidInput, match="it was trained with workclass, education"):
        explain(adult_gbm, adult, "income", features=["age", "sex"])
    with pytest.raises(InvalidInput, match="TreeExplainer does not support LogisticRegression"):
        explain(adult_logistic, adult, "income", algorithm="tree")
    with pytest.raises(InvalidInput, match="'explainer' parameter must be one of 'auto', 'tabular', 'mimic', 'pfi'"):
        explain(adult_gbm, adult, "income", explainer="lime")
    with pytest.raises(InvalidInput, match="The metric 'r2' is a regression metric but the model is a classification"):
        explain(adult_gbm, adult, "income", explainer="pfi", metric="r2")
    with pytest.raises(InvalidInput, match="pass target_column="):
        explain(adult_gbm, adult.drop(columns="income"), explainer="pfi")
    with pytest.raises(InvalidInput, match="The classes 'rich' are not classes of the model"):
        explain(adult_gbm, adult, "income", classes=["rich"])
    with pytest.raises(InvalidInput, match="The target column 'salary' is not in the data"):
        explain(adult_gbm, adult, "salary")


def test_regression_model_refuses_classification_metric_and_classes() -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    data = load_diabetes(as_frame=True).frame
    model = Ridge().fit(data.drop(columns="target"), data["target"])
    with pytest.raises(InvalidInput, match="The metric 'accuracy' is a classification metric but the model is a regression model"):
        explain(model, data, "target", explainer="pfi", metric="accuracy")
    with pytest.raises(InvalidInput, match="the model is a regression model, which has no classes"):
        explain(model, data, "target", classes=["1"])
    exp = explain(model, data, "target")
    assert exp.method == "shap.LinearExplainer" and exp.outputs == ["prediction"]


def test_explanations_round_trip_through_files_without_pickles(tmp_path, adult, adult_gbm) -> None:
    exp = explain(adult_gbm, adult, "income", sample=200)
    exp.metadata["name"] = "exp-1"
    exp.save(tmp_path / "exp")
    assert not list((tmp_path / "exp").glob("*.pkl"))
    back = Explanation.load(tmp_path / "exp")
    assert back.name == "exp-1" and back.method == exp.method
    assert back.global_importance == pytest.approx(exp.global_importance)
    pd.testing.assert_frame_equal(back.local_importance.reset_index(drop=True),
                                  exp.local_importance.reset_index(drop=True))
    assert list(back.data.columns) == RAW and len(back.predictions) == 200
    mask = back.data["sex"] == "Female"
    assert set(back.cohort_importance(mask)) == set(RAW)


def test_raw_feature_map_follows_one_hot_names_back_to_columns(adult, adult_gbm) -> None:
    mapping = raw_feature_map(adult_gbm[:-1], RAW)
    names = adult_gbm[:-1].get_feature_names_out()
    for name, owner in zip(names, mapping.owner):
        raw = RAW[owner]
        # 'cat__education_Bachelors' belongs to education, never to education_num
        assert name.split("__", 1)[1] == raw or name.split("__", 1)[1].startswith(raw + "_")
    assert sorted(set(mapping.owner)) == list(range(13))
