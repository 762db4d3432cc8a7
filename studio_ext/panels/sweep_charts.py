"""Plotly figures of a sweep: the primary metric by trial, parallel coordinates, a scatter, importance.

Each function takes what ``ws.sweeps`` returns (the trials list, the metric table, the
importance mapping) and returns ``plotly.graph_objects.Figure`` objects for ``show_figures``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

__all__ = ["importance_bars", "metric_by_trial", "metric_curves", "parallel_coordinates", "scatter"]

_HEIGHT = 340


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=_HEIGHT,
                      margin=dict(l=50, r=20, t=40, b=40), template="plotly_white")
    return fig


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def metric_by_trial(trials: Sequence[Mapping[str, Any]], metric: str, maximize: bool) -> go.Figure:
    """Each trial's final metric against its number; stopped trials marked with an x, the best so far as a line."""
    fig = go.Figure()
    shown = [t for t in trials if _finite(t.get("value"))]
    for label, keep, symbol in (("completed", lambda t: t.get("status") == "Completed", "circle"),
                                ("stopped early", lambda t: bool(t.get("stopped")), "x"),
                                ("canceled or failed", lambda t: t.get("status") != "Completed"
                                 and not t.get("stopped"), "diamond-open")):
        these = [t for t in shown if keep(t)]
        if these:
            fig.add_trace(go.Scatter(x=[t["index"] for t in these], y=[t["value"] for t in these], mode="markers",
                                     name=label, marker=dict(symbol=symbol, size=10),
                                     text=[t["name"] for t in these]))
    best, xs, line = None, [], []
    for t in sorted((t for t in shown if t.get("status") == "Completed"), key=lambda t: t["index"]):
        best = t["value"] if best is None or (t["value"] > best if maximize else t["value"] < best) else best
        xs.append(t["index"])
        line.append(best)
    if xs:
        fig.add_trace(go.Scatter(x=xs, y=line, mode="lines", line_shape="hv", name="best so far"))
    return _layout(fig, f"{metric} by trial", "trial", metric)


def metric_curves(table: Mapping[str, Sequence[float]], stopped: Mapping[str, int], metric: str) -> go.Figure:
    """Each trial's metric per interval (as it logged it); a stopped trial's curve ends with an x."""
    fig = go.Figure()
    for name, values in sorted(table.items()):
        fig.add_trace(go.Scatter(x=list(range(1, len(values) + 1)), y=list(values), mode="lines", name=name,
                                 opacity=0.8))
        if name in stopped and values:
            fig.add_trace(go.Scatter(x=[len(values)], y=[values[-1]], mode="markers", showlegend=False,
                                     marker=dict(symbol="x", size=12, color="#a4262c"), text=[f"{name} stopped"]))
    return _layout(fig, f"{metric} per interval", "interval (each value logged)", metric)


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def parallel_coordinates(trials: Sequence[Mapping[str, Any]], metric: str) -> go.Figure:
    """The completed trials over every hyperparameter, coloured by the metric."""
    done = [t for t in trials if _finite(t.get("value"))]
    names = sorted({k for t in done for k in t["params"]})
    dims = []
    for name in names:
        values = [t["params"].get(name) for t in done]
        if _numeric(values):
            dims.append(dict(label=name, values=values))
        else:
            labels = sorted({str(v) for v in values})
            dims.append(dict(label=name, values=[labels.index(str(v)) for v in values],
                             tickvals=list(range(len(labels))), ticktext=labels))
    dims.append(dict(label=metric, values=[t["value"] for t in done]))
    fig = go.Figure(go.Parcoords(line=dict(color=[t["value"] for t in done], colorscale="Viridis", showscale=True),
                                 dimensions=dims))
    fig.update_layout(title="Parallel coordinates", height=_HEIGHT, margin=dict(l=60, r=40, t=60, b=30),
                      template="plotly_white")
    return fig


def scatter(trials: Sequence[Mapping[str, Any]], axes: Sequence[str], metric: str) -> go.Figure:
    """Two or three hyperparameters against each other, coloured by the metric."""
    done = [t for t in trials if _finite(t.get("value")) and all(a in t["params"] for a in axes)]
    colour = dict(color=[t["value"] for t in done], colorscale="Viridis", showscale=True, size=9)
    cols = [[t["params"][a] for t in done] for a in axes]
    text = [t["name"] for t in done]
    if len(axes) == 3:
        fig = go.Figure(go.Scatter3d(x=cols[0], y=cols[1], z=cols[2], mode="markers", marker=colour, text=text))
        fig.update_layout(title=" / ".join(axes), height=_HEIGHT + 80, margin=dict(l=0, r=0, t=40, b=0))
        return fig
    fig = go.Figure(go.Scatter(x=cols[0], y=cols[1] if len(cols) > 1 else [t["value"] for t in done],
                               mode="markers", marker=colour, text=text))
    _layout(fig, " vs ".join(axes), axes[0], axes[1] if len(axes) > 1 else metric)
    # A hyperparameter spread over decades (a LogUniform learning rate) is drawn on a log axis.
    fig.update_xaxes(type="log" if _decades(cols[0]) else "linear")
    if len(cols) > 1:
        fig.update_yaxes(type="log" if _decades(cols[1]) else "linear")
    return fig


def _decades(values: Sequence[Any]) -> bool:
    """True when ``values`` are positive numbers spanning more than two decades."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) < 2 or len(numbers) != len(values) or min(numbers) <= 0:
        return False
    return max(numbers) / min(numbers) > 100


def importance_bars(importance: Mapping[str, float]) -> go.Figure:
    ordered = sorted(importance.items(), key=lambda kv: kv[1])
    fig = go.Figure(go.Bar(x=[v for _, v in ordered], y=[k for k, _ in ordered], orientation="h"))
    return _layout(fig, "Hyperparameter importance (fANOVA)", "importance", "")
