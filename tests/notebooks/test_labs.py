"""Every guided lab runs top to bottom, headless, on a fresh workspace."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from studio_ext import Workspace

LABS = sorted((Path(__file__).resolve().parents[2] / "notebooks" / "labs").glob("*.ipynb"))


def _check_cell(notebook: nbformat.NotebookNode) -> int:
    """The index of the lab's check: its last code cell that calls a check_ helper."""
    found = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and re.search(r"\bcheck_\w+\(", c.source)]
    assert found, "the lab has no check cell"
    return found[-1]


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=[p.stem for p in LABS])
def test_lab_runs_clean(lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace.create(tmp_path / "ws")
    monkeypatch.setenv("STUDIO_EXT_WORKSPACE", str(ws.path))
    notebook = nbformat.read(lab, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    finally:
        ws.runtime.stop()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o.get("output_type") == "error"]
    assert not errors
    check = notebook.cells[_check_cell(notebook)]
    printed = "".join(o.get("text", "") for o in check.get("outputs", []) if o.get("output_type") == "stream")
    assert "✔" in printed, "the lab's check cell printed no ✔"
    shown = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert shown, "the lab displayed no studio panel"
    left = [c.name for c in ws.compute.list()] + [e.name for e in ws.online_endpoints.list()]
    assert not left, f"the lab left clusters or endpoints running: {left}"


@pytest.mark.parametrize("lab", LABS, ids=[p.stem for p in LABS])
def test_lab_is_a_numbered_lesson_ending_in_a_check(lab: Path) -> None:
    notebook = nbformat.read(lab, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# Lab {lab.stem[:2]}: ")
    after = notebook.cells[_check_cell(notebook) + 1:]
    assert not after or after[0].source.startswith("## Clean up"), "only a clean-up section may follow the check"
    assert all(not c.source.startswith("md") for c in notebook.cells if c.cell_type == "markdown")
    assert not [c for c in notebook.cells if c.cell_type == "code" and (c.outputs or c.execution_count)], \
        "labs are committed without outputs"


def test_there_is_a_lab_per_lifecycle_step_in_the_courses_order() -> None:
    numbers = [p.stem[:2] for p in LABS]
    assert numbers == sorted(set(numbers))
    assert numbers[:11] == [f"{n:02d}" for n in range(1, 12)]
