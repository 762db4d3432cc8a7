"""Every AutoML job exports as Azure ML v2 YAML that azure-ai-ml's own loader accepts, and as code that builds."""

from __future__ import annotations

from pathlib import Path

# The azure extra, which `make test` installs: imported, so a broken azure-ai-ml fails here instead of skipping.
import azure.ai.ml as azure_ml
import pytest

from studio_ext import Input, automl


def jobs() -> list:
    data = Input(type="mltable", path="azureml:cancer:1")
    classification = automl.classification(
        training_data=data, target_column_name="diagnosis", primary_metric="AUC_weighted", compute="cpu-cluster",
        experiment_name="cancer", n_cross_validations=5, test_data=Input(type="mltable", path="azureml:cancer-test:2"),
        positive_label="malignant", name="cancer_automl_1", tags={"team": "ml"})
    classification.set_limits(timeout_minutes=0.5, trial_timeout_minutes=0.2, max_trials=40, max_concurrent_trials=2,
                              enable_early_termination=False, exit_score=0.99)
    classification.set_training(allowed_training_algorithms=["LightGBM", "LogisticRegression"],
                                enable_stack_ensemble=False, enable_model_explainability=False)
    classification.set_featurization(blocked_transformers=["LabelEncoder"],
                                     column_name_and_types={"mean radius": "Numeric", "note": "Text"},
                                     transformer_params={"imputer": [{"fields": ["mean area"],
                                                                      "parameters": {"strategy": "median"}}]})
    regression = automl.regression(training_data=Input(type="mltable", path="azureml:diabetes:3"),
                                   validation_data=Input(type="mltable", path="azureml:diabetes-valid:1"),
                                   target_column_name="progression", primary_metric="r2_score",
                                   weight_column_name="visit_weight")
    regression.set_featurization(mode="off")
    forecasting = automl.forecasting(training_data=Input(type="mltable", path="azureml:sales:1"),
                                     target_column_name="sales", compute="local", validation_data_size=0.2)
    forecasting.set_forecast_settings(time_column_name="date", forecast_horizon=14,
                                      time_series_id_column_names="store", target_lags=[14, 21])
    return [classification, regression, forecasting]


@pytest.mark.parametrize("job", jobs(), ids=["classification", "regression", "forecasting"])
def test_yaml_loads_with_azure_ai_ml(job, tmp_path: Path) -> None:
    path = tmp_path / "job.yml"
    path.write_text(automl.to_azure_yaml(job))
    loaded = azure_ml.load_job(path)
    assert type(loaded).__name__ == type(job).__name__
    assert str(loaded.task_type).lower().endswith(job.task) and loaded.target_column_name == job.target_column_name
    assert loaded.training_data.path.removeprefix("azureml:") == job.training_data.path.removeprefix("azureml:")
    assert loaded.limits.timeout_minutes == max(1, int(-(-job.limits.timeout_minutes // 1)))
    assert loaded.limits.max_concurrent_trials == job.limits.max_concurrent_trials
    assert str(loaded.featurization.mode).lower().endswith(str(job.featurization.mode))
    if job.task == "classification":
        assert loaded.training.allowed_training_algorithms == ["LightGBM", "LogisticRegression"]
        assert loaded.featurization.blocked_transformers == ["LabelEncoder"]
        assert loaded.limits.exit_score == 0.99 and loaded.positive_label == "malignant"
    if job.task == "regression":
        assert loaded.weight_column_name == "visit_weight"
    if job.task == "forecasting":
        assert loaded.forecasting_settings.forecast_horizon == 14
        assert loaded.forecasting_settings.time_series_id_column_names == ["store"]


@pytest.mark.parametrize("job", jobs(), ids=["classification", "regression", "forecasting"])
def test_the_shown_code_builds_the_same_job(job) -> None:
    ours: dict = {}
    exec(automl.to_code(job).replace("ws = Workspace.from_config()\n", "").replace(
        "job = ws.jobs.create_or_update(job)\n", ""), ours)
    assert automl.to_azure_yaml(ours["job"]) == automl.to_azure_yaml(job)
    theirs: dict = {}
    exec(automl.to_azure_code(job).replace("ml_client = MLClient.from_config(DefaultAzureCredential())\n", "")
         .replace("returned_job = ml_client.jobs.create_or_update(job)\n", ""), theirs)
    built = theirs["job"]
    assert str(built.task_type).lower().endswith(job.task) and built.limits.max_trials == job.limits.max_trials
    assert built.target_column_name == job.target_column_name
    assert built.weight_column_name == job.weight_column_name
