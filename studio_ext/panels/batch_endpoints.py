"""The Endpoints page's "Batch endpoints" tab: batch and pipeline endpoints, and an endpoint's page.

The list shows every batch endpoint; one whose deployments run a pipeline component
(a ``PipelineComponentBatchDeployment``) is labelled a pipeline endpoint, as the studio's
"Pipeline endpoints" were. An endpoint's page has four tabs:

* Details: its properties, its deployments (kind, model or component, compute, settings,
  which is the default) and a control to change the default;
* Jobs: its invocations with their state and a progress bar of mini-batches (a failed or
  partly failed job lists its failed mini-batches: items, error, tries), refreshed
  live while one runs (through :class:`~studio_ext.panels._widgets.SharedPoller`);
* Consume: the invocation URI, the keys (masked, reveal, copy, regenerate) and snippets
  for curl, Python and azure-ai-ml;
* Invoke: a form that starts a job on a registered dataset or on files uploaded from the
  user's computer; the new job then shows in Jobs.

Every action goes through ``ws.batch_endpoints``, ``ws.batch_deployments``, ``ws.data``,
``ws.components`` and ``ws.jobs``, and shows the equivalent Python.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from studio_ext.entities import (
    TERMINAL_STATES,
    BatchDeployment,
    BatchEndpoint,
    BatchEndpointDefaults,
    BatchJobError,
    Input,
    Job,
    JobStatus,
    KeyType,
    ModelBatchDeployment,
    PipelineComponent,
    PipelineComponentBatchDeployment,
)
from studio_ext.errors import StudioError
from studio_ext.panels._format import format_duration, format_number, format_value, value_html
from studio_ext.panels._table import Column, Row, Table
from studio_ext.panels._widgets import (
    CodeBox,
    Message,
    Reveal,
    SharedPoller,
    Subscription,
    badge,
    now_utc,
    set_choices,
    status_badge,
)
from studio_ext.panels.endpoints import CopyButton

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

_MASK = "•" * 12
_STATE_COLOURS = {"Succeeded": "#107c10", "Failed": "#a4262c", "Creating": "#8764b8", "Updating": "#8764b8",
                  "Deleting": "#797775"}
#: The pipeline input a model deployment's invocation binds (Azure's name for it).
MODEL_INPUT = "input_data"
_DATA_TYPES = ("uri_folder", "uri_file", "mltable")
_LITERAL_TYPES = ("string", "integer", "number", "boolean")
#: Tags the batch service puts on an invocation's pipeline job.
DEPLOYMENT_TAG = "azureml.batch_deployment"


def _state_badge(state: Any) -> str:
    text = str(state) if state is not None else "Unknown"
    return badge(text, _STATE_COLOURS.get(text, "#444"))


def pairs_table(pairs: Sequence[tuple[str, Any]], *, columns: int = 2, raw: Sequence[str] = ()) -> str:
    """Label/value pairs in ``columns`` side-by-side columns, without a header (short, so what follows stays in view).

    Values go through the one formatter, except those whose label is in ``raw`` (already HTML).
    """
    cells = [(f"<td style='padding:2px 8px;color:#555;white-space:nowrap'>{html.escape(label)}</td>"
              f"<td style='padding:2px 24px 2px 8px;white-space:nowrap'>"
              f"{value if label in raw else value_html(value)}</td>") for label, value in pairs]
    per_column = -(-len(cells) // columns) if cells else 0
    rows = []
    for i in range(per_column):
        row = "".join(cells[c * per_column + i] if c * per_column + i < len(cells) else "<td></td><td></td>"
                      for c in range(columns))
        rows.append(f"<tr style='border-bottom:1px solid #eee'>{row}</tr>")
    return ("<div style='overflow-x:auto'><table style='border-collapse:collapse;font-size:90%'>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def endpoint_kind(deployments: Sequence[BatchDeployment]) -> str:
    """``"Pipeline"`` when the endpoint's deployments run pipeline components, ``"Model"`` when they score a
    model, ``"Model and pipeline"`` for both, ``""`` with no deployment yet."""
    kinds = {d.type for d in deployments}
    if kinds == {"pipeline"}:
        return "Pipeline"
    if kinds == {"model"}:
        return "Model"
    return "Model and pipeline" if kinds else ""


def _asset_ref(asset: Any) -> str:
    """A model or component as the studio names it: ``name:version`` (a string reference without ``azureml:``)."""
    if asset is None:
        return ""
    if isinstance(asset, str):
        return asset.removeprefix("azureml:")
    name, version = getattr(asset, "name", None), getattr(asset, "version", None)
    return f"{name}:{version}" if version else str(name or "")


def deployment_settings(deployment: BatchDeployment) -> list[tuple[str, Any]]:
    """A deployment's settings as (label, value) pairs, in Azure's names."""
    if isinstance(deployment, ModelBatchDeployment):
        s = deployment.settings
        code = deployment.code_configuration
        return [
            ("instance_count", s.instance_count), ("max_concurrency_per_instance", s.max_concurrency_per_instance),
            ("mini_batch_size", s.mini_batch_size), ("output_action", str(s.output_action)),
            ("output_file_name", s.output_file_name), ("retry_settings.max_retries", s.retry_settings.max_retries),
            ("retry_settings.timeout", f"{format_number(s.retry_settings.timeout)} s"),
            ("error_threshold", s.error_threshold), ("logging_level", s.logging_level),
            ("environment_variables", s.environment_variables or "none"),
            ("code_configuration", f"{code.scoring_script} in {code.code}" if code else "none (MLflow model)"),
            ("environment", _asset_ref(deployment.environment) or "the model's own"),
        ]
    if isinstance(deployment, PipelineComponentBatchDeployment):
        return [(key, value) for key, value in sorted(deployment.settings.items())]
    return []


# -- progress of a job ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchProgress:
    """How far an invocation got: mini-batches (a pipeline endpoint's job: steps) done of ``total``, failed,
    and rows written."""

    done: int = 0
    failed: int = 0
    total: int = 0
    rows: int | None = None
    unit: str = "mini-batches"

    @property
    def known(self) -> bool:
        return self.total > 0


# The scoring driver's metric names (and the shorter ones a pipeline component's step may log).
_DONE_KEYS = ("mini_batches_completed", "mini_batches_done", "completed_mini_batches")
_FAILED_KEYS = ("mini_batches_failed", "failed_mini_batches")
_TOTAL_KEYS = ("mini_batches_total", "mini_batches", "total_mini_batches")
_ROWS_KEYS = ("rows_written", "rows", "rows_scored", "items_scored")


def _first(metrics: dict[str, float], keys: Sequence[str]) -> float | None:
    for key in keys:
        if key in metrics and metrics[key] is not None:
            return metrics[key]
    return None


def steps_progress(step_status: dict[str, str]) -> BatchProgress:
    """A pipeline endpoint's job: its steps completed (run or reused) and failed, of all its steps."""
    ended = [str(v) for v in step_status.values()]
    return BatchProgress(done=sum(v == "Completed" for v in ended),
                         failed=sum(v in {"Failed", "Canceled"} for v in ended), total=len(ended), unit="steps")


def progress_of(metrics: dict[str, float]) -> BatchProgress:
    """A job's progress from its metrics (the scoring step's, or the job's own)."""
    done, failed = _first(metrics, _DONE_KEYS), _first(metrics, _FAILED_KEYS)
    total, rows = _first(metrics, _TOTAL_KEYS), _first(metrics, _ROWS_KEYS)
    return BatchProgress(done=int(done or 0), failed=int(failed or 0), total=int(total or 0),
                         rows=None if rows is None else int(rows))


def progress_html(progress: BatchProgress, status: Any) -> str:
    """A bar of mini-batches: done in green, failed in red, with ``7 of 10`` beside it."""
    if not progress.known:
        if progress.done or progress.failed:  # counts without a total: no bar to draw
            note = f"{format_number(progress.done)} {progress.unit} done" + (
                f", {format_number(progress.failed)} failed" if progress.failed else "")
        else:
            note = f"no {progress.unit}" if _ended(status) else f"waiting for the first of its {progress.unit}"
        return f"<span style='color:#666;font-size:90%'>{html.escape(note)}</span>"
    total = progress.total
    ok = min(100.0, 100.0 * progress.done / total)
    bad = min(100.0 - ok, 100.0 * progress.failed / total)
    label = f"{format_number(progress.done + progress.failed)} of {format_number(total)} {progress.unit}"
    if progress.failed:
        label += f", {format_number(progress.failed)} failed"
    return ("<div style='display:flex;align-items:center;gap:6px'>"
            "<div style='width:120px;height:10px;background:#e8e8e8;border-radius:5px;display:flex;overflow:hidden'>"
            f"<div style='width:{ok:.1f}%;background:#107c10'></div><div style='width:{bad:.1f}%;background:#a4262c'>"
            f"</div></div><span style='font-size:90%'>{html.escape(label)}</span></div>")


def _status(status: Any) -> str:
    return str(getattr(status, "value", status))


def _ended(status: Any) -> bool:
    return _status(status) in {s.value for s in TERMINAL_STATES}


# -- the list ----------------------------------------------------------------------------------------------
class BatchEndpointsPanel(widgets.VBox):
    """Batch endpoints (pipeline endpoints among them) and the chosen endpoint's page below the list.

    ``code`` is the page's Equivalent Python box (the Endpoints page shares its own); without one the
    panel shows a box of its own under its content.
    """

    def __init__(self, ws: Workspace, *, code: CodeBox | None = None, endpoint: str | None = None) -> None:
        self.ws = ws
        self.code = code or CodeBox()
        self.message = Message()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.table = Table([Column("name", "Name", link=True), Column("kind", "Type"),
                            Column("state", "State", kind="html"), Column("default", "Default deployment"),
                            Column("deployments", "Deployments"), Column("uri", "Invocation URI"),
                            Column("created", "Created on", kind="date"), Column("description", "Description")],
                           on_open=self.open_endpoint, selectable=False, max_height="260px", sort="created",
                           descending=True,
                           empty="No batch endpoints yet: ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name=...)), "
                                 "then a ModelBatchDeployment or PipelineComponentBatchDeployment.")
        self._reveal = Reveal()
        self.endpoint_area = widgets.VBox()
        self.view: BatchEndpointView | None = None
        self.endpoints: list[BatchEndpoint] = []
        intro = widgets.HTML("<span style='color:#555'>Batch endpoints score files or tables in mini-batches with a "
                             "model deployment; pipeline endpoints run a published pipeline component. Click an "
                             "endpoint to see its deployments, jobs and how to invoke it.</span>")
        children: list[widgets.Widget] = [widgets.HBox([self.refresh_button, intro],
                                                       layout=widgets.Layout(align_items="center")),
                                          self.message, self.table, self._reveal, self.endpoint_area]
        if code is None:
            children.append(self.code)
        super().__init__(children)
        self.refresh(select=endpoint)

    def refresh(self, select: str | None = None) -> None:
        """List the batch endpoints again and keep (or open) the chosen one's page."""
        self.message.clear()
        try:
            endpoints = self.ws.batch_endpoints.list()
            deployments = {e.name: self.ws.batch_deployments.list(e.name) for e in endpoints}
        except StudioError as exc:
            self.message.error(exc.message)
            return
        self.endpoints = sorted(endpoints, key=lambda e: e.creation_time.timestamp() if e.creation_time else 0,
                                reverse=True)
        rows = []
        for e in self.endpoints:
            kind = endpoint_kind(deployments[e.name])
            rows.append(Row(e.name, {
                "name": e.name, "kind": f"{kind} endpoint" if kind else "Batch endpoint (no deployment)",
                "state": str(e.provisioning_state or ""), "default": e.defaults.deployment_name or "",
                "deployments": ", ".join(d.name for d in deployments[e.name]) or "none",
                "uri": e.scoring_uri or "", "created": e.creation_time, "description": e.description or ""},
                html={"state": _state_badge(e.provisioning_state)}))
        self.table.set_rows(rows)
        names = [e.name for e in self.endpoints]
        chosen = select or (self.view.name if self.view is not None else None)
        if chosen not in names:
            chosen = names[0] if names else None  # the newest endpoint opens at once, never a blank page
        if chosen is None:
            self._close_view()
        else:
            self.open_endpoint(chosen, reveal=select is not None)

    def _close_view(self) -> None:
        if self.view is not None:
            self.view.close()
        self.view = None
        self.endpoint_area.children = []

    def open_endpoint(self, name: str, *, reveal: bool = True) -> BatchEndpointView | None:
        """Show endpoint ``name``'s page under the list (refreshed if it is the one shown)."""
        if self.view is not None and self.view.name == name:
            self.view.refresh()
        else:
            self._close_view()
            try:
                self.view = BatchEndpointView(self, name)
            except StudioError as exc:
                self.message.error(exc.message)
                return None
            self.endpoint_area.children = [self.view]
        if reveal:
            self._reveal.now()  # the endpoint's page scrolls into view, not below the fold
        return self.view

    def close(self) -> None:
        self._close_view()
        super().close()


# -- one endpoint ------------------------------------------------------------------------------------------
class BatchEndpointView(widgets.VBox):
    """One batch endpoint: Details, Jobs, Consume and Invoke tabs."""

    def __init__(self, panel: BatchEndpointsPanel, name: str) -> None:
        self.panel, self.ws, self.name, self.code = panel, panel.ws, name, panel.code
        self.endpoint = self.ws.batch_endpoints.get(name)
        self.deployments: list[BatchDeployment] = []
        self.header = widgets.HTML()
        self.details = DetailsTab(self)
        self.jobs = JobsTab(self)
        self.consume = ConsumeTab(self)
        self.invoke_form = InvokeForm(self)
        self.tabs = widgets.Tab(children=[self.details, self.jobs, self.consume, self.invoke_form])
        for i, title in enumerate(("Details", "Jobs", "Consume", "Invoke")):
            self.tabs.set_title(i, title)
        self.tabs.observe(self._on_tab, "selected_index")
        super().__init__([self.header, self.tabs])
        self.refresh()

    @property
    def kind(self) -> str:
        return endpoint_kind(self.deployments)

    def component_of(self, deployment: PipelineComponentBatchDeployment) -> PipelineComponent | None:
        """The pipeline component a deployment runs (read from ``ws.components`` when it is named)."""
        component = deployment.component
        if isinstance(component, PipelineComponent) or component is None:
            return component
        name, _, version = str(component).removeprefix("azureml:").partition(":")
        try:
            found = self.ws.components.get(name, version or None)
        except StudioError:
            return None
        return found if isinstance(found, PipelineComponent) else None

    def refresh(self) -> None:
        self.endpoint = self.ws.batch_endpoints.get(self.name)
        self.deployments = self.ws.batch_deployments.list(self.name)
        label = f"{self.kind} endpoint" if self.kind else "Batch endpoint"
        description = (f"<div style='color:#555'>{html.escape(self.endpoint.description)}</div>"
                       if self.endpoint.description else "")
        self.header.value = (f"<h3 style='margin:6px 0 2px'>{html.escape(self.name)} "
                             f"<span style='font-weight:normal;color:#555;font-size:80%'>{html.escape(label)}</span>"
                             f"</h3>{description}")
        self.details.refresh()
        self.jobs.refresh()
        self.consume.refresh()
        self.invoke_form.refresh()

    def _on_tab(self, change: dict) -> None:
        if change["new"] == 1:
            self.jobs.refresh()

    def show_jobs(self, select: str | None = None) -> None:
        """Turn to the Jobs tab, the job ``select`` chosen."""
        self.jobs.refresh(select=select)
        self.tabs.selected_index = 1

    def close(self) -> None:
        self.jobs.stop_following()
        super().close()


class DetailsTab(widgets.VBox):
    """The endpoint's properties, its deployments with their settings, and its default deployment."""

    def __init__(self, view: BatchEndpointView) -> None:
        self.view = view
        self.properties = widgets.HTML()
        self.table = Table([Column("name", "Deployment", link=True), Column("default", "Default", kind="html"),
                            Column("kind", "Kind"), Column("asset", "Model or component"),
                            Column("compute", "Compute"), Column("instances", "Instances", kind="number"),
                            Column("concurrency", "Processes per instance", kind="number"),
                            Column("mini_batch", "Mini-batch size", kind="number"),
                            Column("output", "Output"), Column("state", "State", kind="html"),
                            Column("created", "Created on", kind="date")],
                           on_open=self.show_deployment, selectable=False, max_height="220px",
                           empty="No deployments yet: ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(...)).")
        self.default_select = widgets.Dropdown(description="Default deployment", style={"description_width": "initial"})
        self.set_default_button = widgets.Button(description="Set as default", icon="check")
        self.set_default_button.on_click(lambda _b: self.set_default())
        self.message = Message()
        self.deployment_title = widgets.HTML()
        self.deployment_details = widgets.HTML()
        self.shown: str | None = None
        super().__init__([self.properties, widgets.HTML("<b>Deployments</b>"), self.table,
                          widgets.HBox([self.default_select, self.set_default_button]), self.message,
                          self.deployment_title, self.deployment_details])

    def refresh(self) -> None:
        e, deployments = self.view.endpoint, self.view.deployments
        default = e.defaults.deployment_name
        self.properties.value = pairs_table([
            ("State", _state_badge(e.provisioning_state)), ("Invocation URI", e.scoring_uri or ""),
            ("Default deployment", default or "none"), ("Authentication", e.auth_mode),
            ("Created on", e.creation_time), ("Tags", e.tags or "none")], columns=3, raw=("State",))
        rows = []
        for d in deployments:
            values: dict[str, Any] = {"name": d.name, "default": "default" if d.name == default else "",
                                      "kind": "Pipeline component" if d.type == "pipeline" else "Model",
                                      "state": str(d.provisioning_state or ""), "created": d.creation_time}
            if isinstance(d, ModelBatchDeployment):
                s = d.settings
                values.update(asset=_asset_ref(d.model), compute=d.compute or "local",
                              instances=s.instance_count, concurrency=s.max_concurrency_per_instance,
                              mini_batch=s.mini_batch_size,
                              output=(f"{s.output_action}: {s.output_file_name}"
                                      if str(s.output_action) == "append_row" else str(s.output_action)))
            elif isinstance(d, PipelineComponentBatchDeployment):
                # Computes and sizes are the pipeline's steps' own: nothing to show per deployment.
                values.update(asset=_asset_ref(d.component), compute=d.settings.get("default_compute") or "each step's",
                              instances="—", concurrency="—", mini_batch="—", output="the pipeline's outputs")
            rows.append(Row(d.name, values, html={
                "default": badge("default", "#0078d4") if d.name == default else "",
                "state": _state_badge(d.provisioning_state)}))
        self.table.set_rows(rows)
        names = [d.name for d in deployments]
        set_choices(self.default_select, names, keep=default, pick_first=True)
        self.set_default_button.disabled = not names
        self.default_select.layout.display = "" if names else "none"
        self.set_default_button.layout.display = "" if names else "none"
        chosen = self.shown if self.shown in names else (default if default in names else (names[0] if names else None))
        if chosen:
            self.show_deployment(chosen, quiet=True)
        else:
            self.deployment_title.value = self.deployment_details.value = ""

    def show_deployment(self, name: str, *, quiet: bool = False) -> None:
        """Show deployment ``name``'s settings under the table (``quiet``: a refresh, not a click)."""
        deployment = next((d for d in self.view.deployments if d.name == name), None)
        if deployment is None:
            return
        self.shown = name
        self.deployment_title.value = (f"<b>{html.escape(name)}</b> <span style='color:#555'>"
                                       f"({'pipeline component' if deployment.type == 'pipeline' else 'model'} "
                                       "deployment settings)</span>")
        rows: list[tuple[str, Any]] = [("endpoint_name", deployment.endpoint_name)]
        if isinstance(deployment, ModelBatchDeployment):
            rows += [("model", _asset_ref(deployment.model)), ("compute", deployment.compute or "local")]
        elif isinstance(deployment, PipelineComponentBatchDeployment):
            rows += [("component", _asset_ref(deployment.component))]
            component = self.view.component_of(deployment)
            if component is not None:
                rows += [("steps", ", ".join(component.jobs) or "none"),
                         ("inputs", ", ".join(f"{k} ({v.type}" + (f", default {format_value(v.default)})"
                                                                   if v.default is not None else ")")
                                              for k, v in component.inputs.items()) or "none"),
                         ("outputs", ", ".join(component.outputs) or "none")]
        rows += deployment_settings(deployment)
        rows += [(label, value) for label, value in (("description", deployment.description),
                                                    ("tags", deployment.tags)) if value]
        self.deployment_details.value = pairs_table(rows, columns=3)
        if not quiet:
            self.view.code.show(f"ws.batch_deployments.get({name!r}, endpoint_name={self.view.name!r})")

    def set_default(self) -> None:
        """Make the chosen deployment the one an invocation runs when it names none."""
        name = self.default_select.value
        self.message.clear()
        if not name:
            self.message.error("Choose a deployment first.")
            return
        endpoint = self.view.endpoint
        updated = BatchEndpoint(name=endpoint.name, description=endpoint.description, tags=dict(endpoint.tags),
                                properties=dict(endpoint.properties), auth_mode=endpoint.auth_mode,
                                defaults=BatchEndpointDefaults(deployment_name=name))
        try:
            self.view.ws.batch_endpoints.begin_create_or_update(updated).result(timeout=120)
        except StudioError as exc:
            self.message.error(exc.message)
            return
        self.view.code.show(f"endpoint = ws.batch_endpoints.get({endpoint.name!r})\n"
                            f"endpoint.defaults.deployment_name = {name!r}\n"
                            "ws.batch_endpoints.begin_create_or_update(endpoint).result()")
        self.view.refresh()
        self.view.panel.refresh()
        self.message.info(f"{name} is now the default deployment of {endpoint.name}.")


class JobsTab(widgets.VBox):
    """The endpoint's invocations, newest first, with state and progress; live while one runs."""

    poll_interval = 1.0

    def __init__(self, view: BatchEndpointView) -> None:
        self.view, self.ws = view, view.ws
        self.table = Table([Column("name", "Job", link=True), Column("deployment", "Deployment"),
                            Column("status", "Status", kind="html"), Column("progress", "Progress", kind="html"),
                            Column("rows", "Rows", kind="number"), Column("input", "Input"),
                            Column("created", "Created on", kind="date"), Column("duration", "Duration", kind="duration")],
                           on_open=self.show_job, selectable=False, max_height="300px", sort="created",
                           descending=True, empty="No jobs yet: invoke the endpoint (the Invoke tab).")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.live = widgets.HTML()
        self.message = Message()
        self.job_title = widgets.HTML()
        self.job_details = widgets.HTML()
        self.open_button = widgets.Button(description="Open the job's page", icon="external-link")
        self.open_button.on_click(lambda _b: self.open_job())
        self.open_button.layout.display = "none"
        self.job_area = widgets.VBox()
        self.jobs: list[Job] = []
        self.progress: dict[str, BatchProgress] = {}
        self._final: dict[str, BatchProgress] = {}  # an ended job's progress no longer changes
        self._ended_jobs: dict[str, Job] = {}  # nor does the job
        self._errors_of: dict[str, list[BatchJobError]] = {}  # nor its failed mini-batches
        self.shown: str | None = None
        self.opened: Any = None
        self._subscription: Subscription | None = None
        self._drawn: Any = None
        super().__init__([widgets.HBox([self.refresh_button, self.live], layout=widgets.Layout(align_items="center")),
                          self.message, self.table, self.job_title, self.job_details, self.open_button, self.job_area])

    # -- data ----------------------------------------------------------------------------------------
    def _progress(self, job: Job) -> BatchProgress:
        """The job's progress from its scoring step's metrics (or its own, for a pipeline endpoint's job)."""
        name = job.name or ""
        if name in self._final:
            return self._final[name]
        metrics = dict(job.metrics)
        steps = getattr(job, "step_jobs", None) or {}
        step = steps.get("batchscoring")
        step_status = getattr(job, "step_status", None) or {}
        if step_status and "batchscoring" not in step_status:  # a pipeline endpoint's job: its pipeline's steps
            child_status: dict[str, str] = {}
            if len(steps) == 1:  # the invocation's one child is the pipeline run
                try:
                    child_status = dict(getattr(self.ws.jobs.get(next(iter(steps.values()))), "step_status",
                                                None) or {})
                except StudioError:
                    pass
            progress = steps_progress(child_status or step_status)
            if _ended(job.status):
                self._final[name] = progress
            return progress
        if step:
            try:
                metrics = {**metrics, **self.ws.jobs.get(step).metrics}
            except StudioError:
                pass
        progress = progress_of(metrics)
        if _ended(job.status):
            self._final[name] = progress
        return progress

    def _fetch(self) -> tuple[list[Job], dict[str, BatchProgress]]:
        jobs = self.ws.batch_endpoints.list_jobs(self.view.name)
        # list_jobs gives the jobs as listed; their inputs, steps (and progress) come with get(), once an
        # ended job has been read.
        detailed = []
        for j in jobs:
            name = j.name or ""
            if name not in self._ended_jobs:
                j = self.ws.jobs.get(name)
                if _ended(j.status):
                    self._ended_jobs[name] = j
            detailed.append(self._ended_jobs.get(name, j))
        return detailed, {j.name or "": self._progress(j) for j in detailed}

    def refresh(self, select: str | None = None) -> None:
        """List the jobs again; follow them live while one is active."""
        self.message.clear()
        try:
            jobs, progress = self._fetch()
        except StudioError as exc:
            self.message.error(exc.message)
            return
        if select:
            self.shown = select
        self._draw(jobs, progress)
        self._follow_if_active()

    def _draw(self, jobs: list[Job], progress: dict[str, BatchProgress]) -> None:
        drawn = [(j.name, _status(j.status), progress.get(j.name or "")) for j in jobs]
        if drawn == self._drawn:
            return
        self._drawn = drawn
        self.jobs, self.progress = jobs, progress
        rows = []
        for j in jobs:
            p = progress.get(j.name or "", BatchProgress())
            rows.append(Row(j.name or "", {
                "name": j.name, "deployment": j.tags.get(DEPLOYMENT_TAG, ""),
                "status": _status(j.status), "progress": p.done, "rows": p.rows, "input": _input_text(j),
                "created": j.creation_time, "duration": _duration(j)},
                html={"status": status_badge(j.status), "progress": progress_html(p, j.status)}))
        self.table.set_rows(rows)
        names = [j.name for j in jobs]
        if self.shown not in names:
            self.shown = names[0] if names else None
        if self.shown:
            self.show_job(self.shown, quiet=True)
        else:
            self.job_title.value = self.job_details.value = ""
            self.open_button.layout.display = "none"
        active = any(not _ended(j.status) for j in jobs)
        self.live.value = ("<span style='color:#0078d4;font-size:90%'>● live: refreshing while a job runs</span>"
                           if active else "")

    def show_job(self, name: str, *, quiet: bool = False) -> None:
        """Show job ``name``'s state, progress and errors under the table."""
        job = next((j for j in self.jobs if j.name == name), None)
        if job is None:
            return
        if self.shown != name and self.opened is not None:
            self.job_area.children = []
            self.opened = None
        self.shown = name
        p = self.progress.get(name, BatchProgress())
        self.job_title.value = (f"<b>{html.escape(name)}</b> <span style='color:#555'>"
                                f"({html.escape(job.display_name or '')})</span>" if job.display_name else
                                f"<b>{html.escape(name)}</b>")
        rows: list[tuple[str, Any]] = [
            ("Status", status_badge(job.status)), ("Progress", progress_html(p, job.status)),
            *([("Rows written", html.escape(format_value(p.rows, none="-")))] if p.unit == "mini-batches" else []),
            ("Deployment", html.escape(job.tags.get(DEPLOYMENT_TAG, ""))),
            ("Experiment", html.escape(job.experiment_name or "")), ("Input", html.escape(_input_text(job))),
            ("Duration", html.escape(_duration_text(job)))]
        if job.error:
            rows.append(("Error", f"<span style='color:#a4262c;white-space:pre-wrap'>{html.escape(job.error)}</span>"))
        errors = self._errors(job, p)
        self.job_details.value = pairs_table(rows, columns=2, raw=[label for label, _ in rows]) + \
            failed_mini_batches_html(errors)
        self.open_button.layout.display = ""
        if not quiet:
            outputs = getattr(job, "outputs", None) or {}  # a pipeline endpoint's job names its own output
            output = "score" if p.unit == "mini-batches" or not outputs else next(iter(outputs))
            code = (f"job = ws.jobs.get({name!r})\n"
                    f"ws.jobs.download({name!r}, output_name={output!r}, download_path='.')"
                    + ("  # the predictions" if output == "score" else ""))
            if errors:
                code += (f"\nfor failed in ws.batch_endpoints.list_errors({self.view.name!r}, {name!r}):\n"
                         "    print(failed.mini_batch, failed.items, failed.tries, failed.error)")
            self.view.code.show(code)

    def _errors(self, job: Job, progress: BatchProgress) -> list[BatchJobError]:
        """The job's failed mini-batches (read once the job has ended, or as soon as some have failed)."""
        name = job.name or ""
        if name in self._errors_of:
            return self._errors_of[name]
        if not progress.failed and _status(job.status) != JobStatus.FAILED.value:
            return []
        try:
            found = self.ws.batch_endpoints.list_errors(self.view.name, name)
        except StudioError:
            return []
        if _ended(job.status):
            self._errors_of[name] = found
        return found

    def open_job(self) -> Any:
        """The job's page (the run explorer's details: its steps, logs and outputs) under the summary."""
        if not self.shown:
            return None
        from studio_ext.panels import open_page

        self.opened = open_page("jobs", self.ws, run=self.shown)
        self.job_area.children = [self.opened]
        return self.opened

    # -- live refresh --------------------------------------------------------------------------------
    def _follow_if_active(self) -> None:
        active = any(not _ended(j.status) for j in self.jobs)
        if not active or self._subscription is not None:
            return
        poller = SharedPoller.for_workspace(self.ws, self.poll_interval)
        self._subscription = poller.subscribe(("batch-jobs", self.view.name, id(self)), self._fetch, self._on_live)

    def _on_live(self, result: Any, error: BaseException | None) -> bool:
        if error is not None:
            return True  # a busy store: try again on the next tick
        jobs, progress = result
        self._draw(jobs, progress)
        if any(not _ended(j.status) for j in jobs):
            return True
        self._subscription = None
        return False

    @property
    def following(self) -> bool:
        return self._subscription is not None

    def stop_following(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None


MAX_ITEMS_SHOWN = 4


def failed_mini_batches_html(errors: Sequence[BatchJobError]) -> str:
    """A table of failed mini-batches: which, its items (file names, a few), the last error and the tries."""
    if not errors:
        return ""
    items_total = sum(len(e.items) for e in errors)
    head = (f"<div style='margin:10px 0 4px;font-weight:600;color:#a4262c'>Failed mini-batches: "
            f"{format_number(len(errors))} ({format_number(items_total)} item{'' if items_total == 1 else 's'})</div>")
    cell = "padding:4px 8px;border-bottom:1px solid #edebe9;vertical-align:top;text-align:left"
    rows = []
    for e in errors:
        names = [Path(i).name or i for i in e.items]
        shown = ", ".join(html.escape(n) for n in names[:MAX_ITEMS_SHOWN])
        if len(names) > MAX_ITEMS_SHOWN:
            shown += f" and {format_number(len(names) - MAX_ITEMS_SHOWN)} more"
        title = html.escape("\n".join(e.items))
        rows.append(f"<tr><td style='{cell}'>{format_number(e.mini_batch)}</td>"
                    f"<td style='{cell}' title='{title}'>{shown}</td>"
                    f"<td style='{cell};color:#a4262c;white-space:pre-wrap;word-break:break-word;max-width:760px'>"
                    f"{html.escape(e.error)}</td>"
                    f"<td style='{cell}'>{format_number(e.tries)}{' (timeout)' if e.kind == 'timeout' else ''}</td>"
                    "</tr>")
    header = "".join(f"<th style='{cell};color:#605e5c;font-weight:600'>{h}</th>"
                     for h in ("Mini-batch", "Items", "Error", "Tries"))
    return (head + "<table class='batch-failed' style='border-collapse:collapse;width:auto;max-width:100%;"
            "font-size:13px'>"
            f"<thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _input_text(job: Job) -> str:
    inputs = getattr(job, "inputs", None) or {}
    parts = []
    for key, value in inputs.items():
        path = getattr(value, "path", None)
        if path is None:
            path = getattr(value, "default", value) if not isinstance(value, str | int | float | bool) else value
        text = str(path)
        parts.append(text if len(inputs) == 1 else f"{key}={text}")
    return ", ".join(parts)


def _duration(job: Job) -> float | None:
    if job.start_time is None:
        return None
    end = job.end_time
    if end is None:
        end = now_utc()
    start = job.start_time
    if (start.tzinfo is None) != (end.tzinfo is None):
        return None
    return max(0.0, (end - start).total_seconds())


def _duration_text(job: Job) -> str:
    return format_duration(_duration(job))


class ConsumeTab(widgets.VBox):
    """The invocation URI, the keys (masked; reveal, copy, regenerate) and ready-to-run snippets."""

    SNIPPETS = ("curl", "Python (requests)", "azure-ai-ml")

    def __init__(self, view: BatchEndpointView) -> None:
        self.view = view
        self.uri = widgets.HTML()
        self.key_fields: dict[str, widgets.Text] = {}
        self.copy_buttons: dict[str, CopyButton] = {}
        self.regenerate_buttons: dict[str, widgets.Button] = {}
        self.reveal = widgets.ToggleButton(description="Show keys", icon="eye")
        self.reveal.observe(lambda _c: self.show_keys(), "value")
        rows = []
        for kind in KeyType:
            field = widgets.Text(description=f"{kind.value.title()} key", disabled=True,
                                 style={"description_width": "110px"}, layout=widgets.Layout(width="560px"))
            copy = CopyButton()
            regenerate = widgets.Button(description="Regenerate", icon="refresh")
            regenerate.on_click(lambda _b, k=kind: self.regenerate(k))
            self.key_fields[kind.value], self.copy_buttons[kind.value] = field, copy
            self.regenerate_buttons[kind.value] = regenerate
            rows.append(widgets.HBox([field, copy, regenerate], layout=widgets.Layout(align_items="center")))
        self.message = Message()
        self.snippet_choice = widgets.ToggleButtons(options=list(self.SNIPPETS))
        self.snippet_choice.observe(lambda _c: self.show_snippet(), "value")
        self.snippet = widgets.HTML()
        self.snippet_copy = CopyButton()
        self.uri_copy = CopyButton()
        note = widgets.HTML("<div style='color:#555;font-size:90%'>POST a job request with "
                            "<code>Authorization: Bearer KEY</code>; the answer (202) names the job and a URL to "
                            "poll.</div>")
        super().__init__([widgets.HBox([self.uri, self.uri_copy], layout=widgets.Layout(align_items="center")), note,
                          self.reveal, *rows, self.message, widgets.HTML("<b>Invoke it from code</b>"),
                          self.snippet_choice, self.snippet, self.snippet_copy])

    def refresh(self) -> None:
        uri = self.view.endpoint.scoring_uri or ""
        self.uri.value = f"<b>Invocation URI</b> <code style='user-select:all'>{html.escape(uri)}</code>"
        self.uri_copy.text = uri
        self.show_keys()
        self.show_snippet()

    def show_keys(self) -> None:
        try:
            keys = self.view.ws.batch_endpoints.get_keys(self.view.name)
        except StudioError as exc:
            self.message.error(exc.message)
            return
        for kind, value in ((KeyType.PRIMARY, keys.primary_key), (KeyType.SECONDARY, keys.secondary_key)):
            self.key_fields[kind.value].value = value if self.reveal.value else _MASK
            self.copy_buttons[kind.value].text = value
        self.reveal.description = "Hide keys" if self.reveal.value else "Show keys"
        self.reveal.icon = "eye-slash" if self.reveal.value else "eye"

    def regenerate(self, kind: KeyType) -> None:
        self.message.clear()
        try:
            self.view.ws.batch_endpoints.begin_regenerate_keys(self.view.name, key_type=kind).result(timeout=60)
        except StudioError as exc:
            self.message.error(exc.message)
            return
        self.show_keys()
        self.show_snippet()
        self.message.info(f"The {kind.value} key was regenerated; the old one no longer works.")
        self.view.code.show(f"ws.batch_endpoints.begin_regenerate_keys({self.view.name!r}, "
                            f"key_type={kind.value!r}).result()")

    def snippets(self) -> dict[str, str]:
        try:
            return self.view.ws.batch_endpoints.consume_snippets(self.view.name)
        except StudioError as exc:
            return dict.fromkeys(self.SNIPPETS, f"# {exc.message}")

    def show_snippet(self) -> None:
        text = self.snippets()[self.snippet_choice.value]
        self.snippet.value = (f"<pre style='background:#f6f8fa;padding:6px;margin:2px 0;white-space:pre-wrap;"
                              f"line-height:1.35;font-size:90%'>{html.escape(text)}</pre>")
        self.snippet_copy.text = text


# -- the invoke form ---------------------------------------------------------------------------------------
class InvokeForm(widgets.VBox):
    """Start a job: a deployment, a registered dataset or uploaded files, and a pipeline's parameters."""

    def __init__(self, view: BatchEndpointView) -> None:
        self.view, self.ws = view, view.ws
        style, wide = {"description_width": "150px"}, widgets.Layout(width="520px")
        self.deployment = widgets.Dropdown(description="Deployment", style=style)
        self.deployment.observe(lambda _c: self._on_deployment(), "value")
        self.input_name = widgets.Dropdown(description="Data input", style=style)
        self.source = widgets.ToggleButtons(options=[("Registered dataset", "data"), ("Upload files", "upload")],
                                            value="data")
        self.source.observe(lambda _c: self._show_source(), "value")
        self.dataset = widgets.Dropdown(description="Dataset", style=style)
        self.version = widgets.Dropdown(description="Version", style={"description_width": "initial"},
                                        layout=widgets.Layout(width="160px"))
        self.dataset.observe(lambda _c: self._on_dataset(), "value")
        self.upload = widgets.FileUpload(description="Choose files", multiple=True, accept="",
                                         layout=widgets.Layout(width="auto"))
        self.folder_name = widgets.Text(description="Folder name", placeholder="a name for the uploaded folder",
                                        style=style, layout=wide)
        self.upload_note = widgets.HTML()
        self.upload.observe(lambda _c: self._on_upload(), "value")
        self.source_box = widgets.VBox()
        self.params_title = widgets.HTML("<b>Pipeline parameters</b>")
        self.params_box = widgets.VBox()
        self.params: dict[str, widgets.Widget] = {}
        self.experiment = widgets.Text(description="Experiment", style=style, layout=wide)
        self.button = widgets.Button(description="Invoke", button_style="primary", icon="play")
        self.button.on_click(lambda _b: self.invoke())
        self.message = Message()
        self.job: Job | None = None
        self._datasets: dict[str, list[str]] = {}
        self._input_types: dict[str, str] = {}
        self._param_specs: dict[str, Input] = {}
        self.source_row = widgets.HBox([_label("Source"), self.source])
        self.intro = widgets.HTML()
        super().__init__([self.intro, self.deployment, self.input_name, self.source_row, self.source_box,
                          self.params_title, self.params_box, self.experiment, self.button, self.message])
        self._show_source()

    # -- choices ---------------------------------------------------------------------------------------
    def refresh(self) -> None:
        view = self.view
        default = view.endpoint.defaults.deployment_name
        options = [(f"{d.name} (default)" if d.name == default else d.name, d.name) for d in view.deployments]
        set_choices(self.deployment, options, keep=self.deployment.value or default, pick_first=True)
        self.experiment.placeholder = f"{view.name} (the endpoint's name)"
        try:
            data = self.ws.data.list()
        except StudioError as exc:
            self.message.error(exc.message)
            data = []
        self._datasets = {}
        for d in sorted(data, key=lambda d: d.creation_time.timestamp() if d.creation_time else 0, reverse=True):
            self._datasets.setdefault(d.name, [])
        for name in self._datasets:
            self._datasets[name] = [v.version for v in sorted(
                self.ws.data.list(name), key=lambda v: int(str(v.version)) if str(v.version).isdigit() else 0,
                reverse=True) if v.version]
        set_choices(self.dataset, list(self._datasets), keep=self.dataset.value, pick_first=True)
        self._on_dataset()
        self._on_deployment()
        self.button.disabled = not view.deployments

    def _deployment(self) -> BatchDeployment | None:
        return next((d for d in self.view.deployments if d.name == self.deployment.value), None)

    def _on_deployment(self) -> None:
        """Offer the deployment's data inputs and, for a pipeline, its parameters with their defaults."""
        deployment = self._deployment()
        self.params, self._param_specs = {}, {}
        self._input_types = {MODEL_INPUT: "uri_folder"}
        if isinstance(deployment, PipelineComponentBatchDeployment):
            component = self.view.component_of(deployment)
            inputs = component.inputs if component is not None else {}
            self._input_types = {k: v.type for k, v in inputs.items() if v.type not in _LITERAL_TYPES}
            for key, spec in inputs.items():
                if spec.type in _LITERAL_TYPES:
                    self.params[key] = _param_field(key, spec)
                    self._param_specs[key] = spec
        set_choices(self.input_name, list(self._input_types), keep=self.input_name.value, pick_first=True)
        has_data = bool(self._input_types)
        for control in (self.input_name, self.source_row, self.source_box):
            control.layout.display = "" if has_data else "none"
        self.input_name.layout.display = "" if len(self._input_types) > 1 else "none"  # one input: nothing to pick
        what = ("runs its pipeline with the data and parameters below" if deployment is not None and
                deployment.type == "pipeline" else "scores the data below in mini-batches")
        self.intro.value = (f"<span style='color:#555'>Start a job: the deployment {what}; the job then shows on "
                            "the Jobs tab.</span>")
        self.params_box.children = list(self.params.values())
        self.params_title.layout.display = "" if self.params else "none"

    def _on_dataset(self) -> None:
        versions = self._datasets.get(self.dataset.value or "", [])
        set_choices(self.version, versions, keep=self.version.value, pick_first=True)

    def _show_source(self) -> None:
        if self.source.value == "data":
            self.source_box.children = [widgets.HBox([self.dataset, self.version])]
        else:
            self.source_box.children = [widgets.HBox([_label("Files"), self.upload]), self.folder_name,
                                        self.upload_note]

    def _on_upload(self) -> None:
        files = list(self.upload.value or ())
        if not files:
            self.upload_note.value = ""
            return
        size = sum(int(f.get("size") or len(bytes(f["content"]))) for f in files)
        count = f"{format_number(len(files))} {'file' if len(files) == 1 else 'files'}"
        names = ", ".join(str(f["name"]) for f in files[:8]) + (", ..." if len(files) > 8 else "")
        self.upload_note.value = (f"<div style='color:#555;font-size:90%;padding-left:158px'>"
                                  f"{count}, {format_number(size)} bytes: {html.escape(names)}</div>")
        if not self.folder_name.value.strip():
            self.folder_name.value = f"{self.view.name}-{time.strftime('%Y%m%d-%H%M%S')}"

    # -- invoke ----------------------------------------------------------------------------------------
    def _save_upload(self) -> Path:
        """Write the uploaded files into ``<workspace>/uploads/FOLDER/`` (as the Data page keeps an uploaded file)."""
        folder_name = re.sub(r"[^A-Za-z0-9._-]+", "-", self.folder_name.value.strip()).strip("-.") or \
            f"{self.view.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        folder = Path(self.ws.path) / "uploads" / folder_name
        folder.mkdir(parents=True, exist_ok=True)
        for item in self.upload.value:
            (folder / Path(str(item["name"])).name).write_bytes(bytes(item["content"]))
        return folder

    def _data_input(self) -> tuple[Input, str] | None:
        """The Input the form describes and its Python, or None with the reason shown."""
        kind = self._input_types.get(self.input_name.value or MODEL_INPUT, "uri_folder")
        if self.source.value == "data":
            if not self.dataset.value or not self.version.value:
                self.message.error("Choose a registered dataset (or upload files): there are none to choose yet."
                                   if not self._datasets else "Choose a dataset and a version.")
                return None
            data = self.ws.data.get(self.dataset.value, self.version.value)
            kind = data.type.azure_type if kind not in _DATA_TYPES or kind == "uri_folder" else kind
            path = f"azureml:{data.name}:{data.version}"
            return Input(type=kind, path=path), f"Input(type={kind!r}, path={path!r})"
        if not self.upload.value:
            self.message.error("Choose the files to upload first (the folder's contents).")
            return None
        folder = self._save_upload()
        return Input(type="uri_folder", path=str(folder)), f"Input(type='uri_folder', path={str(folder)!r})"

    def invoke(self) -> Job | None:
        """Start a job with the form's choices; the Jobs tab then shows it."""
        self.message.clear()
        deployment = self._deployment()
        if deployment is None:
            self.message.error("This endpoint has no deployment to invoke: create one first.")
            return None
        kwargs: dict[str, Any] = {"deployment_name": deployment.name}
        code_args = [f"endpoint_name={self.view.name!r}", f"deployment_name={deployment.name!r}"]
        try:
            params = {k: _param_value(k, w, self._param_specs[k]) for k, w in self.params.items()}
        except ValueError as exc:
            self.message.error(str(exc))
            return None
        data_input = None
        if self._input_types:
            try:
                data_input = self._data_input()
            except StudioError as exc:
                self.message.error(exc.message)
                return None
            if data_input is None:
                return None
        if isinstance(deployment, PipelineComponentBatchDeployment):
            # Literal parameters as azure-ai-ml passes them to a batch invocation: typed Inputs with a default.
            inputs: dict[str, Any] = {k: Input(type=self._param_specs[k].type, default=v)
                                      for k, v in params.items() if v is not None}
            code_inputs = [f"{k!r}: Input(type={self._param_specs[k].type!r}, default={params[k]!r})" for k in inputs]
            if data_input is not None:
                inputs[self.input_name.value] = data_input[0]
                code_inputs.append(f"{self.input_name.value!r}: {data_input[1]}")
            kwargs["inputs"] = inputs
            code_args.append("inputs={" + ", ".join(code_inputs) + "}")
        elif data_input is not None:
            kwargs["input"] = data_input[0]
            code_args.append(f"input={data_input[1]}")
        experiment = self.experiment.value.strip()
        if experiment:
            kwargs["experiment_name"] = experiment
            code_args.append(f"experiment_name={experiment!r}")
        self.view.code.show("job = ws.batch_endpoints.invoke(\n    " + ",\n    ".join(code_args) + ",\n)\n"
                            "ws.jobs.stream(job.name)\n"
                            "ws.jobs.download(job.name, output_name='score', download_path='.')")
        try:
            job = self.ws.batch_endpoints.invoke(self.view.name, **kwargs)
        except StudioError as exc:
            self.message.error(exc.message)
            return None
        self.job = job
        self.message.info(f"Started {job.name}: its progress is on the Jobs tab.")
        self.view.show_jobs(select=job.name)
        return job


def _label(text: str) -> widgets.HTML:
    """A label for a control that draws none, aligned with the form's 150px descriptions."""
    return widgets.HTML(f"<div style='text-align:right;padding-right:8px'>{html.escape(text)}</div>",
                        layout=widgets.Layout(width="158px", min_width="158px"))


def _param_field(name: str, spec: Input) -> widgets.Widget:
    style = {"description_width": "150px"}
    default = spec.default
    if spec.type == "boolean":
        return widgets.Checkbox(value=bool(default), description=name, style=style)
    text = "" if default is None else (format_number(default) if isinstance(default, float) else str(default))
    return widgets.Text(value=text, description=name, style=style, placeholder=spec.type,
                        tooltip=spec.description or spec.type, layout=widgets.Layout(width="520px"))


def _param_value(name: str, field: widgets.Widget, spec: Input) -> Any:
    """A parameter field's value in its declared type (an unchanged float keeps every digit of its default)."""
    if isinstance(field, widgets.Checkbox):
        return bool(field.value)
    text = str(field.value).strip()
    if text == "":
        return None
    try:
        if spec.type == "integer":
            return int(text)
        if spec.type == "number":
            if isinstance(spec.default, float) and text == format_number(spec.default):
                return spec.default
            return float(text)
    except ValueError:
        kind = "an integer" if spec.type == "integer" else "a number"
        raise ValueError(f"The parameter '{name}' must be {kind}; got {text!r}.") from None
    return text


__all__ = ["BatchEndpointView", "BatchEndpointsPanel", "endpoint_kind", "progress_of"]
