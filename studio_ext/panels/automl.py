"""The "New Automated ML job" wizard, then the job's live leaderboard and best model.

Steps as the studio's: dataset (with a preview) → configure (experiment, target,
compute) → task and settings (metric, algorithms, explanation, featurization with
a per-column editor, limits, validation and test data) → review (guardrails
checked on the data, the equivalent studio_ext and azure-ai-ml code) → submit.
Then the leaderboard refreshes live (one shared poller, stopping when the job
ends) with the best metric over time, and the best model's charts, "Register
model" and "Deploy". Every action goes through ``ws.automl``/``ws.jobs``/``ws.data``.
"""

from __future__ import annotations

import html
import logging
import math
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from studio_ext.entities import TERMINAL_STATES, Input, JobStatus
from studio_ext.entities._automl import BlockedTransformer, ColumnPurpose, ForecastingJob
from studio_ext.errors import InvalidInput, StudioError
from studio_ext.panels._insight_widgets import queued
from studio_ext.panels._table import Column, Row, Table
from studio_ext.panels._widgets import (
    CodeBox,
    Message,
    Reveal,
    SharedPoller,
    TagsField,
    format_duration,
    format_value,
    html_table,
    set_choices,
    show_figures,
    status_badge,
    suggest_target,
)
from studio_ext.panels.automl_charts import best_metric_over_time, importance_figure, report_figures

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

__all__ = ["AutoMLResults", "AutoMLWizard", "hyperparameters_text", "leaderboard_groups", "trial_duration"]
log = logging.getLogger("studio_ext.panels.automl")

STEPS = ("Dataset", "Configure job", "Task and settings", "Review")
AUTO = "auto"
VALIDATION_CHOICES = (("Auto", "auto"), ("k-fold cross-validation", "cv"), ("Train-validation split", "split"),
                      ("Validation dataset", "data"))
TEST_CHOICES = (("No test data", "none"), ("Train-test split", "split"), ("Test dataset", "data"))
IMPUTE_CHOICES = ("default", "mean", "median", "most_frequent")
MAX_EDITOR_COLUMNS = 200
NO_WEIGHTS = "(none: every row counts the same)"
TASK_SAMPLE_ROWS = 1000  # rows read to preview the data and to suggest the task from the target
REGRESSION_MIN_DISTINCT = 20  # a numeric target with more distinct values than this suggests regression


class AutoMLWizard(widgets.VBox):
    """``AutoMLWizard(ws)``: create and submit an AutoML job, then watch it.

    Drive it from code as a user would click: set widget values, call ``next()``,
    ``check()``, ``submit()``; ``results`` is the live results view once submitted.
    """

    step = traitlets.Int(0)

    def __init__(self, ws: Workspace, *, poll_interval: float = 2.0) -> None:
        super().__init__()
        self.ws = ws
        self.poll_interval = poll_interval
        self.results: AutoMLResults | None = None
        self.automl_jobs: list[Any] = []
        self.message = Message()
        self.steps_bar = widgets.HTML()
        # 1. dataset
        self.dataset = widgets.Dropdown(description="Dataset", options=[], style={"description_width": "120px"})
        self.version = widgets.Dropdown(description="Version", options=[], style={"description_width": "120px"})
        self.refresh_datasets = widgets.Button(description="Refresh", icon="refresh")
        self.preview = widgets.HTML()
        # 2. configure
        wide = {"description_width": "160px"}
        self.experiment = widgets.Text(description="Experiment name", style=wide)
        self.target = widgets.Dropdown(description="Target column", options=[], style=wide)
        # Each row's sample weight (azure-ai-ml's weight_column_name): not a feature.
        # "" (not None) for no weights: a dropdown whose value is None shows as a blank box in the browser.
        self.weight = widgets.Dropdown(description="Weight column", options=[(NO_WEIGHTS, "")], value="",
                                       style=wide)
        self.compute = widgets.Dropdown(description="Compute", options=["local"], value="local", style=wide)
        # 3. task and settings
        self._sample: Any = None  # the first rows of the chosen data (the preview, the task suggestion)
        self._task_chosen = False  # the user picked the task: the target's suggestion no longer applies
        self._setting_task = False
        self.task_hint = widgets.HTML()
        self.task = widgets.ToggleButtons(options=[("Classification", "classification"), ("Regression", "regression"),
                                                   ("Time series forecasting", "forecasting")],
                                          value="classification", style={"button_width": "190px"})
        self.metric = widgets.Dropdown(description="Primary metric", style=wide)
        # Several values as tags, completed from the allowed names (no old-style list boxes in the studio).
        self.allowed = TagsField("Allowed models", placeholder="all (type a model name to allow only some)",
                                 width="480px")
        self.blocked = TagsField("Blocked models", placeholder="none (type a model name to block it)",
                                 width="480px")
        self.explain = widgets.Checkbox(value=True, description="Explain best model")
        self.vote = widgets.Checkbox(value=True, description="Voting ensemble")
        self.stack = widgets.Checkbox(value=True, description="Stack ensemble")
        self.positive_label = widgets.Text(description="Positive label", placeholder="(optional)", style=wide)
        self.featurization_mode = widgets.Dropdown(description="Featurization", options=["auto", "off", "custom"],
                                                   value="auto", style=wide)
        self.blocked_transformers = TagsField("Blocked transformers", [t.value for t in BlockedTransformer],
                                              placeholder="none (type a transformer name)", width="480px")
        self.column_editor = widgets.VBox()
        self.column_types: dict[str, widgets.Dropdown] = {}
        self.column_impute: dict[str, widgets.Dropdown] = {}
        self.timeout = widgets.FloatText(value=15.0, description="Timeout (minutes)", style=wide)
        self.trial_timeout = widgets.FloatText(value=0.0, description="Trial timeout (minutes)", style=wide,
                                               tooltip="0: no limit per trial")
        self.max_trials = widgets.IntText(value=1000, description="Max trials", style=wide)
        self.max_concurrent = widgets.IntText(value=1, description="Max concurrent trials", style=wide)
        self.exit_score = widgets.Text(description="Exit score", placeholder="(optional)", style=wide)
        self.early_termination = widgets.Checkbox(value=True, description="Enable early termination")
        self.validation = widgets.Dropdown(description="Validation", options=VALIDATION_CHOICES, value="auto",
                                           style=wide)
        self.folds = widgets.IntText(value=5, description="Folds", style=wide)
        self.validation_size = widgets.FloatText(value=0.2, description="Validation share", style=wide)
        self.validation_dataset = widgets.Dropdown(description="Validation dataset", options=[], style=wide)
        self.test = widgets.Dropdown(description="Test data", options=TEST_CHOICES, value="none", style=wide)
        self.test_size = widgets.FloatText(value=0.2, description="Test share", style=wide)
        self.test_dataset = widgets.Dropdown(description="Test dataset", options=[], style=wide)
        self.time_column = widgets.Dropdown(description="Time column", options=[], style=wide)
        self.horizon = widgets.IntText(value=7, description="Forecast horizon", style=wide)
        self.grains = TagsField("Series id columns", placeholder="none (type a column name)", width="480px")
        self.forecast_box = widgets.VBox([self.time_column, self.horizon, self.grains])
        # Fields wide enough for their values (algorithm and transformer names, long experiment names).
        for field in (self.experiment, self.target, self.weight, self.compute, self.metric, self.positive_label,
                      self.featurization_mode, self.timeout, self.trial_timeout, self.max_trials, self.max_concurrent,
                      self.exit_score, self.validation, self.folds, self.validation_size, self.validation_dataset,
                      self.test, self.test_size, self.test_dataset, self.time_column, self.horizon):
            field.layout.width = "440px"
        # 4. review
        self.review = widgets.HTML()
        self.guardrails = widgets.HTML()
        self.check_button = widgets.Button(description="Check data", icon="check")
        self.code = CodeBox(title="studio_ext")
        self.azure_code = CodeBox(title="azure-ai-ml (Azure ML workspace)")
        # navigation
        self.back_button = widgets.Button(description="Back", icon="arrow-left")
        self.next_button = widgets.Button(description="Next", icon="arrow-right", button_style="primary")
        self.submit_button = widgets.Button(description="Submit", icon="play", button_style="success")
        self.pages = [
            widgets.VBox([widgets.HBox([self.dataset, self.version, self.refresh_datasets]), self.preview]),
            widgets.VBox([self.experiment, self.target, self.weight, self.compute]),
            widgets.VBox([
                self.task, self.task_hint,
                widgets.HTML("<b>Settings</b>"), self.metric, self.positive_label, self.explain,
                widgets.HBox([self.vote, self.stack]), self.allowed, self.blocked,
                self.forecast_box,
                widgets.HTML("<b>Featurization</b>"), self.featurization_mode, self.blocked_transformers,
                self.column_editor,
                widgets.HTML("<b>Limits</b>"), self.timeout, self.trial_timeout, self.max_trials, self.max_concurrent,
                self.exit_score, self.early_termination,
                widgets.HTML("<b>Validation and test</b>"), self.validation, self.folds, self.validation_size,
                self.validation_dataset, self.test, self.test_size, self.test_dataset,
            ]),
            widgets.VBox([self.review, self.check_button, self.guardrails, self.code, self.azure_code]),
        ]
        self.body = widgets.Box()
        self.nav = widgets.HBox([self.back_button, self.next_button, self.submit_button])
        self.results_box = widgets.VBox()
        self._reveal = Reveal()
        # As the studio's page: the AutoML jobs first; "New Automated ML job" opens the wizard.
        self.jobs_table = Table([Column("display_name", "Display name", link=True), Column("name", "Job"),
                                 Column("status", "Status", kind="html"), Column("task", "Task"),
                                 Column("metric", "Primary metric"), Column("experiment", "Experiment"),
                                 Column("created", "Created on", kind="date")],
                                on_open=self.open_job, selectable=False, max_height="260px",
                                empty="No Automated ML jobs yet: create one with New Automated ML job.")
        self.job_picker = widgets.Dropdown(description="Job", options=[], style={"description_width": "initial"},
                                           layout=widgets.Layout(width="360px"))
        self.open_job_button = widgets.Button(description="Open", icon="folder-open")
        self.new_button = widgets.Button(description="New Automated ML job", icon="plus", button_style="primary",
                                         layout=widgets.Layout(width="auto"))
        self.refresh_jobs_button = widgets.Button(description="Refresh", icon="refresh")
        self.open_job_button.on_click(lambda _b: self.open_job(self.job_picker.value) if self.job_picker.value else None)
        self.new_button.on_click(lambda _b: self.new_job())
        self.refresh_jobs_button.on_click(lambda _b: self.load_jobs())
        self.wizard_box = widgets.VBox([widgets.HTML("<h4 style='margin:6px 0'>New Automated ML job</h4>"),
                                        self.steps_bar, self.body, self.message, self.nav])
        self.children = [widgets.HTML("<h3 style='margin:4px 0'>Automated ML</h3><span style='color:#555'>"
                                      "Automated ML jobs: the algorithms and settings tried, and the best model."
                                      "</span>"),
                         widgets.HBox([self.new_button, self.job_picker, self.open_job_button,
                                       self.refresh_jobs_button]),
                         self.jobs_table, self.wizard_box, self.results_box]
        self.refresh_datasets.on_click(lambda _: self.load_datasets())
        self.back_button.on_click(lambda _: self.back())
        self.next_button.on_click(lambda _: self.next())
        self.submit_button.on_click(lambda _: self.submit())
        self.check_button.on_click(lambda _: self.check())
        self.dataset.observe(self._on_dataset, "value")
        self.version.observe(self._on_version, "value")
        self.target.observe(self._on_target, "value")
        self.weight.observe(lambda _: self._build_column_editor(), "value")
        self.task.observe(self._on_task, "value")
        for w in (self.validation, self.test, self.featurization_mode):
            w.observe(lambda _: self._show_conditional(), "value")
        self.load_datasets()
        self.load_computes()
        self._on_task({"new": self.task.value, "old": None})
        self._render_step()
        self.load_jobs()
        # With no AutoML job yet the wizard is what there is to do; else the list comes first.
        self.wizard_box.layout.display = None if not self.automl_jobs else "none"

    # -- the job list ----------------------------------------------------------------------------
    def load_jobs(self) -> None:
        """List the workspace's AutoML jobs, newest first."""
        try:
            jobs = [j for j in self.ws.jobs.list() if j.type == "automl"]
        except StudioError as exc:
            self.message.error(exc.message)
            jobs = []
        jobs.sort(key=lambda j: j.creation_time or 0, reverse=True)
        self.automl_jobs = jobs
        rows = []
        for j in jobs:
            if not j.name:
                continue
            # A listed AutoML job is a generic job: its task and metric are in its tags and params.
            known = {**(getattr(j, "params", None) or {}), **(getattr(j, "tags", None) or {})}
            task = getattr(j, "task", None) or known.get("task", "")
            metric = getattr(j, "primary_metric", None) or known.get("primary_metric", "")
            rows.append(Row(j.name, {"display_name": j.display_name or j.name, "name": j.name,
                                     "status": str(j.status), "task": str(getattr(task, "value", task)),
                                     "metric": str(getattr(metric, "value", metric)),
                                     "experiment": j.experiment_name or "", "created": j.creation_time},
                            html={"status": status_badge(j.status)}))
        self.jobs_table.set_rows(rows)
        set_choices(self.job_picker, [j.name for j in jobs if j.name], keep=self.job_picker.value, pick_first=True)
        for control in (self.job_picker, self.open_job_button):  # no blank "Job" box before there is a job
            control.layout.display = None if jobs else "none"

    def new_job(self) -> None:
        """Show the wizard (its first step) in place of an opened job."""
        self.wizard_box.layout.display = None
        self.step = 0
        self.message.clear()

    def open_job(self, name: str) -> AutoMLResults:
        """Open an AutoML job's results (live while it runs) below the list."""
        if self.results is not None:
            self.results.close()
        self.wizard_box.layout.display = "none"
        self.results = AutoMLResults(self.ws, name, poll_interval=self.poll_interval)
        self.results_box.children = [self._reveal, self.results]
        self._reveal.now()  # the results scroll into view, not below the fold
        return self.results

    # -- data for the choices ------------------------------------------------------------------
    def load_datasets(self) -> None:
        try:
            names = [d.name for d in self.ws.data.list()]
        except StudioError as exc:
            self.message.error(exc.message)
            names = []
        current = self.dataset.value
        self.dataset.options = names
        for box in (self.validation_dataset, self.test_dataset):
            box.options = names
        if names:
            self.dataset.value = current if current in names else names[0]

    def load_computes(self) -> None:
        try:
            names = ["local", *[c.name for c in self.ws.compute.list()]]
        except StudioError:
            names = ["local"]
        self.compute.options = names

    def _on_dataset(self, change: dict[str, Any]) -> None:
        name = change["new"]
        # The version observer fires only when the version's value changes: two datasets both at
        # version 1 would keep the first one's preview and columns. Set the versions quietly, then
        # load the chosen version whatever it was before.
        self.version.unobserve(self._on_version, "value")
        try:
            versions = [str(d.version) for d in self.ws.data.list(name)] if name else []
        except StudioError as exc:
            self.message.error(exc.message)
            versions = []
        finally:
            set_choices(self.version, versions[::-1], pick_first=True)
            self.version.observe(self._on_version, "value")
        if name and (not self.experiment.value or self.experiment.value.startswith("automl-")):
            self.experiment.value = f"automl-{name}"
        self._load_version()

    def _on_version(self, _change: dict[str, Any]) -> None:
        self._load_version()

    def _load_version(self) -> None:
        """Show the chosen dataset version's preview and offer its columns (target, weight, time, ids)."""
        name, version = self.dataset.value, self.version.value
        frame = None
        data = None
        if name and version:
            try:
                data = self.ws.data.get(name, version)
                frame = self.ws.data.preview(name, version, n=TASK_SAMPLE_ROWS)
            except StudioError as exc:
                self.message.error(exc.message)
                data = frame = None
        self._sample = frame
        if data is None or frame is None:
            self.preview.value = ""
            columns: list[str] = []
        else:
            columns = [c.name for c in data.columns] or [str(c) for c in frame.columns]
            rows = f"{data.row_count:,} rows" if data.row_count is not None else ""
            head = frame.head(10)
            self.preview.value = (f"<div style='font-size:90%;color:#444'>{html.escape(data.reference)}: {rows}, "
                                  f"{len(columns)} columns</div>"
                                  + html_table([str(c) for c in head.columns], head.astype(object).values.tolist()))
        previous = self.target.value  # kept only when the new data has it
        self.target.unobserve(self._on_target, "value")
        set_choices(self.target, columns, keep=previous)
        if self.target.value is None and columns:
            self.target.value = suggest_target(columns)
        self.target.observe(self._on_target, "value")
        weight = self.weight.value
        self.weight.options = [(NO_WEIGHTS, ""), *[(c, c) for c in columns]]
        self.weight.value = weight if weight in columns else ""
        set_choices(self.time_column, columns, keep=self.time_column.value)
        self.grains.options = columns
        self._on_target(None)

    def _on_target(self, _change: Any) -> None:
        self._build_column_editor()
        self._suggest_task()

    def _suggest_task(self) -> None:
        """Follow the target with the task (continuous numbers: regression) until the user picks one."""
        frame, target = self._sample, self.target.value
        if frame is None or not target or target not in frame.columns:
            self.task_hint.value = ""
            return
        task, reason = suggest_task(frame[target])
        label = dict((v, k) for k, v in self.task.options)[task]
        self.task_hint.value = (f"<span style='color:#555;font-size:90%'>Suggested: <b>{label}</b> "
                                f"({html.escape(reason)})</span>")
        if not self._task_chosen and self.task.value != task:
            self._setting_task = True
            try:
                self.task.value = task
            finally:
                self._setting_task = False

    def _on_task(self, change: dict[str, Any]) -> None:
        task = str(change["new"])
        if not self._setting_task and change.get("old") is not None:
            self._task_chosen = True  # the user's choice: suggestions no longer change it
        metrics = self.ws.automl.supported_primary_metrics(task)
        self.metric.options = metrics
        preferred = "AUC_weighted" if task == "classification" else "normalized_root_mean_squared_error"
        self.metric.value = preferred if preferred in metrics else metrics[0]
        names = self.ws.automl.supported_algorithms(task)
        self.allowed.options, self.blocked.options = names, names
        self._show_conditional()

    def _show_conditional(self) -> None:
        show = {True: "flex", False: "none"}
        self.forecast_box.layout.display = show[self.task.value == "forecasting"]
        self.positive_label.layout.display = show[self.task.value == "classification"]
        self.folds.layout.display = show[self.validation.value == "cv"]
        self.validation_size.layout.display = show[self.validation.value == "split"]
        self.validation_dataset.layout.display = show[self.validation.value == "data"]
        self.test_size.layout.display = show[self.test.value == "split"]
        self.test_dataset.layout.display = show[self.test.value == "data"]
        custom = self.featurization_mode.value != "off"
        self.blocked_transformers.layout.display = show[custom]
        self.column_editor.layout.display = show[custom]

    def _build_column_editor(self) -> None:
        columns = [c for c in (self.target.options or [])
                   if c not in (self.target.value, self.weight.value)][:MAX_EDITOR_COLUMNS]
        self.column_types = {c: widgets.Dropdown(options=[AUTO, *[p.value for p in ColumnPurpose]], value=AUTO,
                                                 layout=widgets.Layout(width="160px")) for c in columns}
        self.column_impute = {c: widgets.Dropdown(options=IMPUTE_CHOICES, value="default",
                                                  layout=widgets.Layout(width="140px")) for c in columns}
        rows = [widgets.HTML("<b>Column</b> · <b>type</b> · <b>impute with</b>")]
        rows += [widgets.HBox([widgets.Label(c, layout=widgets.Layout(width="220px")), self.column_types[c],
                               self.column_impute[c]]) for c in columns]
        self.column_editor.children = rows

    # -- steps ------------------------------------------------------------------------------------
    @traitlets.observe("step")
    def _on_step(self, _: Any) -> None:
        self._render_step()

    def _render_step(self) -> None:
        marks = []
        for i, title in enumerate(STEPS):
            style = "font-weight:bold;color:#0078d4" if i == self.step else "color:#666"
            marks.append(f"<span style='{style}'>{i + 1}. {html.escape(title)}</span>")
        self.steps_bar.value = " › ".join(marks)
        self.body.children = [self.pages[self.step]]
        self.back_button.disabled = self.step == 0
        self.next_button.layout.display = "none" if self.step == len(STEPS) - 1 else "flex"
        self.submit_button.layout.display = "flex" if self.step == len(STEPS) - 1 else "none"
        if self.step == len(STEPS) - 1:
            self._show_review()

    def next(self) -> None:
        """Go to the next step when this one is complete (else say what is missing)."""
        problem = self._missing()
        if problem:
            self.message.error(problem)
            return
        self.message.clear()
        self.step = min(self.step + 1, len(STEPS) - 1)

    def back(self) -> None:
        self.message.clear()
        self.step = max(self.step - 1, 0)

    def _missing(self) -> str:
        if self.step == 0 and not (self.dataset.value and self.version.value):
            return "Select a dataset (register one on the Datasets page or with ws.data.create_or_update)."
        if self.step == 1 and not self.target.value:
            return "Select the target column: the one to predict."
        if self.step == 1 and not self.experiment.value.strip():
            return "Name the experiment."
        return ""

    # -- the job ---------------------------------------------------------------------------------
    def _reference(self, name: str, version: str | None = None) -> Input:
        if version is None:
            version = str(self.ws.data.get(name).version)
        return Input(type="mltable", path=f"azureml:{name}:{version}")

    def build_job(self) -> Any:
        """The AutoML job the current settings describe (not submitted)."""
        from studio_ext import automl

        task = self.task.value
        kwargs: dict[str, Any] = dict(
            training_data=self._reference(self.dataset.value, self.version.value),
            target_column_name=self.target.value, primary_metric=self.metric.value,
            enable_model_explainability=self.explain.value, compute=self.compute.value,
            experiment_name=self.experiment.value.strip(),
        )
        if self.validation.value == "cv":
            kwargs["n_cross_validations"] = self.folds.value
        elif self.validation.value == "split":
            kwargs["validation_data_size"] = self.validation_size.value
        elif self.validation.value == "data" and self.validation_dataset.value:
            kwargs["validation_data"] = self._reference(self.validation_dataset.value)
        if self.test.value == "split":
            kwargs["test_data_size"] = self.test_size.value
        elif self.test.value == "data" and self.test_dataset.value:
            kwargs["test_data"] = self._reference(self.test_dataset.value)
        if self.weight.value:
            kwargs["weight_column_name"] = self.weight.value
        if task == "classification" and self.positive_label.value.strip():
            kwargs["positive_label"] = self.positive_label.value.strip()
        job = getattr(automl, task)(**kwargs)
        exit_score = self.exit_score.value.strip()
        job.set_limits(timeout_minutes=self.timeout.value,
                       trial_timeout_minutes=self.trial_timeout.value or None, max_trials=self.max_trials.value,
                       max_concurrent_trials=self.max_concurrent.value,
                       enable_early_termination=self.early_termination.value,
                       exit_score=_number(exit_score) if exit_score else None)
        job.set_training(allowed_training_algorithms=list(self.allowed.value) or None,
                         blocked_training_algorithms=list(self.blocked.value) or None,
                         enable_vote_ensemble=self.vote.value, enable_stack_ensemble=self.stack.value)
        types = {c: w.value for c, w in self.column_types.items() if w.value != AUTO}
        params = [{"fields": [c], "parameters": {"strategy": w.value}} for c, w in self.column_impute.items()
                  if w.value != "default"]
        mode = self.featurization_mode.value
        if mode != "off" and (types or params or self.blocked_transformers.value):
            mode = "custom"
        job.set_featurization(mode=mode, blocked_transformers=list(self.blocked_transformers.value) or None,
                              column_name_and_types=types or None,
                              transformer_params={"imputer": params} if params else None)
        if isinstance(job, ForecastingJob):
            job.set_forecast_settings(time_column_name=self.time_column.value, forecast_horizon=self.horizon.value,
                                      time_series_id_column_names=list(self.grains.value) or None)
        return job

    def _show_review(self) -> None:
        try:
            job = self.build_job()
        except (StudioError, ValueError) as exc:
            self.message.error(getattr(exc, "message", str(exc)))
            return
        rows = [("Dataset", f"{self.dataset.value}:{self.version.value}"), ("Target", self.target.value),
                ("Weight column", job.weight_column_name or "none"),
                ("Task", job.task), ("Primary metric", self.metric.value), ("Compute", job.compute),
                ("Experiment", job.experiment_name), ("Timeout", f"{job.limits.timeout_minutes:g} min"),
                ("Concurrent trials", job.limits.max_concurrent_trials),
                ("Featurization", str(job.featurization.mode))]
        self.review.value = html_table(["Setting", "Value"], rows)
        self.code.show(self.ws.automl.to_code(job))
        self.azure_code.show(self.ws.automl.to_code(job, azure=True))

    def check(self) -> Any:
        """Check the data against the settings as the run will; show the guardrails (before the run)."""
        try:
            prepared = self.ws.automl.check(self.build_job())
        except StudioError as exc:
            self.message.error(exc.message)
            self.guardrails.value = ""
            return None
        self.message.info(f"The data passes the checks: validation with {prepared.validation.description}.")
        self.guardrails.value = _guardrails_table(prepared.guardrails)
        # A submit is likely next: have the AutoML process ready, so the job's budget skips the imports.
        threading.Thread(target=_warm_up, args=(self.ws,), name="automl-warm-up", daemon=True).start()
        return prepared

    def submit(self) -> Any:
        """Submit the job (refused with a message on bad input) and open its live results."""
        try:
            job = self.build_job()
            submitted = self.ws.jobs.create_or_update(job)
        except StudioError as exc:
            self.message.error(exc.message)
            return None
        self.message.info(f"Submitted AutoML job {submitted.name} to {submitted.compute}.")
        self.code.show(self.ws.automl.to_code(job) + f"# submitted as {submitted.name}\n")
        if self.results is not None:
            self.results.close()
        self.results = AutoMLResults(self.ws, str(submitted.name), poll_interval=self.poll_interval)
        self.wizard_box.layout.display = "none"  # the job's progress takes the wizard's place, in view
        self.results_box.children = [self._reveal, self.results]
        self._reveal.now()
        self.load_jobs()
        return submitted

    def close(self) -> None:
        if self.results is not None:
            self.results.close()
        super().close()


class AutoMLResults(widgets.VBox):
    """An AutoML job's live view: status, progress, leaderboard, best metric over time, best model."""

    def __init__(self, ws: Workspace, name: str, *, poll_interval: float = 2.0, live: bool = True) -> None:
        super().__init__()
        self.ws = ws
        self.name = name
        self.run: Any = None
        self.header = widgets.HTML()
        self.progress = widgets.FloatProgress(min=0.0, max=1.0, description="Budget used")
        self.leaderboard = widgets.HTML()
        self.view = widgets.ToggleButtons(options=[("All trials", "all"), ("Best per algorithm", "best")],
                                          value="all", style={"button_width": "150px"})
        self.view.observe(lambda _c: self._show_leaderboard(), names="value")
        self.trial_picker = widgets.Dropdown(description="Trial", options=[], style={"description_width": "initial"},
                                             layout=widgets.Layout(width="320px"))
        self.open_trial_button = widgets.Button(description="Open trial", icon="external-link")
        self.open_trial_button.on_click(lambda _b: self.open_trial())
        self.trial_box = widgets.VBox()
        self.chart = widgets.Output()
        self.best = widgets.HTML()
        self.report = widgets.Output()
        self.message = Message()
        self.model_name = widgets.Text(description="Model name", value=f"{name}-best".replace("_", "-"))
        self.register_button = widgets.Button(description="Register model", icon="save", disabled=True)
        self.endpoint_name = widgets.Text(description="Endpoint", value=f"ep-{name}"[:32].replace("_", "-"))
        self.deploy_button = widgets.Button(description="Deploy", icon="rocket", disabled=True)
        # The report links to the best model's explanation (SHAP, through ws.explanations).
        self.explain_button = widgets.Button(description="Explain best model", icon="lightbulb-o", disabled=True)
        self.open_explanation_button = widgets.Button(description="Open explanation", icon="bar-chart",
                                                      disabled=True)
        self.explanation_status = widgets.HTML()
        self.explanation_box = widgets.VBox()
        self.code = CodeBox(f"run = ws.automl.get({name!r})\nrun.leaderboard\n")
        self.children = [self.header, self.progress, self.view, self.leaderboard,
                         widgets.HBox([self.trial_picker, self.open_trial_button]), self.trial_box,
                         self.chart, self.best, self.report,
                         widgets.HBox([self.explain_button, self.open_explanation_button, self.explanation_status]),
                         widgets.HBox([self.model_name, self.register_button]),
                         widgets.HBox([self.endpoint_name, self.deploy_button]), self.message, self.code,
                         self.explanation_box]
        self.register_button.on_click(lambda _: self.register())
        self.deploy_button.on_click(lambda _: self.deploy())
        self.explain_button.on_click(lambda _: self.explain())
        self.open_explanation_button.on_click(lambda _: self.open_explanation())
        self._explanation: Any = None  # the newest explanation record of the best model
        self._explanation_watch: Any = None
        self._shown_final = False
        self._subscription = None
        self.refresh()
        if live and not self._finished:
            poller = SharedPoller.for_workspace(ws, poll_interval)
            self._subscription = poller.subscribe(("automl", name), lambda: ws.automl.get(name), self._on_update)

    @property
    def _finished(self) -> bool:
        return self.run is not None and JobStatus(self.run.status) in TERMINAL_STATES and self._shown_final

    def refresh(self) -> Any:
        """Read the job once and show it (the live poller calls the same rendering)."""
        try:
            run = self.ws.automl.get(self.name)
        except StudioError as exc:
            self.message.error(exc.message)
            return None
        self._show(run)
        return run

    def _on_update(self, run: Any, error: BaseException | None) -> bool:
        if error is not None:
            self.message.error(getattr(error, "message", str(error)))
            return True
        self._show(run)
        return not self._finished

    def _show(self, run: Any) -> None:
        self.run = run
        job = run.job
        elapsed = job.duration_seconds or 0.0
        self.header.value = (f"<b>{html.escape(self.name)}</b> {status_badge(job.status)} · {html.escape(run.task)} · "
                             f"{len(run.trials)} trials · {format_duration(elapsed)}"
                             + (f" · stopped: {html.escape(run.stop_reason)}" if run.stop_reason else "")
                             + (f"<div style='color:#a4262c'>{html.escape(job.error)}</div>" if job.error else ""))
        budget = max(run.timeout_seconds or 60.0, 1.0)
        self.progress.value = 1.0 if JobStatus(job.status) in TERMINAL_STATES else min(elapsed / budget, 1.0)
        self._show_leaderboard()
        set_choices(self.trial_picker, [(f"{t.trial}: {t.algorithm}", t.name) for t in leaderboard_trials(run)],
                    keep=self.trial_picker.value or run.best_trial, pick_first=True)
        if run.trials:
            show_figures(self.chart, [best_metric_over_time(run)])
        terminal = JobStatus(job.status) in TERMINAL_STATES
        if terminal and not self._shown_final:
            self._show_best(run)
            self._shown_final = True

    def _show_leaderboard(self) -> None:
        run = self.run
        if run is None:
            return
        path = str(getattr(self.ws, "path", ""))
        rows = []
        for group in leaderboard_groups(run, best_per_algorithm=self.view.value == "best")[:50]:
            first = group[0]
            marker = " ★" if any(t.name == run.best_trial for t in group) else ""
            ties = (f" <span style='color:#555' title='{len(group)} trials score the same to 4 significant digits: "
                    f"trials {html.escape(', '.join(str(t.trial) for t in group))}'>×{len(group)} tied</span>"
                    if len(group) > 1 else "")
            link = (f"<a href='?studio-run={html.escape(first.name)}&studio-workspace={html.escape(path)}' "
                    f"target='_blank' style='color:var(--jp-content-link-color,#0078d4);text-decoration:underline' "
                    f"title='open {html.escape(first.name)} on the Jobs page'>{first.trial}</a>")
            params = hyperparameters_text(first.hyperparameters)
            short = params if len(params) <= 70 else params[:69] + "…"
            rows.append([link, html.escape(first.algorithm + marker) + ties, html.escape(format_value(first.metric)),
                         f"<span title='{html.escape(params)}'>{html.escape(short)}</span>",
                         html.escape(trial_duration(first.duration_seconds)), status_badge(first.status)])
        self.leaderboard.value = html_table(
            ["Trial", "Algorithm", run.primary_metric, "Hyperparameters", "Duration", "Status"], rows,
            raw_columns=range(6), empty="No trial has finished yet.")

    def open_trial(self, name: str | None = None) -> Any:
        """Open a trial's job (the Jobs page's details) below the leaderboard."""
        name = name or self.trial_picker.value
        if not name:
            return None
        from studio_ext.panels import open_page

        opened = open_page("jobs", self.ws, run=name)
        self.trial_box.children = [opened]
        return opened

    def _show_best(self, run: Any) -> None:
        if not run.has_model:
            self.best.value = "<i>No best model: the job did not complete.</i>"
            return
        facts = [("Best trial", run.best_trial), ("Algorithm", run.best_algorithm),
                 (run.primary_metric, format_value(run.best_metric))]
        facts += [(f"test {k}", format_value(v)) for k, v in run.test_metrics.items() if k == run.primary_metric]
        notes = "".join(f"<div style='color:#666;font-size:90%'>{html.escape(n)}</div>" for n in run.notes)
        self.best.value = "<b>Best model</b>" + html_table(["", ""], facts) + notes + _guardrails_table(run.guardrails)
        figures = []
        try:
            figures += report_figures(self.ws.automl.get_report(self.name))
        except StudioError as exc:
            self.message.error(exc.message)
        if run.explanation:
            figures.append(importance_figure(run.explanation))
        show_figures(self.report, figures)
        self.register_button.disabled = False
        self.deploy_button.disabled = False
        self.explain_button.disabled = False
        try:
            found = self.ws.automl.list_explanations(self.name)
        except StudioError:
            found = []
        if found:
            self._show_explanation(found[0])

    def explain(self) -> Any:
        """Explain the best model through ws.explanations; the report links to it when it is done."""
        try:
            record = queued(self.ws.automl.explain_best_model(self.name))
        except StudioError as exc:
            self.message.error(exc.message)
            return None
        self.code.show(f"record = ws.automl.explain_best_model({self.name!r})\n"
                       f"exp = ws.explanations.get(record.name)  # when its job {record.job_name} has finished\n")
        self._show_explanation(record)
        return record

    def open_explanation(self) -> Any:
        """Open the best model's explanation dashboard below the report."""
        from studio_ext.panels.explanation import ExplanationDashboard

        if self._explanation is None:
            return None
        dashboard = ExplanationDashboard(self.ws, self._explanation.name)
        self.explanation_box.children = [dashboard]
        return dashboard

    def _show_explanation(self, record: Any) -> None:
        self._explanation = record
        status = record.status
        if status is JobStatus.COMPLETED:
            self.explanation_status.value = f"Explanation <code>{html.escape(record.name)}</code> is ready."
            self.open_explanation_button.disabled = False
            return
        self.open_explanation_button.disabled = True
        if status in TERMINAL_STATES:
            self.explanation_status.value = (f"Explanation <code>{html.escape(record.name)}</code> {status}: "
                                             f"{html.escape(record.error or 'see its job log')}.")
            return
        self.explanation_status.value = (f"Explaining the best model (job <code>{html.escape(str(record.job_name))}"
                                         f"</code>)…")
        if self._explanation_watch is None:
            poller = SharedPoller.for_workspace(self.ws, 2.0)
            self._explanation_watch = poller.subscribe(
                ("explanation", record.name), lambda: self.ws.explanations.get_record(record.name),
                self._on_explanation)

    def _on_explanation(self, record: Any, error: BaseException | None) -> bool:
        if error is not None:
            self.message.error(str(error))
            return False
        if record.status in TERMINAL_STATES:
            self._explanation_watch = None
        self._show_explanation(record)
        return record.status not in TERMINAL_STATES

    def register(self) -> Any:
        try:
            model = self.ws.automl.register_best_model(self.name, self.model_name.value.strip())
        except StudioError as exc:
            self.message.error(exc.message)
            return None
        self.message.info(f"Registered model {model.name} version {model.version}.")
        self.code.show(f"model = ws.automl.register_best_model({self.name!r}, {model.name!r})\n")
        return model

    def deploy(self) -> Any:
        try:
            endpoint = self.ws.automl.deploy_best_model(self.name, self.endpoint_name.value.strip(),
                                                        model_name=self.model_name.value.strip())
        except StudioError as exc:
            self.message.error(exc.message)
            return None
        self.message.info(f"Deployed to endpoint {endpoint.name}: {getattr(endpoint, 'scoring_uri', '')}")
        self.code.show(f"endpoint = ws.automl.deploy_best_model({self.name!r}, {endpoint.name!r}, "
                       f"model_name={self.model_name.value.strip()!r})\n")
        return endpoint

    def close(self) -> None:
        for subscription in (self._subscription, self._explanation_watch):
            if subscription is not None:
                subscription.cancel()
        self._subscription = self._explanation_watch = None
        super().close()


def leaderboard_trials(run: Any) -> list[Any]:
    """The run's trials, best first (by the primary metric; unscored ones last)."""
    scored = [t for t in run.trials if t.metric is not None and math.isfinite(t.metric)]
    scored.sort(key=lambda t: (-t.metric if run.higher_is_better else t.metric, t.trial))
    return scored + sorted((t for t in run.trials if t not in scored), key=lambda t: t.trial)


def leaderboard_groups(run: Any, *, best_per_algorithm: bool = False) -> list[list[Any]]:
    """The leaderboard's rows: trials of one algorithm that tie (same score to 4 significant digits) share a row.

    With ``best_per_algorithm`` each algorithm has one row: its best trial (with its ties).
    """
    groups: list[list[Any]] = []
    index: dict[tuple[str, str], list[Any]] = {}
    for trial in leaderboard_trials(run):
        if trial.metric is None or not math.isfinite(trial.metric):
            groups.append([trial])
            continue
        key = (trial.algorithm, format_value(float(trial.metric)))
        if key in index:
            index[key].append(trial)
        else:
            index[key] = [trial]
            groups.append(index[key])
    if best_per_algorithm:
        firsts: dict[str, list[Any]] = {}
        for g in groups:
            firsts.setdefault(g[0].algorithm, g)  # groups come best first: the first of each algorithm
        groups = list(firsts.values())
    return groups


def hyperparameters_text(params: dict[str, Any]) -> str:
    """A trial's hyperparameters as ``name=value`` pairs, numbers to 4 significant digits."""
    def shown(value: Any) -> str:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return str(value)
        return format_value(int(number) if number.is_integer() and "." not in str(value) else number)
    return ", ".join(f"{k}={shown(v)}" for k, v in params.items())


def trial_duration(seconds: float | None) -> str:
    """Seconds to 0.1 s under a minute (trials are often shorter than one second), else minutes and seconds."""
    return format_duration(seconds)


def suggest_task(target: Any) -> tuple[str, str]:
    """The task a target column suggests, and why: continuous numbers regression, else classification.

    Strings, booleans and numbers with few distinct values (labels coded 0/1, 1-5) suggest
    classification; numbers with many distinct values, or fractional ones beyond a handful,
    suggest regression.
    """
    import pandas as pd

    values = pd.Series(target).dropna()
    distinct = int(values.nunique())
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "classification", f"{distinct:,} distinct text values"
    fractional = bool((values.astype(float) % 1 != 0).any())
    if distinct > REGRESSION_MIN_DISTINCT or (fractional and distinct > REGRESSION_MIN_DISTINCT // 2):
        return "regression", f"{distinct:,} distinct numbers in the first {len(values):,} rows"
    return "classification", f"{distinct:,} distinct values"


def _warm_up(ws: Workspace) -> None:
    try:
        ws.automl.warm_up()
    except Exception:  # only a head start: the job starts without it
        log.debug("could not ready the AutoML process", exc_info=True)


def _guardrails_table(guardrails: list[Any]) -> str:
    colours = {"Passed": "#107c10", "Done": "#0078d4", "Alerted": "#a4262c"}
    rows = [[g.name, f"<span style='color:{colours.get(g.status.value, '#444')}'>{g.status.value}</span>",
             html.escape(g.description)] for g in guardrails]
    return "<b>Data guardrails</b>" + html_table(["Guardrail", "Status", "Details"], rows, raw_columns=[1, 2])


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"The exit score must be a number. Got {text!r} instead.") from None
    if not math.isfinite(value):
        raise InvalidInput(f"The exit score must be a finite number. Got {text!r} instead.")
    return value
