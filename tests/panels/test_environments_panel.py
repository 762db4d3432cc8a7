"""The Environments page: curated and custom lists, an environment's details, YAML spec and the jobs that used it."""

from __future__ import annotations

import os

from studio_ext import Workspace, command
from studio_ext.entities import Environment
from studio_ext.panels import PAGES, ModelsPanel, open_page
from studio_ext.panels import EnvironmentsPanel as Exported
from studio_ext.panels.environments import EnvironmentsPanel, environment_of


def test_environment_references_name_the_environment() -> None:
    assert environment_of("azureml:AzureML-sklearn-1.5@latest") == ("AzureML-sklearn-1.5", None)
    assert environment_of("azureml:my-env:3") == ("my-env", "3")
    assert environment_of("azureml://registries/azureml/environments/sklearn-1.5/versions/4") == \
        ("AzureML-sklearn-1.5", "4")
    assert environment_of(None) == ("", None)


def test_curated_and_custom_lists_spec_and_jobs(workspace: Workspace, code_dir) -> None:
    assert PAGES["environments"].title == "Environments" and Exported is EnvironmentsPanel and ModelsPanel
    panel = open_page("environments", workspace)
    assert isinstance(panel, EnvironmentsPanel)
    assert "AzureML-sklearn-1.5" in [k.split(":")[0] for k in panel.curated_table.visible_keys()]
    assert "No custom environments yet" in panel.custom_table._empty.value
    assert panel.picker.value  # never blank: the first environment is open
    workspace.environments.create_or_update(Environment(name="my-env", image="python:3.11-slim",
                                                        pip_requirements=["scikit-learn"]))
    (code_dir / "hello.py").write_text("print('hello')\n")
    job = workspace.jobs.create_or_update(command(code=str(code_dir), command="python hello.py", compute="local",
                                                  environment="AzureML-sklearn-1.5@latest"))
    workspace.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=120)
    panel.refresh(select="my-env")
    assert panel.custom_table.visible_keys() == ["my-env:1"] and panel.lists.selected_index == 1
    assert panel.picker.value == "my-env:1"
    assert "python:3.11-slim" in panel.details.value and "scikit-learn" in panel.details.value
    assert "image: python:3.11-slim" in panel.spec.value
    assert "No job has used this environment yet" in panel.jobs.value
    panel.curated_table.open_row(next(k for k in panel.curated_table.visible_keys()
                                      if k.startswith("AzureML-sklearn-1.5:")))  # a click on its row
    assert job.name in panel.jobs.value and "Curated" in panel.header.value
    assert "ws.environments.get('AzureML-sklearn-1.5'" in panel.code.code
