"""translation.accept: the one door every service's create call goes through."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from azure.ai.ml import Input as AzureInput
from azure.ai.ml import command
from azure.ai.ml import entities as aml
from azure.ai.ml.automl import classification

from studio_ext import entities
from studio_ext.errors import AzureFieldNote, InvalidInput
from studio_ext.translation import Note, accept, anonymous_name, show_notes, takes


def test_a_studio_ext_entity_passes_through() -> None:
    data = entities.Data(name="d", path="x.csv")
    result = accept(data, entities.Data, "ws.data.create_or_update")
    assert result.entity is data and result.notes == [] and result.requires == []


def test_an_azure_object_is_translated(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a\n1\n")
    result = accept(aml.Data(name="d", path=str(tmp_path / "d.csv"), type="uri_file"), entities.Data, "ws.data")
    assert isinstance(result.entity, entities.Data)
    assert (result.entity.name, result.entity.type, result.entity.path) == ("d", "file", str(tmp_path / "d.csv"))


def test_a_command_node_gives_a_command_job_with_its_inline_environment_required() -> None:
    env = aml.Environment(image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04",
                          conda_file={"dependencies": ["python=3.11", {"pip": ["scikit-learn"]}]})
    result = accept(command(command="python t.py", environment=env), entities.CommandJob, "ws.jobs.create_or_update")
    assert isinstance(result.entity, entities.CommandJob)
    assert [type(r) for r in result.requires] == [entities.Environment]
    assert result.entity.environment == result.requires[0].name
    assert any(n.field == "image" for n in result.notes)


def test_an_azure_asset_with_no_name_is_anonymous(tmp_path: Path) -> None:
    (tmp_path / "m.pkl").write_bytes(b"weights")
    result = accept(aml.Model(path=str(tmp_path / "m.pkl")), entities.Model, "ws.models.create_or_update")
    assert (result.entity.name, result.entity.version) == ("", None)  # the service names it from its files


def test_the_wrong_kind_names_both_classes_by_full_path() -> None:
    message = ("ws.data.create_or_update takes studio_ext.entities.Data or azure.ai.ml.entities.Data. Got "
               "azure.ai.ml.entities.Model, which is a studio_ext.entities.Model here, not a studio_ext.entities.Data. "
               "Pass it to the service of its kind, or to ws.create_or_update(...), which chooses the service by "
               "the object's type.")
    with pytest.raises(InvalidInput, match=re.escape(message)):
        accept(aml.Model(name="m", path="runs:/abc/model"), entities.Data, "ws.data.create_or_update")


def test_something_else_is_refused_with_what_the_service_takes() -> None:
    with pytest.raises(InvalidInput, match=re.escape(
            "ws.compute.begin_create_or_update takes studio_ext.entities.Compute, azure.ai.ml.entities.AmlCompute or "
            "azure.ai.ml.entities.ComputeInstance. Got dict instead.")):
        accept({"name": "c"}, entities.Compute, "ws.compute.begin_create_or_update")


def test_an_untranslated_azure_class_is_refused() -> None:
    with pytest.raises(InvalidInput, match=re.escape(
            "ws.models.create_or_update takes studio_ext.entities.Model or azure.ai.ml.entities.Model. Got "
            "azure.ai.ml.entities.Workspace, which has no studio_ext translation.")):
        accept(aml.Workspace(name="w"), entities.Model, "ws.models.create_or_update")


def test_an_azure_automl_job_is_translated_for_the_jobs_service() -> None:
    job = classification(training_data=AzureInput(type="mltable", path="azureml:d:1"), target_column_name="y")
    result = accept(job, (entities.CommandJob, entities.AutoMLJob), "ws.jobs.create_or_update")
    assert isinstance(result.entity, entities.ClassificationJob)
    with pytest.raises(InvalidInput, match=re.escape(
            "Got azure.ai.ml.automl.ClassificationJob, which is a studio_ext.entities.ClassificationJob here, not a "
            "studio_ext.entities.CommandJob.")):
        accept(job, entities.CommandJob, "ws.jobs.create_or_update")


def test_an_azure_environment_with_a_docker_build_context_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11\n")
    env = aml.Environment(name="docker-context", build=aml.BuildContext(path=str(tmp_path)))
    message = (f"ws.environments.create_or_update got an azure.ai.ml.entities.Environment with "
               f"build=BuildContext(path={str(tmp_path)!r}): a Docker build context is not built locally. Give the "
               "environment a conda_file= (a conda YAML with the packages your Dockerfile installs) or an image= with "
               "a conda_file, and keep the BuildContext for Azure.")
    with pytest.raises(InvalidInput, match=re.escape(message)):
        accept(env, entities.Environment, "ws.environments.create_or_update")
    with pytest.raises(InvalidInput, match=re.escape("got an azure.ai.ml.entities.Command whose environment has build=")):
        accept(command(command="python t.py", environment=env), entities.CommandJob, "ws.jobs.create_or_update")


def test_takes_lists_studio_ext_then_azure_names() -> None:
    assert takes(entities.CommandJob) == ("studio_ext.entities.CommandJob, azure.ai.ml.command(...) or "
                                          "azure.ai.ml.entities.CommandJob")


def test_notes_are_warned_and_kept_on_the_entity() -> None:
    job = entities.CommandJob(command="python t.py")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        show_notes(job, [Note("resources", "kept for Azure")], "ws.jobs.create_or_update")
    assert [(w.category, str(w.message)) for w in caught] == [
        (AzureFieldNote, "ws.jobs.create_or_update: resources: kept for Azure")]
    assert job.notes == ["resources: kept for Azure"]


def test_anonymous_names_follow_the_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "w.bin").write_bytes(b"1")
    first = anonymous_name(tmp_path / "a", "model")
    assert first == anonymous_name(tmp_path / "a", "model") and first.startswith("anonymous-")
    (tmp_path / "a" / "w.bin").write_bytes(b"2")
    assert anonymous_name(tmp_path / "a", "model") != first


def test_an_azure_environment_with_a_conda_file_translates_instead_of_crashing(tmp_path: Path) -> None:
    # The issue: ws.environments.create_or_update(azure Environment) failed with AttributeError 'pip_requirements'.
    conda = tmp_path / "conda.yml"
    conda.write_text("name: env\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n    - scikit-learn\n")
    env = aml.Environment(name="sklearn-env", image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04",
                          conda_file=str(conda), description="with a conda file")
    got = accept(env, entities.Environment, "ws.environments.create_or_update").entity
    assert (got.name, got.conda_file, got.image, got.pip_requirements) == (
        "sklearn-env", str(conda), "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04", None)
