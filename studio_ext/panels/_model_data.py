"""The model / dataset / target pickers the explanation and fairness forms share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import ipywidgets as widgets

from ..errors import StudioError
from ._widgets import Message

if TYPE_CHECKING:  # pragma: no cover
    from ..workspace import Workspace

STYLE = {"description_width": "140px"}


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
