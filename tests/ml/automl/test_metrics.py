"""Azure's metric names, computed as scikit-learn computes them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from studio_ext.errors import InvalidInput
from studio_ext.ml.automl import PrimaryMetric, Task, parse_metric
from studio_ext.ml.automl.metrics import classification_scores, loss_of, primary_score, regression_scores


@pytest.mark.parametrize("k", [2, 4])
def test_classification_metrics_match_scikit_learn(k: int) -> None:
    rng = np.random.default_rng(k)
    y = rng.integers(0, k, 400)
    proba = rng.dirichlet(np.ones(k), 400)
    proba[np.arange(400), y] += rng.random(400)
    proba /= proba.sum(axis=1, keepdims=True)
    ours = classification_scores(y, proba, np.arange(k))
    pred = proba.argmax(axis=1)
    onehot = np.eye(k)[y]
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert ours["precision_score_weighted"] == pytest.approx(skm.precision_score(y, pred, average="weighted"))
    assert ours["AUC_weighted"] == pytest.approx(skm.roc_auc_score(onehot, proba, average="weighted"))
    assert ours["average_precision_score_weighted"] == pytest.approx(
        skm.average_precision_score(onehot, proba, average="weighted"))
    macro = skm.recall_score(y, pred, average="macro")
    assert ours["norm_macro_recall"] == pytest.approx((macro - 1 / k) / (1 - 1 / k))
    assert ours["log_loss"] == pytest.approx(skm.log_loss(y, proba))


def test_regression_metrics_are_normalized_by_the_range() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(10, 3, 300)
    pred = y + rng.normal(0, 1, 300)
    ours = regression_scores(y, pred, y_range=20.0)
    assert ours["r2_score"] == pytest.approx(skm.r2_score(y, pred))
    assert ours["normalized_root_mean_squared_error"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)) / 20)
    assert ours["normalized_mean_absolute_error"] == pytest.approx(skm.mean_absolute_error(y, pred) / 20)
    assert ours["spearman_correlation"] > 0.9


def test_metric_names_are_checked_against_the_task() -> None:
    assert parse_metric("auc_weighted", Task.CLASSIFICATION) is PrimaryMetric.AUC_WEIGHTED
    assert parse_metric(None, Task.REGRESSION) is PrimaryMetric.NORMALIZED_ROOT_MEAN_SQUARED_ERROR
    with pytest.raises(InvalidInput) as info:
        parse_metric("r2_score", Task.CLASSIFICATION)
    assert str(info.value) == ("The primary metric 'r2_score' does not apply to classification. Use one of: accuracy, "
                               "AUC_weighted, average_precision_score_weighted, norm_macro_recall, "
                               "precision_score_weighted.")


def test_the_search_minimizes_errors_and_maximizes_scores() -> None:
    assert loss_of(PrimaryMetric.R2_SCORE, 0.8) == -0.8
    assert loss_of(PrimaryMetric.NORMALIZED_ROOT_MEAN_SQUARED_ERROR, 0.1) == 0.1


def test_regression_primary_metric_matches_the_full_set_and_scipy_spearman() -> None:
    from scipy.stats import spearmanr

    rng = np.random.default_rng(3)
    truth = rng.integers(0, 6, 500).astype(float)  # ties, as counts have
    prediction = truth + rng.normal(scale=2.0, size=500)
    weights = rng.uniform(0.5, 2.0, 500)
    full = regression_scores(truth, prediction, y_range=10.0, weights=weights)
    assert full["spearman_correlation"] == pytest.approx(spearmanr(truth, prediction).statistic)
    for metric in (PrimaryMetric.R2_SCORE, PrimaryMetric.NORMALIZED_ROOT_MEAN_SQUARED_ERROR,
                   PrimaryMetric.NORMALIZED_MEAN_ABSOLUTE_ERROR, PrimaryMetric.SPEARMAN_CORRELATION):
        assert primary_score(Task.REGRESSION, metric, truth, prediction, y_range=10.0,
                             weights=weights) == pytest.approx(full[metric.value])
    broken = regression_scores(truth, np.full(500, np.inf))
    assert broken["r2_score"] == -np.inf and broken["spearman_correlation"] == -np.inf
