"""The Models page: list, a model's tabs (details, versions, files, lineage to its job), Register from a job's
output or from files, and Deploy through the Endpoints page's form; all read through the Workspace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from studio_ext import Workspace, command
from studio_ext.panels import PAGES, open_page
from studio_ext.panels.models import ModelsPanel

TRAIN = """
import mlflow, mlflow.sklearn
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
X, y = load_diabetes(return_X_y=True, as_frame=True)
mlflow.sklearn.log_model(Ridge().fit(X, y), name="model", pip_requirements=["scikit-learn"])
"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("models")
    ws = Workspace.create(root / "ws")
    src = root / "src"
    src.mkdir()
    (src / "train.py").write_text(TRAIN)
    job = ws.jobs.create_or_update(command(code=str(src), command="python train.py", compute="local",
                                           environment="AzureML-sklearn-1.5@latest", experiment_name="models-page"))
    ws.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=240)
    ws.test_job_name = job.name  # type: ignore[attr-defined]
    try:
        yield ws
    finally:
        ws.runtime.stop()
        ws.close()


def test_empty_list_then_register_from_a_job_and_see_its_lineage(ws: Workspace) -> None:
    assert PAGES["models"].title == "Models"
    panel = open_page("models", ws)
    assert isinstance(panel, ModelsPanel)
    assert panel.table.visible_keys() == [] and panel.picker.value is None
    assert "No models registered yet" in panel.table._empty.value
    form = panel.register_form
    assert form.job.value == ws.test_job_name, "the one completed job is preselected"
    form.name.value = "diabetes-ridge"
    model = form.register()
    assert model is not None and model.version == "1", form.message.text
    assert "create_or_update(Model(name='diabetes-ridge'" in panel.code.code
    assert panel.picker.value == "diabetes-ridge" and panel.version.value == "1"
    assert panel.table.visible_keys() == ["diabetes-ridge"]
    assert panel.table.cell("diabetes-ridge", "type") == "mlflow_model"
    assert "MLmodel" in panel.files.value and "sklearn" in panel.details.value
    assert ws.test_job_name in panel.lineage.value and not panel.open_job_button.disabled
    opened = panel.open_job()
    assert opened is not None and panel.job_area.children == (opened,)
    assert [panel.tabs.get_title(i) for i in range(5)] == ["Details", "Versions", "Files", "Lineage", "Deploy"]


def test_register_from_files_adds_a_version_and_the_page_opens_it(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(b"not really a model")
    panel = ModelsPanel(ws, model="diabetes-ridge")
    form = panel.register_form
    form.source.value = "local"
    assert form.job_fields.layout.display == "none" and form.local_fields.layout.display is None
    form.name.value = "diabetes-ridge"
    form.local_path.value = str(tmp_path / "model.pkl")
    form.type.value = "custom_model"
    model = form.register()
    assert model is not None and model.version == "2", form.message.text
    assert panel.version.value == "2" and "model.pkl" in panel.files.value
    assert panel.versions.value.count("<tr>") == 3  # header + two versions
    assert "registered from files" in panel.lineage.value and panel.open_job_button.disabled
    panel.version.value = "1"
    assert panel.model is not None and panel.model.version == "1"
    panel.table.open_row("diabetes-ridge")  # a click on the row: the model's latest version
    assert panel.model.version == "2"
    form.name.value = "Bad Name!"
    assert form.register() is None and form.message.kind == "error"


def test_deploy_form_sees_the_open_version(ws: Workspace) -> None:
    panel = ModelsPanel(ws, model="diabetes-ridge")
    panel.version.value = "1"
    assert panel.selected_model() is not None and panel.deploy_form.panel is panel
    panel.deploy_form.endpoint.value = "Bad_Name"
    panel.deploy_form.deploy()
    assert panel.deploy_form.message.kind == "error"
