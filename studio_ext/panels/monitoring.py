"""The Monitoring page: dataset drift monitors, model monitor schedules, their results and alerts.

``MonitoringPanel(ws, monitor=None)`` follows Azure ML studio's Monitoring page:

- **Monitors**: every dataset monitor (``ws.data_drift``, v1's ``DataDriftDetector``) and model
  monitor (a ``MonitorSchedule`` of ``ws.schedules``) with its state, last run and the count of
  alerts not yet acknowledged; click one to open its page below.
- **Alerts**: the unacknowledged count as a badge (the sidebar shows it too), and the list:
  signal, feature, metric, value against threshold, window, the webhook's answer and the
  emails (kept, "not sent locally"); *Acknowledge* marks them seen.
- **A monitor's page**: the overall drift magnitude per window over time (plotly) with its
  threshold line, backfilled windows marked and windows without rows shown as "no data"
  (never as zero drift); per feature, its metric over time and the reference against the
  target distribution of the window clicked or picked (a model monitor's reference is the one its
  run compared with, the model's training data when the signal names none; a *Signal* picker
  when it has several drift signals); the data quality and feature
  attribution drift signals of a model monitor; actions *Backfill* (a date range, computed
  as a job with a progress bar), *Run now* (``ws.data_drift.run``: one run job, as the schedule's
  fire would make, followed by the progress bar) and *Enable*/*Disable*; and the monitor's SDK code
  and v2 YAML (collapsed).

Every read and write goes through ``ws.data_drift``, ``ws.schedules``, ``ws.data`` and ``ws.jobs``.
"""

from __future__ import annotations

import dataclasses
import html
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from studio_ext.entities._monitor import DataDriftMonitor, DriftWindowResult, MonitorAlert, MonitorSchedule
from studio_ext.entities._schedule import CronTrigger, RecurrenceTrigger
from studio_ext.errors import StudioError
from studio_ext.panels._format import format_date, format_number
from studio_ext.panels._table import Column, Row, Table
from studio_ext.panels._widgets import CodeBox, Message, SharedPoller, Subscription, badge, html_table, show_figures

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

__all__ = ["MonitoringPanel", "alerts_badge"]

_LABEL = {"description_width": "initial"}
_ENDED = ("Completed", "Failed", "Canceled", "NotResponding")
_STEP = {"Day": timedelta(days=1), "Week": timedelta(days=7), "Month": timedelta(days=31)}
SAMPLE_ROWS = 5000  # rows a side drawn in a distribution chart


def alerts_badge(count: int) -> str:
    """The unacknowledged-alerts pill: red with the count, grey "no alerts" at zero."""
    if count:
        return badge(f"{count} alert{'s' if count != 1 else ''}", "#a4262c")
    return badge("no alerts", "#6b6b6b")


@dataclass
class MonitorInfo:
    """One row of the monitor list: a dataset monitor or a model monitor, as the page shows it."""

    name: str
    kind: str  # "dataset" or "model"
    watches: str
    state: str
    last_run: str | None
    last_window: datetime | None
    alerts: int
    dataset: DataDriftMonitor | None = None
    schedule: MonitorSchedule | None = None
    signals: dict[str, str] = field(default_factory=dict)  # signal name -> type


def list_monitors(ws: Workspace) -> list[MonitorInfo]:
    """Every dataset monitor and every model monitor schedule of the workspace, by name."""
    found: list[MonitorInfo] = []
    for m in ws.data_drift.list():
        results = ws.data_drift.get_results(m.name)
        found.append(MonitorInfo(
            name=m.name, kind="dataset", watches=f"{m.target} against {m.baseline}", state=m.state,
            last_run=m.last_run_job, last_window=results[-1].start if results else None, alerts=m.alert_count,
            dataset=m))
    for s in ws.schedules.list(list_view_type="all"):
        if not isinstance(s, MonitorSchedule) or s.create_monitor is None:
            continue  # job schedules, and the schedules of dataset monitors (listed above)
        target = s.create_monitor.monitoring_target
        results = ws.data_drift.get_results(s.name)
        last = max(results, key=lambda r: r.start) if results else None
        found.append(MonitorInfo(
            name=s.name, kind="model", watches=(target.endpoint_deployment_id if target else None) or "",
            state="Enabled" if s.is_enabled else "Disabled", last_run=last.job_name if last else None,
            last_window=last.start if last else None, alerts=ws.data_drift.alert_count(s.name), schedule=s,
            signals={n: getattr(sig, "type", n) for n, sig in s.create_monitor.monitoring_signals.items()}))
    return sorted(found, key=lambda m: m.name)


# -- code of a monitor ---------------------------------------------------------------------------
def _code(value: Any) -> str:
    """Python that builds ``value`` (dataclasses as ``Class(field=...)`` with their non-default fields)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        args = []
        for f in dataclasses.fields(value):
            if not f.init:
                continue
            v = getattr(value, f.name)
            default = (f.default if f.default is not dataclasses.MISSING else
                       f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
            if v is None or (default is not dataclasses.MISSING and v == default):
                continue
            args.append(f"{f.name}={_code(v)}")
        return f"{type(value).__name__}({', '.join(args)})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_code(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_code(v) for v in value) + "]"
    return repr(getattr(value, "value", value))


def _imports(value: Any, names: set[str]) -> set[str]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names.add(type(value).__name__)
        for f in dataclasses.fields(value):
            if f.init:
                _imports(getattr(value, f.name), names)
    elif isinstance(value, dict):
        for v in value.values():
            _imports(v, names)
    elif isinstance(value, list | tuple):
        for v in value:
            _imports(v, names)
    return names


def sdk_code(info: MonitorInfo) -> str:
    """The SDK code that makes the monitor (as a notebook would write it)."""
    if info.dataset is not None:
        m = info.dataset
        args = [f"baseline={m.baseline!r}", f"target={m.target!r}", f"timestamp_column={m.timestamp_column!r}",
                f"frequency={m.frequency!r}", f"features={list(m.features)!r}",
                f"drift_threshold={format_number(m.drift_threshold)}"]
        if m.latency:
            args.append(f"latency={m.latency}")
        if m.alert_emails:
            args.append(f"alert_emails={list(m.alert_emails)!r}")
        if m.alert_webhook:
            args.append(f"alert_webhook={m.alert_webhook!r}")
        lines = [f"ws.data_drift.create({m.name!r}, " + ", ".join(args) + ")"]
        if m.state == "Enabled":
            lines.append(f"ws.data_drift.enable_schedule({m.name!r})")
        lines.append(f"results = ws.data_drift.get_results({m.name!r})")
        return "\n".join(lines)
    assert info.schedule is not None
    s = info.schedule
    shown = MonitorSchedule(name=s.name, trigger=s.trigger, create_monitor=s.create_monitor,
                            display_name=s.display_name, description=s.description, tags=s.tags)
    names = sorted(_imports(shown, set()))
    body = _code(shown).replace("create_monitor=", "\n    create_monitor=", 1)
    return (f"from studio_ext.entities import {', '.join(names)}\n\n"
            f"ws.schedules.begin_create_or_update({body}).result()")


def yaml_code(ws: Workspace, info: MonitorInfo) -> str:
    """The monitor's v2 YAML (``studio-ext schedule create --file``), or why there is none."""
    try:
        if info.schedule is not None:
            return ws.schedules.to_yaml(info.schedule)
        if info.dataset is not None and info.dataset.schedule_name:
            return ws.schedules.to_yaml(ws.schedules.get(info.dataset.schedule_name))
    except StudioError as exc:
        return f"# No YAML: {exc.message}"
    return ("# A dataset monitor (v1's DataDriftDetector) has no v2 YAML of its own; its schedule's\n"
            "# YAML shows here once the schedule is enabled.")


# -- charts --------------------------------------------------------------------------------------
def _hover_window(r: DriftWindowResult) -> str:
    return f"{format_date(r.start)} to {format_date(r.end)}"


def _x_range(results: list[DriftWindowResult]) -> list[datetime] | None:
    """The time axis over the windows' whole spans (one window alone would otherwise zoom to milliseconds)."""
    if not results:
        return None
    lo, hi = min(r.start for r in results), max(r.end for r in results)
    pad = (hi - lo) * 0.03
    return [lo - pad, hi + pad]


def magnitude_figure(results: list[DriftWindowResult], threshold: float | None, title: str,
                     no_threshold: str | None = None) -> Any:
    """Drift magnitude per window: scheduled and backfilled windows told apart, the threshold line,
    and each window without rows shaded and labelled "no data"."""
    import plotly.graph_objects as go

    fig = go.Figure()
    measured = [r for r in results if r.drift_magnitude is not None and not r.no_data]
    if measured:  # the line breaks at a window without rows: no drift is not zero drift
        fig.add_trace(go.Scatter(x=[r.start for r in results],
                                 y=[None if r.no_data else r.drift_magnitude for r in results], connectgaps=False,
                                 mode="lines", line={"color": "#9fb7d6"}, showlegend=False, hoverinfo="skip"))
    for backfill, name, colour, symbol in ((False, "scheduled run", "#0f6cbd", "circle"),
                                           (True, "backfilled", "#c36b00", "diamond")):
        chosen = [r for r in measured if r.backfill == backfill]
        if not chosen:
            continue
        fig.add_trace(go.Scatter(
            x=[r.start for r in chosen], y=[r.drift_magnitude for r in chosen], mode="markers", name=name,
            marker={"color": colour, "symbol": symbol, "size": 10},
            customdata=[[_hover_window(r), format_number(r.drift_magnitude), r.rows_target] for r in chosen],
            hovertemplate="%{customdata[0]}<br>drift magnitude %{customdata[1]}<br>%{customdata[2]} rows"
                          "<extra>" + name + "</extra>"))
    for r in results:
        if r.no_data:
            fig.add_vrect(x0=r.start, x1=r.end, fillcolor="#bbbbbb", opacity=0.25, line_width=0,
                          annotation_text="no data", annotation_position="top left",
                          annotation_font={"size": 10, "color": "#555"})
    if threshold is not None:
        fig.add_hline(y=threshold, line_dash="dash", line_color="#a4262c",
                      annotation_text=f"threshold {format_number(threshold)}", annotation_position="top right")
    elif no_threshold:  # said under the title, clear of the legend
        title = f"{title}<br><sup style='color:#555'>{no_threshold}</sup>"
    fig.update_layout(title=title, height=330, width=1100, margin={"t": 60, "b": 40, "l": 60, "r": 20},
                      yaxis={"title": "drift magnitude (0-100)", "range": [-4, 105]},
                      xaxis={"title": "window start", "range": _x_range(results)},
                      legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"}, clickmode="event")
    return fig


def feature_metric_figure(results: list[DriftWindowResult], feature: str, metric: str,
                          threshold: float | None) -> Any:
    import plotly.graph_objects as go

    # a window without rows stays a gap in the line (None), never a zero
    points = [(r, None if r.no_data else r.features.get(feature, {}).get(metric)) for r in results]
    fig = go.Figure(go.Scatter(
        x=[r.start for r, _ in points], y=[v for _, v in points], mode="lines+markers", name=metric,
        connectgaps=False,
        marker={"color": ["#c36b00" if r.backfill else "#0f6cbd" for r, _ in points], "size": 8},
        customdata=[[_hover_window(r), format_number(v) if v is not None else "no data"] for r, v in points],
        hovertemplate="%{customdata[0]}<br>%{customdata[1]}<extra></extra>"))
    if threshold is not None:
        fig.add_hline(y=threshold, line_dash="dash", line_color="#a4262c",
                      annotation_text=f"threshold {format_number(threshold)}", annotation_position="top right")
    fig.update_layout(title=f"{feature}: {metric.replace('_', ' ')} per window", height=300,
                      margin={"t": 50, "b": 40, "l": 60, "r": 20}, xaxis={"title": "window start", "range": _x_range(results)},
                      yaxis={"title": metric.replace("_", " ")}, showlegend=False)
    return fig


def distribution_figure(reference: Any, target: Any, feature: str, kind: str, window: str) -> Any:
    """Reference against target: overlaid histograms (numerical) or share per category (categorical)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if kind == "categorical":
        ref = reference.astype(str).value_counts(normalize=True)
        tgt = target.astype(str).value_counts(normalize=True)
        cats = list(ref.index.union(tgt.index))[:30]
        for name, shares, colour in (("reference", ref, "#8a8886"), ("target", tgt, "#0f6cbd")):
            values = [float(shares.get(c, 0.0)) for c in cats]
            fig.add_trace(go.Bar(x=cats, y=values, name=name, marker_color=colour,
                                 customdata=[format_number(v * 100) for v in values],
                                 hovertemplate="%{x}: %{customdata} %<extra>" + name + "</extra>"))
        fig.update_layout(barmode="group", yaxis={"title": "share of rows", "tickformat": ".0%"})
    else:
        import numpy as np

        both = np.concatenate([np.asarray(reference, dtype=float), np.asarray(target, dtype=float)])
        both = both[np.isfinite(both)]
        lo, hi = (float(both.min()), float(both.max())) if len(both) else (0.0, 1.0)
        size = (hi - lo) / 30 if hi > lo else 1.0
        bins = {"start": lo, "end": hi + size, "size": size}  # one set of edges for both sides
        for name, values, colour in (("reference", reference, "#8a8886"), ("target", target, "#0f6cbd")):
            fig.add_trace(go.Histogram(x=values, name=name, histnorm="probability", opacity=0.6, xbins=bins,
                                       autobinx=False, marker_color=colour))
        fig.update_layout(barmode="overlay", yaxis={"title": "share of rows", "tickformat": ".0%"},
                          xaxis={"title": feature})
    fig.update_layout(title=f"{feature}: reference against target, {window}", height=300,
                      margin={"t": 50, "b": 40, "l": 60, "r": 20},
                      legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"})
    return fig


# -- a monitor's page ----------------------------------------------------------------------------
class MonitorView(widgets.VBox):
    """One monitor: its header and actions, drift charts, feature drill-down, other signals, alerts and code."""

    def __init__(self, panel: MonitoringPanel, info: MonitorInfo) -> None:
        self.panel, self.ws, self.info = panel, panel.ws, info
        self.results: list[DriftWindowResult] = []
        self.drift_results: list[DriftWindowResult] = []
        self._frames: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._refreshing = False
        self._subscription: Subscription | None = None
        self.backfill_job: str | None = None
        self._ended = threading.Event()
        self._ended.set()
        self.header = widgets.HTML()
        # Actions
        today = datetime.now(UTC).date()
        self.start = widgets.DatePicker(description="From", value=today - timedelta(days=28), style=_LABEL,
                                        layout=widgets.Layout(width="210px"))
        self.end = widgets.DatePicker(description="To", value=today, style=_LABEL,
                                      layout=widgets.Layout(width="190px"))
        self.backfill_button = widgets.Button(description="Backfill", icon="history", button_style="primary",
                                              tooltip="Compute the windows of this date range as a job")
        self.run_button = widgets.Button(description="Run now", icon="play",
                                         tooltip="Run the monitor now, as a job, as its schedule would")
        self.toggle_button = widgets.Button(description="Enable", icon="toggle-on")
        self.backfill_button.on_click(lambda _: self.backfill())
        self.run_button.on_click(lambda _: self.run_now())
        self.toggle_button.on_click(lambda _: self.toggle())
        self.progress = widgets.IntProgress(value=0, min=0, max=1, bar_style="info",
                                            layout=widgets.Layout(width="260px", display="none"))
        self.progress_label = widgets.HTML()
        self.message = Message()
        self.range_box = widgets.HBox([self.start, self.end, self.backfill_button])
        actions = widgets.HBox([self.range_box, self.run_button, self.toggle_button],
                               layout=widgets.Layout(flex_flow="row wrap", gap="6px", align_items="center"))
        # Drift
        self.summary = widgets.HTML()
        self.magnitude_chart = widgets.Output()
        self.signal = widgets.Dropdown(description="Signal", options=[], style=_LABEL,
                                       layout=widgets.Layout(width="300px"))
        self.signal.observe(lambda _: self._on_signal(), "value")
        self.feature = widgets.Dropdown(description="Feature", options=[], style=_LABEL,
                                        layout=widgets.Layout(width="280px"))
        self.metric = widgets.Dropdown(description="Metric", options=[], style=_LABEL,
                                       layout=widgets.Layout(width="380px"))
        self.window = widgets.Dropdown(description="Window", options=[], style=_LABEL,
                                       layout=widgets.Layout(width="340px"))
        self.feature.observe(lambda _: self._on_feature(), "value")
        self.metric.observe(lambda _: self.show_feature(), "value")
        self.window.observe(lambda _: self.show_feature(), "value")
        self.feature_table = widgets.HTML()
        self.feature_charts = widgets.Output()
        self.magnitude_widget: Any = None
        drift_tab = widgets.VBox([self.signal, self.summary, self.magnitude_chart,
                                  widgets.HBox([self.feature, self.metric, self.window],
                                               layout=widgets.Layout(flex_flow="row wrap", gap="6px")),
                                  self.feature_table, self.feature_charts])
        self.quality = widgets.HTML()
        self.attribution = widgets.HTML()
        self.attribution_chart = widgets.Output()
        self.alerts = widgets.HTML()
        self.tabs = widgets.Tab(children=[drift_tab, widgets.VBox([self.quality]),
                                          widgets.VBox([self.attribution, self.attribution_chart]),
                                          widgets.VBox([self.alerts])])
        for i, title in enumerate(["Drift", "Data quality", "Feature attribution", "Alerts"]):
            self.tabs.set_title(i, title)
        self.sdk = CodeBox(title="SDK code of this monitor")
        self.yaml = CodeBox(title="YAML of this monitor")
        super().__init__([self.header, actions, widgets.HBox([self.progress, self.progress_label]), self.message,
                          self.tabs, self.sdk, self.yaml])
        self.refresh()

    # -- data --------------------------------------------------------------------------------------
    @property
    def threshold(self) -> float | None:
        return self.info.dataset.drift_threshold if self.info.dataset else None

    def _drift_signals(self) -> list[str]:
        """The signals the Drift tab can show: data drift first, then prediction drift."""
        if self.info.kind == "dataset":
            return ["data_drift"]
        order = {"data_drift": 0, "prediction_drift": 1}
        return sorted((n for n, t in self.info.signals.items() if t in order),
                      key=lambda n: (order[self.info.signals[n]], n))

    def _drift_signal(self) -> str | None:
        return self.signal.value or next(iter(self._drift_signals()), None)

    def _on_signal(self) -> None:
        if self._refreshing:
            return
        self.drift_results = [r for r in self.results if r.signal == self._drift_signal()]
        self._drift()

    def refresh(self) -> None:
        info = self.info
        self.results = self.ws.data_drift.get_results(info.name)
        names = self._drift_signals()
        keep = self.signal.value if self.signal.value in names else None
        self._refreshing = True
        try:
            self.signal.options = [(f"{n} ({info.signals.get(n, 'data_drift').replace('_', ' ')})", n) for n in names]
            self.signal.value = keep or (names[0] if names else None)
        finally:
            self._refreshing = False
        self.signal.layout.display = None if len(names) > 1 else "none"
        signal = self._drift_signal()
        self.drift_results = [r for r in self.results if r.signal == signal]
        self.toggle_button.description = "Disable" if info.state == "Enabled" else "Enable"
        self.toggle_button.icon = "toggle-off" if info.state == "Enabled" else "toggle-on"
        self.range_box.layout.display = None if info.kind == "dataset" else "none"
        self._header()
        self._drift()
        self._quality()
        self._attribution()
        self._alerts()
        self.sdk.show(sdk_code(info))
        self.yaml.show(yaml_code(self.ws, info))

    def _header(self) -> None:
        info = self.info
        state = badge(info.state, "#107c10" if info.state == "Enabled" else "#6b6b6b")
        if info.dataset is not None:
            m = info.dataset
            facts = [("Kind", "dataset monitor (ws.data_drift)"), ("Baseline", m.baseline), ("Target", m.target),
                     ("Timestamp column", m.timestamp_column), ("Frequency", m.frequency),
                     ("Features", ", ".join(m.features)), ("Drift threshold", format_number(m.drift_threshold)),
                     ("Emails", (", ".join(m.alert_emails) + " (not sent locally)") if m.alert_emails else "none"),
                     ("Webhook", m.alert_webhook or "none")]
        else:
            s = info.schedule
            assert s is not None and s.create_monitor is not None
            target = s.create_monitor.monitoring_target
            alert = s.create_monitor.alert_notification
            trigger = s.trigger
            every = (f"every {trigger.interval} {trigger.frequency}" if isinstance(trigger, RecurrenceTrigger) else
                     f"cron {trigger.expression}" if isinstance(trigger, CronTrigger) else "on demand")
            facts = [("Kind", "model monitor (MonitorSchedule)"),
                     ("Deployment", (target.endpoint_deployment_id if target else None) or "none"),
                     ("Task", (target.ml_task if target else None) or "not given"), ("Runs", every),
                     ("Signals", ", ".join(f"{n} ({t.replace('_', ' ')})" for n, t in info.signals.items())),
                     ("Emails", (", ".join(alert.emails) + " (not sent locally)") if alert and alert.emails
                      else "none"),
                     ("Webhook", (alert.webhook_url if alert else None) or "none")]
        facts.append(("Last run", info.last_run or "never"))
        cells = "".join(f"<div style='color:#555'>{html.escape(k)}</div><div>{html.escape(str(v))}</div>"
                        for k, v in facts)
        self.header.value = (
            f"<h3 style='margin:4px 0'>{html.escape(info.name)} {state} {alerts_badge(info.alerts)}</h3>"
            f"<div style='display:grid;grid-template-columns:140px 1fr 140px 1fr;gap:2px 10px;font-size:90%;"
            f"max-width:1100px'>{cells}</div>")

    def _drift(self) -> None:
        results = self.drift_results
        if not results:
            how = ("Backfill a date range above to compute past windows, or Run now." if self.info.kind == "dataset"
                   else "Run now computes the latest window; the schedule runs it at each slot.")
            self.summary.value = f"<div style='color:#555'>No results yet. {html.escape(how)}</div>"
            self.magnitude_chart.outputs = ()
            self.feature_charts.outputs = ()
            self.feature_table.value = ""
            for d in (self.feature, self.metric, self.window):
                d.options = []
            return
        measured = [r for r in results if r.drift_magnitude is not None]
        limit = self.threshold
        over = [r for r in measured if limit is not None and (r.drift_magnitude or 0.0) > limit]
        empty = [r for r in results if r.no_data]
        backfilled = sum(r.backfill for r in results)
        parts = [f"{len(results)} window(s)" + (f" ({backfilled} backfilled)" if backfilled else "")]
        if self.threshold is not None:
            parts.append(f"{len(over)} over the threshold {format_number(self.threshold)}")
        if empty:
            parts.append(f"{len(empty)} with no data")
        if measured:
            peak = max(measured, key=lambda r: r.drift_magnitude or 0.0)
            parts.append(f"highest drift magnitude {format_number(peak.drift_magnitude)} "
                         f"(window of {format_date(peak.start)})")
        self.summary.value = f"<div style='font-size:95%'>{html.escape('; '.join(parts))}.</div>"
        fig = magnitude_figure(results, self.threshold, f"{self.info.name}: drift magnitude per window",
                               None if self.info.kind == "dataset" else
                               "no magnitude threshold: a model monitor alerts per feature metric (chart below)")
        self.magnitude_figure = fig
        self._show_magnitude(fig)
        features = sorted({f for r in results for f in r.features})
        keep = self.feature.value if self.feature.value in features else None
        self.feature.options = features
        self.feature.value = keep or (features[0] if features else None)
        windows = [(f"{format_date(r.start)} to {format_date(r.end)}" + (" (no data)" if r.no_data else ""),
                    r.start.isoformat()) for r in results]
        current = self.window.value
        self.window.options = windows
        values = [v for _, v in windows]
        peak_window = max(measured, key=lambda r: r.drift_magnitude or 0.0).start.isoformat() if measured else None
        self.window.value = current if current in values else (peak_window or values[-1])
        self.show_feature()

    def _show_magnitude(self, fig: Any) -> None:
        """The magnitude chart as a live plotly FigureWidget when it can be (a click picks the window)."""
        try:
            import plotly.graph_objects as go

            live = go.FigureWidget(fig)
        except Exception:  # noqa: BLE001 - anywidget missing: the chart still shows, the dropdown picks
            show_figures(self.magnitude_chart, [fig])
            return
        for trace in live.data:
            if getattr(trace, "mode", "") == "markers":
                trace.on_click(self._on_point)
        self.magnitude_widget = live
        self.magnitude_chart.outputs = ()
        with self.magnitude_chart:
            from IPython.display import display

            display(live)

    def _on_point(self, trace: Any, points: Any, _state: Any) -> None:
        if not points.point_inds:
            return
        x = trace.x[points.point_inds[0]]
        stamp = x if isinstance(x, datetime) else datetime.fromisoformat(str(x))
        for r in self.drift_results:
            if abs((r.start - stamp.replace(tzinfo=stamp.tzinfo or UTC)).total_seconds()) < 1:
                self.window.value = r.start.isoformat()
                return

    def _on_feature(self) -> None:
        feature = self.feature.value
        metrics = sorted({m for r in self.drift_results for m in r.features.get(feature or "", {})
                          if not m.endswith("_p_value")})
        kind = next((r.feature_kinds.get(feature) for r in self.drift_results if feature in r.feature_kinds), None)
        preferred = {"numerical": "normalized_wasserstein_distance", "categorical": "jensen_shannon_distance"}
        configured = [m for m in self._configured_metrics(kind or "") if m in metrics]
        options = [(m.replace("_", " "), m) for m in metrics]
        self.metric.options = options
        # the metric the signal holds the feature's kind to (else Azure's default one): the one with a threshold line
        self.metric.value = (configured[0] if configured else preferred.get(kind or "")
                             if preferred.get(kind or "") in metrics else (metrics[0] if metrics else None))
        self.show_feature()

    def show_feature(self) -> None:
        """The chosen feature: its metric per window and the reference against target of the chosen window."""
        feature, metric, when = self.feature.value, self.metric.value, self.window.value
        if not feature or not metric or not when:
            return
        result = next((r for r in self.drift_results if r.start.isoformat() == when), None)
        kind = next((r.feature_kinds[feature] for r in self.drift_results if feature in r.feature_kinds),
                    "numerical")
        figures = [feature_metric_figure(self.drift_results, feature, metric, self._metric_threshold(kind, metric))]
        if result is not None:
            rows = [(name, kind_, *(values.get(m) for m in ("jensen_shannon_distance",
                                                              "normalized_wasserstein_distance",
                                                              "population_stability_index")),
                     ", ".join(m.replace("_", " ") for m in result.extra.get("feature_alerts", {}).get(name, [])))
                    for name, values in sorted(result.features.items())
                    for kind_ in [result.feature_kinds.get(name, "")]]
            notes = "".join(f"<div style='color:#8a5300;font-size:90%'>{html.escape(w)}</div>"
                            for w in [*result.warnings, *(f"{c} skipped: {why}" for c, why in result.skipped.items())])
            self.feature_table.value = (
                f"<div style='margin-top:6px'><b>Window {html.escape(_hover_window(result))}</b>: "
                f"{result.rows_target} target rows against {result.rows_reference} reference rows"
                + (", <b>no data</b>" if result.no_data else
                   f", drift magnitude {format_number(result.drift_magnitude)}" if result.drift_magnitude is not None
                   else "") + "</div>" + notes
                + html_table(["Feature", "Kind", "Jensen-Shannon", "Wasserstein (normalized)", "PSI", "Over threshold"],
                             rows, empty="No features were compared in this window."))
            if not result.no_data:
                try:
                    ref, tgt = self._sides(result, feature)
                except StudioError as exc:
                    self.message.info(f"The distributions cannot be drawn: {exc.message}")
                else:
                    if ref is not None and tgt is not None:
                        figures.append(distribution_figure(ref, tgt, feature, kind, _hover_window(result)))
        self.feature_figures = figures
        show_figures(self.feature_charts, figures)

    def _configured_metrics(self, kind: str) -> list[str]:
        """The metrics the drift signal shown sets a threshold on for ``kind`` features, in its order."""
        if self.info.schedule is None or self.info.schedule.create_monitor is None:
            return []
        signal = self.info.schedule.create_monitor.monitoring_signals.get(self._drift_signal() or "")
        side = getattr(getattr(signal, "metric_thresholds", None), kind, None)
        if side is None:
            return []
        return [name for name, value in vars(side).items() if value is not None]

    def _metric_threshold(self, kind: str, metric: str) -> float | None:
        """The threshold the feature's metric is held to (the signal's own, else Azure's default)."""
        if self.info.schedule is not None and self.info.schedule.create_monitor is not None:
            signal = self.info.schedule.create_monitor.monitoring_signals.get(self._drift_signal() or "")
            limits = getattr(signal, "metric_thresholds", None)
            side = getattr(limits, kind, None) if limits else None
            if side is not None:
                value = getattr(side, metric, None)
                return float(value) if value is not None else None
        from studio_ext.ml.drift import DEFAULT_THRESHOLDS

        value = DEFAULT_THRESHOLDS.get(kind, {}).get(metric)
        return float(value) if value is not None else None

    def _sides(self, result: DriftWindowResult, feature: str) -> tuple[Any, Any]:
        """The feature's reference values and its target values in the window (sampled), read by the service:
        a model monitor's reference is the one its run compared with (given, or found through the model's
        lineage)."""
        key = (result.signal, result.start.isoformat(), feature)
        if key not in self._frames:
            self._frames[key] = self.ws.data_drift.window_values(self.info.name, result.start, feature,
                                                                 signal=result.signal, rows=SAMPLE_ROWS)
        reference, target = self._frames[key]
        return reference, target

    def _quality(self) -> None:
        names = [n for n, t in self.info.signals.items() if t == "data_quality"]
        if not names:
            self.quality.value = ("<div style='color:#555'>This monitor has no data quality signal. A model monitor "
                                  "measures null values, type errors and out-of-range values per feature with "
                                  "<code>DataQualitySignal()</code>.</div>")
            return
        parts = []
        for name in names:
            latest = [r for r in self.results if r.signal == name]
            if not latest:
                parts.append(f"<div><b>{html.escape(name)}</b>: not run yet.</div>")
                continue
            r = latest[-1]
            rows = [(feature, r.feature_kinds.get(feature, ""), *(values.get(m) for m in (
                "null_value_rate", "data_type_error_rate", "out_of_bounds_rate")))
                for feature, values in sorted(r.features.items())]
            notes = "".join(f"<div style='color:#8a5300;font-size:90%'>{html.escape(w)}</div>" for w in r.warnings)
            parts.append(f"<div style='margin-top:6px'><b>{html.escape(name)}</b>, window "
                         f"{html.escape(_hover_window(r))} ({r.rows_target} rows)</div>{notes}"
                         + html_table(["Feature", "Kind", "Null value rate", "Data type error rate",
                                       "Out of bounds rate"], rows, empty="No rows to measure in this window."))
        self.quality.value = "".join(parts)

    def _attribution(self) -> None:
        names = [n for n, t in self.info.signals.items() if t == "feature_attribution_drift"]
        if not names:
            self.attribution.value = (
                "<div style='color:#555'>This monitor has no feature attribution drift signal. A model monitor "
                "compares the deployed model's feature importance on reference and production data with "
                "<code>FeatureAttributionDriftSignal()</code>.</div>")
            self.attribution_chart.outputs = ()
            return
        import plotly.graph_objects as go

        parts, figures = [], []
        for name in names:
            runs = [r for r in self.results if r.signal == name]
            if not runs:
                parts.append(f"<div><b>{html.escape(name)}</b>: not run yet.</div>")
                continue
            r = runs[-1]
            ndcg = r.extra.get("normalized_discounted_cumulative_gain")
            notes = "".join(f"<div style='color:#8a5300;font-size:90%'>{html.escape(w)}</div>" for w in r.warnings)
            parts.append(f"<div style='margin-top:6px'><b>{html.escape(name)}</b>, window "
                         f"{html.escape(_hover_window(r))}: normalized discounted cumulative gain "
                         f"{format_number(ndcg) if ndcg is not None else 'not measured'}</div>{notes}")
            if r.features:
                feats = sorted(r.features, key=lambda f: -abs(r.features[f].get("reference_importance", 0.0)))
                fig = go.Figure([go.Bar(name=side, x=feats, marker_color=colour,
                                        y=[r.features[f].get(f"{side}_importance", 0.0) for f in feats])
                                 for side, colour in (("reference", "#8a8886"), ("production", "#0f6cbd"))])
                fig.update_layout(barmode="group", height=300, title=f"{name}: global importance (SHAP)",
                                  margin={"t": 50, "b": 40, "l": 60, "r": 20}, yaxis={"title": "mean |SHAP|"})
                figures.append(fig)
        self.attribution.value = "".join(parts)
        show_figures(self.attribution_chart, figures)

    def _alerts(self) -> None:
        alerts = self.ws.data_drift.list_alerts(self.info.name)
        self.alerts.value = alerts_table(alerts, silent_signals([self.info]))

    # -- actions -----------------------------------------------------------------------------------
    def backfill(self) -> Any:
        """Backfill the chosen date range as a job; the progress bar follows its windows."""
        self.message.clear()
        start, end = self.start.value, self.end.value
        if not isinstance(start, date) or not isinstance(end, date):
            self.message.error("Pick the first and the last day of the range to backfill.")
            return None
        begin = datetime.combine(start, time(), UTC)
        finish = datetime.combine(end, time(), UTC) + timedelta(days=1)
        try:
            job = self.ws.data_drift.backfill(self.info.name, begin, finish)
        except StudioError as exc:
            self.message.error(exc.message)
            return None
        step = _STEP.get(self.info.dataset.frequency if self.info.dataset else "Day", timedelta(days=7))
        expected = max(1, -(-(finish - begin) // step))
        self.panel.code.show(f"job = ws.data_drift.backfill({self.info.name!r}, {start.isoformat()!r}, "
                             f"{(end + timedelta(days=1)).isoformat()!r})\n"
                             f"results = ws.data_drift.get_results({self.info.name!r})")
        self._follow(str(job.name), expected, f"Backfill {start:%Y-%m-%d} to {end:%Y-%m-%d}")
        return job

    def run_now(self) -> Any:
        """Run the monitor now as a job, as a fire of its schedule would (``ws.data_drift.run``): a dataset
        monitor's latest whole window, a model monitor's look-back windows up to now."""
        self.message.clear()
        try:
            job = self.ws.data_drift.run(self.info.name)
        except StudioError as exc:
            self.message.error(exc.message)
            return None
        self.panel.code.show(f"job = ws.data_drift.run({self.info.name!r})\n"
                             f"results = ws.data_drift.get_results({self.info.name!r})")
        self._follow(str(job.name), 1, "Run now")
        return job

    def toggle(self) -> None:
        self.message.clear()
        name, enabled = self.info.name, self.info.state == "Enabled"
        try:
            if self.info.dataset is not None:
                (self.ws.data_drift.disable_schedule if enabled else self.ws.data_drift.enable_schedule)(name)
                code = f"ws.data_drift.{'disable' if enabled else 'enable'}_schedule({name!r})"
            else:
                (self.ws.schedules.begin_disable if enabled else self.ws.schedules.begin_enable)(name).result()
                code = f"ws.schedules.begin_{'disable' if enabled else 'enable'}({name!r}).result()"
        except StudioError as exc:
            self.message.error(exc.message)
            return
        self.panel.code.show(code)
        self.message.info(f"{name} is {'disabled' if enabled else 'enabled'}.")
        self.panel.refresh(select=name)

    # -- progress ----------------------------------------------------------------------------------
    def _follow(self, job_name: str, expected: int, what: str) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
        self.backfill_job = job_name
        self.progress.max, self.progress.value = expected, 0
        self.progress.bar_style = "info"
        self.progress.layout.display = None
        self.progress_label.value = f"{html.escape(what)}: job {html.escape(job_name)} queued"
        self.backfill_button.disabled = self.run_button.disabled = True
        self._ended.clear()
        name = self.info.name

        def fetch() -> tuple[str, int]:
            status = str(self.ws.jobs.get(job_name).status)
            done = sum(r.job_name == job_name for r in self.ws.data_drift.get_results(name))
            return status, done

        def update(result: Any, error: BaseException | None) -> bool:
            if error is not None:
                self.progress_label.value = html.escape(f"{what}: {error}")
                self.backfill_button.disabled = self.run_button.disabled = False
                self._subscription = None
                self._ended.set()
                return False
            status, done = result
            signals = max(1, len(self.info.signals) if self.info.kind == "model" else 1)
            windows = -(-done // signals)
            self.progress.max = max(self.progress.max, windows)
            self.progress.value = windows
            self.progress_label.value = (f"{html.escape(what)}: job {html.escape(job_name)} {html.escape(status)}, "
                                         f"{windows} of {self.progress.max} window(s)")
            if status in _ENDED:
                self.progress.value = self.progress.max if status == "Completed" else windows
                self.progress.bar_style = "success" if status == "Completed" else "danger"
                self.backfill_button.disabled = self.run_button.disabled = False
                try:
                    self.panel.refresh(select=name)
                    if status != "Completed":
                        self.message.error(f"The job {job_name} ended {status}: open it on the Jobs page for its log.")
                finally:
                    self._subscription = None
                    self._ended.set()
                return False
            return True

        self._subscription = SharedPoller.for_workspace(self.ws, 1.0).subscribe(
            ("monitor-run", job_name, id(self)), fetch, update)

    def wait(self, timeout: float = 300.0) -> None:
        """Block until the followed job has ended and the page shows it (for tests and scripts)."""
        self._ended.wait(timeout)

    def close(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
        super().close()


def alerts_table(alerts: list[MonitorAlert], silent: set[tuple[str, str]] | None = None) -> str:
    """The alerts as a table: what went over which threshold, when, and how it was notified. ``silent``: the
    (monitor, signal) pairs whose signal has ``alert_enabled: false`` (recorded, no email)."""
    rows = []
    for a in alerts:
        window = f"{format_date(a.window_start)} to {format_date(a.window_end)}" if a.window_start else ""
        value = f"{format_number(a.value)} vs {format_number(a.threshold)}"
        webhook = a.webhook_status or ("none" if not a.webhook_url else "pending")
        emails = (f"{', '.join(a.emails)}: {a.email_status or 'not sent locally'}" if a.emails else
                  "off (alert_enabled: false)" if (a.monitor, a.signal) in (silent or set())
                  else "none")
        seen = badge("new", "#a4262c") if not a.acknowledged else badge("seen", "#6b6b6b")
        rows.append((seen, a.monitor, a.signal, a.feature or "(all)", a.metric.replace("_", " "), value, window,
                     webhook, emails, format_date(a.created_at)))
    return html_table(["", "Monitor", "Signal", "Feature", "Metric", "Value vs threshold", "Window", "Webhook",
                       "Emails", "Raised"], rows, raw_columns=(0,), empty="No alerts raised.")


def silent_signals(infos: list[MonitorInfo]) -> set[tuple[str, str]]:
    """(monitor, signal) of the model monitors' signals with ``alert_enabled`` false."""
    return {(i.name, n) for i in infos if i.schedule is not None and i.schedule.create_monitor is not None
            for n, sig in i.schedule.create_monitor.monitoring_signals.items() if not getattr(sig, "alert_enabled", True)}


# -- the page ------------------------------------------------------------------------------------
class MonitoringPanel(widgets.VBox):
    """``MonitoringPanel(ws, monitor=None)``: monitors, alerts, and a monitor's page (module docstring)."""

    def __init__(self, ws: Workspace, monitor: str | None = None, **_: Any) -> None:
        super().__init__()
        self.ws = ws
        self.code = CodeBox()
        self.message = Message()
        self.monitors: list[MonitorInfo] = []
        self.view: MonitorView | None = None
        self.badge = widgets.HTML()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.table = Table([Column("name", "Name", link=True), Column("kind", "Kind"), Column("watches", "Watches"),
                            Column("state", "State", kind="html"), Column("last_window", "Last window", kind="date"),
                            Column("last_run", "Last run job", kind="id"), Column("alerts", "Alerts", kind="html")],
                           on_open=self.open_monitor, selectable=False, max_height="260px",
                           empty="No monitors yet. Make one with ws.data_drift.create(...) (a dataset monitor) or "
                                 "ws.schedules.begin_create_or_update(MonitorSchedule(...)) (a model monitor).")
        self.alerts = widgets.HTML()
        self.acknowledge_button = widgets.Button(description="Acknowledge all", icon="check",
                                                 tooltip="Mark every alert seen (the badge counts unseen ones)")
        self.acknowledge_button.on_click(lambda _: self.acknowledge())
        self.tabs = widgets.Tab(children=[widgets.VBox([self.table]),
                                          widgets.VBox([self.acknowledge_button, self.alerts])])
        self.tabs.set_title(0, "Monitors")
        self.tabs.set_title(1, "Alerts")
        self.monitor_area = widgets.VBox()
        self.children = [
            widgets.HBox([widgets.HTML("<h2 style='margin:4px 12px 4px 0'>Monitoring</h2>"), self.badge,
                          self.refresh_button], layout=widgets.Layout(align_items="center", gap="8px")),
            self.message, self.tabs, self.monitor_area, self.code]
        self.refresh(select=monitor)

    @property
    def alert_count(self) -> int:
        return self.ws.data_drift.alert_count()

    def refresh(self, select: str | None = None) -> None:
        try:
            self.monitors = list_monitors(self.ws)
            count = self.alert_count
            alerts = self.ws.data_drift.list_alerts()
        except StudioError as exc:
            self.message.error(exc.message)
            return
        self.badge.value = alerts_badge(count)
        self.tabs.set_title(1, f"Alerts ({count})" if count else "Alerts")
        self.alerts.value = alerts_table(alerts, silent_signals(self.monitors))
        self.acknowledge_button.disabled = count == 0
        self.table.set_rows(Row(key=m.name, values={
            "name": m.name, "kind": "dataset" if m.kind == "dataset" else "model", "watches": m.watches,
            "state": m.state, "last_window": m.last_window, "last_run": m.last_run or "never", "alerts": m.alerts},
            html={"state": badge(m.state, "#107c10" if m.state == "Enabled" else "#6b6b6b"),
                  "alerts": alerts_badge(m.alerts) if m.alerts else "0"}) for m in self.monitors)
        name = select or (self.view.info.name if self.view is not None else None)
        if name and any(m.name == name for m in self.monitors):
            self.open_monitor(name)
        elif select:
            known = ", ".join(m.name for m in self.monitors) or "none"
            self.message.error(f"There is no monitor named {select!r}. Monitors here: {known}.")

    def open_monitor(self, name: str) -> MonitorView:
        info = next(m for m in self.monitors if m.name == name)
        if self.view is not None and self.view.info.name == name:
            self.view.info = info
            self.view.refresh()
            return self.view
        if self.view is not None:
            self.view.close()
        self.view = MonitorView(self, info)
        self.monitor_area.children = [self.view]
        self.code.show(f"ws.data_drift.get_results({name!r})\nws.data_drift.list_alerts({name!r})")
        return self.view

    def acknowledge(self) -> int:
        changed = self.ws.data_drift.acknowledge_alerts()
        self.code.show("ws.data_drift.acknowledge_alerts()")
        self.message.info(f"{changed} alert(s) marked seen.")
        self.refresh()
        return changed

