"""The Endpoints page's Batch endpoints tab in chromium (Voila dashboard): the list, and a batch endpoint's page
whose Jobs tab shows a partly failed job with its failed mini-batches (items, error, tries).

A real model batch deployment scores a folder of three CSVs in the dashboard's workspace, one of
them failing; the page is checked as a person would (no cut-off labels, no long numbers, no blank
dropdowns) and saved at 1600x1000 in test-artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from studio_ext import Input, Workspace
from studio_ext.entities import (
    BatchEndpoint,
    BatchRetrySettings,
    CodeConfiguration,
    Model,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
)
from tests.browser.page_checks import check_page
from tests.helpers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCORE = """
import os
def init():
    pass

def run(mini_batch):
    if any(os.path.basename(f) == "patients-1.csv" for f in mini_batch):
        raise ValueError("patients-1.csv has no BMI column")
    return [os.path.basename(f) + ",0" for f in mini_batch]
"""


@pytest.fixture(scope="module")
def scored(voila_server) -> Iterator[str]:
    """A batch endpoint with a custom model deployment and one completed job, one of its mini-batches failed."""
    ws = Workspace.from_config(voila_server.workspace)
    base = Path(voila_server.workspace).parent / "batch-page"
    for folder in ("model", "src", "data"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    (base / "model" / "weights.txt").write_text("1 2 3")
    (base / "src" / "score.py").write_text(SCORE)
    for i in range(3):
        (base / "data" / f"patients-{i}.csv").write_text("Age,BMI\n50,31.2\n")
    ws.models.create_or_update(Model(name="page-weights", path=str(base / "model"), type="custom_model"))
    ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name="diabetes-batch",
                                                            description="Scores patients")).result()
    ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
        name="classifier", endpoint_name="diabetes-batch", model="azureml:page-weights:1",
        code_configuration=CodeConfiguration(code=str(base / "src"), scoring_script="score.py"),
        settings=ModelBatchDeploymentSettings(mini_batch_size=1, error_threshold=-1, output_file_name="predictions.csv",
                                              retry_settings=BatchRetrySettings(max_retries=1, timeout=60)))).result()
    job = ws.batch_endpoints.invoke("diabetes-batch", input=Input(type="uri_folder", path=str(base / "data")))
    done = wait_until(lambda: (j := ws.jobs.get(job.name)).status.is_terminal and j, timeout=300, interval=0.5,
                      what=f"the batch job {job.name}")
    assert str(done.status) == "Completed", done.error
    try:
        yield str(job.name)
    finally:
        from studio_ext.backends.local import LocalBackend
        from studio_ext.backends.local.batch.duty import stop_gateway

        ws.batch_endpoints.begin_delete("diabetes-batch").result()
        stop_gateway(LocalBackend.of(ws))
        ws.runtime.stop()
        ws.close()


def test_batch_endpoints_tab_and_a_partly_failed_job(dashboards, scored: str) -> None:
    page = dashboards.page
    page.set_viewport_size({"width": 1600, "height": 1000})
    page.set_default_navigation_timeout(180_000)  # Voila runs the page's cell before "load": slow on a busy machine
    output = dashboards.open("endpoints", dashboards.server.workspace)
    output.get_by_role("tab", name="Batch endpoints").click()
    expect(output.first).to_contain_text("diabetes-batch")
    expect(output.first).to_contain_text("Model endpoint")
    page.wait_for_timeout(500)
    check_page(page, output.first, "batch-endpoints-list-1600x1000")

    output.get_by_role("tab", name="Jobs").click()
    expect(output.first).to_contain_text("Failed mini-batches: 1 (1 item)")
    expect(output.first).to_contain_text("ValueError: patients-1.csv has no BMI column")
    output.locator("table.batch-failed").first.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    check_page(page, output.first, "batch-endpoint-jobs-failed-1600x1000")
    dashboards.assert_clean()
