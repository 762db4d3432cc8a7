"""The one table widget of the studio: clickable rows, row checkboxes, sticky header, sorting.

Built from plain ipywidgets (a ``GridBox`` of buttons), so it works wherever the
pages do: a notebook cell, Voila, and the JupyterLab sidebar, with no JavaScript of
its own. Every cell is a button: clicking anywhere on a row calls ``on_open(key)``.
A header cell sorts by its column (again to reverse). Numbers go through the one
formatter (:mod:`studio_ext.panels._format`) and show every digit on hover; dates are
short and never wrap. A row can hold child rows (a sweep's or AutoML run's trials, a
pipeline's steps), shown indented under it once its ``▸`` toggle is opened.

Example::

    table = Table([Column("name", "Name", link=True), Column("score", "Score", kind="number")],
                  on_open=lambda key: print("open", key))
    table.set_rows([Row("run-1", {"name": "run-1", "score": 0.17023456})])
    table.selected          # keys of the ticked rows (observable: table.observe(f, "selected"))
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import traitlets

from studio_ext.panels._format import format_date, format_duration, format_id, format_value, full_text
from studio_ext.panels._widgets import STUDIO_STYLE

_CSS = """<style>
.sx-table {overflow:auto; width:fit-content !important; max-width:100%;
  border:1px solid var(--jp-border-color2,#e0e0e0); align-content:start;
  background:var(--jp-layout-color1,#fff)}
.sx-table .sx-row {display:contents !important}
.sx-table .sx-cell {width:auto !important; height:auto !important; min-height:26px; margin:0 !important;
  padding:2px 8px !important; border:0 !important; border-bottom:1px solid var(--jp-border-color3,#eee) !important;
  border-radius:0 !important; box-shadow:none !important; background:transparent; text-align:left;
  white-space:nowrap !important; overflow:visible !important; text-overflow:clip !important;
  font-size:var(--jp-ui-font-size1,13px); line-height:22px; cursor:pointer;
  color:var(--jp-ui-font-color1,#1a1a1a); justify-content:flex-start; outline:none}
.sx-table .sx-cell.sx-num {text-align:right; justify-content:flex-end; font-variant-numeric:tabular-nums}
.sx-table .sx-cell.sx-link {color:var(--jp-content-link-color,#0969da); text-decoration:underline}
.sx-table .sx-cell.sx-html {cursor:default; display:flex; align-items:center}
.sx-table .sx-cell.sx-check {cursor:default; display:flex; align-items:center; min-width:28px}
.sx-table .sx-cell.sx-check input {margin:0}
.sx-table .sx-head {position:sticky; top:0; z-index:2; font-weight:600;
  background:var(--jp-layout-color2,#f3f3f3) !important;
  border-bottom:2px solid var(--jp-border-color1,#ccc) !important}
.sx-table .sx-row:hover > .sx-cell {background:var(--jp-layout-color2,#f3f6fa)}
.sx-table .sx-row.sx-picked > .sx-cell {background:var(--jp-brand-color3,#e5f1fb)}
.sx-table .sx-row.sx-child > .sx-first {padding-left:30px !important}
.sx-table .sx-toggle {color:var(--jp-ui-font-color2,#555); min-width:28px}
.sx-table-foot {font-size:var(--jp-ui-font-size1,13px); color:var(--jp-ui-font-color2,#555)}
</style>"""

#: Column kinds: how a value is shown and sorted.
KINDS = ("text", "number", "id", "date", "duration", "html")


@dataclass
class Column:
    """A table column: the value's key in each row, its title, and how it is shown.

    ``kind`` is one of :data:`KINDS`; an ``html`` column shows ``Row.html[key]`` (trusted
    markup such as a status badge) and sorts by the row's value. ``link`` draws the cell
    in the link colour (the row's name a person clicks).
    """

    key: str
    title: str
    kind: str = "text"
    link: bool = False
    tooltip: str = ""
    sortable: bool = True


@dataclass
class Row:
    """One row: a unique ``key`` (what ``on_open`` and ``selected`` report), its values by column."""

    key: str
    values: dict[str, Any]
    html: dict[str, str] = field(default_factory=dict)
    children: list[Row] = field(default_factory=list)


def cell_text(column: Column, value: Any) -> str:
    """What a cell shows for ``value`` (the one formatter, by the column's kind)."""
    if column.kind == "date":
        return format_date(value)
    if column.kind == "duration":
        return format_duration(value)
    if column.kind == "id":
        return format_id(value)
    return format_value(value)


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None or (isinstance(value, float) and value != value):
        return (2, 0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value))
    if hasattr(value, "timestamp"):
        return (0, value.timestamp())
    return (1, str(value).lower())


class Table(widgets.VBox):
    """A sortable table whose rows open on click and can be ticked for selection."""

    selected = traitlets.List(traitlets.Unicode())

    def __init__(self, columns: Sequence[Column], *, on_open: Callable[[str], Any] | None = None,
                 selectable: bool = True, page_size: int = 50, max_height: str = "460px",
                 empty: str = "Nothing to show.", sort: str | None = None, descending: bool = False,
                 on_sort: Callable[[str, bool], Any] | None = None) -> None:
        """``on_sort(column, descending)``: the caller sorts (a server-side search) and calls
        :meth:`set_rows` with rows in that order; without it the table sorts its rows itself."""
        super().__init__(layout=widgets.Layout(width="100%"))
        self.columns = list(columns)
        self.on_open = on_open
        self.on_sort = on_sort
        self.selectable = selectable
        self.page_size = page_size
        self.empty = empty
        self.sort_column = sort
        self.descending = descending
        self.page = 0
        self.rows: list[Row] = []
        self.expanded: set[str] = set()
        self._row_boxes: dict[str, widgets.HBox] = {}
        self._checks: dict[str, widgets.Checkbox] = {}
        self._has_children = False
        self.grid = widgets.GridBox(layout=widgets.Layout(max_height=max_height, width="auto"))
        self.grid.add_class("sx-table")
        self._empty = widgets.HTML()
        self._prev = widgets.Button(description="◀ Previous", layout=widgets.Layout(width="auto"))
        self._next = widgets.Button(description="Next ▶", layout=widgets.Layout(width="auto"))
        self._range = widgets.HTML()
        self._range.add_class("sx-table-foot")
        self._prev.on_click(lambda _b: self._turn(-1))
        self._next.on_click(lambda _b: self._turn(1))
        self._foot = widgets.HBox([self._range, self._prev, self._next],
                                  layout=widgets.Layout(align_items="center", display="none"))
        self.children = [widgets.HTML(_CSS + STUDIO_STYLE), self.grid, self._empty, self._foot]
        self._render()

    # -- data -------------------------------------------------------------------------------------
    def set_rows(self, rows: Iterable[Row]) -> None:
        """Show ``rows`` (keeps the sort, the ticked rows still present, and opened groups)."""
        self.rows = list(rows)
        keys = {r.key for r in self._all_rows()}
        self.expanded &= keys
        still = [k for k in self.selected if k in keys]
        if still != list(self.selected):
            self.selected = still
        self._has_children = any(r.children for r in self.rows)
        pages = max(1, -(-len(self.visible_rows()) // self.page_size))
        self.page = min(self.page, pages - 1)
        self._render()

    def _all_rows(self) -> list[Row]:
        out: list[Row] = []
        for row in self.rows:
            out.append(row)
            out.extend(row.children)
        return out

    def row(self, key: str) -> Row:
        for row in self._all_rows():
            if row.key == key:
                return row
        raise KeyError(key)

    def _sorted(self, rows: list[Row]) -> list[Row]:
        if not self.sort_column or self.on_sort is not None:
            return rows
        col = self.sort_column
        present = [r for r in rows if _sort_key(r.values.get(col))[0] != 2]
        missing = [r for r in rows if _sort_key(r.values.get(col))[0] == 2]
        present.sort(key=lambda r: _sort_key(r.values.get(col)), reverse=self.descending)
        return present + missing  # rows without a value stay last either way

    def visible_rows(self) -> list[tuple[Row, bool]]:
        """The rows shown, in order, as ``(row, is_child)`` (children under an opened parent)."""
        out: list[tuple[Row, bool]] = []
        for row in self._sorted(self.rows):
            out.append((row, False))
            if row.key in self.expanded:
                out.extend((child, True) for child in self._sorted(list(row.children)))
        return out

    def visible_keys(self) -> list[str]:
        return [row.key for row, _ in self.visible_rows()]

    # -- actions (also what a click does) -----------------------------------------------------------
    def open_row(self, key: str) -> None:
        if self.on_open is not None:
            self.on_open(key)

    def sort_by(self, key: str, descending: bool | None = None) -> None:
        if descending is None:
            descending = not self.descending if self.sort_column == key else False
        self.sort_column, self.descending = key, descending
        if self.on_sort is not None:
            self.on_sort(key, descending)
        self._render()

    def toggle(self, key: str, expanded: bool | None = None) -> None:
        opened = key not in self.expanded if expanded is None else expanded
        if opened:
            self.expanded.add(key)
        else:
            self.expanded.discard(key)
        self._render()

    def select(self, keys: Iterable[str]) -> None:
        self.selected = list(dict.fromkeys(keys))
        self._render()

    def _turn(self, step: int) -> None:
        pages = max(1, -(-len(self.visible_rows()) // self.page_size))
        self.page = max(0, min(pages - 1, self.page + step))
        self._render()

    def _on_check(self, key: str, ticked: bool) -> None:
        chosen = [k for k in self.selected if k != key]
        if ticked:
            chosen.append(key)
        self.selected = chosen
        box = self._row_boxes.get(key)
        if box is not None:
            (box.add_class if ticked else box.remove_class)("sx-picked")

    # -- drawing ----------------------------------------------------------------------------------
    def _template(self) -> str:
        lead = (["max-content"] if self.selectable else []) + (["max-content"] if self._has_children else [])
        return " ".join(lead + ["max-content"] * len(self.columns))

    def _header(self) -> list[widgets.Widget]:
        cells: list[widgets.Widget] = []
        lead = int(self.selectable) + int(self._has_children)
        for _ in range(lead):
            blank = widgets.HTML("")
            blank.add_class("sx-cell")
            blank.add_class("sx-head")
            cells.append(blank)
        for col in self.columns:
            arrow = (" ▼" if self.descending else " ▲") if col.key == self.sort_column else ""
            button = widgets.Button(description=col.title + arrow,
                                    tooltip=col.tooltip or (f"Sort by {col.title}" if col.sortable else col.title))
            for cls in ("sx-cell", "sx-head") + (("sx-num",) if col.kind in {"number", "duration"} else ()):
                button.add_class(cls)
            if col.sortable:
                button.on_click(lambda _b, k=col.key: self.sort_by(k))
            cells.append(button)
        return cells

    def _row_widget(self, row: Row, child: bool) -> widgets.HBox:
        cells: list[widgets.Widget] = []
        if self.selectable:
            check = widgets.Checkbox(value=row.key in self.selected, indent=False,
                                     layout=widgets.Layout(width="auto"))
            check.add_class("sx-cell")
            check.add_class("sx-check")
            check.observe(lambda change, k=row.key: self._on_check(k, bool(change["new"])), "value")
            self._checks[row.key] = check
            cells.append(check)
        if self._has_children:
            if row.children:
                opened = row.key in self.expanded
                toggle = widgets.Button(description=("▾ " if opened else "▸ ") + f"{len(row.children):,}",
                                        tooltip=("Hide" if opened else "Show") + f" the {len(row.children):,} child runs")
                toggle.on_click(lambda _b, k=row.key: self.toggle(k))
            else:
                toggle = widgets.Button(description="", tooltip="")
            toggle.add_class("sx-cell")
            toggle.add_class("sx-toggle")
            cells.append(toggle)
        for i, col in enumerate(self.columns):
            value = row.values.get(col.key)
            if col.kind == "html":
                cell: widgets.Widget = widgets.HTML(row.html.get(col.key, format_value(value)))
                cell.add_class("sx-html")
            else:
                text = cell_text(col, value)
                full = full_text(value) if col.kind in {"number", "text"} else text
                button = widgets.Button(description=text, tooltip=full if full else "")
                button.on_click(lambda _b, k=row.key: self.open_row(k))
                if col.kind in {"number", "duration"}:
                    button.add_class("sx-num")
                if col.link:
                    button.add_class("sx-link")
                cell = button
            cell.add_class("sx-cell")
            if i == 0:
                cell.add_class("sx-first")
            cells.append(cell)
        box = widgets.HBox(cells)
        box.add_class("sx-row")
        if child:
            box.add_class("sx-child")
        if row.key in self.selected:
            box.add_class("sx-picked")
        self._row_boxes[row.key] = box
        return box

    def _render(self) -> None:
        for old in self.grid.children:
            for part in getattr(old, "children", ()):
                part.close()
            old.close()
        self._row_boxes, self._checks = {}, {}
        rows = self.visible_rows()
        start = self.page * self.page_size
        shown = rows[start:start + self.page_size]
        self.grid.layout.grid_template_columns = self._template()
        self.grid.children = [*self._header(), *(self._row_widget(r, c) for r, c in shown)] if rows else []
        self.grid.layout.display = "grid" if rows else "none"
        self._empty.value = "" if rows else (
            f"<div style='color:var(--jp-ui-font-color2,#666);font-size:90%;padding:4px 0'>{html.escape(self.empty)}</div>")
        many = len(rows) > self.page_size
        self._foot.layout.display = "flex" if many else "none"
        if many:
            self._range.value = f"{start + 1:,}–{start + len(shown):,} of {len(rows):,}"
            self._prev.disabled = self.page == 0
            self._next.disabled = start + self.page_size >= len(rows)

    # -- for tests and screen readers ------------------------------------------------------------------
    def cell(self, key: str, column: str) -> str:
        """The text a row's cell shows."""
        col = next(c for c in self.columns if c.key == column)
        row = self.row(key)
        if col.kind == "html":
            return row.html.get(column, format_value(row.values.get(column)))
        return cell_text(col, row.values.get(column))

    def header_titles(self) -> list[str]:
        return [c.title for c in self.columns]
