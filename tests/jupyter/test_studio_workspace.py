"""`studio-ext studio PATH` opens the user's workspace as it is: only the demo workspace
(`make studio`, `--demo`, or no PATH) gets the demo's content; JupyterLab's root is the
current folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from studio_ext import Workspace
from studio_ext.cli_groups.workspace import studio_command, studio_workspace_path


def test_a_named_folder_is_opened_as_it_is_and_only_the_demo_gets_demo_content(tmp_path: Path) -> None:
    assert studio_workspace_path(None) == (Path("demo-workspace").resolve(), True)
    assert studio_workspace_path(str(tmp_path / "mine")) == ((tmp_path / "mine").resolve(), False)
    assert studio_workspace_path(str(tmp_path / "mine"), demo=True)[1] is True

    fresh = tmp_path / "mine"
    out = subprocess.run([sys.executable, "-m", "studio_ext.cli", "studio", str(fresh), "--no-lab"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == f"New workspace 'mine': {fresh.resolve()}"
    ws = Workspace(fresh)
    try:
        assert ws.jobs.list() == [] and ws.compute.list() == [] and list(ws.data.list()) == []
    finally:
        ws.close()
    again = subprocess.run([sys.executable, "-m", "studio_ext.cli", "studio", str(fresh), "--no-lab"],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert again.stdout.splitlines()[0] == f"Workspace 'mine': {fresh.resolve()}"


def test_jupyterlab_root_is_the_folder_given() -> None:
    assert "--ServerApp.root_dir=/some/where" in studio_command(8888, Path("/some/where"))
