"""The workspace supervisor starts exactly once, even while others probe its lock."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import psutil

from studio_ext import Workspace
from studio_ext.backends.local import LocalBackend
from studio_ext.backends.local.runtime import supervisor
from tests.helpers import wait_until


def _probe_busily(lock_path, stop: threading.Event) -> None:
    """Take and drop the lock over and over, as callers of is_running() do while they wait."""
    with open(lock_path, "a+") as probe:
        while not stop.is_set():
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            time.sleep(0.04)
            fcntl.flock(probe, fcntl.LOCK_UN)
            time.sleep(0.005)


def test_a_supervisor_starts_while_others_probe_its_lock(workspace: Workspace) -> None:
    # A new supervisor that meets a probe must wait it out, not conclude that another
    # supervisor runs and give up (which left callers waiting for one that never came).
    store = LocalBackend.of(workspace).store
    lock_path = workspace.path / supervisor.LOCK_FILE
    lock_path.touch()
    log_path = workspace.path / "logs" / "supervisor.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    prober = threading.Thread(target=_probe_busily, args=(lock_path, stop))
    prober.start()
    proc = supervisor._spawn(workspace.path, log_path)
    try:
        def ready() -> bool:
            assert proc.poll() is None, "the supervisor gave up:\n" + log_path.read_text()[-2000:]
            return bool((store.get_setting(supervisor.SETTING) or {}).get("ready"))

        wait_until(ready, timeout=120, what=lambda: "the supervisor to be ready:\n" + log_path.read_text()[-2000:])
        assert store.get_setting(supervisor.SETTING)["pid"] == proc.pid
    finally:
        stop.set()
        prober.join()
        workspace.runtime.stop()
        proc.wait(timeout=30)


def test_a_second_start_reuses_the_running_supervisor(workspace: Workspace) -> None:
    store = LocalBackend.of(workspace).store
    try:
        assert supervisor.ensure_running(workspace.path, store) is True
        pid = store.get_setting(supervisor.SETTING)["pid"]
        assert supervisor.ensure_running(workspace.path, store) is False
        assert store.get_setting(supervisor.SETTING)["pid"] == pid
    finally:
        assert workspace.runtime.stop()
    assert not supervisor.is_running(workspace.path)


def test_the_loop_polls_as_often_as_the_busiest_duty_needs() -> None:
    from studio_ext.backends.local.compute.runner import ComputeRunner
    from studio_ext.backends.local.jobs.runner import LocalJobRunner

    compute, local = object.__new__(ComputeRunner), object.__new__(LocalJobRunner)
    # a running cluster alone: its controllers have threads of their own, the loop need not spin at 20 Hz
    assert supervisor.tick_seconds([compute]) == ComputeRunner.busy_tick_seconds > supervisor.TICK_SECONDS
    assert supervisor.tick_seconds([compute, local]) == supervisor.TICK_SECONDS  # local jobs are watched closely
    assert supervisor.tick_seconds([]) == supervisor.IDLE_TICK_SECONDS


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_supervisor_exits_soon_after_its_workspace_folder_is_deleted(tmp_path: Path) -> None:
    # A test (or a user) that removes a workspace must not leave its supervisor running
    # until the idle timeout: it notices the folder is gone and exits within a minute.
    ws = Workspace.create(tmp_path / "doomed")
    assert ws.runtime.start() is True
    pid = ws.runtime.status().pid
    assert pid is not None and not _gone(pid)
    ws.close()
    shutil.rmtree(ws.path, ignore_errors=True)
    shutil.rmtree(ws.path, ignore_errors=True)  # a log line written meanwhile
    try:
        wait_until(lambda: _gone(pid), timeout=60, interval=0.2, what="the supervisor of a deleted workspace to exit")
    finally:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)
    assert supervisor.FOLDER_CHECK_SECONDS <= 10


def test_the_supervisor_is_built_from_a_local_backend(workspace: Workspace) -> None:
    backend = LocalBackend.of(workspace)
    loop = supervisor.Supervisor(backend)
    assert loop.backend is backend and loop.path == workspace.path
    assert loop.workspace_exists()
    assert LocalBackend.from_folder(workspace.path).metadata_uri == backend.metadata_uri
