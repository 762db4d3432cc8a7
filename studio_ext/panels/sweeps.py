"""The Sweep page: a hyperparameter sweep's trials, charts, best trial, importance and policy replay.

``SweepPanel(ws, sweep=None)``: pick a sweep job (or open one by name, as the run
explorer does for a job of type ``sweep``) and see, as the studio's "Trials" view:

- the trials table (status, hyperparameters, primary metric, duration, why one was
  stopped), sortable;
- the primary metric by trial (stopped trials marked) and per interval, parallel
  coordinates over the hyperparameters coloured by the metric, and a 2-D/3-D scatter of
  any two or three of them;
- the best trial, with buttons to open it and to register its model (from
  ``azureml://jobs/NAME/outputs/artifacts/paths/model/`` when the trial logged one);
- hyperparameter importance (Optuna's fANOVA) and a policy replay: each early
  termination policy, with a few settings, applied to the recorded metrics, with the
  compute it would have saved and whether it would have stopped the best trial;
- the sweep's v2 YAML.

While the sweep runs the page refreshes live (one shared poller). Every read goes through
``ws.jobs``/``ws.sweeps``/``ws.models``.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import MISSING
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from studio_ext.entities import TERMINAL_STATES, JobStatus, Model
from studio_ext.errors import StudioError
from studio_ext.panels import sweep_charts as charts
from studio_ext.panels._widgets import (
    CodeBox,
    Message,
    SharedPoller,
    format_duration,
    format_value,
    html_table,
    show_figures,
    status_badge,
)
from studio_ext.sweep import BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

__all__ = ["REPLAY_POLICIES", "SweepPanel", "sdk_code", "sweep_page"]

SORTS = ("trial", "metric", "status", "duration")
PLACEHOLDER = re.compile(r"\$\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# The settings the policy replay tries (Azure's documented examples, with no delay for short sweeps).
REPLAY_POLICIES = (
    ("Bandit, slack_factor 0.1", BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=1)),
    ("Bandit, slack_factor 0.2", BanditPolicy(slack_factor=0.2, evaluation_interval=1, delay_evaluation=1)),
    ("Median stopping", MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=1)),
    ("Truncation selection, 20 %", TruncationSelectionPolicy(truncation_percentage=20, evaluation_interval=1,
                                                             delay_evaluation=1)),
)


_EMPTY_STATE = (
    "<div style='max-width:900px;line-height:1.5'>"
    "<p><b>No sweep jobs yet.</b> A sweep job runs one training command many times, each trial with other "
    "hyperparameters drawn from a search space (grid, random or Bayesian sampling), stops poor trials early "
    "by a policy, and reports the best trial on a primary metric. Its trials, their metrics and which "
    "hyperparameters mattered appear here.</p>"
    "<p>Start one from a notebook, as in Azure ML:</p>"
    "<pre style='background:#f6f8fa;padding:6px;font-size:85%'>"
    "from studio_ext import command\n"
    "from studio_ext.sweep import Uniform  # as azure.ai.ml.sweep\n\n"
    "job = command(code=\"./src\", command=\"python train.py --reg ${{inputs.reg}}\",\n"
    "              inputs={\"reg\": 0.1}, experiment_name=\"my-sweep\")\n"
    "sweep = job(reg=Uniform(0.001, 1.0)).sweep(sampling_algorithm=\"random\",\n"
    "              primary_metric=\"accuracy\", goal=\"maximize\")\n"
    "sweep.set_limits(max_total_trials=8, max_concurrent_trials=2)\n"
    "ws.jobs.create_or_update(sweep)</pre>"
    "<p>or from a terminal with a v2 YAML file of <code>type: sweep</code>: "
    "<code>studio-ext job create --file sweep.yml</code>. <code>studio-ext demo PATH</code> makes a workspace "
    "with one.</p></div>"
)


class SweepPanel(widgets.VBox):
    """``SweepPanel(ws, sweep=None)``: the Trials view of a sweep job (see the module docstring)."""

    def __init__(self, ws: Workspace, sweep: str | None = None, *, poll_interval: float = 2.0, **_: Any) -> None:
        super().__init__()
        self.ws = ws
        self.poll_interval = poll_interval
        self.message = Message()
        self.job: Any = None
        self.trials: list[dict[str, Any]] = []
        self.opened: Any = None
        self._subscription: Any = None
        self._shown: Any = None  # what the page last drew; a poll that finds the same draws nothing
        self._table: dict[str, list[float]] = {}
        self.picker = widgets.Dropdown(description="Sweep job", options=[], style={"description_width": "90px"},
                                       layout=widgets.Layout(width="420px"))
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.summary = widgets.HTML()
        self.best = widgets.HTML()
        self.open_best = widgets.Button(description="Open best trial", icon="external-link", disabled=True)
        self.register_best = widgets.Button(description="Register model", icon="cube", disabled=True)
        self.sort = widgets.Dropdown(description="Sort by", options=SORTS, value="metric",
                                     layout=widgets.Layout(width="220px"))
        self.table = widgets.HTML()
        self.charts = widgets.Output()
        # Up to three hyperparameters to plot against the metric, as tags (no old-style list box).
        self.axes = widgets.TagsInput(value=[], allowed_tags=[], allow_duplicates=False,
                                      layout=widgets.Layout(width="auto", min_width="300px"))
        self.scatter_chart = widgets.Output()
        self.importance_chart = widgets.Output()
        self.replay = widgets.HTML()
        self.code = CodeBox(title="The sweep as Python and as v2 YAML")
        self.details = widgets.VBox()
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.open_best.on_click(lambda _b: self.open_best_trial())
        self.register_best.on_click(lambda _b: self.register_best_model())
        self.sort.observe(lambda _c: self._show_table(), names="value")
        self.axes.observe(lambda _c: self._show_scatter(), names="value")
        self.picker.observe(lambda c: self.show(c["new"]) if c["new"] else None, names="value")
        tabs = widgets.Tab(children=[
            widgets.VBox([self.sort, self.table]),
            self.charts,
            widgets.VBox([widgets.HBox([widgets.HTML("Scatter of the metric against (up to three):"), self.axes]),
                          self.scatter_chart]),
            widgets.VBox([self.importance_chart, self.replay]),
            self.code,
        ])
        for i, title in enumerate(("Trials", "Metrics", "Scatter", "Importance", "Code")):
            tabs.set_title(i, title)
        self.tabs = tabs
        title = widgets.HTML("<h3 style='margin:4px 0'>Sweeps</h3><span style='color:#555'>Hyperparameter sweeps: "
                             "trials, their metrics, and which hyperparameters mattered.</span>")
        # With no sweep yet: what a sweep is and how to start one, in place of a blank picker over empty tabs.
        self.empty = widgets.HTML(_EMPTY_STATE)
        self.empty_refresh = widgets.Button(description="Refresh", icon="refresh")
        self.empty_refresh.on_click(lambda _b: self.refresh())
        self.empty_box = widgets.VBox([self.empty, self.empty_refresh])
        self.content = widgets.VBox([widgets.HBox([self.picker, self.refresh_button]), self.message, self.summary,
                                     widgets.HBox([self.best, self.open_best, self.register_best]), tabs, self.details])
        self.children = [title, self.empty_box, self.content]
        self.refresh(select=sweep)

    # -- actions -------------------------------------------------------------------------------
    def stop_following(self) -> None:
        """Stop the live updates (the page is closed or replaced)."""
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None

    def close(self) -> None:
        self.stop_following()
        super().close()

    def refresh(self, select: str | None = None) -> None:
        """List the sweep jobs again and show the chosen one."""
        try:
            sweeps = [j for j in self.ws.jobs.list() if j.type == "sweep"]
        except StudioError as exc:
            self.message.error(exc.message)
            return
        names = [j.name for j in sorted(sweeps, key=lambda j: j.creation_time or 0, reverse=True)]
        keep = select or self.picker.value
        self.picker.options = names
        self.empty_box.layout.display = "none" if names else ""
        self.content.layout.display = "" if names else "none"
        if not names:
            return
        chosen = keep if keep in names else names[0]
        if self.picker.value != chosen:
            self.picker.value = chosen  # shows it through the observer
        else:
            self.show(chosen)

    def show(self, name: str) -> None:
        """Show sweep ``name``; watch it live while it runs."""
        try:
            job = self.ws.jobs.get(name)
            trials = self.ws.sweeps.trials(name)
        except StudioError as exc:
            self.message.error(exc.message)
            return
        self._shown = None  # shown on purpose: drawn again
        self._render(job, trials)
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        if job.status not in TERMINAL_STATES:
            poller = SharedPoller.for_workspace(self.ws, self.poll_interval)
            self._subscription = poller.subscribe(
                ("sweep", name), lambda: (self.ws.jobs.get(name), self.ws.sweeps.trials(name)), self._on_update)

    def open_best_trial(self) -> Any:
        """Open the best trial's details below (the run explorer's details view)."""
        best = _best_so_far(self.trials, self.job) if self.job is not None else None
        if best is None:
            return None
        from studio_ext.panels import open_page

        self.opened = open_page("jobs", self.ws, run=best["name"])
        self.details.children = [self.opened]
        return self.opened

    def register_best_model(self) -> Model | None:
        """Register the model the best trial logged (its MLflow ``model`` folder) as ``<sweep>-best``."""
        if self.job is None or not self.job.best_child_run_id:
            return None
        best = self.job.best_child_run_id
        try:
            model = self.ws.models.create_or_update(Model(
                name=f"{self.job.name}-best".replace("_", "-"), type="mlflow_model",
                path=f"azureml://jobs/{best}/outputs/artifacts/paths/model/",
                description=f"The best trial {best} of sweep {self.job.name}"))
        except StudioError as exc:
            self.message.error(f"The best trial has no model to register: {exc.message}")
            return None
        self.message.info(f"Registered {model.name}:{model.version} from {best}.")
        return model

    # -- rendering ----------------------------------------------------------------------------
    def _on_update(self, result: Any, error: BaseException | None) -> bool:
        if error is not None:
            self.message.error(str(error))
            return False
        job, trials = result
        if self.job is not None and job.name != self.job.name:
            return False
        self._render(job, trials)
        return job.status not in TERMINAL_STATES

    def _render(self, job: Any, trials: list[dict[str, Any]]) -> None:
        try:
            table = self.ws.sweeps.metric_table(job.name)
        except StudioError:
            table = {}
        seen = (job.name, str(job.status), job.best_child_run_id, json.dumps(trials, sort_keys=True, default=str),
                tuple(sorted((k, len(v)) for k, v in table.items())))
        if seen == self._shown:
            return
        self._shown = seen
        self.job, self.trials, self._table = job, trials, table
        metric = job.objective.primary_metric if job.objective else "metric"
        sampling = getattr(job.sampling_algorithm, "type", job.sampling_algorithm)
        policy = job.early_termination
        limits = job.limits
        done = sum(1 for t in trials if t.get("status") in {s.value for s in TERMINAL_STATES})
        rows = [
            ("Status", status_badge(job.status) + (f" {html.escape(job.error)}" if job.error else "")),
            ("Compute", html.escape(str(job.compute))),
            ("Sampling", html.escape(str(sampling))),
            ("Objective", html.escape(f"{job.objective.goal} {metric}" if job.objective else "")),
            ("Early termination", html.escape(_policy_text(policy))),
            ("Trials", f"{done} ended of {len(trials)} started; max_total_trials {limits.max_total_trials}, "
                       f"max_concurrent_trials {limits.max_concurrent_trials}"
                       + (f", timeout {limits.timeout} s" if limits.timeout else "")),
            ("Duration", format_duration(job.duration_seconds)),
        ]
        notes = "".join(f"<div style='color:#8a6d00'>{html.escape(n)}</div>" for n in job.notes)
        self.summary.value = html_table(("", ""), rows, raw_columns=(1,)) + notes
        best = _best_so_far(trials, job)
        if best is not None:
            label = "Best trial" if job.best_child_run_id else "Best trial so far"
            params = ", ".join(f"{k}={format_value(v)}" for k, v in best["params"].items())
            self.best.value = (f"<b>{label}</b> <code>{html.escape(best['name'])}</code>: {html.escape(metric)} = "
                               f"{format_value(best['value'])} ({html.escape(params)})")
        else:
            self.best.value = "<i>No trial has completed yet.</i>"
        self.open_best.disabled = best is None
        self.register_best.disabled = not job.best_child_run_id
        names = sorted({k for t in trials for k in t.get("params", {})})
        if list(self.axes.allowed_tags) != names:
            self.axes.allowed_tags = names
            self.axes.value = list(names[:2])
        self._show_table()
        maximize = (job.objective.goal if job.objective else "maximize") == "maximize"
        stopped = {t["name"]: t["stopped"]["interval"] for t in trials if t.get("stopped")}
        figures = [charts.metric_by_trial(trials, metric, maximize), charts.metric_curves(table, stopped, metric)]
        if any(t.get("value") is not None for t in trials) and names:
            figures.append(charts.parallel_coordinates(trials, metric))
        show_figures(self.charts, figures)
        self._show_scatter()
        try:
            yaml_text = self.ws.jobs.to_yaml(job)
        except StudioError:
            yaml_text = ""
        self.code.show(f"# Python (azure-ai-ml names; studio_ext.sweep has the same)\n{sdk_code(job)}\n\n"
                       f"# v2 YAML (studio-ext job create --file sweep.yml)\n{yaml_text}")
        if job.status in TERMINAL_STATES:
            self._show_analysis(job)

    def _show_table(self) -> None:
        metric = self.job.objective.primary_metric if self.job is not None and self.job.objective else "metric"
        maximize = self.job is None or self.job.objective is None or self.job.objective.goal == "maximize"
        names = sorted({k for t in self.trials for k in t.get("params", {})})
        key = self.sort.value

        def order(t: dict[str, Any]) -> Any:
            if key == "metric":
                v = t.get("value")
                return (v is None, -(v or 0) if maximize else (v or 0))
            if key == "status":
                return t.get("status", "")
            if key == "duration":
                return -(t.get("duration") or 0)
            return t.get("index", 0)

        rows = [[str(t.get("index", "")), f"<code>{html.escape(t['name'])}</code>", status_badge(t.get("status")
                or JobStatus.NOT_STARTED.value)] + [format_value(t.get("params", {}).get(n)) for n in names]
                + [self._metric_cell(t), format_duration(t.get("duration")), _note(t)]
                for t in sorted(self.trials, key=order)]
        self.table.value = html_table(["#", "trial", "status", *names, metric, "duration", "note"], rows,
                                      raw_columns=(1, 2, len(names) + 3, len(names) + 5), empty="No trials yet.")

    def _metric_cell(self, trial: dict[str, Any]) -> str:
        """The trial's metric; while it runs, its latest value and at which interval (in grey)."""
        if trial.get("value") is not None or trial.get("status") in {s.value for s in TERMINAL_STATES}:
            return html.escape(format_value(trial.get("value")))
        values = self._table.get(trial["name"]) or []
        if not values:
            return ""
        return (f"<span style='color:#666' title='the latest value it logged, at interval {len(values)}'>"
                f"{html.escape(format_value(values[-1]))} (interval {len(values)})</span>")

    def _show_scatter(self) -> None:
        axes = list(self.axes.value)[:3]
        metric = self.job.objective.primary_metric if self.job is not None and self.job.objective else "metric"
        if not axes or not self.trials:
            self.scatter_chart.outputs = ()
            return
        show_figures(self.scatter_chart, [charts.scatter(self.trials, axes, metric)])

    def _show_analysis(self, job: Any) -> None:
        try:
            importance = self.ws.sweeps.importance(job.name)
        except StudioError as exc:
            importance = {}
            self.message.error(exc.message)
        if importance:
            show_figures(self.importance_chart, [charts.importance_bars(importance)])
        else:
            self.importance_chart.outputs = ()
        rows = []
        for label, policy in REPLAY_POLICIES:
            try:
                found = self.ws.sweeps.replay(job.name, policy)
            except StudioError as exc:
                rows.append([label, "", "", "", html.escape(exc.message)])
                continue
            rows.append([label, str(len(found["stops"])), f"{found['saved_share']:.0%} "
                         f"({found['saved_intervals']} of {found['total_intervals']} intervals)",
                         "yes" if found["stops_best"] else "no",
                         html.escape(", ".join(f"{t} at {s['interval']}" for t, s in sorted(found["stops"].items())))])
        self.replay.value = ("<b>Policy replay</b>: each policy applied to the metrics the trials logged." +
                             html_table(["policy", "trials stopped", "compute saved", "stops the best trial",
                                         "stops"], rows, raw_columns=(4,)))


def sweep_page(ws: Workspace, name: str, *, poll_interval: float = 2.0) -> SweepPanel | None:
    """The Sweep page of job ``name`` when it is a sweep job, else None: what the run explorer opens for a sweep."""
    try:
        job = ws.jobs.get(name)
    except StudioError:
        return None
    if getattr(job, "type", None) != "sweep":
        return None
    return SweepPanel(ws, sweep=name, poll_interval=poll_interval)


_POLICY_NAMES = {"bandit": "Bandit", "median_stopping": "Median stopping",
                 "truncation_selection": "Truncation selection"}


def _policy_text(policy: Any) -> str:
    if policy is None:
        return "none"
    fields = {k: v for k, v in vars(policy).items() if k != "type" and v is not None and v != 0}
    settings = ", ".join(f"{k} {format_value(v)}" for k, v in sorted(fields.items()))
    return f"{_POLICY_NAMES.get(policy.type, policy.type)}: {settings}" if settings else str(policy.type)


def _call(obj: Any) -> str:
    """``Name(field=value, ...)`` of a search space, sampling algorithm or policy, as azure-ai-ml spells it."""
    from dataclasses import fields

    args = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name == "type" or value is None or (f.default is not MISSING and value == f.default):
            continue
        if isinstance(value, list):
            value = [_Raw(_call(v)) if hasattr(v, "__dataclass_fields__") else v for v in value]
        args.append(f"{f.name}={value!r}")
    return f"{type(obj).__name__}({', '.join(args)})"


def _default(distribution: Any) -> Any:
    """A value of ``distribution`` for the command job's input before the sweep replaces it."""
    import math

    if hasattr(distribution, "values"):
        first = distribution.values[0] if distribution.values else None
        return first if isinstance(first, (str, int, float, bool)) else None
    if hasattr(distribution, "upper"):
        return 0
    if hasattr(distribution, "mu"):
        return distribution.mu
    low = distribution.min_value
    return float(f"{math.exp(low):.6g}") if "log" in distribution.type else low


class _Raw(str):
    def __repr__(self) -> str:
        return str(self)


def sdk_code(job: Any) -> str:
    """The sweep as azure-ai-ml code: the trial command job called with its search space, then ``.sweep(...)``."""
    trial = job.trial
    inputs: dict[str, Any] = {k: (v if isinstance(v, (str, int, float, bool)) else _Raw(
        f"Input(type={getattr(v, 'type', 'uri_folder')!r}, path={getattr(v, 'path', None)!r})"))
        for k, v in (trial.inputs or {}).items() if k not in job.search_space}
    inputs.update({k: _default(v) for k, v in job.search_space.items()})  # the job's inputs that the sweep replaces
    command_text = PLACEHOLDER.sub(lambda m: "${{inputs." + m.group(2) + "}}" if m.group(1) == "search_space"
                                   else m.group(0), trial.command or "")
    space = ",\n    ".join(f"{k}={_call(v)}" for k, v in job.search_space.items())
    objective = job.objective
    names = {type(v).__name__ for v in job.search_space.values()} | {type(job.sampling_algorithm).__name__}
    names |= {type(job.early_termination).__name__} if job.early_termination is not None else set()
    lines = [
        "from azure.ai.ml import Input, command",
        f"from azure.ai.ml.sweep import {', '.join(sorted(names))}",
        "",
        "job = command(",
        f"    code={trial.code!r},",
        f"    command={command_text!r},",
        f"    inputs={inputs!r},",
        f"    environment={trial.environment!r},",
        f"    experiment_name={job.experiment_name!r},",
        ")",
        f"sweep_job = job(\n    {space},\n).sweep(",
        f"    compute={job.compute!r},",
        f"    sampling_algorithm={_call(job.sampling_algorithm)},",
        f"    primary_metric={objective.primary_metric if objective else None!r},",
        f"    goal={(objective.goal.capitalize() if objective else 'Maximize')!r},",
        ")",
        f"sweep_job.set_limits(max_total_trials={job.limits.max_total_trials}, "
        f"max_concurrent_trials={job.limits.max_concurrent_trials}, timeout={job.limits.timeout}, "
        f"trial_timeout={job.limits.trial_timeout})",
    ]
    if job.early_termination is not None:
        lines.append(f"sweep_job.early_termination = {_call(job.early_termination)}")
    lines.append("ml_client.jobs.create_or_update(sweep_job)")
    return "\n".join(lines)


def _best_so_far(trials: list[dict[str, Any]], job: Any) -> dict[str, Any] | None:
    """The sweep's best trial: its record once it ended, else the best completed trial so far."""
    if job.best_child_run_id:
        return {"name": job.best_child_run_id, "params": job.best_hyperparameters, "value": job.best_metric}
    maximize = (job.objective.goal if job.objective else "maximize") == "maximize"
    done = [t for t in trials if t.get("status") == JobStatus.COMPLETED.value
            and isinstance(t.get("value"), (int, float))]
    return (max if maximize else min)(done, key=lambda t: t["value"]) if done else None


def _note(trial: dict[str, Any]) -> str:
    """A short note for the trials table (the full reason on hover): why the trial stopped, failed or was canceled."""
    stopped = trial.get("stopped")
    full = trial.get("cancel_reason") or trial.get("error") or ""
    if stopped:
        policy = _POLICY_NAMES.get(stopped.get("policy", ""), stopped.get("policy", ""))
        short = (f"Stopped by {policy} at interval {stopped.get('interval')}: {format_value(stopped.get('value'))} "
                 f"against {format_value(stopped.get('threshold'))}")
    else:
        short = full.strip().splitlines()[-1] if full.strip() else ""
        short = short if len(short) <= 90 else short[:89] + "…"
    return f"<span title='{html.escape(full, quote=True)}'>{html.escape(short)}</span>" if short else ""
