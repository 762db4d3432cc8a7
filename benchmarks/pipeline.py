"""Pipelines: step overhead, parallel steps on a cluster, and step reuse.

Usage: python benchmarks/pipeline.py [--repeats 3] [--only overhead,diamond,reuse]

1. Overhead: a 10-step linear pipeline of empty steps (each ``python empty.py``, taking the
   previous step's output folder) against 10 x the overhead of one empty command job, both
   measured submit -> Completed in the same run on ``local``. Goal: under 1.3x.
2. Diamond: A -> (B, C) -> D, each step ``sleep 2``, on a 2-node cluster. The critical path
   is A, then the longer of B and C, then D: the sum of those steps' own run times (start to
   end, as their runs record them). Goal: the pipeline's wall time within 20 % of it, which
   holds only if B and C overlap.
3. Reuse: an unchanged 5-step pipeline submitted again (every step reused). Goal: the
   resubmitted pipeline completes in under 2 s, submit -> Completed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from studio_ext import Workspace, command
from studio_ext.entities import AmlCompute, Command, CommandComponent, Input, Output, PipelineJob, PipelineJobSettings

EMPTY = "import sys\n"


def wait(ws: Workspace, name: str, poll: float = 0.02) -> Any:
    while not (job := ws.jobs.get(name)).status.is_terminal:
        time.sleep(poll)
    assert str(job.status) == "Completed", (job.error, ws.jobs.get_logs(name)[-2000:])
    return job


def linear(src: Path, steps: int, *, force_rerun: bool) -> PipelineJob:
    first = CommandComponent(name="empty_first", code=str(src), command="python empty.py ${{outputs.out}}",
                             outputs={"out": Output(type="uri_folder")})
    then = CommandComponent(name="empty_then", code=str(src), command="python empty.py ${{inputs.prev}} ${{outputs.out}}",
                            inputs={"prev": Input(type="uri_folder")}, outputs={"out": Output(type="uri_folder")})
    jobs: dict[str, Command] = {"s0": first()}
    for i in range(1, steps):
        jobs[f"s{i}"] = then(prev=f"${{{{parent.jobs.s{i - 1}.outputs.out}}}}")
    return PipelineJob(jobs=jobs, experiment_name="bench-pipeline",
                       settings=PipelineJobSettings(force_rerun=force_rerun))


def overhead(ws: Workspace, src: Path, repeats: int) -> dict[str, float]:
    singles = []
    for _ in range(repeats * 2):
        t0 = time.time()
        job = ws.jobs.create_or_update(command(code=str(src), command="python empty.py", experiment_name="bench-job"))
        wait(ws, job.name)
        singles.append(time.time() - t0)
    pipes = []
    for _ in range(repeats):
        t0 = time.time()
        job = ws.jobs.create_or_update(linear(src, 10, force_rerun=True))
        wait(ws, job.name)
        pipes.append(time.time() - t0)
    job_s, pipe_s = statistics.median(singles), statistics.median(pipes)
    return {"job_s": job_s, "pipeline_s": pipe_s, "ratio": pipe_s / (10 * job_s)}


def diamond(ws: Workspace, src: Path) -> dict[str, float]:
    ws.compute.begin_create_or_update(AmlCompute(name="bench-two", max_instances=2, min_instances=2)).result()
    sleep = CommandComponent(name="sleep2", code=str(src), command="sleep 2; python empty.py ${{outputs.out}}",
                             outputs={"out": Output(type="uri_folder")})
    after = CommandComponent(name="sleep2_after", code=str(src),
                             command="sleep 2; python empty.py $[[${{inputs.a}}]] $[[${{inputs.b}}]] ${{outputs.out}}",
                             inputs={"a": Input(type="uri_folder"), "b": Input(type="uri_folder", optional=True)},
                             outputs={"out": Output(type="uri_folder")})
    jobs = {"A": sleep(), "B": after(a="${{parent.jobs.A.outputs.out}}"), "C": after(a="${{parent.jobs.A.outputs.out}}"),
            "D": after(a="${{parent.jobs.B.outputs.out}}", b="${{parent.jobs.C.outputs.out}}")}
    # a warm-up pipeline on the cluster first: the supervisor's first step loads MLflow and the workers' first job
    wait(ws, ws.jobs.create_or_update(PipelineJob(jobs={"warm": sleep()}, experiment_name="bench-diamond",
                                                  settings=PipelineJobSettings(default_compute="bench-two"))).name)
    t0 = time.time()
    job = ws.jobs.create_or_update(PipelineJob(jobs=jobs, experiment_name="bench-diamond", settings=PipelineJobSettings(
        default_compute="bench-two", force_rerun=True)))
    done = wait(ws, job.name)
    wall = time.time() - t0
    runs = {c.display_name: c for c in ws.jobs.list(parent_job_name=job.name)}
    own = {k: (c.end_time - c.start_time).total_seconds() for k, c in runs.items()}
    critical = own["A"] + max(own["B"], own["C"]) + own["D"]
    pipeline_run = (done.end_time - done.start_time).total_seconds()
    overlap = min(runs["B"].end_time, runs["C"].end_time) > max(runs["B"].start_time, runs["C"].start_time)
    gaps = [(b.start_time - a.end_time).total_seconds() for a, b in ((runs["A"], runs["B"]), (runs["A"], runs["C"]),
                                                                   (runs["B"], runs["D"]), (runs["C"], runs["D"]))]
    return {"wall_s": wall, "pipeline_run_s": pipeline_run, "critical_path_s": critical,
            "ratio": pipeline_run / critical, "b_c_overlap": float(overlap), "max_gap_s": max(gaps),
            "first_start_s": (runs["A"].start_time - done.start_time).total_seconds()}


def reuse(ws: Workspace, src: Path) -> dict[str, float]:
    job = ws.jobs.create_or_update(linear(src, 5, force_rerun=False))
    wait(ws, job.name)
    t0 = time.time()
    again = ws.jobs.create_or_update(linear(src, 5, force_rerun=False))
    done = wait(ws, again.name)
    seconds = time.time() - t0
    reused = sum(1 for s in done.jobs.values() if "azureml.reused_from" in s.properties)
    return {"resubmit_s": seconds, "reused_steps": float(reused)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="overhead,diamond,reuse")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    src = root / "src"
    src.mkdir()
    (src / "empty.py").write_text(EMPTY)
    ws = Workspace.create(root / "ws")
    ws.runtime.start()
    try:
        wanted = args.only.split(",")
        if "overhead" in wanted:
            o = overhead(ws, src, args.repeats)
            print(f"overhead: one empty job {o['job_s']:.2f} s (median); 10-step linear pipeline "
                  f"{o['pipeline_s']:.2f} s -> {o['ratio']:.2f}x of 10 jobs (goal < 1.3x)")
        if "diamond" in wanted:
            d = diamond(ws, src)
            print(f"diamond: pipeline run {d['pipeline_run_s']:.2f} s (submit -> Completed {d['wall_s']:.2f} s), "
                  f"critical path {d['critical_path_s']:.2f} s -> {d['ratio']:.2f}x (goal <= 1.2x); "
                  f"B and C overlapped: {bool(d['b_c_overlap'])}; step A began {d['first_start_s']:.2f} s after the "
                  f"pipeline, and a step at most {d['max_gap_s']:.2f} s after the step it waits for")
        if "reuse" in wanted:
            r = reuse(ws, src)
            print(f"reuse: unchanged 5-step pipeline resubmitted -> Completed in {r['resubmit_s']:.2f} s, "
                  f"{int(r['reused_steps'])} of 5 steps reused (goal < 2 s)")
    finally:
        ws.runtime.stop()


if __name__ == "__main__":
    main()
