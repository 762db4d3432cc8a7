"""The Fairness page: assess a model across sensitive groups, mitigate, compare, register.

``FairnessDashboard(ws, assessment)`` shows an assessment (choose the sensitive
feature(s) and the metric: bars per group with the disparity called out) or a
mitigation's model comparison: every candidate as a point of performance vs
disparity with the Pareto front; clicking a point (or choosing it in the list) shows
its per-group details, and the chosen one can be registered. Opened with the
workspace alone it offers the workspace's results and a form to assess a model.
Every action goes through ``ws.fairness``/``ws.models``/``ws.data``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from studio_ext.entities import JobStatus
from studio_ext.errors import StudioError
from studio_ext.ml.fairness import FairnessAssessment, FairnessConstraint, MitigationMethod, MitigationResult
from studio_ext.panels import fairness_charts as charts
from studio_ext.panels._insight_widgets import ModelDataPicker, ResultPicker, queued, sdk_code
from studio_ext.panels._widgets import CodeBox, Message, SharedPoller, format_value, html_table, show_figures

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

__all__ = ["DISPARITY_THRESHOLD", "AssessmentView", "ComparisonView", "FairnessDashboard", "bin_column"]

DISPARITY_THRESHOLD = 0.8  # the four-fifths rule
MAX_PLAIN_GROUPS = 10  # a numeric sensitive column with more distinct values is binned on the page

_WIDE = {"description_width": "140px"}
_SUMMARY_LABELS = {"demographic_parity_difference": "demographic parity difference",
                   "demographic_parity_ratio": "demographic parity ratio",
                   "equalized_odds_difference": "equalized odds difference"}


class AssessmentView(widgets.VBox):
    """One assessment: sensitive view and metric pickers, bars per group, disparity, table."""

    def __init__(self, assessment: FairnessAssessment, title: str = "") -> None:
        super().__init__()
        self.assessment = assessment
        self.sensitive = widgets.Dropdown(description="Sensitive feature", options=assessment.keys,
                                          value=assessment.keys[0], style=_WIDE)
        first = next((m for m in assessment.metrics if m != "selection_rate"), assessment.metrics[0])
        self.metric = widgets.Dropdown(description="Metric", options=assessment.metrics, value=first, style=_WIDE)
        # The four-fifths rule: a ratio of the lowest to the highest group under 0.8 is flagged.
        self.threshold = widgets.BoundedFloatText(
            value=DISPARITY_THRESHOLD, min=0.0, max=1.0, step=0.05, description="Flag a ratio below",
            style={"description_width": "initial"}, layout=widgets.Layout(width="220px"),
            tooltip="lowest group / highest group; 0.8 is the four-fifths rule")
        self.callout = widgets.HTML()
        self.chart = widgets.Output()
        self.table = widgets.HTML()
        self.sensitive.observe(lambda _c: self.draw(), names="value")
        self.metric.observe(lambda _c: self.draw(), names="value")
        self.threshold.observe(lambda _c: self.draw(), names="value")
        head = [widgets.HTML(f"<b>{html.escape(title)}</b>")] if title else []
        self.children = [*head, widgets.HBox([self.sensitive, self.metric, self.threshold]), self.callout, self.chart,
                         self.table]
        self.draw()

    @property
    def flagged(self) -> bool:
        """Whether the shown metric's ratio between groups is below the threshold."""
        ratio = self.assessment.disparity(self.metric.value, self.sensitive.value, "ratio")
        return ratio == ratio and ratio < self.threshold.value

    def draw(self) -> None:
        a, key, metric = self.assessment, self.sensitive.value, self.metric.value
        show_figures(self.chart, [charts.group_bars(a, key, metric)])
        table = a.by_group(key)
        low, high = table[metric].idxmin(), table[metric].idxmax()
        gap, ratio = a.disparity(metric, key), a.disparity(metric, key, "ratio")
        lines = [f"<b>{html.escape(metric.replace('_', ' '))}</b>: difference <b>{format_value(gap)}</b> "
                 f"(highest {html.escape(str(high))} {format_value(table.loc[high, metric])}, lowest "
                 f"{html.escape(str(low))} {format_value(table.loc[low, metric])}), ratio {format_value(ratio)}"]
        summary = a.summary.get(key, {})
        if summary:
            lines.append(" · ".join(f"{_SUMMARY_LABELS.get(k, k)} <b>{format_value(v)}</b>" for k, v in summary.items()))
        if self.flagged:
            colour, verdict = "#a4262c", f"Disparity: the ratio {format_value(ratio)} is below {self.threshold.value:g}."
        else:
            colour, verdict = "#107c10", f"Within the threshold: the ratio {format_value(ratio)} is at least " \
                                         f"{self.threshold.value:g}."
        lines.insert(0, f"<b style='color:{colour}'>{html.escape(verdict)}</b>")
        self.callout.value = (f"<div style='border-left:4px solid {colour};padding:2px 8px;font-size:90%'>"
                              + "<br>".join(lines) + "</div>")
        columns = ["count", *a.metrics]
        self.table.value = html_table(["group", *columns],
                                      [[g, *[format_value(table.loc[g, c]) for c in columns]] for g in table.index])


class ComparisonView(widgets.VBox):
    """Candidates of a mitigation as points; the picked one's groups; register it."""

    def __init__(self, ws: Workspace, result: MitigationResult, on_code: Callable[[str], None]) -> None:
        super().__init__()
        import plotly.graph_objects as go

        self.ws, self.result, self._on_code = ws, result, on_code
        self.figure = go.FigureWidget(data=charts.comparison_traces(result), layout=charts.comparison_layout(result))
        self.figure.data[0].on_click(self._on_point_click)
        self.candidate = widgets.Dropdown(description="Candidate", style=_WIDE,
                                          options=[(self._label(c), c.index) for c in result.candidates], value=0)
        self.details = widgets.VBox()
        self.model_name = widgets.Text(description="Register as", placeholder="model name", style=_WIDE)
        self.register_button = widgets.Button(description="Register model", button_style="success", icon="check")
        self.message = Message()
        self.candidate.observe(lambda _c: self.show_candidate(), names="value")
        self.register_button.on_click(lambda _b: self.register())
        self.children = [self.figure, self.candidate, self.details,
                         widgets.HBox([self.model_name, self.register_button]), self.message]
        self.show_candidate()

    def _label(self, c: Any) -> str:
        r = self.result
        star = " ★ Pareto" if c.index in r.pareto_front else ""
        return (f"{c.name}{star}: {r.performance_metric} {c.performance[r.performance_metric]:.4f}, "
                f"{r.disparity_metric} {c.disparity[r.disparity_metric]:.4f}")

    def _on_point_click(self, _trace: Any, points: Any, _state: Any) -> None:
        if points.point_inds:
            self.candidate.value = self.result.candidates[points.point_inds[0]].index

    def show_candidate(self) -> None:
        chosen = self.result.candidate(self.candidate.value)
        with self.figure.batch_update():  # outline the picked point
            self.figure.data[0].marker.line.width = [3 if c.index == chosen.index else 0 for c in self.result.candidates]
        self.details.children = [AssessmentView(chosen.assessment, title=f"{chosen.name}: groups on held-out rows")]
        self.register_button.disabled = chosen.is_original
        self.message.clear()
        if chosen.is_original:
            self.message.info("This is the original model; pick a mitigated candidate to register it.")

    def register(self) -> Any:
        chosen = self.result.candidate(self.candidate.value)
        name = self.model_name.value.strip()
        if not name:
            self.message.error("Give the model a name to register it under.")
            return None
        try:
            model = self.ws.fairness.register_candidate(self.result.name or "", chosen.name, name=name)
        except StudioError as exc:
            self.message.error(str(exc))
            return None
        self.message.info(f"Registered {model.name} version {model.version} (tags record the sensitive features "
                          f"and the constraint).")
        self._on_code(f"ws.fairness.register_candidate({self.result.name!r}, {chosen.name!r}, name={name!r})")
        return model


class FairnessDashboard(widgets.VBox):
    """``FairnessDashboard(ws, assessment=None)``: an assessment or mitigation, or a picker of the workspace's.

    ``assessment`` is a FairnessAssessment, a MitigationResult, or a name in ``ws.fairness``.
    """

    def __init__(self, ws: Workspace, assessment: FairnessAssessment | MitigationResult | str | None = None, *,
                 poll_interval: float = 2.0) -> None:
        self._subscription: Any = None
        super().__init__()
        self.ws = ws
        self.poll_interval = poll_interval
        self.result: FairnessAssessment | MitigationResult | None = None
        self.view: AssessmentView | ComparisonView | None = None
        self.message = Message()
        self.code = CodeBox()
        self.form = AssessForm(ws, on_done=self._assessed)
        self.method = widgets.Dropdown(description="Mitigation", style=_WIDE,
                                       options=[(m.value.replace("_", " "), m.value) for m in MitigationMethod])
        self.constraint = widgets.Dropdown(description="Constraint", style=_WIDE,
                                           options=[(c.value.replace("_", " "), c.value) for c in FairnessConstraint])
        self.mitigate_button = widgets.Button(description="Mitigate", button_style="warning", icon="balance-scale")
        self.progress = widgets.FloatProgress(value=0, min=0, max=1, layout=widgets.Layout(display="none"))
        self.mitigation_box = widgets.VBox([widgets.HTML("<b>Mitigate this model</b>"),
                                            widgets.HBox([self.method, self.constraint, self.mitigate_button,
                                                          self.progress])],
                                           layout=widgets.Layout(display="none"))
        self.body = widgets.VBox()
        self.mitigate_button.on_click(lambda _b: self.start_mitigation())
        self.results = ResultPicker(ws.fairness.list, self.open_result, self.message,
                                    "No fairness results yet: assess a registered model below.")
        self.picker = self.results.picker
        self.children = [widgets.HTML("<h3 style='margin:4px 0'>Fairness</h3>"), self.results,
                         widgets.HTML("<b>Assess a registered model</b>"), self.form, self.message, self.body,
                         self.mitigation_box, self.code]
        latest = self.results.latest
        self.form.inputs.follow(latest)  # open on the model and data last assessed, and its groups
        chosen = (latest.options.get("sensitive_features") if latest is not None else None) or []
        self.form.sensitive.value = [c for c in chosen if c in self.form.sensitive.allowed_tags]
        if assessment is not None:
            self.open_result(assessment)

    def refresh(self) -> None:
        """List the workspace's finished assessments and mitigations in the picker."""
        self.results.refresh()

    def open_result(self, result: FairnessAssessment | MitigationResult | str) -> None:
        self.message.clear()
        try:
            loaded = self.ws.fairness.get(result) if isinstance(result, str) else result
        except StudioError as exc:
            self.message.error(str(exc))
            return
        self.result = loaded
        on_code = lambda c: self.code.show(sdk_code(self.ws, c))  # noqa: E731
        if isinstance(loaded, MitigationResult):
            self.view = ComparisonView(self.ws, loaded, on_code)
            self.mitigation_box.layout.display = "none"
        else:
            self.view = AssessmentView(loaded)
            can_mitigate = bool(loaded.metadata.get("model")) and loaded.metadata.get("dataset") != "(DataFrame)"
            self.mitigation_box.layout.display = "" if can_mitigate else "none"
            classifier = loaded.task.value == "classification"
            self.constraint.options = [(c.value.replace("_", " "), c.value) for c in FairnessConstraint
                                       if (c is FairnessConstraint.BOUNDED_GROUP_LOSS) != classifier]
        self.body.children = [self.view]
        if loaded.name:
            self.code.show(sdk_code(self.ws, f"result = ws.fairness.get({loaded.name!r})"))

    def _assessed(self, assessment: FairnessAssessment, code: str) -> None:
        self.refresh()
        self.open_result(assessment)
        self.code.show(sdk_code(self.ws, code))

    def start_mitigation(self) -> str | None:
        """Mitigate the open assessment's model as a job; the comparison opens when it ends."""
        a = self.result
        if not isinstance(a, FairnessAssessment):
            return None
        meta = a.metadata
        self.message.clear()
        try:
            record = queued(self.ws.fairness.mitigate(meta["model"], meta["dataset"], meta["target_column"],
                                                      a.sensitive_features, method=self.method.value,
                                                      constraint=self.constraint.value, wait=False))
        except StudioError as exc:
            self.message.error(str(exc))
            return None
        self.code.show(sdk_code(self.ws, f"result = ws.fairness.mitigate({meta['model']!r}, {meta['dataset']!r}, "
                                      f"{meta['target_column']!r}, {a.sensitive_features!r}, "
                                      f"method={self.method.value!r}, constraint={self.constraint.value!r})"))
        self.message.info(f"Mitigation job {record.job_name} started; the comparison opens when it finishes.")
        self.progress.layout.display = ""
        self.progress.value = 0
        poller = SharedPoller.for_workspace(self.ws, self.poll_interval)
        self._subscription = poller.subscribe(("fairness", record.name), lambda: self.ws.fairness.get_record(record.name),
                                              self._on_record)
        return record.name

    def _on_record(self, record: Any, error: BaseException | None) -> bool:
        if error is not None:
            self.message.error(str(error))
            return False
        self.progress.value = record.progress or 0.0
        if not record.status.is_terminal:
            return True
        self.progress.layout.display = "none"
        if record.status is JobStatus.COMPLETED:
            self.refresh()
            self.open_result(record.name)
        else:
            self.message.error(f"The mitigation job {record.job_name} ended {record.status}: {record.error}")
        return False

    def close(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
        super().close()


class AssessForm(widgets.VBox):
    """Model, dataset, target and sensitive columns; runs ws.fairness.assess."""

    def __init__(self, ws: Workspace, on_done: Callable[[FairnessAssessment, str], None]) -> None:
        super().__init__()
        self.ws = ws
        self._on_done = on_done
        self.message = Message()
        # Several columns as tags, typed or picked from the column names (no old-style list box).
        # TagsInput draws no description: the label beside it is as wide and aligned as its neighbours'.
        self.sensitive = widgets.TagsInput(value=[], allowed_tags=[], allow_duplicates=False,
                                           placeholder="type a column name (Enter adds it)",
                                           tooltip="the columns that say which group a person is in",
                                           layout=widgets.Layout(width="480px"))
        label = widgets.HTML("<div style='text-align:right;padding-right:8px'>Sensitive features</div>",
                             layout=widgets.Layout(width=_WIDE["description_width"], min_width=_WIDE["description_width"]))
        self.sensitive_hint = widgets.HTML()
        self.sensitive_row = widgets.VBox([widgets.HBox([label, self.sensitive]), self.sensitive_hint])
        self.inputs = ModelDataPicker(ws, self.message, on_columns=self._columns)
        self.model, self.dataset, self.target = self.inputs.model, self.inputs.dataset, self.inputs.target
        self.target.observe(lambda _c: self._columns(getattr(self, "_names", [])), names="value")
        self._columns(getattr(self, "_names", []))  # the first columns came before the target was known
        self.binning = widgets.ToggleButtons(options=[("Quantiles", "quantiles"), ("Chosen edges", "edges")],
                                             value="quantiles", description="Numeric groups", style=_WIDE,
                                             tooltip="how a numeric sensitive column (age) becomes groups")
        self.quantiles = widgets.BoundedIntText(value=4, min=2, max=MAX_PLAIN_GROUPS, description="Groups",
                                                style={"description_width": "initial"},
                                                layout=widgets.Layout(width="140px"))
        self.edges = widgets.Text(description="Edges", placeholder="e.g. 30, 45, 60",
                                  style={"description_width": "initial"}, layout=widgets.Layout(width="260px"))
        self.binning_box = widgets.HBox([self.binning, self.quantiles, self.edges])
        self.binning_hint = widgets.HTML()
        self.binning.observe(lambda _c: self._show_binning(), names="value")
        self.sensitive.observe(lambda _c: self._show_binning(), names="value")
        self.go = widgets.Button(description="Assess", button_style="primary", icon="play")
        self.go.on_click(lambda _b: self.submit())
        self.children = [self.inputs, self.sensitive_row, self.binning_hint, self.binning_box, self.go, self.message]
        self._show_binning()

    def _columns(self, names: list[str]) -> None:
        self._names = names
        # The target is what the model predicts, not a group of people: it is not offered as sensitive.
        target = self.inputs.target.value if hasattr(self, "inputs") else None
        allowed = [n for n in names if n != target]
        self.sensitive.value = [v for v in self.sensitive.value if v in allowed]
        self.sensitive.allowed_tags = allowed
        if hasattr(self, "sensitive_hint"):
            shown = ", ".join(allowed[:12]) + (", ..." if len(allowed) > 12 else "")
            self.sensitive_hint.value = (f"<span style='color:#666;font-size:90%;padding-left:148px'>pick from: "
                                         f"{html.escape(shown)}</span>" if allowed else "")

    def _numeric(self) -> list[str]:
        """The chosen sensitive columns that are numbers with too many values to compare as groups."""
        data = self.inputs._data.get(self.dataset.value) if self.dataset.value else None
        if data is None or not self.sensitive.value:
            return []
        types = {c.name: str(c.type) for c in data.columns}
        numeric = [c for c in self.sensitive.value if any(t in types.get(c, "") for t in ("int", "float", "double"))]
        if not numeric:
            return []
        frame = self._frame()
        return [c for c in numeric if frame is not None and frame[c].nunique() > MAX_PLAIN_GROUPS]

    def _frame(self) -> Any:
        data = self.inputs._data.get(self.dataset.value) if self.dataset.value else None
        if data is None:
            return None
        if getattr(self, "_loaded", (None, None))[0] != data.reference:
            self._loaded = (data.reference, self.ws.data.load(data.name, data.version))
        return self._loaded[1]

    def _show_binning(self) -> None:
        try:
            numeric = self._numeric()
        except StudioError:
            numeric = []
        self.binning_box.layout.display = None if numeric else "none"
        self.quantiles.layout.display = None if self.binning.value == "quantiles" else "none"
        self.edges.layout.display = None if self.binning.value == "edges" else "none"
        self.binning_hint.value = (f"<span style='color:#555;font-size:90%'>{html.escape(', '.join(numeric))}: "
                                   "numbers, compared as groups of the ranges below.</span>") if numeric else ""

    def submit(self) -> FairnessAssessment | None:
        self.message.clear()
        sensitive = list(self.sensitive.value)
        dataset: Any = self.dataset.value
        features = None
        binned_code = ""
        try:
            numeric = self._numeric()
            if numeric:  # the binned groups as new columns; the model still sees the numbers
                frame = self._frame().copy()
                features = [c for c in frame.columns if c != self.target.value]
                for column in numeric:
                    edges = None if self.binning.value == "quantiles" else _edges(self.edges.value)
                    frame[f"{column} group"] = bin_column(frame[column], quantiles=self.quantiles.value, edges=edges)
                    sensitive[sensitive.index(column)] = f"{column} group"
                    binned_code += (f"df[{column + ' group'!r}] = pd.cut(df[{column!r}], "
                                    + (f"[-np.inf, *{edges}, np.inf])\n" if edges else
                                       f"df[{column!r}].quantile(np.linspace(0, 1, {self.quantiles.value + 1})))\n"))
                dataset = frame
            a = self.ws.fairness.assess(self.model.value, dataset, self.target.value, sensitive, features=features)
        except StudioError as exc:
            self.message.error(self.inputs.advice(str(exc)))
            return None
        data_arg = "df" if binned_code else repr(self.dataset.value)
        code = ((f"df = ws.data.load(...)  # {self.dataset.value}\n{binned_code}" if binned_code else "")
                + f"a = ws.fairness.assess({self.model.value!r}, {data_arg}, {self.target.value!r}, {sensitive!r}"
                + (", features=[...]" if features else "") + f")\na.by_group({sensitive[0]!r})")
        self._on_done(a, code)
        return a


def _edges(text: str) -> list[float]:
    from studio_ext.errors import InvalidInput

    try:
        edges = sorted({float(part) for part in text.replace(";", ",").split(",") if part.strip()})
    except ValueError:
        raise InvalidInput(f"The edges must be numbers separated by commas, such as 30, 45, 60. Got {text!r}.") from None
    if not edges:
        raise InvalidInput("Give at least one edge (such as 40) to split the numbers into groups, or choose Quantiles.")
    return edges


def bin_column(values: Any, *, quantiles: int = 4, edges: list[float] | None = None) -> Any:
    """Numbers as named ranges: ``quantiles`` groups of about equal size, or split at ``edges``.

    Labels read as ranges (``"< 30"``, ``"30 to 45"``, ``"≥ 60"``), ordered as the numbers are.
    """
    import numpy as np
    import pandas as pd

    from studio_ext.errors import InvalidInput

    numbers = pd.to_numeric(values, errors="coerce")
    if edges is None:
        cuts = sorted(set(np.nanquantile(numbers.dropna(), np.linspace(0, 1, quantiles + 1)).tolist()))
        if len(cuts) < 3:
            raise InvalidInput(f"The column {values.name!r} has too few distinct numbers for {quantiles} quantiles; "
                               "choose edges instead.")
        inner = cuts[1:-1]
    else:
        inner = sorted(edges)
    bounds = [-np.inf, *inner, np.inf]
    labels = []
    for low, high in zip(bounds[:-1], bounds[1:]):
        if low == -np.inf:
            labels.append(f"< {format_value(high)}")
        elif high == np.inf:
            labels.append(f"≥ {format_value(low)}")
        else:
            labels.append(f"{format_value(low)} to {format_value(high)}")
    return pd.cut(numbers, bounds, labels=labels, right=False).astype(object)
