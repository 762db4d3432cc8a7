"""The run index: consistent with MLflow's tables under concurrent jobs, self-repairing, and the reads around it."""

from __future__ import annotations

import sqlite3
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow.entities import Metric

from studio_ext import Workspace, command
from studio_ext.backends.local.core import tracking
from studio_ext.backends.local.runs.index import TRIGGER_NAMES
from studio_ext.entities import RunView
from studio_ext.errors import InvalidInput, NotFound, UnsafePath
from tests.helpers import wait_until

CONCURRENT_SCRIPT = textwrap.dedent("""
    import sys, time, mlflow
    tag = sys.argv[1]
    mlflow.log_param("worker", tag)
    for step in range(40):
        mlflow.log_metric(f"m_{tag}", step * 1.5, step=step)
        mlflow.log_metric("shared", step + len(tag), step=step)
        if step % 10 == 0:
            mlflow.set_tag(f"phase_{tag}", str(step))
        time.sleep(0.01)
""")


def _wait_all(ws: Workspace, names: list[str], timeout: float = 180) -> None:
    wait_until(lambda: all(ws.jobs.get(n).status.is_terminal for n in names), timeout=timeout, interval=0.3,
               what=lambda: f"the jobs to finish: {[(n, ws.jobs.get(n).status) for n in names]}")


@pytest.mark.slow
def test_search_sees_every_metric_after_concurrent_jobs(workspace: Workspace, code_dir: Path) -> None:
    (code_dir / "work.py").write_text(CONCURRENT_SCRIPT)
    tags = ["a", "bb", "ccc", "dddd"]
    names = [workspace.jobs.create_or_update(command(
        code=str(code_dir), command=f"python work.py {t}", experiment_name="concurrent",
        display_name=f"worker-{t}")).name for t in tags]
    # A reader searching the whole time applies the index's changes while the jobs write.
    stop, errors, searches = threading.Event(), [], [0]

    def reader() -> None:
        while not stop.is_set():
            try:
                workspace.jobs.search("concurrent", order_by=["metrics.shared DESC"], page_size=10)
                searches[0] += 1
            except Exception as exc:  # noqa: BLE001 - recorded and asserted below
                errors.append(exc)
            time.sleep(0.05)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        _wait_all(workspace, names)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert searches[0] > 3
    jobs = {n: workspace.jobs.get(n) for n in names}
    assert all(str(j.status) == "Completed" for j in jobs.values()), [(j.name, j.error) for j in jobs.values()]

    page = workspace.jobs.search("concurrent", order_by=["metrics.shared DESC"], page_size=50)
    assert page.total == 4
    client = tracking.client(workspace.mlflow_tracking_uri)
    for row in page.runs:
        truth = client.get_run(row.run_id).data
        assert row.metrics == truth.metrics and row.params == truth.params
    assert [r.metrics["shared"] for r in page.runs] == [43.0, 42.0, 41.0, 40.0]
    # Every key every job wrote is searchable through the index itself.
    for tag, name in zip(tags, names):
        hit = workspace.jobs.search("concurrent", filter=f"metrics.m_{tag} = 58.5 and tags.phase_{tag} = '30' "
                                                         f"and params.worker = '{tag}'")
        assert [r.name for r in hit.runs] == [name]
        assert hit.runs[0].status.value == "Completed" and hit.runs[0].compute == "local"
    assert workspace.jobs.search("concurrent", status="Completed").total == 4
    assert workspace.jobs.search("concurrent", status="Running").total == 0


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory):
    """One workspace for the tests below; each works in an experiment of its own."""
    ws = Workspace.create(tmp_path_factory.mktemp("index") / "ws")
    yield ws
    ws.close()


@pytest.fixture
def interactive(shared: Workspace, request: pytest.FixtureRequest):
    """(client, make, experiment): ``make(name, **metrics)`` logs a run as plain MLflow would."""
    client = tracking.client(shared.mlflow_tracking_uri)
    experiment = request.node.name[:60]
    exp = tracking.ensure_experiment(shared.backend.tracking_uri, shared.backend.artifacts_uri, experiment)

    def make(name: str, **metrics: float) -> str:
        run = client.create_run(exp, run_name=name)
        for key, value in metrics.items():
            client.log_metric(run.info.run_id, key, value)
        return run.info.run_id

    return client, make, experiment


def test_lost_triggers_are_reinstalled_and_the_index_rebuilt(shared: Workspace, interactive) -> None:
    workspace = shared
    client, make, exp = interactive
    first = make("one", acc=0.5)
    assert workspace.jobs.search(exp, filter="metrics.acc = 0.5").total == 1
    db = workspace.path / "mlflow.db"
    with sqlite3.connect(db) as conn:  # as an MLflow migration rebuilding tables would
        for name in TRIGGER_NAMES:
            conn.execute(f"DROP TRIGGER {name}")
    client.log_metric(first, "acc", 0.75)  # not recorded by any trigger
    make("two", acc=0.9)
    assert workspace.jobs.search(exp, filter="metrics.acc = 0.5").total == 0
    assert sorted(r.metrics["acc"] for r in workspace.jobs.search(exp).runs) == [0.75, 0.9]
    with sqlite3.connect(db) as conn:
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert set(TRIGGER_NAMES) <= present


def test_a_deleted_index_file_is_rebuilt(shared: Workspace, interactive) -> None:
    workspace = shared
    _, make, exp = interactive
    make("one", acc=0.1)
    assert workspace.jobs.search(exp).total == 1
    for path in workspace.path.glob("run_index.db*"):
        path.unlink()
    make("two", acc=0.2)
    assert workspace.jobs.search(exp, order_by=["metrics.acc"]).runs[1].metrics == {"acc": 0.2}


def test_archive_hides_runs_and_experiments_count_active_ones(shared: Workspace, interactive) -> None:
    workspace = shared
    client, make, exp = interactive
    ids = [make(f"r{i}", acc=i) for i in range(3)]
    client.delete_run(ids[0])
    assert {r.run_id for r in workspace.jobs.search(exp).runs} == set(ids[1:])
    archived = workspace.jobs.search(exp, archived=True)
    assert [r.run_id for r in archived.runs] == [ids[0]] and archived.runs[0].archived
    assert workspace.jobs.search(exp, archived=None).total == 3
    summary = {e.name: e for e in workspace.jobs.experiments()}
    assert summary[exp].run_count == 2 and summary[exp].last_activity is not None
    assert [e.name for e in workspace.jobs.experiments()][0] == exp, "most recently active first"


def test_interactive_runs_take_tags_and_archive_like_jobs(shared: Workspace, interactive) -> None:
    """A run logged with plain ``mlflow.start_run`` (no studio job) is tagged and archived by its run id."""
    import mlflow

    workspace = shared
    _, _, exp = interactive
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(workspace.mlflow_tracking_uri)
    try:
        with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name(exp).experiment_id,
                              run_name="notebook") as run:
            mlflow.log_metric("acc", 0.8)
            mlflow.set_tag("owner", "ana")
    finally:
        mlflow.set_tracking_uri(before)
    run_id = run.info.run_id

    tagged = workspace.jobs.update_tags(run_id, {"reviewed": "yes", "owner": "bo"})
    assert tagged.interactive and tagged.tags == {"reviewed": "yes", "owner": "bo"}
    assert [r.name for r in workspace.jobs.search(exp, filter="tags.reviewed = 'yes'").runs] == [run_id]
    assert workspace.jobs.update_tags(run_id, {}, remove=["owner"]).tags == {"reviewed": "yes"}
    with pytest.raises(InvalidInput, match="has no tag 'owner', so it cannot be removed"):
        workspace.jobs.update_tags(run_id, {"kept": "no"}, remove=["owner"])
    for bad, message in [("reviewed=yes", "Tags must be a dict"), ({"mlflow.runName": "x"}, "kept by MLflow"),
                         ({"": "x"}, "non-empty string")]:
        with pytest.raises(InvalidInput, match=message):
            workspace.jobs.update_tags(run_id, bad)
    assert workspace.jobs.run_summary(run_id).tags == {"reviewed": "yes"}  # the refused changes wrote nothing

    workspace.jobs.archive(run_id)
    assert workspace.jobs.search(exp).total == 0
    assert [(r.name, r.archived) for r in workspace.jobs.search(exp, archived=True).runs] == [(run_id, True)]
    workspace.jobs.restore(run_id)
    assert [r.name for r in workspace.jobs.search(exp).runs] == [run_id]
    with pytest.raises(NotFound, match="There is no job or run named '0123456789abcdef0123456789abcdef'"):
        workspace.jobs.archive("0123456789abcdef0123456789abcdef")


def test_metric_history_is_downsampled_for_charts_keeping_extremes(shared: Workspace, interactive) -> None:
    workspace = shared
    client, make, _ = interactive
    run_id = make("long")
    rng = np.random.default_rng(1)
    values = rng.normal(size=5_000)
    values[3_456] = 99.0
    values[777] = -99.0
    now = int(time.time() * 1000)
    for start in range(0, 5_000, 1000):
        client.log_batch(run_id, metrics=[Metric("loss", float(values[i]), now + i, i)
                                          for i in range(start, start + 1000)])
    client.log_metric(run_id, "loss", float("nan"), step=5_000)
    full = workspace.jobs.get_metric_history(run_id, "loss")
    assert full.total_points == 5_001 and len(full.values) == 5_001 and full.non_finite_points == 1
    small = workspace.jobs.get_metric_history(run_id, "loss", max_points=300)
    assert small.downsampled and len(small.steps) <= 300 and small.total_points == 5_001
    assert max(small.values) == 99.0 and 3_456 in small.steps
    assert min(small.values) == -99.0 and 777 in small.steps
    assert small.steps == sorted(small.steps)
    with pytest.raises(NotFound, match="Run 'long' has no metric 'acc'|has no metric 'acc'. Its metrics: loss"):
        workspace.jobs.get_metric_history(run_id, "acc")
    with pytest.raises(InvalidInput, match="'max_points' parameter of get_metric_history must be None or an int"):
        workspace.jobs.get_metric_history(run_id, "loss", max_points=1)


def test_artifacts_list_read_and_refuse_escapes(shared: Workspace, interactive, tmp_path: Path) -> None:
    workspace = shared
    client, make, _ = interactive
    run_id = make("arts")
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    (tmp_path / "big.txt").write_text("x" * 5000)
    client.log_artifact(run_id, str(tmp_path / "table.csv"), "outputs")
    client.log_artifact(run_id, str(tmp_path / "big.txt"))
    top = workspace.jobs.list_artifacts(run_id)
    assert [(a.path, a.is_dir) for a in top] == [("outputs", True), ("big.txt", False)]
    assert [a.path for a in workspace.jobs.list_artifacts(run_id, "outputs")] == ["outputs/table.csv"]
    csv = workspace.jobs.read_artifact(run_id, "outputs/table.csv")
    assert csv.data == b"a,b\n1,2\n" and csv.media_type == "text/csv" and not csv.truncated
    big = workspace.jobs.read_artifact(run_id, "big.txt", max_bytes=100)
    assert len(big.data) == 100 and big.truncated and big.size == 5000
    with pytest.raises(NotFound, match="has no artifact 'nope.txt': it was never logged or has been deleted"):
        workspace.jobs.read_artifact(run_id, "nope.txt")
    for bad in ("../../workspace.toml", "%2e%2e/%2e%2e/workspace.toml", "/etc/passwd"):
        with pytest.raises(UnsafePath):
            workspace.jobs.read_artifact(run_id, bad)
    log = workspace.jobs.tail_log(run_id)
    assert log.missing and "outside a job" in log.message


def test_run_views_persist_per_experiment(shared: Workspace) -> None:
    workspace = shared
    saved = workspace.jobs.save_run_view("exp-a", RunView(columns=["status", "metrics.`val loss`", "params.lr"],
                                                          page_size=25))
    assert saved == RunView(columns=["status", "metrics.`val loss`", "params.lr"], page_size=25)
    assert Workspace(workspace.path).jobs.get_run_view("exp-a") == saved
    assert workspace.jobs.get_run_view("exp-b") == RunView()
    with pytest.raises(InvalidInput, match="A run view must be a RunView. Got dict instead."):
        workspace.jobs.save_run_view("exp-a", {"colour": "red"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="Unknown column 'bogus'"):
        workspace.jobs.save_run_view("exp-a", RunView(columns=["bogus"]))
    with pytest.raises(InvalidInput, match=r"The view's 'page_size' must be an int in \[1, "):
        workspace.jobs.save_run_view("exp-a", RunView(page_size=0))
    assert workspace.jobs.get_run_view("exp-a") == saved, "a refused change keeps the saved view"
