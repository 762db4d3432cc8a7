"""A schedule survives its supervisor: killed (SIGKILL) at a fire time and started again, no slot fires twice and
none is lost silently; stopped for a while, the slots it missed are decided by the grace policy and logged."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from studio_ext import command
from studio_ext.entities import CronTrigger, JobSchedule
from studio_ext.ml.schedules import next_fire_times
from studio_ext.workspace import Workspace
from tests.helpers import wait_until

EVERY_TWO = CronTrigger(expression="*/2 * * * * *")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "hello.py").write_text("print('hello')\n")
    return tmp_path / "src"


def _fired(ws: Workspace, name: str) -> list:
    return [f for f in ws.schedules.history(name, limit=500) if f.decision == "fired"]


def _no_gaps(ws: Workspace, name: str) -> None:
    """Every slot of the trigger from the first decided one to the last is decided, once; each fired slot has one job."""
    history = ws.schedules.history(name, limit=500)
    assert not [f for f in history if f.decision == "firing"], history
    slots = sorted(f.slot for f in history)
    expected = [slots[0]] + next_fire_times(EVERY_TWO, 500, after=slots[0] + timedelta(seconds=1))
    expected = [t.astimezone(UTC) for t in expected if t <= slots[-1]]
    assert slots == expected
    per_slot = Counter(j.tags.get("schedule_fire_time") for j in ws.jobs.list() if j.tags.get("schedule_name") == name)
    assert all(n == 1 for n in per_slot.values()), per_slot
    assert set(per_slot) == {f.slot.isoformat() for f in history if f.decision == "fired"}
    assert all(f.message for f in history)


@pytest.mark.slow
def test_sigkill_at_a_fire_time_then_restart_fires_no_slot_twice(workspace: Workspace, src: Path) -> None:
    ws = workspace
    ws.schedules.begin_create_or_update(JobSchedule(
        name="tick", trigger=EVERY_TWO, create_job=command(code=str(src), command="python hello.py"))).result()
    wait_until(lambda: len(_fired(ws, "tick")) >= 2, timeout=120, what="two fires before the kill")
    pid = ws.runtime.status().pid
    assert pid is not None
    slot = next_fire_times(EVERY_TWO, 1, after=datetime.now(UTC) + timedelta(seconds=0.5))[0]
    time.sleep(max(0.0, (slot - datetime.now(UTC)).total_seconds()) + 0.05)  # at the slot, as it fires
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not ws.runtime.status().running, timeout=10, what="the supervisor to die")
    before = len(ws.schedules.history("tick", limit=500))
    assert ws.runtime.start()  # restarted: the timers come back from the job store
    wait_until(lambda: len(_fired(ws, "tick")) >= before + 2, timeout=120, what="fires after the restart")
    ws.schedules.begin_disable("tick").result()
    time.sleep(1.0)  # a slot being created when it was disabled settles
    _no_gaps(ws, "tick")


@pytest.mark.slow
def test_slots_missed_while_stopped_are_decided_and_logged(workspace: Workspace, src: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ws = workspace
    monkeypatch.setenv("STUDIO_EXT_SCHEDULE_GRACE_SECONDS", "3")  # the supervisor started below inherits it
    ws.schedules.begin_create_or_update(JobSchedule(
        name="tock", trigger=EVERY_TWO, create_job=command(code=str(src), command="python hello.py"))).result()
    wait_until(lambda: _fired(ws, "tock"), timeout=120, what="a first fire")
    assert ws.runtime.stop()
    stopped = datetime.now(UTC)
    time.sleep(9)  # about four slots pass with no supervisor
    ws.runtime.start()
    wait_until(lambda: any(f.slot > stopped + timedelta(seconds=9) and f.decision == "fired"
                           for f in ws.schedules.history("tock", limit=500)), timeout=120, what="fires after the pause")
    ws.schedules.begin_disable("tock").result()
    time.sleep(1.0)
    _no_gaps(ws, "tock")
    missed = [f for f in ws.schedules.history("tock", limit=500)
              if stopped + timedelta(seconds=1) < f.slot < stopped + timedelta(seconds=8)]
    assert missed and {f.decision for f in missed} <= {"skipped", "folded", "fired"}
    assert any(f.decision == "skipped" and "over the grace period of 3 s" in f.message for f in missed)
