"""DP-100 Lab 09 "Hyperparameter tuning": a command job's reg_rate swept over a grid on aml-cluster.

The course's calls, unchanged apart from the client: ``command(...)`` with ``reg_rate`` as an
input, ``job(reg_rate=Choice(values=[0.01, 0.1, 1]))``, ``.sweep(compute="aml-cluster",
sampling_algorithm="grid", primary_metric="training_accuracy_score", goal="Maximize")``, the
experiment name and ``set_limits(max_total_trials=4, max_concurrent_trials=2, timeout=7200)``,
then ``ml_client.create_or_update`` and the ``studio_url``. The data asset ``diabetes-data:1``
is what the course's setup.sh registers.
"""

from __future__ import annotations

import pytest
from azure.ai.ml import Input, command
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import Data
from azure.ai.ml.sweep import Choice
from azure.identity import DefaultAzureCredential

from studio_ext import Workspace
from tests.labs.dp100.course import training_script

pytestmark = pytest.mark.slow


def test_the_regularization_rate_sweep_runs_every_grid_point(lab, aml_cluster,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    ml_client = Workspace.from_config(credential=DefaultAzureCredential())
    lab.diabetes("data/diabetes.csv")
    ml_client.data.create_or_update(Data(name="diabetes-data", version="1", type=AssetTypes.URI_FILE,
                                         path="./data/diabetes.csv"))
    # The lab's script logs the rate as a parameter and its accuracy as training_accuracy_score.
    lab.write("src/train.py", training_script("log").replace('"Accuracy", accuracy', '"training_accuracy_score", accuracy'))

    job = command(
        code="./src",
        command="python train.py --training_data ${{inputs.diabetes_data}} --reg_rate ${{inputs.reg_rate}}",
        inputs={
            "diabetes_data": Input(type=AssetTypes.URI_FILE, path="azureml:diabetes-data:1"),
            "reg_rate": 0.01,
        },
        environment="AzureML-sklearn-1.5@latest",
        compute="aml-cluster",
        display_name="diabetes-train-mlflow",
        experiment_name="diabetes-training",
        tags={"model_type": "LogisticRegression"},
    )
    command_job_for_sweep = job(reg_rate=Choice(values=[0.01, 0.1, 1]))
    sweep_job = command_job_for_sweep.sweep(
        compute="aml-cluster",
        sampling_algorithm="grid",
        primary_metric="training_accuracy_score",
        goal="Maximize",
    )
    sweep_job.experiment_name = "sweep-diabetes"
    sweep_job.set_limits(max_total_trials=4, max_concurrent_trials=2, timeout=7200)

    returned_sweep_job = ml_client.create_or_update(sweep_job)
    aml_url = returned_sweep_job.studio_url
    print("Monitor your job at", aml_url)
    assert aml_url and returned_sweep_job.type == "sweep"

    capsys.readouterr()
    ml_client.jobs.stream(returned_sweep_job.name)
    streamed = capsys.readouterr().out
    done = ml_client.jobs.get(returned_sweep_job.name)
    assert done.status == "Completed", streamed
    assert done.experiment_name == "sweep-diabetes" and done.compute == "aml-cluster"
    # The grid has three points: max_total_trials=4 leaves one unused, as on Azure.
    trials = ml_client.jobs.list(parent_job_name=done.name)
    assert len(trials) == 3 and {t.status for t in trials} == {"Completed"}
    assert {t.compute for t in trials} == {"aml-cluster"}
    rates = {float(t.params["Regularization rate"]) for t in (ml_client.jobs.get(t.name) for t in trials)}
    assert rates == {0.01, 0.1, 1.0}
    best = ml_client.jobs.get(done.best_child_run_id)
    accuracies = [ml_client.jobs.get(t.name).metrics["training_accuracy_score"] for t in trials]
    assert best.metrics["training_accuracy_score"] == max(accuracies) == done.best_metric
    assert done.best_hyperparameters["reg_rate"] in (0.01, 0.1, 1)
