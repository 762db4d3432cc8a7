"""The explanation dashboard's charts, as plain plotly figures built from an Explanation.

Point charts never draw more than :data:`MAX_POINTS` rows (:data:`SUMMARY_POINTS` in
the summary, which repeats every row per feature): beyond that they draw a fixed
random sample, and the page says so.
Aggregates (importance bars, cohorts) always use every explained row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from studio_ext.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.ml.explain import Explanation

MAX_POINTS = 5000
SUMMARY_POINTS = 2000  # per feature: the summary draws one dot per row for every feature shown
_HEIGHT_PER_BAR = 24
_BLUE, _RED = "#1e88e5", "#ff0d57"


def display_rows(rows: int, limit: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Row positions a point chart draws: all of them, or a sorted random sample of ``limit``."""
    if rows <= limit:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size=limit, replace=False))


def importance_bar(importance: dict[str, float], *, k: int, title: str, axis: str,
                   errors: dict[str, float] | None = None) -> go.Figure:
    """Horizontal bars of the ``k`` largest importances, largest on top (with error bars if given)."""
    items = list(importance.items())[:k][::-1]
    names = [n for n, _ in items]
    bar = go.Bar(x=[v for _, v in items], y=names, orientation="h", marker_color=_BLUE,
                 error_x=dict(type="data", array=[errors.get(n, 0.0) for n in names]) if errors else None)
    fig = go.Figure(bar)
    fig.update_layout(title=title, xaxis_title=axis, height=max(260, 80 + _HEIGHT_PER_BAR * len(items)),
                      margin=dict(l=10, r=10, t=40, b=40))
    return fig


def class_bars(per_class: dict[str, dict[str, float]], features: Sequence[str], *, title: str, axis: str) -> go.Figure:
    """Stacked bars: each feature's importance split by class."""
    order = list(features)[::-1]
    fig = go.Figure([go.Bar(name=str(cls), x=[values.get(f, 0.0) for f in order], y=order, orientation="h")
                     for cls, values in per_class.items()])
    fig.update_layout(barmode="stack", title=title, xaxis_title=axis, legend_title="class",
                      height=max(260, 80 + _HEIGHT_PER_BAR * len(order)), margin=dict(l=10, r=10, t=40, b=40))
    return fig


def _colour_values(column: pd.Series) -> np.ndarray:
    """Feature values scaled to 0..1 for colouring (categories by their code, missing as 0.5)."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column.to_numpy(dtype=float)
    else:
        values = pd.Categorical(column.astype(str)).codes.astype(float)
    finite = np.isfinite(values)
    if not finite.any():
        return np.full(len(values), 0.5)
    low, high = np.nanpercentile(values[finite], [5, 95])
    scaled = np.clip((values - low) / (high - low), 0, 1) if high > low else np.full(len(values), 0.5)
    return np.where(finite, scaled, 0.5)


def local_rows(exp: Explanation) -> tuple[pd.DataFrame, np.ndarray]:
    """The explained rows and the model's predictions on them (an explanation with local values has both)."""
    if exp.data is None or exp.predictions is None:
        raise InvalidInput(f"The explanation {exp.name!r} holds global importance only: it has no explained rows.")
    return exp.data, exp.predictions


def beeswarm(exp: Explanation, features: Sequence[str], rows: np.ndarray) -> go.Figure:
    """One jittered row of dots per feature: x is the contribution, colour the feature's value."""
    values = exp.row_values(rows)
    jitter = np.random.default_rng(1).uniform(-0.3, 0.3, size=len(rows))
    fig = go.Figure()
    order = list(features)[::-1]
    data, _ = local_rows(exp)
    for pos, feature in enumerate(order):
        j = exp.features.index(feature)
        column = data[feature].iloc[rows]
        fig.add_trace(go.Scattergl(
            x=values[:, j], y=pos + jitter, mode="markers", name=feature, showlegend=False,
            marker=dict(size=4, color=_colour_values(column), colorscale=[[0, _BLUE], [1, _RED]], cmin=0, cmax=1,
                        showscale=pos == len(order) - 1,
                        colorbar=dict(title="feature value", tickvals=[0, 1], ticktext=["low", "high"])),
            text=[f"{feature} = {v}" for v in column.astype(str)], hovertemplate="%{text}<br>contribution %{x:.4g}<extra></extra>",
        ))
    fig.update_layout(title="Summary: each dot is a row", xaxis_title=f"contribution ({exp.output_space})",
                      yaxis=dict(tickvals=list(range(len(order))), ticktext=order),
                      height=max(300, 80 + 30 * len(order)), margin=dict(l=10, r=10, t=40, b=40))
    return fig


def dependence(exp: Explanation, feature: str, colour_by: str | None, rows: np.ndarray) -> go.Figure:
    """A feature's value against its contribution, coloured by another feature."""
    j = exp.features.index(feature)
    data, _ = local_rows(exp)
    x = data[feature].iloc[rows]
    y = exp.row_values(rows)[:, j]
    marker: dict = dict(size=5, color=_BLUE)
    hover = f"{feature} = %{{x}}<br>contribution %{{y:.4g}}"
    if colour_by:
        colour = data[colour_by].iloc[rows]
        marker = dict(size=5, color=_colour_values(colour), colorscale=[[0, _BLUE], [1, _RED]], cmin=0, cmax=1,
                      showscale=True, colorbar=dict(title=colour_by, tickvals=[0, 1], ticktext=["low", "high"]))
    fig = go.Figure(go.Scattergl(x=x.astype(str) if not pd.api.types.is_numeric_dtype(x) else x, y=y, mode="markers",
                                 marker=marker, hovertemplate=hover + "<extra></extra>"))
    fig.update_layout(title=f"Dependence of the prediction on {feature}"
                            + (f", coloured by {colour_by}" if colour_by else ""),
                      xaxis_title=feature, yaxis_title=f"contribution of {feature}", height=380,
                      margin=dict(l=10, r=10, t=40, b=40))
    return fig


def waterfall(exp: Explanation, row: int, k: int = 10) -> go.Figure:
    """How one row's prediction is built: the base value, then the largest contributions."""
    data, predictions = local_rows(exp)
    contributions = exp.row_values(np.array([row]))[0]
    base = float(exp.base_values()[row])
    order = np.argsort(-np.abs(contributions))
    shown, rest = order[:k], order[k:]
    labels = [f"{exp.features[j]} = {data[exp.features[j]].iloc[row]}" for j in shown]
    values = [float(contributions[j]) for j in shown]
    if len(rest):
        labels.append(f"{len(rest)} other features")
        values.append(float(contributions[rest].sum()))
    output = exp.outputs[int(exp.row_outputs()[row])]
    fig = go.Figure(go.Waterfall(
        orientation="h", measure=["absolute"] + ["relative"] * len(values) + ["total"],
        y=["base value"] + labels + [f"score of {output}"], x=[base] + values + [base + sum(values)],
        increasing=dict(marker_color=_RED), decreasing=dict(marker_color=_BLUE),
    ))
    fig.update_layout(title=f"Row {data.index[row]}: prediction {predictions[row]}",
                      xaxis_title=exp.output_space, yaxis=dict(autorange="reversed"),
                      height=max(300, 80 + _HEIGHT_PER_BAR * (len(values) + 2)), margin=dict(l=10, r=10, t=40, b=40))
    return fig


def cohort_bars(cohorts: dict[str, dict[str, float]], features: Sequence[str], axis: str) -> go.Figure:
    """Side-by-side importances of several cohorts for the same features."""
    order = list(features)[::-1]
    fig = go.Figure([go.Bar(name=name, x=[imp.get(f, 0.0) for f in order], y=order, orientation="h")
                     for name, imp in cohorts.items()])
    fig.update_layout(barmode="group", title="Cohort importance", xaxis_title=axis, legend_title="cohort",
                      height=max(300, 80 + 14 * len(order) * max(1, len(cohorts))), margin=dict(l=10, r=10, t=40, b=40))
    return fig
