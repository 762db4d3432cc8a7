"""DP-100 Lab 04 "Work with environments": curated environments, an image environment, an image plus a conda file."""

from __future__ import annotations

import pytest
from azure.ai.ml import command
from azure.ai.ml.entities import Environment
from azure.identity import DefaultAzureCredential

from studio_ext import Workspace
from tests.labs.dp100.course import stream_to_end, training_script

pytestmark = pytest.mark.slow

IMAGE = "mcr.microsoft.com/azureml/openmpi3.1.2-ubuntu18.04"


def _lab_setup(lab) -> Workspace:
    """The notebook's client, and the training script in src/."""
    ml_client = Workspace.from_config(credential=DefaultAzureCredential())
    lab.diabetes("src/diabetes.csv")
    lab.write("src/diabetes-training.py", training_script("print"))
    return ml_client


def _submit_and_watch(ml_client: Workspace, environment: str, capsys: pytest.CaptureFixture[str],
                      display_name: str = "diabetes-train-custom-env") -> str:
    """The lab's job cell on ``environment``; the job's streamed log once it has ended."""
    job = command(
        code="./src",
        command="python diabetes-training.py",
        environment=environment,
        compute="aml-cluster",
        display_name=display_name,
        experiment_name="diabetes-training",
    )
    returned_job = ml_client.create_or_update(job)
    print("Monitor your job at", returned_job.studio_url)
    streamed = stream_to_end(ml_client, returned_job.name, capsys)
    assert "Accuracy: 0.7" in streamed
    return streamed


def test_curated_and_image_environments(lab, aml_cluster, capsys: pytest.CaptureFixture[str]) -> None:
    ml_client = _lab_setup(lab)

    _submit_and_watch(ml_client, "AzureML-sklearn-1.5@latest", capsys, "diabetes-train-curated-env")

    envs = ml_client.environments.list()
    names = [env.name for env in envs]
    assert "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu" in names and "AzureML-sklearn-1.5" in names, names

    env = ml_client.environments.get("AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", version=44)
    print(env.description, env.tags)
    assert env.description and env.tags

    env_docker_image = Environment(
        image=IMAGE,
        name="docker-image-example",
        description="Environment created from a Docker image.",
    )
    registered = ml_client.environments.create_or_update(env_docker_image)
    assert (registered.name, registered.version, registered.image) == ("docker-image-example", "1", IMAGE)

    _submit_and_watch(ml_client, "docker-image-example:1", capsys)


def test_an_image_plus_conda_environment(lab, aml_cluster, capsys: pytest.CaptureFixture[str]) -> None:
    ml_client = _lab_setup(lab)
    lab.write("src/conda-env.yml", (
        "name: basic-env-cpu\n"
        "channels:\n"
        "  - conda-forge\n"
        "dependencies:\n"
        "  - python=3.11\n"
        "  - scikit-learn\n"
        "  - pandas\n"
        "  - numpy\n"
        "  - matplotlib\n"
    ))

    env_docker_conda = Environment(
        image=IMAGE,
        conda_file="./src/conda-env.yml",
        name="docker-image-plus-conda-example",
        description="Environment created from a Docker image plus Conda environment.",
    )
    registered = ml_client.environments.create_or_update(env_docker_conda)
    assert (registered.name, registered.version) == ("docker-image-plus-conda-example", "1")

    _submit_and_watch(ml_client, "docker-image-plus-conda-example:1", capsys)
