"""Widgets the Explanations and Fairness pages share: result picker, model/dataset/target pickers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import ipywidgets as widgets

from studio_ext.entities import InsightRecord, JobStatus
from studio_ext.errors import StudioError
from studio_ext.panels._widgets import Message

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

STYLE = {"description_width": "140px"}


def sdk_code(ws: "Workspace", *lines: str) -> str:
    """The Python a user would type for an action of these pages."""
    return ws.sdk_preamble() + "\n".join(lines) + "\n"


def queued(result: object) -> InsightRecord:
    """The record a ``wait=False`` call returns: the job runs on, the record says how it goes."""
    if not isinstance(result, InsightRecord):
        raise StudioError(f"A call with wait=False returned a {type(result).__name__}, not the record of its job.")
    return result


def choose(dropdown: widgets.Dropdown, options: list[Any]) -> None:
    """Set a dropdown's options and select the first one (ipywidgets leaves the value empty)."""
    dropdown.options = options
    if options and dropdown.value is None:
        first = options[0]
        dropdown.value = first[1] if isinstance(first, tuple) else first


class ModelDataPicker(widgets.VBox):
    """A registered model, a registered tabular dataset, and one of its columns as the target.

    ``on_columns`` is told the dataset's columns whenever the dataset changes.
    """

    def __init__(self, ws: "Workspace", message: Message, on_columns: Callable[[list[str]], None] | None = None) -> None:
        super().__init__()
        self.ws = ws
        self.message = message
        self._on_columns = on_columns or (lambda _names: None)
        self._data: dict[str, Any] = {}
        self.model = widgets.Dropdown(description="Model", options=[], style=STYLE)
        self.dataset = widgets.Dropdown(description="Dataset", options=[], style=STYLE)
        self.target = widgets.Dropdown(description="Target column", options=[], style=STYLE)
        self.dataset.observe(lambda _c: self._dataset_changed(), names="value")
        self.children = [self.model, self.dataset, self.target]
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
        self._dataset_changed()

    def _dataset_changed(self) -> None:
        data = self._data.get(self.dataset.value) if self.dataset.value else None
        names = [c.name for c in data.columns] if data else []
        choose(self.target, names)
        self._on_columns(names)


class ResultPicker(widgets.HBox):
    """The workspace's finished results (explanations, or assessments and mitigations) to open."""

    def __init__(self, list_records: Callable[[], list[Any]], on_open: Callable[[str], None], message: Message,
                 empty: str) -> None:
        super().__init__()
        self._list, self._on_open, self.message, self._empty = list_records, on_open, message, empty
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
        self.picker.options = [(r.title, r.name) for r in done]
        if not done:
            self.message.info(self._empty)
