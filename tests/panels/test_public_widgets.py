"""The widgets a notebook uses import from one place, studio_ext.panels, and render a real job."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from studio_ext import Workspace, command
from tests.helpers import wait_until


def test_every_public_widget_and_page_imports_from_studio_ext_panels() -> None:
    # A fresh interpreter, as a notebook's first cell is: nothing imported beforehand.
    names = ["RunDetails", "RunCompare", "RunExplorer", "ExplanationDashboard", "FairnessDashboard",
             "DatasetsPanel", "EndpointsPanel", "open_page"]
    code = (f"from studio_ext.panels import {', '.join(names)}\n"
            "import studio_ext.panels as p\n"
            "missing = [n for n in p.__all__ if not hasattr(p, n)]\n"
            "assert not missing, missing\n"
            "assert RunDetails.__module__ == 'studio_ext.panels.run_details'\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    import studio_ext.panels as panels

    assert set(names) - {"open_page"} <= set(panels.__all__) and "RunDetails" in dir(panels)
    with pytest.raises(ImportError):
        exec("from studio_ext.panels import NoSuchWidget", {})


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, list[str]]]:
    root = tmp_path_factory.mktemp("public-widgets")
    src = root / "src"
    src.mkdir()
    (src / "train.py").write_text(textwrap.dedent("""
        import sys, mlflow
        alpha = float(sys.argv[1])
        mlflow.log_param("alpha", alpha)
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (1 + step * alpha), step=step)
        mlflow.log_metric("r2", 0.4 + alpha / 10)
        print("trained", flush=True)
    """))
    ws = Workspace.create(root / "ws")
    names = [ws.jobs.create_or_update(command(code=str(src), command=f"python train.py {alpha}",
                                              experiment_name="widgets")).name for alpha in (0.5, 1.5)]
    wait_until(lambda: all(ws.jobs.get(n).status.is_terminal for n in names), timeout=240, interval=0.2,
               what="the two jobs")
    try:
        yield ws, names
    finally:
        ws.runtime.stop()
        ws.close()


def _displayed(widget_show) -> list[dict]:
    """Run ``widget_show()`` in an IPython shell and return what reached the cell's output."""
    shell = InteractiveShell.instance()
    shown: list[dict] = []
    publisher = shell.display_pub
    original = publisher.publish
    publisher.publish = lambda data, *a, **k: shown.append(data)  # type: ignore[method-assign]
    try:
        widget_show()
    finally:
        publisher.publish = original  # type: ignore[method-assign]
    return shown


def test_run_details_of_a_finished_job_renders_with_show(finished: tuple[Workspace, list[str]]) -> None:
    from studio_ext.panels import RunCompare, RunDetails

    ws, names = finished
    assert ws.jobs.get(names[0]).status.value == "Completed"
    page = RunDetails(ws, names[0])
    try:
        shown = _displayed(page.show)
        assert len(shown) == 1 and "application/vnd.jupyter.widget-view+json" in shown[0]
        assert shown[0]["application/vnd.jupyter.widget-view+json"]["model_id"] == page.model_id
        assert page.status == "Completed" and "loss" in page.figures and "r2" in page.scalars.value
        assert names[0] in page.header.value and "trained" in page.log_view.value
    finally:
        page.close()
    compare = RunCompare(ws, names)
    try:
        shown = _displayed(compare.show)
        assert shown[0]["application/vnd.jupyter.widget-view+json"]["model_id"] == compare.model_id
        assert "alpha" in compare.table.value
    finally:
        compare.close()


def test_readme_names_the_public_import() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "from studio_ext.panels import RunDetails" in readme
