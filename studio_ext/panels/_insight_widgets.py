"""Widgets the Explanations and Fairness pages share: result picker, model/dataset/target pickers."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from studio_ext.entities import InsightRecord, JobStatus
from studio_ext.errors import StudioError
from studio_ext.panels._widgets import Message, set_choices, suggest_target

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

STYLE = {"description_width": "140px"}


def sdk_code(ws: Workspace, *lines: str) -> str:
    """The Python a user would type for an action of these pages."""
    return ws.sdk_preamble() + "\n".join(lines) + "\n"


def queued(result: object) -> InsightRecord:
    """The record a ``wait=False`` call returns: the job runs on, the record says how it goes."""
    if not isinstance(result, InsightRecord):
        raise StudioError(f"A call with wait=False returned a {type(result).__name__}, not the record of its job.")
    return result


def choose(dropdown: widgets.Dropdown, options: list[Any]) -> None:
    """Set a dropdown's options, keeping its value when still offered, else the first one."""
    set_choices(dropdown, options, keep=dropdown.value, pick_first=True)


# The engine's advice for code ("Pass features=..."): this page has no features box, so it says
# what to choose on the page instead.
_CODE_ADVICE = re.compile(r"\s*Pass features=.*$", re.DOTALL)


def page_advice(message: str, target: str | None, inputs: list[str]) -> str:
    """An engine's refusal with advice a person can follow on the page (not ``features=``)."""
    if not _CODE_ADVICE.search(message):
        return message
    if target and target in inputs:
        hint = (f" The target column {target!r} is one of the model's inputs: choose as Target column the column "
                "the model predicts.")
    else:
        hint = (" Choose as Target column the column the model predicts, and a dataset that has the columns the "
                "model was trained on" + (f" ({', '.join(inputs)})." if inputs else "."))
    return _CODE_ADVICE.sub("", message) + hint


def model_facts(ws: Workspace, model_id: str | None) -> tuple[list[str], list[str], list[str]]:
    """What the registry says a model predicts and reads: (target candidates, input columns, datasets).

    Targets, most telling first: the MLflow signature's named output, a tag or property naming
    it, the target of the AutoML job that made it, and targets earlier explanations or fairness
    assessments of it used. Inputs: the signature's named input columns. Datasets: the registered
    data its training job read (``azureml:NAME:VERSION``).
    """
    if not model_id:
        return [], [], []
    try:
        model = ws.models.get(*model_id.removeprefix("azureml:").rsplit(":", 1))
    except (StudioError, ValueError, TypeError):
        return [], [], []
    signature = model.signature or {}
    inputs = [str(c["name"]) for c in (signature.get("inputs") or []) if isinstance(c, dict) and c.get("name")]
    targets = [str(c["name"]) for c in (signature.get("outputs") or []) if isinstance(c, dict) and c.get("name")]
    for meta in (model.tags, model.properties):
        targets += [str(meta[k]) for k in ("target_column_name", "target_column", "target", "label_column", "label")
                    if meta.get(k)]
    automl_job = model.tags.get("automl_job") or model.job_name
    if automl_job:
        try:
            targets.append(ws.automl.get(automl_job).target_column_name)
        except StudioError:  # not an AutoML job
            pass
    for service in (ws.explanations, ws.fairness):
        try:
            targets += [str(r.target_column) for r in service.list(model=model) if getattr(r, "target_column", None)]
        except (StudioError, TypeError):
            continue
    return targets, inputs, list(model.datasets)


class ModelDataPicker(widgets.VBox):
    """A registered model, a registered tabular dataset, and one of its columns as the target.

    ``on_columns`` is told the dataset's columns whenever the dataset changes.
    """

    def __init__(self, ws: Workspace, message: Message, on_columns: Callable[[list[str]], None] | None = None) -> None:
        super().__init__()
        self.ws = ws
        self.message = message
        self._on_columns = on_columns or (lambda _names: None)
        self._data: dict[str, Any] = {}
        self.model = widgets.Dropdown(description="Model", options=[], style=STYLE)
        self.dataset = widgets.Dropdown(description="Dataset", options=[], style=STYLE)
        self.target = widgets.Dropdown(description="Target column", options=[], style=STYLE)
        self.target_hint = widgets.HTML()
        self.model_inputs: list[str] = []  # the chosen model's input columns, when its signature names them
        self._model_targets: list[str] = []
        self.dataset.observe(lambda _c: self._dataset_changed(), names="value")
        self.model.observe(lambda _c: self._model_changed(), names="value")
        self.target.observe(lambda _c: self._show_target_hint(), names="value")
        self.children = [self.model, self.dataset, widgets.HBox([self.target, self.target_hint])]
        self.reload()

    def reload(self) -> None:
        """Read the registered models and tabular datasets again."""
        try:
            models = [(f"{m.name}:{m.version}", m.id) for m in self.ws.models.list()]
            self._data = {d.reference: d for d in self.ws.data.list() if str(d.type) == "tabular"}
        except StudioError as exc:
            self.message.error(str(exc))
            return
        choose(self.model, models)
        choose(self.dataset, [(f"{d.name}:{d.version}", ref) for ref, d in self._data.items()])
        self._model_changed()

    def _model_changed(self) -> None:
        self._model_targets, self.model_inputs, trained_on = model_facts(self.ws, self.model.value)
        offered = {value for _, value in self.dataset.options}  # empty while reload() fills the model list
        data = next((ref for ref in trained_on if ref in offered), None)
        if data is not None and data != self.dataset.value:
            self.dataset.value = data  # the data the model was trained on (its observer sets the target)
        else:
            self._dataset_changed()

    def _dataset_changed(self) -> None:
        data = self._data.get(self.dataset.value) if self.dataset.value else None
        names = [c.name for c in data.columns] if data else []
        target = suggest_target(names, preferred=self._model_targets, inputs=self.model_inputs)
        self.target.options = names
        self.target.value = target
        self._show_target_hint()
        self._on_columns(names)

    def _show_target_hint(self) -> None:
        names = list(self.target.options)
        recorded = next((t for t in self._model_targets if t in names), None)
        self.target_hint.value = ("<span style='color:#555;font-size:90%'>the model's recorded target</span>"
                                  if recorded and recorded == self.target.value else "")

    def follow(self, record: Any) -> None:
        """Choose the model, dataset and target a result used (a page opens on what was last looked at)."""
        if record is None:
            return
        if record.model in {value for _, value in self.model.options} and record.model != self.model.value:
            self.model.value = record.model
        if record.dataset in self._data and record.dataset != self.dataset.value:
            self.dataset.value = record.dataset
        target = getattr(record, "target_column", None)
        if target and target in self.target.options:
            self.target.value = target

    def advice(self, message: str) -> str:
        """A refusal of the engine reworded for this page (what to choose here, not code)."""
        return page_advice(message, self.target.value, self.model_inputs)


class ResultPicker(widgets.HBox):
    """The workspace's finished results (explanations, or assessments and mitigations) to open."""

    def __init__(self, list_records: Callable[[], list[Any]], on_open: Callable[[str], None], message: Message,
                 empty: str) -> None:
        super().__init__()
        self._list, self._on_open, self.message, self._empty = list_records, on_open, message, empty
        self.latest: Any = None
        self.picker = widgets.Dropdown(description="Open", options=[], style=STYLE, layout=widgets.Layout(width="70%"))
        self.open_button = widgets.Button(description="Open", button_style="primary")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.open_button.on_click(lambda _b: self._on_open(self.picker.value) if self.picker.value else None)
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.children = [self.picker, self.open_button, self.refresh_button]
        self.refresh()

    def refresh(self) -> None:
        """List the finished results again (newest first)."""
        try:
            records = self._list()
        except StudioError as exc:
            self.message.error(str(exc))
            return
        done = [r for r in records if r.status is JobStatus.COMPLETED]
        self.latest = done[0] if done else None  # the newest finished result (its form opens on its data)
        # Never a blank box: the newest result, or a line saying there is none yet.
        set_choices(self.picker, [(r.title, r.name) for r in done] or [("None finished yet", "")],
                    keep=self.picker.value, pick_first=True)
        self.open_button.disabled = not done
        if not done:
            self.message.info(self._empty)
