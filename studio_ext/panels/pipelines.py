"""The Pipelines page: pipeline runs with their live graph, and schedules with a form to make one.

``PipelinesPanel(ws, pipeline=None)`` has two tabs:

- **Pipeline runs**: the workspace's pipeline jobs (status, steps done, experiment, times);
  clicking one opens its page (:class:`PipelineRunView`) in place of the list:
  the graph of its steps (boxes coloured by state, arrows labelled by the output that
  flows along them), refreshed live while it runs; clicking a step (or picking it)
  opens the step's details: the component it runs and the step run's own page (logs,
  metrics, outputs; :class:`~studio_ext.panels.run_details.RunDetails`). Below the graph,
  the pipeline's parameters with a form to resubmit it with other values, and its SDK
  code and v2 YAML (collapsed).
- **Schedules**: every schedule with its trigger, what it runs, whether it is enabled and
  its next fire times, each with Enable/Disable and Delete; and a form (name, job,
  recurrence with frequency, interval, time zone, hours and minutes, or a cron
  expression) that shows the next five fire times as you type, then Create.

Every read and action goes through ``ws.jobs`` and ``ws.schedules``; the layout of the
graph is :mod:`studio_ext.ml.pipeline_graph`, its drawing :mod:`.pipeline_charts`.
"""

from __future__ import annotations

import copy
import html
import os
import threading
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import plotly.graph_objects as go

from studio_ext.entities import TERMINAL_STATES, Input, JobStatus
from studio_ext.entities._schedule import CronTrigger, JobSchedule, RecurrencePattern, RecurrenceTrigger
from studio_ext.errors import InvalidInput, StudioError
from studio_ext.ml.pipeline_graph import PipelineGraph, StepSpec, build_graph
from studio_ext.ml.schedules import FREQUENCIES, WEEK_DAYS, next_fire_times
from studio_ext.panels import pipeline_charts as charts
from studio_ext.panels._format import format_duration, format_value, value_html
from studio_ext.panels._table import Column, Row, Table
from studio_ext.panels._widgets import (
    CodeBox,
    Message,
    SharedPoller,
    Subscription,
    ToggleSet,
    badge,
    html_table,
    show_figures,
    status_badge,
)

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

__all__ = ["PipelineRunView", "PipelinesPanel", "ScheduleForm", "ScheduleList", "pipeline_graph", "step_states"]

_WIDE = {"description_width": "110px"}
#: The pipeline runs listed (newest first).
MAX_RUNS = 100
# Where a pipeline records a step (as Azure's nodes and child runs do): its step name, the run it reused,
# why it was skipped.
STEP_KEYS = ("azureml.nodeid", "azureml.pipeline_step")
REUSED_KEYS = ("azureml.reused_from", "azureml.reusedrunid")
REASON_KEYS = ("azureml.skip_reason",)


# -- reading a pipeline ---------------------------------------------------------------------------
def pipeline_graph(job: Any) -> PipelineGraph:
    """The laid-out graph of a pipeline job's steps (``job.jobs``) and their bindings."""
    steps = {name: StepSpec(inputs=dict(step.inputs or {}), outputs=dict(step.outputs or {}))
             for name, step in (job.jobs or {}).items()}
    return build_graph(steps)


def _first(keys: tuple[str, ...], *sources: Mapping[str, Any] | None) -> str | None:
    for source in sources:
        for key in keys:
            if source and source.get(key):
                return str(source[key])
    return None


def step_states(ws: Workspace, job: Any) -> tuple[dict[str, charts.StepState], dict[str, Any]]:
    """Each step's state (its run's, else what the pipeline recorded: not started, skipped) and its run by step."""
    runs = list(ws.jobs.list(parent_job_name=job.name))
    by_name = {run.name: run for run in runs}
    by_step = {_first(STEP_KEYS, run.tags, run.properties) or run.display_name: run for run in runs}
    recorded: Mapping[str, str] = getattr(job, "step_status", {}) or {}
    step_jobs: Mapping[str, str] = getattr(job, "step_jobs", {}) or {}
    states, children = {}, {}
    for step, node in (job.jobs or {}).items():
        child = by_name.get(step_jobs.get(step, "")) or by_step.get(step)
        props = getattr(node, "properties", None)
        status = recorded.get(step) or (_status_text(child.status) if child is not None else "NotStarted")
        reason = _first(REASON_KEYS, props) or getattr(node, "error", None) or (child.error if child else None)
        states[step] = charts.StepState(
            status=status, duration_seconds=child.duration_seconds if child is not None else None,
            job_name=child.name if child is not None else None,
            reused_from=_first(REUSED_KEYS, props, child.tags if child else None,
                               child.properties if child else None),
            reason=reason)
        if child is not None:
            children[step] = child
    return states, children


def _status_text(status: Any) -> str:
    return str(getattr(status, "value", status) or "NotStarted")


def _badge(status: str) -> str:
    try:
        return status_badge(JobStatus(status))
    except ValueError:  # a step state that is not a job state (Skipped)
        return badge(status, "#a19f9d")


def _value_text(value: Any) -> str:
    if isinstance(value, Input):
        return str(value.path if value.path is not None else format_value(value.default))
    return format_value(value, none="")


def _edited(original: Any, text: str) -> Any:
    """The value typed for an input, in the original's type (a data Input keeps its type with a new path)."""
    text = text.strip()
    if isinstance(original, Input):
        if original.path is not None:
            return Input(type=original.type, path=text, mode=original.mode)
        return Input(type=original.type, default=_literal(original.default, text))
    return _literal(original, text)


def _literal(original: Any, text: str) -> Any:
    try:
        if isinstance(original, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if isinstance(original, int):
            return int(text)
        if isinstance(original, float):
            return float(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a {type(original).__name__}, as this parameter's value "
                           f"{original!r} is. Type a {type(original).__name__}.") from None
    return text


@dataclass
class RunSnapshot:
    """What one live tick reads of a pipeline run."""

    job: Any
    states: dict[str, charts.StepState]
    children: dict[str, Any]


def fetch(ws: Workspace, name: str) -> RunSnapshot:
    job = ws.jobs.get(name)
    states, children = step_states(ws, job)
    return RunSnapshot(job, states, children)


# -- a pipeline run's page ------------------------------------------------------------------------
class PipelineRunView(widgets.VBox):
    """One pipeline run: header, live graph, step details, parameters and resubmit, SDK code and YAML."""

    def __init__(self, ws: Workspace, name: str, *, poll_interval: float = 2.0,
                 on_submitted: Callable[[str], Any] | None = None, clickable: bool | None = None) -> None:
        """``clickable``: draw the graph as a FigureWidget whose step boxes open on click (None: yes,
        except under Voila, where it is a plain figure and steps open from the picker)."""
        super().__init__()
        self.ws = ws
        self.name = name
        self.poll_interval = poll_interval
        self.on_submitted = on_submitted
        self.updates = 0
        self.selected: str | None = None
        self.step_details: Any = None
        self.resubmitted: str | None = None
        self._subscription: Subscription | None = None
        self._lock = threading.RLock()
        snap = fetch(ws, name)  # NotFound for a wrong name, before any widget
        self.job, self.states, self.children_runs = snap.job, snap.states, snap.children
        self.graph = pipeline_graph(self.job)

        self.header = widgets.HTML()
        self.message = Message()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", button_style="warning")
        # Clickable boxes need plotly's FigureWidget; under Voila its 5 MB front-end module can miss
        # anywidget's start-up window on a busy machine and draw an empty chart, so there the graph is a
        # plain figure (always drawn) and a step opens from the picker below it.
        self.clickable = not _under_voila() if clickable is None else clickable
        figure = charts.graph_figure(self.graph, self.states)
        self.figure: Any = go.FigureWidget(figure) if self.clickable else figure
        self.graph_output = widgets.Output()
        if self.clickable:
            charts.click_trace(self.figure).on_click(self._on_click)
        else:
            show_figures(self.graph_output, [self.figure])
        steps = [(step, step) for step in self.job.jobs]
        self.step_picker = widgets.Dropdown(description="Step", options=[("pick a step…", ""), *steps],
                                            value="",
                                            style={"description_width": "40px"},
                                            layout=widgets.Layout(width="320px"))
        self.details = widgets.VBox()
        self.parameters = widgets.HTML()
        self.param_boxes: dict[str, widgets.Text] = {}
        self.force_rerun = widgets.Checkbox(value=False, description="Rerun every step (force_rerun)",
                                            indent=False, layout=widgets.Layout(width="auto"))
        self.submit_button = widgets.Button(description="Resubmit", icon="repeat", button_style="primary")
        self.resubmit_box = widgets.VBox()
        self.sdk_code = CodeBox(title="SDK code (azure-ai-ml / studio_ext)")
        self.yaml_code = CodeBox(title="Pipeline YAML (v2)")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.submit_button.on_click(lambda _b: self.resubmit())
        self.step_picker.observe(lambda c: self.open_step(c["new"]) if c["new"] else None, names="value")
        graph_box = widgets.Box([self.figure if self.clickable else self.graph_output], layout=widgets.Layout(overflow="auto", width="100%",
                                                                    border="1px solid #e1dfdd"))
        self.children = [
            self.header, widgets.HBox([self.refresh_button, self.cancel_button]), self.message,
            widgets.HTML("<b>Graph</b> <span style='color:#666;font-size:90%'>"
                         f"{'click a step' if self.clickable else 'pick a step below'} for its details</span>"),
            graph_box, self.step_picker, self.details,
            widgets.HTML("<b>Parameters</b>"), self.parameters, self.resubmit_box,
            self.sdk_code, self.yaml_code,
        ]
        self._render(snap, first=True)
        self._follow_if_active()

    # -- reading -------------------------------------------------------------------------------
    def refresh(self) -> None:
        try:
            snap = fetch(self.ws, self.name)
        except StudioError as exc:
            self.message.error(str(exc))
            return
        self._render(snap)
        self._follow_if_active()

    def _follow_if_active(self) -> None:
        if self.job.status in TERMINAL_STATES or self._subscription is not None:
            return
        poller = SharedPoller.for_workspace(self.ws, self.poll_interval)
        self._subscription = poller.subscribe(("pipeline", self.name), lambda: fetch(self.ws, self.name),
                                              self._on_live)

    def _on_live(self, snap: RunSnapshot | None, error: BaseException | None) -> bool:
        if error is not None or snap is None:
            self.message.error(f"Live refresh failed: {error}")
            return True
        ended = snap.job.status in TERMINAL_STATES
        if ended:
            self._subscription = None
        self._render(snap)
        return not ended

    def stop_following(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        if self.step_details is not None and hasattr(self.step_details, "stop_following"):
            self.step_details.stop_following()

    def close(self) -> None:
        self.stop_following()
        super().close()

    @property
    def live(self) -> bool:
        return self._subscription is not None

    # -- rendering ------------------------------------------------------------------------------
    def _render(self, snap: RunSnapshot, first: bool = False) -> None:
        with self._lock:
            self.states, self.children_runs = snap.states, snap.children
            if not first:
                self._redraw()
            ended = snap.job.status in TERMINAL_STATES
            self.cancel_button.disabled = ended
            self.cancel_button.layout.display = "none" if ended else None  # no warning-orange Cancel on an ended run
            # The job last, so whoever watches ``job.status`` sees a page already drawn for it.
            self.job = snap.job
            self._render_header()
            if first:
                self._render_parameters()
                self._render_code()
            self.updates += 1

    def _render_header(self) -> None:
        job = self.job
        counts: dict[str, int] = {}
        for state in self.states.values():
            counts[state.status] = counts.get(state.status, 0) + 1
        reused = sum(1 for s in self.states.values() if s.reused_from)
        steps = ", ".join(f"{n} {status.lower() if status != 'NotStarted' else 'not started'}"
                          for status, n in sorted(counts.items()))
        live = " <span style='color:#0078d4;font-size:85%'>● live</span>" if self.live else ""
        title = html.escape(job.display_name or job.name)
        settings = job.settings
        facts = [f"{html.escape(job.name)}", f"experiment {html.escape(job.experiment_name or '')}",
                 f"{len(self.states)} steps: {html.escape(steps)}" + (f" ({reused} reused)" if reused else "")]
        if getattr(settings, "default_compute", None):
            facts.append(f"default compute {html.escape(settings.default_compute)}")
        if job.start_time is not None:
            facts.append(f"started {value_html(job.start_time)}")
        if job.duration_seconds is not None:
            facts.append(f"duration {format_duration(job.duration_seconds)}")
        error = (f"<div style='color:#a4262c;white-space:pre-wrap;font-size:90%'>{html.escape(job.error)}</div>"
                 if job.error else "")
        self.header.value = (f"<h3 style='margin:4px 0'>{title} {_badge(_status_text(job.status))}{live}</h3>"
                             f"<div style='color:#555;font-size:90%'>{' · '.join(facts)}</div>{error}")

    def _render_parameters(self) -> None:
        job = self.job
        rows = [(html.escape(k), html.escape(type(v).__name__ if not isinstance(v, Input) else v.type),
                 html.escape(_value_text(v))) for k, v in (job.inputs or {}).items()]
        settings = job.settings
        setting_rows = [(k, format_value(getattr(settings, k, None), none="")) for k in
                        ("default_compute", "default_datastore", "continue_on_step_failure", "force_rerun")
                        if getattr(settings, k, None) not in (None, "")]
        self.parameters.value = (
            html_table(["Input", "Type", "Value"], rows, raw_columns=(0, 1, 2),
                       empty="This pipeline has no parameters (pipeline inputs).")
            + ("<div style='margin-top:4px'><b>Settings</b></div>"
               + html_table(["Setting", "Value"], setting_rows) if setting_rows else ""))
        self.param_boxes = {k: widgets.Text(value=_value_text(v), description=k, style=_WIDE,
                                            layout=widgets.Layout(width="420px"))
                            for k, v in (job.inputs or {}).items()}
        note = ("<b>Resubmit</b> <span style='color:#666;font-size:90%'>with these parameter values</span>"
                if self.param_boxes else "<b>Resubmit</b> <span style='color:#666;font-size:90%'>as it was</span>")
        self.resubmit_box.children = [widgets.HTML(note), *self.param_boxes.values(),
                                      widgets.HBox([self.force_rerun, self.submit_button])]

    def _render_code(self, edited: Mapping[str, Any] | None = None) -> None:
        job = self.job
        lines = ["from studio_ext import Workspace", "", "ws = Workspace.from_config()",
                 f"pipeline_job = ws.jobs.get({job.name!r})",
                 "# the step runs, with their metrics:",
                 f"for step in ws.jobs.list(parent_job_name={job.name!r}):",
                 "    print(step.display_name, step.status, ws.jobs.get(step.name).metrics)"]
        if edited is not None:
            lines += ["", "# resubmitted with other parameters:"]
            lines += [f"pipeline_job.inputs[{k!r}] = {_code(v)}" for k, v in edited.items()]
            if self.force_rerun.value:
                lines.append("pipeline_job.settings.force_rerun = True")
            lines.append(f"ws.jobs.create_or_update(pipeline_job, experiment_name={job.experiment_name!r})")
        self.sdk_code.show("\n".join(lines))
        try:
            self.yaml_code.show(self.ws.jobs.to_yaml(job))
        except StudioError as exc:
            self.yaml_code.show(f"# This pipeline has no v2 YAML form: {exc}")

    def _redraw(self) -> None:
        charts.update_states(self.figure, self.graph, self.states, selected=self.selected)
        if not self.clickable:
            show_figures(self.graph_output, [self.figure])

    # -- steps ----------------------------------------------------------------------------------
    def _on_click(self, _trace: Any, points: Any, _state: Any) -> None:
        if points.point_inds:
            step = charts.click_trace(self.figure).customdata[points.point_inds[0]]
            self.open_step(step)

    def open_step(self, step: str) -> Any:
        """Show step ``step``'s details under the graph: its component and its run's page."""
        if step not in (self.job.jobs or {}):
            self.message.error(f"This pipeline has no step {step!r}. Its steps: {', '.join(self.job.jobs)}.")
            return None
        self.selected = step
        if self.step_picker.value != step:
            self.step_picker.value = step
        self._redraw()
        if self.step_details is not None and hasattr(self.step_details, "stop_following"):
            self.step_details.stop_following()
        state = self.states.get(step) or charts.StepState()
        parts: list[widgets.Widget] = [widgets.HTML(self._step_summary(step, state))]
        child = self.children_runs.get(step)
        self.step_details = None
        if child is not None:
            from studio_ext.panels.run_details import RunDetails

            try:
                self.step_details = RunDetails(self.ws, child.name, poll_interval=self.poll_interval)
                parts.append(self.step_details)
            except StudioError as exc:
                parts.append(widgets.HTML(f"<div style='color:#a4262c'>{html.escape(str(exc))}</div>"))
        self.details.children = parts
        return self.step_details

    def _step_summary(self, step: str, state: charts.StepState) -> str:
        node = self.job.jobs[step]
        component = getattr(node, "component", None)
        rows: list[tuple[str, str]] = [("Step", f"<b>{html.escape(step)}</b> {_badge(state.status)}")]
        if state.job_name:
            rows.append(("Step run", f"<code>{html.escape(state.job_name)}</code>"))
        if state.reused_from:
            rows.append(("Reused", f"♻ outputs of the earlier run <code>{html.escape(state.reused_from)}</code>"))
        if state.reason:
            rows.append(("Reason", f"<span style='white-space:pre-wrap'>{html.escape(state.reason)}</span>"))
        if component is not None:
            cname = component if isinstance(component, str) else \
                f"{component.name or '(inline)'}" + (f":{component.version}" if component.version else "")
            rows.append(("Component", html.escape(str(cname))))
            if not isinstance(component, str) and component.description:
                rows.append(("Description", html.escape(component.description)))
        rows.append(("Command", f"<code>{html.escape(getattr(node, 'command', '') or '')}</code>"))
        rows.append(("Environment", html.escape(getattr(node, "environment", None) or "current interpreter")))
        rows.append(("Compute", html.escape(getattr(node, "compute", None) or
                                            getattr(self.job.settings, "default_compute", None) or "local")))
        rows.append(("Inputs", "<br>".join(f"{html.escape(k)} = {html.escape(_value_text(v))}"
                                           for k, v in (node.inputs or {}).items()) or "none"))
        rows.append(("Outputs", "<br>".join(f"{html.escape(k)}" + (
            f" → {html.escape(_value_text(v))}" if isinstance(v, str) else "")
            for k, v in (node.outputs or {}).items()) or "none"))
        if state.job_name is None:
            rows.append(("Run", "This step has no run yet." if state.status == "NotStarted" else
                         f"This step did not run ({html.escape(state.status)})."))
        return html_table(["", ""], rows, raw_columns=(0, 1))

    # -- actions --------------------------------------------------------------------------------
    def cancel(self) -> None:
        try:
            self.ws.jobs.begin_cancel(self.name)
        except StudioError as exc:
            self.message.error(str(exc))
            return
        self.message.info(f"Canceling {self.name}: running steps are canceled and the rest never start.")

    def resubmit(self) -> Any:
        """Submit this pipeline again with the parameters typed in the form."""
        original: Any = self.ws.jobs.get(self.name)  # a PipelineJob
        edited: dict[str, Any] = {}
        try:
            for key, box in self.param_boxes.items():
                if box.value.strip() != _value_text(original.inputs.get(key)):
                    edited[key] = _edited(original.inputs.get(key), box.value)
            job: Any = copy.deepcopy(original)
            for key, value in edited.items():
                job.inputs[key] = value
            job.name = None  # the service gives the new run folders of its own
            job.tags = {**(job.tags or {}), "resubmitted_from": self.name}
            if self.force_rerun.value:
                job.settings.force_rerun = True
            submitted = self.ws.jobs.create_or_update(job, experiment_name=original.experiment_name)
        except StudioError as exc:
            self.message.error(str(exc))
            return None
        self.resubmitted = submitted.name
        shown = ", ".join(f"{k}={_value_text(v)}" for k, v in edited.items()) or "the same parameters"
        self.message.info(f"Submitted {submitted.name} with {shown}.")
        self._render_code(edited)
        if self.on_submitted is not None:
            self.on_submitted(str(submitted.name))
        return submitted


def _under_voila() -> bool:
    return os.environ.get("SERVER_SOFTWARE", "").startswith("voila") or "VOILA_KERNEL_ID" in os.environ


def _code(value: Any) -> str:
    if isinstance(value, Input):
        return f"Input(type={value.type!r}, path={value.path!r})" if value.path is not None else repr(value.default)
    return repr(value)


# -- schedules ------------------------------------------------------------------------------------
def trigger_text(trigger: Any) -> str:
    """A schedule's trigger in words: ``every 1 day at 09:00, 17:30 (UTC)`` or ``cron 0 2 * * * (UTC)``."""
    if isinstance(trigger, CronTrigger):
        return f"cron {trigger.expression} ({trigger.time_zone})"
    if isinstance(trigger, RecurrenceTrigger):
        text = f"every {trigger.interval} {trigger.frequency}{'s' if trigger.interval != 1 else ''}"
        pattern = trigger.schedule
        if pattern is not None:
            hours = _as_list(pattern.hours)
            minutes = _as_list(pattern.minutes) or [0]
            if hours:
                text += " at " + ", ".join(f"{h:02d}:{m:02d}" for h in hours for m in minutes)
            elif _as_list(pattern.minutes):
                text += " at minute " + ", ".join(str(m) for m in minutes)
            days = pattern.week_days
            if days:
                text += " on " + ", ".join(d.title()[:3] for d in ([days] if isinstance(days, str) else days))
            month_days = _as_list(pattern.month_days)
            if month_days:
                text += " on day " + ", ".join(str(d) for d in month_days)
        return f"{text} ({trigger.time_zone})"
    return "no trigger"


def _as_list(value: Any) -> list[int]:
    if value is None or value == []:
        return []
    return [int(v) for v in (value if isinstance(value, list | tuple) else [value])]


def fire_time_text(moment: datetime) -> str:
    """A fire time in its trigger's zone: ``Tue 2026-12-08 02:00 CET``."""
    return moment.strftime("%a %Y-%m-%d %H:%M %Z").strip()


def _job_text(create_job: Any) -> str:
    if isinstance(create_job, str):
        return create_job
    if create_job is None:
        return ""
    name = getattr(create_job, "display_name", None) or getattr(create_job, "name", None) or ""
    return f"{getattr(create_job, 'type', type(create_job).__name__)} {name}".strip()


class ScheduleList(widgets.VBox):
    """Every schedule: trigger, job, enabled state, next fire times, and Enable/Disable and Delete buttons."""

    def __init__(self, ws: Workspace, *, on_code: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.ws = ws
        self.on_code = on_code
        self.message = Message()
        self.schedules: list[JobSchedule] = []
        self.buttons: dict[str, dict[str, widgets.Button]] = {}
        self.grid = widgets.GridBox(layout=widgets.Layout(
            grid_template_columns="minmax(120px,max-content) minmax(200px,max-content) minmax(140px,max-content) "
                                  "max-content minmax(220px,max-content) max-content",
            grid_gap="2px 14px", align_items="center", width="100%", overflow="auto"))
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.children = [widgets.HBox([widgets.HTML("<b>Schedules</b>", layout=widgets.Layout(width="auto")),
                                       self.refresh_button], layout=widgets.Layout(align_items="center")),
                         self.message, self.grid]
        self.refresh()

    def refresh(self) -> None:
        try:
            self.schedules = sorted((s for s in self.ws.schedules.list(list_view_type="all")
                                     if isinstance(s, JobSchedule)), key=lambda s: s.name)  # monitors have their page
        except StudioError as exc:
            self.message.error(str(exc))
            return
        head = [widgets.HTML(f"<b>{t}</b>") for t in ("Name", "Trigger", "Runs", "State", "Next fire times", "")]
        cells: list[widgets.Widget] = list(head)
        self.buttons = {}
        for schedule in self.schedules:
            enabled = schedule.is_enabled
            state = ("<span style='color:#107c10'>● Enabled</span>" if enabled else
                     "<span style='color:#797775'>○ Disabled</span>")
            times = "<br>".join(html.escape(fire_time_text(t)) for t in schedule.next_fire_times[:5]) or \
                ("<span style='color:#666'>none while disabled</span>" if not enabled else
                 "<span style='color:#666'>no more fire times</span>")
            toggle = widgets.Button(description="Disable" if enabled else "Enable",
                                    icon="pause" if enabled else "play", layout=widgets.Layout(width="auto"))
            delete = widgets.Button(description="Delete", icon="trash", button_style="danger",
                                    layout=widgets.Layout(width="auto"))
            toggle.on_click(lambda _b, n=schedule.name, e=enabled: self.set_enabled(n, not e))
            delete.on_click(lambda _b, n=schedule.name: self.delete(n))
            self.buttons[schedule.name] = {"toggle": toggle, "delete": delete}
            cells += [widgets.HTML(f"<b>{html.escape(schedule.name)}</b>"),
                      widgets.HTML(html.escape(trigger_text(schedule.trigger))),
                      widgets.HTML(html.escape(_job_text(schedule.create_job))),
                      widgets.HTML(state), widgets.HTML(f"<div style='font-size:90%'>{times}</div>"),
                      widgets.HBox([toggle, delete])]
        if not self.schedules:
            cells = [widgets.HTML("<span style='color:#666'>No schedules yet. Make one with the form below, or "
                                  "<code>ws.schedules.begin_create_or_update(JobSchedule(...))</code>.</span>")]
        self.grid.children = cells

    def set_enabled(self, name: str, enabled: bool) -> None:
        try:
            (self.ws.schedules.begin_enable if enabled else self.ws.schedules.begin_disable)(name).result(timeout=60)
        except StudioError as exc:
            self.message.error(str(exc))
            return
        self.message.info(f"{'Enabled' if enabled else 'Disabled'} {name}.")
        if self.on_code:
            self.on_code(f"ws.schedules.begin_{'enable' if enabled else 'disable'}({name!r}).result()")
        self.refresh()

    def delete(self, name: str) -> None:
        """Delete on the second press (the first turns the button into a confirmation)."""
        button = self.buttons.get(name, {}).get("delete")
        if button is not None and button.description != "Confirm delete":
            button.description = "Confirm delete"
            self.message.info(f"Press Confirm delete to delete {name}; the jobs it created stay.")
            return
        try:
            self.ws.schedules.begin_delete(name).result(timeout=60)
        except StudioError as exc:
            self.message.error(str(exc))
            return
        self.message.info(f"Deleted {name}.")
        if self.on_code:
            self.on_code(f"ws.schedules.begin_delete({name!r}).result()")
        self.refresh()


def _zones() -> list[str]:
    return ["UTC", *sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/"))]


class ScheduleForm(widgets.VBox):
    """Make a schedule: name, job, recurrence or cron, time zone; the next five fire times as you type."""

    def __init__(self, ws: Workspace, *, on_created: Callable[[JobSchedule], Any] | None = None) -> None:
        super().__init__()
        self.ws = ws
        self.on_created = on_created
        self.created: JobSchedule | None = None
        self.preview_text = ""
        self.name = widgets.Text(description="Name", placeholder="nightly-training", style=_WIDE)
        self.job = widgets.Dropdown(description="Job to run", options=[], style=_WIDE,  # as wide as its longest job
                                    layout=widgets.Layout(width="auto", min_width="420px"))
        self.kind = widgets.ToggleButtons(options=["Recurrence", "Cron"], value="Recurrence",
                                          description="Trigger", style={**_WIDE, "button_width": "110px"})
        self.frequency = widgets.Dropdown(description="Frequency", options=list(FREQUENCIES), value="day",
                                          style=_WIDE)
        self.interval = widgets.BoundedIntText(description="Interval", value=1, min=1, max=10_000, style=_WIDE)
        self.hours = widgets.Text(description="Hours", placeholder="e.g. 9, 17 (0-23)", style=_WIDE)
        self.minutes = widgets.Text(description="Minutes", placeholder="e.g. 0, 30 (0-59)", style=_WIDE)
        # Any number of days pressed, as buttons (no old-style list box); values are the full day names.
        self.week_days = ToggleSet("Week days", [(d.title()[:3], d.title()) for d in WEEK_DAYS],
                                   label_width=_WIDE["description_width"])
        self.expression = widgets.Text(description="Expression", placeholder="0 2 * * 1-5", style=_WIDE,
                                       layout=widgets.Layout(width="420px"))
        self.cron_help = widgets.HTML("<span style='color:#666;font-size:90%'>MINUTES HOURS DAYS MONTHS "
                                      "DAYS-OF-WEEK, as '0 2 * * 1-5' (02:00 on weekdays)</span>")
        self.time_zone = widgets.Combobox(description="Time zone", options=_zones(), value="UTC",
                                          ensure_option=False, style=_WIDE, layout=widgets.Layout(width="420px"))
        self.start_time = widgets.Text(description="Start time", placeholder="optional: 2026-12-08T09:00",
                                       style=_WIDE, layout=widgets.Layout(width="420px"))
        self.end_time = widgets.Text(description="End time", placeholder="optional", style=_WIDE)
        self.preview = widgets.HTML()
        self.create_button = widgets.Button(description="Create", icon="calendar-plus-o", button_style="primary")
        self.message = Message()
        self.code = CodeBox(title="SDK code")
        self.recurrence_box = widgets.VBox([self.frequency, self.interval, self.hours, self.minutes, self.week_days])
        self.cron_box = widgets.VBox([self.expression, self.cron_help], layout=widgets.Layout(display="none"))
        for control in (self.kind, self.frequency, self.interval, self.hours, self.minutes,
                        self.expression, self.time_zone, self.start_time, self.end_time):
            control.observe(lambda _c: self.update_preview(), names="value")
        self.week_days.observe_value(lambda _c: self.update_preview())
        self.kind.observe(lambda _c: self._show_kind(), names="value")
        self.frequency.observe(lambda _c: self._show_kind(), names="value")
        self.create_button.on_click(lambda _b: self.create())
        self.children = [
            widgets.HTML("<b>New schedule</b>"),
            widgets.HBox([
                widgets.VBox([self.name, self.job, self.kind, self.recurrence_box, self.cron_box, self.time_zone,
                              self.start_time, self.end_time]),
                widgets.VBox([widgets.HTML("<b>Next five fire times</b>"), self.preview],
                             layout=widgets.Layout(margin="0 0 0 24px", min_width="300px")),
            ]),
            widgets.HBox([self.create_button]), self.message, self.code,
        ]
        self.refresh_jobs()
        self._show_kind()
        self.update_preview()

    def refresh_jobs(self) -> None:
        """Offer the workspace's pipeline runs (newest first), then its other top-level jobs."""
        try:
            jobs = [j for j in self.ws.jobs.list() if not j.parent_job_name]
        except StudioError as exc:
            self.message.error(str(exc))
            return
        jobs.sort(key=lambda j: (j.type != "pipeline", -(j.creation_time.timestamp() if j.creation_time else 0)))
        options = [(f"{j.display_name or j.name} ({j.type}, {j.name})", j.name) for j in jobs]
        keep = self.job.value
        self.job.options = options
        names = [value for _, value in options]
        self.job.value = keep if keep in names else (names[0] if names else None)

    def _show_kind(self) -> None:
        cron = self.kind.value == "Cron"
        self.cron_box.layout.display = "flex" if cron else "none"
        self.recurrence_box.layout.display = "none" if cron else "flex"
        # Hours and minutes apply to day, week and month recurrences; week days to weekly ones.
        by_time = self.frequency.value in ("day", "week", "month")
        self.hours.layout.display = self.minutes.layout.display = "flex" if by_time else "none"
        self.week_days.layout.display = "flex" if self.frequency.value == "week" else "none"

    def trigger(self) -> CronTrigger | RecurrenceTrigger:
        """The trigger the form describes (InvalidInput for a field that does not parse)."""
        zone = self.time_zone.value.strip() or "UTC"
        start = self.start_time.value.strip() or None
        end = self.end_time.value.strip() or None
        if self.kind.value == "Cron":
            return CronTrigger(expression=self.expression.value.strip(), time_zone=zone, start_time=start,
                               end_time=end)
        pattern = None
        if self.frequency.value in ("day", "week", "month"):
            hours = _numbers(self.hours.value, "Hours", 0, 23)
            minutes = _numbers(self.minutes.value, "Minutes", 0, 59)
            days = [d.lower() for d in self.week_days.value] if self.frequency.value == "week" else None
            if hours or minutes or days:
                pattern = RecurrencePattern(hours=hours or [0], minutes=minutes or [0], week_days=days or None)
        return RecurrenceTrigger(frequency=self.frequency.value, interval=int(self.interval.value),
                                 schedule=pattern, time_zone=zone, start_time=start, end_time=end)

    def update_preview(self) -> list[datetime]:
        """Show the next five fire times of the trigger as typed (or what is wrong with it).

        ``preview_text`` keeps the plain text shown (the times, one a line, or the message).
        """
        if self.kind.value == "Cron" and not self.expression.value.strip():
            self._preview("Type a cron expression.", "#666")
            return []
        try:
            times = next_fire_times(self.trigger(), 5)
        except StudioError as exc:
            self._preview(exc.message, "#a4262c")
            return []
        if not times:
            self._preview("This trigger never fires again.", "#666")
            return []
        self.preview_text = "\n".join(fire_time_text(t) for t in times)
        self.preview.value = ("<ol style='margin:2px 0;padding-left:20px'>"
                              + "".join(f"<li>{html.escape(fire_time_text(t))}</li>" for t in times) + "</ol>")
        return times

    def _preview(self, text: str, colour: str) -> None:
        self.preview_text = text
        self.preview.value = f"<div style='color:{colour};white-space:pre-wrap'>{html.escape(text)}</div>"

    def create(self) -> JobSchedule | None:
        name = self.name.value.strip()
        if not name:
            self.message.error("Give the schedule a name (letters, digits, '-' and '_').")
            return None
        if not self.job.value:
            self.message.error("Pick the job the schedule runs (submit a pipeline first if the list is empty).")
            return None
        try:
            schedule = JobSchedule(name=name, trigger=self.trigger(), create_job=f"azureml:{self.job.value}")
            created = self.ws.schedules.begin_create_or_update(schedule).result(timeout=60)
        except StudioError as exc:
            self.message.error(exc.message)
            return None
        if not isinstance(created, JobSchedule):  # a job schedule comes back as one
            return None
        self.created = created
        nxt = fire_time_text(created.next_fire_times[0]) if created.next_fire_times else "none"
        self.message.info(f"Created schedule {created.name}; it next fires {nxt}.")
        self.code.show(_schedule_code(created, self.job.value))
        if self.on_created is not None:
            self.on_created(created)
        return created


def _numbers(text: str, what: str, low: int, high: int) -> list[int]:
    values = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or not low <= int(part) <= high:
            raise InvalidInput(f"{what}: {part!r} is not a whole number from {low} to {high}. "
                               f"Type them separated by commas, as '9, 17'.")
        values.append(int(part))
    return sorted(set(values))


def _schedule_code(schedule: JobSchedule, job_name: str) -> str:
    trigger = schedule.trigger
    if isinstance(trigger, CronTrigger):
        made = f"CronTrigger(expression={trigger.expression!r}, time_zone={trigger.time_zone!r})"
        imports = "CronTrigger, JobSchedule"
    else:
        assert isinstance(trigger, RecurrenceTrigger)
        pattern = trigger.schedule
        made = (f"RecurrenceTrigger(frequency={trigger.frequency!r}, interval={trigger.interval}, "
                f"time_zone={trigger.time_zone!r}"
                + (f",\n    schedule=RecurrencePattern(hours={pattern.hours!r}, minutes={pattern.minutes!r}"
                   + (f", week_days={pattern.week_days!r}" if pattern.week_days else "") + ")"
                   if pattern is not None else "") + ")")
        imports = "JobSchedule, RecurrencePattern, RecurrenceTrigger"
    return (f"from azure.ai.ml.entities import {imports}\n\n"
            f"schedule = JobSchedule(name={schedule.name!r}, trigger={made},\n"
            f"    create_job=ws.jobs.get({job_name!r}))\n"
            "ws.schedules.begin_create_or_update(schedule).result()")


# -- the page -------------------------------------------------------------------------------------
class PipelinesPanel(widgets.VBox):
    """``PipelinesPanel(ws, pipeline=None)``: pipeline runs and their graphs, and schedules (module docstring)."""

    def __init__(self, ws: Workspace, pipeline: str | None = None, *, poll_interval: float = 2.0,
                 **_: Any) -> None:
        super().__init__()
        self.ws = ws
        self.poll_interval = poll_interval
        self.message = Message()
        self.run_view: PipelineRunView | None = None
        self.runs: list[Any] = []
        self._subscription: Subscription | None = None
        self.runs_table = Table([
            Column("status", "Status", kind="html"), Column("display_name", "Pipeline", link=True),
            Column("name", "Name"), Column("experiment", "Experiment"), Column("steps", "Steps"),
            Column("created", "Created", kind="date"), Column("duration", "Duration", kind="duration"),
        ], on_open=self.open_run, selectable=False, sort="created", descending=True,
            empty="No pipeline runs yet. Submit one with ws.jobs.create_or_update(pipeline_job) or "
                  "studio-ext job create --file pipeline.yml.")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.back_button = widgets.Button(description="← Pipeline runs", layout=widgets.Layout(width="auto"))
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.back_button.on_click(lambda _b: self.show_list())
        self.list_box = widgets.VBox([widgets.HBox([self.refresh_button]), self.runs_table])
        self.run_box = widgets.VBox(layout=widgets.Layout(display="none"))
        self.code = CodeBox(title="SDK code")
        self.schedule_list = ScheduleList(ws, on_code=self.code.show)
        self.schedule_form = ScheduleForm(ws, on_created=lambda _s: self.schedule_list.refresh())
        self.tabs = widgets.Tab(children=[widgets.VBox([self.list_box, self.run_box]),
                                          widgets.VBox([self.schedule_list, widgets.HTML("<hr>"),
                                                        self.schedule_form, self.code])])
        self.tabs.set_title(0, "Pipeline runs")
        self.tabs.set_title(1, "Schedules")
        title = widgets.HTML("<h3 style='margin:4px 0'>Pipelines</h3><span style='color:#555'>Pipeline runs with "
                             "their step graphs, parameters and code; schedules that run them.</span>")
        self.children = [title, self.message, self.tabs]
        self.refresh()
        if pipeline:
            self.open_run(pipeline)

    def refresh(self) -> None:
        """List the pipeline runs (and schedules) again."""
        try:
            runs = self._pipeline_runs()
        except StudioError as exc:
            self.message.error(str(exc))
            return
        self.runs = runs
        self.runs_table.set_rows([self._row(job) for job in runs])
        self.schedule_list.refresh()
        self.schedule_form.refresh_jobs()
        self._follow_list()

    def _pipeline_runs(self) -> list[Any]:
        """The newest :data:`MAX_RUNS` pipeline runs, each read whole (its steps' states are in it)."""
        listed = [j for j in self.ws.jobs.list() if j.type == "pipeline" and not j.parent_job_name]
        listed.sort(key=lambda j: j.creation_time.timestamp() if j.creation_time else 0, reverse=True)
        runs = []
        for job in listed[:MAX_RUNS]:
            try:
                runs.append(job if hasattr(job, "jobs") else self.ws.jobs.get(str(job.name)))
            except StudioError:  # deleted meanwhile
                continue
        return runs

    def _row(self, job: Any) -> Row:
        recorded: Mapping[str, str] = getattr(job, "step_status", {}) or {}
        total = len(job.jobs or {})
        done = sum(1 for s in recorded.values() if s in ("Completed", "Failed", "Canceled", "Skipped"))
        status = _status_text(job.status)
        return Row(job.name, {"status": status, "display_name": job.display_name or job.name, "name": job.name,
                              "experiment": job.experiment_name or "", "steps": f"{done} of {total} ended",
                              "created": job.creation_time, "duration": job.duration_seconds},
                   html={"status": _badge(status)})

    def _follow_list(self) -> None:
        active = [j.name for j in self.runs if j.status not in TERMINAL_STATES]
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        if active:
            poller = SharedPoller.for_workspace(self.ws, self.poll_interval)
            self._subscription = poller.subscribe(
                ("pipeline-list", str(getattr(self.ws, "path", id(self.ws)))),
                self._pipeline_runs, self._on_list)

    def _on_list(self, runs: Any, error: BaseException | None) -> bool:
        if error is not None or runs is None:
            return True
        self.runs = runs
        self.runs_table.set_rows([self._row(job) for job in runs])
        return any(j.status not in TERMINAL_STATES for j in runs)

    def open_run(self, name: str) -> PipelineRunView | None:
        """Open pipeline run ``name``'s page in place of the list."""
        if self.run_view is not None:
            self.run_view.close()
        try:
            self.run_view = PipelineRunView(self.ws, name, poll_interval=self.poll_interval,
                                            on_submitted=self._submitted)
        except StudioError as exc:
            self.message.error(str(exc))
            return None
        self.message.clear()
        self.run_box.children = [widgets.HBox([self.back_button]), self.run_view]
        self.list_box.layout.display = "none"
        self.run_box.layout.display = "flex"
        self.tabs.selected_index = 0
        return self.run_view

    def show_list(self) -> None:
        if self.run_view is not None:
            self.run_view.close()
            self.run_view = None
        self.run_box.children = []
        self.run_box.layout.display = "none"
        self.list_box.layout.display = "flex"
        self.refresh()

    def _submitted(self, name: str) -> None:
        self.message.info(f"Submitted pipeline run {name}; it is in the list.")
        self.refresh()

    def close(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
        if self.run_view is not None:
            self.run_view.close()
        super().close()
