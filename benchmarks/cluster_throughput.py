"""Jobs on a 2-node compute cluster versus one after another on ``compute="local"``.

    python benchmarks/cluster_throughput.py [--jobs 40] [--seconds 1.0]

Each job is a script that burns ``--seconds`` of CPU time (measured with
``time.process_time``, so both runs do the same work). The local run is the peer:
the same jobs on the same supervisor, one at a time. Prints both wall times, the
speed-up (goal: >= 1.7 on 2 cores) and the cluster's cold start: from
``begin_create_or_update`` to two nodes ready (goal: < 5 s).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tomllib
from pathlib import Path

import tomli_w
from tqdm import tqdm

from studio_ext import Workspace, command
from studio_ext.entities import AmlCompute

BURN = """import sys, time
start = time.process_time()
while time.process_time() - start < float(sys.argv[1]):
    sum(i * i for i in range(1000))
print("burned", sys.argv[1])
"""


def run_all(ws: Workspace, code: Path, jobs: int, seconds: float, compute: str) -> float:
    """Submit ``jobs`` jobs at once; return the wall time until the last one ended."""
    started_wall = time.time()
    names = [ws.jobs.create_or_update(command(code=str(code), command=f"python burn.py {seconds}",
                                              compute=compute, experiment_name=f"bench-{compute}")).name
             for _ in range(jobs)]
    # Jobs end roughly in submission order: watch one at a time, so the watching
    # itself takes little of the CPU the jobs need.
    with tqdm(total=jobs, desc=f"{jobs} jobs on {compute}", unit="job") as bar:
        for name in names:
            while not (job := ws.jobs.get(name)).status.is_terminal:
                time.sleep(0.2)
            if str(job.status) != "Completed":
                raise SystemExit(f"job {name} on {compute} ended {job.status}: {job.error}")
            bar.update(1)
    return max(ws.jobs.get(name).end_time.timestamp() for name in names) - started_wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU seconds each job burns")
    parser.add_argument("--path", help="workspace folder (default: a temporary one)")
    args = parser.parse_args()

    root = Path(args.path or tempfile.mkdtemp(prefix="cluster-bench-"))
    ws = Workspace.create(root / "ws")
    toml_path = ws.path / "workspace.toml"  # the peer: local jobs strictly one after another
    config = tomllib.loads(toml_path.read_text())
    config.setdefault("compute", {}).setdefault("local", {})["max_concurrent_jobs"] = 1
    toml_path.write_text(tomli_w.dumps(config))
    ws = Workspace(ws.path)
    code = root / "src"
    code.mkdir(exist_ok=True)
    (code / "burn.py").write_text(BURN)
    try:
        run_all(ws, code, 1, 0.1, "local")  # warm the supervisor (MLflow loaded once) before timing
        local = run_all(ws, code, args.jobs, args.seconds, "local")

        started = time.perf_counter()
        ws.compute.begin_create_or_update(AmlCompute(
            name="bench-cluster", min_instances=2, max_instances=2, idle_time_before_scale_down=120)).result(300)
        cold_start = time.perf_counter() - started
        cluster = run_all(ws, code, args.jobs, args.seconds, "bench-cluster")
        nodes = ws.compute.get("bench-cluster").current_nodes
    finally:
        ws._backend.stop_supervisor()
    speedup = local / cluster
    print(f"\n{args.jobs} CPU-bound jobs of {args.seconds:g} s each")
    print(f"local, one after another:   {local:7.1f} s")
    print(f"2-node cluster ({nodes} nodes):   {cluster:7.1f} s")
    print(f"speed-up:                   {speedup:7.2f}x  (goal >= 1.7)  {'OK' if speedup >= 1.7 else 'MISSED'}")
    print(f"cluster cold start:         {cold_start:7.2f} s  (goal < 5 s)  {'OK' if cold_start < 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
