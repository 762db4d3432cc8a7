"""The pipeline graph as a plotly figure: steps as boxes coloured by state, bindings as labelled arrows.

:func:`graph_figure` draws a laid-out :class:`~studio_ext.ml.pipeline_graph.PipelineGraph`
with the colours of Azure ML studio's graph (Completed green, Running blue, Failed red,
Canceled and skipped grey, not started light, queued purple; a reused step is green
with a ♻ mark). Each step box has its name and its state; each edge leaves its source
at a port named by the output, where the output's name is written; a pipeline input or
output is a small grey box.

The figure has one trace of transparent markers over the step boxes (``customdata`` is
the step name): a ``go.FigureWidget`` of it reports clicks on steps there
(:func:`click_trace`). :func:`update_states` recolours a figure or a FigureWidget in
place as the steps' states change, so a live page never rebuilds its widget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from studio_ext.ml.pipeline_graph import GraphNode, PipelineGraph
from studio_ext.panels._format import format_duration

__all__ = ["STATE_COLOURS", "StepState", "click_trace", "graph_figure", "state_style", "update_states"]

# (fill, border, text) per state, after Azure ML studio's pipeline graph.
STATE_COLOURS: dict[str, tuple[str, str, str]] = {
    "Completed": ("#dff6dd", "#107c10", "#0b5a0b"),
    "Running": ("#deecf9", "#0078d4", "#004578"),
    "Finalizing": ("#deecf9", "#0078d4", "#004578"),
    "Failed": ("#fde7e9", "#a4262c", "#750b1c"),
    "Canceled": ("#edebe9", "#797775", "#484644"),
    "Skipped": ("#edebe9", "#a19f9d", "#605e5c"),
    "Queued": ("#f4effa", "#8764b8", "#5c2e91"),
    "Starting": ("#f4effa", "#8764b8", "#5c2e91"),
    "NotStarted": ("#ffffff", "#c8c6c4", "#605e5c"),
}
_IO_STYLE = ("#f3f2f1", "#8a8886", "#323130")

# Sizes in the graph's units (one layer apart = 1 wide, one row apart = 1 high) and in pixels.
_STEP_W, _STEP_H = 0.66, 0.62
_IO_W, _IO_H = 0.5, 0.38
_PX_PER_LAYER, _PX_PER_ROW = 250, 92
_MARGIN = dict(l=10, r=10, t=10, b=10)
_NAME_CHARS, _PORT_CHARS = 20, 16  # a line of a step's name (two lines at most), an output's name
_CLICK_POINTS = 7  # transparent markers across a step box, so a click anywhere on it lands on one


@dataclass(frozen=True)
class StepState:
    """What the graph shows of one step's run: its state, time, and the run it reused (if any)."""

    status: str = "NotStarted"
    duration_seconds: float | None = None
    job_name: str | None = None
    reused_from: str | None = None
    reason: str | None = None  # why a step was skipped or failed


def state_style(state: StepState | None) -> tuple[str, str, str]:
    """(fill, border, text) colours of a step in ``state``."""
    status = state.status if state is not None else "NotStarted"
    return STATE_COLOURS.get(status, STATE_COLOURS["NotStarted"])


def _status_line(state: StepState | None) -> str:
    if state is None:
        return "Not started"
    if state.reused_from:
        return "♻ Reused"
    text = {"NotStarted": "Not started"}.get(state.status, state.status)
    took = format_duration(state.duration_seconds) if state.duration_seconds is not None else ""
    return f"{text} · {took}" if took else text


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _wrap(name: str) -> str:
    """A step's name on one line, or on two broken at the ``_``, ``-``, ``.`` or space nearest its middle."""
    if len(name) <= _NAME_CHARS:
        return name
    breaks = [i + 1 for i, ch in enumerate(name) if ch in "_-. " and 0 < i + 1 < len(name)]
    cut = min(breaks, key=lambda i: abs(i - len(name) / 2)) if breaks else _NAME_CHARS
    return f"{_short(name[:cut], _NAME_CHARS)}<br>{_short(name[cut:], _NAME_CHARS)}"


def _box(node: GraphNode) -> tuple[float, float]:
    return (_STEP_W, _STEP_H) if node.kind == "step" else (_IO_W, _IO_H)


def _ports(graph: PipelineGraph) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    """The y of each (node, output) on a box's right side and each (node, input) on its left."""
    outs: dict[str, list[str]] = {}
    ins: dict[str, list[str]] = {}
    for edge in graph.edges:
        outs.setdefault(edge.source, [])
        if edge.label not in outs[edge.source]:
            outs[edge.source].append(edge.label)
        ins.setdefault(edge.target, [])
        if edge.target_input not in ins[edge.target]:
            ins[edge.target].append(edge.target_input)

    def spread(names_by_node: dict[str, list[str]]) -> dict[tuple[str, str], float]:
        places = {}
        for node_id, names in names_by_node.items():
            node = graph.nodes[node_id]
            # Order the ports by where their edges go, so two of them do not cross at the box.
            height = _box(node)[1] * 0.7
            for i, name in enumerate(names):
                offset = 0.0 if len(names) == 1 else height / 2 - i * height / (len(names) - 1)
                places[(node_id, name)] = node.y + offset
        return places

    def far_end(edge: Any, outgoing: bool) -> float:
        return graph.nodes[edge.target if outgoing else edge.source].y

    for node_id, names in outs.items():
        names.sort(key=lambda n: -max(far_end(e, True) for e in graph.edges if e.source == node_id and e.label == n))
    for node_id, names in ins.items():
        names.sort(key=lambda n: -max(far_end(e, False) for e in graph.edges
                                      if e.target == node_id and e.target_input == n))
    return spread(outs), spread(ins)


def graph_figure(graph: PipelineGraph, states: Mapping[str, StepState] | None = None, *,
                 selected: str | None = None) -> go.Figure:
    """The pipeline's graph, each step coloured by its state in ``states`` (step name -> StepState)."""
    states = states or {}
    fig = go.Figure()
    out_ports, in_ports = _ports(graph)

    # Edges: one line trace (None between edges), an arrowhead at each target, the output's name at each port.
    xs: list[float | None] = []
    ys: list[float | None] = []
    annotations: list[dict[str, Any]] = []
    labelled: set[tuple[str, str]] = set()
    for edge in graph.edges:
        source, target = graph.nodes[edge.source], graph.nodes[edge.target]
        x0, y0 = source.x + _box(source)[0] / 2, out_ports[(edge.source, edge.label)]
        x1, y1 = target.x - _box(target)[0] / 2, in_ports[(edge.target, edge.target_input)]
        middle = list(edge.points[1:-1])
        path = [(x0, y0), (x0 + 0.06, y0), *middle, (x1 - 0.09, y1)]
        for x, y in path:
            xs.append(x)
            ys.append(y)
        xs.append(None)
        ys.append(None)
        annotations.append(dict(x=x1, y=y1, ax=x1 - 0.09, ay=y1, xref="x", yref="y", axref="x", ayref="y",
                                showarrow=True, arrowhead=2, arrowsize=1.1, arrowwidth=1.5, arrowcolor="#8a8886",
                                text=""))
        if source.kind == "step" and (edge.source, edge.label) not in labelled:
            labelled.add((edge.source, edge.label))
            annotations.append(dict(x=x0 + 0.015, y=y0, xref="x", yref="y", xanchor="left", yanchor="bottom",
                                    showarrow=False, text=_short(edge.label, _PORT_CHARS),
                                    hovertext=f"output {edge.label}", font=dict(size=10, color="#605e5c")))
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="#8a8886", width=1.5, shape="spline",
                                                                  smoothing=0.6),
                             hoverinfo="skip", showlegend=False, name="bindings"))

    shapes, names_text, hover, text_x, text_y = [], [], [], [], []
    for node in graph.nodes.values():
        width, height = _box(node)
        state = states.get(node.id) if node.kind == "step" else None
        fill, border, colour = state_style(state) if node.kind == "step" else _IO_STYLE
        dashed = node.kind == "step" and state is not None and bool(state.reused_from)
        shapes.append(dict(type="rect", x0=node.x - width / 2, x1=node.x + width / 2, y0=node.y - height / 2,
                           y1=node.y + height / 2, xref="x", yref="y", fillcolor=fill, layer="below",
                           line=dict(color="#201f1e" if node.id == selected else border,
                                     width=3 if node.id == selected else 1.5, dash="dash" if dashed else "solid"),
                           name=node.id))
        text_x.append(node.x)
        text_y.append(node.y)
        if node.kind == "step":
            names_text.append(f"<b>{_wrap(node.label)}</b><br>"
                              f"<span style='font-size:11px;color:{colour}'>{_status_line(state)}</span>")
        else:
            names_text.append(f"<span style='color:{colour}'>{'▸ ' if node.kind == 'input' else ''}"
                              f"{_short(node.label, _NAME_CHARS - 6)}{' ▸' if node.kind == 'output' else ''}</span>")
        hover.append(_hover(node, state))
    fig.add_trace(go.Scatter(x=text_x, y=text_y, mode="text", text=names_text, textfont=dict(size=12),
                             hoverinfo="skip", showlegend=False, name="labels"))

    # The clickable layer: transparent square markers across every step box.
    cx, cy, ids, tips = [], [], [], []
    for node, tip in zip(graph.nodes.values(), hover, strict=True):
        if node.kind != "step":
            continue
        for i in range(_CLICK_POINTS):
            cx.append(node.x - _STEP_W / 2 + _STEP_W * (i + 0.5) / _CLICK_POINTS)
            cy.append(node.y)
            ids.append(node.id)
            tips.append(tip)
    fig.add_trace(go.Scatter(x=cx, y=cy, mode="markers", customdata=ids, hovertext=tips, hoverinfo="text",
                             marker=dict(symbol="square", size=int(_STEP_H * _PX_PER_ROW * 0.9),
                                         color="rgba(0,0,0,0)"),
                             showlegend=False, name="steps"))

    columns = max((n.layer for n in graph.nodes.values()), default=0) + 1
    # Rows from where things are drawn: an edge routed around the steps can sit below them all.
    lowest = min([n.y for n in graph.nodes.values()] + [y for e in graph.edges for _, y in e.points], default=0.0)
    rows = round(-lowest) + 1
    fig.update_layout(
        shapes=shapes, annotations=annotations, template="plotly_white", dragmode=False, hovermode="closest",
        width=columns * _PX_PER_LAYER + _MARGIN["l"] + _MARGIN["r"],
        height=rows * _PX_PER_ROW + _MARGIN["t"] + _MARGIN["b"], margin=_MARGIN,
        xaxis=dict(visible=False, range=[-0.5, columns - 0.5], fixedrange=True),
        yaxis=dict(visible=False, range=[-(rows - 0.5), 0.5], fixedrange=True),
        hoverlabel=dict(bgcolor="white", font_size=12), showlegend=False,
    )
    return fig


def _hover(node: GraphNode, state: StepState | None) -> str:
    if node.kind != "step":
        return f"pipeline {node.kind} {node.label}"
    lines = [f"<b>{node.label}</b>", _status_line(state)]
    if state is not None and state.job_name:
        lines.append(f"run {state.job_name}")
    if state is not None and state.reused_from:
        lines.append(f"reused from {state.reused_from}")
    if state is not None and state.reason:
        lines.append(_short(state.reason, 120))
    lines.append("click for details")
    return "<br>".join(lines)


def click_trace(fig: go.Figure) -> Any:
    """The trace whose clicks name a step (``points.point_inds`` -> ``customdata``)."""
    return next(trace for trace in fig.data if trace.name == "steps")


def update_states(fig: go.Figure, graph: PipelineGraph, states: Mapping[str, StepState], *,
                  selected: str | None = None) -> None:
    """Recolour ``fig`` (a Figure or a FigureWidget drawn by :func:`graph_figure`) for new ``states``."""
    fresh = graph_figure(graph, states, selected=selected)
    batch = fig.batch_update() if hasattr(fig, "batch_update") else _nothing()
    with batch:
        fig.layout.shapes = fresh.layout.shapes
        for trace, new in zip(fig.data, fresh.data, strict=True):
            if trace.name == "labels":
                trace.text = new.text
            elif trace.name == "steps":
                trace.hovertext = new.hovertext


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: Any) -> None:
        return None
