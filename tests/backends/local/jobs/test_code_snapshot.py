"""A job's code snapshot: links kept inside the folder, refused out of it, a size cap, nothing left on failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pytest

from studio_ext import Workspace, command
from studio_ext.entities import JobStatus
from studio_ext.errors import InvalidInput, UnsafePath


class _TooSlow(Exception):
    pass


@contextmanager
def within(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the run) when the block takes longer than ``seconds``."""
    def expire(_signum: int, _frame: object) -> None:
        raise _TooSlow(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def runs_in(ws: Workspace, experiment: str) -> list[object]:
    client = mlflow.tracking.MlflowClient(ws.mlflow_tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id]) if exp else []


def test_a_link_loop_in_the_code_folder_is_kept_as_a_link_and_the_job_runs(workspace: Workspace, code_dir: Path) -> None:
    (code_dir / "a.py").write_text("print(1)\n")
    os.symlink(".", code_dir / "a")
    os.symlink(".", code_dir / "b")
    (code_dir / "data").mkdir()
    (code_dir / "data" / "x.txt").write_text("inside\n")
    os.symlink(str(code_dir / "data" / "x.txt"), code_dir / "x_abs")  # absolute, but inside the folder
    (code_dir / "read.py").write_text("print(open('x_abs').read().strip(), open('a/b/a.py').read().strip())\n")
    with within(30):
        job = workspace.jobs.create_or_update(command(code=str(code_dir), command="python read.py"))
    snapshot = (workspace.path / "jobs") / job.name / "code"
    assert os.readlink(snapshot / "a") == "." and os.readlink(snapshot / "b") == "."
    assert os.readlink(snapshot / "x_abs") == "data/x.txt"  # rewritten relative: the copy points at its own file
    done = workspace.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=120)
    assert done.status == JobStatus.COMPLETED, done.error
    assert "inside print(1)" in workspace.jobs.get_logs(job.name)


@pytest.mark.parametrize("target, shown", [
    ("/etc/passwd", "secret -> /etc/passwd"),
    ("/etc", "secret -> /etc"),
    ("../..", "secret -> ../.."),
    ("/nonexistent/file", "secret -> /nonexistent/file"),
])
def test_a_link_leaving_the_code_folder_is_refused_naming_it_and_nothing_is_written(
        workspace: Workspace, code_dir: Path, target: str, shown: str) -> None:
    (code_dir / "train.py").write_text("print(1)\n")
    (code_dir / "sub").mkdir()
    os.symlink(target, code_dir / "sub" / "secret")
    with pytest.raises(UnsafePath) as info:
        workspace.jobs.create_or_update(command(code=str(code_dir), command="python train.py", name="leaky",
                                                experiment_name="links"))
    assert str(info.value) == (
        f"The code folder contains a symbolic link that leaves it (sub/{shown}); copy the real file in its place, "
        "or pass what it points to as an input, and try again.")
    assert visible(workspace.path / "jobs") == []
    assert workspace.jobs.list(include_interactive=False) == [] and runs_in(workspace, "links") == []


def test_a_code_folder_over_the_size_cap_is_refused_saying_what_to_do(
        workspace: Workspace, code_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (code_dir / "train.py").write_text("print(1)\n")
    (code_dir / "big.bin").write_bytes(b"\0" * (2 << 20))
    monkeypatch.setenv("STUDIO_EXT_CODE_MAX_MB", "1")
    with pytest.raises(InvalidInput) as info:
        workspace.jobs.create_or_update(command(code=str(code_dir), command="python train.py"))
    assert str(info.value) == (
        f"The code folder {str(code_dir.resolve())!r} holds more than 1 MB; it is copied for every job and "
        "deployment. Move data, outputs and environments out of the code folder and pass data to the job as an "
        "input (Input(type='uri_folder', path=...)), or raise the limit with STUDIO_EXT_CODE_MAX_MB (in MB).")
    monkeypatch.setenv("STUDIO_EXT_CODE_MAX_MB", "3")
    monkeypatch.setenv("STUDIO_EXT_CODE_MAX_FILES", "5")
    for i in range(5):
        (code_dir / f"m{i}.py").write_text("")
    with pytest.raises(InvalidInput, match=r"holds more than 5 files and folders; .* STUDIO_EXT_CODE_MAX_FILES\.$"):
        workspace.jobs.create_or_update(command(code=str(code_dir), command="python train.py"))
    assert visible(workspace.path / "jobs") == []


def test_a_client_killed_mid_copy_leaves_no_job_folder(workspace: Workspace, code_dir: Path) -> None:
    (code_dir / "train.py").write_text("print(1)\n")
    for i in range(20):
        (code_dir / f"part{i}.py").write_text("x = 1\n" * 1000)
    # The submitting process dies (SIGKILL, nothing can clean up) while it copies the code.
    script = textwrap.dedent(f"""
        import os, shutil, signal
        from studio_ext import Workspace, command
        ws = Workspace({str(workspace.path)!r})
        copied = []
        def dying(real):
            def copy(*args, **kwargs):
                copied.append(1)
                if len(copied) == 5:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*args, **kwargs)
            return copy
        shutil.copyfile, shutil.copyfileobj = dying(shutil.copyfile), dying(shutil.copyfileobj)
        ws.jobs.create_or_update(command(code={str(code_dir)!r}, command="python train.py", name="killed",
                                         experiment_name="killed"))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    jobs_dir = (workspace.path / "jobs")
    assert [n for n in visible(jobs_dir) if not n.startswith(".")] == []
    assert runs_in(workspace, "killed") == []
    job = workspace.jobs.create_or_update(command(code=str(code_dir), command="python train.py"))
    assert visible(jobs_dir) == [job.name]  # the next submit swept what the killed one left
    assert workspace.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=120).status == JobStatus.COMPLETED


def test_the_rule_alone_fifos_ignored_folders_and_a_swap_in_place(tmp_path: Path) -> None:
    from studio_ext.backends.local.core import code_snapshot

    src = tmp_path / "src"
    (src / ".git").mkdir(parents=True)
    (src / ".git" / "HEAD").write_text("ref\n")
    (src / "score.py").write_text("v = 1\n")
    os.mkfifo(src / "pipe")
    with pytest.raises(InvalidInput, match=r"^The code folder contains 'pipe', which is not a file, folder or link"):
        code_snapshot.snapshot_code(src, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    os.unlink(src / "pipe")
    dest = code_snapshot.snapshot_code(src, tmp_path / "dest")
    assert sorted(p.name for p in dest.iterdir()) == ["score.py"]  # .git is left out
    (src / "score.py").write_text("v = 2\n")
    code_snapshot.snapshot_code(src, dest, replace=True)
    assert (dest / "score.py").read_text() == "v = 2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "src"]  # no partial copy left beside it
