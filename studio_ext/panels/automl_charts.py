"""Plotly figures of an AutoML run: best metric over time, and the best model's report charts.

Each function takes the result objects the AutoML service returns (an
:class:`~studio_ext.entities.AutoMLRun`, a classification or regression report)
and returns ``plotly.graph_objects.Figure`` objects for :func:`show_figures`.
"""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

__all__ = ["best_metric_over_time", "importance_figure", "report_figures"]

_HEIGHT = 320


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=_HEIGHT, margin=dict(l=50, r=20, t=40, b=40),
                      template="plotly_white")
    return fig


def best_metric_over_time(run: Any) -> go.Figure:
    """Each trial's score (dots) and the best so far (a step line) against seconds since the start."""
    trials = [t for t in run.trials if t.metric is not None and math.isfinite(t.metric) and t.end_time]
    fig = go.Figure()
    if trials:
        start = min(t.start_time or t.end_time for t in trials)
        ordered = sorted(trials, key=lambda t: t.end_time)
        xs = [t.end_time - start for t in ordered]
        fig.add_trace(go.Scatter(x=xs, y=[t.metric for t in ordered], mode="markers", name="trial",
                                 text=[f"{t.algorithm} (trial {t.trial})" for t in ordered], opacity=0.6))
        best, line = None, []
        for t in ordered:
            better = best is None or (t.metric > best if run.higher_is_better else t.metric < best)
            best = t.metric if better else best
            line.append(best)
        fig.add_trace(go.Scatter(x=xs, y=line, mode="lines", line_shape="hv", name="best so far"))
    return _layout(fig, f"Best {run.primary_metric} over time", "seconds", run.primary_metric)


def report_figures(report: Any) -> list[go.Figure]:
    """The studio's charts for the best model: classification or regression ones."""
    if report.task.value == "classification":
        return _classification(report)
    return _regression(report)


def _classification(report: Any) -> list[go.Figure]:
    cm = report.confusion_matrix
    confusion = go.Figure(go.Heatmap(z=cm.to_numpy(), x=list(cm.columns), y=list(cm.index), colorscale="Blues",
                                     text=cm.to_numpy(), texttemplate="%{text}", showscale=False))
    confusion.update_yaxes(autorange="reversed")
    figures = [_layout(confusion, "Confusion matrix", "predicted", "true")]
    roc = go.Figure()
    for name, curve in report.roc.items():
        roc.add_trace(go.Scatter(x=curve["fpr"], y=curve["tpr"], mode="lines", name=f"{name} (AUC {curve['auc']:.3f})"))
    roc.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="#999"), name="chance"))
    figures.append(_layout(roc, "ROC curve", "false positive rate", "true positive rate"))
    pr = go.Figure()
    for name, curve in report.precision_recall.items():
        pr.add_trace(go.Scatter(x=curve["recall"], y=curve["precision"], mode="lines",
                                name=f"{name} (AP {curve['average_precision']:.3f})"))
    figures.append(_layout(pr, "Precision-recall curve", "recall", "precision"))
    calibration = go.Figure()
    for name, curve in report.calibration.items():
        calibration.add_trace(go.Scatter(x=curve["mean_predicted"], y=curve["fraction_positive"],
                                         mode="lines+markers", name=name))
    calibration.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="#999"),
                                     name="perfectly calibrated"))
    figures.append(_layout(calibration, "Calibration curve", "mean predicted probability", "fraction of positives"))
    lift = go.Figure()
    for name, curve in report.lift.items():
        lift.add_trace(go.Scatter(x=curve["population"], y=curve["gain"], mode="lines+markers", name=f"{name} gain"))
    lift.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="#999"), name="random"))
    figures.append(_layout(lift, "Cumulative gains (lift)", "share of rows, by predicted probability",
                           "share of the class found"))
    return figures


def _regression(report: Any) -> list[go.Figure]:
    data = report.predicted_vs_true
    scatter = go.Figure()
    scatter.add_trace(go.Scatter(x=data["true"], y=data["mean_predicted"], mode="lines+markers", name="mean predicted",
                                 error_y=dict(type="data", symmetric=False,
                                              array=[h - m for h, m in zip(data["p90"], data["mean_predicted"])],
                                              arrayminus=[m - lo for lo, m in zip(data["p10"], data["mean_predicted"])])))
    scatter.add_trace(go.Scatter(x=data["ideal"], y=data["ideal"], mode="lines", line=dict(dash="dot", color="#999"),
                                 name="ideal"))
    histogram = report.residual_histogram
    edges = histogram["edges"]
    residuals = go.Figure(go.Bar(x=[(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])], y=histogram["counts"],
                                 width=[b - a for a, b in zip(edges[:-1], edges[1:])], name="rows"))
    return [_layout(scatter, "Predicted vs true", "true value", "predicted (10th-90th percentile)"),
            _layout(residuals, "Residuals histogram", "true − predicted", "rows")]


def importance_figure(explanation: list[dict[str, Any]], top: int = 15) -> go.Figure:
    rows = sorted(explanation, key=lambda r: r["importance"], reverse=True)[:top][::-1]
    fig = go.Figure(go.Bar(x=[r["importance"] for r in rows], y=[str(r["feature"]) for r in rows], orientation="h",
                           error_x=dict(type="data", array=[r.get("std", 0) for r in rows])))
    return _layout(fig, "Raw feature importance (permutation)", "drop in the primary metric", "")
