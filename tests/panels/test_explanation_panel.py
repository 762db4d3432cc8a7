"""The explanation dashboard driven from Python: tabs, top-k, rows and waterfalls, cohorts, 100k rows, the chooser."""

from __future__ import annotations

import base64
import time
from dataclasses import replace
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest

from studio_ext.entities import Data, JobStatus, Model
from studio_ext.ml.census import load_adult_census
from studio_ext.ml.explain import explain
from studio_ext.panels import PAGES, open_page
from studio_ext.panels.explanation import ExplanationDashboard, ExplanationView
from tests.helpers import wait_until


def figure(output) -> dict:
    return output.outputs[0]["data"]["application/vnd.plotly.v1+json"]


def values(array: object) -> list:
    """A plotted array as a list (plotly ships numeric arrays base64-encoded)."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    return load_adult_census(rows=1200, seed=5)


@pytest.fixture(scope="module")
def model(adult: pd.DataFrame) -> object:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    X = adult.drop(columns="income")
    cat = [c for c in X if not pd.api.types.is_numeric_dtype(X[c])]
    prep = ColumnTransformer([("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                                     encoded_missing_value=-1), cat)], remainder="passthrough")
    return Pipeline([("prep", prep), ("model", RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0))]).fit(
        X, adult["income"])


@pytest.fixture(scope="module")
def exp(adult: pd.DataFrame, model: object):
    result = explain(model, adult, "income", sample=400)
    result.metadata["name"] = "panel-exp"
    return result


def test_global_tab_follows_the_top_k_slider_and_the_class(exp) -> None:
    view = ExplanationView(exp)
    assert view.tabs.titles == ("Global importance", "Summary", "Dependence", "Individual rows", "Cohorts")
    assert view.output_choice.options == ("all classes (mean)", "<=50K", ">50K")
    view.output_choice.value = ">50K"
    view.top_k.value = 4
    bars = figure(view.global_out)["data"][0]
    assert values(bars["y"])[::-1] == exp.top_features(4)
    assert values(bars["x"])[::-1] == pytest.approx([exp.class_importance[">50K"][f] for f in exp.top_features(4)])
    view.output_choice.value = "all classes (mean)"
    assert len(figure(view.global_out)["data"]) == 2  # stacked by class
    assert not view.sampled and "400 rows explained" in view.header.value


def test_tabs_are_drawn_when_opened_and_charts_follow_their_controls(exp) -> None:
    view = ExplanationView(exp)
    assert view.summary_out.outputs == ()  # not drawn until opened
    view.tabs.selected_index = 1
    assert len(figure(view.summary_out)["data"]) == 10
    view.tabs.selected_index = 2
    view.feature.value = "age"
    view.colour_by.value = "hours_per_week"
    dep = figure(view.dependence_out)
    assert dep["layout"]["xaxis"]["title"]["text"] == "age" and len(values(dep["data"][0]["y"])) == 400
    assert dep["layout"]["title"]["text"].endswith("coloured by hours_per_week")


def test_picking_a_row_draws_its_waterfall_that_adds_up(exp, model) -> None:
    codes: list[str] = []
    view = ExplanationView(exp, on_code=codes.append)
    view.tabs.selected_index = 3
    assert "prediction" in view.table.value and len(view.row_picker.options) == 20
    view.select_row(57)
    assert view.page.value == 3 and view.row_picker.value == 57
    fall = figure(view.waterfall_out)["data"][0]
    xs = values(fall["x"])
    base, steps, total = xs[0], xs[1:-1], xs[-1]
    assert total == pytest.approx(base + sum(steps))
    # the total is the model's probability of the row's predicted class (TreeExplainer on a forest)
    proba = model.predict_proba(exp.data.iloc[[57]])[0]
    k = list(model.classes_).index(exp.predictions[57])
    assert total == pytest.approx(proba[k], abs=1e-6)
    assert "exp.local_importance.iloc[57]" in codes[-1]
    view.select_row(10_000)
    assert "There is no explained row #10000" in view.message.text


def test_cohorts_are_compared_side_by_side(exp) -> None:
    codes: list[str] = []
    view = ExplanationView(exp, on_code=codes.append)
    view.tabs.selected_index = 4
    view.cohort_feature.value = "age"
    view.cohort_range.value = (20.0, 35.0)
    view.cohort_name.value = "young"
    view.add_current_cohort()
    young = (exp.data["age"] >= 20) & (exp.data["age"] <= 35)
    assert f"Cohort 'young': {young.sum():,} of 400 rows" in view.message.text
    view.cohort_feature.value = "sex"
    view.cohort_values.value = ("Female",)
    view.add_current_cohort()
    names = list(view.cohort_importances())
    assert names[0] == "all rows (400)" and names[1].startswith("young (") and names[2].startswith("sex in Female (")
    chart = figure(view.cohort_out)
    assert len(chart["data"]) == 3
    assert view.cohort_importances()[names[1]] == pytest.approx(exp.cohort_importance(young.to_numpy()))
    assert "exp.cohort_importance(exp.data['sex'].astype(str).isin(['Female']))" in codes[-1]
    view.cohort_list.value = "young"
    view.remove_cohort.click()
    assert len(figure(view.cohort_out)["data"]) == 2
    view.cohort_feature.value = "age"
    view.cohort_values.value = ()
    view.cohort_feature.value = "race"
    view.add_current_cohort()
    assert view.message.text == "The filter selects no rows; widen the range or pick other values."


def test_permutation_importance_shows_error_bars_only(adult, model) -> None:
    pfi = explain(model, adult, "income", explainer="pfi", repeats=2, sample=300)
    view = ExplanationView(pfi)
    assert view.tabs.titles == ("Global importance",)
    bars = figure(view.global_out)["data"][0]
    assert len(values(bars["error_x"]["array"])) == 10
    assert "Permutation importance (accuracy" in figure(view.global_out)["layout"]["title"]["text"]


def test_a_hundred_thousand_rows_are_sampled_for_display_and_say_so(exp) -> None:
    reps = -(-100_000 // exp.rows)
    big = replace(exp, values=np.tile(exp.values, (reps, 1, 1))[:100_000],
                  data=pd.concat([exp.data] * reps, ignore_index=True).iloc[:100_000],
                  predictions=np.tile(exp.predictions, reps)[:100_000])
    started = time.perf_counter()
    view = ExplanationView(big)
    build = time.perf_counter() - started
    assert view.sampled and "random sample of the 100,000 explained rows" in view.header.value
    view.tabs.selected_index = 2
    assert len(values(figure(view.dependence_out)["data"][0]["y"])) == 5000
    view.tabs.selected_index = 1
    assert len(values(figure(view.summary_out)["data"][0]["y"])) == 2000
    view.tabs.selected_index = 3
    assert view.page.max == 5000
    assert build < 30  # generous: the benchmark holds the real target


def test_the_sidebar_page_without_an_explanation_offers_a_chooser(workspace) -> None:
    assert PAGES["explanations"].title == "Explanations"
    page = open_page("explanations", workspace)
    assert isinstance(page, ExplanationDashboard) and page.view is None
    assert page.picker.options == (("None finished yet", ""),) and page.results.open_button.disabled, "never blank"
    assert "No finished explanations yet" in page.message.text
    assert page.form.model.options == () and page.form.dataset.options == ()


@pytest.mark.slow
def test_the_form_explains_a_registered_model_and_opens_the_result(workspace, adult, model, tmp_path: Path) -> None:
    csv = tmp_path / "adult.csv"
    adult.to_csv(csv, index=False)
    workspace.data.create_or_update(Data(name="adult", path=str(csv), type="tabular"))
    mlflow.sklearn.save_model(model, str(tmp_path / "model"), serialization_format="cloudpickle")
    workspace.models.create_or_update(Model(name="income", path=str(tmp_path / "model"), allow_pickle=True))
    page = ExplanationDashboard(workspace, poll_interval=0.3)
    assert page.form.model.options == (("income:1", "azureml:income:1"),)
    page.form.dataset.value = "azureml:adult:1"
    page.form.target.value = "income"
    page.form.sample.value = 5000
    page.form.go.click()
    assert "asks for 5,000 rows but the data has only 1,200" in page.form.message.text
    page.form.sample.value = 300
    page.form.explainer.value = "mimic"
    page.form.go.click()
    assert "ws.explanations.create('azureml:income:1', 'azureml:adult:1', 'income', explainer='mimic'" in page.code.code
    wait_until(lambda: page.view is not None, timeout=240, interval=0.3,
               what=lambda: f"the explanation view ({page.message.text})")
    assert page.view.exp.method.startswith("mimic:lightgbm") and page.view.exp.rows == 300
    assert page.form.progress.value == 1.0
    record = workspace.explanations.list()[0]
    assert record.status is JobStatus.COMPLETED and page.picker.value == record.name
    reopened = ExplanationDashboard(workspace, record.name)
    assert reopened.view.exp.fidelity == page.view.exp.fidelity


def test_the_form_defaults_to_the_models_recorded_target_and_advises_on_the_page(workspace, adult, model,
                                                                                 tmp_path: Path) -> None:
    from mlflow.models import infer_signature

    from studio_ext.panels._insight_widgets import ModelDataPicker
    from studio_ext.panels._widgets import Message, suggest_target

    # The label sits between features: neither the first nor the last column.
    columns = list(adult.columns)
    columns.remove("income")
    columns.insert(5, "income")
    adult[columns].head(300).to_csv(tmp_path / "adult.csv", index=False)
    workspace.data.create_or_update(Data(name="adult", path=str(tmp_path / "adult.csv"), type="tabular"))
    X = adult.drop(columns="income")
    mlflow.sklearn.save_model(model, str(tmp_path / "model"), serialization_format="cloudpickle",
                              signature=infer_signature(X.head(20), adult["income"].head(20)))
    workspace.models.create_or_update(Model(name="income", path=str(tmp_path / "model"), allow_pickle=True))
    page = ExplanationDashboard(workspace)
    form = page.form
    # one model and one dataset: both chosen, and the target is the one the model's signature names
    assert form.model.value == "azureml:income:1" and form.dataset.value == "azureml:adult:1"
    assert form.target.value == "income" and "recorded target" in form.inputs.target_hint.value
    assert form.inputs.model_inputs == list(X.columns)
    # a feature as the target: the refusal says what to choose on the page, not code
    form.target.value = "age"
    assert form.inputs.target_hint.value == ""
    form.go.click()
    text = form.message.text
    assert "features=" not in text and "'age' is one of the model's inputs" in text and "Target column" in text, text
    # without a record, a column named like a label, else the last column
    assert suggest_target(["age", "bmi", "Diabetic", "pregnancies"]) == "Diabetic"
    assert suggest_target(["a", "b", "c"]) == "c"
    assert suggest_target(["a", "b", "c"], inputs=["a", "c"]) == "b"
    # the Fairness page uses the same picker
    assert ModelDataPicker(workspace, Message()).target.value == "income"
    page.close()


def test_a_data_column_that_is_not_a_model_input_is_a_cohort_filter(exp) -> None:
    codes: list[str] = []
    groups = pd.DataFrame({"age_group": np.where(exp.data["age"] < 40, "under 40", "40 and over")},
                          index=exp.data.index)
    view = ExplanationView(exp, on_code=codes.append, groups=groups, groups_code="frame")
    assert ("age_group (in the data, not a model input)", "age_group") in view.cohort_feature.options
    view.cohort_feature.value = "age_group"
    assert view.cohort_values.layout.display == "" and set(view.cohort_values.options) == {"under 40", "40 and over"}
    view.cohort_values.value = ("under 40",)
    view.add_current_cohort()
    young = (exp.data["age"] < 40).sum()
    assert f"{young:,} of 400 rows" in view.message.text
    assert "exp.cohort_importance(frame['age_group'].astype(str).isin(['under 40']))" in codes[-1]


@pytest.mark.slow
def test_the_page_opens_on_the_latest_explanations_data_with_its_groups(workspace, tmp_path: Path) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    frame = load_diabetes(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    frame["age_group"] = np.where(frame["age"] < 0, "younger", "older")
    for name, data in (("a-plain", frame.drop(columns="age_group")), ("groups", frame)):  # not the first offered
        data.to_csv(tmp_path / f"{name}.csv", index=False)
        workspace.data.create_or_update(Data(name=name, path=str(tmp_path / f"{name}.csv"), type="tabular"))
    mlflow.sklearn.save_model(Ridge().fit(frame[features], frame["target"]), str(tmp_path / "model"))
    workspace.models.create_or_update(Model(name="ridge", path=str(tmp_path / "model")))
    workspace.explanations.create("azureml:ridge:1", "azureml:groups:1", "target", features=features, sample=100,
                                  timeout=300)
    page = ExplanationDashboard(workspace)
    assert page.form.dataset.value == "azureml:groups:1" and page.form.target.value == "target"
    page.open_explanation(page.picker.value)
    view = page.view
    assert "age_group" in dict(view.cohort_feature.options).values()
    view.cohort_feature.value = "age_group"
    assert set(view.cohort_values.options) == {"younger", "older"}
    page.close()
