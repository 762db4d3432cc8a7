"""ONNX Runtime serves a tree model's predict only when it gives scikit-learn's answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression

from studio_ext.serving.onnx_predict import _agrees, onnx_predictor


def test_a_boosted_classifier_gets_a_twin_with_the_same_labels_on_unseen_rows():
    X, y = load_breast_cancer(return_X_y=True)
    model = GradientBoostingClassifier(n_estimators=60, random_state=0).fit(X[:400], y[:400])
    twin = onnx_predictor(model, X[:2], X.shape[1])
    assert twin is not None
    rng = np.random.default_rng(1)
    rows = X[400:] * rng.uniform(0.7, 1.3, X[400:].shape)
    np.testing.assert_array_equal(twin.predict(rows), model.predict(rows))
    assert twin.predict(rows[:1]).shape == (1,)
    assert 16 <= twin.max_rows  # small batches at least: where scikit-learn's per-call checks dominate


def test_a_forest_regressor_twin_agrees_to_a_hundred_thousandth():
    X, y = load_diabetes(return_X_y=True)
    model = RandomForestRegressor(n_estimators=30, random_state=0).fit(X[:350], y[:350])
    twin = onnx_predictor(model, X[:5], X.shape[1])
    assert twin is not None
    np.testing.assert_allclose(twin.predict(X[350:]), model.predict(X[350:]), rtol=1e-5)


def test_linear_models_and_the_switch_keep_scikit_learn(monkeypatch):
    X, y = load_breast_cancer(return_X_y=True)
    assert onnx_predictor(LogisticRegression(max_iter=5000).fit(X, y), X[:2], X.shape[1]) is None
    monkeypatch.setenv("STUDIO_EXT_ONNX", "0")
    assert onnx_predictor(GradientBoostingClassifier(n_estimators=5).fit(X, y), X[:2], X.shape[1]) is None


@pytest.mark.parametrize(("expected", "got", "classifier", "same"), [
    (np.array([0, 1, 1]), np.array([0, 1, 1]), True, True),
    (np.array([0, 1, 1]), np.array([0, 1, 0]), True, False),
    (np.array([100.0, 200.0]), np.array([100.0005, 200.0]), False, True),
    (np.array([100.0, 200.0]), np.array([100.1, 200.0]), False, False),
    (np.array([1.0, 2.0]), np.array([[1.0], [2.0]]), False, False),
])
def test_a_twin_that_disagrees_is_not_used(expected, got, classifier, same):
    assert _agrees(expected, got, classifier) is same
