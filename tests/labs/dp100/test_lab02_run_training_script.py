"""DP-100 Lab 02 "Run training script": a script in src/ submitted as a command job on a curated environment."""

from __future__ import annotations

import pytest
from azure.ai.ml import command
from azure.identity import DefaultAzureCredential

from studio_ext import Workspace
from tests.labs.dp100.course import stream_to_end, training_script

pytestmark = pytest.mark.slow


def test_the_training_script_runs_as_a_command_job(lab, aml_cluster, capsys: pytest.CaptureFixture[str]) -> None:
    ml_client = Workspace.from_config(credential=DefaultAzureCredential())
    lab.diabetes("src/diabetes.csv")
    lab.write("src/diabetes-training.py", training_script("print"))

    job = command(
        code="./src",
        command="python diabetes-training.py",
        environment="AzureML-sklearn-1.5@latest",
        compute="aml-cluster",
        display_name="diabetes-pythonv2-train",
        experiment_name="diabetes-training",
    )
    returned_job = ml_client.create_or_update(job)
    aml_url = returned_job.studio_url
    print("Monitor your job at", aml_url)

    assert isinstance(aml_url, str) and returned_job.name in aml_url
    assert (returned_job.display_name, returned_job.experiment_name, returned_job.compute) == (
        "diabetes-pythonv2-train", "diabetes-training", "aml-cluster")
    streamed = stream_to_end(ml_client, returned_job.name, capsys)
    assert "Accuracy: 0.7" in streamed and "AUC: 0.8" in streamed
    assert "AzureML-sklearn-1.5" in streamed, "the log says which curated environment the job stands in for"
