"""The fairness dashboard driven from Python: groups and disparity, the model comparison, the chooser, register."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets
import mlflow.sklearn
import pandas as pd
import pytest
from plotly.callbacks import Points

from studio_ext.entities import Data, Model
from studio_ext.ml.census import load_adult_census
from studio_ext.ml.fairness import assess, mitigate
from studio_ext.panels import open_page
from studio_ext.panels.fairness import AssessmentView, ComparisonView, FairnessDashboard
from tests.helpers import wait_until

FEATURES = ["age", "education_num", "capital_gain", "hours_per_week", "marital_status", "sex"]


def figure(output) -> dict:
    return output.outputs[0]["data"]["application/vnd.plotly.v1+json"]


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    return load_adult_census(rows=1200, seed=11)[FEATURES + ["race", "income"]]


@pytest.fixture(scope="module")
def model(adult: pd.DataFrame) -> object:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer([("num", StandardScaler(), FEATURES[:4]),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), FEATURES[4:])])
    return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=300))]).fit(adult[FEATURES], adult["income"])


def test_groups_metric_and_disparity_follow_the_pickers(adult, model) -> None:
    a = assess(model, adult, "income", ["sex", "race"])
    view = AssessmentView(a)
    assert view.sensitive.options == ("sex", "race", "sex × race")
    view.sensitive.value = "sex"
    view.metric.value = "recall"
    chart = figure(view.chart)
    assert [t["name"] for t in chart["data"]] == ["recall", "selection_rate"]
    assert chart["layout"]["title"]["text"] == "By sex"
    gap = a.disparity("recall", "sex")
    assert f"difference <b>{gap:.4g}</b>" in view.callout.value
    dpd = a.summary["sex"]["demographic_parity_difference"]
    assert f"demographic parity difference <b>{dpd:.4g}</b>" in view.callout.value
    assert "Female" in view.table.value and "Male" in view.table.value
    view.sensitive.value = "sex × race"
    assert "Female × White" in view.table.value


@pytest.mark.slow
def test_comparison_shows_candidates_front_and_clicked_details(workspace, adult, model) -> None:
    result = mitigate(model, adult, "income", ["sex"], method="grid_search", constraint="demographic_parity",
                      grid_size=3)
    codes: list[str] = []
    view = ComparisonView(workspace, result, codes.append)
    points, front = view.figure.data
    assert list(points.text) == ["original", "grid_search_0", "grid_search_1", "grid_search_2"]
    assert len(front.x) == len(result.pareto_front)
    # a click on the third point picks that candidate and shows its groups
    points._dispatch_on_click(Points(point_inds=[2], xs=[points.x[2]], ys=[points.y[2]], trace_index=0), None)
    assert view.candidate.value == 2
    detail = view.details.children[0]
    assert detail.assessment is result.candidates[2].assessment
    assert list(points.marker.line.width) == [0, 0, 3, 0]
    assert not view.register_button.disabled
    view.candidate.value = 0  # the dropdown drives the chart too
    assert list(points.marker.line.width) == [3, 0, 0, 0] and view.register_button.disabled
    assert "This is the original model" in view.message.text
    view.candidate.value = 1
    view.register_button.click()
    assert view.message.text == "Give the model a name to register it under."


def test_the_sidebar_page_without_a_result_offers_a_chooser(workspace) -> None:
    page = open_page("fairness", workspace)
    assert isinstance(page, FairnessDashboard) and page.view is None
    assert "No fairness results yet" in page.message.text
    assert page.mitigation_box.layout.display == "none"


@pytest.mark.slow
def test_assess_then_mitigate_then_register_from_the_page(workspace, adult, model, tmp_path: Path) -> None:
    csv = tmp_path / "adult.csv"
    adult.to_csv(csv, index=False)
    workspace.data.create_or_update(Data(name="adult", path=str(csv), type="tabular"))
    mlflow.sklearn.save_model(model, str(tmp_path / "model"), serialization_format="cloudpickle")
    workspace.models.create_or_update(Model(name="income", path=str(tmp_path / "model"), allow_pickle=True))
    page = FairnessDashboard(workspace, poll_interval=0.3)
    form = page.form
    form.target.value = "income"
    form.go.click()
    assert "Give at least one sensitive feature" in form.message.text
    form.sensitive.value = ("sex",)
    form.go.click()
    assert isinstance(page.view, AssessmentView) and page.view.sensitive.value == "sex"
    assert "ws.fairness.assess('azureml:income:1', 'azureml:adult:1', 'income', ['sex'])" in page.code.code
    reopened = FairnessDashboard(workspace)  # the form opens on the latest result's data, target and groups
    assert reopened.form.dataset.value == "azureml:adult:1" and reopened.form.target.value == "income"
    assert list(reopened.form.sensitive.value) == ["sex"]
    reopened.close()
    assert page.picker.value is None or page.picker.options  # the new assessment is listed
    assert page.mitigation_box.layout.display == ""
    assert "bounded_group_loss" not in [v for _, v in page.constraint.options]
    page.method.value = "threshold_optimizer"
    page.constraint.value = "demographic_parity"
    page.mitigate_button.click()
    assert "Mitigation job" in page.message.text
    wait_until(lambda: isinstance(page.view, ComparisonView), timeout=240, interval=0.3,
               what=lambda: f"the comparison view ({page.message.text})")
    comparison = page.view
    assert [c.name for c in comparison.result.candidates] == ["original", "threshold_optimizer"]
    comparison.candidate.value = 1
    comparison.model_name.value = "income-fair"
    comparison.register_button.click()
    assert "Registered income-fair version 1" in comparison.message.text
    registered = workspace.models.get("income-fair", 1)
    assert registered.tags["fairness.sensitive_features"] == "sex"
    assert registered.tags["fairness.constraint"] == "demographic_parity"
    assert "ws.fairness.register_candidate(" in page.code.code


def test_the_disparity_callout_follows_the_threshold_shown_on_the_page(adult, model) -> None:
    view = AssessmentView(assess(model, adult, "income", ["sex"]))
    view.metric.value = "accuracy"
    ratio = view.assessment.disparity("accuracy", "sex", "ratio")
    assert view.threshold.value == 0.8 and ratio > 0.8
    assert not view.flagged and "Within the threshold" in view.callout.value and "#107c10" in view.callout.value
    view.threshold.value = 1.0
    assert view.flagged and "Disparity: the ratio" in view.callout.value and "#a4262c" in view.callout.value
    chart = figure(view.chart)
    assert chart["layout"]["yaxis2"]["showticklabels"] is False, "the second chart does not repeat the group labels"


def test_bin_column_names_ranges() -> None:
    from studio_ext.panels.fairness import bin_column

    ages = pd.Series([18, 25, 31, 44, 52, 61, 70, 39], name="age")
    assert list(bin_column(ages, edges=[30, 45, 60])) == ["< 30", "< 30", "30 to 45", "30 to 45", "45 to 60", "≥ 60",
                                                          "≥ 60", "30 to 45"]
    assert len(set(bin_column(ages, quantiles=4))) == 4


def test_a_numeric_sensitive_feature_is_binned_on_the_page(workspace, adult, model, tmp_path: Path) -> None:
    csv = tmp_path / "adult.csv"
    adult.to_csv(csv, index=False)
    workspace.data.create_or_update(Data(name="adult", path=str(csv), type="tabular"))
    mlflow.sklearn.save_model(model, str(tmp_path / "model"), serialization_format="cloudpickle")
    workspace.models.create_or_update(Model(name="income", path=str(tmp_path / "model"), allow_pickle=True))
    page = FairnessDashboard(workspace)
    form = page.form
    assert form.target.value == "income", "the label column, never the first feature"
    assert isinstance(form.sensitive, widgets.TagsInput)  # no old-style list box
    assert "income" not in form.sensitive.allowed_tags and "age" in form.sensitive.allowed_tags
    form.sensitive.value = ("age",)
    assert form.binning_box.layout.display is None and "age" in form.binning_hint.value
    form.binning.value = "edges"
    form.edges.value = "30, 45, 60"
    form.go.click()
    assert isinstance(page.view, AssessmentView), form.message.text
    assert page.view.sensitive.value == "age group"
    assert "30 to 45" in page.view.table.value and "≥ 60" in page.view.table.value
    assert "pd.cut(df['age']" in page.code.code
    form.sensitive.value = ("sex",)
    assert form.binning_box.layout.display == "none"
