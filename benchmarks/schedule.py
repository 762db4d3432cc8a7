"""Scheduling accuracy: a schedule every minute for N minutes; each fire against its slot.

Usage: python benchmarks/schedule.py [--minutes 10] [--seconds-cron]

A ``CronTrigger("* * * * *")`` runs an empty command job; the workspace's supervisor (its
schedules duty: APScheduler on the workspace's job store) fires it. For every slot in the
window it reports the fire lag (the job's creation time minus the slot) and the start lag
(the job's process start minus the slot), and counts slots missed (no fired decision) and
doubled (more than one job for a slot). ``--seconds-cron`` fires every 10 s instead (a quick
look; the figure in benchmarks/README.md is the one-minute schedule).
Goal (issue 17): every fire starts within 2 s of its slot, none missed, none doubled.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from studio_ext import Workspace, command
from studio_ext.entities import CronTrigger, JobSchedule
from studio_ext.ml.schedules import next_fire_times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the schedule runs")
    parser.add_argument("--seconds-cron", action="store_true", help="fire every 10 s rather than every minute")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="schedule-bench-"))
    (root / "src").mkdir()
    (root / "src" / "empty.py").write_text("pass\n")
    ws = Workspace.create(root / "ws")
    ws.runtime.start()
    trigger = CronTrigger(expression="*/10 * * * * *" if args.seconds_cron else "* * * * *")
    made = ws.schedules.begin_create_or_update(JobSchedule(
        name="bench", trigger=trigger, create_job=command(code=str(root / "src"), command="python empty.py"))).result()
    first = made.next_fire_times[0]
    end = first + timedelta(minutes=args.minutes)
    slots = [first] + [t for t in next_fire_times(trigger, 10_000, after=first + timedelta(seconds=1)) if t < end]
    print(f"{len(slots)} slots from {first.isoformat()} to {slots[-1].isoformat()} ({args.minutes:g} min)", flush=True)
    while datetime.now(UTC) < slots[-1] + timedelta(seconds=20):
        time.sleep(1.0)
    ws.schedules.begin_disable("bench").result()
    history = {f.slot: f for f in ws.schedules.history("bench", limit=10_000)}
    jobs = [j for j in ws.jobs.list() if j.tags.get("schedule_name") == "bench"]
    deadline = time.monotonic() + 120
    while any(j.start_time is None for j in jobs) and time.monotonic() < deadline:
        time.sleep(1.0)
        jobs = [ws.jobs.get(j.name) for j in jobs]
    per_slot = Counter(j.tags["schedule_fire_time"] for j in jobs)
    by_slot = {j.tags["schedule_fire_time"]: j for j in jobs}
    fire_lags, start_lags, missed = [], [], []
    for slot in slots:
        fire = history.get(slot.astimezone(UTC))
        job = by_slot.get(slot.astimezone(UTC).isoformat())
        if fire is None or fire.decision != "fired" or job is None:
            missed.append((slot, fire.decision if fire else "none", fire.message if fire else ""))
            continue
        fire_lags.append((job.creation_time - slot).total_seconds())
        if job.start_time is not None:
            start_lags.append((job.start_time - slot).total_seconds())
        print(f"  {slot:%H:%M:%S}  fired {fire_lags[-1]:6.3f} s  started "
              f"{start_lags[-1] if job.start_time else float('nan'):6.3f} s after the slot  {job.name}")
    doubled = [s for s, n in per_slot.items() if n > 1]
    print(f"fire lag   median {_median(fire_lags)} max {_max(fire_lags)}")
    print(f"start lag  median {_median(start_lags)} max {_max(start_lags)}")
    print(f"missed {len(missed)} {missed[:5]}  doubled {len(doubled)} {doubled[:5]}")
    within = bool(start_lags) and max(start_lags) <= 2.0 and len(start_lags) == len(slots)
    met = within and not missed and not doubled
    print(f"goal (every fire starts within 2 s of its slot, none missed, none doubled): {'met' if met else 'NOT met'}")
    ws.runtime.stop()
    sys.exit(0)


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s" if values else "-"


def _max(values: list[float]) -> str:
    return f"{max(values):.3f} s" if values else "-"


if __name__ == "__main__":
    main()
