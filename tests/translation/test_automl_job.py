"""AutoML jobs: azure.ai.ml.automl's classification/regression/forecasting <-> studio_ext's, through v2 YAML."""

from __future__ import annotations

import pytest
from azure.ai.ml import Input as AzureInput
from azure.ai.ml import automl as aml_automl
from azure.ai.ml.constants import AssetTypes

from studio_ext import Input, automl, entities
from studio_ext.errors import InvalidInput
from studio_ext.translation import automl_job, from_azure_any, from_yaml, to_azure, to_yaml


def lab06_job() -> object:
    """The job DP-100 Lab 06 builds, as written there."""
    job = aml_automl.classification(
        compute="aml-cluster", experiment_name="auto-ml-class-dev",
        training_data=AzureInput(type=AssetTypes.MLTABLE, path="azureml:diabetes-training:1"),
        target_column_name="Diabetic", primary_metric="accuracy", n_cross_validations=5,
        enable_model_explainability=True)
    job.set_limits(timeout_minutes=60, trial_timeout_minutes=20, max_trials=5, enable_early_termination=True)
    job.set_training(blocked_training_algorithms=["LogisticRegression"], enable_onnx_compatible_models=True)
    return job


def test_the_lab06_job_keeps_every_setting() -> None:
    result = from_azure_any(lab06_job())
    got = result.entity
    assert isinstance(got, entities.ClassificationJob)
    assert (got.compute, got.experiment_name, got.target_column_name, got.primary_metric, got.n_cross_validations) == (
        "aml-cluster", "auto-ml-class-dev", "Diabetic", "accuracy", 5)
    assert got.training_data == Input(type="mltable", path="azureml:diabetes-training:1")
    assert (got.limits.timeout_minutes, got.limits.trial_timeout_minutes, got.limits.max_trials) == (60, 20, 5)
    assert got.training.blocked_training_algorithms == ["LogisticRegression"]  # Azure's name, not the v2 snake case
    assert got.training.enable_model_explainability and got.training.enable_onnx_compatible_models
    assert [n.field for n in result.notes] == ["training.enable_onnx_compatible_models"]
    assert "no ONNX copy is made" in result.notes[0].message


def test_a_local_training_folder_keeps_its_path_and_v2_algorithm_names_are_azures(tmp_path) -> None:
    job = aml_automl.regression(training_data=AzureInput(type="mltable", path=str(tmp_path)), target_column_name="y")
    assert from_azure_any(job).entity.training_data.path == str(tmp_path)
    got = automl_job.from_v2({"type": "automl", "task": "classification", "target_column_name": "y",
                              "training_data": {"type": "mltable", "path": "azureml:d:1"},
                              "training": {"blocked_training_algorithms": ["light_gbm", "xg_boost_classifier"]}})
    assert got.entity.training.blocked_training_algorithms == ["LightGBM", "XGBoostClassifier"]


def test_forecasting_settings_and_the_ones_kept_for_azure() -> None:
    job = aml_automl.forecasting(training_data=AzureInput(type="mltable", path="azureml:sales:1"),
                                 target_column_name="qty")
    job.set_forecast_settings(time_column_name="date", forecast_horizon=7, time_series_id_column_names=["store"],
                              frequency="D", country_or_region_for_holidays="US")
    result = from_azure_any(job)
    got = result.entity
    assert isinstance(got, entities.ForecastingJob)
    fs = got.forecasting_settings
    assert (fs.time_column_name, fs.forecast_horizon, fs.time_series_id_column_names, fs.frequency) == (
        "date", 7, ["store"], "D")
    assert got.properties["azureml.forecasting.country_or_region_for_holidays"] == "US"
    assert "forecasting.country_or_region_for_holidays" in [n.field for n in result.notes]
    assert "country_or_region_for_holidays: US" in to_yaml(got)  # back into the v2 section on the way out


@pytest.mark.parametrize("job", [
    automl.classification(training_data=Input(type="mltable", path="azureml:cancer:1"), target_column_name="t",
                          primary_metric="AUC_weighted", experiment_name="e", compute="cpu-cluster",
                          n_cross_validations=3, positive_label="yes", tags={"t": "1"}),
    automl.regression(training_data=Input(type="mltable", path="azureml:diabetes:2"), target_column_name="y",
                      validation_data=Input(type="mltable", path="azureml:diabetes-val:1"), compute="local",
                      primary_metric="r2_score"),
], ids=["classification", "regression"])
def test_round_trip_through_azures_loader(job: entities.AutoMLJob) -> None:
    job.set_limits(timeout_minutes=15, max_trials=4)
    job.set_training(blocked_training_algorithms=["KNN"], enable_onnx_compatible_models=True)
    assert from_yaml(to_yaml(job)).entity == job
    assert type(to_azure(job)).__name__ == type(job).__name__  # azure.ai.ml.automl's class of the same name
    back = from_azure_any(to_azure(job)).entity
    assert back == job


def test_azures_default_metric_is_taken_where_the_job_leaves_it_out() -> None:
    job = aml_automl.regression(training_data=AzureInput(type="mltable", path="azureml:d:1"), target_column_name="y")
    assert from_azure_any(job).entity.primary_metric == "normalized_root_mean_squared_error"


def test_image_and_nlp_tasks_are_refused() -> None:
    with pytest.raises(InvalidInput, match=r"task is 'image_classification': locally AutoML runs the tabular tasks"):
        automl_job.from_v2({"type": "automl", "task": "image_classification", "target_column_name": "label"})
