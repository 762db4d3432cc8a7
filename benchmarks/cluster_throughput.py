"""Jobs on a 2-node compute cluster versus one after another on ``compute="local"``.

    python benchmarks/cluster_throughput.py [--jobs 40] [--seconds 1.0]

Each job is a script that burns ``--seconds`` of CPU time (measured with
``time.process_time``, so both runs do the same work). The local run is the peer:
the same jobs on the same supervisor, one at a time. Prints both wall times, the
speed-up (goal: >= 1.7 on 2 cores) and the cluster's cold start: from
``begin_create_or_update`` to two nodes ready (goal: < 5 s).

Then where the time goes, in measures that hold on a busy machine: CPU seconds per
job spent outside the user's script (the supervisor, the nodes, the job's own
processes: wrapper and interpreter start), and the median gap on a node between one
job's end and the next one's start (from the jobs' exit.json and node.json).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
import tomllib
from pathlib import Path

import psutil
import tomli_w
from tqdm import tqdm

from studio_ext import Workspace, command
from studio_ext.backends.local import LocalBackend
from studio_ext.entities import AmlCompute

BURN = """import sys, time
start = time.process_time()
while time.process_time() - start < float(sys.argv[1]):
    sum(i * i for i in range(1000))
print("burned", sys.argv[1])
"""


def run_all(ws: Workspace, code: Path, jobs: int, seconds: float, compute: str) -> tuple[float, list[str]]:
    """Submit ``jobs`` jobs at once; return the wall time until the last one ended, and the jobs."""
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
    return max(ws.jobs.get(name).end_time.timestamp() for name in names) - started_wall, names


def cpu_seconds(proc: psutil.Process, children: bool = False) -> float:
    """CPU a process used; with ``children``, only that of its ended (reaped) children."""
    t = proc.cpu_times()
    return t.children_user + t.children_system if children else t.user + t.system


def job_processes(supervisor: psutil.Process, compute: str) -> list[psutil.Process]:
    """The processes that start the jobs' processes: the supervisor (local) or the nodes (forked by the forkserver)."""
    if compute == "local":
        return [supervisor]
    return [w for c in supervisor.children() if "forkserver" in " ".join(c.cmdline()) for w in c.children()]


class Breakdown:
    """CPU per job outside the user's script, per process, over one run."""

    def __init__(self, ws: Workspace, compute: str) -> None:
        self.ws, self.compute = ws, compute
        self.supervisor = psutil.Process(ws.runtime.status().pid)
        self.starters = job_processes(self.supervisor, compute)
        self.before = self._read()

    def _read(self) -> dict[str, float]:
        nodes = [p for p in self.starters if p.pid != self.supervisor.pid]
        return {"supervisor": cpu_seconds(self.supervisor), "nodes": sum(cpu_seconds(p) for p in nodes),
                "jobs": sum(cpu_seconds(p, children=True) for p in self.starters)}

    def report(self, names: list[str], seconds: float) -> str:
        after = self._read()
        per_job = {k: (after[k] - self.before[k]) / len(names) for k in after}
        per_job["jobs"] -= seconds  # what each script burned on purpose
        jobs_dir = LocalBackend.of(self.ws).jobs_dir
        ends = {n: json.loads((jobs_dir / n / "exit.json").read_text()) for n in names}
        node_of = {n: json.loads(p.read_text())["worker"] if (p := jobs_dir / n / "node.json").exists() else "local"
                   for n in names}
        gaps = []
        for node in set(node_of.values()):
            on_node = sorted((n for n in names if node_of[n] == node), key=lambda n: ends[n]["started"])
            gaps += [ends[b]["started"] - ends[a]["ended"] for a, b in itertools.pairwise(on_node)]
        where = "" if self.compute == "local" else f", nodes {per_job['nodes']:.3f} s"
        return (f"CPU per job outside the script: supervisor {per_job['supervisor']:.3f} s{where}, "
                f"job processes {per_job['jobs']:.3f} s; gap between jobs on a node: median "
                f"{statistics.median(gaps):.3f} s")


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
        measured = Breakdown(ws, "local")
        local, names = run_all(ws, code, args.jobs, args.seconds, "local")
        local_breakdown = measured.report(names, args.seconds)

        started = time.perf_counter()
        ws.compute.begin_create_or_update(AmlCompute(
            name="bench-cluster", min_instances=2, max_instances=2, idle_time_before_scale_down=120)).result(300)
        cold_start = time.perf_counter() - started
        measured = Breakdown(ws, "bench-cluster")
        cluster, names = run_all(ws, code, args.jobs, args.seconds, "bench-cluster")
        cluster_breakdown = measured.report(names, args.seconds)
        nodes = ws.compute.get("bench-cluster").current_nodes
    finally:
        ws.runtime.stop()
    speedup = local / cluster
    print(f"\n{args.jobs} CPU-bound jobs of {args.seconds:g} s each")
    print(f"local, one after another:   {local:7.1f} s")
    print(f"2-node cluster ({nodes} nodes):   {cluster:7.1f} s")
    print(f"speed-up:                   {speedup:7.2f}x  (goal >= 1.7)  {'OK' if speedup >= 1.7 else 'MISSED'}")
    print(f"cluster cold start:         {cold_start:7.2f} s  (goal < 5 s)  {'OK' if cold_start < 5 else 'MISSED'}")
    print(f"local:   {local_breakdown}")
    print(f"cluster: {cluster_breakdown}")


if __name__ == "__main__":
    main()
