"""A run's page: overview, metric charts, params and tags, live log, artifacts, child runs, lineage.

``RunDetails(ws, name)`` works alone in a cell or inside the run explorer. While the
job runs, the page follows it through the workspace's :class:`SharedPoller` (no
blocking, one store read per tick however many pages show the same run) and stops
following when the job ends. Every tab shows the Python that gives the same view.
"""

from __future__ import annotations

import base64
import html
import io
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import traitlets

from studio_ext.entities import TERMINAL_STATES
from studio_ext.entities._run import LogTail, MetricHistory, RunSummary
from studio_ext.errors import StudioError
from studio_ext.panels._widgets import (
    CodeBox,
    Message,
    SharedPoller,
    Subscription,
    format_duration,
    format_value,
    html_table,
    show_figures,
    status_badge,
)

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

TABS = ("Overview", "Metrics", "Params & tags", "Logs", "Outputs + logs", "Child runs", "Lineage")
PREVIEW_BYTES = 2_000_000
DOWNLOAD_LINK_BYTES = 20_000_000
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/svg+xml": "svg+xml"}


@dataclass
class RunSnapshot:
    """What one live-refresh tick reads for a run page (shared by every page on that run)."""

    summary: RunSummary
    log: LogTail
    histories: dict[str, MetricHistory]


def fetch_snapshot(ws: Workspace, name: str, max_points: int) -> RunSnapshot:
    summary = ws.jobs.run_summary(name)
    histories = {}
    for key in sorted(summary.metrics):
        try:
            histories[key] = ws.jobs.get_metric_history(name, key, max_points=max_points)
        except StudioError:  # a metric deleted meanwhile: the others still draw
            continue
    return RunSnapshot(summary=summary, log=ws.jobs.tail_log(name), histories=histories)


def smooth(values: list[float], weight: float) -> list[float]:
    """Exponential moving average with TensorBoard's debiasing (weight 0 = raw values)."""
    if weight <= 0 or not values:
        return list(values)
    out, last, count = [], 0.0, 0
    for v in values:
        count += 1
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight ** count))
    return out


class RunDetails(widgets.VBox):
    """The page of one job or MLflow run. ``RunDetails(ws, "job-name")`` in a cell shows it."""

    status = traitlets.Unicode("").tag(sync=False)
    live = traitlets.Bool(False).tag(sync=False)

    def __init__(self, ws: Workspace, name: str, *, poll_interval: float = 2.0, max_points: int = 1000) -> None:
        self.ws = ws
        self.name = name
        self.max_points = max_points
        self.poll_interval = poll_interval
        self.figures: dict[str, go.Figure] = {}
        self.histories: dict[str, MetricHistory] = {}
        self.artifact_folder = ""
        self._listing = False
        self.updates = 0
        self.resubmitted: str | None = None
        self._subscription: Subscription | None = None
        self._lock = threading.RLock()
        self.summary: RunSummary = ws.jobs.run_summary(name)  # NotFound for a wrong name, before any widget
        self.job = ws.jobs.get(name)

        self.header = widgets.HTML()
        self.message = Message()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop",
                                            tooltip="Cancel this job (offered while it is queued or running)")
        self.archive_button = widgets.Button(description="Archive", icon="archive")
        self.resubmit_button = widgets.Button(description="Re-submit…", icon="repeat")
        self.tag_key = widgets.Text(placeholder="tag", layout=widgets.Layout(width="140px"))
        self.tag_value = widgets.Text(placeholder="value", layout=widgets.Layout(width="160px"))
        self.tag_button = widgets.Button(description="Set tag", icon="tag")
        self.untag_button = widgets.Button(description="Remove tag")
        # Tabs
        self.overview = widgets.HTML()
        self.smoothing = widgets.FloatSlider(value=0.0, min=0.0, max=0.99, step=0.01, description="Smoothing",
                                             continuous_update=False, style={"description_width": "initial"})
        self.log_scale = widgets.Checkbox(value=False, description="Log scale")
        self.charts = widgets.Output()
        self.scalars = widgets.HTML()
        self.params_tags = widgets.HTML()
        self.log_view = widgets.HTML()
        self.log_message = Message()
        self.artifact_location = widgets.HTML()
        self.artifact_list = widgets.Select(options=[], rows=8, layout=widgets.Layout(width="360px"))
        self.artifact_up = widgets.Button(description="Up", icon="level-up", layout=widgets.Layout(width="70px"))
        self.artifact_preview = widgets.VBox()
        self.artifact_message = Message()
        self.children_view = widgets.HTML()
        self.lineage_view = widgets.HTML()
        self.resubmit_inputs: dict[str, widgets.Text] = {}
        self.resubmit_submit = widgets.Button(description="Submit", button_style="primary")
        self.resubmit_box = widgets.VBox(layout=widgets.Layout(display="none"))
        self.code = CodeBox()
        self.tabs = widgets.Tab(children=[
            self.overview,
            widgets.VBox([widgets.HBox([self.smoothing, self.log_scale]), self.charts, self.scalars]),
            self.params_tags,
            widgets.VBox([self.log_message, self.log_view]),
            widgets.VBox([self.artifact_location, widgets.HBox([self.artifact_list, self.artifact_up]),
                          self.artifact_message, self.artifact_preview]),
            self.children_view,
            self.lineage_view,
        ])
        for i, title in enumerate(TABS):
            self.tabs.set_title(i, title)
        super().__init__(children=[
            self.header,
            widgets.HBox([self.refresh_button, self.cancel_button, self.archive_button, self.resubmit_button]),
            widgets.HBox([self.tag_key, self.tag_value, self.tag_button, self.untag_button]),
            self.resubmit_box, self.message, self.tabs, self.code,
        ])
        self.refresh_button.on_click(lambda _: self.refresh())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.archive_button.on_click(lambda _: self.toggle_archive())
        self.resubmit_button.on_click(lambda _: self.open_resubmit())
        self.resubmit_submit.on_click(lambda _: self.submit_resubmit())
        self.tag_button.on_click(lambda _: self.set_tag())
        self.untag_button.on_click(lambda _: self.remove_tag())
        self.smoothing.observe(lambda _: self._draw_charts(), "value")
        self.log_scale.observe(lambda _: self._draw_charts(), "value")
        self.artifact_list.observe(self._on_artifact_selected, "value")
        self.artifact_up.on_click(lambda _: self.browse(self.artifact_folder.rpartition("/")[0]))
        self.tabs.observe(lambda _: self._show_tab_code(), "selected_index")
        self.refresh()
        self._follow_if_active()

    def show(self) -> None:
        """Display the page in the current cell, as azureml-widgets' ``RunDetails(run).show()`` does."""
        from IPython.display import display

        display(self)

    # -- reading ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read everything again (the live refresh only re-reads what changes while running)."""
        try:
            snapshot = fetch_snapshot(self.ws, self.name, self.max_points)
            self.job = self.ws.jobs.get(self.name)
        except StudioError as exc:
            self.message.error(str(exc))
            return
        self._apply(snapshot)
        self._render_overview()
        self._render_children()
        self._render_lineage()
        self.browse(self.artifact_folder)
        self._show_tab_code()

    def _apply(self, snap: RunSnapshot) -> None:
        with self._lock:
            self.summary = snap.summary
            self.histories = snap.histories
            self._render_header()
            self._render_overview()
            self._render_params()
            self._render_log(snap.log)
            self._draw_charts()
            self._update_buttons()
            if snap.summary.status in TERMINAL_STATES and self.message.kind == "info" \
                    and self.message.text.startswith("Canceling"):
                self.message.clear()  # the status badge says how it ended
            # Last, so whoever watches ``status`` sees a page already drawn for it.
            self.updates += 1
            self.status = snap.summary.status.value

    def _follow_if_active(self) -> None:
        if self.summary.status in TERMINAL_STATES or self._subscription is not None:
            return
        poller = SharedPoller.for_workspace(self.ws, self.poll_interval)
        key = ("run", self.name, self.max_points)
        self._subscription = poller.subscribe(key, lambda: fetch_snapshot(self.ws, self.name, self.max_points),
                                              self._on_live)
        self.live = True

    def _on_live(self, snap: RunSnapshot | None, error: BaseException | None) -> bool:
        if error is not None or snap is None:
            self.message.error(f"Live refresh failed: {error}")
            return True
        ended = snap.summary.status in TERMINAL_STATES
        if ended:
            self.live = False  # the header drawn next says so
        self._apply(snap)
        if ended:
            self.refresh()  # the final state: artifacts and logs are stored now
            self._subscription = None  # last: whoever waits for it sees the final page
            return False
        return True

    def close(self) -> None:
        self.stop_following()
        super().close()

    def stop_following(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        self.live = False

    # -- rendering ---------------------------------------------------------------------------------
    def _render_header(self) -> None:
        s = self.summary
        title = html.escape(s.display_name or s.name)
        archived = " <span style='color:#a4262c'>(archived)</span>" if s.archived else ""
        live = " <span style='color:#0078d4;font-size:85%'>● live</span>" if self.live else ""
        self.header.value = (f"<h3 style='margin:4px 0'>{title} {status_badge(s.status)}{archived}{live}</h3>"
                             f"<div style='color:#666;font-size:85%'>{html.escape(s.name)} · experiment "
                             f"{html.escape(s.experiment_name or '')}</div>")

    def _render_overview(self) -> None:
        s, job = self.summary, self.job
        rows: list[tuple[str, Any]] = [
            ("Status", status_badge(s.status)), ("Name", html.escape(s.name)),
            ("Display name", html.escape(s.display_name or "")),
            ("Experiment", html.escape(s.experiment_name or "")), ("Compute", html.escape(s.compute or "")),
            ("Type", html.escape(s.job_type or "")), ("Created", format_value(job.creation_time)),
            ("Started", format_value(s.start_time)), ("Ended", format_value(s.end_time)),
            ("Duration", format_duration(s.duration_seconds)), ("MLflow run id", html.escape(s.run_id)),
        ]
        if s.parent_run_id:
            rows.append(("Parent run", html.escape(s.parent_run_id)))
        command = getattr(job, "command", None)
        if command:
            rows.append(("Command", f"<code>{html.escape(command)}</code>"))
            rows.append(("Code", html.escape(getattr(job, "code", None) or "")))
            rows.append(("Environment", html.escape(getattr(job, "environment", None) or "current interpreter")))
            inputs = getattr(job, "inputs", {}) or {}
            rows.append(("Inputs", "<br>".join(
                f"{html.escape(k)} = {html.escape(_input_text(v))}" for k, v in inputs.items()) or "none"))
            outputs = getattr(job, "outputs", {}) or {}
            rows.append(("Outputs", html.escape(", ".join(outputs)) or "none"))
        if job.error:
            rows.append(("Error", f"<pre style='color:#a4262c;white-space:pre-wrap'>{html.escape(job.error)}</pre>"))
        self.overview.value = html_table(["", ""], rows, raw_columns=[1])

    def _render_params(self) -> None:
        s = self.summary
        params = html_table(["Param", "Value"], sorted(s.params.items()), empty="No params logged.")
        tags = html_table(["Tag", "Value"], sorted(s.tags.items()), empty="No tags.")
        self.params_tags.value = f"<b>Params</b>{params}<b>Tags</b>{tags}"

    def _render_log(self, log: LogTail) -> None:
        if log.missing:
            self.log_message.error(log.message or "There is no log.")
            self.log_view.value = ""
            return
        if log.message:
            self.log_message.info(log.message)
        elif log.truncated:
            self.log_message.info(f"Showing the last {len(log.text):,} of {log.size:,} bytes.")
        else:
            self.log_message.clear()
        self.log_view.value = (f"<pre style='max-height:400px;overflow:auto;background:#1e1e1e;color:#ddd;"
                               f"padding:6px;font-size:80%'>{html.escape(log.text)}</pre>")

    def _draw_charts(self) -> None:
        with self._lock:
            figures = {}
            weight = float(self.smoothing.value)
            for key, h in sorted(self.histories.items()):
                if h.total_points - h.non_finite_points <= 1:
                    continue
                fig = go.Figure()
                if weight > 0:
                    fig.add_scatter(x=h.steps, y=h.values, mode="lines", name="raw", opacity=0.3)
                    fig.add_scatter(x=h.steps, y=smooth(h.values, weight), mode="lines", name=f"smoothed {weight:.2f}")
                else:
                    fig.add_scatter(x=h.steps, y=h.values, mode="lines+markers" if len(h.steps) < 50 else "lines",
                                    name=key)
                note = f" ({len(h.steps):,} of {h.total_points:,} points)" if h.downsampled else ""
                fig.update_layout(title=f"{key}{note}", height=280, margin=dict(l=40, r=10, t=40, b=30),
                                  xaxis_title="step", showlegend=weight > 0)
                if self.log_scale.value:
                    fig.update_yaxes(type="log")
                figures[key] = fig
            self.figures = figures
            show_figures(self.charts, list(figures.values()))
            rows = [(k, format_value(v), self.histories[k].total_points if k in self.histories else 1)
                    for k, v in sorted(self.summary.metrics.items())]
            self.scalars.value = "<b>Latest values</b>" + html_table(["Metric", "Value", "Points"], rows,
                                                                      empty="No metrics logged yet.")

    def _render_children(self) -> None:
        try:
            tree = self._child_tree(self.summary.run_id, depth=0)
        except StudioError as exc:
            self.children_view.value = f"<div style='color:#a4262c'>{html.escape(str(exc))}</div>"
            return
        self.children_view.value = tree or "<div style='color:#666'>This run has no child runs.</div>"

    def _child_tree(self, run_id: str, depth: int) -> str:
        if depth > 4:
            return ""
        page = self.ws.jobs.search(None, filter=f"parent_run_id = '{run_id}'", order_by=["start_time"],
                                   archived=None, page_size=200)
        items = []
        for child in page.runs:
            metrics = ", ".join(f"{k}={format_value(v)}" for k, v in sorted(child.metrics.items())[:6])
            items.append(f"<li>{status_badge(child.status)} <b>{html.escape(child.display_name or child.name)}</b> "
                         f"<span style='color:#666'>{html.escape(child.name)}</span> {html.escape(metrics)}"
                         f"{self._child_tree(child.run_id, depth + 1)}</li>")
        return f"<ul style='margin:2px 0'>{''.join(items)}</ul>" if items else ""

    def _render_lineage(self) -> None:
        try:
            lineage = self.ws.jobs.get_lineage(self.name)
        except StudioError as exc:
            self.lineage_view.value = f"<div style='color:#a4262c'>{html.escape(str(exc))}</div>"
            return
        ins = html_table(["Input", "Type", "Path"], [(i["name"], i["type"], i["path"]) for i in lineage.inputs],
                         empty="No datasets or files were inputs of this run.")
        outs = html_table(["Model", "Version", "Kind", "Source"],
                          [(m["name"], m["version"], m["kind"], m["source"]) for m in lineage.models],
                          empty="This run produced no models.")
        self.lineage_view.value = f"<b>Data in</b>{ins}<b>Models out</b>{outs}"

    def _update_buttons(self) -> None:
        s = self.summary
        is_job = not s.interactive
        self.cancel_button.disabled = not is_job or s.status in TERMINAL_STATES
        self.cancel_button.layout.display = "none" if self.cancel_button.disabled else ""
        self.resubmit_button.disabled = not is_job
        self.archive_button.description = "Restore" if s.archived else "Archive"
        # Tags and archive are MLflow's, so they work on interactive runs too.
        self.tag_button.disabled = self.untag_button.disabled = self.archive_button.disabled = False

    # -- artifacts -----------------------------------------------------------------------------------
    def browse(self, folder: str) -> None:
        """Show the artifacts in ``folder`` ('' for the run's root)."""
        self.artifact_folder = folder
        self.artifact_location.value = f"<b>/{html.escape(folder)}</b>"
        try:
            items = self.ws.jobs.list_artifacts(self.name, folder)
        except StudioError as exc:
            self.artifact_message.error(str(exc))
            self.artifact_list.options = []
            return
        if not items:
            self.artifact_message.info(
                "No artifacts here: none were logged yet, or they were deleted." if folder == ""
                else "This folder is empty.")
        else:
            self.artifact_message.clear()
        # Changing a Select's options selects its first entry; that must not open it.
        self._listing = True
        try:
            # A folder ends in '/' (an emoji folder icon shows as an empty box where no emoji font is installed).
            self.artifact_list.options = [(f"{i.path.rpartition('/')[2]}{'/' if i.is_dir else ''}"
                                           f"{'' if i.is_dir else f'  ({i.size:,} B)' if i.size is not None else ''}",
                                           (i.path, i.is_dir)) for i in items]
            self.artifact_list.value = None
        finally:
            self._listing = False
        self.artifact_up.disabled = folder == ""

    def _on_artifact_selected(self, change: dict[str, Any]) -> None:
        if change["new"] is None or self._listing:
            return
        path, is_dir = change["new"]
        if is_dir:
            self.browse(path)
        else:
            self.preview(path)

    def preview(self, path: str) -> None:
        """Show a text, CSV or image artifact, with a download link."""
        try:
            content = self.ws.jobs.read_artifact(self.name, path, max_bytes=max(PREVIEW_BYTES, DOWNLOAD_LINK_BYTES))
        except StudioError as exc:
            self.artifact_message.error(str(exc))
            self.artifact_preview.children = []
            return
        self.artifact_message.clear()
        data = content.data
        shown: list[widgets.Widget] = []
        filename = path.rpartition("/")[2]
        if content.media_type in _IMAGE_FORMATS:
            shown.append(widgets.Image(value=data[:PREVIEW_BYTES], format=_IMAGE_FORMATS[content.media_type]))
        elif content.media_type == "text/csv" or filename.endswith(".csv"):
            shown.append(widgets.HTML(_csv_preview(data[:PREVIEW_BYTES])))
        elif content.media_type.startswith("text/") or content.media_type in ("application/json",
                                                                                "application/x-yaml"):
            text = data[:PREVIEW_BYTES].decode("utf-8", errors="replace")
            shown.append(widgets.HTML(f"<pre style='max-height:400px;overflow:auto;font-size:80%'>"
                                      f"{html.escape(text)}</pre>"))
        else:
            shown.append(widgets.HTML(f"<i>{html.escape(filename)}: {content.size:,} bytes of "
                                      f"{html.escape(content.media_type)}; no preview.</i>"))
        if not content.truncated:
            link = base64.b64encode(data).decode()
            shown.append(widgets.HTML(f"<a download='{html.escape(filename)}' "
                                      f"href='data:{content.media_type};base64,{link}'>Download {html.escape(filename)}</a>"))
        else:
            shown.append(widgets.HTML(f"<i>Too large to download here ({content.size:,} bytes); use the code "
                                      "below.</i>"))
        self.artifact_preview.children = shown
        self.code.show(f"ws.jobs.read_artifact({self.name!r}, {path!r})\n"
                       f"ws.jobs.download({self.name!r}, '.', artifact_path={path!r})")

    # -- actions ------------------------------------------------------------------------------------------
    def cancel(self) -> None:
        try:
            self.ws.jobs.begin_cancel(self.name)
        except StudioError as exc:
            self.message.error(str(exc))
            return
        self.message.info(f"Canceling {self.name}…")
        self.code.show(f"ws.jobs.begin_cancel({self.name!r}).result()")

    def toggle_archive(self) -> None:
        archived = self.summary.archived
        try:
            (self.ws.jobs.restore if archived else self.ws.jobs.archive)(self.name)
        except StudioError as exc:
            self.message.error(str(exc))
            return
        self.refresh()
        self.message.info(f"{'Restored' if archived else 'Archived'} {self.name}.")
        self.code.show(f"ws.jobs.{'restore' if archived else 'archive'}({self.name!r})")

    def set_tag(self) -> None:
        key, value = self.tag_key.value.strip(), self.tag_value.value
        if not key:
            self.message.error("Give the tag a name (and a value), then press Set tag.")
            return
        try:
            self.ws.jobs.update_tags(self.name, {key: value})
        except StudioError as exc:
            self.message.error(str(exc))
            return
        self.refresh()
        self.message.info(f"Tag {key}={value} set.")
        self.code.show(f"ws.jobs.update_tags({self.name!r}, {{{key!r}: {value!r}}})")

    def remove_tag(self) -> None:
        key = self.tag_key.value.strip()
        if key not in self.summary.tags:
            self.message.error(f"This run has no tag {key!r}. Its tags: {', '.join(sorted(self.summary.tags)) or 'none'}.")
            return
        try:
            self.ws.jobs.update_tags(self.name, {}, remove=[key])
        except StudioError as exc:
            self.message.error(str(exc))
            return
        self.refresh()
        self.message.info(f"Tag {key} removed.")
        self.code.show(f"ws.jobs.update_tags({self.name!r}, {{}}, remove=[{key!r}])")

    def open_resubmit(self) -> None:
        """Show one box per input, filled with the value this job ran with."""
        inputs = getattr(self.job, "inputs", {}) or {}
        self.resubmit_inputs = {k: widgets.Text(value=_input_text(v), description=k) for k, v in inputs.items()}
        note = widgets.HTML("<b>Re-submit with these inputs</b>" if inputs else
                            "<b>This job has no inputs; re-submit it as it was</b>")
        self.resubmit_box.children = [note, *self.resubmit_inputs.values(), self.resubmit_submit]
        self.resubmit_box.layout.display = "flex"

    def submit_resubmit(self) -> None:
        inputs = getattr(self.job, "inputs", {}) or {}
        edited = {k: box.value for k, box in self.resubmit_inputs.items() if box.value != _input_text(inputs.get(k))}
        try:
            job = self.ws.jobs.resubmit(self.name, inputs=edited)
        except StudioError as exc:
            self.message.error(str(exc))
            return
        self.resubmitted = job.name
        self.resubmit_box.layout.display = "none"
        self.message.info(f"Submitted {job.name} with {edited or 'the same inputs'}.")
        self.code.show(f"job = ws.jobs.resubmit({self.name!r}, inputs={edited!r})\nws.jobs.stream(job.name)")

    # -- code for each tab -------------------------------------------------------------------------------
    def _show_tab_code(self) -> None:
        n = repr(self.name)
        code = {
            0: f"job = ws.jobs.get({n})\nprint(job.status, job.start_time, job.end_time, job.inputs)",
            1: "\n".join([f"ws.jobs.get_metric_history({n}, {k!r}, max_points={self.max_points})"
                          for k in sorted(self.histories)] or [f"ws.jobs.get({n}).metrics"]),
            2: f"run = ws.jobs.run_summary({n})\nrun.params, run.tags",
            3: f"print(ws.jobs.tail_log({n}).text)\nws.jobs.stream({n})  # follow it until it ends",
            4: f"ws.jobs.list_artifacts({n}, {self.artifact_folder!r})",
            5: f"ws.jobs.search(filter=\"parent_run_id = '{self.summary.run_id}'\", archived=None)",
            6: f"ws.jobs.get_lineage({n})",
        }.get(self.tabs.selected_index or 0, "")
        self.code.show(code)


def _input_text(value: Any) -> str:
    path = getattr(value, "path", None)
    if path is not None:
        return str(path)
    return "" if value is None else str(value)


def _csv_preview(data: bytes, rows: int = 50) -> str:
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(data), nrows=rows)
    except Exception as exc:  # noqa: BLE001 - a malformed CSV still shows as text
        return (f"<i>Not readable as CSV ({html.escape(str(exc))}); as text:</i><pre>"
                f"{html.escape(data[:5000].decode('utf-8', errors='replace'))}</pre>")
    body = [[format_value(v.item() if isinstance(v, np.generic) else v) for v in row]
            for row in frame.itertuples(index=False)]
    return html_table([str(c) for c in frame.columns], body)
