"""Dashboards find their workspace from the URL or the environment, or say how to set one."""

from __future__ import annotations

import json
from pathlib import Path

import ipywidgets as widgets
import pytest

from studio_ext.panels import PAGES, dashboard

DASHBOARDS = Path(__file__).resolve().parents[2] / "notebooks" / "dashboards"


def test_without_a_workspace_the_page_says_how_to_set_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STUDIO_EXT_WORKSPACE", raising=False)
    monkeypatch.setenv("QUERY_STRING", f"workspace={tmp_path / 'nothing'}")
    shown = dashboard.build(next(iter(PAGES), "jobs"))
    assert isinstance(shown, widgets.HTML)
    assert "No workspace to show" in shown.value and "?workspace=" in shown.value


def test_the_url_parameter_wins_over_the_environment(workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_EXT_WORKSPACE", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("QUERY_STRING", f"workspace={workspace.path}&other=1")
    assert dashboard.workspace_path_from_request() == str(workspace.path)


def test_every_page_has_a_dashboard_that_shows_only_its_panel() -> None:
    names = {p.stem for p in DASHBOARDS.glob("*.ipynb")}
    assert set(PAGES) <= names, f"pages without a dashboard: {set(PAGES) - names}"
    for page in PAGES:
        cells = json.loads((DASHBOARDS / f"{page}.ipynb").read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert len(code) == 1 and f'show("{page}")' in "".join(code[0]["source"])


def test_without_a_parameter_the_demo_workspace_beside_a_parent_folder_is_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`voila notebooks/dashboards` from a checkout: the kernel runs in notebooks/dashboards,
    and the demo workspace `make studio` prepared is demo-workspace/ at the top."""
    from studio_ext import Workspace

    demo = Workspace.create(tmp_path / "demo-workspace", name="demo")
    demo.close()
    notebooks = tmp_path / "notebooks" / "dashboards"
    notebooks.mkdir(parents=True)
    monkeypatch.chdir(notebooks)
    monkeypatch.delenv("STUDIO_EXT_WORKSPACE", raising=False)
    monkeypatch.delenv("QUERY_STRING", raising=False)
    assert dashboard.demo_workspace_near() == demo.path
    shown = dashboard.build("jobs")
    try:
        assert isinstance(shown, widgets.VBox)
        nav, panel = shown.children
        assert panel.ws.path == demo.path
        # The header links every other page, this one in bold.
        for page in PAGES.values():
            if page.id == "jobs":
                assert f"<b>{page.title}</b>" in nav.value
            else:
                assert f"href='{page.id}.ipynb'" in nav.value and "var(--jp-content-link-color" in nav.value
    finally:
        shown.children[1].close()
        panel.ws.close()


def test_the_header_keeps_the_workspace_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERY_STRING", "workspace=/tmp/ws")
    nav = dashboard.header("data")
    assert "href='jobs.ipynb?workspace=/tmp/ws'" in nav.value
