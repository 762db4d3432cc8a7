"""``studio-ext compute ...`` as a user runs it, against a real cluster.

One command of each test runs as its own process (the entry point, exit codes, and a
cluster made by another process); the rest call the same ``main()`` in this process,
which spares a Python start and an import of MLflow per command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio_ext import Workspace
from studio_ext.cli import main

CLI = [sys.executable, "-m", "studio_ext.cli"]


def run(ws: Workspace, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, "-w", str(ws.path), "compute", *args], capture_output=True, text=True, timeout=300)
    assert (proc.returncode == 0) == ok, f"{args} exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc


def call(ws: Workspace, capsys: pytest.CaptureFixture[str], *args: str, ok: bool = True) -> tuple[str, str]:
    """(stdout, stderr) of the command run through ``main()`` here."""
    capsys.readouterr()
    code = main(["-w", str(ws.path), "compute", *args])
    out, err = capsys.readouterr()
    assert (code == 0) == ok, f"{args} returned {code}: {err[-2000:]}"
    return out, err


@pytest.mark.slow
def test_every_compute_action_from_the_command_line(module_workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    workspace = module_workspace
    created = run(workspace, "create", "cli-cluster", "--type", "cluster", "--min-instances", "1",
                  "--max-instances", "1", "--idle-seconds", "30")
    assert "Compute cli-cluster: Running, 1 node(s), scheduler tcp://127.0.0.1:" in created.stdout
    listed = json.loads(call(workspace, capsys, "list", "--json")[0])
    assert [(c["name"], c["type"], c["state"], c["nodes"]) for c in listed] == [
        ("cli-cluster", "Compute cluster", "Running", "1/1-1")]
    shown = call(workspace, capsys, "show", "cli-cluster")[0]
    assert "state: Running" in shown and "nodes_detail:" in shown and " idle" in shown
    # the kernel of this test sees what the command's own process made
    assert workspace.compute.get("cli-cluster").current_nodes == 1

    assert "Compute cli-cluster: Stopped, 0 node(s)" in call(workspace, capsys, "stop", "cli-cluster")[0]
    assert "Compute cli-cluster: Running, 1 node(s)" in call(workspace, capsys, "start", "cli-cluster")[0]
    assert "Compute cli-cluster deleted" in call(workspace, capsys, "delete", "cli-cluster")[0]
    assert "(none)" in call(workspace, capsys, "list")[0]


def test_command_line_errors_are_one_clear_line(module_workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    workspace = module_workspace
    bad = run(workspace, "create", "c2x", "--min-instances", "3", "--max-instances", "2", ok=False)
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("error: The 'min_instances' parameter of AmlCompute (3) is more than "
                                  "'max_instances' (2). Set min_instances <= max_instances.")
    missing = call(workspace, capsys, "create", "att", "--type", "attached", ok=False)[1]
    assert "The 'address' parameter of AttachedCompute must look like 'tcp://host:8786'" in missing
    ghost = call(workspace, capsys, "stop", "ghost", ok=False)[1]
    assert ghost.strip().startswith("error: There is no compute named 'ghost'") and "\n" not in ghost.strip()
    assert Path(workspace.path).is_dir() and workspace.compute.list() == []
