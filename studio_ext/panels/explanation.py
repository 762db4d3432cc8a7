"""The Explanations page: pick or create an explanation, then explore it.

``ExplanationDashboard(ws, explanation)`` shows one explanation: global importance
(top-k), a beeswarm-style summary, dependence plots, a table of explained rows
whose picked row is drawn as a waterfall, and cohorts compared side by side.
Opened with the workspace alone (from the sidebar), it first offers the
workspace's explanations and a form to explain a registered model. Every action
goes through ``ws.explanations``/``ws.models``/``ws.data`` and shows its SDK code.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from studio_ext.entities import JobStatus
from studio_ext.errors import StudioError
from studio_ext.panels import explanation_charts as charts
from studio_ext.panels._insight_widgets import ModelDataPicker, ResultPicker, queued, sdk_code
from studio_ext.panels._widgets import (
    CodeBox,
    Message,
    SharedPoller,
    TagsField,
    format_value,
    html_table,
    show_figures,
)

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.ml.explain import Explanation
    from studio_ext.workspace import Workspace

__all__ = ["ExplanationDashboard", "ExplanationView"]

ALL_OUTPUTS = "all classes (mean)"
PAGE_ROWS = 20
_WIDE = {"description_width": "130px"}


class ExplanationView(widgets.VBox):
    """One explanation's tabs; charts are built when their tab is first opened."""

    def __init__(self, exp: Explanation, *, name: str | None = None, on_code: Callable[[str], None] | None = None,
                 groups: pd.DataFrame | None = None, groups_code: str = "") -> None:
        super().__init__()
        self.exp = exp
        # Categorical columns of the explained dataset that are not model inputs (an age group in years),
        # one row per explained row: offered as cohort filters with their values.
        self.groups = groups if groups is not None else pd.DataFrame()
        self._groups_code = groups_code
        self.name = name or exp.name
        self._on_code = on_code or (lambda _code: None)
        self.rows = charts.display_rows(exp.rows) if exp.has_local else np.arange(0)
        self.summary_rows = charts.display_rows(exp.rows, charts.SUMMARY_POINTS) if exp.has_local else np.arange(0)
        self.sampled = exp.has_local and len(self.summary_rows) < exp.rows
        self.header = widgets.HTML(self._header())
        self.message = Message()
        n = len(exp.features)
        # global importance
        self.top_k = widgets.IntSlider(description="Top features", value=min(10, n), min=1, max=n, style=_WIDE)
        outputs = [ALL_OUTPUTS] + exp.outputs if exp.has_local and len(exp.outputs) > 1 else exp.outputs
        self.output_choice = widgets.Dropdown(description="Class", options=outputs, value=outputs[0], style=_WIDE,
                                              layout=widgets.Layout(display="" if len(outputs) > 1 else "none"))
        self.global_out = widgets.Output()
        tabs = [("Global importance", widgets.VBox([widgets.HBox([self.top_k, self.output_choice]), self.global_out]))]
        self._builders: list[Callable[[], None]] = [self.draw_global]
        if exp.has_local:
            top = exp.top_features(n)
            self.summary_k = widgets.IntSlider(description="Features", value=min(10, n), min=1, max=n, style=_WIDE)
            self.summary_out = widgets.Output()
            self.feature = widgets.Dropdown(description="Feature", options=top, value=top[0], style=_WIDE)
            self.colour_by = widgets.Dropdown(description="Colour by", options=[("(none)", None)] + [(f, f) for f in top],
                                              value=top[1] if n > 1 else None, style=_WIDE)
            self.dependence_out = widgets.Output()
            pages = max(1, -(-exp.rows // PAGE_ROWS))
            self.page = widgets.BoundedIntText(description="Page", value=1, min=1, max=pages, style=_WIDE,
                                               layout=widgets.Layout(width="220px"))
            self.page_label = widgets.HTML(f"of {pages:,}")
            self.table = widgets.HTML()
            self.row_picker = widgets.Select(description="Row", options=[], rows=8, style=_WIDE,
                                             layout=widgets.Layout(width="95%"))
            self.waterfall_out = widgets.Output()
            self._cohort_widgets()
            tabs += [
                ("Summary", widgets.VBox([self.summary_k, self.summary_out])),
                ("Dependence", widgets.VBox([widgets.HBox([self.feature, self.colour_by]), self.dependence_out])),
                ("Individual rows", widgets.VBox([widgets.HBox([self.page, self.page_label]), self.table,
                                                  self.row_picker, self.waterfall_out])),
                ("Cohorts", self.cohort_box),
            ]
            self._builders += [self.draw_summary, self.draw_dependence, self.draw_rows, self.draw_cohorts]
        self.tabs = widgets.Tab(children=[box for _, box in tabs], titles=[title for title, _ in tabs])
        self._built: set[int] = set()
        self.children = [self.header, self.message, self.tabs]
        self._wire()
        self._build_tab(0)

    # -- header -----------------------------------------------------------------------
    def _header(self) -> str:
        exp = self.exp
        facts = [f"<b>{html.escape(exp.method)}</b> ({html.escape(exp.kind.value)}, {html.escape(exp.task.value)})"]
        meta = exp.metadata
        if meta.get("model"):
            facts.append(f"model {html.escape(str(meta['model']))} on {html.escape(str(meta.get('dataset')))}")
        if exp.fidelity:
            facts.append(f"surrogate fidelity: {exp.fidelity['metric']} {exp.fidelity['value']:.3f}")
        if exp.has_local:
            facts.append(f"{exp.rows:,} rows explained; values in {html.escape(exp.output_space)}")
        if self.sampled:
            facts.append(f"<span style='color:#8a6d00'>point charts show a random sample of the {exp.rows:,} "
                         f"explained rows ({len(self.rows):,} in the dependence plot, {len(self.summary_rows):,} in "
                         "the summary); importance bars, the table and cohorts use every row</span>")
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in exp.notes)
        return f"<div style='font-size:90%'>{' · '.join(facts)}<ul style='margin:2px 0'>{notes}</ul></div>"

    # -- wiring -----------------------------------------------------------------------
    def _wire(self) -> None:
        self.tabs.observe(lambda c: self._build_tab(c["new"]), names="selected_index")
        self.top_k.observe(lambda _c: self.draw_global(), names="value")
        self.output_choice.observe(lambda _c: self.draw_global(), names="value")
        if self.exp.has_local:
            self.summary_k.observe(lambda _c: self.draw_summary(), names="value")
            self.feature.observe(lambda _c: self.draw_dependence(), names="value")
            self.colour_by.observe(lambda _c: self.draw_dependence(), names="value")
            self.page.observe(lambda _c: self.draw_rows(), names="value")
            self.row_picker.observe(lambda _c: self.draw_waterfall(), names="value")

    def _build_tab(self, index: int | None) -> None:
        if index is None or index in self._built:
            return
        self._built.add(index)
        self._builders[index]()

    # -- global -----------------------------------------------------------------------
    def draw_global(self) -> None:
        exp, k = self.exp, self.top_k.value
        choice = self.output_choice.value
        if exp.importance_std is not None:
            fig = charts.importance_bar(exp.global_importance, k=k, errors=exp.importance_std,
                                        title=f"Permutation importance ({exp.metric}; bars: ± std over repeats)",
                                        axis=f"drop in {exp.metric}")
        elif choice == ALL_OUTPUTS:
            fig = charts.class_bars(exp.class_importance, exp.top_features(k), title="Mean |contribution| by class",
                                    axis=f"mean |contribution| ({exp.output_space})")
        else:
            importance = exp.class_importance.get(choice, exp.global_importance)
            fig = charts.importance_bar(importance, k=k, title=f"Global importance ({choice})",
                                        axis=f"mean |contribution| ({exp.output_space})")
        show_figures(self.global_out, [fig])
        self._on_code(f"exp = ws.explanations.get({self.name!r})\nlist(exp.global_importance.items())[:{k}]")

    # -- summary and dependence -------------------------------------------------------
    def draw_summary(self) -> None:
        show_figures(self.summary_out, [charts.beeswarm(self.exp, self.exp.top_features(self.summary_k.value),
                                                        self.summary_rows)])

    def draw_dependence(self) -> None:
        show_figures(self.dependence_out, [charts.dependence(self.exp, self.feature.value, self.colour_by.value, self.rows)])
        self._on_code(f"exp = ws.explanations.get({self.name!r})\n"
                      f"x, y = exp.data[{self.feature.value!r}], exp.local_importance[{self.feature.value!r}]")

    # -- rows ---------------------------------------------------------------------------
    def draw_rows(self) -> None:
        exp = self.exp
        start = (self.page.value - 1) * PAGE_ROWS
        positions = list(range(start, min(start + PAGE_ROWS, exp.rows)))
        shown = exp.top_features(5)
        data, predictions = charts.local_rows(exp)
        headers = ["#", "row", "prediction"] + shown
        table_rows = [[p, data.index[p], predictions[p], *[data[f].iloc[p] for f in shown]] for p in positions]
        self.table.value = html_table(headers, table_rows)
        options = [(f"#{p}  row {data.index[p]}  prediction {format_value(predictions[p])}", p) for p in positions]
        self.row_picker.options = options
        self.row_picker.value = positions[0] if positions else None

    def select_row(self, position: int) -> None:
        """Show the waterfall of explained row ``position`` (turning to its page first)."""
        if not 0 <= position < self.exp.rows:
            self.message.error(f"There is no explained row #{position}; rows are numbered 0 to {self.exp.rows - 1}.")
            return
        self.page.value = position // PAGE_ROWS + 1
        if 3 not in self._built:
            self._build_tab(3)
        self.row_picker.value = position

    def draw_waterfall(self) -> None:
        position = self.row_picker.value
        if position is None:
            return
        show_figures(self.waterfall_out, [charts.waterfall(self.exp, position)])
        self._on_code(f"exp = ws.explanations.get({self.name!r})\nexp.local_importance.iloc[{position}]")

    # -- cohorts ------------------------------------------------------------------------
    def _cohort_widgets(self) -> None:
        exp = self.exp
        self.cohorts: dict[str, np.ndarray] = {}
        extra = [(f"{c} (in the data, not a model input)", c) for c in self.groups.columns]
        self.cohort_feature = widgets.Dropdown(description="Filter on", style=_WIDE,
                                               options=([("predicted class", None)] if exp.task.value == "classification"
                                                        else []) + extra + [(f, f) for f in exp.features])
        self.cohort_range = widgets.FloatRangeSlider(description="Range", style=_WIDE, readout_format=".4g",
                                                     layout=widgets.Layout(width="60%"))
        self.cohort_values = TagsField("Values", placeholder="type a value (Enter adds it)",
                                       label_width=_WIDE["description_width"], width="480px")
        self.cohort_name = widgets.Text(description="Cohort name", style=_WIDE)
        self.add_cohort = widgets.Button(description="Add cohort", button_style="primary")
        self.cohort_list = widgets.Select(description="Cohorts", rows=4, style=_WIDE)
        self.remove_cohort = widgets.Button(description="Remove")
        self.cohort_out = widgets.Output()
        self.cohort_feature.observe(lambda _c: self._cohort_filter_changed(), names="value")
        self.add_cohort.on_click(lambda _b: self.add_current_cohort())
        self.remove_cohort.on_click(lambda _b: self.remove_selected_cohort())
        self.cohort_box = widgets.VBox([self.cohort_feature, self.cohort_range, self.cohort_values,
                                        widgets.HBox([self.cohort_name, self.add_cohort]),
                                        widgets.HBox([self.cohort_list, self.remove_cohort]), self.cohort_out])
        self._cohort_filter_changed()

    def _filter_column(self) -> pd.Series:
        feature = self.cohort_feature.value
        data, predictions = charts.local_rows(self.exp)
        if feature is None:
            return pd.Series(np.asarray(predictions).astype(str), index=data.index)
        if feature in self.groups.columns and feature not in data.columns:
            return self.groups[feature]
        return data[feature]

    def _is_numeric(self, column: pd.Series) -> bool:
        return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column) and column.nunique() > 12

    def _cohort_filter_changed(self) -> None:
        column = self._filter_column()
        numeric = self._is_numeric(column)
        self.cohort_range.layout.display = "" if numeric else "none"
        self.cohort_values.layout.display = "none" if numeric else ""
        if numeric:
            low, high = float(np.nanmin(column)), float(np.nanmax(column))
            slider = self.cohort_range
            # Move the bound that does not cross the other first, so min <= max holds throughout.
            if low > slider.max:
                slider.max, slider.min = high, low
            else:
                slider.min, slider.max = low, high
            slider.step = (high - low) / 100 or 1.0
            slider.value = (low, high)
        else:
            counts = column.astype(str).value_counts()
            self.cohort_values.options = list(counts.index[:50])
            self.cohort_values.value = ()

    def cohort_mask(self) -> tuple[np.ndarray, str, str]:
        """The rows the current filter selects, a default name, and the equivalent pandas expression."""
        column = self._filter_column()
        feature = self.cohort_feature.value
        if self._is_numeric(column):
            low, high = self.cohort_range.value
            mask = column.between(low, high).to_numpy()
            return mask, f"{feature} {low:.4g}–{high:.4g}", f"exp.data[{feature!r}].between({low!r}, {high!r})"
        chosen = list(self.cohort_values.value)
        mask = column.astype(str).isin(chosen).to_numpy()
        label = feature or "predicted"
        if feature in self.groups.columns and feature not in self.exp.features:
            expr = f"{self._groups_code}[{feature!r}].astype(str).isin({chosen!r})"
        else:
            expr = (f"exp.data[{feature!r}].astype(str).isin({chosen!r})" if feature
                    else f"pd.Series(exp.predictions).astype(str).isin({chosen!r})")
        return mask, f"{label} in {', '.join(chosen)}", expr

    def add_current_cohort(self) -> None:
        mask, default_name, expr = self.cohort_mask()
        if not mask.any():
            self.message.error("The filter selects no rows; widen the range or pick other values.")
            return
        name = self.cohort_name.value.strip() or default_name
        self.cohort_name.value = ""
        self.cohorts[name] = mask
        self.cohort_list.options = list(self.cohorts)
        self.message.info(f"Cohort {name!r}: {int(mask.sum()):,} of {self.exp.rows:,} rows.")
        self.draw_cohorts()
        self._on_code(f"exp = ws.explanations.get({self.name!r})\nexp.cohort_importance({expr})")

    def remove_selected_cohort(self) -> None:
        if self.cohort_list.value in self.cohorts:
            del self.cohorts[self.cohort_list.value]
            self.cohort_list.options = list(self.cohorts)
            self.draw_cohorts()

    def cohort_importances(self) -> dict[str, dict[str, float]]:
        out = {f"all rows ({self.exp.rows:,})": self.exp.cohort_importance(np.ones(self.exp.rows, dtype=bool))}
        for name, mask in self.cohorts.items():
            out[f"{name} ({int(mask.sum()):,})"] = self.exp.cohort_importance(mask)
        return out

    def draw_cohorts(self) -> None:
        fig = charts.cohort_bars(self.cohort_importances(), self.exp.top_features(10),
                                 axis=f"mean |contribution| ({self.exp.output_space})")
        show_figures(self.cohort_out, [fig])


class ExplanationDashboard(widgets.VBox):
    """``ExplanationDashboard(ws, explanation=None)``: one explanation, or a picker of the workspace's.

    ``explanation`` is an Explanation or the name of one in ``ws.explanations``.
    """

    def __init__(self, ws: Workspace, explanation: Explanation | str | None = None, *,
                 poll_interval: float = 2.0) -> None:
        self._subscription: Any = None
        super().__init__()
        self.ws = ws
        self.poll_interval = poll_interval
        self.view: ExplanationView | None = None
        self.message = Message()
        self.code = CodeBox()
        self.title = widgets.HTML("<h3 style='margin:4px 0'>Explanations</h3>")
        self.form = CreateExplanationForm(ws, on_started=self._watch)
        self.results = ResultPicker(ws.explanations.list, self.open_explanation, self.message,
                                    "No finished explanations yet: explain a registered model below.")
        self.picker = self.results.picker
        self.chooser = widgets.VBox([self.results, widgets.HTML("<b>Explain a registered model</b>"), self.form])
        self.body = widgets.VBox()
        self.children = [self.title, self.chooser, self.message, self.body, self.code]
        self.form.inputs.follow(self.results.latest)  # open on the model and data last explained
        if explanation is not None:
            self.open_explanation(explanation)

    def refresh(self) -> None:
        """List the workspace's finished explanations in the picker."""
        self.results.refresh()

    def open_explanation(self, explanation: Explanation | str) -> None:
        """Show an explanation (an object, or a name in ws.explanations)."""
        self.message.clear()
        try:
            exp = self.ws.explanations.get(explanation) if isinstance(explanation, str) else explanation
        except StudioError as exc:
            self.message.error(str(exc))
            return
        groups, groups_code = self._groups(exp)
        self.view = ExplanationView(exp, name=exp.name or (explanation if isinstance(explanation, str) else None),
                                    on_code=lambda c: self.code.show(sdk_code(self.ws, c)), groups=groups,
                                    groups_code=groups_code)
        self.body.children = [self.view]
        if exp.name:
            self.code.show(sdk_code(self.ws, f"exp = ws.explanations.get({exp.name!r})", "exp.global_importance"))

    def _groups(self, exp: Explanation) -> tuple[pd.DataFrame | None, str]:
        """The explained dataset's categorical columns that are not model inputs, row for explained row.

        A registered dataset (``azureml:NAME:VERSION``) is read again; the explained rows keep its row
        labels, so its other columns line up with them. None when there is nothing to add.
        """
        dataset = str(exp.metadata.get("dataset") or "")
        target = exp.metadata.get("target_column")
        if not dataset.startswith("azureml:") or exp.data is None:
            return None, ""
        name, _, version = dataset.removeprefix("azureml:").rpartition(":")
        try:
            frame = self.ws.data.load(name, version)
        except StudioError:
            return None, ""
        if not exp.data.index.isin(frame.index).all():
            return None, ""
        columns = [c for c in frame.columns if c not in exp.features and c != target
                   and (not pd.api.types.is_numeric_dtype(frame[c]) or frame[c].nunique() <= 12)
                   and frame[c].nunique() <= 50]
        if not columns:
            return None, ""
        return (frame.loc[exp.data.index, columns],
                f"ws.data.load({name!r}, {version!r}).loc[exp.data.index]")

    def _watch(self, name: str) -> None:
        """Follow an explanation job until it ends, then open it."""
        poller = SharedPoller.for_workspace(self.ws, self.poll_interval)
        self.code.show(sdk_code(self.ws, self.form.code))
        self._subscription = poller.subscribe(("explanation", name), lambda: self.ws.explanations.get_record(name),
                                              self._on_record)

    def _on_record(self, record: Any, error: BaseException | None) -> bool:
        if error is not None:
            self.message.error(str(error))
            return False
        self.form.show_progress(record)
        if not record.status.is_terminal:
            return True
        if record.status is JobStatus.COMPLETED:
            self.refresh()
            self.picker.value = record.name
            self.open_explanation(record.name)
        else:
            self.message.error(f"The explanation job {record.job_name} ended {record.status}: {record.error}")
        return False

    def close(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
        super().close()


class CreateExplanationForm(widgets.VBox):
    """Model, dataset, target and explainer; starts the job through ws.explanations."""

    def __init__(self, ws: Workspace, on_started: Callable[[str], None]) -> None:
        super().__init__()
        self.ws = ws
        self._on_started = on_started
        self.code = ""
        self.message = Message()
        self.inputs = ModelDataPicker(ws, self.message)
        self.model, self.dataset, self.target = self.inputs.model, self.inputs.dataset, self.inputs.target
        self.explainer = widgets.ToggleButtons(description="Explainer", style=_WIDE,
                                               options=[("Tabular (SHAP)", "auto"), ("Mimic", "mimic"),
                                                        ("Permutation", "pfi")], value="auto")
        self.sample = widgets.IntText(description="Rows (0 = auto)", value=0, style=_WIDE)
        self.go = widgets.Button(description="Explain", button_style="primary", icon="play")
        self.progress = widgets.FloatProgress(value=0, min=0, max=1, description="Progress", style=_WIDE,
                                              layout=widgets.Layout(display="none"))
        self.status = widgets.HTML()
        self.go.on_click(lambda _b: self.submit())
        self.children = [self.inputs, self.explainer, self.sample,
                         widgets.HBox([self.go, self.progress, self.status]), self.message]

    def submit(self) -> str | None:
        """Start the explanation job; returns its name (None when refused, with the reason shown)."""
        self.message.clear()
        sample = self.sample.value or None
        self.code = (f"record = ws.explanations.create({self.model.value!r}, {self.dataset.value!r}, "
                     f"{self.target.value!r}, explainer={self.explainer.value!r}"
                     + (f", sample={sample}" if sample else "") + ", wait=False)")
        try:
            record = queued(self.ws.explanations.create(self.model.value, self.dataset.value, self.target.value,
                                                        explainer=self.explainer.value, sample=sample, wait=False))
        except StudioError as exc:
            self.message.error(self.inputs.advice(str(exc)))
            return None
        self.status.value = f"job {html.escape(record.job_name or '')}: {record.status}"
        self.progress.layout.display = ""
        self.progress.value = 0
        self._on_started(record.name)
        return record.name

    def show_progress(self, record: Any) -> None:
        self.progress.value = record.progress or (1.0 if record.status is JobStatus.COMPLETED else 0.0)
        self.status.value = f"job {html.escape(record.job_name or '')}: {record.status}"
