"""The fairness dashboard's charts: per-group bars and the performance-vs-disparity comparison."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from studio_ext.panels._format import format_value

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.ml.fairness import FairnessAssessment, MitigationResult

_BAR, _OVERALL, _ORIGINAL, _FRONT, _OTHER = "#0078d4", "#605e5c", "#a4262c", "#107c10", "#8a8886"


def companion_metric(a: FairnessAssessment) -> str | None:
    """The second chart beside the chosen metric: selection rate, or the mean prediction."""
    for name in ("selection_rate", "mean_prediction"):
        if name in a.metrics:
            return name
    return None


def group_bars(a: FairnessAssessment, key: str, metric: str) -> go.Figure:
    """The metric per group (and selection rate or mean prediction), with the overall value dashed."""
    table = a.by_group(key)
    shown = [m for m in (metric, companion_metric(a)) if m]
    shown = list(dict.fromkeys(shown))
    fig = make_subplots(rows=1, cols=len(shown), subplot_titles=[m.replace("_", " ") for m in shown],
                        horizontal_spacing=0.06)
    labels = [f"{format_value(g)} (n={int(n):,})" for g, n in zip(table.index, table["count"])]
    for col, name in enumerate(shown, start=1):
        fig.add_trace(go.Bar(x=table[name], y=labels, orientation="h", marker_color=_BAR, name=name,
                             showlegend=False, hovertemplate="%{y}: %{x:.4g}<extra></extra>"), row=1, col=col)
        if name in a.overall:
            fig.add_vline(x=a.overall[name], line_dash="dash", line_color=_OVERALL, row=1, col=col,
                          annotation_text="overall", annotation_position="top")
    # The groups label the first chart only: the second shares its rows, so its labels would overlap the first.
    for col in range(2, len(shown) + 1):
        fig.update_yaxes(showticklabels=False, matches="y", row=1, col=col)
    fig.update_layout(title=f"By {key}", height=max(260, 90 + 28 * len(labels)), margin=dict(l=10, r=10, t=60, b=30))
    return fig


def comparison_traces(result: MitigationResult) -> list[go.Scatter]:
    """Every candidate as a point (performance vs disparity) and the Pareto front as a line."""
    front = result.pareto_front
    metric, gap = result.performance_metric, result.disparity_metric
    xs = [c.disparity[gap] for c in result.candidates]
    ys = [c.performance[metric] for c in result.candidates]
    colours = [_ORIGINAL if c.is_original else (_FRONT if c.index in front else _OTHER) for c in result.candidates]
    points = go.Scatter(
        x=xs, y=ys, mode="markers+text", text=[c.name for c in result.candidates], textposition="top center",
        marker=dict(size=[14 if c.is_original else 10 for c in result.candidates], color=colours,
                    line=dict(width=[0] * len(xs), color="black")),
        name="candidates", hovertemplate="%{text}<br>" + gap + " %{x:.4f}<br>" + metric + " %{y:.4f}<extra></extra>",
    )
    ordered = sorted(front, key=lambda i: xs[i])
    line = go.Scatter(x=[xs[i] for i in ordered], y=[ys[i] for i in ordered], mode="lines",
                      line=dict(color=_FRONT, dash="dot"), name="Pareto front", hoverinfo="skip")
    return [points, line]


def comparison_layout(result: MitigationResult) -> dict:
    better = "higher is better" if result.higher_is_better else "lower is better"
    return dict(title=f"Model comparison: {result.method.value} × {result.constraint.value} (click a point)",
                xaxis_title=f"{result.disparity_metric} (lower is fairer)",
                yaxis_title=f"{result.performance_metric} ({better})", height=420,
                margin=dict(l=10, r=10, t=50, b=40))
