"""Every guided lab runs top to bottom, headless, on a fresh workspace."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from studio_ext import Workspace

LABS = sorted((Path(__file__).resolve().parents[2] / "notebooks" / "labs").glob("*.ipynb"))


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
        ws._backend.stop_supervisor()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert "✔" in "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")


def test_there_is_a_lab_per_lifecycle_step_so_far() -> None:
    assert [p.stem[:2] for p in LABS] == sorted({p.stem[:2] for p in LABS})
    assert {"01", "03"} <= {p.stem[:2] for p in LABS}
