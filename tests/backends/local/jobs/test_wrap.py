"""The job wrapper: runs the job's command, ends what it leaves running, records how it ended, and stays light."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from studio_ext.backends.local.core.processes import JOB_MARKER
from studio_ext.backends.local.jobs import _wrap
from studio_ext.backends.local.jobs.runner import WRAPPER
from tests.helpers import wait_until


def wrap(tmp_path: Path, *argv: str, flags: tuple[str, ...] = (),
         env: dict[str, str] | None = None) -> tuple[dict, str, subprocess.CompletedProcess]:
    exit_file, log_file = tmp_path / "exit.json", tmp_path / "log.txt"
    done = subprocess.run([sys.executable, "-S", *flags, WRAPPER, str(exit_file), str(log_file), "--", *argv],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=True,
                          env=env, start_new_session=True)  # in a session of its own, as the supervisor starts it
    return json.loads(exit_file.read_text()), log_file.read_text(), done


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# A daemon started the classic way (fork, setsid, fork) that ignores SIGTERM; its pid goes to argv[1].
DAEMON = """import os, signal, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open(sys.argv[1], "w").write(str(os.getpid()))
        time.sleep(120)
        os._exit(0)
    os._exit(0)
while not os.path.exists(sys.argv[1]) or not open(sys.argv[1]).read():
    time.sleep(0.01)
"""


def test_the_exit_code_and_both_streams_are_recorded(tmp_path: Path) -> None:
    record, log, _ = wrap(tmp_path, sys.executable, "-c",
                          "import sys; print('out'); print('err', file=sys.stderr); sys.exit(sys.stdin.read() == '' and 3)")
    assert record["exit_code"] == 3 and record["error"] is None
    assert record["started"] <= record["ended"] <= time.time()
    assert log.splitlines() == ["out", "err"]


def test_a_command_that_cannot_start_says_why(tmp_path: Path) -> None:
    record, log, _ = wrap(tmp_path, "no-such-command-here")
    assert record["exit_code"] == 127
    assert record["error"].startswith("Could not start 'no-such-command-here'") and "No such file" in record["error"]
    assert record["error"] in log


def test_a_signal_to_the_wrapper_reaches_the_job_and_is_recorded(tmp_path: Path) -> None:
    exit_file, log_file = tmp_path / "exit.json", tmp_path / "log.txt"
    proc = subprocess.Popen([sys.executable, "-S", WRAPPER, str(exit_file), str(log_file), "--",
                             sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"])
    wait_until(lambda: "up" in (log_file.read_text() if log_file.exists() else ""), timeout=30,
               what="the job to start")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 0  # the wrapper itself outlives the signal to record the end
    assert json.loads(exit_file.read_text())["exit_code"] == -signal.SIGTERM


def test_it_imports_only_modules_built_into_the_interpreter(tmp_path: Path) -> None:
    """Every job starts this process first: json, subprocess, signal (enum, re) cost 30 ms of CPU a job."""
    record, _, done = wrap(tmp_path, "true", flags=("-X", "importtime"))
    assert record["exit_code"] == 0
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert imported, done.stderr
    assert not imported & {"json", "subprocess", "signal", "enum", "re", "threading", "selectors"}, imported


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a child subreaper is a Linux feature")
def test_what_the_command_leaves_running_is_ended_before_the_end_is_recorded(tmp_path: Path) -> None:
    pidfile = tmp_path / "daemon.pid"
    started = time.monotonic()
    record, _, _ = wrap(tmp_path, sys.executable, "-c", DAEMON, str(pidfile),
                        env={**os.environ, JOB_MARKER: "job-a:run-a"})
    assert record["exit_code"] == 0
    daemon = int(pidfile.read_text())
    assert not running(daemon)  # re-parented to the wrapper, not to init, and ended by it
    assert time.monotonic() - started >= _wrap.GRACE_SECONDS  # it ignored SIGTERM: SIGKILL after the grace


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a child subreaper is a Linux feature")
def test_a_process_started_without_the_marker_in_a_session_of_its_own_is_let_go(tmp_path: Path) -> None:
    """As the workspace supervisor is started when a job's script is the first to need it."""
    pidfile = tmp_path / "kept.pid"
    script = ("import os, subprocess, sys\n"
              f"env = {{k: v for k, v in os.environ.items() if k != {JOB_MARKER!r}}}\n"
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], env=env,\n"
              "                     start_new_session=True)\n"
              "open(sys.argv[1], 'w').write(str(p.pid))\n")
    started = time.monotonic()
    record, _, _ = wrap(tmp_path, sys.executable, "-c", script, str(pidfile), env={**os.environ, JOB_MARKER: "job-b:run-b"})
    kept = int(pidfile.read_text())
    try:
        assert record["exit_code"] == 0
        assert running(kept)
        assert time.monotonic() - started < _wrap.GRACE_SECONDS
    finally:
        os.kill(kept, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a child subreaper is a Linux feature")
def test_an_orphan_of_the_job_becomes_the_wrappers_child(tmp_path: Path) -> None:
    """Not init's: so the wrapper still finds it when the command ends."""
    exit_file, log_file, parent_file = tmp_path / "exit.json", tmp_path / "log.txt", tmp_path / "parent"
    orphan = ("import os, signal, sys, time\n"
              "first = os.getpid()\n"
              "if os.fork() == 0:\n"
              "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
              "    while os.getppid() == first: time.sleep(0.01)\n"
              "    open(sys.argv[1] + '.tmp', 'w').write(str(os.getppid())); os.replace(sys.argv[1] + '.tmp', sys.argv[1])\n"
              "    time.sleep(60)\n"
              "    os._exit(0)\n")
    proc = subprocess.Popen([sys.executable, "-S", WRAPPER, str(exit_file), str(log_file), "--",
                             sys.executable, "-c", orphan, str(parent_file)], start_new_session=True)
    try:
        assert int(wait_until(lambda: parent_file.exists() and parent_file.read_text(), timeout=60,
                              what="the orphan to say who its parent is")) == proc.pid
        assert proc.wait(timeout=30) == 0  # after ending the orphan (SIGKILL, since it ignores SIGTERM)
        assert json.loads(exit_file.read_text())["exit_code"] == 0
    finally:
        proc.kill()
