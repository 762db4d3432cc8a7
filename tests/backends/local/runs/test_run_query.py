"""The run filter language: what it accepts, what it refuses (and says why), and that it never runs code."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import pytest
from mlflow.entities import Metric, Param, RunTag

from studio_ext import Workspace
from studio_ext.backends.local.core import tracking
from studio_ext.backends.local.runs.query import (
    And,
    Column,
    ColumnKind,
    Comparison,
    InList,
    IsNull,
    Not,
    Op,
    Or,
    parse_filter,
    parse_order_by,
)
from studio_ext.errors import InvalidInput, NotFound

M, P, T, A = ColumnKind.METRIC, ColumnKind.PARAM, ColumnKind.TAG, ColumnKind.ATTRIBUTE


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("metrics.accuracy > 0.9 and params.model = 'lgbm'",
         And((Comparison(Column(M, "accuracy"), Op.GT, 0.9), Comparison(Column(P, "model"), Op.EQ, "lgbm")))),
        ("(tags.team = \"nlp\" OR tags.team == 'cv') AND NOT status = 'Failed'",
         And((Or((Comparison(Column(T, "team"), Op.EQ, "nlp"), Comparison(Column(T, "team"), Op.EQ, "cv"))),
              Not(Comparison(Column(A, "status"), Op.EQ, "Failed"))))),
        ("metrics.`val loss` <= -1.5e-3", Comparison(Column(M, "val loss"), Op.LE, -1.5e-3)),
        ("tags.mlflow.runName like '%base%'", Comparison(Column(T, "mlflow.runName"), Op.LIKE, "%base%")),
        ("params.model not in ('a', 'b')", InList(Column(P, "model"), ("a", "b"), negate=True)),
        ("metrics.auc is not null", IsNull(Column(M, "auc"), negate=True)),
        ("attributes.run_name != 'x'", Comparison(Column(A, "name"), Op.NE, "x")),
        ("params.note = 'it''s'", Comparison(Column(P, "note"), Op.EQ, "it's")),
    ],
)
def test_filters_parse_into_a_tree(text, tree) -> None:
    assert parse_filter(text) == tree


def test_empty_filter_means_no_filter() -> None:
    assert parse_filter(None) is None and parse_filter("   ") is None


def test_order_by_parses_directions() -> None:
    keys = parse_order_by(["metrics.accuracy DESC", "start_time", "params.`learning rate` asc"])
    assert [(str(k.column), k.descending) for k in keys] == [
        ("metrics.accuracy", True), ("start_time", False), ("params.`learning rate`", False)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('touch pwned')", "syntax error at position 11: unexpected '('"),
        ("metrics.a > 0.9; drop table runs", "syntax error at position 16: unexpected ';'"),
        ("metrics.accuracy >", "syntax error at position 19: unexpected the end of the text"),
        ("params.x = 'a' or 1", "syntax error at position 19: unexpected '1'"),
        ("metrics.a = 'unclosed", "syntax error at position 13"),
        ("lambda: 1", "syntax error"),
        ("foo.bar = 1", "Unknown column 'foo.bar': 'foo' is not a column group"),
        ("accuracy > 0.9", "Unknown column 'accuracy'. Name metrics, params and tags with their group"),
        ("stauts = 'Failed'", "Unknown column 'stauts'. Did you mean 'status'?"),
    ],
)
def test_bad_filters_are_refused_with_the_place_and_the_reason(text, message) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_filter(text)
    assert message in str(err.value)


def test_an_expression_cannot_run_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for attempt in ("__import__('os').system('touch pwned')", "exec('open(\"pwned\",\"w\")')",
                    "metrics.a > __import__('os').getpid()", "params.x = open('pwned', 'w')"):
        with pytest.raises(InvalidInput, match="syntax error"):
            parse_filter(attempt)
    assert not (tmp_path / "pwned").exists()


# -- the language against real runs -------------------------------------------------------------
@pytest.fixture(scope="module")
def runs_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """40 interactive MLflow runs with known metrics, params and tags (no jobs: fast)."""
    ws = Workspace.create(tmp_path_factory.mktemp("query") / "ws")
    client = tracking.client(ws.mlflow_tracking_uri)
    exp = tracking.ensure_experiment(ws.backend.tracking_uri, ws.backend.artifacts_uri, "grid")
    now = int(time.time() * 1000)
    for i in range(40):
        run = client.create_run(exp, run_name=f"trial-{i:02d}", tags={"team": ["nlp", "cv"][i % 2]})
        metrics = [Metric("accuracy", i / 40, now, 0)]
        if i % 3:
            metrics.append(Metric("loss", 1 - i / 40, now, 0))
        client.log_batch(run.info.run_id, metrics=metrics,
                         params=[Param("model", ["lgbm", "rf", "lr", "knn"][i % 4]), Param("depth", str(i))],
                         tags=[RunTag("note", "it's" if i == 7 else "plain")])
        if i % 5:
            client.set_terminated(run.info.run_id, "FINISHED" if i % 7 else "FAILED")
    yield ws
    ws.close()


def _names(page) -> list[str]:
    return [r.display_name for r in page.runs]


EXPECTED = {
    "metrics.accuracy >= 0.5 and params.model = 'lgbm'": {i for i in range(40) if i >= 20 and i % 4 == 0},
    "params.model in ('rf', 'lr') or tags.team = 'cv'": {i for i in range(40) if i % 4 in (1, 2) or i % 2},
    "metrics.loss is null": {i for i in range(40) if i % 3 == 0},
    "not metrics.loss < 0.5": {i for i in range(40) if i % 3 == 0 or 1 - i / 40 >= 0.5},
    "params.depth > 35": {36, 37, 38, 39},
    "params.depth <= 3 and params.model != 'lgbm'": {1, 2, 3},
    "name like 'trial-1%'": set(range(10, 20)),
    "name ilike 'TRIAL-0%' and tags.team = 'nlp'": {0, 2, 4, 6, 8},
    "tags.note = 'it''s'": {7},
    "status = 'Failed'": {i for i in range(40) if i % 5 and i % 7 == 0},
    "status in ('Completed', 'Failed')": {i for i in range(40) if i % 5},
    "status = 'Running'": {i for i in range(40) if i % 5 == 0},
    "params.model = 'x'' OR ''1''=''1'": set(),
}


@pytest.mark.parametrize("use_index", [True, False], ids=["run-index", "mlflow-tables"])
@pytest.mark.parametrize("text", list(EXPECTED))
def test_filters_select_exactly_the_matching_runs(runs_ws: Workspace, text: str, use_index: bool) -> None:
    jobs = runs_ws.jobs
    if not use_index:  # the path non-SQLite stores take: SQL over MLflow's own tables
        jobs._find_run_ids = functools.partial(type(jobs)._find_run_ids, jobs, use_index=False)
    try:
        page = jobs.search("grid", filter=text, page_size=100)
    finally:
        jobs.__dict__.pop("_find_run_ids", None)
    assert set(_names(page)) == {f"trial-{i:02d}" for i in EXPECTED[text]}
    assert page.total == len(EXPECTED[text])


@pytest.mark.parametrize("use_index", [True, False], ids=["run-index", "mlflow-tables"])
def test_sorting_puts_runs_without_the_metric_last_and_pages_cover_everything(runs_ws: Workspace,
                                                                            use_index: bool) -> None:
    jobs = runs_ws.jobs
    if not use_index:
        jobs._find_run_ids = functools.partial(type(jobs)._find_run_ids, jobs, use_index=False)
    try:
        seen, token = [], None
        while True:
            page = jobs.search("grid", order_by=["metrics.loss DESC"], page_size=7, page_token=token)
            seen += page.runs
            token = page.next_page_token
            if token is None:
                break
    finally:
        jobs.__dict__.pop("_find_run_ids", None)
    assert len(seen) == 40 and len({r.run_id for r in seen}) == 40
    losses = [r.metrics.get("loss") for r in seen]
    with_loss = [v for v in losses if v is not None]
    assert with_loss == sorted(with_loss, reverse=True)
    assert losses[len(with_loss):] == [None] * (40 - len(with_loss)), "runs lacking the metric come last"


def test_filtered_pages_cover_every_match_once(runs_ws: Workspace) -> None:
    text = "status in ('Completed', 'Failed')"
    seen, token, totals = [], None, set()
    while True:
        page = runs_ws.jobs.search("grid", filter=text, order_by=["params.depth DESC"], page_size=5,
                                   page_token=token)
        seen += [r.display_name for r in page.runs]
        totals.add(page.total)
        token = page.next_page_token
        if token is None:
            break
    assert totals == {len(EXPECTED[text])}
    assert sorted(seen) == sorted(f"trial-{i:02d}" for i in EXPECTED[text]) and len(set(seen)) == len(seen)


def test_unknown_columns_are_named_with_a_suggestion(runs_ws: Workspace) -> None:
    with pytest.raises(InvalidInput) as err:
        runs_ws.jobs.search("grid", filter="metrics.acuracy > 0.9")
    assert str(err.value) == (
        "Unknown column metrics.acuracy: no run in experiment 'grid' has a metric named 'acuracy'. "
        "Did you mean metrics.accuracy? Known metrics: accuracy, loss.")
    with pytest.raises(InvalidInput, match="Unknown column params.modle: .* Did you mean params.model?"):
        runs_ws.jobs.search("grid", filter="params.modle = 'lgbm'")
    # Sorting by a key no run has yet is allowed, as in MLflow: the order falls back to the tie-break.
    assert runs_ws.jobs.search("grid", order_by=["metrics.not_yet DESC"]).total == 40


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filter": "metrics.accuracy > 'high'"}, "metrics.accuracy is a number; compare it with a number"),
        ({"filter": "metrics.accuracy like '%1'"}, "metrics.accuracy is a number; like works on text"),
        ({"filter": "status = 'Done'"}, "'Done' is not a job status. Use one of: NotStarted, Queued"),
        ({"filter": "status > 'Failed'"}, "status can only be compared with = or !="),
        ({"filter": "start_time > 'yesterday'"}, "start_time compares with 'yesterday', which is not a date"),
        ({"page_size": 0}, "The 'page_size' parameter of search must be an int in [1, 1000]. Got 0 instead."),
        ({"status": "Finished"}, "'Finished' is not a job status"),
        ({"page_token": "garbage"}, "The page_token is not one that search returned"),
        ({"order_by": ["metrics.accuracy sideways"]}, "syntax error"),
    ],
)
def test_bad_search_arguments_say_what_to_do(runs_ws: Workspace, kwargs, message) -> None:
    with pytest.raises(InvalidInput) as err:
        runs_ws.jobs.search("grid", **kwargs)
    assert message in str(err.value)


def test_a_page_token_only_works_for_its_own_search(runs_ws: Workspace) -> None:
    page = runs_ws.jobs.search("grid", page_size=5)
    with pytest.raises(InvalidInput, match="belongs to a different search"):
        runs_ws.jobs.search("grid", filter="params.depth > 3", page_size=5, page_token=page.next_page_token)


def test_unknown_experiment_lists_the_known_ones(runs_ws: Workspace) -> None:
    with pytest.raises(NotFound, match="There is no experiment named 'gird'. Experiments: Default, grid."):
        runs_ws.jobs.search("gird")


def test_search_text_and_dates(runs_ws: Workspace) -> None:
    assert runs_ws.jobs.search("grid", search_text="TRIAL-3").total == 10
    assert runs_ws.jobs.search("grid", search_text="%").total == 0, "the text is literal, not a pattern"
    assert runs_ws.jobs.search("grid", filter="start_time > '2000-01-01' and duration >= 0").total == 40
    assert runs_ws.jobs.search("grid", filter="start_time < '2000-01-01'").total == 0


def test_the_tables_are_intact_after_hostile_values(runs_ws: Workspace) -> None:
    for text in ("params.model = 'lgbm''; DROP TABLE runs; --'", "tags.team = '\" OR 1=1 --'"):
        assert runs_ws.jobs.search("grid", filter=text).total == 0
    assert runs_ws.jobs.search("grid").total == 40


@pytest.mark.postgres
@pytest.mark.slow
def test_the_same_filters_work_on_a_postgresql_store(postgres_url: str, tmp_path: Path) -> None:
    """Non-SQLite stores are searched with SQL over MLflow's own tables (no index)."""
    import uuid

    import sqlalchemy as sa

    name = "runs_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    ws = Workspace.create(tmp_path / "pg", tracking_uri=postgres_url.rsplit("/", 1)[0] + "/" + name)
    try:
        client = tracking.client(ws.mlflow_tracking_uri)
        exp = tracking.ensure_experiment(ws.backend.tracking_uri, ws.backend.artifacts_uri, "grid")
        now = int(time.time() * 1000)
        for i in range(40):  # the same runs as runs_ws
            run = client.create_run(exp, run_name=f"trial-{i:02d}", tags={"team": ["nlp", "cv"][i % 2]})
            metrics = [Metric("accuracy", i / 40, now, 0)] + ([Metric("loss", 1 - i / 40, now, 0)] if i % 3 else [])
            client.log_batch(run.info.run_id, metrics=metrics,
                             params=[Param("model", ["lgbm", "rf", "lr", "knn"][i % 4]), Param("depth", str(i))],
                             tags=[RunTag("note", "it's" if i == 7 else "plain")])
            if i % 5:
                client.set_terminated(run.info.run_id, "FINISHED" if i % 7 else "FAILED")
        assert ws.jobs._index() is None
        for text, expected in EXPECTED.items():
            page = ws.jobs.search("grid", filter=text, page_size=100)
            assert set(_names(page)) == {f"trial-{i:02d}" for i in expected}, text
        page = ws.jobs.search("grid", order_by=["metrics.loss DESC"], page_size=100)
        losses = [r.metrics.get("loss") for r in page.runs]
        assert losses[:26] == sorted(losses[:26], reverse=True) and losses[26:] == [None] * 14
        with pytest.raises(InvalidInput, match="Unknown column metrics.acuracy"):
            ws.jobs.search("grid", filter="metrics.acuracy > 1")
        assert {e.name: e.run_count for e in ws.jobs.experiments()}["grid"] == 40
    finally:
        ws.runtime.stop()
        ws.close()
