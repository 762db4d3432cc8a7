"""The Pipelines page in chromium (Voila dashboard) with a live pipeline: its graph, a step's details, schedules.

A real two-step pipeline runs in the dashboard's workspace, its second step long enough to be
Running while the page is looked at; the page is checked as a person would (no cut-off labels,
no long numbers, no blank dropdowns) and saved at 1600x1000 in test-artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from studio_ext import Input, Output, Workspace, command, dsl
from tests.browser.page_checks import check_page, page_problems
from tests.helpers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PREP = "import argparse, pathlib\np = argparse.ArgumentParser(); p.add_argument('--out'); a = p.parse_args()\n" \
       "pathlib.Path(a.out, 'rows.txt').write_text('1 2 3')\n"
TRAIN = "import argparse, time, mlflow\np = argparse.ArgumentParser(); p.add_argument('--data'); " \
        "p.add_argument('--model'); a = p.parse_args()\nmlflow.log_metric('accuracy', 0.8123456789)\n" \
        "time.sleep(600)\n"


@pytest.fixture(scope="module")
def live_pipeline(voila_server) -> Iterator[str]:
    """A pipeline whose first step completed and whose second is running (for up to ten minutes)."""
    ws = Workspace.from_config(voila_server.workspace)
    src = Path(voila_server.workspace).parent / "pipeline-src"
    src.mkdir(exist_ok=True)
    (src / "prep.py").write_text(PREP)
    (src / "train.py").write_text(TRAIN)
    prep = command(code=str(src), command="python prep.py --out ${{outputs.out}}",
                   outputs={"out": Output(type="uri_folder")}, display_name="prep")
    train = command(code=str(src), command="python train.py --data ${{inputs.training_data}} "
                    "--model ${{outputs.model_output}}", inputs={"training_data": Input(type="uri_folder")},
                    outputs={"model_output": Output(type="uri_folder")}, display_name="train")

    @dsl.pipeline(default_compute="local", display_name="diabetes-training")
    def diabetes_training(reg_rate: float = 0.01) -> dict[str, object]:
        prep_data = prep()
        train_logistic_regression = train(training_data=prep_data.outputs.out)
        return {"trained_model": train_logistic_regression.outputs.model_output}

    job = ws.jobs.create_or_update(diabetes_training(reg_rate=0.05), experiment_name="pipelines")
    wait_until(lambda: ws.jobs.get(job.name).step_status.get("train_logistic_regression") == "Running",
               timeout=240, interval=0.5, what="the training step to run")
    try:
        yield str(job.name)
    finally:
        ws.jobs.begin_cancel(job.name)
        ws.runtime.stop()
        ws.close()


def test_pipelines_page_shows_a_live_graph_and_a_step(dashboards, live_pipeline: str) -> None:
    page = dashboards.page
    page.set_viewport_size({"width": 1600, "height": 1000})
    output = dashboards.open("pipelines", dashboards.server.workspace)
    expect(output.first).to_contain_text("Pipelines")
    graph = output.locator(".js-plotly-plot").first
    # The list re-renders its rows every poll while the run is live; a click that lands as a row
    # is replaced is lost (CI saw it once), so click again, as a person would, until the run opens.
    for _ in range(4):
        output.get_by_role("button", name="diabetes-training").first.click()
        try:
            graph.wait_for(timeout=15_000)
            break
        except PlaywrightTimeout:
            continue
    graph.wait_for(timeout=15_000)
    expect(output.first).to_contain_text("● live")
    expect(graph).to_contain_text("prep_data")
    expect(graph).to_contain_text("Running")
    expect(graph).to_contain_text("Completed")
    expect(graph).to_contain_text("out")  # the edge's label: the output's name
    page.wait_for_timeout(500)
    check_page(page, output.first, "pipelines-live-graph")
    dashboards.screenshot("pipelines-live-graph-1600x1000")

    # A step opens from the picker (a click on the box does the same through the FigureWidget).
    output.get_by_label("Step", exact=True).select_option("train_logistic_regression")
    expect(output.first).to_contain_text("python train.py")
    expect(output.first).to_contain_text("Overview")
    problems = page_problems(page, output.first)
    assert not problems, problems
    dashboards.screenshot("pipelines-step-details", full_page=True)

    # The schedules tab: the form shows five fire times from its defaults.
    output.get_by_role("tab", name="Schedules").click()
    output.get_by_label("Hours", exact=True).fill("9, 17")
    expect(output.locator("ol li")).to_have_count(5)
    expect(output.locator("ol li").first).to_contain_text(":00 UTC")
    expect(output.locator("ol").first).to_contain_text("17:00 UTC")  # the times typed, as you type
    check_page(page, output.first, "pipelines-schedules")
    dashboards.assert_clean()
