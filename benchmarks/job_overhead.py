"""Job overhead: submit → the script's first line, and submit → Completed, vs bare python.

Usage: python benchmarks/job_overhead.py [--repeats 10]

The empty script records the wall-clock time of its first line in a file; the
peer is the same script launched bare with ``python script.py`` in the same run.
Goal: under 1.5 s of overhead per job (median).
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
    finally:
        ws.runtime.stop()
    med = statistics.median
    print(f"runs: {args.repeats} (median)")
    print(f"bare python   first line {med(bare_first):.3f} s   done {med(bare_done):.3f} s")
    print(f"studio job    first line {med(job_first):.3f} s   Completed {med(job_done):.3f} s")
    print(f"overhead      first line {med(job_first) - med(bare_first):+.3f} s   "
          f"Completed {med(job_done) - med(bare_done):+.3f} s   (goal < 1.5 s)")


if __name__ == "__main__":
    main()
