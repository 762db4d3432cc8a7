"""Job overhead: submit → the script's first line, and submit → Completed, vs bare python.

Usage: python benchmarks/job_overhead.py [--repeats 10]

The empty script records the wall-clock time of its first line in a file; the
peer is the same script launched bare with ``python script.py`` in the same run.
Goal: under 1.5 s of overhead per job (median).

Second row: the same job submitted as an azure-ai-ml ``command()`` (built and passed to
``ws.jobs.create_or_update``) against the studio_ext builder, in the same run, alternating.
azure-ai-ml's import is done before and reported apart; one warm-up submit of each (its
schemas are built on first use) is not counted. Goal: azure-ai-ml adds under 50 ms (median).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from studio_ext import Workspace, command

SCRIPT = "import sys, time\nopen(sys.argv[1], 'w').write(repr(time.time()))\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="job-overhead-"))
    src = root / "src"
    src.mkdir()
    (src / "empty.py").write_text(SCRIPT)
    ws = Workspace.create(root / "ws")
    ws.runtime.start()  # a running workspace, as after the first job
    bare_first, bare_done, job_first, job_done = [], [], [], []
    try:
        for i in range(args.repeats):
            mark = root / f"bare-{i}"
            t0 = time.time()
            subprocess.run([sys.executable, str(src / "empty.py"), str(mark)], check=True)
            bare_done.append(time.time() - t0)
            bare_first.append(float(mark.read_text()) - t0)

            mark = root / f"job-{i}"
            t0 = time.time()
            job = ws.jobs.create_or_update(command(code=str(src), command=f"python empty.py {mark}",
                                                   experiment_name="overhead"))
            while not (job := ws.jobs.get(job.name)).status.is_terminal:
                time.sleep(0.01)
            job_done.append(time.time() - t0)
            job_first.append(float(mark.read_text()) - t0)
            assert str(job.status) == "Completed", job.error
        studio_submit, azure_submit, azure_import = submit_times(ws, src, root, args.repeats)
    finally:
        ws.runtime.stop()
    med = statistics.median
    print(f"runs: {args.repeats} (median)")
    print(f"bare python   first line {med(bare_first):.3f} s   done {med(bare_done):.3f} s")
    print(f"studio job    first line {med(job_first):.3f} s   Completed {med(job_done):.3f} s")
    print(f"overhead      first line {med(job_first) - med(bare_first):+.3f} s   "
          f"Completed {med(job_done) - med(bare_done):+.3f} s   (goal < 1.5 s)")
    studio, azure = med(studio_submit) * 1000, med(azure_submit) * 1000
    print(f"submit        studio_ext command() {studio:.1f} ms   azure-ai-ml command() {azure:.1f} ms   "
          f"added {azure - studio:+.1f} ms   ratio {azure / studio:.2f}x   (goal < +50 ms; "
          f"azure-ai-ml's import, not counted: {azure_import * 1000:.0f} ms)")


def submit_times(ws: Workspace, src: Path, root: Path, repeats: int) -> tuple[list[float], list[float], float]:
    """Seconds to build and submit the same job as studio_ext's command() and as azure-ai-ml's, alternating."""
    t0 = time.perf_counter()
    from azure.ai.ml import command as azure_command

    azure_import = time.perf_counter() - t0

    def studio_job(mark: Path) -> object:
        return command(code=str(src), command=f"python empty.py {mark}", experiment_name="overhead", compute="local")

    def azure_job(mark: Path) -> object:
        return azure_command(code=str(src), command=f"python empty.py {mark}", experiment_name="overhead",
                             compute="local")

    times: dict[str, list[float]] = {"studio": [], "azure": []}
    for i in range(repeats + 1):  # the first round warms up and is not counted
        for kind, build in (("studio", studio_job), ("azure", azure_job)):
            t0 = time.perf_counter()
            job = ws.jobs.create_or_update(build(root / f"{kind}-submit-{i}"))
            took = time.perf_counter() - t0
            if i:
                times[kind].append(took)
            while not (job := ws.jobs.get(job.name)).status.is_terminal:  # one job at a time: no load from the last
                time.sleep(0.01)
            assert str(job.status) == "Completed", job.error
    return times["studio"], times["azure"], azure_import


if __name__ == "__main__":
    main()
