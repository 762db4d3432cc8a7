"""Every studio page, as a person sees it at 1600x1000 in chromium: nothing cut off, no
long numbers, no blank single-option dropdowns, and a screenshot of each page (and tab)
in test-artifacts/screenshots/check-*.png for review.

Pages are opened as Voila dashboards on the seeded workspace (a dataset, a finished job
with metrics) made richer once for the module: a training job that reads the dataset, logs
metrics and an MLflow model, and that model registered from the job (so Models shows its
lineage, files and versions), one tab after another; a batch endpoint deploying that model,
invoked once, is opened on Endpoints > Batch endpoints and each of its tabs checked. The checks
are :mod:`tests.browser.page_checks`, which other browser tests call on their own pages too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from studio_ext.panels import PAGES
from tests.browser.conftest import Dashboard, VoilaServer
from tests.browser.page_checks import page_problems, screenshot, visit_tabs

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1600, "height": 1000}


TRAIN = """
import argparse, mlflow, mlflow.sklearn, pandas as pd
from sklearn.linear_model import LogisticRegression
p = argparse.ArgumentParser(); p.add_argument("--data"); a = p.parse_args()
frame = pd.read_parquet(a.data)
model = LogisticRegression(C=0.5, max_iter=200).fit(frame[["petal"]], frame["kind"])
mlflow.log_param("C", 0.5)
mlflow.log_metric("accuracy", model.score(frame[["petal"]], frame["kind"]) * 0.98765432101)
mlflow.sklearn.log_model(model, name="model")
"""


@pytest.fixture(scope="module")
def rich_workspace(voila_server: VoilaServer, tmp_path_factory: pytest.TempPathFactory) -> VoilaServer:
    """The seeded workspace plus a job that trains on the dataset and the model registered from it."""
    from studio_ext import Input, Workspace, command
    from studio_ext.entities import Model
    from tests.helpers import wait_until

    src = tmp_path_factory.mktemp("train-src")
    (src / "train.py").write_text(TRAIN)
    ws = Workspace.from_config(str(voila_server.workspace))
    try:
        job = ws.jobs.create_or_update(command(
            code=str(src), command="python train.py --data ${{inputs.flowers}}", experiment_name="dashboards",
            inputs={"flowers": Input(type="uri_file", path=f"azureml:{voila_server.dataset}:1")},
            display_name="train-flowers"))
        done = wait_until(lambda: (j := ws.jobs.get(job.name)).status.is_terminal and j, timeout=180,
                          interval=0.3, what=f"the training job {job.name}")
        assert str(done.status) == "Completed", f"the training job ended {done.status}: {done.error}"
        ws.models.create_or_update(Model(name="flowers-logreg", path=f"azureml://jobs/{job.name}/outputs/artifacts/paths/model/",
                                         description="A logistic regression on the flowers table.", tags={"course": "DP-100"}))
    finally:
        ws.runtime.stop()
        ws.close()
    return voila_server


@pytest.fixture(scope="module")
def wide_tab(browser, rich_workspace: VoilaServer) -> Iterator[Dashboard]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.set_default_navigation_timeout(180_000)  # a dashboard's kernel starts on load: slow on a busy machine
    try:
        yield Dashboard(page=page, server=rich_workspace)
    finally:
        context.close()


@pytest.mark.parametrize("page_id", list(PAGES))
def test_page_shows_nothing_cut_off_long_or_blank(wide_tab: Dashboard, page_id: str) -> None:
    wide_tab.start_test()
    output = wide_tab.open(page_id, wide_tab.server.workspace).first
    wide_tab.page.wait_for_timeout(1500)  # the page's first refresh
    problems: list[str] = []
    for title in visit_tabs(wide_tab.page, output):
        screenshot(wide_tab.page, f"check-{page_id}" + (f"-{title}" if title else ""))
        problems += [f"[{title or page_id}] {p}" for p in page_problems(wide_tab.page, output)]
    assert not problems, "\n".join(dict.fromkeys(problems))
    wide_tab.assert_clean()


def test_clicking_a_job_row_shows_its_page_in_view(wide_tab: Dashboard) -> None:
    """Jobs > a row: the run's page replaces the list at the top, within the viewport."""
    wide_tab.start_test()
    server = wide_tab.server
    output = wide_tab.open("jobs", server.workspace).first
    row = output.locator(".sx-table .sx-cell.sx-link", has_text=server.job_display_name).first
    row.click()
    back = output.get_by_role("button", name="Jobs")
    back.wait_for(timeout=60_000)
    tabs = output.locator(".lm-TabBar-tab", has_text="Overview").first
    tabs.wait_for(timeout=60_000)
    box = tabs.bounding_box()
    assert box is not None and 0 <= box["y"] < VIEWPORT["height"] - 40, f"the run's page is off-screen: {box}"
    screenshot(wide_tab.page, "check-jobs-opened-run", full_page=False)
    problems = page_problems(wide_tab.page, output)
    assert not problems, "\n".join(problems)
    back.click()
    output.locator(".sx-table").first.wait_for()
    wide_tab.assert_clean()


def test_a_model_registered_from_a_job_opens_with_its_lineage(wide_tab: Dashboard) -> None:
    """Models > a row: the model's page with its tabs (the job and dataset it came from), each checked."""
    wide_tab.start_test()
    output = wide_tab.open("models", wide_tab.server.workspace).first
    output.locator(".sx-table .sx-cell.sx-link", has_text="flowers-logreg").first.click()
    lineage = output.locator(".lm-TabBar-tab", has_text="Lineage").first
    lineage.wait_for(timeout=60_000)
    problems: list[str] = []
    for title in visit_tabs(wide_tab.page, output):
        screenshot(wide_tab.page, f"check-models-opened-{title}", full_page=False)
        problems += [f"[{title}] {p}" for p in page_problems(wide_tab.page, output)]
        if title == "Lineage":
            text = output.inner_text()
            assert "train-flowers" in text or "azureml:flowers:1" in text, text[-600:]
    assert not problems, "\n".join(dict.fromkeys(problems))
    wide_tab.assert_clean()


@pytest.fixture(scope="module")
def batch_endpoint(rich_workspace: VoilaServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A batch endpoint deploying the registered model, invoked once on a folder of two CSVs (completed)."""
    import pandas as pd

    from studio_ext import Input, Workspace
    from studio_ext.entities import BatchEndpoint, Data, ModelBatchDeployment, ModelBatchDeploymentSettings
    from tests.helpers import wait_until

    folder = tmp_path_factory.mktemp("flowers-to-score")
    for i in range(2):
        pd.DataFrame({"petal": [1.4, 4.7, 6.0, 5.1][i * 2:i * 2 + 2] * 3}).to_csv(folder / f"part-{i}.csv", index=False)
    ws = Workspace.from_config(str(rich_workspace.workspace))
    try:
        ws.data.create_or_update(Data(name="flowers-to-score", path=str(folder), type="folder"))
        ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name="flowers-batch",
                                                                description="Scores folders of flower CSVs")).result()
        ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
            name="logreg", endpoint_name="flowers-batch", model="azureml:flowers-logreg:1",
            settings=ModelBatchDeploymentSettings(mini_batch_size=1))).result()
        job = ws.batch_endpoints.invoke("flowers-batch", input=Input(type="uri_folder", path="azureml:flowers-to-score:1"))
        done = wait_until(lambda: (j := ws.jobs.get(job.name)).status.is_terminal and j, timeout=240, interval=0.3,
                          what=f"the batch job {job.name}")
        assert str(done.status) == "Completed", f"the batch job ended {done.status}: {done.error}"
    finally:
        ws.runtime.stop()
        ws.close()
    yield "flowers-batch"
    from studio_ext.backends.local import LocalBackend
    from studio_ext.backends.local.batch.duty import stop_gateway

    ws = Workspace.from_config(str(rich_workspace.workspace))
    try:  # the REST gateway outlives the supervisor (as endpoint routers do): ended with the module
        ws.runtime.stop()
        stop_gateway(LocalBackend.of(ws))
    finally:
        ws.close()


def test_a_batch_endpoints_page_shows_each_tab_whole(wide_tab: Dashboard, batch_endpoint: str) -> None:
    """Endpoints > Batch endpoints: the list, then the endpoint's Details, Jobs, Consume and Invoke tabs, each checked."""
    wide_tab.start_test()
    output = wide_tab.open("endpoints", wide_tab.server.workspace).first
    output.locator(".lm-TabBar-tab:visible", has_text="Batch endpoints").first.click()
    output.locator(".sx-table .sx-cell.sx-link:visible", has_text=batch_endpoint).first.wait_for(timeout=60_000)
    problems: list[str] = []
    for title in ("Details", "Jobs", "Consume", "Invoke"):
        output.locator(".lm-TabBar-tab:visible", has_text=title).first.click()
        wide_tab.page.wait_for_timeout(600)
        screenshot(wide_tab.page, f"check-endpoints-batch-{title}")
        problems += [f"[Batch endpoints > {title}] {p}" for p in page_problems(wide_tab.page, output)]
        text = output.inner_text()
        if title == "Details":
            assert "logreg" in text and "flowers-logreg:1" in text, text[-800:]
        if title == "Jobs":
            assert "Completed" in text and "2 of 2 mini-batches" in text, text[-800:]
    assert not problems, "\n".join(dict.fromkeys(problems))
    wide_tab.assert_clean()
