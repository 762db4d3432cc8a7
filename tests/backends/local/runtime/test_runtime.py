"""``ws.runtime`` on a local workspace: the supervisor, started, asked about and stopped."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from studio_ext import Workspace
from studio_ext.backends import RuntimeStatus
from tests.helpers import wait_until


def test_start_status_and_stop_drive_the_supervisor(workspace: Workspace) -> None:
    assert workspace.runtime.status() == RuntimeStatus(running=False, pid=None, started=None)
    assert workspace.runtime.stop() is False  # nothing to stop
    before = datetime.now().astimezone()
    assert workspace.runtime.start() is True
    status = workspace.runtime.status()
    assert status.running and status.pid is not None and status.pid != os.getpid()
    assert status.started is not None
    assert before - timedelta(seconds=5) <= status.started <= datetime.now().astimezone()
    assert workspace.runtime.start() is False  # one supervisor per workspace
    assert workspace.runtime.status().pid == status.pid
    # Another kernel opening the same workspace sees the same supervisor.
    assert Workspace(workspace.path).runtime.status().pid == status.pid
    assert workspace.runtime.stop() is True
    assert workspace.runtime.status() == RuntimeStatus(running=False)


def test_a_service_that_needs_the_runtime_starts_it(workspace: Workspace, code_dir) -> None:
    (code_dir / "hello.py").write_text("print('hi')\n")
    from studio_ext import command

    job = workspace.jobs.create_or_update(command(code=str(code_dir), command="python hello.py"))
    assert workspace.runtime.status().running
    wait_until(lambda: workspace.jobs.get(job.name).status.is_terminal, timeout=120, interval=0.1,
               what=f"job {job.name} to end")
