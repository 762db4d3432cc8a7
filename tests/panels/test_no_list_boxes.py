"""No studio page shows an old-style multi-select list box (ipywidgets SelectMultiple).

Several values are picked as tags (``TagsField``) or toggle buttons (``ToggleSet``); the browser
page checks (tests/browser/page_checks.py) refuse a ``select[multiple]`` on a shown page too.
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets
import pytest
from ipywidgets.widgets.widget import _instances

import studio_ext.panels
from studio_ext.panels import PAGES, open_page
from studio_ext.panels._widgets import TagsField, ToggleSet


def _list_boxes() -> set[str]:
    return {model_id for model_id, w in list(_instances.items())
            if isinstance(w, widgets.SelectMultiple)}


@pytest.mark.parametrize("page_id", list(PAGES))
def test_a_page_builds_no_multi_select_list_box(module_workspace, page_id: str) -> None:
    before = _list_boxes()
    page = open_page(page_id, module_workspace)
    try:
        # Every widget the page made, shown or on a hidden step (the AutoML wizard's later steps).
        assert _list_boxes() - before == set()
    finally:
        page.close()


def test_no_panel_module_uses_select_multiple() -> None:
    folder = Path(studio_ext.panels.__file__).parent
    users = [p.name for p in folder.rglob("*.py") if "widgets.SelectMultiple" in p.read_text(encoding="utf-8")]
    assert users == []


def test_tags_field_keeps_only_allowed_values() -> None:
    field = TagsField("Values", ["a", "b", 3])
    assert field.options == ("a", "b", "3") and "pick from: a, b, 3" in field.hint.value
    field.value = ("b", 3)
    assert field.value == ("b", "3") and field.tags.value == ["b", "3"]
    field.options = ["b", "c"]
    assert field.value == ("b",) and field.tags.allowed_tags == ["b", "c"]


def test_toggle_set_value_is_the_pressed_buttons() -> None:
    seen: list[object] = []
    days = ToggleSet("Week days", [("Mon", "Monday"), ("Tue", "Tuesday")])
    days.observe_value(seen.append)
    days.buttons[1].value = True
    assert days.value == ("Tuesday",) and seen
    days.value = ["Monday"]
    assert days.value == ("Monday",) and [b.description for b in days.buttons] == ["Mon", "Tue"]
