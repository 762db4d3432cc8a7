"""The AutoML wizard driven from Python: steps, checks, refusals, a submitted job and its live leaderboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

from studio_ext import Workspace
from studio_ext.entities import Data
from studio_ext.panels import PAGES, open_page
from studio_ext.panels.automl import AutoMLResults, AutoMLWizard
from tests.helpers import wait_until


@pytest.fixture
def ws_with_data(workspace: Workspace, tmp_path: Path) -> Workspace:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = X.iloc[:, :8].assign(diagnosis=y.map({0: "malignant", 1: "benign"}))
    frame.to_csv(tmp_path / "cancer.csv", index=False)
    workspace.data.create_or_update(Data(name="cancer", path=str(tmp_path / "cancer.csv"), type="tabular"))
    return workspace


def test_the_page_is_listed_and_opens_on_the_workspace(ws_with_data: Workspace) -> None:
    assert PAGES["automl"].title == "Automated ML"
    wizard = open_page("automl", ws_with_data)
    assert isinstance(wizard, AutoMLWizard) and wizard.dataset.value == "cancer"
    wizard.close()


def test_a_weight_column_is_chosen_like_the_target_and_is_not_featurized(ws_with_data: Workspace) -> None:
    wizard = AutoMLWizard(ws_with_data)
    assert wizard.weight.value == "" and wizard.weight.index == 0, "the 'no weights' choice is shown, not a blank box"
    assert wizard.build_job().weight_column_name is None
    wizard.weight.value = "mean smoothness"
    assert "mean smoothness" not in wizard.column_types, "the weights get no featurization settings"
    job = wizard.build_job()
    assert job.weight_column_name == "mean smoothness"
    assert "weight_column_name='mean smoothness'" in ws_with_data.automl.to_code(job)
    assert ws_with_data.automl.to_code(job, azure=True).count("weight_column_name='mean smoothness'") == 1
    wizard.close()


@pytest.mark.slow
def test_wizard_steps_to_a_submitted_job_and_a_live_leaderboard(ws_with_data: Workspace) -> None:
    ws = ws_with_data
    wizard = AutoMLWizard(ws, poll_interval=0.5)
    # 1. dataset, with a preview of its rows
    assert wizard.dataset.options == ("cancer",) and wizard.version.value == "1"
    assert "mean radius" in wizard.preview.value and "malignant" in wizard.preview.value
    wizard.next_button.click()
    # 2. configure: the target must be chosen
    assert wizard.step == 1
    wizard.target.value = None
    wizard.next_button.click()
    assert wizard.step == 1 and wizard.message.text.startswith("Select the target column")
    wizard.target.value = "diagnosis"
    wizard.experiment.value = "wizard-automl"
    wizard.next_button.click()
    # 3. task and settings
    assert wizard.step == 2
    wizard.task.value = "classification"
    assert "AUC_weighted" in wizard.metric.options
    wizard.metric.value = "AUC_weighted"
    wizard.blocked.value = ("KNN", "DecisionTree", "ExtremeRandomTrees")
    wizard.column_types["mean area"].value = "Ignore"
    wizard.column_impute["mean texture"].value = "median"
    wizard.test.value = "split"
    wizard.test_size.value = 0.2
    wizard.timeout.value = 0.0
    wizard.next_button.click()
    # 4. review: the code in both forms, and the data checked before the run
    assert wizard.step == 3 and wizard.submit_button.layout.display == "flex"
    assert "automl.classification(" in wizard.code.code and "ws.jobs.create_or_update(job)" in wizard.code.code
    assert "from azure.ai.ml import" in wizard.azure_code.code and "ml_client.jobs" in wizard.azure_code.code
    assert "column_name_and_types={'mean area': 'Ignore'}" in wizard.code.code
    wizard.submit_button.click()  # a zero budget is refused, nothing is submitted
    assert wizard.message.text == "The 'timeout_minutes' limit must be a number > 0. Got 0.0 instead."
    assert wizard.results is None and ws.jobs.list(include_interactive=False) == []
    wizard.timeout.value = 2.0
    wizard.max_trials.value = 3  # the job ends after three trials, however busy the machine
    wizard.check_button.click()
    assert "Validation split handling" in wizard.guardrails.value and "Target leakage detection" in wizard.guardrails.value
    assert wizard.message.text.startswith("The data passes the checks")
    wizard.submit_button.click()
    results = wizard.results
    assert results is not None and wizard.message.text.startswith("Submitted AutoML job ")
    job = ws.automl.get(results.name).job
    assert job.type == "automl" and job.experiment_name == "wizard-automl"
    # the live view follows the job to its end, then shows the best model with its charts
    wait_until(lambda: results._shown_final, timeout=300, interval=0.25, what="the results to show the finished job")
    assert "LightGBM" in results.leaderboard.value and "★" in results.leaderboard.value
    assert len(results.chart.outputs) == 1, "the best metric over time"
    titles = [o["data"]["text/plain"] for o in results.report.outputs]
    assert titles[:5] == ["<Figure: Confusion matrix>", "<Figure: ROC curve>", "<Figure: Precision-recall curve>",
                          "<Figure: Calibration curve>", "<Figure: Cumulative gains (lift)>"]
    assert "<Figure: Raw feature importance (permutation)>" in titles
    assert results.progress.value == 1.0 and "Completed" in results.header.value
    wait_until(lambda: ("automl", results.name) not in results._subscription.poller.watching(),
               timeout=10, interval=0.25, what="the live refresh to stop")
    assert not results.register_button.disabled
    results.register_button.click()
    assert results.message.text == f"Registered model {results.model_name.value} version 1."
    assert ws.models.get(results.model_name.value).job_name == results.name
    results.endpoint_name.value = "wizard-ep"
    results.deploy_button.click()  # the registered model goes behind a real-time endpoint
    assert results.message.text.startswith("Deployed to endpoint wizard-ep: http://127.0.0.1:"), results.message.text
    endpoint = ws.online_endpoints.get("wizard-ep")
    assert endpoint.traffic == {"blue": 100}
    assert str(ws.online_deployments.get("blue", "wizard-ep").state) == "Healthy"
    # the report links to the best model's explanation (SHAP, through ws.explanations)
    assert results.open_explanation_button.disabled and not results.explain_button.disabled
    results.explain_button.click()
    assert "Explaining the best model" in results.explanation_status.value, results.message.text
    wait_until(lambda: not results.open_explanation_button.disabled,
               timeout=300, interval=0.25, what="the explanation job to finish")
    [record] = ws.automl.list_explanations(results.name)
    assert record.model == f"runs:/{ws.jobs.get(results.name).run_id}/model"
    results.open_explanation_button.click()
    [dashboard] = results.explanation_box.children
    # its form starts on what the registered best model records: the AutoML job's data and target
    form = dashboard.form
    assert form.model.value == f"azureml:{results.model_name.value}:1"
    assert form.dataset.value == "azureml:cancer:1" and form.target.value == "diagnosis"
    importance = dashboard.view.exp.global_importance
    assert "mean radius" in importance and "diagnosis" not in importance
    # a fresh view of the finished job links to the same explanation at once
    again = AutoMLResults(ws, results.name, live=False)
    assert again._explanation.name == record.name and not again.open_explanation_button.disabled
    again.close()
    wizard.close()
    # Opened again, the page starts on its list of AutoML jobs; the wizard waits for "New".
    page = AutoMLWizard(ws)
    assert page.wizard_box.layout.display == "none" and page.jobs_table.visible_keys() == [results.name]
    assert page.job_picker.value == results.name
    # the list names each job's task and primary metric (a listed job carries them in its tags)
    assert page.jobs_table.cell(results.name, "task") == "classification"
    assert page.jobs_table.cell(results.name, "metric") == "AUC_weighted"
    page.jobs_table.open_row(results.name)  # a click on its row
    assert page.results is not None and page.results.name == results.name
    assert "Hyperparameters" in page.results.leaderboard.value and "s<" in page.results.leaderboard.value
    opened = page.results.open_trial()
    assert opened is not None and page.results.trial_box.children == (opened,)
    page.new_button.click()
    assert page.wizard_box.layout.display is None and page.step == 0
    page.close()


@pytest.fixture
def ws_two_datasets(workspace: Workspace, tmp_path: Path) -> Workspace:
    """Two datasets both at version 1, with different columns: a continuous and a 0/1 target."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    houses = pd.DataFrame({"rooms": rng.integers(1, 8, 200), "area": rng.normal(90, 20, 200).round(1)})
    houses["price"] = houses["area"] * 3100.5 + rng.normal(0, 5000, 200)
    patients = pd.DataFrame({"Pregnancies": rng.integers(0, 9, 200), "PlasmaGlucose": rng.normal(110, 25, 200).round(0),
                             "BMI": rng.normal(28, 5, 200).round(2)})
    patients["Diabetic"] = (patients["PlasmaGlucose"] > 120).astype(int)
    for name, frame in (("houses", houses), ("patients", patients)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        workspace.data.create_or_update(Data(name=name, path=str(tmp_path / f"{name}.csv"), type="tabular"))
    return workspace


def test_switching_to_another_dataset_at_the_same_version_reloads_preview_columns_and_job(
        ws_two_datasets: Workspace) -> None:
    ws = ws_two_datasets
    wizard = AutoMLWizard(ws)
    wizard.dataset.value = "houses"
    assert wizard.version.value == "1" and wizard.target.options == ("rooms", "area", "price")
    wizard.target.value = "rooms"
    wizard.dataset.value = "patients"  # also at version 1: the version's value does not change
    assert wizard.version.value == "1"
    assert wizard.target.options == ("Pregnancies", "PlasmaGlucose", "BMI", "Diabetic")
    assert wizard.target.value == "Diabetic", "a target the new data lacks is not kept; a label-like column is offered"
    assert "PlasmaGlucose" in wizard.preview.value and "area" not in wizard.preview.value
    assert "azureml:patients:1" in wizard.preview.value
    assert set(wizard.column_types) == {"Pregnancies", "PlasmaGlucose", "BMI"}
    wizard.max_trials.value = 1
    wizard.timeout.value = 1.0
    for _ in range(3):
        wizard.next()
    assert wizard.step == 3, wizard.message.text
    assert "patients:1" in wizard.review.value and "Diabetic" in wizard.review.value and "rooms" not in wizard.review.value
    submitted = wizard.submit()
    assert submitted is not None, wizard.message.text
    # The job's progress takes the wizard's place and scrolls into view (not below the fold).
    assert wizard.wizard_box.layout.display == "none"
    assert wizard.results_box.children[0] is wizard._reveal and "scrollIntoView" in wizard._reveal.value
    try:
        run = ws.automl.get(str(submitted.name))
        inputs = getattr(run.job, "inputs", {})  # an AutoML job's data is its training_data input
        assert inputs["training_data"].path == "azureml:patients:1" and run.target_column_name == "Diabetic"
    finally:
        ws.jobs.begin_cancel(str(submitted.name))
        wizard.close()


def test_the_task_follows_the_target_until_the_user_chooses_one(ws_two_datasets: Workspace) -> None:
    wizard = AutoMLWizard(ws_two_datasets)
    wizard.dataset.value = "houses"
    assert wizard.target.value == "price" and wizard.task.value == "regression", wizard.task_hint.value
    assert "Regression" in wizard.task_hint.value
    assert wizard.metric.value == "normalized_root_mean_squared_error"
    wizard.target.value = "rooms"  # seven distinct whole numbers: classes
    assert wizard.task.value == "classification"
    wizard.dataset.value = "patients"
    assert wizard.target.value == "Diabetic" and wizard.task.value == "classification"
    wizard.target.value = "PlasmaGlucose"  # many distinct numbers
    assert wizard.task.value == "regression"
    wizard.task.value = "classification"  # the user's own choice is kept from now on
    wizard.target.value = "BMI"
    assert wizard.task.value == "classification" and "Regression" in wizard.task_hint.value
    wizard.close()


def test_suggest_task_reads_strings_codes_and_continuous_numbers() -> None:
    import pandas as pd

    from studio_ext.panels.automl import suggest_task

    assert suggest_task(pd.Series(["yes", "no"] * 50))[0] == "classification"
    assert suggest_task(pd.Series([0, 1] * 50))[0] == "classification"
    assert suggest_task(pd.Series([True, False] * 50))[0] == "classification"
    assert suggest_task(pd.Series(range(1, 6)).repeat(20))[0] == "classification"
    assert suggest_task(pd.Series([25.0 + i * 1.5 for i in range(100)]))[0] == "regression"
    assert suggest_task(pd.Series([0.1, 0.25, 0.5, 0.75, 1.3, 2.2, 3.1, 4.4, 5.2, 6.6, 7.1, 8.9] * 5))[0] == "regression"


def test_with_no_automl_job_the_page_shows_the_list_and_the_wizard(ws_with_data: Workspace) -> None:
    wizard = AutoMLWizard(ws_with_data)
    assert wizard.jobs_table.visible_keys() == [] and wizard.wizard_box.layout.display is None
    assert "No Automated ML jobs yet" in wizard.jobs_table._empty.value
    wizard.close()


def test_the_leaderboard_groups_ties_and_shows_the_best_per_algorithm() -> None:
    from types import SimpleNamespace

    from studio_ext.entities._automl import AutoMLTrial
    from studio_ext.panels.automl import hyperparameters_text, leaderboard_groups, trial_duration

    trials = [AutoMLTrial(name=f"t{i}", trial=i, algorithm="ElasticNet", status="Completed", metric=0.170231 + i * 1e-9,
                          hyperparameters={"alpha": str(1.3 + i / 100), "l1_ratio": "0.5"}, duration_seconds=0.04)
              for i in range(1, 6)]
    trials += [AutoMLTrial(name="t6", trial=6, algorithm="LightGBM", status="Completed", metric=0.18,
                           hyperparameters={"n_estimators": "100"}, duration_seconds=1.26),
               AutoMLTrial(name="t7", trial=7, algorithm="LightGBM", status="Completed", metric=0.19),
               AutoMLTrial(name="t8", trial=8, algorithm="KNN", status="Failed")]
    run = SimpleNamespace(trials=trials, higher_is_better=False)
    groups = leaderboard_groups(run)
    assert [len(g) for g in groups] == [5, 1, 1, 1] and groups[0][0].trial == 1
    assert [g[0].algorithm for g in leaderboard_groups(run, best_per_algorithm=True)] == [
        "ElasticNet", "LightGBM", "KNN"]
    assert hyperparameters_text(trials[0].hyperparameters) == "alpha=1.31, l1_ratio=0.5"
    assert hyperparameters_text({"n_estimators": "100", "alpha": 0.0001234567}) == "n_estimators=100, alpha=0.0001235"
    assert trial_duration(0.04) == "0.0s" and trial_duration(1.26) == "1.3s" and trial_duration(75) == "1m 15s"
