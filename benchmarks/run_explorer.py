"""Run explorer at 100,000 runs: the studio's search beside MLflow's, on the same store, in one run.

    .venv/bin/python benchmarks/run_explorer.py            # 100,000 runs, 100,000-step metric
    .venv/bin/python benchmarks/run_explorer.py --runs 20000 --mlflow-timeout 30

What it measures (median of ``--repeat`` calls, after one warm-up call):

* the first page of 50 runs sorted by a metric (``metrics.accuracy DESC``);
* a filter over all runs (``metrics.accuracy > 0.9 and params.model = 'lgbm'``),
  first page plus the total count;
* opening a 100,000-step metric chart (history read + downsampling to 1,000 points);

through the service layer (``ws.jobs.search``, ``ws.jobs.get_metric_history``) and the
panel (``RunExplorer`` re-sorting and filtering, ``RunDetails`` opening the long run),
beside ``MlflowClient.search_runs``/``get_metric_history`` on the same store, both as
MLflow ships it and after ``ANALYZE``. Each of MLflow's measurements runs in a
subprocess killed ``--mlflow-timeout`` seconds after its store is open (the median
is over the calls done by then), since its first-page plan on a fresh SQLite store
is quadratic and may not finish. MLflow's search returns no total
count; ours includes one, so the comparison favours MLflow slightly.

How the store is built: 100,000 runs through MLflow's client go at ~54 runs/s (31
minutes), so the schema is created by MLflow itself (``Workspace.create`` opens the
store, which runs MLflow's migrations), the experiment through ``MlflowClient``,
and then the rows of MLflow's own tables (``runs``, ``params``, ``tags``,
``latest_metrics``, ``metrics``, reflected from the database so the columns are
MLflow's) are inserted with SQLAlchemy ``executemany`` in transactions of 10,000
runs: ~1 minute. Each run gets 5 params, 5 metrics (in ``metrics`` and
``latest_metrics``, as MLflow writes them) and 3 tags; one more run gets a
``loss`` metric of 100,000 steps.

The studio's first search on such a store builds its run index once (reported as
"index build"); every later search only applies what changed.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

FIRST_PAGE_ORDER = "metrics.accuracy DESC"
FILTER = "metrics.accuracy > 0.9 and params.model = 'lgbm'"
MODELS = ["lgbm", "xgboost", "rf", "lr", "knn"]
METRICS = ["accuracy", "auc", "f1", "loss", "precision"]


def build_store(path: Path, n_runs: int, n_steps: int, batch: int = 10_000) -> tuple[Any, str, str]:
    """Create a workspace whose MLflow store holds ``n_runs`` runs and one long run (see above)."""
    from studio_ext import Workspace
    from studio_ext.backends.local.core import tracking
    ws = Workspace.create(path)
    uri = ws.backend.tracking_uri
    exp_id = tracking.ensure_experiment(uri, ws.backend.artifacts_uri, "bench")
    engine = sa.create_engine(uri)
    meta = sa.MetaData()
    meta.reflect(engine, only=["runs", "params", "tags", "latest_metrics", "metrics"])
    runs, params, tags, latest, metrics = (meta.tables[t] for t in
                                           ("runs", "params", "tags", "latest_metrics", "metrics"))
    rng = random.Random(0)
    t0 = 1_700_000_000_000
    artifacts = ws.backend.artifacts_uri

    def run_row(rid: str, i: int, start: int, end: int | None, status: str) -> dict[str, Any]:
        return dict(run_uuid=rid, name=f"run-{i}", source_type="LOCAL", source_name="train.py",
                    entry_point_name="", user_id="bench", status=status, start_time=start, end_time=end,
                    deleted_time=None, source_version="", lifecycle_stage="active",
                    artifact_uri=f"{artifacts}/bench/{rid}/artifacts", experiment_id=int(exp_id))

    with tqdm(total=n_runs, desc="bulk-inserting runs", unit="run") as bar:
        for start in range(0, n_runs, batch):
            R, P, T, L = [], [], [], []
            for i in range(start, min(n_runs, start + batch)):
                rid = uuid.UUID(int=rng.getrandbits(128)).hex
                st = t0 + i * 1000
                R.append(run_row(rid, i, st, st + rng.randint(1000, 600_000), "FINISHED"))
                for k, v in (("model", rng.choice(MODELS)), ("learning_rate", str(round(rng.uniform(0.001, 0.3), 4))),
                             ("max_depth", str(rng.randint(2, 12))), ("n_estimators", str(rng.choice([50, 100, 400]))),
                             ("seed", str(i))):
                    P.append(dict(key=k, value=v, run_uuid=rid))
                for k, v in (("team", rng.choice(["vision", "nlp", "tabular"])),
                             ("dataset", rng.choice(["adult", "diabetes"])), ("mlflow.runName", f"run-{i}")):
                    T.append(dict(key=k, value=v, run_uuid=rid))
                for k in METRICS:
                    L.append(dict(key=k, value=rng.random(), timestamp=st, step=0, is_nan=False, run_uuid=rid))
            with engine.begin() as conn:
                conn.execute(runs.insert(), R)
                conn.execute(params.insert(), P)
                conn.execute(tags.insert(), T)
                conn.execute(latest.insert(), L)
                conn.execute(metrics.insert(), L)
            bar.update(len(R))
    long_id = uuid.uuid4().hex
    series = [dict(key="loss", value=1.0 / (1 + s) + rng.gauss(0, 0.01), timestamp=t0 + s, step=s, is_nan=False,
                   run_uuid=long_id) for s in range(n_steps)]
    with engine.begin() as conn:
        conn.execute(runs.insert(), [run_row(long_id, n_runs, t0, t0 + n_steps, "FINISHED")])
        for chunk in range(0, n_steps, 20_000):
            conn.execute(metrics.insert(), series[chunk:chunk + 20_000])
        conn.execute(latest.insert(), [series[-1]])
    engine.dispose()
    return ws, str(exp_id), long_id


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median seconds of ``repeat`` calls after one warm-up call, and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


_MLFLOW_CHILD = r"""
import json, sys, time
from mlflow.tracking import MlflowClient
uri, exp_id, what, arg, repeat = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
client = MlflowClient(tracking_uri=uri)
client.get_experiment(exp_id)  # opens the store: not part of the timed calls
print(json.dumps({"ready": True}), flush=True)
for i in range(repeat + 1):
    t = time.perf_counter()
    if what == "order":
        n = len(client.search_runs([exp_id], order_by=[arg], max_results=50))
    elif what == "filter":
        n = len(client.search_runs([exp_id], filter_string=arg, max_results=50))
    else:
        n = len(client.get_metric_history(arg, "loss"))
    print(json.dumps({"seconds": time.perf_counter() - t, "rows": n}), flush=True)
"""


def mlflow_timing(uri: str, exp_id: str, what: str, arg: str, repeat: int, timeout: float) -> float | None:
    """MLflow's own call in a subprocess, killed ``timeout`` s after its store is open.

    The median of the calls that finished in time (the first one, a warm-up, is left out
    when later ones finished); None if not even one call finished.
    """
    proc = subprocess.Popen([sys.executable, "-c", _MLFLOW_CHILD, uri, exp_id, what, arg, str(repeat)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue[dict[str, Any]] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(json.loads(line)) for line in proc.stdout
                                     if line.startswith("{")], daemon=True).start()
    times: list[float] = []
    try:
        lines.get(timeout=300)  # "ready": importing MLflow is not what is measured
        deadline = time.monotonic() + timeout
        while len(times) < repeat + 1:
            times.append(lines.get(timeout=max(0.0, deadline - time.monotonic()))["seconds"])
    except queue.Empty:
        pass
    finally:
        proc.kill()
        proc.wait()
    if not times:
        return None
    return statistics.median(times[1:] if len(times) > 1 else times)


def fmt(seconds: float | None, cap: float) -> str:
    return f"not done in {cap:.0f} s" if seconds is None else f"{seconds * 1000:,.1f} ms"


def ratio(theirs: float | None, ours: float, cap: float) -> str:
    if theirs is None:
        return f"> {cap / ours:,.0f}x"
    return f"{theirs / ours:,.1f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mlflow-timeout", type=float, default=60.0)
    parser.add_argument("--path", type=Path, default=None, help="where to build the store (a temp folder if not given)")
    args = parser.parse_args(argv)

    from studio_ext import Workspace
    from studio_ext.panels.run_details import RunDetails
    from studio_ext.panels.runs import RunExplorer

    root = args.path or Path(tempfile.mkdtemp(prefix="run-explorer-bench-"))
    started = time.perf_counter()
    ws, exp_id, long_id = build_store(root / "ws", args.runs, args.steps)
    print(f"store: {args.runs:,} runs x (5 params, 5 metrics, 3 tags) + one {args.steps:,}-step metric, "
          f"built in {time.perf_counter() - started:.1f} s at {root / 'ws'}")
    uri = ws.backend.tracking_uri
    cap = args.mlflow_timeout

    # -- the studio: service layer ---------------------------------------------------------------
    with tqdm(total=args.runs + 1, desc="building the run index (once per store)", unit="run") as bar:
        started = time.perf_counter()
        ws.jobs.refresh_run_index(lambda done, total: bar.update(done - bar.n))
        index_build = time.perf_counter() - started
    fresh = Workspace(ws.path)
    started = time.perf_counter()
    fresh.jobs.search("bench", order_by=[FIRST_PAGE_ORDER], page_size=50)
    fresh_process = time.perf_counter() - started
    ours_page, page = timed(lambda: ws.jobs.search("bench", order_by=[FIRST_PAGE_ORDER], page_size=50), args.repeat)
    ours_filter, hits = timed(lambda: ws.jobs.search("bench", filter=FILTER, page_size=50), args.repeat)
    ours_chart, hist = timed(lambda: ws.jobs.get_metric_history(long_id, "loss", max_points=1000), args.repeat)
    assert len(page.runs) == 50 and page.total == args.runs + 1
    assert hist.total_points == args.steps and len(hist.steps) <= 1000

    # -- the studio: the panels ------------------------------------------------------------------------
    explorer = RunExplorer(ws, experiment="bench")
    flip = [False]

    def resort() -> None:  # alternate the direction so each call really searches
        flip[0] = not flip[0]
        explorer.sort_column.value = "metrics.accuracy"
        explorer.sort_descending.value = flip[0]

    panel_sort, _ = timed(resort, args.repeat)
    filters = [FILTER, FILTER.replace("0.9", "0.8")]

    def refilter() -> None:
        explorer.filter_box.value = filters[explorer.refreshes % 2]

    panel_filter, _ = timed(refilter, args.repeat)
    assert explorer.filter_error.text == "", explorer.filter_error.text
    panel_chart, details = timed(lambda: RunDetails(ws, long_id), max(1, args.repeat // 2))
    assert details.histories["loss"].total_points == args.steps
    explorer.close()

    # -- MLflow, as shipped and after ANALYZE -----------------------------------------------------------
    print(f"measuring MLflow (each call capped at {cap:.0f} s) ...", flush=True)
    shipped = {
        "page": mlflow_timing(uri, exp_id, "order", FIRST_PAGE_ORDER, args.repeat, cap),
        "filter": mlflow_timing(uri, exp_id, "filter", FILTER, args.repeat, cap),
        "chart": mlflow_timing(uri, exp_id, "history", long_id, args.repeat, cap),
    }
    db = uri[len("sqlite:///"):]
    started = time.perf_counter()
    with sqlite3.connect(db) as conn:
        conn.execute("ANALYZE")
    analyze_s = time.perf_counter() - started
    analyzed = {
        "page": mlflow_timing(uri, exp_id, "order", FIRST_PAGE_ORDER, args.repeat, cap),
        "filter": mlflow_timing(uri, exp_id, "filter", FILTER, args.repeat, cap),
        "chart": mlflow_timing(uri, exp_id, "history", long_id, args.repeat, cap),
    }

    print()
    print(f"Run explorer at {args.runs:,} runs (median of {args.repeat}; MLflow capped at {cap:.0f} s a measurement; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"  index build, once per store            {index_build:9.2f} s")
    print(f"  first search in a new Workspace object {fresh_process * 1000:9.1f} ms")
    print(f"  ANALYZE of MLflow's store               {analyze_s:9.2f} s")
    header = f"  {'':42}{'studio':>12}{'MLflow shipped':>18}{'ratio':>9}{'MLflow+ANALYZE':>18}{'ratio':>9}"
    print(header)
    for label, key, ours in (("first page of 50 sorted by a metric", "page", ours_page),
                             (f"filter over all runs ({hits.total:,} hits)", "filter", ours_filter),
                             (f"{args.steps:,}-step metric chart", "chart", ours_chart)):
        print(f"  {label:42}{fmt(ours, cap):>12}{fmt(shipped[key], cap):>18}{ratio(shipped[key], ours, cap):>9}"
              f"{fmt(analyzed[key], cap):>18}{ratio(analyzed[key], ours, cap):>9}")
    print("  through the panels:")
    print(f"  {'RunExplorer re-sort by a metric':42}{fmt(panel_sort, cap):>12}")
    print(f"  {'RunExplorer new filter':42}{fmt(panel_filter, cap):>12}")
    print(f"  {'RunDetails of the long run (all tabs)':42}{fmt(panel_chart, cap):>12}")
    ws.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
