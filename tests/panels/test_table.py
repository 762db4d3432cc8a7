"""The one table widget: rows open on click, tick to select, sort by header, children grouped."""

from __future__ import annotations

from datetime import datetime

import ipywidgets as widgets

from studio_ext.panels._table import Column, Row, Table


def _cells(table: Table) -> list[widgets.Widget]:
    out: list[widgets.Widget] = []
    for child in table.grid.children:
        out.extend(child.children if isinstance(child, widgets.HBox) else [child])
    return out


def _table(**kw: object) -> tuple[Table, list[str]]:
    opened: list[str] = []
    table = Table([Column("name", "Name", link=True), Column("score", "Score", kind="number"),
                   Column("when", "Submitted", kind="date")], on_open=opened.append, **kw)  # type: ignore[arg-type]
    table.set_rows([
        Row("b", {"name": "b", "score": 0.17023456789, "when": datetime(2026, 1, 2, 3, 4, 5)}),
        Row("a", {"name": "a", "score": 10000, "when": None},
            children=[Row("a-1", {"name": "a-1", "score": 1.5}), Row("a-2", {"name": "a-2", "score": 0.5})]),
    ])
    return table, opened


def test_clicking_any_cell_of_a_row_opens_it_and_numbers_go_through_the_formatter() -> None:
    table, opened = _table()
    buttons = [w for w in _cells(table) if isinstance(w, widgets.Button) and w.description == "0.1702"]
    assert buttons and buttons[0].tooltip == "0.17023456789", "full precision on hover"
    buttons[0].click()
    date_cell = next(w for w in _cells(table) if isinstance(w, widgets.Button) and w.description == "2026-01-02 03:04")
    date_cell.click()
    assert opened == ["b", "b"]
    assert table.cell("a", "score") == "10,000"
    head = [w for w in _cells(table) if "sx-head" in w._dom_classes]
    assert [w.description for w in head if isinstance(w, widgets.Button)] == ["Name", "Score", "Submitted"]


def test_ticking_rows_selects_them_and_sorting_keeps_the_selection() -> None:
    table, _ = _table()
    seen: list[list[str]] = []
    table.observe(lambda change: seen.append(list(change["new"])), "selected")
    checks = [w for w in _cells(table) if isinstance(w, widgets.Checkbox)]
    assert len(checks) == 2
    checks[1].value = True
    assert table.selected == ["a"] and seen[-1] == ["a"]
    table.sort_by("score")
    assert table.visible_keys() == ["b", "a"]
    table.sort_by("score")
    assert table.descending and table.visible_keys() == ["a", "b"]
    assert table.selected == ["a"]
    ticked = [w for w in _cells(table) if isinstance(w, widgets.Checkbox) and w.value]
    assert len(ticked) == 1


def test_children_stay_under_their_parent_until_opened() -> None:
    table, _ = _table()
    assert table.visible_keys() == ["b", "a"]
    toggle = next(w for w in _cells(table) if isinstance(w, widgets.Button) and w.description == "▸ 2")
    toggle.click()
    assert table.visible_keys() == ["b", "a", "a-1", "a-2"]
    table.sort_by("score")  # children sort among themselves, under their parent
    assert table.visible_keys() == ["b", "a", "a-2", "a-1"]
    table.toggle("a", False)
    assert table.visible_keys() == ["b", "a"]


def test_pages_and_empty_message() -> None:
    table = Table([Column("n", "N", kind="number")], page_size=10, selectable=False, empty="No jobs yet.")
    assert "No jobs yet." in table._empty.value and table.grid.layout.display == "none"
    table.set_rows([Row(str(i), {"n": i}) for i in range(25)])
    assert table._foot.layout.display == "flex" and "1–10 of 25" in table._range.value
    table._next.click()
    table._next.click()
    assert "21–25 of 25" in table._range.value and table._next.disabled
