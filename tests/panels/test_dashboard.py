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
