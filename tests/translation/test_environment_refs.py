"""Environment references in every form Azure takes, and the Docker build context it cannot run here."""

from __future__ import annotations

from pathlib import Path

import azure.ai.ml.entities as az
import pytest

from studio_ext.errors import InvalidInput
from studio_ext.translation import from_azure_any
from studio_ext.translation.environment import EnvironmentReference, from_v2, parse_reference


@pytest.mark.parametrize(("text", "expected"), [
    ("AzureML-sklearn-1.5@latest", EnvironmentReference(name="AzureML-sklearn-1.5", label="latest")),
    ("AzureML-sklearn-1.5:12", EnvironmentReference(name="AzureML-sklearn-1.5", version="12")),
    ("azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest",
     EnvironmentReference(name="AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", label="latest")),
    ("azureml://registries/azureml/environments/sklearn-1.5/labels/latest",
     EnvironmentReference(name="sklearn-1.5", label="latest", registry="azureml")),
    ("azureml://registries/azureml/environments/sklearn-1.5/versions/44",
     EnvironmentReference(name="sklearn-1.5", version="44", registry="azureml")),
    ("azureml://registries/azureml/environments/sklearn-1.5",
     EnvironmentReference(name="sklearn-1.5", registry="azureml")),
    ("azureml://subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/"
     "environments/mine/versions/2", EnvironmentReference(name="mine", version="2")),
    ("mine", EnvironmentReference(name="mine")),
])
def test_every_reference_form_is_parsed(text: str, expected: EnvironmentReference) -> None:
    assert parse_reference(text) == expected


def test_a_reference_prints_in_the_form_it_was_given() -> None:
    assert str(parse_reference("azureml:sk:3")) == "sk:3"
    assert str(parse_reference("sk@latest")) == "sk@latest"
    long = "azureml://registries/azureml/environments/sklearn-1.5/versions/44"
    assert str(parse_reference(long)) == long


@pytest.mark.parametrize("text", ["azureml://datastores/x/paths/y", "sk:", "@latest", "azureml://registries/r/models/m"])
def test_a_malformed_reference_says_which_forms_are_taken(text: str) -> None:
    with pytest.raises(InvalidInput, match="must read|not one Azure ML takes"):
        parse_reference(text)


def test_a_docker_build_context_is_refused_with_what_to_give_instead(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04\n")
    env = az.Environment(name="docker-env", build=az.BuildContext(path=str(tmp_path)))
    with pytest.raises(InvalidInput) as info:
        from_azure_any(env)
    message = str(info.value)
    assert message.startswith("Environment 'docker-env' is built from a Docker build context (")
    assert "Docker builds do not run locally. Give the same packages as a conda file instead" in message
    with pytest.raises(InvalidInput, match="Docker builds do not run locally"):
        from_v2({"name": "e", "build": {"path": "./docker"}})
