"""The best model's report: charts as data, computed once, reloaded exactly."""

from __future__ import annotations

import numpy as np
import pytest

from studio_ext.ml.automl import ClassificationReport, RegressionReport, report_from_dict


def test_classification_report_charts() -> None:
    rng = np.random.default_rng(0)
    truth = rng.choice(["no", "yes"], 500, p=[0.7, 0.3])
    score = np.clip((truth == "yes") * 0.4 + rng.random(500) * 0.6, 0, 1)
    proba = np.column_stack([1 - score, score])
    report = ClassificationReport(truth, proba, ["no", "yes"], positive_label="yes")
    cm = report.confusion_matrix
    assert cm.to_numpy().sum() == 500 and list(cm.index) == ["no", "yes"]
    assert list(report.roc) == ["yes"], "a binary report shows the positive class"
    roc = report.roc["yes"]
    assert roc["fpr"][0] == 0 and roc["tpr"][-1] == 1 and 0.8 < roc["auc"] <= 1
    assert report.metrics["AUC_weighted"] == pytest.approx(roc["auc"])
    assert report.lift["yes"]["gain"][-1] == pytest.approx(1.0)
    assert report.lift["yes"]["lift"][0] > 1.5, "the top decile holds far more of the class than chance"
    calibration = report.calibration["yes"]
    assert sum(calibration["count"]) == 500
    again = report_from_dict(report.to_dict())
    assert again.confusion_matrix.equals(cm) and again.roc == report.roc


def test_multiclass_report_has_a_curve_per_class() -> None:
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, 300)
    proba = rng.dirichlet(np.ones(3), 300)
    report = ClassificationReport(truth, proba, [0, 1, 2])
    assert sorted(report.roc) == ["0", "1", "2"] and sorted(report.precision_recall) == ["0", "1", "2"]


def test_regression_report_charts() -> None:
    rng = np.random.default_rng(2)
    truth = rng.normal(100, 20, 400)
    pred = truth + rng.normal(0, 5, 400)
    report = RegressionReport(truth, pred)
    assert report.metrics["r2_score"] > 0.9
    chart = report.predicted_vs_true
    assert len(chart["true"]) == len(chart["mean_predicted"]) and chart["ideal"][0] == pytest.approx(truth.min())
    assert sum(report.residual_histogram["counts"]) == 400
    assert report_from_dict(report.to_dict()).metrics == pytest.approx(report.metrics)
