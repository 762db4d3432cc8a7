"""The Pipelines page on a real workspace: a real two-step pipeline's list row, live graph, step details,
parameters and resubmit (then reuse), its code; and schedules: the form's live fire times, Create,
Disable/Enable and Delete. One workspace and one first pipeline run for the module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plotly.callbacks import InputDeviceState, Points
from plotly.graph_objects import FigureWidget

from studio_ext import Input, Output, Workspace, command, dsl
from studio_ext.entities import TERMINAL_STATES, JobStatus
from studio_ext.panels import PAGES
from studio_ext.panels.pipeline_charts import STATE_COLOURS, click_trace
from studio_ext.panels.pipelines import PipelineRunView, PipelinesPanel, ScheduleForm, ScheduleList
from studio_ext.panels.run_details import RunDetails
from tests.helpers import wait_until

pytestmark = pytest.mark.slow

PREP = """
import argparse, pathlib
p = argparse.ArgumentParser(); p.add_argument("--frac", type=float); p.add_argument("--out"); a = p.parse_args()
pathlib.Path(a.out, "rows.txt").write_text(str(a.frac))
print("prepared", a.frac)
"""
TRAIN = """
import argparse, pathlib, mlflow
p = argparse.ArgumentParser(); p.add_argument("--data"); p.add_argument("--model"); a = p.parse_args()
frac = float(pathlib.Path(a.data, "rows.txt").read_text())
mlflow.log_metric("accuracy", 0.5 + frac / 3)
pathlib.Path(a.model, "model.txt").write_text(str(frac))
print("trained")
"""


def _pipeline(src: Path, frac: float) -> Any:
    prep = command(code=str(src), command="python prep.py --frac ${{inputs.frac}} --out ${{outputs.out}}",
                   inputs={"frac": 0.5}, outputs={"out": Output(type="uri_folder")}, display_name="prep")
    train = command(code=str(src), command="python train.py --data ${{inputs.data}} --model ${{outputs.model}}",
                    inputs={"data": Input(type="uri_folder")}, outputs={"model": Output(type="uri_folder")},
                    display_name="train")

    @dsl.pipeline(default_compute="local", display_name="two-step")
    def two_step(frac: float = 0.3) -> dict[str, Any]:
        prep_data = prep(frac=frac)
        train_model = train(data=prep_data.outputs.out)
        return {"model": train_model.outputs.model}

    return two_step(frac=frac)


def _wait_ended(ws: Workspace, name: str, timeout: float = 240) -> Any:
    return wait_until(lambda: (j := ws.jobs.get(name)).status in TERMINAL_STATES and j, timeout=timeout,
                      interval=0.5, what=lambda: f"pipeline {name} to end (now {ws.jobs.get(name).status})")


@pytest.fixture(scope="module")
def ws(module_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    src = tmp_path_factory.mktemp("src")
    (src / "prep.py").write_text(PREP)
    (src / "train.py").write_text(TRAIN)
    module_workspace.src = src  # type: ignore[attr-defined]
    return module_workspace


@pytest.fixture(scope="module")
def first_run(ws: Workspace) -> str:
    job = ws.jobs.create_or_update(_pipeline(ws.src, 0.4), experiment_name="pipes")  # type: ignore[attr-defined]
    ended = _wait_ended(ws, job.name)
    assert ended.status == JobStatus.COMPLETED, ended.error
    return str(job.name)


@pytest.fixture
def panel(ws: Workspace, first_run: str) -> Iterator[PipelinesPanel]:
    page = PipelinesPanel(ws, poll_interval=0.3)
    yield page
    page.close()


def test_the_page_is_registered_and_opens_with_its_title(ws: Workspace) -> None:
    assert PAGES["pipelines"].load() is PipelinesPanel
    page = PipelinesPanel(ws)
    try:
        assert "Pipelines" in page.children[0].value
        assert [page.tabs.get_title(i) for i in range(2)] == ["Pipeline runs", "Schedules"]
    finally:
        page.close()


def test_the_list_shows_the_run_and_opening_it_draws_its_graph(panel: PipelinesPanel, first_run: str) -> None:
    row = panel.runs_table.row(first_run)
    assert row.values["status"] == "Completed"
    assert row.values["steps"] == "2 of 2 ended"
    assert row.values["display_name"] == "two-step"
    panel.runs_table.open_row(first_run)  # a click on the row
    view = panel.run_view
    assert isinstance(view, PipelineRunView)
    assert panel.list_box.layout.display == "none" and panel.run_box.layout.display == "flex"
    assert view.graph.layers == [["input:frac"], ["prep_data"], ["train_model"], ["output:model"]]
    edge = next(e for e in view.graph.edges if e.source == "prep_data")
    assert (edge.target, edge.label, edge.target_input) == ("train_model", "out", "data")
    shapes = {s.name: s for s in view.figure.layout.shapes}
    assert shapes["prep_data"].fillcolor == shapes["train_model"].fillcolor == STATE_COLOURS["Completed"][0]
    assert "2 steps: 2 completed" in view.header.value
    assert not view.live  # an ended pipeline is not followed
    assert view.cancel_button.layout.display == "none"  # no Cancel on an ended run
    # Parameters, code: the SDK lines and the v2 YAML (collapsed by default).
    assert "frac" in view.parameters.value and "0.4" in view.parameters.value
    assert "type: pipeline" in view.yaml_code.code and "${{parent.jobs.prep_data.outputs.out}}" in view.yaml_code.code
    assert f"ws.jobs.list(parent_job_name={first_run!r})" in view.sdk_code.code
    assert "<details open" not in view.yaml_code.value
    panel.show_list()
    assert panel.run_view is None and panel.list_box.layout.display == "flex"


def test_clicking_a_step_opens_its_component_and_run_details(panel: PipelinesPanel, first_run: str) -> None:
    view = panel.open_run(first_run)
    assert view is not None
    trace = click_trace(view.figure)
    index = list(trace.customdata).index("train_model")
    trace._dispatch_on_click(Points(point_inds=[index], xs=[trace.x[index]], ys=[trace.y[index]],
                                    trace_name="steps", trace_index=2), InputDeviceState())
    assert view.selected == "train_model" and view.step_picker.value == "train_model"
    details = view.step_details
    assert isinstance(details, RunDetails)
    assert details.name == view.job.step_jobs["train_model"]
    assert details.summary.metrics["accuracy"] == pytest.approx(0.5 + 0.4 / 3)
    assert "trained" in details.log_view.value  # the step's log
    summary = view.details.children[0].value
    assert "Component" in summary and "python train.py" in summary and "data = ${{parent.jobs.prep_data" in summary
    # The selected box is outlined.
    assert {s.name: s for s in view.figure.layout.shapes}["train_model"].line.width == 3
    view.step_picker.value = "prep_data"
    assert view.step_details.name == view.job.step_jobs["prep_data"]


def test_under_voila_the_graph_is_a_plain_figure_and_steps_open_from_the_picker(ws: Workspace,
                                                                                first_run: str) -> None:
    view = PipelineRunView(ws, first_run, clickable=False)
    try:
        assert not isinstance(view.figure, FigureWidget)
        assert len(view.graph_output.outputs) == 1  # drawn at once, no widget module to wait for
        assert view.step_picker.value == ""  # a labelled placeholder, never a blank dropdown
        view.step_picker.value = "train_model"
        assert view.step_details.name == view.job.step_jobs["train_model"]
        drawn = view.graph_output.outputs[0]["data"]["application/vnd.plotly.v1+json"]
        widths = {s["name"]: s["line"]["width"] for s in drawn["layout"]["shapes"]}
        assert widths["train_model"] == 3  # redrawn with the picked step outlined
    finally:
        view.close()


def test_resubmit_with_a_changed_parameter_runs_live_then_unchanged_steps_are_reused(
        panel: PipelinesPanel, ws: Workspace, first_run: str) -> None:
    view = panel.open_run(first_run)
    assert view is not None
    view.param_boxes["frac"].value = "0.7"
    submitted = view.resubmit()
    assert submitted is not None, view.message.text
    assert view.message.text == f"Submitted {submitted.name} with frac=0.7."
    assert "pipeline_job.inputs['frac'] = 0.7" in view.sdk_code.code
    assert panel.runs_table.row(submitted.name)  # the list has it
    assert ws.jobs.get(submitted.name).inputs["frac"] == 0.7
    # Its page follows it live until it ends; the boxes change colour as steps end.
    live = panel.open_run(str(submitted.name))
    assert live is not None and live.live
    seen: set[tuple[str, str]] = set()

    def ended() -> bool:
        seen.update((step, state.status) for step, state in live.states.items())
        return live.job.status in TERMINAL_STATES

    wait_until(ended, timeout=240, interval=0.2, what=lambda: f"the page to see the end (states {live.states})")
    assert live.job.status == JobStatus.COMPLETED, live.job.error
    assert live.updates > 2 and not live.live
    assert ("train_model", "NotStarted") in seen or ("train_model", "Queued") in seen or \
        ("train_model", "Running") in seen  # seen before it ended
    shapes = {s.name: s for s in live.figure.layout.shapes}
    assert shapes["train_model"].fillcolor == STATE_COLOURS["Completed"][0]
    model_output = str(ws.jobs.get(str(submitted.name)).outputs["model"].path)
    assert f"/{submitted.name}/" in model_output  # its own folder, not the first run's

    # The same parameters again: both steps are reused, drawn dashed with the ♻ mark.
    again = live.resubmit()
    assert again is not None, live.message.text
    reused = _wait_ended(ws, str(again.name))
    assert reused.status == JobStatus.COMPLETED
    page = panel.open_run(str(again.name))
    assert page is not None
    assert all(page.states[s].reused_from for s in ("prep_data", "train_model")), page.states
    assert "(2 reused)" in page.header.value
    labels = " ".join(next(t for t in page.figure.data if t.name == "labels").text)
    assert labels.count("♻ Reused") == 2
    page.open_step("train_model")
    assert "Reused" in page.details.children[0].value


def test_resubmit_refuses_a_value_of_the_wrong_type(panel: PipelinesPanel, first_run: str) -> None:
    view = panel.open_run(first_run)
    assert view is not None
    view.param_boxes["frac"].value = "lots"
    assert view.resubmit() is None
    assert view.message.text == "'lots' is not a float, as this parameter's value 0.4 is. Type a float."


def test_schedule_form_shows_five_fire_times_as_you_type_and_says_what_is_wrong(ws: Workspace,
                                                                                first_run: str) -> None:
    form = ScheduleForm(ws)
    # Pipeline runs first, newest first; never a blank dropdown.
    newest = max((j for j in ws.jobs.list() if j.type == "pipeline"), key=lambda j: j.creation_time)
    assert form.job.value == newest.name
    assert form.job.label.endswith(f"(pipeline, {newest.name})")
    form.frequency.value = "day"
    form.hours.value = "9, 17"
    form.minutes.value = "30"
    form.time_zone.value = "Europe/Berlin"
    times = form.update_preview()
    assert len(times) == 5 and {(t.hour, t.minute) for t in times} <= {(9, 30), (17, 30)}
    assert form.preview.value.count("<li>") == 5 and "CET" in form.preview.value
    form.hours.value = "25"
    assert form.preview_text == ("Hours: '25' is not a whole number from 0 to 23. Type them separated by commas, "
                                 "as '9, 17'.")
    form.kind.value = "Cron"
    assert form.cron_box.layout.display == "flex" and form.recurrence_box.layout.display == "none"
    form.expression.value = "0 2 * *"
    assert "cron" in form.preview_text.lower() and "<li>" not in form.preview.value
    form.expression.value = "15 2 * * 1-5"
    assert form.preview.value.count("<li>") == 5 and form.preview_text.count("02:15") == 5
    form.time_zone.value = "Mars/Olympus"
    assert "no time zone this studio knows" in form.preview_text


def test_create_disable_enable_and_delete_a_schedule(ws: Workspace, first_run: str) -> None:
    listing = ScheduleList(ws)
    form = ScheduleForm(ws, on_created=lambda _s: listing.refresh())
    form.name.value = "yearly-pipeline"
    form.kind.value = "Cron"
    form.expression.value = "0 3 1 1 *"  # 1 January, 03:00: never during the test
    created = form.create()
    assert created is not None, form.message.text
    assert form.message.text.startswith("Created schedule yearly-pipeline; it next fires ")
    assert "CronTrigger(expression='0 3 1 1 *'" in form.code.code
    assert [s.name for s in listing.schedules] == ["yearly-pipeline"]
    cells = " ".join(getattr(c, "value", "") for c in listing.grid.children)
    assert "cron 0 3 1 1 * (UTC)" in cells and "● Enabled" in cells and cells.count("-01-01 03:00 UTC") == 5

    listing.buttons["yearly-pipeline"]["toggle"].click()
    assert ws.schedules.get("yearly-pipeline").is_enabled is False
    cells = " ".join(getattr(c, "value", "") for c in listing.grid.children)
    assert "○ Disabled" in cells and "none while disabled" in cells
    assert listing.buttons["yearly-pipeline"]["toggle"].description == "Enable"
    listing.buttons["yearly-pipeline"]["toggle"].click()
    assert ws.schedules.get("yearly-pipeline").is_enabled is True

    listing.buttons["yearly-pipeline"]["delete"].click()  # first press asks
    assert listing.buttons["yearly-pipeline"]["delete"].description == "Confirm delete"
    assert ws.schedules.get("yearly-pipeline")
    listing.buttons["yearly-pipeline"]["delete"].click()
    assert listing.schedules == []
    assert listing.message.text == "Deleted yearly-pipeline."


def test_a_schedule_form_without_a_name_is_refused(ws: Workspace, first_run: str) -> None:
    form = ScheduleForm(ws)
    assert form.create() is None
    assert form.message.text == "Give the schedule a name (letters, digits, '-' and '_')."
    assert ws.schedules.list(list_view_type="all") == []


def test_jobs_page_opens_a_pipeline_on_its_graph_and_a_step_with_a_way_back(ws: Workspace, first_run: str) -> None:
    """The Jobs page opens a pipeline job on its Pipelines page (the graph), a step on its run details with a
    button to its pipeline."""
    from studio_ext.panels import open_page

    explorer = open_page("jobs", ws, run=first_run, poll_interval=0.3)
    try:
        page = explorer.details
        assert isinstance(page, PipelineRunView) and page.name == first_run
        assert explorer.detail_area.children == (page,) and explorer.pipeline_button is None
        assert set(page.graph.steps) == {"prep_data", "train_model"}
        assert f"PipelinesPanel(ws, {first_run!r})" in explorer.code.code
        step = ws.jobs.get(first_run).step_jobs["train_model"]
        opened = explorer.open_run(step)
        assert isinstance(opened, RunDetails) and explorer.details is opened
        button = explorer.pipeline_button
        assert button is not None and first_run in button.description
        assert explorer.detail_area.children == (button, opened)
        button.click()
        assert isinstance(explorer.details, PipelineRunView) and explorer.details.name == first_run
        assert explorer.pipeline_button is None
        explorer.show_list()
        assert not explorer.showing_details
    finally:
        explorer.close()
