"""The Sweep page on a real sweep: live while it runs, then the trials table, charts, best trial,
importance and policy replay, all read through ws.jobs and ws.sweeps."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets

from studio_ext import Workspace, command
from studio_ext.entities import JobStatus
from studio_ext.panels import PAGES, open_page
from studio_ext.panels.sweeps import REPLAY_POLICIES, SweepPanel
from studio_ext.sweep import Choice, Objective, SweepJob, SweepJobLimits
from tests.helpers import wait_until

TRAIN = """
import argparse, time, mlflow
p = argparse.ArgumentParser()
p.add_argument("--quality", type=float)
p.add_argument("--depth", type=int)
a = p.parse_args()
for epoch in range(1, 5):
    mlflow.log_metric("score", a.quality * epoch / 4 + a.depth / 1000, step=epoch)
    time.sleep(0.3)
"""


def test_sweep_page_live_then_finished(workspace: Workspace, tmp_path: Path) -> None:
    assert PAGES["sweeps"].title == "Sweeps"
    empty = open_page("sweeps", workspace)
    # no sweep yet: what a sweep is and how to start one, and no blank picker over empty tabs
    assert "No sweep jobs yet" in empty.empty.value and ".sweep(" in empty.empty.value
    assert empty.empty_box.layout.display == "" and empty.content.layout.display == "none"
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(TRAIN)
    job = SweepJob(trial=command(code=str(src), command="python train.py --quality ${{search_space.quality}} "
                                 "--depth ${{search_space.depth}}"),
                   search_space={"quality": Choice([0.2, 0.9, 0.6]), "depth": Choice([2, 8])},
                   sampling_algorithm="grid", objective=Objective(goal="maximize", primary_metric="score"),
                   limits=SweepJobLimits(max_concurrent_trials=3), compute="local", experiment_name="sweep-page")
    name = workspace.jobs.create_or_update(job).name
    panel = open_page("sweeps", workspace, sweep=name, poll_interval=0.3)
    assert isinstance(panel, SweepPanel) and panel.picker.value == name
    assert panel.empty_box.layout.display == "none" and panel.content.layout.display == ""
    assert panel._subscription is not None  # live while it runs
    wait_until(lambda: panel.job.status == JobStatus.COMPLETED, timeout=240, what="the page to show the end")
    wait_until(lambda: "Policy replay" in panel.replay.value, timeout=30)
    assert len(panel.trials) == 6 and panel.table.value.count("<tr>") == 7
    first_row = panel.table.value.split("<tr>")[2]  # sorted by metric: the best first
    assert "0.9" in first_row and ">8<" in first_row
    assert panel.job.best_hyperparameters == {"quality": 0.9, "depth": 8}
    assert "Best trial" in panel.best.value and not panel.open_best.disabled
    assert len(panel.charts.outputs) == 3 and len(panel.scatter_chart.outputs) == 1
    assert len(panel.importance_chart.outputs) == 1
    assert all(label in panel.replay.value for label, _ in REPLAY_POLICIES)
    assert "type: sweep" in panel.code.code and ").sweep(" in panel.code.code
    panel.sort.value = "trial"
    assert panel.table.value.split("<tr>")[2].split("</td>")[0].endswith(">0")
    assert isinstance(panel.axes, widgets.TagsInput) and sorted(panel.axes.allowed_tags) == ["depth", "quality"]
    panel.axes.value = ["depth", "quality"]
    assert len(panel.scatter_chart.outputs) == 1
    opened = panel.open_best_trial()
    assert opened is not None and panel.details.children == (opened,)
    assert panel.register_best_model() is None and "no model to register" in panel.message.text
    panel.close()


def test_jobs_page_opens_a_sweep_on_its_sweep_page(workspace: Workspace, tmp_path: Path) -> None:
    """The run explorer (Jobs page) opens a sweep job on its Sweep page, and a trial on its run details."""
    from studio_ext.panels.run_details import RunDetails

    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(TRAIN)
    job = command(code=str(src), command="python train.py --quality ${{inputs.quality}} --depth ${{inputs.depth}}",
                  inputs={"quality": 0.5, "depth": 1}, experiment_name="sweep-jobs-page")(
        quality=Choice([0.2, 0.9]), depth=Choice([3])).sweep(sampling_algorithm="grid", primary_metric="score",
                                                             goal="Maximize", compute="local")
    name = workspace.jobs.create_or_update(job).name
    explorer = open_page("jobs", workspace, run=name, poll_interval=0.3)
    page = explorer.details
    assert isinstance(page, SweepPanel) and page.picker.value == name
    assert explorer.detail_area.children == (page,) and "SweepPanel(ws" in explorer.code.code
    # The page follows the sweep live: its charts are redrawn from the poll that sees the end.
    wait_until(lambda: page.job.status == JobStatus.COMPLETED and len(page.charts.outputs) == 3, timeout=240,
               what="the sweep page to show the end with its three charts")
    assert "trial" in page.table.value
    assert "Best trial" in page.best.value
    # The page's Python builds the same sweep with azure-ai-ml.
    from studio_ext.panels.sweeps import sdk_code

    scope: dict = {}
    exec(sdk_code(page.job).replace("ml_client.jobs.create_or_update(sweep_job)", ""), scope)
    built = scope["sweep_job"]
    assert type(built).__module__.startswith("azure.ai.ml") and set(built.search_space) == {"quality", "depth"}
    assert built.sampling_algorithm.type == "grid" and built.objective.primary_metric == "score"
    trial = explorer.open_run(page.job.best_child_run_id)
    assert isinstance(trial, RunDetails) and explorer.details is trial
    assert page._subscription is None
    explorer.close()
