"""AutoML end to end on bundled data: search, ensembles, refit, report, crashes and bad input."""

from __future__ import annotations

import time

# FLAML's import takes seconds on a busy machine; pay it once here, not inside a test's time budget.
# A required dependency: imported, so a broken install fails here instead of skipping.
import flaml.tune.searcher  # noqa: F401
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from studio_ext.errors import InvalidInput
from studio_ext.ml.automl import LEARNERS, AutoMLSettings, Task, TrialStatus, prepare, run
from studio_ext.ml.automl.engine import score_test_data
from studio_ext.ml.automl.learners import Learner


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.assign(diagnosis=y.map({0: "malignant", 1: "benign"}))


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X.assign(progression=y)


@pytest.mark.slow
def test_classification_finds_a_strong_model_within_the_budget(cancer: pd.DataFrame) -> None:
    settings = AutoMLSettings(task=Task.CLASSIFICATION, target="diagnosis", primary_metric="AUC_weighted",
                              timeout_seconds=15, n_cross_validations=3,
                              allowed_training_algorithms=["LightGBM", "LogisticRegression", "GradientBoosting"])
    prepared = prepare(cancer, settings)
    started = time.time()
    result = run(prepared)
    # The budget bounds the search: no trial starts after it, and every fit stops at its deadline.
    # (The refit of the chosen model follows; its time depends on the machine's load, so it has slack.)
    assert max(r.started for r in result.trials) - started < 15, "no trial starts after the budget"
    assert max(r.ended for r in result.trials) - started < 15 + 5, "trials stop at the budget's deadline"
    assert time.time() - started < 15 + 15, "the refit follows the search without a second search"
    algorithms = set(result.leaderboard["algorithm"])
    assert {"LightGBM", "LogisticRegression", "GradientBoosting"} <= algorithms, "strong defaults come first"
    first = sorted(result.trials, key=lambda r: r.trial_id)[:3]
    assert [r.learner for r in first] == ["LogisticRegression", "LightGBM", "GradientBoosting"], (
        "the scaled linear model (the one-line baseline) first, then the boosters' defaults")
    top = min((r for r in result.trials if r.ok and not r.components), key=lambda r: (r.loss, r.trial_id))
    if result.best is not top and not result.best.components:  # a tie on AUC, settled by the log loss
        assert result.best.metrics["log_loss"] < top.metrics["log_loss"]
        assert result.best.metrics["AUC_weighted"] >= top.metrics["AUC_weighted"] - 0.01
    assert result.best.metrics["AUC_weighted"] >= max(r.metrics.get("AUC_weighted", 0) for r in first) - 0.01
    assert result.best.metrics["AUC_weighted"] > 0.98
    # The model is the whole pipeline: raw rows in, original labels out.
    predicted = result.model.predict(cancer.drop(columns="diagnosis").head(20))
    assert set(predicted) <= {"malignant", "benign"}
    assert result.model.predict_proba(cancer.drop(columns="diagnosis").head(5)).shape == (5, 2)
    report = result.report
    assert report.confusion_matrix.to_numpy().sum() == len(cancer), "k-fold: every row has a held-out prediction"
    assert report.metrics["AUC_weighted"] == pytest.approx(result.best.metrics["AUC_weighted"])
    board = result.leaderboard
    assert board.iloc[0]["trial"] == result.best.trial_id or result.notes


@pytest.mark.slow
def test_regression_with_validation_data_and_ensembles(diabetes: pd.DataFrame) -> None:
    train, valid = diabetes.iloc[:340], diabetes.iloc[340:]
    settings = AutoMLSettings(task=Task.REGRESSION, target="progression", primary_metric="r2_score",
                              timeout_seconds=10, max_trials=6, allowed_training_algorithms=["ElasticNet", "LightGBM"])
    result = run(prepare(train, settings, valid))
    assert result.prepared.validation.kind.value == "validation_data"
    ensembles = [r for r in result.trials if r.learner in ("VotingEnsemble", "StackEnsemble")]
    assert ensembles and all(len(r.components) >= 2 for r in ensembles)
    assert result.best.metrics["r2_score"] > 0.3
    assert len(result.report.y_true) == len(valid)
    assert result.model.predict(valid.drop(columns="progression")).shape == (len(valid),)


def test_a_crashing_trial_is_recorded_and_the_search_goes_on(cancer: pd.DataFrame, monkeypatch) -> None:
    def broken(config, task, n_jobs):
        raise RuntimeError("this learner always fails")

    crashing = Learner(name="Broken", tasks=frozenset(Task), space=LEARNERS["DecisionTree"].space,
                       default=LEARNERS["DecisionTree"].default, build=broken, priority=-1)
    monkeypatch.setitem(LEARNERS, "Broken", crashing)
    prepared = prepare(cancer, AutoMLSettings(task=Task.CLASSIFICATION, target="diagnosis", timeout_seconds=20,
                                              max_trials=4, enable_vote_ensemble=False, enable_stack_ensemble=False,
                                              allowed_training_algorithms=["DecisionTree"]), guardrails=False)
    prepared.learners.insert(0, crashing)
    result = run(prepared)
    failed = [r for r in result.trials if r.status == TrialStatus.FAILED]
    assert failed and failed[0].learner == "Broken" and "this learner always fails" in failed[0].error
    assert result.best.learner == "DecisionTree" and result.stop_reason == "max_trials (4) reached"


@pytest.mark.parametrize("change, message", [
    (dict(target="nope"), "The target column 'nope' is not in the training data."),
    (dict(timeout_seconds=0), "The 'timeout_minutes' limit must be a number > 0. Got 0.0 instead."),
    (dict(blocked_training_algorithms=["LightGBM", "GradientBoosting", "LogisticRegression", "XGBoostClassifier",
                                       "RandomForest", "ExtremeRandomTrees", "KNN", "DecisionTree"]),
     "Every algorithm for classification is blocked or left out"),
    (dict(allowed_training_algorithms=["Prophet"]),
     "allowed_training_algorithms names 'Prophet', which is not an algorithm for classification."),
    (dict(positive_label="maybe"), "The positive_label 'maybe' is not a class of the target 'diagnosis'."),
    (dict(max_concurrent_trials=0), "The 'max_concurrent_trials' limit must be an int >= 1. Got 0 instead."),
])
def test_bad_settings_are_refused_before_anything_runs(cancer: pd.DataFrame, change, message: str) -> None:
    settings = AutoMLSettings(**{**dict(task=Task.CLASSIFICATION, target="diagnosis", timeout_seconds=10), **change})
    with pytest.raises(InvalidInput) as info:
        prepare(cancer, settings, guardrails=False)
    assert str(info.value).startswith(message)


def test_bad_targets_are_refused(cancer: pd.DataFrame) -> None:
    one_class = cancer.assign(diagnosis="benign")
    with pytest.raises(InvalidInput, match="The target 'diagnosis' has a single class \\('benign'\\)"):
        prepare(one_class, AutoMLSettings(task=Task.CLASSIFICATION, target="diagnosis"), guardrails=False)
    with pytest.raises(InvalidInput, match="The target 'diagnosis' is not numeric \\(values such as 'malignant'\\); "
                                           "regression needs numbers"):
        prepare(cancer, AutoMLSettings(task=Task.REGRESSION, target="diagnosis"), guardrails=False)
    empty = cancer.assign(diagnosis=None)
    with pytest.raises(InvalidInput, match="Every row's target \\('diagnosis'\\) is missing"):
        prepare(empty, AutoMLSettings(task=Task.CLASSIFICATION, target="diagnosis"), guardrails=False)
    tiny = cancer.groupby("diagnosis").head(6)
    with pytest.raises(InvalidInput, match="too few for 10-fold cross-validation"):
        prepare(tiny, AutoMLSettings(task=Task.CLASSIFICATION, target="diagnosis", n_cross_validations=10),
                guardrails=False)


@pytest.mark.slow
def test_forecasting_with_lags_per_series() -> None:
    days = pd.date_range("2024-01-01", periods=120, freq="D")
    rng = np.random.default_rng(0)
    rows = []
    for store, level in (("north", 100.0), ("south", 40.0)):
        for i, day in enumerate(days):
            rows.append({"date": day, "store": store, "promo": int(i % 7 == 0),
                         "sales": level + 10 * np.sin(i / 7 * 2 * np.pi) + 15 * (i % 7 == 0) + rng.normal(0, 2)})
    frame = pd.DataFrame(rows)
    train, future = frame[frame.date < days[-7]], frame[frame.date >= days[-7]]
    from studio_ext.entities import ForecastingSettings

    settings = AutoMLSettings(task=Task.FORECASTING, target="sales", primary_metric="r2_score", timeout_seconds=10,
                              max_trials=8, allowed_training_algorithms=["LightGBM", "ElasticNet"],
                              forecasting=ForecastingSettings(time_column_name="date", forecast_horizon=7,
                                                              time_series_id_column_names=["store"]))
    prepared = prepare(train, settings)
    assert prepared.validation.kind.value == "rolling_origin"
    assert {"sales_lag7", "sales_mean7"} <= set(prepared.features.columns)
    result = run(prepared)
    forecast = result.model.predict(future.drop(columns="sales"))
    assert forecast.shape == (14,) and np.all(np.isfinite(forecast))
    error = np.abs(forecast - future.sales.to_numpy()).mean()
    assert error < 10, f"the forecast follows each store's level and weekly cycle (mean error {error:.1f})"


def test_sample_weights_steer_the_fit_and_the_metrics_and_are_not_a_feature(cancer: pd.DataFrame) -> None:
    # A third of the rows have their label flipped and weight 0: weighted, AutoML learns from the others only.
    rng = np.random.default_rng(0)
    noisy = rng.random(len(cancer)) < 0.33
    flipped = cancer.diagnosis.where(~noisy, cancer.diagnosis.map({"malignant": "benign", "benign": "malignant"}))
    frame = cancer.assign(diagnosis=flipped, weight=np.where(noisy, 0.0, 1.0))
    common = dict(task=Task.CLASSIFICATION, target="diagnosis", primary_metric="AUC_weighted", timeout_seconds=60,
                  max_trials=2, n_cross_validations=3, allowed_training_algorithms=["LogisticRegression", "KNN"],
                  enable_vote_ensemble=False, enable_stack_ensemble=False)
    prepared = prepare(frame, AutoMLSettings(**common, weight_column="weight"), guardrails=False)
    assert "weight" not in prepared.features.columns
    assert [lr.name for lr in prepared.learners] == ["LogisticRegression"], "KNN cannot fit with sample weights"
    weighted = run(prepared)
    unweighted = run(prepare(frame.drop(columns="weight"), AutoMLSettings(**common), guardrails=False))
    # Scored on the weighted rows (the clean ones), the weighted search's model is near perfect ...
    assert weighted.best.metrics["AUC_weighted"] > 0.97
    # ... while the same search without weights fits and scores the flipped labels too.
    assert unweighted.best.metrics["AUC_weighted"] < 0.8
    clean = cancer[~noisy]
    predicted = weighted.model.predict(clean.drop(columns="diagnosis").assign(weight=1.0))
    assert (predicted == clean.diagnosis.to_numpy()).mean() > 0.93
    assert "weight" not in list(weighted.model.named_steps["columns"].feature_names_in_)
    # The report and the test metrics weigh the rows too: the flipped rows (weight 0) do not count.
    assert weighted.report.metrics["AUC_weighted"] == pytest.approx(weighted.best.metrics["AUC_weighted"])
    assert weighted.report.confusion_matrix.to_numpy().sum() == pytest.approx((~noisy).sum())
    test_metrics, test_report = score_test_data(weighted, frame)
    clean_metrics, _ = score_test_data(weighted, clean.assign(weight=1.0))
    assert test_metrics["AUC_weighted"] == pytest.approx(clean_metrics["AUC_weighted"])
    assert test_report.roc["malignant"]["auc"] == pytest.approx(clean_metrics["AUC_weighted"])
    unweighted_test, _ = score_test_data(weighted, frame.drop(columns="weight"))
    assert unweighted_test["AUC_weighted"] < 0.8, "test data without the weight column: every row counts"


def test_the_stack_meta_model_fits_with_the_sample_weights() -> None:
    from studio_ext.ml.automl.ensemble import fit_meta

    def sigmoid(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-x))

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    good, bad = sigmoid(rng.normal(2 * y - 1, 0.5)), sigmoid(rng.normal(1 - 2 * y, 0.5))
    weights = np.r_[np.ones(200), np.zeros(200)]  # member 1 is right where the weight is
    members = [np.column_stack([1 - p, p]) for p in (np.r_[good[:200], bad[200:]], np.r_[bad[:200], good[200:]])]
    weighted = fit_meta(members, y, Task.CLASSIFICATION, weights=weights)
    unweighted = fit_meta(members, y, Task.CLASSIFICATION)
    assert weighted.coef_[0][0] > 0 > weighted.coef_[0][1], "it trusts the member that is right on weighted rows"
    assert abs(unweighted.coef_[0][0] - unweighted.coef_[0][1]) < abs(weighted.coef_[0][0] - weighted.coef_[0][1])


@pytest.mark.parametrize("weights, message", [
    ("nope", "The weight column 'nope' is not in the training data."),
    ("diagnosis", "The weight column 'diagnosis' is the target column"),
    ("negative", "The weight column 'negative' must hold numbers >= 0 on every row that has a target, and not only "
                 "zeros; 1 row(s) do not, such as -1.0."),
    ("zeros", "The weight column 'zeros' must hold numbers >= 0 on every row that has a target, and not only zeros; "
              "every weight is 0."),
])
def test_bad_weight_columns_are_refused(cancer: pd.DataFrame, weights: str, message: str) -> None:
    frame = cancer.assign(negative=np.r_[-1.0, np.ones(len(cancer) - 1)], zeros=0.0)
    with pytest.raises(InvalidInput) as info:
        prepare(frame, AutoMLSettings(task=Task.CLASSIFICATION, target="diagnosis", weight_column=weights),
                guardrails=False)
    assert str(info.value).startswith(message)


@pytest.mark.slow
def test_a_plateaued_learner_gives_way_to_others(diabetes: pd.DataFrame) -> None:
    """scikit-learn's diabetes: ElasticNet's scores tie (0.1702) over a range of alpha; it stops taking the budget."""
    import re

    from studio_ext.ml.automl.search import PLATEAU_TRIALS, _config_key

    settings = AutoMLSettings(task=Task.REGRESSION, target="progression",
                              primary_metric="normalized_root_mean_squared_error", timeout_seconds=20,
                              allowed_training_algorithms=["ElasticNet", "DecisionTree", "KNN"],
                              enable_vote_ensemble=False, enable_stack_ensemble=False)
    result = run(prepare(diabetes, settings))
    note = next((n for n in result.notes if n.startswith("ElasticNet plateaued")), None)
    assert note is not None, result.notes
    plateau_at = int(re.search(r"after (\d+) trials", note).group(1))  # type: ignore[union-attr]
    elastic = [r for r in result.trials if r.learner == "ElasticNet"]
    assert plateau_at >= PLATEAU_TRIALS and len(elastic) <= plateau_at + 1, "no ElasticNet trial after its plateau"
    last_elastic = max(r.trial_id for r in elastic)
    others_after = [r for r in result.trials if r.learner != "ElasticNet" and r.trial_id > last_elastic]
    assert others_after, "the budget went to the other algorithms"
    keys = [(r.learner, _config_key(r.config)) for r in result.trials if not r.components]
    assert len(keys) == len(set(keys)), "no configuration runs twice"
