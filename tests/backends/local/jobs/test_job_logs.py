"""A job's log: tailed from its end, streamed in constant memory, capped with a note where it was cut."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio_ext import Workspace, command
from studio_ext.backends.local.jobs.runner import WRAPPER
from studio_ext.entities import JobStatus

LINE = "line {:09d} " + "é" * 20 + " " + "x" * 60 + "\n"  # multi-byte characters: chunks split some of them

GEN = """import sys, time
n, pause = int(sys.argv[1]), float(sys.argv[2])
for i in range(n):
    sys.stdout.write("line %09d " % i + "\\u00e9" * 20 + " " + "x" * 60 + "\\n")
    if pause and i % 5000 == 0:
        sys.stdout.flush()
        time.sleep(pause)
print("the end")
"""


def write_lines(path: Path, start: int, count: int) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        for first in range(start, start + count, 10_000):
            handle.write("".join(LINE.format(i) for i in range(first, min(first + 10_000, start + count))))


@pytest.fixture(scope="module")
def done_job(module_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, str]:
    code = tmp_path_factory.mktemp("logs-code")
    (code / "hello.py").write_text("print('hello')\n")
    job = module_workspace.jobs.create_or_update(command(code=str(code), command="python hello.py"))
    assert module_workspace.jobs.stream(job.name, out=io.StringIO(), timeout=120).status == JobStatus.COMPLETED
    return module_workspace, job.name


def test_tail_gives_the_last_lines_and_stream_gives_every_byte(done_job: tuple[Workspace, str]) -> None:
    ws, name = done_job
    log = ws.jobs.log_path(name)
    original = log.read_bytes()
    try:
        write_lines(log, 0, 40_000)  # 4.5 MB: several chunks, multi-byte characters across their edges
        with open(log, "a") as handle:
            handle.write("progress 10%\rprogress 50%\rprogress 100%\nlast line without newline")
        text = log.read_text(encoding="utf-8")  # as get_logs reads it: universal newlines
        raw = log.read_bytes().decode("utf-8")  # as stream and write_logs pass it on: \r kept
        assert ws.jobs.get_logs(name, tail=3) == "\n".join(text.splitlines()[-3:])
        assert ws.jobs.get_logs(name, tail=100) == "\n".join(text.splitlines()[-100:])
        assert ws.jobs.get_logs(name) == text
        out = io.StringIO()
        ws.jobs.stream(name, out=out)
        assert out.getvalue().startswith(f"RunId: {name}\n" + raw)
        out = io.StringIO()
        ws.jobs.write_logs(name, out)
        assert out.getvalue() == raw
        out = io.StringIO()
        ws.jobs.write_logs(name, out, tail=2)
        assert out.getvalue() == "progress 100%\nlast line without newline"
    finally:
        log.write_bytes(original)


MEASURE = """
import contextlib, os, resource, sys
from studio_ext import Workspace
from studio_ext.cli import main
path, name, what = sys.argv[1:4]
ws = Workspace(path)
sink = open(os.devnull, "w")
with contextlib.redirect_stdout(sink):  # load what every call loads (MLflow, the store) before measuring
    main(["-w", path, "job", "show", name])
    ws.jobs.get(name)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if what == "tail":
    assert ws.jobs.get_logs(name, tail=100).count("\\n") == 99
elif what == "stream":
    ws.jobs.stream(name, out=sink)
else:
    with contextlib.redirect_stdout(sink):
        main(["-w", path, "job", "logs", name])
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.slow
@pytest.mark.parametrize("what", ["tail", "stream", "cli"])
def test_reading_a_200_mb_log_takes_little_memory(done_job: tuple[Workspace, str], what: str) -> None:
    ws, name = done_job
    log = ws.jobs.log_path(name)
    original = log.read_bytes()
    try:
        write_lines(log, 0, 2_200_000)  # 200 MB
        assert log.stat().st_size > 200 << 20
        done = subprocess.run([sys.executable, "-c", MEASURE, str(ws.path), name, what],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        grown_mb = int(done.stdout.split()[-1])
        assert grown_mb < 50, f"{what} grew the process by {grown_mb} MB for a 200 MB log"
    finally:
        log.write_bytes(original)


def wrap(tmp_path: Path, cap_mb: str, *argv: str) -> tuple[dict, Path, list[int]]:
    """Run the job wrapper with a log cap; returns the exit record, the log, and its sizes seen while it ran."""
    exit_file, log_file = tmp_path / "exit.json", tmp_path / "log.txt"
    env = {**os.environ, "STUDIO_EXT_JOB_LOG_MAX_MB": cap_mb}
    proc = subprocess.Popen([sys.executable, "-S", WRAPPER, str(exit_file), str(log_file), "--", *argv],
                            env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    sizes = []
    while proc.poll() is None:
        if log_file.exists():
            sizes.append(log_file.stat().st_size)
        time.sleep(0.05)
    return json.loads(exit_file.read_text()), log_file, sizes


NOTE = ("[studio-ext] {:>19,} bytes of this log were cut here to keep it under 1 MB; the start and the end are "
        "kept. Set STUDIO_EXT_JOB_LOG_MAX_MB (0: no cap) in the job's environment variables to change it.")


def test_the_wrapper_cuts_the_middle_of_a_log_past_its_cap_and_says_so(tmp_path: Path) -> None:
    gen = tmp_path / "gen.py"
    gen.write_text(GEN)
    record, log, _ = wrap(tmp_path, "1", sys.executable, str(gen), "50000", "0")  # 5.1 MB at once
    assert record["exit_code"] == 0
    data = log.read_bytes()
    written = 50_000 * len(LINE.format(0).encode()) + len(b"the end\n")
    assert len(data) <= 1 << 20
    text = data.decode("utf-8")
    lines = text.splitlines()
    assert lines[0] == LINE.format(0).rstrip("\n") and lines[-2:] == [LINE.format(49_999).rstrip("\n"), "the end"]
    note = NOTE.format(written - len(data) + len(NOTE.format(0)) + 2)  # every byte not kept is counted
    assert text.count("[studio-ext]") == 1 and f"\n\n{note}\n" in text
    kept = [ln for ln in lines if ln.startswith("line ")]
    assert all(ln == LINE.format(int(ln.split()[1])).rstrip("\n") for ln in kept)  # whole lines only


def test_a_log_that_keeps_growing_stays_near_its_cap_while_the_job_runs(tmp_path: Path) -> None:
    gen = tmp_path / "gen.py"
    gen.write_text(GEN)
    record, log, sizes = wrap(tmp_path, "1", sys.executable, str(gen), "60000", "0.4")  # ~1.4 MB a second for 5 s
    assert record["exit_code"] == 0
    assert max(sizes) < 3 << 20, max(sizes)  # checked every second: the cap plus about a second of output
    text = log.read_text(encoding="utf-8")
    assert text.count("[studio-ext]") == 1 and text.endswith(LINE.format(59_999) + "the end\n")
    assert text.startswith(LINE.format(0)) and log.stat().st_size <= 1 << 20


def test_a_job_log_past_its_cap_keeps_its_start_and_end(workspace: Workspace, code_dir: Path) -> None:
    (code_dir / "gen.py").write_text(GEN)
    job = workspace.jobs.create_or_update(command(code=str(code_dir), command="python gen.py 30000 0",
                                                  environment_variables={"STUDIO_EXT_JOB_LOG_MAX_MB": "1"}))
    done = workspace.jobs.stream(job.name, out=io.StringIO(), timeout=120)
    assert done.status == JobStatus.COMPLETED, done.error
    assert workspace.jobs.log_path(job.name).stat().st_size <= 1 << 20
    assert workspace.jobs.get_logs(job.name, tail=2) == LINE.format(29_999).rstrip("\n") + "\nthe end"
    assert "bytes of this log were cut here to keep it under 1 MB" in workspace.jobs.get_logs(job.name)
