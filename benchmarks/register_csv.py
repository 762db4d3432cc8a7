"""Register a generated CSV (mixed numbers, text, dates) and compare with pandas, in one run.

    python benchmarks/register_csv.py --size-mb 1024

Prints, for ``ws.data.create_or_update`` beside ``pandas.read_csv(...).to_parquet(...)``:
seconds, MB/s and peak memory (RSS of a fresh process per task, imports included);
then the full profile (count, missing, distinct, min, max, mean, std, quantiles, top
values, histogram) beside the same figures from pandas, and the preview time.
Goals: registration and profile no slower than pandas at no more than a quarter of
its peak memory; preview under 0.1 s.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUANTILES = [0.05, 0.25, 0.5, 0.75, 0.95]


def generate_csv(path: Path, size_mb: float, seed: int = 0) -> None:
    """20 columns: 8 floats, 5 integers, 4 categories, a date, a timestamp and a boolean."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    words = np.array(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"])
    target, written, first = int(size_mb * 1024 * 1024), 0, True
    tmp = path.with_suffix(".partial")
    with open(tmp, "wb") as out:
        while written < target:
            n = 200_000
            cols = {f"num_{i}": rng.normal(100, 15, n).round(4) for i in range(8)}
            cols.update({f"int_{i}": rng.integers(0, 100_000, n) for i in range(5)})
            cols.update({f"str_{i}": words[rng.integers(0, 10, n)] for i in range(4)})
            cols["date_0"] = np.datetime64("2020-01-01") + rng.integers(0, 2000, n).astype("timedelta64[D]")
            cols["ts_0"] = np.datetime64("2020-01-01T00:00:00") + rng.integers(0, 10**8, n).astype("timedelta64[s]")
            cols["flag"] = rng.integers(0, 2, n).astype(bool)
            buf = io.BytesIO()
            pacsv.write_csv(pa.table(cols), buf, pacsv.WriteOptions(include_header=first))
            first = False
            out.write(buf.getvalue())
            written += buf.tell()
    os.replace(tmp, path)


# -- tasks, each run in its own process so peak memory is its own ---------------------------------
def task_ours_register(csv: Path, work: Path) -> dict:
    from studio_ext import Workspace
    from studio_ext.entities import Data

    ws = Workspace(work / "ws")
    started = time.perf_counter()
    data = ws.data.create_or_update(Data(name="bench", path=str(csv)))
    return {"seconds": time.perf_counter() - started, "rows": data.row_count}


def task_pandas_register(csv: Path, work: Path) -> dict:
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_csv(csv)
    frame.to_parquet(work / "pandas.parquet")
    return {"seconds": time.perf_counter() - started, "rows": len(frame)}


def task_ours_profile(csv: Path, work: Path) -> dict:
    from studio_ext import Workspace
    from studio_ext.backends.local import LocalBackend

    ws = Workspace(work / "ws")
    # the cached profile sits beside the version's files (a local backend's own detail)
    (LocalBackend.of(ws).service("data").local_path("bench") / "profile.json").unlink(missing_ok=True)
    started = time.perf_counter()
    profile = ws.data.profile("bench")
    return {"seconds": time.perf_counter() - started, "columns": len(profile.columns)}


def task_pandas_profile(csv: Path, work: Path) -> dict:
    import numpy as np
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_parquet(work / "pandas.parquet")
    frame.describe(include="all")
    frame.isna().sum()
    frame.nunique()
    numeric = frame.select_dtypes("number")
    numeric.quantile(QUANTILES)
    for column in frame.columns:
        frame[column].value_counts().head(5)
    for column in numeric.columns:
        values = numeric[column].dropna().to_numpy()
        np.histogram(values, bins=20)
    return {"seconds": time.perf_counter() - started, "columns": frame.shape[1]}


def task_ours_preview(csv: Path, work: Path) -> dict:
    from studio_ext import Workspace

    ws = Workspace(work / "ws")
    started = time.perf_counter()
    ws.data.preview("bench", n=100)  # the first call also imports pandas and pyarrow
    cold = time.perf_counter() - started
    started = time.perf_counter()
    head = ws.data.preview("bench", n=100)
    return {"seconds": time.perf_counter() - started, "cold_seconds": cold, "rows": len(head)}


TASKS = {name[len("task_"):]: fn for name, fn in globals().items() if name.startswith("task_")}


def run_task(name: str, csv: Path, work: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--task", name, "--csv", str(csv), "--work", str(work)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1024)
    parser.add_argument("--csv", type=Path, help="use this CSV instead of generating one")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--task", choices=sorted(TASKS))
    args = parser.parse_args()
    if args.task:
        import pandas  # noqa: F401 - both sides import it: the baseline below includes it
        import pyarrow.parquet  # noqa: F401

        if args.task.startswith("ours"):
            import studio_ext.backends.local.data.service  # noqa: F401
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = TASKS[args.task](args.csv, args.work)
        result["baseline_mb"] = baseline
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-register-"))
    work.mkdir(parents=True, exist_ok=True)
    csv = args.csv
    if csv is None:
        csv = work / "generated.csv"
        if not csv.exists():
            started = time.perf_counter()
            generate_csv(csv, args.size_mb)
            print(f"generated {csv} in {time.perf_counter() - started:.0f} s")
    size_mb = csv.stat().st_size / 1e6
    print(f"CSV: {size_mb:.0f} MB, 20 columns; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    from studio_ext import Workspace

    shutil.rmtree(work / "ws", ignore_errors=True)
    Workspace.create(work / "ws").close()  # made here: the tasks time registration, not set-up
    try:
        results = {name: run_task(name, csv, work) for name in
                   ("pandas_register", "ours_register", "pandas_profile", "ours_profile", "ours_preview")}
    finally:
        if args.work is None:
            shutil.rmtree(work / "ws", ignore_errors=True)
    ours, peer = results["ours_register"], results["pandas_register"]
    print("\nregistration (CSV -> Parquet)       seconds    MB/s   peak MB  (after imports)")
    for label, r in (("pandas read_csv + to_parquet", peer), ("studio_ext ws.data.create_or_update", ours)):
        print(f"  {label:<35}{r['seconds']:7.1f}{size_mb / r['seconds']:8.1f}{r['peak_mb']:10.0f}"
              f"  (+{r['peak_mb'] - r['baseline_mb']:.0f})")
    print(f"  speed vs pandas: {peer['seconds'] / ours['seconds']:.2f}x   memory vs pandas: {ours['peak_mb'] / peer['peak_mb']:.2f}x"
          "   (goal: >= 1.0x speed, <= 0.25x memory)")
    ours_p, peer_p = results["ours_profile"], results["pandas_profile"]
    print("\nfull profile                          seconds   peak MB  (after imports)")
    for label, r in (("pandas (read_parquet + describe ...)", peer_p), ("studio_ext ws.data.profile", ours_p)):
        print(f"  {label:<37}{r['seconds']:7.1f}{r['peak_mb']:10.0f}  (+{r['peak_mb'] - r['baseline_mb']:.0f})")
    print(f"  speed vs pandas: {peer_p['seconds'] / ours_p['seconds']:.2f}x   memory vs pandas: "
          f"{ours_p['peak_mb'] / peer_p['peak_mb']:.2f}x   (goal: >= 1.0x speed, <= 0.25x memory)")
    preview = results["ours_preview"]
    print(f"\npreview of 100 rows: {preview['seconds'] * 1000:.1f} ms (goal: < 100 ms); "
          f"first call in a fresh process, imports included: {preview['cold_seconds'] * 1000:.0f} ms")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
