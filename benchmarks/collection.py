"""Serving throughput with model data collection on vs off (goal: on >= 0.9x off).

One scikit-learn GradientBoostingClassifier (breast cancer data, bundled with scikit-learn),
logged with MLflow and registered in a fresh workspace, is served by two endpoints of one
deployment each (router + one server process, max_concurrent_requests_per_instance=16):

- ``off``: no ``data_collector``;
- ``on``: ``DataCollector(collections={"model_inputs": ..., "model_outputs": ...})``, every
  request collected (sampling_rate 1.0), written as JSON Lines by the server's writer thread.

Load: ``wrk`` (16 connections, 2 threads) with 1-row and 100-row bodies. The two endpoints are
measured in alternating rounds (off, on, off, on, ...), so that a change of the machine's load
falls on both; the ratio is of the medians. At the end the script waits (``--drain-timeout``)
until the writer has written every record the server queued, then prints per collection the
records queued, collected (on disk), dropped at the server's pending cap (the server's own count,
``STUDIO_EXT_COLLECTION_MAX_PENDING``) and still late (queued, not written when the wait ended),
so that drops and a slow writer are told apart.

    python benchmarks/collection.py [--duration 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import clean_up, wrk


def _collected_rows(folder: Path) -> tuple[int, int]:
    """(records, rows) written under a collection folder."""
    records = rows = 0
    for path in folder.rglob("*.jsonl"):
        with open(path, "rb") as source:
            for line in source:
                if line.strip():
                    records += 1
                    rows += len(json.loads(line)["data"])
    return records, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint, payload and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating off/on rounds per payload")
    parser.add_argument("--drain-timeout", type=int, default=300,
                        help="seconds to wait after the load for the writer to write what was queued")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier

    from studio_ext import Workspace
    from studio_ext.entities import (
        DataCollector,
        DeploymentCollection,
        ManagedOnlineDeployment,
        ManagedOnlineEndpoint,
        Model,
        OnlineRequestSettings,
    )
    from studio_ext.serving.data_collection import read_stats

    folder = Path(tempfile.mkdtemp(prefix="collection-bench-"))
    ws = Workspace.create(folder / "ws")
    try:
        X, y = load_breast_cancer(return_X_y=True, as_frame=True)
        mlflow.set_tracking_uri(ws.mlflow_tracking_uri)
        with mlflow.start_run() as run:
            mlflow.sklearn.log_model(GradientBoostingClassifier(n_estimators=100, random_state=0).fit(X, y),
                                     name="model", input_example=X.head(2), pip_requirements=["scikit-learn"],
                                     skops_trusted_types=["sklearn.tree._tree.Tree"])
        model = ws.models.create_or_update(Model(name="cancer-gb", path=f"runs:/{run.info.run_id}/model"))
        collector = DataCollector(collections={"model_inputs": DeploymentCollection(enabled="true"),
                                               "model_outputs": DeploymentCollection(enabled="true")})
        for name, data_collector in (("off", None), ("on", collector)):
            ws.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=f"bench-{name}")).result(timeout=120)
            ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
                name="blue", endpoint_name=f"bench-{name}", model=model.id, data_collector=data_collector,
                request_settings=OnlineRequestSettings(max_concurrent_requests_per_instance=16))).result(timeout=300)
        uris = {n: ws.online_endpoints.get(f"bench-{n}").scoring_uri for n in ("off", "on")}
        keys = {n: ws.online_endpoints.get_keys(f"bench-{n}").primary_key for n in ("off", "on")}
        results: dict[str, dict[str, list[dict[str, float]]]] = {}
        for rows in (1, 100):
            body = json.dumps({"dataframe_split": json.loads(X.head(rows).to_json(orient="split", index=False))})
            for n in ("off", "on"):
                check = httpx.post(uris[n], content=body, headers={"Authorization": f"Bearer {keys[n]}",
                                                                   "Content-Type": "application/json"}, timeout=30)
                if check.status_code != 200:
                    raise SystemExit(f"bench-{n} answered {check.status_code}: {check.text[:300]}")
            payload = f"{rows} row{'s' if rows > 1 else ''}"
            for _ in range(args.rounds):
                for n in ("off", "on"):
                    results.setdefault(payload, {}).setdefault(n, []).append(
                        wrk(uris[n], body, keys[n], args.duration, folder))
        inputs = Path(ws.data.resolve_input_path("azureml:bench-on-blue-model_inputs:1"))
        outputs = Path(ws.data.resolve_input_path("azureml:bench-on-blue-model_outputs:1"))
        # The writer (nice 19) catches up once the load stops: wait, bounded, until every record the server
        # queued is on disk. The server counts what it queued and what it dropped at its pending cap
        # (STUDIO_EXT_COLLECTION_MAX_PENDING) in <deployment folder>/.stats/<pid>.json.
        stopped = time.monotonic()
        before: dict[str, dict[str, int]] = {}
        while True:
            stats = read_stats(inputs.parent)
            written = {"model_inputs": _collected_rows(inputs)[0], "model_outputs": _collected_rows(outputs)[0]}
            # drained: the server's counts held still for a poll (nothing more queued) and all of it is on disk
            drained = bool(stats["queued"]) and stats == before and all(
                written[c] >= stats["queued"].get(c, 0) for c in written)
            before = stats
            if drained or time.monotonic() - stopped > args.drain_timeout:
                break
            time.sleep(2)
        catch_up = time.monotonic() - stopped
        (in_records, in_rows), (out_records, _) = _collected_rows(inputs), _collected_rows(outputs)
        stats = read_stats(inputs.parent)
        answered = sum(r["rps"] * args.duration for cells in results.values() for r in cells["on"])
        load = os.getloadavg()
        print(f"\nwrk: 16 connections, 2 threads, {args.duration} s per cell, {args.rounds} alternating rounds; "
              f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores\n")
        print(f"{'payload':<10} {'collection':<11} {'req/s (median)':>15} {'rounds':>28} {'p99 ms':>8} {'non-2xx':>8}")
        for payload, cells in results.items():
            for n, runs in cells.items():
                rps = [r["rps"] for r in runs]
                print(f"{payload:<10} {n:<11} {statistics.median(rps):>15.0f} {' '.join(f'{v:.0f}' for v in rps):>28} "
                      f"{statistics.median(r['p99_ms'] for r in runs):>8.2f} {sum(r['non_2xx'] for r in runs):>8}")
        print()
        for payload, cells in results.items():
            ratio = statistics.median(r["rps"] for r in cells["on"]) / statistics.median(r["rps"] for r in cells["off"])
            print(f"{payload}: collection on = {ratio:.2f}x off (goal >= 0.9x)")
        print(f"about {answered:.0f} requests answered by the 'on' endpoint (+2 checks); "
              f"{'drained' if drained else 'NOT drained'} {catch_up:.0f} s after the load stopped "
              f"(bound {args.drain_timeout} s)")
        print(f"{'collection':<14} {'queued':>10} {'collected':>10} {'dropped':>10} {'still late':>11}")
        for collection, records in (("model_inputs", in_records), ("model_outputs", out_records)):
            queued = stats["queued"].get(collection, 0)
            print(f"{collection:<14} {queued:>10} {records:>10} {stats['dropped'].get(collection, 0):>10} "
                  f"{max(queued - records, 0):>11}")
        print(f"({in_rows} input rows; dropped = refused at the server's pending cap of "
              f"{os.environ.get('STUDIO_EXT_COLLECTION_MAX_PENDING', '20000')} records, still late = queued but not "
              "yet written when the wait ended)")
        (folder / "results.json").write_text(json.dumps(results, indent=1))
    finally:
        clean_up(ws, ("bench-off", "bench-on"), folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
