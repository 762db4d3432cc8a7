"""DP-100 Lab 08 "Run script as a command job": a script that takes its data and rate as arguments."""

from __future__ import annotations

import pytest
from azure.ai.ml import command
from azure.identity import DefaultAzureCredential

from studio_ext import Workspace
from tests.labs.dp100.course import stream_to_end, training_script

pytestmark = pytest.mark.slow


def test_the_script_with_arguments_runs_as_a_command_job(lab, aml_cluster, capsys: pytest.CaptureFixture[str]) -> None:
    ml_client = Workspace.from_config(credential=DefaultAzureCredential())
    lab.diabetes("src/diabetes.csv")
    lab.write("src/train-model-parameters.py", training_script("print"))

    job = command(
        code="./src",
        command="python train-model-parameters.py --training_data diabetes.csv",
        environment="AzureML-sklearn-1.5@latest",
        compute="aml-cluster",
        display_name="diabetes-train-script",
        experiment_name="diabetes-training",
    )
    returned_job = ml_client.create_or_update(job)
    print("Monitor your job at", returned_job.studio_url)

    streamed = stream_to_end(ml_client, returned_job.name, capsys)
    assert "Reading diabetes.csv" in streamed and "regularization rate 0.01" in streamed
    assert "Accuracy: 0.7" in streamed and "AUC: 0.8" in streamed
