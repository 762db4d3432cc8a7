"""The Privacy page's charts: the budget gauge, a private answer with its interval, noisy vs exact."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

_SPENT, _LEFT, _NOISY, _EXACT = "#a4262c", "#107c10", "#0078d4", "#201f1e"


def budget_gauge(budget: Any) -> go.Figure:
    """Epsilon spent out of the budget, as a gauge (delta in the title)."""
    fig = go.Figure(go.Indicator(
        mode="gauge+number", value=budget.epsilon_spent,
        number={"suffix": f" of {budget.epsilon:g} ε", "font": {"size": 30}, "valueformat": ".4~g"},
        gauge={"axis": {"range": [0, budget.epsilon]}, "bar": {"color": _SPENT},
               "steps": [{"range": [budget.epsilon_spent, budget.epsilon], "color": "#dff6dd"}]},
        title={"text": f"Spent · {budget.epsilon_remaining:.3g} ε left<br>"
                       f"<span style='font-size:12px'>δ {budget.delta_spent:.2g} of {budget.delta:.2g} · "
                       f"{budget.queries} queries</span>", "font": {"size": 15}}))
    # Compact, beside the query history, so the query form stays near the top of the page.
    fig.update_layout(height=210, width=420, margin=dict(l=30, r=30, t=60, b=10))
    return fig


def answer_bars(result: Any) -> go.Figure | None:
    """A table answer (histogram, grouped SQL) as bars with their 95 % intervals, one panel per output."""
    import pandas as pd
    from plotly.subplots import make_subplots

    value = result.value
    if not isinstance(value, pd.DataFrame) or result.statistic == "covariance":
        return None
    lower, upper = result.interval if result.interval is not None else (None, None)
    if "lower" in value.columns and "upper" in value.columns:  # a binned histogram
        labels = [f"{lo:g}–{hi:g}" for lo, hi in zip(value["lower"], value["upper"], strict=True)]
        outputs = ["count"]
    else:
        keys = list(getattr(result, "group_by", []))
        rows = zip(*(value[k].tolist() for k in keys), strict=True) if keys else iter([()] * len(value))
        labels = [", ".join(f"{k}={v}" for k, v in zip(keys, row, strict=True)) for row in rows]
        outputs = [c for c in value.columns if c not in keys]
    fig = make_subplots(rows=1, cols=len(outputs), subplot_titles=[str(o) for o in outputs])
    for i, col in enumerate(outputs, start=1):
        err = None
        if lower is not None and upper is not None and col in lower:
            err = dict(type="data", symmetric=False, array=(upper[col] - value[col]).tolist(),
                       arrayminus=(value[col] - lower[col]).tolist(), color=_EXACT)
        fig.add_trace(go.Bar(x=labels, y=value[col], name=str(col), marker_color=_NOISY, error_y=err,
                             showlegend=False), row=1, col=i)
    fig.update_layout(title=f"{result.statistic}: noisy answer with its 95 % interval (ε {result.epsilon:.3g})",
                      height=320, margin=dict(l=10, r=10, t=60, b=30))
    return fig


def comparison_box(comparison: Any, output: str) -> go.Figure:
    """Noisy answers over repeats per epsilon, as boxes with points, around the exact value."""
    s = comparison.samples[comparison.samples["output"] == output]
    fig = go.Figure()
    for eps in comparison.epsilons:
        part = s[s["epsilon"] == eps]
        fig.add_trace(go.Box(y=part["noisy"], name=f"ε = {eps:g}", boxpoints="all", jitter=0.4, pointpos=0,
                             marker_color=_NOISY, showlegend=False))
    fig.add_hline(y=comparison.exact[output], line_dash="dash", line_color=_EXACT, annotation_text="exact",
                  annotation_position="top left")
    fig.update_layout(title=f"{output}: noisy answers over {int(s['repeat'].max()) + 1 if len(s) else 0} repeats "
                            "per ε, around the exact value", height=360, margin=dict(l=10, r=10, t=50, b=30))
    return fig


def distributions(original: Any, synthetic: Any, columns: list[str]) -> go.Figure:
    """Each column's distribution in the original and the synthetic data, as overlaid normalised histograms."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=max(len(columns), 1), subplot_titles=columns)
    for i, col in enumerate(columns, start=1):
        for frame, label, colour in ((original, "original", _EXACT), (synthetic, "synthetic", _NOISY)):
            fig.add_trace(go.Histogram(x=frame[col], histnorm="probability", name=label, marker_color=colour,
                                       opacity=0.55, showlegend=i == 1, legendgroup=label), row=1, col=i)
    fig.update_layout(barmode="overlay", height=320, title="Column distributions: original against synthetic",
                      margin=dict(l=10, r=10, t=60, b=30))
    return fig
