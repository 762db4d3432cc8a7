"""Fairness on the Adult census: per-group metrics that match the predictions, mitigation that narrows the gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studio_ext.errors import InvalidInput
from studio_ext.ml.census import census_pipeline
from studio_ext.ml.fairness import (
    FairnessAssessment,
    MitigatedModel,
    MitigationResult,
    assess,
    group_order,
    mitigate,
    pareto_front,
)

SMALL = ["age", "education_num", "capital_gain", "hours_per_week", "marital_status", "sex"]


@pytest.fixture(scope="module")
def small_adult(adult: pd.DataFrame) -> pd.DataFrame:
    return adult[SMALL + ["race", "income"]].iloc[:1500].reset_index(drop=True)


@pytest.fixture(scope="module")
def small_model(small_adult: pd.DataFrame) -> object:
    from sklearn.linear_model import LogisticRegression

    X = small_adult[SMALL]
    return census_pipeline(X, LogisticRegression(max_iter=300)).fit(X, small_adult["income"])


def test_assessment_matches_the_predictions_group_by_group(adult, adult_logistic) -> None:
    a = assess(adult_logistic, adult, "income", ["sex", "race"])
    assert a.keys == ["sex", "race", "sex × race"]
    by_sex = a.by_group("sex")
    assert set(by_sex.index) == {"Female", "Male"}
    predicted = adult_logistic.predict(adult.drop(columns="income"))
    for group in ("Female", "Male"):
        rows = (adult["sex"] == group).to_numpy()
        assert by_sex.loc[group, "selection_rate"] == pytest.approx(np.mean(predicted[rows] == ">50K"))
        assert by_sex.loc[group, "accuracy"] == pytest.approx(np.mean(predicted[rows] == adult["income"][rows]))
        assert by_sex.loc[group, "count"] == rows.sum()
    gap = abs(by_sex.loc["Male", "selection_rate"] - by_sex.loc["Female", "selection_rate"])
    assert a.summary["sex"]["demographic_parity_difference"] == pytest.approx(gap)
    assert a.disparity("selection_rate", "sex") == pytest.approx(gap)
    assert a.disparity("selection_rate", "sex", "ratio") == pytest.approx(
        by_sex["selection_rate"].min() / by_sex["selection_rate"].max())
    assert 0 <= a.summary["sex"]["equalized_odds_difference"] <= 1
    assert set(a.metrics) == {"selection_rate", "accuracy", "precision", "recall",
                              "false_positive_rate", "false_negative_rate"}
    back = FairnessAssessment.from_dict(a.to_dict())
    pd.testing.assert_frame_equal(back.by_group("sex × race"), a.by_group("sex × race"))


def test_regression_assessment_reports_errors_per_group() -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    data = load_diabetes(as_frame=True).frame
    model = Ridge().fit(data.drop(columns="target"), data["target"])
    a = assess(model, data, "target", ["sex"])
    assert a.metrics == ["mean_absolute_error", "root_mean_squared_error", "r2", "mean_prediction"]
    assert len(a.by_group("sex")) == 2 and a.summary == {}
    with pytest.raises(InvalidInput, match="The model is a regression model, so the classification metrics 'selection_rate'"):
        assess(model, data, "target", ["sex"], metrics=["selection_rate"])


def test_bad_sensitive_features_are_refused(adult, adult_logistic) -> None:
    with pytest.raises(InvalidInput, match="The sensitive features 'gender' are not columns of the data"):
        assess(adult_logistic, adult, "income", ["gender"])
    one_group = adult[adult["sex"] == "Male"]
    with pytest.raises(InvalidInput, match="'sex' has a single group \\('Male'\\)"):
        assess(adult_logistic, one_group, "income", ["sex"])
    with pytest.raises(InvalidInput, match="'age' has .* distinct values: it looks continuous. Bin it"):
        assess(adult_logistic, adult, "income", ["age"])
    with pytest.raises(InvalidInput, match="Give at least one sensitive feature"):
        assess(adult_logistic, adult, "income", [])
    with pytest.raises(InvalidInput, match="Unknown fairness metrics: 'fairness'"):
        assess(adult_logistic, adult, "income", ["sex"], metrics=["fairness"])


def test_method_constraint_and_model_combinations_are_checked_first(small_adult, small_model) -> None:
    with pytest.raises(InvalidInput, match="threshold_optimizer does not support error_rate_parity"):
        mitigate(small_model, small_adult, "income", ["sex"], method="threshold_optimizer", constraint="error_rate_parity")
    with pytest.raises(InvalidInput, match="bounded_group_loss is the constraint for regression models"):
        mitigate(small_model, small_adult, "income", ["sex"], constraint="bounded_group_loss")
    with pytest.raises(InvalidInput, match="'constraint' parameter must be one of"):
        mitigate(small_model, small_adult, "income", ["sex"], constraint="parity")
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier().fit(small_adult[["age", "education_num"]], small_adult["income"])
    with pytest.raises(InvalidInput, match="KNeighborsClassifier.fit does not accept"):
        mitigate(knn, small_adult, "income", ["sex"], features=["age", "education_num"])


@pytest.mark.slow
def test_exponentiated_gradient_narrows_demographic_parity(small_adult, small_model) -> None:
    result = mitigate(small_model, small_adult, "income", ["sex"], method="exponentiated_gradient",
                      constraint="demographic_parity", max_iter=6)
    original, fair = result.candidates
    assert original.is_original and fair.name == "exponentiated_gradient"
    metric = result.disparity_metric
    assert metric == "demographic_parity_difference"
    assert fair.disparity[metric] < original.disparity[metric] / 2
    assert result.rows_test == 450 and result.rows_train == 1050
    # the candidate predicts the original labels on raw rows, and scores as reported
    assert isinstance(fair.model, MitigatedModel)
    labels = set(fair.model.predict(small_adult.iloc[:200]))
    assert labels <= {">50K", "<=50K"}
    assert set(result.pareto_front) >= {1}
    back = MitigationResult.from_dict(result.to_dict())
    assert back.candidate("exponentiated_gradient").disparity == fair.disparity


@pytest.mark.slow
def test_grid_search_and_threshold_optimizer_give_candidates(small_adult, small_model) -> None:
    grid = mitigate(small_model, small_adult, "income", ["sex"], method="grid_search",
                    constraint="equalized_odds", grid_size=4)
    assert [c.name for c in grid.candidates] == ["original"] + [f"grid_search_{i}" for i in range(4)]
    points = [(c.performance["accuracy"], c.disparity["equalized_odds_difference"]) for c in grid.candidates]
    front = grid.pareto_front
    for i in front:  # nothing beats a front member on both axes
        assert not any(p[0] > points[i][0] and p[1] < points[i][1] for p in points)
    thresholds = mitigate(small_model, small_adult, "income", ["sex"], method="threshold_optimizer",
                          constraint="demographic_parity")
    fair = thresholds.candidates[1]
    assert fair.model.needs_sensitive and fair.model.input_columns == SMALL
    gap = "demographic_parity_difference"
    assert fair.disparity[gap] < thresholds.original.disparity[gap] / 2


@pytest.mark.slow
def test_bounded_group_loss_mitigates_a_regressor() -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    data = load_diabetes(as_frame=True).frame
    model = Ridge().fit(data.drop(columns=["target"]), data["target"])
    result = mitigate(model, data, "target", ["sex"], constraint="bounded_group_loss", max_iter=5)
    assert result.performance_metric == "mean_absolute_error" and not result.higher_is_better
    assert result.disparity_metric == "worst_group_mean_squared_error"
    assert len(result.candidates) == 2 and result.candidates[1].performance["mean_absolute_error"] > 0
    with pytest.raises(InvalidInput, match="demographic_parity needs a classifier; this model is a regression model"):
        mitigate(model, data, "target", ["sex"], constraint="demographic_parity")


def test_pareto_front_keeps_only_undominated_points() -> None:
    points = [(0.85, 0.20), (0.80, 0.02), (0.84, 0.10), (0.70, 0.15), (0.85, 0.25)]
    assert pareto_front(points) == [0, 1, 2]


def test_groups_are_listed_in_the_order_of_their_ranges_not_as_text() -> None:
    labels = ["60 and over", "40 to 49", "under 40", "50 to 59", "≥ 1,000", "< 30", "unknown"]
    assert sorted(labels, key=group_order) == [
        "< 30", "under 40", "40 to 49", "50 to 59", "60 and over", "≥ 1,000", "unknown"]
    combined = ["b × 40 to 49", "a × 60 and over", "a × under 40"]
    assert sorted(combined, key=group_order) == ["a × under 40", "a × 60 and over", "b × 40 to 49"]
