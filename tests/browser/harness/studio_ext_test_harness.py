"""A studio page that exists only in the browser tests.

It exercises what the extension must render whatever the product's pages are:
ipywidgets controls, a round trip through the kernel (a button that changes a
label), a plotly ``go.Figure`` shown in an ``Output`` widget, and a
``go.FigureWidget`` (anywidget). The test server registers it in
``studio_ext.panels.PAGES`` of both the server and the kernel processes.
"""

from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go

PAGE_ID = "test-harness"
PAGE_TITLE = "Test harness"
TARGET = "studio_ext_test_harness:HarnessPanel"


def register() -> None:
    """Add the harness page to the registry (idempotent)."""
    from studio_ext.panels import PAGES, Page

    PAGES.setdefault(PAGE_ID, Page(PAGE_ID, PAGE_TITLE, TARGET))


class HarnessPanel(widgets.VBox):
    def __init__(self, workspace) -> None:
        self.workspace_label = widgets.HTML(f"<b>Workspace:</b> {workspace.name}")
        self.clicks = widgets.Label("clicks: 0")
        self.button = widgets.Button(description="Click me")
        self.button.add_class("studio-harness-button")
        self.clicks.add_class("studio-harness-clicks")
        self._count = 0
        self.button.on_click(self._on_click)
        chart = widgets.Output()
        chart.add_class("studio-harness-figure")
        with chart:
            fig = go.Figure(go.Bar(x=["a", "b", "c"], y=[3, 1, 2]))
            fig.update_layout(height=260, margin=dict(t=20, b=20, l=20, r=20))
            fig.show()
        self.figure_widget = go.FigureWidget(go.Scatter(y=[1, 3, 2]))
        self.figure_widget.update_layout(height=260, margin=dict(t=20, b=20, l=20, r=20))
        self.figure_widget.add_class("studio-harness-figurewidget")
        super().__init__(
            [self.workspace_label, widgets.HBox([self.button, self.clicks]), chart, self.figure_widget]
        )

    def _on_click(self, _button) -> None:
        self._count += 1
        self.clicks.value = f"clicks: {self._count}"

    def close(self) -> None:
        for child in (self.workspace_label, self.clicks, self.button, self.figure_widget):
            child.close()
        super().close()
