"""Serving speed: our endpoint vs ``mlflow models serve`` vs a bare uvicorn app returning a constant.

One scikit-learn GradientBoostingClassifier (breast cancer data, bundled with
scikit-learn), logged with MLflow and registered in a fresh workspace, is served:

- by our endpoint: its router (one process) in front of one deployment server
  (one uvicorn worker), called through the scoring URI with a key; the model's
  trees are scored by ONNX Runtime (the deployment checks that they agree);
- by a second endpoint, the same with ``STUDIO_EXT_ONNX=0`` (scikit-learn's predict);
- by ``mlflow models serve --env-manager local --workers 1``;
- the ceiling: a bare uvicorn app (one worker) answering a constant.

Load: Debian's ``wrk`` (C, not the bottleneck) with a Lua body script, 16
connections, 2 threads, for ``--duration`` seconds per payload (1 row, 100 rows).
It prints requests/s, p50/p99 latency and the ratios.

    python benchmarks/serving.py [--duration 20]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from studio_ext import Workspace

CONSTANT_APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"predictions": [1]}'})
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, timeout: float = 180, headers: dict | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not come up in {timeout} s")


def wrk(url: str, body: str, key: str, duration: int, folder: Path) -> dict[str, float]:
    script = folder / "body.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
        "local errors = 0\n"
        "response = function(status, headers, body) if status ~= 200 then errors = errors + 1 end end\n"
    )
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{duration}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def latency(pct: str) -> float:
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": rps, "p50_ms": latency("50"), "p99_ms": latency("99"),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(0) if errors else ""}


def clean_up(ws: Workspace, endpoints: tuple[str, ...], folder: Path) -> None:
    """Delete the benchmark's endpoints, then stop the workspace's runtime and remove its folder
    (these two even when a delete fails)."""
    try:
        for name in endpoints:
            ws.online_endpoints.begin_delete(name).result(timeout=60)
    finally:
        ws.runtime.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per server and payload")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier

    from studio_ext import Workspace
    from studio_ext.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint, Model, OnlineRequestSettings

    folder = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    procs: list[subprocess.Popen] = []
    ws = Workspace.create(folder / "ws")
    try:
        X, y = load_breast_cancer(return_X_y=True, as_frame=True)
        mlflow.set_tracking_uri(ws.mlflow_tracking_uri)
        with mlflow.start_run() as run:
            mlflow.sklearn.log_model(GradientBoostingClassifier(n_estimators=100, random_state=0).fit(X, y),
                                     name="model", input_example=X.head(2), pip_requirements=["scikit-learn"],
                                     skops_trusted_types=["sklearn.tree._tree.Tree"])
        model = ws.models.create_or_update(Model(name="cancer-gb", path=f"runs:/{run.info.run_id}/model"))
        ws.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="bench")).result(timeout=120)
        ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
            name="blue", endpoint_name="bench", model=model.id,
            request_settings=OnlineRequestSettings(max_concurrent_requests_per_instance=16))).result(timeout=300)
        ws.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="bench-sk")).result(timeout=120)
        ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
            name="blue", endpoint_name="bench-sk", model=model.id, environment_variables={"STUDIO_EXT_ONNX": "0"},
            request_settings=OnlineRequestSettings(max_concurrent_requests_per_instance=16))).result(timeout=300)
        ours = ws.online_endpoints.get("bench").scoring_uri
        ours_sk = ws.online_endpoints.get("bench-sk").scoring_uri
        key = ws.online_endpoints.get_keys("bench").primary_key
        key_sk = ws.online_endpoints.get_keys("bench-sk").primary_key
        onnx_log = ws.online_deployments.get_logs("blue", "bench", lines=1000)
        if "through ONNX Runtime" not in onnx_log:
            print("note: the endpoint serves with scikit-learn (no ONNX twin); see its log")

        model_dir = ws.models.local_path("cancer-gb", model.version) / "model"
        mlflow_port = free_port()
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
               "MLFLOW_TRACKING_URI": ws.mlflow_tracking_uri}
        log = open(folder / "mlflow-serve.log", "wb")
        procs.append(subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir),
                                       "--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port),
                                       "--workers", "1"], env=env, stdout=log, stderr=log))
        (folder / "constant_app.py").write_text(CONSTANT_APP)
        const_port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", str(folder), "constant_app:app",
                                       "--host", "127.0.0.1", "--port", str(const_port), "--workers", "1",
                                       "--log-level", "warning", "--no-access-log"], stdout=log, stderr=log))
        wait_ready(f"http://127.0.0.1:{mlflow_port}/health")
        wait_ready(f"http://127.0.0.1:{const_port}/")
        targets = {"studio endpoint": ours, "studio, sklearn predict": ours_sk,
                   "mlflow models serve": f"http://127.0.0.1:{mlflow_port}/invocations",
                   "constant app": f"http://127.0.0.1:{const_port}/"}
        keys = {"studio, sklearn predict": key_sk}
        results: dict[str, dict[str, dict[str, float]]] = {}
        for rows in (1, 100):
            split = json.loads(X.head(rows).to_json(orient="split", index=False))
            body = json.dumps({"dataframe_split": split})
            for name, url in targets.items():
                auth = keys.get(name, key)
                check = httpx.post(url, content=body, headers={"Authorization": f"Bearer {auth}",
                                                               "Content-Type": "application/json"}, timeout=30)
                if check.status_code != 200:
                    raise SystemExit(f"{name} answered {check.status_code}: {check.text[:300]}")
                results.setdefault(f"{rows} row{'s' if rows > 1 else ''}", {})[name] = wrk(url, body, auth, args.duration, folder)
        print(f"\nwrk: 16 connections, 2 threads, {args.duration} s per cell; one worker each "
              "(our endpoint: router process + one deployment server process)\n")
        print(f"{'payload':<10} {'server':<24} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
        for payload, cells in results.items():
            for name, r in cells.items():
                print(f"{payload:<10} {name:<24} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['non_2xx']:>8}")
        print()
        for payload, cells in results.items():
            o, m, c = cells["studio endpoint"], cells["mlflow models serve"], cells["constant app"]
            k = cells["studio, sklearn predict"]
            print(f"{payload}: req/s {o['rps'] / m['rps']:.1f}x MLflow (goal >= 5x), "
                  f"p99 {o['p99_ms'] / m['p99_ms']:.2f} of MLflow's (goal < 0.2), "
                  f"{o['rps'] / c['rps']:.2f} of the constant app (goal >= 0.5 on 1 row); "
                  f"with scikit-learn's predict: {k['rps'] / m['rps']:.1f}x MLflow, {k['rps'] / c['rps']:.2f} of the constant app")
        (folder / "results.json").write_text(json.dumps(results, indent=1))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        clean_up(ws, ("bench", "bench-sk"), folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
