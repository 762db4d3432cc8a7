"""``studio-ext compute ...`` run as a user runs it, against a real cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio_ext import Workspace

CLI = [sys.executable, "-m", "studio_ext.cli"]


def run(ws: Workspace, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, "-w", str(ws.path), "compute", *args], capture_output=True, text=True, timeout=300)
    assert (proc.returncode == 0) == ok, f"{args} exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc


@pytest.mark.slow
def test_every_compute_action_from_the_command_line(workspace: Workspace) -> None:
    created = run(workspace, "create", "cli-cluster", "--type", "cluster", "--min-instances", "1",
                  "--max-instances", "1", "--idle-seconds", "30")
    assert "Compute cli-cluster: Running, 1 node(s), scheduler tcp://127.0.0.1:" in created.stdout
    listed = json.loads(run(workspace, "list", "--json").stdout)
    assert [(c["name"], c["type"], c["state"], c["nodes"]) for c in listed] == [
        ("cli-cluster", "Compute cluster", "Running", "1/1-1")]
    shown = run(workspace, "show", "cli-cluster").stdout
    assert "state: Running" in shown and "nodes_detail:" in shown and " idle" in shown
    # the kernel of this test sees what the command made
    assert workspace.compute.get("cli-cluster").current_nodes == 1

    assert "Compute cli-cluster: Stopped, 0 node(s)" in run(workspace, "stop", "cli-cluster").stdout
    assert "Compute cli-cluster: Running, 1 node(s)" in run(workspace, "start", "cli-cluster").stdout
    assert "Compute cli-cluster deleted" in run(workspace, "delete", "cli-cluster").stdout
    assert "(none)" in run(workspace, "list").stdout


def test_command_line_errors_are_one_clear_line(workspace: Workspace) -> None:
    bad = run(workspace, "create", "c2x", "--min-instances", "3", "--max-instances", "2", ok=False)
    assert bad.stderr.strip() == ("error: The 'min_instances' parameter of AmlCompute (3) is more than "
                                  "'max_instances' (2). Set min_instances <= max_instances.")
    missing = run(workspace, "create", "att", "--type", "attached", ok=False)
    assert "The 'address' parameter of AttachedCompute must look like 'tcp://host:8786'" in missing.stderr
    ghost = run(workspace, "stop", "ghost", ok=False)
    assert "error: There is no compute named 'ghost'" in ghost.stderr
    assert Path(workspace.path).is_dir() and workspace.compute.list() == []
