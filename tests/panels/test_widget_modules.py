"""FigureWidgets in the sidebar's kernel name their front-end module by URL."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
from plotly.basewidget import BaseFigureWidget

from studio_ext.panels.widget_modules import load_plotly_widget_module_from, plotly_widget_module_path

URL = "http://127.0.0.1:8888/studio-ext/widget-modules/plotly.js"


@pytest.fixture
def restore_plotly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BaseFigureWidget, "_esm", BaseFigureWidget._esm)


def test_figure_widgets_send_the_url_instead_of_the_module(restore_plotly) -> None:
    before = go.FigureWidget()
    assert len(before._esm) > 1_000_000  # the whole module, by default
    load_plotly_widget_module_from(URL)
    after = go.FigureWidget(go.Scatter(y=[1, 2]))
    assert after._esm == URL
    assert plotly_widget_module_path().read_text(encoding="utf-8") == before._esm


def test_a_url_anywidget_cannot_import_is_refused(restore_plotly) -> None:
    with pytest.raises(ValueError, match="http"):
        load_plotly_widget_module_from("/studio-ext/widget-modules/plotly.js")
    assert len(go.FigureWidget()._esm) > 1_000_000
