"""The Jobs page driven from Python against runs made by real jobs: explorer, run page, compare, actions."""

from __future__ import annotations

import shutil
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio_ext import Workspace, command
from studio_ext.errors import NotFound
from studio_ext.panels import PAGES, open_page
from studio_ext.panels._widgets import SharedPoller
from studio_ext.panels.run_compare import RunCompare
from studio_ext.panels.run_details import RunDetails
from studio_ext.panels.runs import RunExplorer
from tests.helpers import wait_until

TRAIN = textwrap.dedent("""
    import argparse, base64, os, time
    import mlflow

    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--model", default="lgbm")
    p.add_argument("--wait-for", default="")
    a = p.parse_args()
    mlflow.log_params({"lr": a.lr, "model": a.model})
    step = 0
    while True:
        mlflow.log_metric("loss", 1.0 / (1 + step * a.lr), step=step)
        print(f"step {step}", flush=True)
        step += 1
        if not a.wait_for and step >= 20:
            break
        if a.wait_for:
            if os.path.exists(a.wait_for):
                break
            time.sleep(0.25)
    mlflow.log_metric("accuracy", 0.5 + a.lr)
    os.makedirs("outputs", exist_ok=True)
    with open("outputs/table.csv", "w") as f:
        f.write("a,b\\n1,2\\n3,4\\n")
    with open("outputs/notes.txt", "w") as f:
        f.write("hello from the job")
    with open("outputs/dot.png", "wb") as f:
        f.write(base64.b64decode(
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="))
    print("done", flush=True)
""")


class Lab:
    def __init__(self, ws: Workspace, src: Path) -> None:
        self.ws, self.src = ws, src
        self.stop_file = src.parent / "stop-live"

    def submit(self, *, lr: float, model: str = "lgbm", wait: bool = False, parent: str | None = None,
               display: str = "", experiment: str = "explore") -> str:
        args = " --wait-for ${{inputs.stop}}" if wait else ""
        inputs = {"lr": lr, "model": model, **({"stop": str(self.stop_file)} if wait else {})}
        job = command(code=str(self.src), command="python train.py --lr ${{inputs.lr}} --model ${{inputs.model}}"
                      + args, inputs=inputs, experiment_name=experiment, display_name=display or None,
                      tags={"team": "tabular"})
        return self.ws.jobs.create_or_update(job, parent_job_name=parent).name


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A parent job with two children, and a job that runs until told to stop (all real jobs)."""
    root = tmp_path_factory.mktemp("runs-panel")
    src = root / "src"
    src.mkdir()
    (src / "train.py").write_text(TRAIN)
    ws = Workspace.create(root / "ws")
    lab = Lab(ws, src)
    lab.parent = lab.submit(lr=0.1, display="parent")
    lab.children = [lab.submit(lr=0.2, model="rf", parent=lab.parent, display="child-rf"),
                    lab.submit(lr=0.3, parent=lab.parent, display="child-lgbm")]
    lab.live = lab.submit(lr=0.05, wait=True, display="live")
    wait_until(lambda: all(ws.jobs.get(n).status.is_terminal for n in [lab.parent, *lab.children]),
               timeout=240, interval=0.2, what="the parent and child jobs")
    try:
        yield lab
    finally:
        lab.stop_file.touch()
        ws.runtime.stop()
        ws.close()


def test_the_jobs_page_is_registered() -> None:
    assert PAGES["jobs"].title == "Jobs" and PAGES["jobs"].load() is RunExplorer


def test_a_running_job_page_updates_live_and_stops_when_it_ends(lab: Lab) -> None:
    ws = lab.ws
    wait_until(lambda: ws.jobs.get(lab.live).status.value == "Running",
               timeout=120, interval=0.2, what="the live job to run")
    wait_until(lambda: ws.jobs.run_summary(lab.live).metrics, timeout=60, interval=0.2, what="a first metric")
    page = RunDetails(ws, lab.live, poll_interval=0.3)
    twin = RunDetails(ws, lab.live, poll_interval=0.3)  # a second page on the same run
    explorer = open_page("jobs", ws)
    explorer.poll_interval = 0.3
    try:
        assert page.live and page.status == "Running"
        assert "● live" in page.header.value
        poller = SharedPoller.for_workspace(ws)
        run_keys = [k for k in poller.watching() if k[0] == "run"]
        assert run_keys == [("run", lab.live, 1000)], "two pages on one run share one watch"
        first_updates, first_points = page.updates, page.histories["loss"].total_points
        wait_until(lambda: page.updates >= first_updates + 3
                   and page.histories["loss"].total_points > first_points,
                   timeout=60, interval=0.2, what="live updates")
        assert "step" in page.log_view.value
        with page._lock:  # the refresh thread swaps both together
            assert len(page.figures["loss"].data[0].x) == page.histories["loss"].total_points
        assert twin.updates >= 3
        # Each fetch feeds both pages: the store is read once per tick, not once per page.
        # (Polling per page would read about page.updates + twin.updates - 2 times.)
        wait_until(lambda: twin.updates >= 4, timeout=30, interval=0.2, what="the second page's updates")
        assert poller.fetch_counts[run_keys[0]] <= max(page.updates, twin.updates) + 1
        # The explorer shows the job as running and follows it too.
        assert lab.live in [r.name for r in explorer.page.runs]
        assert explorer._subscription is not None
        explorer.table.select([lab.live])
        assert not explorer.cancel_button.disabled, "a running job can be canceled from the list"
        # The user keeps working meanwhile: the kernel is not blocked (we are running this code).
        page.cancel_button.click()
        assert "begin_cancel" in page.code.code
        wait_until(lambda: page.status == "Canceled" and not page.live,
                   timeout=60, interval=0.2, what="the page to see the end")
        assert "● live" not in page.header.value
        wait_until(lambda: page._subscription is None and twin._subscription is None and not twin.live,
                   timeout=30, interval=0.2, what="both pages to stop following")
        assert twin.status == "Canceled"
        wait_until(lambda: not [k for k in poller.watching() if k[0] == "run"],
                   timeout=10, interval=0.2, what="the run watch to stop")
        wait_until(lambda: explorer._subscription is None,
                   timeout=30, interval=0.2, what="the explorer to stop following")
        explorer.table.select([lab.live])
        assert explorer.cancel_button.disabled, "a finished job offers no Cancel"
        updates = page.updates
        time.sleep(1.0)
        assert page.updates == updates, "no more refreshes once the job ended"
    finally:
        for widget in (page, twin, explorer):
            widget.close()


def test_explorer_lists_sorts_filters_and_keeps_results_on_bad_input(lab: Lab) -> None:
    explorer = RunExplorer(lab.ws, experiment="explore", group_children=False)
    try:
        label = dict((v, k) for k, v in explorer.experiment_list.options)["explore"]
        assert "4 runs" in label
        assert explorer.page.total == 4
        for name in (lab.parent, *lab.children):
            assert name in explorer.table.visible_keys()
        assert "ws.jobs.search(['explore'], order_by=['start_time DESC'], page_size=50)" in explorer.code.code
        explorer.sort_column.value = "metrics.accuracy"
        explorer.sort_descending.value = True
        order = [r.display_name for r in explorer.page.runs]
        assert order[:3] == ["child-lgbm", "child-rf", "parent"]
        explorer.filter_box.value = "params.model = 'rf' and metrics.accuracy > 0.6"
        assert [r.name for r in explorer.page.runs] == [lab.children[0]]
        assert "filter=\"params.model = 'rf' and metrics.accuracy > 0.6\"" in explorer.code.code
        assert explorer.table.selected == [lab.children[0]], "one run listed: Open needs no pick first"
        opened = explorer.open_selected()
        assert opened is not None and opened.name == lab.children[0]
        assert explorer.showing_details, "the run's page replaces the list, at the top"
        explorer.back_button.click()
        assert not explorer.showing_details
        before = explorer.table.visible_keys()
        explorer.filter_box.value = "params.model = 'rf' and"
        assert "syntax error at position 24" in explorer.filter_error.text
        assert explorer.table.visible_keys() == before and explorer.page.total == 1, "the previous results stay"
        explorer.filter_box.value = "metrics.acuracy > 0.5"
        assert "Unknown column metrics.acuracy" in explorer.filter_error.text
        assert "Did you mean metrics.accuracy?" in explorer.filter_error.text
        explorer.filter_box.value = "__import__('os').system('echo pwned')"
        assert "syntax error" in explorer.filter_error.text
        explorer.filter_box.value = ""
        assert explorer.filter_error.text == "" and explorer.page.total == 4
        explorer.search_box.value = "child"
        assert {r.display_name for r in explorer.page.runs} == {"child-rf", "child-lgbm"}
        explorer.search_box.value = ""
        explorer.status_filter.value = "Completed"
        assert explorer.page.total == 3
    finally:
        explorer.close()


def test_child_runs_are_listed_under_their_parent_and_rows_open_on_click(lab: Lab) -> None:
    explorer = RunExplorer(lab.ws, experiment="explore")
    try:
        assert explorer.grouping() and "parent_run_id is null" in explorer.code.code
        top = [r.name for r in explorer.page.runs]
        assert lab.parent in top and not set(lab.children) & set(top), "children are not listed flat"
        assert sorted(r.name for r in explorer.children_of[lab.parent]) == sorted(lab.children)
        assert explorer.table.visible_keys() == top
        explorer.table.toggle(lab.parent)
        keys = explorer.table.visible_keys()
        assert keys[keys.index(lab.parent) + 1:keys.index(lab.parent) + 3] != [] and set(lab.children) <= set(keys)
        explorer.table.select([lab.children[0]])
        assert explorer.cancel_button.disabled and explorer.cancel_button.layout.display == "none", \
            "no Cancel on a completed run"
        assert explorer.cancel_button.button_style == "", "Cancel is not in warning orange"
        explorer.table.open_row(lab.children[1])  # what a click on any cell of the row does
        assert explorer.showing_details and explorer.details.name == lab.children[1]
        explorer.show_list()
        explorer.search_box.value = "child"
        assert not explorer.grouping() and {r.name for r in explorer.page.runs} == set(lab.children), \
            "a search lists the matching runs themselves"
    finally:
        explorer.close()


def test_paging_and_columns_saved_per_experiment(lab: Lab) -> None:
    explorer = RunExplorer(lab.ws, experiment="explore", group_children=False)
    try:
        explorer.page_size.value = 10
        explorer.page_size.options = [2, 10, 50]
        explorer.page_size.value = 2
        first = [r.name for r in explorer.page.runs]
        assert len(first) == 2 and "1–2 of 4" in explorer.page_label.value and explorer.prev_button.disabled
        explorer.next_button.click()
        second = [r.name for r in explorer.page.runs]
        assert len(second) == 2 and not set(first) & set(second) and explorer.next_button.disabled
        explorer.prev_button.click()
        assert [r.name for r in explorer.page.runs] == first
        explorer.column_chooser.value = ["status", "name", "metrics.accuracy", "params.model"]
        assert explorer.table.header_titles() == ["Status", "Display name", "accuracy", "model"]
        explorer.save_columns.click()
        assert "save_run_view('explore', RunView(columns=[" in explorer.code.code
    finally:
        explorer.close()
    again = RunExplorer(lab.ws, experiment="explore")
    try:
        assert again.column_chooser.value == ["status", "name", "metrics.accuracy", "params.model"]
        assert lab.ws.jobs.get_run_view("explore").columns == list(again.column_chooser.value)
    finally:
        again.close()


def test_run_page_of_a_finished_job(lab: Lab) -> None:
    page = RunDetails(lab.ws, lab.children[0])
    try:
        assert not page.live and page.status == "Completed"
        assert "python train.py --lr ${{inputs.lr}}" in page.overview.value
        assert "lr = 0.2" in page.overview.value
        assert set(page.figures) == {"loss"} and len(page.figures["loss"].data[0].y) == 20
        page.smoothing.value = 0.6
        assert [t.name for t in page.figures["loss"].data] == ["raw", "smoothed 0.60"]
        page.log_scale.value = True
        assert page.figures["loss"].layout.yaxis.type == "log"
        assert "accuracy" in page.scalars.value
        assert "model" in page.params_tags.value and "tabular" in page.params_tags.value
        assert "done" in page.log_view.value
        page.tabs.selected_index = 1
        assert "ws.jobs.get_metric_history(" in page.code.code
        # Artifacts: browse into outputs/, preview CSV, text and image, download link.
        labels = dict(page.artifact_list.options)
        assert "outputs/" in labels
        page.artifact_list.value = labels["outputs/"]
        assert page.artifact_folder == "outputs"
        files = {label.split("  ")[0]: value for label, value in page.artifact_list.options}
        page.artifact_list.value = files["table.csv"]
        preview = page.artifact_preview.children[0].value
        assert "<th" in preview and ">3<" in preview
        assert "download='table.csv'" in page.artifact_preview.children[1].value
        page.artifact_list.value = files["notes.txt"]
        assert "hello from the job" in page.artifact_preview.children[0].value
        page.artifact_list.value = files["dot.png"]
        assert page.artifact_preview.children[0].format == "png"
        assert "read_artifact" in page.code.code
        page.artifact_up.click()
        assert page.artifact_folder == ""
    finally:
        page.close()


def test_child_runs_tree_and_lineage(lab: Lab) -> None:
    page = RunDetails(lab.ws, lab.parent)
    try:
        tree = page.children_view.value
        assert "child-rf" in tree and "child-lgbm" in tree and lab.children[0] in tree
        assert "accuracy=0.7" in tree
        assert "No datasets or files" in page.lineage_view.value
        page.tabs.selected_index = 5
        assert "parent_run_id" in page.code.code
    finally:
        page.close()


def test_compare_shows_differences_overlay_and_parallel_coordinates(lab: Lab) -> None:
    explorer = RunExplorer(lab.ws, experiment="explore")
    try:
        explorer.table.select(lab.children)
        compare = explorer.compare_selected()
        assert isinstance(compare, RunCompare)
        labels = [label for label, _ in compare.rows()]
        assert {"params.lr", "params.model", "metrics.accuracy", "metrics.loss"} <= set(labels)
        compare.only_differences.value = True
        assert "params.model" in [label for label, _ in compare.rows()]
        compare.metric.value = "loss"
        overlay = compare.figures["overlay"]
        assert sorted(t.name for t in overlay.data) == ["child-lgbm", "child-rf"]
        assert all(t.type == "scatter" for t in overlay.data), "a metric logged by step: lines"
        compare.metric.value = "accuracy"
        bars = compare.figures["overlay"]
        assert [t.type for t in bars.data] == ["bar"], "a metric logged once per run: one bar per run"
        assert sorted(bars.data[0].x) == ["child-lgbm", "child-rf"] and list(bars.data[0].text) != []
        compare.metric.value = "loss"
        dims = [d.label for d in compare.figures["parallel"].data[0].dimensions]
        assert dims == ["lr", "model", "loss"]
        assert "get_metric_history" in compare.code.code
        explorer.table.select([lab.children[0]])
        assert explorer.compare_selected() is None and "at least two runs" in explorer.message.text
    finally:
        explorer.close()


def test_actions_tag_archive_and_resubmit_with_edited_inputs(lab: Lab) -> None:
    ws = lab.ws
    page = RunDetails(ws, lab.children[1])
    try:
        page.tag_key.value, page.tag_value.value = "reviewed", "yes"
        page.tag_button.click()
        assert ws.jobs.run_summary(lab.children[1]).tags["reviewed"] == "yes"
        assert "update_tags" in page.code.code
        page.open_resubmit()
        assert page.resubmit_inputs["lr"].value == "0.3"
        page.resubmit_inputs["lr"].value = "0.7"
        page.resubmit_submit.click()
        assert page.resubmitted and "resubmit(" in page.code.code
        new = ws.jobs.get(page.resubmitted)
        assert new.inputs["lr"] == 0.7 and new.inputs["model"] == "lgbm"
        assert new.tags["resubmitted_from"] == lab.children[1]
        page.resubmit_inputs = {"lr": page.resubmit_inputs["lr"]}
        page.resubmit_inputs["lr"].value = "fast"
        page.resubmit_submit.click()
        assert "Input 'lr' is a float; 'fast' is not one." in page.message.text
    finally:
        page.close()
    explorer = RunExplorer(ws, experiment="explore", group_children=False)
    try:
        explorer.table.select([lab.children[1]])
        explorer.archive_button.click()
        assert lab.children[1] not in [r.name for r in explorer.page.runs]
        assert "ws.jobs.archive(" in explorer.code.code
        explorer.show_archived.value = True
        assert [r.name for r in explorer.page.runs] == [lab.children[1]]
        explorer.table.select([lab.children[1]])
        assert explorer.archive_button.description == "Restore"
        explorer.archive_button.click()
        explorer.show_archived.value = False
        assert lab.children[1] in [r.name for r in explorer.page.runs]
        explorer.table.select([lab.parent])
        explorer.tag_box.value = "no equals sign"
        explorer.tag_button.click()
        assert "Write the tag as key=value" in explorer.message.text
    finally:
        explorer.close()


def test_tags_and_archive_of_an_interactive_run_from_its_page_and_the_list(lab: Lab) -> None:
    """A notebook's own ``mlflow.start_run`` run: no job behind it, yet tags and archive work."""
    import mlflow

    from studio_ext.backends.local.core import tracking
    ws = lab.ws
    experiment = tracking.ensure_experiment(ws.backend.tracking_uri, ws.backend.artifacts_uri, "notebook")
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(ws.mlflow_tracking_uri)
    try:
        with mlflow.start_run(experiment_id=experiment, run_name="by-hand") as run:
            mlflow.log_metric("acc", 0.9)
    finally:
        mlflow.set_tracking_uri(before)
    run_id = run.info.run_id
    page = RunDetails(ws, run_id)
    try:
        assert page.cancel_button.disabled and page.resubmit_button.disabled  # no job to cancel or re-run
        assert not page.tag_button.disabled and not page.archive_button.disabled
        page.tag_key.value, page.tag_value.value = "reviewed", "yes"
        page.tag_button.click()
        assert page.message.text == "Tag reviewed=yes set." and page.summary.tags == {"reviewed": "yes"}
        assert f"ws.jobs.update_tags({run_id!r}, {{'reviewed': 'yes'}})" in page.code.code
        page.tag_key.value = "mlflow.user"
        page.tag_button.click()
        assert "kept by MLflow or the studio" in page.message.text and page.message.kind == "error"
        page.tag_key.value = "reviewed"
        page.untag_button.click()
        assert ws.jobs.run_summary(run_id).tags == {}
        page.archive_button.click()
        assert page.summary.archived and page.archive_button.description == "Restore"
        assert ws.jobs.search("notebook").total == 0
        page.archive_button.click()
        assert not page.summary.archived and ws.jobs.search("notebook").total == 1
    finally:
        page.close()
    explorer = RunExplorer(ws, experiment="notebook")
    try:
        explorer.table.select([run_id])
        explorer.tag_box.value = "stage=final"
        explorer.tag_button.click()
        assert ws.jobs.run_summary(run_id).tags == {"stage": "final"}
        explorer.table.select([run_id])
        explorer.archive_button.click()
        assert explorer.page.runs == [] and f"ws.jobs.archive({run_id!r})" in explorer.code.code
        explorer.show_archived.value = True
        explorer.table.select([run_id])
        explorer.archive_button.click()
        explorer.show_archived.value = False
        assert [r.name for r in explorer.page.runs] == [run_id]
    finally:
        explorer.close()


def test_missing_artifacts_and_deleted_log_are_shown_while_the_rest_works(lab: Lab) -> None:
    ws = lab.ws
    name = lab.parent
    run_id = ws.jobs.run_summary(name).run_id
    log_file = ws.path / "jobs" / name / "user_logs" / "std_log.txt"
    log_file.unlink()
    page = RunDetails(ws, name)
    try:
        assert "gone; showing the copy stored" in page.log_message.text and "done" in page.log_view.value
    finally:
        page.close()
    artifacts = next(p for p in (ws.path / "artifacts").rglob(run_id) if p.is_dir())
    shutil.rmtree(artifacts)
    page = RunDetails(ws, name)
    try:
        assert "was deleted and the run has no stored copy" in page.log_message.text
        assert "No artifacts here" in page.artifact_message.text
        page.preview("outputs/table.csv")
        assert "never logged or has been deleted" in page.artifact_message.text
        # The rest of the page still works.
        assert page.status == "Completed" and "loss" in page.figures and "accuracy" in page.scalars.value
        assert "child-rf" in page.children_view.value
    finally:
        page.close()


def test_opening_an_unknown_run_says_so(lab: Lab) -> None:
    with pytest.raises(NotFound, match="There is no job or run named 'no-such-job'"):
        RunDetails(lab.ws, "no-such-job")


def test_first_open_of_a_big_store_indexes_in_the_background_with_progress(
        workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from studio_ext.backends.local.core import tracking
    from studio_ext.panels import runs as runs_module

    client = tracking.client(workspace.mlflow_tracking_uri)
    exp = tracking.ensure_experiment(workspace.backend.tracking_uri, workspace.backend.artifacts_uri, "big")
    for i in range(30):
        client.log_metric(client.create_run(exp, run_name=f"r{i}").info.run_id, "acc", i)
    assert workspace.jobs.run_index_pending() == 30
    monkeypatch.setattr(runs_module, "INDEX_IN_BACKGROUND_ABOVE", 10)  # "big" means 30 runs here
    explorer = RunExplorer(workspace)
    try:
        bars = [c for c in explorer.children if c.__class__.__name__ == "IntProgress"]
        assert explorer.indexing is not None and len(bars) == 1
        explorer.indexing.join(60)
        assert bars[0].value == bars[0].max == 30
        assert bars[0] not in explorer.children, "the bar goes when the index is built"
        assert explorer.page.total == 30 and explorer.experiment_names == ["big"]
        assert workspace.jobs.run_index_pending() == 0
    finally:
        explorer.close()
