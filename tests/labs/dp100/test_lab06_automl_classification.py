"""DP-100 Lab 06 "Classification with Automated Machine Learning": an AutoML job on an MLTable data asset."""

from __future__ import annotations

import pytest
from azure.ai.ml import Input, automl
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import Data
from azure.identity import DefaultAzureCredential

from studio_ext import Workspace
from tests.labs.dp100.course import stream_to_end

pytestmark = pytest.mark.slow


def test_automl_classification_on_the_diabetes_table(lab, aml_cluster, capsys: pytest.CaptureFixture[str]) -> None:
    ml_client = Workspace.from_config(credential=DefaultAzureCredential())
    # setup.sh: `az ml data create --type mltable --name diabetes-training --path ./diabetes-data`
    lab.mltable_folder("diabetes-data", rows=600)
    ml_client.data.create_or_update(Data(name="diabetes-training", type=AssetTypes.MLTABLE, path="./diabetes-data"))

    my_training_data_input = Input(type=AssetTypes.MLTABLE, path="azureml:diabetes-training:1")

    classification_job = automl.classification(
        compute="aml-cluster",
        experiment_name="auto-ml-class-dev",
        training_data=my_training_data_input,
        target_column_name="Diabetic",
        primary_metric="accuracy",
        n_cross_validations=5,
        enable_model_explainability=True,
    )
    classification_job.set_limits(
        timeout_minutes=60,
        trial_timeout_minutes=20,
        max_trials=5,
        enable_early_termination=True,
    )
    classification_job.set_training(
        blocked_training_algorithms=["LogisticRegression"],
        enable_onnx_compatible_models=True,
    )

    returned_job = ml_client.jobs.create_or_update(classification_job)
    aml_url = returned_job.studio_url
    print("Monitor your job at", aml_url)
    assert isinstance(aml_url, str) and returned_job.name in aml_url

    stream_to_end(ml_client, returned_job.name, capsys)
    finished = ml_client.jobs.get(returned_job.name)
    assert finished.experiment_name == "auto-ml-class-dev"

    # What the studio's "Models + child jobs" tab shows: at most five trials (and the ensembles built from
    # them, as Azure adds), none of the blocked algorithm.
    trials = ml_client.jobs.list(parent_job_name=returned_job.name)
    algorithms = [trial.tags.get("algorithm") for trial in trials]
    assert all(algorithms) and "LogisticRegression" not in algorithms, algorithms
    assert 1 <= len([a for a in algorithms if not a.endswith("Ensemble")]) <= 5, algorithms
    # enable_model_explainability: the best model's explanation is there to open.
    assert not ml_client.automl.get_explanation(returned_job.name).empty
