"""Studio pages that exist only in the browser tests.

They exercise what the extension must render whatever the product's pages are:
ipywidgets controls, a round trip through the kernel (a button that changes a
label), a plotly ``go.Figure`` shown in an ``Output`` widget, and, on a page of its
own, a ``go.FigureWidget`` (anywidget). The test server registers them in
``studio_ext.panels.PAGES`` of both the server and the kernel processes.
"""

from __future__ import annotations

import os

import ipywidgets as widgets
import plotly.graph_objects as go

HARNESS_PAGES = {
    "test-harness": ("Test harness", "studio_ext_test_harness:HarnessPanel"),
    "test-figurewidget": ("Test FigureWidget", "studio_ext_test_harness:figure_widget_page"),
}


def register() -> None:
    """Add the harness pages to the registry (idempotent)."""
    from studio_ext.panels import PAGES, Page

    for page_id, (title, target) in HARNESS_PAGES.items():
        PAGES.setdefault(page_id, Page(page_id, title, target))


class HarnessPanel(widgets.VBox):
    def __init__(self, workspace) -> None:
        self.workspace_label = widgets.HTML(f"<b>Workspace:</b> {workspace.name}")
        self.clicks = widgets.Label("clicks: 0")
        self.button = widgets.Button(description="Click me")
        self.button.add_class("studio-harness-button")
        self.clicks.add_class("studio-harness-clicks")
        self._count = 0
        self.button.on_click(self._on_click)
        # Kills the kernel process, as a crash would; the server restarts it.
        self.crash = widgets.Button(description="Crash kernel")
        self.crash.add_class("studio-harness-crash")
        self.crash.on_click(lambda _button: os._exit(1))
        chart = widgets.Output()
        chart.add_class("studio-harness-figure")
        with chart:
            fig = go.Figure(go.Bar(x=["a", "b", "c"], y=[3, 1, 2]))
            fig.update_layout(height=260, margin=dict(t=20, b=20, l=20, r=20))
            fig.show()
        super().__init__(
            [self.workspace_label, widgets.HBox([self.button, self.clicks, self.crash]), chart]
        )

    def _on_click(self, _button) -> None:
        self._count += 1
        self.clicks.value = f"clicks: {self._count}"

    def close(self) -> None:
        for child in (self.workspace_label, self.clicks, self.button, self.crash):
            child.close()
        super().close()


def figure_widget_page(workspace) -> go.FigureWidget:
    """A page that is one FigureWidget, displayed at top level.

    Top level on purpose: a FigureWidget nested in a container can render without
    its data (its data is sent again only by its own ``_repr_mimebundle_``); that
    happens in a plain notebook too.
    """
    figure = go.FigureWidget(go.Scatter(y=[1, 3, 2]))
    figure.update_layout(
        title=workspace.name, height=300, margin=dict(t=40, b=20, l=20, r=20)
    )
    figure.add_class("studio-harness-figurewidget")
    return figure
