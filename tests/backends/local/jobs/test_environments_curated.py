"""Curated environments: every reference form Azure takes resolves against the built-in catalog."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from studio_ext import Environment, Workspace, command
from studio_ext.backends.local.jobs import curated
from studio_ext.errors import InvalidInput, NotFound
from tests.helpers import completed_log

FORMS = {
    "AzureML-sklearn-1.5@latest": ("AzureML-sklearn-1.5", "44"),
    "AzureML-sklearn-1.5:12": ("AzureML-sklearn-1.5", "12"),
    "azureml:AzureML-sklearn-1.5:12": ("AzureML-sklearn-1.5", "12"),
    "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest": ("AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", "36"),
    "azureml:AzureML-sklearn-0.24-ubuntu18.04-py37-cpu@latest": ("AzureML-sklearn-0.24-ubuntu18.04-py37-cpu", "49"),
    "azureml://registries/azureml/environments/sklearn-1.5/labels/latest": ("AzureML-sklearn-1.5", "44"),
    "azureml://registries/azureml/environments/sklearn-1.5/versions/44": ("AzureML-sklearn-1.5", "44"),
    "azureml://registries/azureml/environments/lightgbm-3.3": ("AzureML-lightgbm-3.3", "53"),
    "AzureML-ACPT-pytorch-1.12-py39-cuda11.6-gpu:3": ("AzureML-ACPT-pytorch-1.12-py39-cuda11.6-gpu", "3"),
    "azureml:AzureML-minimal-ubuntu20.04-py38-cpu-inference@latest":
        ("AzureML-minimal-ubuntu20.04-py38-cpu-inference", "43"),
}


@pytest.mark.parametrize("reference", list(FORMS))
def test_every_reference_form_resolves_to_the_catalog(workspace: Workspace, reference: str) -> None:
    env = workspace.environments.resolve(reference)
    assert (env.name, env.version) == FORMS[reference]
    assert env.uses_current_interpreter and env.image.startswith(curated.MCR)
    assert curated.find(env.name) is not None
    azure = workspace.environments.to_yaml(env)  # what Azure would be given back: the curated image, as a v2 file
    assert f"image: {curated.MCR}" in azure and f"name: {env.name}" in azure


def test_the_catalog_lists_the_environments_the_course_and_docs_use() -> None:
    names = {n for entry in curated.CATALOG for n in entry.names}
    for name in ("AzureML-sklearn-1.5", "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", "AzureML-sklearn-1.1",
                 "AzureML-sklearn-0.24-ubuntu18.04-py37-cpu", "AzureML-lightgbm-3.3", "AzureML-acpt-pytorch-2.8-cuda12.6",
                 "AzureML-tensorflow-2.16-cuda12", "AzureML-minimal-ubuntu20.04-py38-cpu-inference",
                 "AzureML-mlflow-ubuntu20.04-py38-cpu-inference", "AzureML-responsibleai-tabular"):
        assert name in names
    sklearn = curated.find("azureml-SKLEARN-1.5")  # names are matched without regard to case, as Azure does
    assert sklearn is not None and sklearn.python == "3.10" and sklearn.packages["scikit-learn"] == "~=1.5.0"


def test_list_and_get_show_the_curated_ones_beside_the_users(workspace: Workspace) -> None:
    workspace.environments.create_or_update(Environment(name="mine", pip_requirements=["tomli-w"]))
    listed = list(workspace.environments.list())
    assert listed[0].name == "mine"
    curated_names = [e.name for e in listed[1:]]
    assert curated_names == [entry.name for entry in curated.CATALOG]
    sk = next(e for e in listed if e.name == "AzureML-sklearn-1.5")
    assert sk.description.startswith("An environment for tasks such as regression")
    assert sk.tags["Scikit-learn"] == "1.5" and sk.tags["Python"] == "3.10"
    got = workspace.environments.get("AzureML-sklearn-1.5", version="12")
    assert (got.name, got.version, got.description) == ("AzureML-sklearn-1.5", "12", sk.description)
    assert workspace.environments.get("AzureML-sklearn-1.5", label="latest").version == "44"
    assert [e.name for e in workspace.environments.list("AzureML-sklearn-1.5")] == ["AzureML-sklearn-1.5"]


def test_an_unknown_curated_name_names_close_matches_and_the_conda_way(workspace: Workspace) -> None:
    with pytest.raises(NotFound) as info:
        workspace.environments.resolve("AzureML-sklearn-1.6@latest")
    message = str(info.value)
    assert "'AzureML-sklearn-1.6@latest' is not a curated environment this studio knows" in message
    assert "close matches: AzureML-sklearn-1.5" in message and "conda_file='conda.yml'" in message
    with pytest.raises(NotFound, match="close matches: AzureML-sklearn-1.5"):
        workspace.environments.resolve("azureml://registries/azureml/environments/sklearn-1.4/labels/latest")
    with pytest.raises(NotFound, match="The registry 'myreg' is not available locally"):
        workspace.environments.resolve("azureml://registries/myreg/environments/mine/versions/1")
    with pytest.raises(InvalidInput, match="Unknown label 'stable'"):
        workspace.environments.resolve("AzureML-sklearn-1.5@stable")


def test_curated_environments_are_read_only(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        workspace.environments.create_or_update(Environment(name="AzureML-sklearn-1.5", pip_requirements=["x"]))
    assert str(info.value) == (
        "'AzureML-sklearn-1.5' is the curated environment AzureML-sklearn-1.5; curated environments are read-only. "
        "Use it as it is (environment='AzureML-sklearn-1.5@latest'), or register yours under a name that does not "
        "start with 'AzureML-'.")
    with pytest.raises(InvalidInput, match="Names starting with 'AzureML-' belong to curated environments"):
        workspace.environments.create_or_update(Environment(name="azureml-my-own", pip_requirements=["x"]))
    assert [e for e in workspace.environments.list() if not e.name.startswith("AzureML-")] == []


def test_differences_name_the_packages_whose_versions_differ() -> None:
    entry = curated.CuratedEnvironment(
        name="AzureML-test", version=1, python=f"{sys.version_info.major}.{sys.version_info.minor}",
        description="", packages={"pyyaml": ">=0.1", "tomli-w": "==0.0.1", "no-such-package-here": ""})
    import importlib.metadata

    assert entry.differences() == [f"tomli-w {importlib.metadata.version('tomli-w')} (image: ==0.0.1)",
                                   "not installed here: no-such-package-here"]
    old = curated.CuratedEnvironment(name="AzureML-old", version=1, python="3.7", description="", packages={})
    assert old.differences() == [f"Python {sys.version_info.major}.{sys.version_info.minor} (image: 3.7)"]


def test_a_job_on_a_curated_environment_runs_in_the_studios_interpreter_and_says_so(
        workspace: Workspace, code_dir: Path) -> None:
    (code_dir / "which.py").write_text("import sys\nprint('PY', sys.executable)\n")
    job = workspace.jobs.create_or_update(command(code=str(code_dir), command="python which.py",
                                                  environment="azureml:AzureML-sklearn-1.5@latest"))
    assert job.environment == "AzureML-sklearn-1.5:44"
    log = completed_log(workspace, job, timeout=120)
    first = log.splitlines()[0]
    assert first.startswith("Environment AzureML-sklearn-1.5:44 is curated: on Azure it is the image "
                            "mcr.microsoft.com/azureml/curated/sklearn-1.5 with Python 3.10. Here it runs in the "
                            f"studio's interpreter, {sys.executable}")
    import sklearn

    assert f"scikit-learn {sklearn.__version__} (image: ~=1.5.0)" in log
    assert "not installed here: " in log and "azureml-core" in log
    assert f"PY {sys.executable}" in log


def test_an_image_without_a_conda_file_runs_in_the_studios_interpreter_with_a_note(
        workspace: Workspace, code_dir: Path) -> None:
    env = workspace.environments.create_or_update(
        Environment(name="img", image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest"))
    (code_dir / "which.py").write_text("import sys\nprint('PY', sys.executable)\n")
    job = workspace.jobs.create_or_update(command(code=str(code_dir), command="python which.py",
                                                  environment=f"{env.name}:{env.version}"))
    log = completed_log(workspace, job, timeout=120)
    assert log.startswith("Environment img:1 names the Docker image 'mcr.microsoft.com/azureml/openmpi4.1.0-"
                          "ubuntu20.04:latest', which is kept for Azure; here it runs in the studio's interpreter")
    assert f"PY {sys.executable}" in log


def test_an_azure_command_on_a_registry_environment_runs_here(workspace: Workspace, code_dir: Path) -> None:
    from azure.ai.ml import command as azure_command

    (code_dir / "t.py").write_text("print('trained')\n")
    job = workspace.jobs.create_or_update(azure_command(
        code=str(code_dir), command="python t.py", compute="local",
        environment="azureml://registries/azureml/environments/sklearn-1.5/labels/latest"))
    log = completed_log(workspace, job, timeout=120)
    assert log.startswith("Environment AzureML-sklearn-1.5:44 is curated") and "trained" in log
