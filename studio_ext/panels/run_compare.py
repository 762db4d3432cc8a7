"""Comparing runs: a params/metrics table (optionally only what differs), overlaid metric
charts, and parallel coordinates of params against a chosen metric."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import plotly.graph_objects as go

from studio_ext.entities._run import RunSummary
from studio_ext.errors import InvalidInput, StudioError
from studio_ext.panels._widgets import CodeBox, Message, format_value, html_table, show_figures

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace


class RunCompare(widgets.VBox):
    """``RunCompare(ws, ["job-a", "job-b", ...])``: side by side, overlaid, and in parallel coordinates."""

    def __init__(self, ws: Workspace, names: Sequence[str], *, max_points: int = 1000) -> None:
        names = list(dict.fromkeys(names))
        if len(names) < 2:
            raise InvalidInput(f"Compare needs at least two runs. Got {len(names)}.")
        self.ws = ws
        self.names = names
        self.max_points = max_points
        self.runs: list[RunSummary] = [ws.jobs.run_summary(n) for n in names]
        self.figures: dict[str, go.Figure] = {}
        metrics = sorted({k for r in self.runs for k in r.metrics})
        self.only_differences = widgets.Checkbox(value=False, description="Show only differences")
        self.table = widgets.HTML()
        self.metric = widgets.Dropdown(options=metrics, value=metrics[0] if metrics else None, description="Metric")
        self.overlay = widgets.Output()
        self.parallel = widgets.Output()
        self.message = Message()
        self.code = CodeBox()
        super().__init__(children=[
            widgets.HTML(f"<h3 style='margin:4px 0'>Comparing {len(names)} runs</h3>"),
            self.only_differences, self.table, self.metric, self.message, self.overlay, self.parallel, self.code,
        ])
        self.only_differences.observe(lambda _: self.render_table(), "value")
        self.metric.observe(lambda _: self.render_charts(), "value")
        self.render_table()
        self.render_charts()
        self.code.show("\n".join(f"ws.jobs.run_summary({n!r})" for n in names)
                       + (f"\nws.jobs.get_metric_history({names[0]!r}, {self.metric.value!r}, max_points={max_points})"
                          if self.metric.value else ""))

    def show(self) -> None:
        """Display the comparison in the current cell."""
        from IPython.display import display

        display(self)

    def rows(self) -> list[tuple[str, list[Any]]]:
        """(label, one value per run) for every param and metric; only differing ones if asked."""
        out = []
        for group, attr in (("params", "params"), ("metrics", "metrics")):
            keys = sorted({k for r in self.runs for k in getattr(r, attr)})
            for key in keys:
                values = [getattr(r, attr).get(key) for r in self.runs]
                if self.only_differences.value and len({format_value(v) for v in values}) == 1:
                    continue
                out.append((f"{group}.{key}", values))
        return out

    def render_table(self) -> None:
        headers = ["", *(r.display_name or r.name for r in self.runs)]
        body = [[label, *(format_value(v) for v in values)] for label, values in self.rows()]
        self.table.value = html_table(headers, body, empty="These runs have the same params and metrics.")

    def render_charts(self) -> None:
        key = self.metric.value
        if key is None:
            self.message.info("These runs logged no metrics to chart.")
            return
        histories = {}
        for run in self.runs:
            try:
                histories[run.display_name or run.name] = self.ws.jobs.get_metric_history(
                    run.name, key, max_points=self.max_points)
            except StudioError:  # a run without this metric is simply absent from the chart
                continue
        overlay = metric_figure(key, {label: (h.steps, h.values) for label, h in histories.items()})
        self.figures = {"overlay": overlay, "parallel": self._parallel(key)}
        show_figures(self.overlay, [overlay])
        show_figures(self.parallel, [self.figures["parallel"]])
        self.code.show(f"[ws.jobs.get_metric_history(n, {key!r}, max_points={self.max_points}) "
                       f"for n in {self.names!r}]")

    def _parallel(self, key: str) -> go.Figure:
        runs = [r for r in self.runs if key in r.metrics]
        dims = []
        for param in sorted({k for r in runs for k in r.params}):
            values = [r.params.get(param) for r in runs]
            numbers = [_number(v) for v in values]
            if all(n is not None for n in numbers):
                dims.append(dict(label=param, values=numbers))
            else:
                cats = sorted({str(v) for v in values})
                dims.append(dict(label=param, values=[cats.index(str(v)) for v in values],
                                 tickvals=list(range(len(cats))), ticktext=cats))
        scores = [r.metrics[key] for r in runs]
        dims.append(dict(label=key, values=scores))
        fig = go.Figure(go.Parcoords(line=dict(color=scores, colorscale="Viridis", showscale=True),
                                     dimensions=dims))
        fig.update_layout(title=f"params against {key}", height=320, margin=dict(l=60, r=40, t=60, b=30))
        return fig


def metric_figure(key: str, series: dict[str, tuple[Sequence[float], Sequence[float]]]) -> go.Figure:
    """The runs' values of one metric: lines by step, or bars when each run logged it once.

    A metric logged once per run (a final accuracy) has no steps to draw a line over:
    a bar per run, with its value on it, reads at a glance.
    """
    fig = go.Figure()
    if all(len(values) <= 1 for _steps, values in series.values()):
        labels = [label for label, (_s, values) in series.items() if values]
        finals = [series[label][1][-1] for label in labels]
        fig.add_bar(x=labels, y=finals, text=[format_value(v) for v in finals], textposition="auto",
                    hovertemplate="%{x}: %{y}<extra></extra>")
        fig.update_layout(title=f"{key} by run", height=300, margin=dict(l=40, r=10, t=40, b=30),
                          yaxis_title=key, yaxis_tickformat=".4~g")
        return fig
    for label, (steps, values) in series.items():
        fig.add_scatter(x=list(steps), y=list(values), mode="lines+markers" if len(steps) < 50 else "lines",
                        name=label)
    fig.update_layout(title=f"{key} by step", height=300, margin=dict(l=40, r=10, t=40, b=30),
                      xaxis_title="step", yaxis_tickformat=".4~g")
    return fig


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
