"""DP-100 Lab 04 "Work with compute": create a cluster if missing, scale it, run a script on it."""

from __future__ import annotations

import pytest
from azure.ai.ml import command
from azure.ai.ml.entities import AmlCompute
from azure.identity import DefaultAzureCredential

from studio_ext import Workspace
from tests.labs.dp100.course import stream_to_end, training_script

pytestmark = pytest.mark.slow


def test_a_cluster_is_made_when_missing_scaled_and_runs_the_script(lab, capsys: pytest.CaptureFixture[str]) -> None:
    ml_client = Workspace.from_config(credential=DefaultAzureCredential())

    cpu_compute_target = "aml-cluster"
    missing: Exception | None = None
    try:
        cpu_cluster = ml_client.compute.get(cpu_compute_target)
    except Exception as exc:  # noqa: BLE001 - the lab's own test: any failure to get it means "create it"
        missing = exc
        cpu_cluster = AmlCompute(
            name=cpu_compute_target,
            type="amlcompute",
            size="STANDARD_DS11_V2",
            min_instances=0,
            max_instances=1,
            idle_time_before_scale_down=120,
            tier="Dedicated",
        )
        cpu_cluster = ml_client.compute.begin_create_or_update(cpu_cluster)
    assert missing is not None and "aml-cluster" in str(missing), "a new workspace has no cluster yet"

    cluster_scale = AmlCompute(name="aml-cluster", max_instances=2)
    ml_client.begin_create_or_update(cluster_scale)

    cpu_cluster = ml_client.compute.get("aml-cluster")
    print(f"AMLCompute with name {cpu_cluster.name} has a maximum of {cpu_cluster.max_instances} nodes")
    assert cpu_cluster.name == "aml-cluster"
    assert cpu_cluster.max_instances == 2

    lab.diabetes("src/diabetes.csv")
    lab.write("src/diabetes-training.py", training_script("print"))
    job = command(
        code="./src",
        command="python diabetes-training.py",
        environment="AzureML-sklearn-1.5@latest",
        compute="aml-cluster",
        display_name="diabetes-train-cluster",
        experiment_name="diabetes-training",
    )
    returned_job = ml_client.create_or_update(job)
    print("Monitor your job at", returned_job.studio_url)

    assert returned_job.compute == "aml-cluster"
    streamed = stream_to_end(ml_client, returned_job.name, capsys)
    assert "Accuracy: 0.7" in streamed
