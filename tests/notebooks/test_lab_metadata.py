"""Opening a guided lab in JupyterLab does not mark it modified, so autosave leaves the repository alone.

JupyterLab marks a notebook dirty on open when the kernel it starts reports a kernelspec or
language_info different from the file's metadata (NotebookPanel._updateSpec/_updateLanguage
set them, and only a deep-equal value is a no-op), and when saving would write other bytes.
So each lab's metadata is exactly what the studio's kernel reports, and each file is what
the Jupyter server writes (nbformat.write) for the notebook it reads.

If this fails after the interpreter changed (a new Python patch version), rewrite the labs'
metadata with the kernel's values: run ``python tests/notebooks/test_lab_metadata.py``.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel

LABS = sorted((Path(__file__).resolve().parents[2] / "notebooks" / "labs").glob("*.ipynb"))


def kernel_metadata() -> dict[str, Any]:
    """The kernelspec and language_info JupyterLab writes into a notebook the python3 kernel opens."""
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        client.kernel_info()
        reply = client.get_shell_msg(timeout=60)
        spec = manager.kernel_spec
        assert spec is not None
        return {"kernelspec": {"name": "python3", "display_name": spec.display_name, "language": spec.language},
                "language_info": reply["content"]["language_info"]}
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def saved_bytes(notebook: nbformat.NotebookNode) -> str:
    out = io.StringIO()
    nbformat.write(notebook, out, version=4)  # what jupyter_server's contents manager writes on save
    return out.getvalue()


@pytest.fixture(scope="module")
def kernel() -> dict[str, Any]:
    return kernel_metadata()


def test_the_labs_exist() -> None:
    assert len(LABS) >= 12


@pytest.mark.parametrize("lab", LABS, ids=[p.stem for p in LABS])
def test_saving_an_opened_lab_writes_the_same_bytes(lab: Path, kernel: dict[str, Any]) -> None:
    raw = lab.read_text(encoding="utf-8")
    notebook = nbformat.reads(raw, as_version=4)
    assert (notebook.nbformat, notebook.nbformat_minor) == (4, 5), "JupyterLab upgrades an older minor on open"
    assert all("id" in cell for cell in notebook.cells), "a cell without an id gets one on open"
    for key, value in kernel.items():
        assert notebook.metadata.get(key) == value, (
            f"{lab.name}: the kernel reports {key}={value}, so JupyterLab rewrites the notebook's metadata on "
            f"open and marks it modified. Run `python {Path(__file__).relative_to(LABS[0].parents[2])}`.")
    assert saved_bytes(notebook) == raw, f"{lab.name}: saving it unchanged would write other bytes"


def _rewrite() -> None:
    metadata = kernel_metadata()
    for lab in LABS:
        notebook = nbformat.read(lab, as_version=4)
        notebook.metadata.update(metadata)
        lab.write_text(saved_bytes(notebook), encoding="utf-8")
        print(f"rewrote {lab.name}", file=sys.stderr)


if __name__ == "__main__":
    _rewrite()
