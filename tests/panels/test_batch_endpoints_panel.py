"""The Endpoints page's Batch endpoints tab, driven from Python on a real workspace: the list (a pipeline
endpoint labelled as one), an endpoint's Details (deployments, settings, the default), Invoke (a registered
dataset, uploaded files, a pipeline's parameters), Jobs (state and live progress) and Consume (keys, snippets)."""

from __future__ import annotations

import html
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

os.environ.setdefault("STUDIO_EXT_SERVER_ORPHAN_EXIT", "30")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from studio_ext import Workspace, dsl
from studio_ext.entities import (
    BatchEndpoint,
    BatchJobError,
    BatchRetrySettings,
    CodeConfiguration,
    CommandComponent,
    Data,
    Input,
    Model,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
    Output,
    PipelineComponentBatchDeployment,
)
from studio_ext.panels.batch_endpoints import (
    BatchEndpointsPanel,
    BatchProgress,
    failed_mini_batches_html,
    progress_html,
    progress_of,
    steps_progress,
)
from studio_ext.panels.endpoints import EndpointsPanel
from tests.helpers import wait_until

DIABETES = Path("/work/shared/data/dp100/diabetes.csv")
if not DIABETES.exists():  # the checkout's neighbour, as the brief places it
    DIABETES = Path(__file__).resolve().parents[3] / "shared" / "data" / "dp100" / "diabetes.csv"

SCALE = """
import pathlib, sys
factor, source, target = float(sys.argv[1]), pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
for f in sorted(source.glob("*.csv")):  # the registered folder's files, at the top of the input
    (target / f.name).write_text(f"{factor} {len(f.read_text().splitlines())}\\n")
"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory):
    """A workspace with a diabetes model, a folder of three CSVs, a model batch endpoint and a pipeline endpoint."""
    import mlflow
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    base = tmp_path_factory.mktemp("batch-panel")
    ws = Workspace.create(base / "ws")
    frame = pd.read_csv(DIABETES).head(600)
    features = frame.drop(columns=["PatientID", "Diabetic"])
    mlflow.set_tracking_uri(ws.mlflow_tracking_uri)
    mlflow.set_experiment("batch-panel")
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(LogisticRegression(max_iter=500).fit(features, frame["Diabetic"]), name="model",
                                 input_example=features.head(2), pip_requirements=["scikit-learn"])
    model = ws.models.create_or_update(Model(name="diabetes-clf", path=f"runs:/{run.info.run_id}/model",
                                             type="mlflow_model"))
    folder = base / "patients"
    folder.mkdir()
    for i in range(3):
        features.iloc[i * 40:(i + 1) * 40].to_csv(folder / f"patients-{i}.csv", index=False)
    ws.data.create_or_update(Data(name="patients", path=str(folder), type="folder",
                                  description="three CSV files of patients to score"))
    ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name="panel-batch", description="Diabetes scoring")).result()
    ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
        name="classifier", endpoint_name="panel-batch", model=f"azureml:{model.name}:{model.version}",
        settings=ModelBatchDeploymentSettings(mini_batch_size=1, output_file_name="predictions.csv"))).result()

    src = base / "src"
    src.mkdir()
    (src / "scale.py").write_text(SCALE)
    scale = CommandComponent(name="count_lines", code=str(src),
                             command="python scale.py ${{inputs.factor}} ${{inputs.data}} ${{outputs.out}}",
                             inputs={"factor": Input(type="number"), "data": Input(type="uri_folder")},
                             outputs={"out": Output(type="uri_folder")})

    @dsl.pipeline(description="count each file's lines")
    def counting(data, factor=2.5):
        step = scale(factor=factor, data=data)
        return {"out": step.outputs.out}

    component = counting(data=Input(type="uri_folder")).component
    component.name = "counting"
    registered = ws.components.create_or_update(component)
    ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name="panel-pipe")).result()
    ws.batch_deployments.begin_create_or_update(PipelineComponentBatchDeployment(
        name="counting", endpoint_name="panel-pipe", component=f"azureml:counting:{registered.version}",
        settings={"continue_on_step_failure": "False"})).result()
    try:
        yield ws
    finally:
        from studio_ext.backends.local import LocalBackend
        from studio_ext.backends.local.batch.duty import stop_gateway

        ws.runtime.stop()
        stop_gateway(LocalBackend.of(ws))  # the REST gateway outlives the supervisor, as endpoint routers do
        ws.close()


def test_the_endpoints_page_has_a_batch_endpoints_tab(ws: Workspace) -> None:
    page = EndpointsPanel(ws)
    try:
        titles = [page.tabs.get_title(i) for i in range(len(page.tabs.children))]
        assert titles == ["Real-time endpoints", "Batch endpoints", "Deploy a model"]
        assert page.tabs.selected_index == 0, "the real-time list opens first, as before"
        assert page.tabs.children[1] is page.batch and page.batch.code is page.code
    finally:
        page.close()


def test_the_list_labels_the_pipeline_endpoint_and_opens_the_newest(ws: Workspace) -> None:
    panel = BatchEndpointsPanel(ws)
    try:
        assert set(panel.table.visible_keys()) == {"panel-batch", "panel-pipe"}
        assert panel.table.cell("panel-pipe", "kind") == "Pipeline endpoint"
        assert panel.table.cell("panel-batch", "kind") == "Model endpoint"
        assert panel.table.cell("panel-batch", "default") == "classifier"
        uri = ws.batch_endpoints.get("panel-batch").scoring_uri
        assert uri and panel.table.cell("panel-batch", "uri") == uri
        assert panel.view is not None and panel.view.name == "panel-pipe", "the newest endpoint is open at once"
        panel.table.open_row("panel-batch")
        assert panel.view.name == "panel-batch" and "Model endpoint" in panel.view.header.value
    finally:
        panel.close()


def test_details_show_the_deployments_settings_and_the_default(ws: Workspace) -> None:
    panel = BatchEndpointsPanel(ws, endpoint="panel-batch")
    try:
        details = panel.view.details
        assert details.table.cell("classifier", "kind") == "Model"
        assert details.table.cell("classifier", "asset") == "diabetes-clf:1"
        assert details.table.cell("classifier", "mini_batch") == "1"
        assert details.table.cell("classifier", "output") == "append_row: predictions.csv"
        assert "default" in details.table.cell("classifier", "default")
        assert details.default_select.value == "classifier", "one deployment: preselected"
        text = details.deployment_details.value
        for setting in ("mini_batch_size", "max_concurrency_per_instance", "retry_settings.max_retries",
                        "error_threshold", "none (MLflow model)"):
            assert html.escape(setting) in text, setting
        assert uri_in(panel.view.endpoint.scoring_uri, details.properties.value)
        details.set_default_button.click()
        assert details.message.text == "classifier is now the default deployment of panel-batch."
        assert "endpoint.defaults.deployment_name = 'classifier'" in panel.code.code

        panel.open_endpoint("panel-pipe")
        pipe = panel.view.details
        assert pipe.table.cell("counting", "kind") == "Pipeline component"
        assert pipe.table.cell("counting", "asset") == "counting:1"
        assert pipe.table.cell("counting", "compute") == "each step's"
        text = pipe.deployment_details.value
        assert "continue_on_step_failure" in text and "factor (number, default 2.5)" in text and "step" in text
    finally:
        panel.close()


def uri_in(uri: str | None, text: str) -> bool:
    return bool(uri) and html.escape(uri) in text


@pytest.mark.slow  # a model's batch job: a minute or more on a loaded machine (the worker's init() loads MLflow)
def test_invoking_on_a_dataset_shows_the_job_live_until_it_completes(ws: Workspace) -> None:
    panel = BatchEndpointsPanel(ws, endpoint="panel-batch")
    view = panel.view
    try:
        form = view.invoke_form
        assert form.deployment.value == "classifier" and form.dataset.value == "patients" and form.version.value == "1"
        assert form.params_title.layout.display == "none", "a model deployment has no parameters"
        form.button.click()
        assert form.message.kind == "info", form.message.text
        job = form.job
        assert job is not None and view.tabs.selected_index == 1, "the Jobs tab shows the new job"
        assert "ws.batch_endpoints.invoke(" in panel.code.code and "azureml:patients:1" in panel.code.code
        jobs = view.jobs
        assert jobs.table.visible_keys()[0] == job.name and jobs.shown == job.name
        wait_until(lambda: jobs.table.rows and jobs.table.row(job.name).values["status"] in {"Completed", "Failed"},
                   timeout=180, interval=0.3, what=f"the batch job {job.name} on the page")
        assert jobs.table.row(job.name).values["status"] == "Completed", ws.jobs.get(job.name).error
        wait_until(lambda: not jobs.following, timeout=10, interval=0.1, what="the live refresh to stop")
        progress = jobs.progress[job.name]
        assert progress == BatchProgress(done=3, failed=0, total=3, rows=120), progress
        assert "3 of 3 mini-batches" in jobs.table.cell(job.name, "progress")
        assert jobs.table.cell(job.name, "rows") == "120"
        assert "azureml:patients:1" in jobs.table.cell(job.name, "input")
    finally:
        panel.close()


def test_uploaded_files_are_scored_as_a_folder(ws: Workspace, tmp_path: Path) -> None:
    panel = BatchEndpointsPanel(ws, endpoint="panel-batch")
    try:
        form = panel.view.invoke_form
        form.source.value = "upload"
        form.button.click()
        assert form.message.text == "Choose the files to upload first (the folder's contents)."
        content = DIABETES.read_text().splitlines()
        header = ",".join(content[0].split(",")[1:-1])
        rows = "\n".join(",".join(line.split(",")[1:-1]) for line in content[1:6])
        body = f"{header}\n{rows}\n".encode()
        form.upload.value = ({"name": "few.csv", "type": "text/csv", "size": len(body), "content": memoryview(body),
                              "last_modified": datetime.now(UTC)},)
        assert f"1 file, {len(body)} bytes: few.csv" in form.upload_note.value
        form.folder_name.value = "few patients"
        form.button.click()
        assert form.message.kind == "info", form.message.text
        saved = Path(ws.path) / "uploads" / "few-patients" / "few.csv"
        assert saved.read_bytes() == body
        assert str(saved.parent) in panel.code.code
        job = form.job
        jobs = panel.view.jobs
        assert panel.view.tabs.selected_index == 1 and jobs.table.visible_keys()[0] == job.name
        assert str(saved.parent) in jobs.table.cell(job.name, "input")
        # Scoring itself is the dataset test's (a slow one): this job is canceled, freeing the machine.
        ws.jobs.begin_cancel(job.name).result(timeout=60)
        jobs.refresh()
        assert jobs.table.row(job.name).values["status"] == "Canceled"
    finally:
        panel.close()


def test_a_pipeline_endpoint_is_invoked_with_a_changed_parameter(ws: Workspace, tmp_path: Path) -> None:
    panel = BatchEndpointsPanel(ws, endpoint="panel-pipe")
    try:
        form = panel.view.invoke_form
        assert list(form.params) == ["factor"] and form.params["factor"].value == "2.5"
        assert form.params_title.layout.display == ""
        form.params["factor"].value = "ten"
        form.button.click()
        assert form.message.text == "The parameter 'factor' must be a number; got 'ten'."
        form.params["factor"].value = "4"
        form.button.click()
        assert form.message.kind == "info", form.message.text
        assert "'factor': Input(type='number', default=4.0)" in panel.code.code
        job = form.job
        done = wait_until(lambda: (j := ws.jobs.get(job.name)).status.is_terminal and j, timeout=180, interval=0.3,
                          what=f"the pipeline endpoint's job {job.name}")
        assert str(done.status) == "Completed", done.error
        ws.jobs.download(job.name, output_name="out", download_path=tmp_path)
        counts = sorted(p.read_text() for p in tmp_path.rglob("patients-*.csv"))
        assert counts == ["4.0 41\n"] * 3, "the changed parameter reached the step (40 rows and a header each)"
        jobs = panel.view.jobs
        jobs.refresh()
        assert jobs.table.row(job.name).values["status"] == "Completed"
        assert "1 of 1 steps" in jobs.table.cell(job.name, "progress"), "a pipeline's progress is its steps"
        assert "factor=4" in jobs.table.cell(job.name, "input")
        jobs.refresh()  # an ended job is read once; the next refresh keeps what it showed
        assert "factor=4" in jobs.table.cell(job.name, "input")
        opened = jobs.open_job()  # the run explorer's page of the job, under its summary
        assert opened.showing_details and jobs.job_area.children == (opened,)
        opened.close()
    finally:
        panel.close()


def test_consume_masks_reveals_copies_and_regenerates_keys(ws: Workspace) -> None:
    panel = BatchEndpointsPanel(ws, endpoint="panel-batch")
    try:
        consume = panel.view.consume
        keys = ws.batch_endpoints.get_keys("panel-batch")
        uri = ws.batch_endpoints.get("panel-batch").scoring_uri
        assert consume.key_fields["primary"].value == "•" * 12
        assert consume.copy_buttons["primary"].text == keys.primary_key
        consume.reveal.value = True
        assert consume.key_fields["secondary"].value == keys.secondary_key
        consume.regenerate_buttons["secondary"].click()
        fresh = ws.batch_endpoints.get_keys("panel-batch")
        assert fresh.secondary_key != keys.secondary_key and consume.key_fields["secondary"].value == fresh.secondary_key
        assert consume.uri_copy.text == uri and html.escape(uri) in consume.uri.value
        for choice in consume.SNIPPETS:
            consume.snippet_choice.value = choice
            assert html.escape(consume.snippet_copy.text) in consume.snippet.value
            assert uri in consume.snippet_copy.text or "invoke(" in consume.snippet_copy.text
    finally:
        panel.close()


def test_progress_reads_the_scoring_metrics_and_draws_a_bar() -> None:
    progress = progress_of({"mini_batches_completed": 7.0, "mini_batches_failed": 1.0, "mini_batches_total": 10.0,
                            "rows_written": 1234.0})
    assert progress == BatchProgress(done=7, failed=1, total=10, rows=1234)
    bar = progress_html(progress, "Running")
    assert "8 of 10 mini-batches, 1 failed" in bar and "width:70.0%" in bar and "width:10.0%" in bar
    assert "waiting for the first of its mini-batches" in progress_html(BatchProgress(), "Running")
    assert "no mini-batches" in progress_html(BatchProgress(), "Failed")
    steps = steps_progress({"prep": "Completed", "train": "Failed", "score": "Skipped"})
    assert steps == BatchProgress(done=1, failed=1, total=3, unit="steps")
    assert "2 of 3 steps, 1 failed" in progress_html(steps, "Failed")


def test_failed_mini_batches_are_a_table_of_items_error_and_tries() -> None:
    assert failed_mini_batches_html([]) == ""
    table = failed_mini_batches_html([
        BatchJobError(mini_batch=3, items=[f"/data/part-{i}.csv" for i in range(6)], error="ValueError: <bad>",
                      tries=2),
        BatchJobError(mini_batch=7, items=["/data/late.csv"], error="timed out", tries=3, kind="timeout")])
    assert "Failed mini-batches: 2 (7 items)" in table
    assert "part-0.csv, part-1.csv, part-2.csv, part-3.csv and 2 more" in table and "/data/part-5.csv" in table
    assert "ValueError: &lt;bad&gt;" in table and "3 (timeout)" in table


FAILING = """
import os
def init():
    pass

def run(mini_batch):
    if any(os.path.basename(f) == "patients-1.csv" for f in mini_batch):
        raise ValueError("patients-1.csv has no BMI column")
    return [os.path.basename(f) for f in mini_batch]
"""


@pytest.mark.slow  # a batch job that fails one mini-batch (the driver starts a Dask cluster)
def test_a_failed_job_shows_its_failed_mini_batches(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "score.py").write_text(FAILING)
    ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name="panel-failing")).result()
    ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
        name="strict", endpoint_name="panel-failing", model="azureml:diabetes-clf:1",
        code_configuration=CodeConfiguration(code=str(tmp_path / "src"), scoring_script="score.py"),
        settings=ModelBatchDeploymentSettings(mini_batch_size=1, error_threshold=-1,
                                              retry_settings=BatchRetrySettings(max_retries=1, timeout=60)))).result()
    panel = None
    try:
        job = ws.batch_endpoints.invoke("panel-failing", input=Input(type="uri_folder", path="azureml:patients:1"))
        done = wait_until(lambda: (j := ws.jobs.get(job.name)).status.is_terminal and j, timeout=240, interval=0.5,
                          what=f"the batch job {job.name}")
        assert str(done.status) == "Completed", done.error  # within the error threshold (-1: never fails)
        panel = BatchEndpointsPanel(ws, endpoint="panel-failing")
        jobs = panel.view.jobs
        jobs.refresh(select=job.name)
        assert "1 failed" in jobs.table.cell(job.name, "progress")
        details = jobs.job_details.value
        assert "Failed mini-batches: 1 (1 item)" in details and "patients-1.csv" in details
        assert "ValueError: patients-1.csv has no BMI column" in details
        jobs.show_job(job.name)
        assert "ws.batch_endpoints.list_errors('panel-failing'" in panel.code.code
    finally:
        if panel is not None:
            panel.close()
        ws.batch_endpoints.begin_delete("panel-failing").result()
