"""The Jobs page: an experiment, then a runs table to sort, filter, search, page and act on.

The controls are one compact toolbar (experiment, search, status) with the rest (filter
expression, sort, page size, columns) under "Filter, sort and columns". The runs are the
studio's one table (:mod:`studio_ext.panels._table`): click a row to open the run's page
in place of the list (a "← Jobs" button goes back), tick rows to compare or act on them,
click a header to sort. Child runs (AutoML and sweep trials, pipeline steps) are listed
under their parent, opened with its ``▸`` toggle; a filter or a search lists the matching
runs themselves. The chosen columns persist per experiment through
``ws.jobs.save_run_view``. While runs on the page are active, the page refreshes through
the workspace's shared poller and stops when they have ended.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from studio_ext.entities import TERMINAL_STATES, JobStatus
from studio_ext.entities._run import RunPage, RunSummary, RunView
from studio_ext.errors import StudioError
from studio_ext.panels._format import format_date
from studio_ext.panels._table import Column, Row, Table, cell_text
from studio_ext.panels._widgets import CodeBox, Message, SharedPoller, Subscription, status_badge
from studio_ext.panels.pipelines import PipelineRunView
from studio_ext.panels.run_compare import RunCompare
from studio_ext.panels.run_details import RunDetails
from studio_ext.panels.sweeps import SweepPanel, sweep_page

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

#: A first open with more runs than this to index builds the index in the background.
INDEX_IN_BACKGROUND_ABOVE = 5_000
BASE_COLUMNS = ["status", "name", "compute", "duration", "start_time"]
_ATTRIBUTE_TITLES = {"status": "Status", "name": "Display name", "job_name": "Name", "run_id": "Run id",
                     "compute": "Compute", "start_time": "Started", "end_time": "Ended", "duration": "Duration",
                     "parent_run_id": "Parent run"}
_SORTABLE_ATTRIBUTES = ["start_time", "end_time", "duration", "name", "status", "compute", "job_name", "run_id"]


def cell_value(run: RunSummary, column: str) -> Any:
    """The value of one cell of the runs table (shown and sorted by the table)."""
    if column == "status":
        return run.status.value
    if column == "name":
        return run.display_name or run.name
    if column == "duration":
        return run.duration_seconds
    if column in ("start_time", "end_time"):
        return getattr(run, column)
    if column == "job_name":
        return run.name
    if column in ("run_id", "compute", "parent_run_id"):
        return getattr(run, column) or ""
    group, _, key = column.partition(".")
    key = key.strip("`")
    sources: dict[str, Mapping[str, object]] = {"metrics": run.metrics, "params": run.params, "tags": run.tags}
    value = sources.get(group, {}).get(key)
    return _number_text(value) if group == "params" else value


def cell(run: RunSummary, column: str) -> str:
    """The text (for the status column, the HTML) of one cell of the runs table."""
    if column == "status":
        return status_badge(run.status)
    return cell_text(_column(column), cell_value(run, column))


def _number_text(value: Any) -> Any:
    """A param logged as text ("0.30000000000000004") is shown as the number it is."""
    if isinstance(value, str) and re.fullmatch(r"-?\d+\.\d+(e[-+]?\d+)?", value.strip()):
        return float(value)
    return value


def _column(column: str) -> Column:
    kind = {"status": "html", "duration": "duration", "start_time": "date", "end_time": "date"}.get(column)
    if kind is None:
        kind = "number" if column.startswith("metrics.") else "text"
    return Column(column, _title(column), kind=kind, link=column == "name")


def _title(column: str) -> str:
    if column in _ATTRIBUTE_TITLES:
        return _ATTRIBUTE_TITLES[column]
    return column.partition(".")[2].strip("`") or column


class RunExplorer(widgets.VBox):
    """``RunExplorer(ws)``: experiments → runs table → a run's page or a comparison."""

    experiment_names = traitlets.List(traitlets.Unicode()).tag(sync=False)

    def __init__(self, ws: Workspace, *, experiment: str | None = None, run: str | None = None,
                 poll_interval: float = 2.0, group_children: bool = True) -> None:
        """``run``: open that job's or run's details at once (a ``studio_url`` names it), in its experiment.

        ``group_children``: list child runs under their parent (the default) rather than flat.
        """
        self.ws = ws
        self.poll_interval = poll_interval
        self.page: RunPage | None = None
        self.children_of: dict[str, list[RunSummary]] = {}
        self.details: RunDetails | RunCompare | SweepPanel | PipelineRunView | None = None
        self.pipeline_button: widgets.Button | None = None  # on a pipeline step's page: back to its pipeline
        self.refreshes = 0
        self._tokens: list[str | None] = [None]  # page tokens of the pages before the current one
        self._subscription: Subscription | None = None
        self._lock = threading.RLock()
        self._loading = False
        fit = {"description_width": "initial"}

        self.experiment_list = widgets.Dropdown(options=[], description="Experiment", style=fit,
                                                layout=widgets.Layout(width="auto", min_width="320px"))
        self.experiments_refresh = widgets.Button(description="", icon="refresh", tooltip="Reload experiments and runs",
                                                  layout=widgets.Layout(width="40px"))
        self.search_box = widgets.Text(placeholder="name or id", description="Search", continuous_update=False,
                                       style=fit, layout=widgets.Layout(width="240px"))
        self.filter_box = widgets.Text(placeholder="metrics.accuracy > 0.9 and params.model = 'lgbm'",
                                       description="Filter", continuous_update=False, style=fit,
                                       layout=widgets.Layout(width="520px"))
        self.apply_button = widgets.Button(description="Apply", button_style="primary",
                                           layout=widgets.Layout(width="auto"))
        self.filter_error = Message()
        self.status_filter = widgets.Dropdown(options=[("Any status", "")] + [(s.value, s.value) for s in JobStatus],
                                              value="", description="Status", style=fit,
                                              layout=widgets.Layout(width="auto"))
        self.show_archived = widgets.Checkbox(value=False, description="Archived runs", indent=False,
                                              layout=widgets.Layout(width="auto"))
        self.group_children = widgets.Checkbox(value=group_children, description="Child runs under their parent",
                                               indent=False, layout=widgets.Layout(width="auto"))
        self.sort_column = widgets.Dropdown(options=_SORTABLE_ATTRIBUTES, value="start_time", description="Sort by",
                                            style=fit, layout=widgets.Layout(width="auto"))
        self.sort_descending = widgets.Checkbox(value=True, description="Descending", indent=False,
                                                layout=widgets.Layout(width="auto"))
        self.page_size = widgets.Dropdown(options=[10, 25, 50, 100, 200], value=50, description="Page size",
                                          style=fit, layout=widgets.Layout(width="auto"))
        self.prev_button = widgets.Button(description="◀ Previous", layout=widgets.Layout(width="auto"))
        self.next_button = widgets.Button(description="Next ▶", layout=widgets.Layout(width="auto"))
        self.page_label = widgets.HTML()
        self.column_chooser = widgets.TagsInput(value=list(BASE_COLUMNS), allowed_tags=list(BASE_COLUMNS),
                                                allow_duplicates=False, layout=widgets.Layout(width="100%"))
        self.save_columns = widgets.Button(description="Save columns", icon="save", layout=widgets.Layout(width="auto"),
                                           tooltip="Keep these columns, sort and page size for this experiment")
        self.table = Table([_column(c) for c in BASE_COLUMNS], on_open=self.open_run, on_sort=self._sort_from_header,
                           page_size=1000, max_height="560px", empty="No runs match.")
        self.open_button = widgets.Button(description="Open", icon="folder-open", layout=widgets.Layout(width="auto"),
                                          tooltip="Open the ticked run's page (or click its row)")
        self.compare_button = widgets.Button(description="Compare", icon="columns", layout=widgets.Layout(width="auto"),
                                             tooltip="Compare the ticked runs")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", layout=widgets.Layout(width="auto"),
                                            tooltip="Cancel the ticked runs that are still queued or running")
        self.archive_button = widgets.Button(description="Archive", icon="archive", layout=widgets.Layout(width="auto"))
        self.tag_box = widgets.Text(placeholder="key=value", description="Tag", style=fit,
                                    layout=widgets.Layout(width="200px"))
        self.tag_button = widgets.Button(description="Add tag", icon="tag", layout=widgets.Layout(width="auto"))
        self.live = widgets.Checkbox(value=True, description="Live", indent=False, layout=widgets.Layout(width="auto"),
                                     tooltip="Refresh while runs on this page are active")
        self.message = Message()
        self.code = CodeBox()
        self.back_button = widgets.Button(description="Jobs", icon="arrow-left", tooltip="Back to the list of jobs",
                                          layout=widgets.Layout(width="auto", align_self="flex-start"))
        self.detail_area = widgets.VBox()
        row = {"align_items": "center", "flex_flow": "row wrap"}
        self.options = widgets.Accordion(children=[widgets.VBox([
            widgets.HBox([self.filter_box, self.apply_button], layout=widgets.Layout(**row)), self.filter_error,
            widgets.HBox([self.sort_column, self.sort_descending, self.page_size, self.show_archived,
                          self.group_children], layout=widgets.Layout(**row)),
            widgets.HTML("<span style='font-size:90%'>Columns (type to add a metric, param or tag):</span>"),
            widgets.HBox([self.column_chooser, self.save_columns], layout=widgets.Layout(**row)),
        ])], selected_index=None)
        self.options.set_title(0, "Filter, sort and columns")
        self.list_area = widgets.VBox([
            widgets.HBox([self.experiment_list, self.search_box, self.status_filter, self.experiments_refresh,
                          self.live], layout=widgets.Layout(**row)),
            self.options,
            widgets.HBox([self.open_button, self.compare_button, self.cancel_button, self.archive_button,
                          self.tag_box, self.tag_button], layout=widgets.Layout(**row)),
            self.table,
            widgets.HBox([self.prev_button, self.page_label, self.next_button], layout=widgets.Layout(**row)),
        ])
        self.detail_view = widgets.VBox([self.back_button, self.detail_area], layout=widgets.Layout(display="none"))
        super().__init__(children=[
            widgets.HTML("<h2 style='margin:4px 0'>Jobs</h2>"),
            self.message, self.detail_view, self.list_area, self.code,
        ])
        self.apply_button.on_click(lambda _: self.apply_filter())
        self.filter_box.observe(lambda _: self.apply_filter(), "value")
        self.experiments_refresh.on_click(lambda _: self.load_experiments())
        self.experiment_list.observe(self._on_experiments, "value")
        for control in (self.search_box, self.status_filter, self.show_archived, self.sort_column,
                        self.sort_descending, self.page_size, self.group_children):
            control.observe(lambda _: self._restart(), "value")
        self.column_chooser.observe(lambda _: self.render_table(), "value")
        self.save_columns.on_click(lambda _: self.save_view())
        self.prev_button.on_click(lambda _: self.previous_page())
        self.next_button.on_click(lambda _: self.next_page())
        self.open_button.on_click(lambda _: self.open_selected())
        self.compare_button.on_click(lambda _: self.compare_selected())
        self.cancel_button.on_click(lambda _: self.cancel_selected())
        self.table.observe(lambda _: self._enable_cancel(), "selected")
        self.archive_button.on_click(lambda _: self.archive_selected())
        self.tag_button.on_click(lambda _: self.tag_selected())
        self.live.observe(lambda _: self._follow_if_active(), "value")
        self.back_button.on_click(lambda _: self.show_list())
        self.indexing: threading.Thread | None = None
        self._enable_cancel()
        opened = None
        if run:
            try:
                opened = ws.jobs.get(run)
                experiment = experiment or opened.experiment_name
            except StudioError as exc:
                self.message.error(str(exc))
        pending = ws.jobs.run_index_pending()
        if pending > INDEX_IN_BACKGROUND_ABOVE:
            self._index_in_background(pending, experiment)
        else:
            self.load_experiments(select=experiment)
        if opened is not None and opened.name:
            self.open_run(opened.name)  # opened for one run (its studio_url): its page comes first

    def _index_in_background(self, pending: int, experiment: str | None) -> None:
        """A first open of a big store indexes its runs once: show progress, keep the kernel free."""
        bar = widgets.IntProgress(value=0, min=0, max=max(pending, 1), description="Indexing runs",
                                  layout=widgets.Layout(width="520px"))
        note = widgets.HTML(f"<i>Indexing {pending:,} runs once so that searches stay fast…</i>")
        self.children = (self.children[0], note, bar, *self.children[1:])  # type: ignore[has-type]

        def progress(done: int, total: int) -> None:
            bar.max, bar.value = max(total, 1), done

        def work() -> None:
            try:
                self.ws.jobs.refresh_run_index(progress)
            except StudioError as exc:
                self.message.error(str(exc))
            self.children = tuple(c for c in self.children if c is not bar and c is not note)
            self.load_experiments(select=experiment)

        self.indexing = threading.Thread(target=work, name="studio-run-index", daemon=True)
        self.indexing.start()

    # -- experiments and the saved view ----------------------------------------------------------------
    def load_experiments(self, select: str | None = None) -> None:
        try:
            experiments = self.ws.jobs.experiments()
        except StudioError as exc:
            self.message.error(str(exc))
            return
        current = self.experiment_list.value
        options = [(f"{e.name} — {e.run_count:,} run{'' if e.run_count == 1 else 's'}, "
                    f"last {format_date(e.last_activity)}", e.name)
                   for e in experiments]
        names = [n for _, n in options]
        self._loading = True
        try:
            self.experiment_list.options = options
            wanted = select if select in names else (current if current in names else None)
            if wanted is None:
                busy = [e.name for e in experiments if e.run_count]
                wanted = next(iter(busy or names), None)
            self.experiment_list.value = wanted
        finally:
            self._loading = False
        self._on_experiments({"new": wanted})

    def _on_experiments(self, change: dict[str, Any]) -> None:
        if self._loading:
            return
        self.experiment_names = [change["new"]] if change["new"] else []
        if not self.experiment_names:
            self.table.empty = "No experiments yet: submit a job, and its experiment is listed here."
            self.table.set_rows([])
            return
        try:
            columns = self.ws.jobs.run_columns(self.experiment_names)
            view = self.ws.jobs.get_run_view(self.experiment_names[0])
        except StudioError as exc:
            self.message.error(str(exc))
            return
        metric_cols = [f"metrics.{_quote(k)}" for k in columns.metrics]
        param_cols = [f"params.{_quote(k)}" for k in columns.params]
        tag_cols = [f"tags.{_quote(k)}" for k in columns.tags]
        choices = [*BASE_COLUMNS, "job_name", "run_id", "end_time", "parent_run_id",
                   *metric_cols, *param_cols, *tag_cols]
        default = [*BASE_COLUMNS, *metric_cols[:6], *param_cols[:5], *tag_cols[:3]]
        chosen = [c for c in (view.columns or default) if c in choices] or default
        self._loading = True
        try:
            self.column_chooser.allowed_tags = choices
            self.column_chooser.value = list(chosen)
            self.sort_column.options = [*_SORTABLE_ATTRIBUTES, *metric_cols, *param_cols, *tag_cols]
            order = (view.order_by or ["start_time DESC"])[0]
            column, _, direction = order.rpartition(" ")
            if column in self.sort_column.options:
                self.sort_column.value = column
                self.sort_descending.value = direction.upper() == "DESC"
            if view.page_size in self.page_size.options:
                self.page_size.value = view.page_size
            if view.filter is not None:
                self.filter_box.value = view.filter
        finally:
            self._loading = False
        self._restart()

    def save_view(self) -> None:
        """Persist the chosen columns, sort and page size for the (first) selected experiment."""
        if not self.experiment_names:
            self.message.error("Choose an experiment first.")
            return
        view = RunView(columns=list(self.column_chooser.value), order_by=[self._order()],
                       page_size=self.page_size.value)
        try:
            self.ws.jobs.save_run_view(self.experiment_names[0], view)
        except StudioError as exc:
            self.message.error(str(exc))
            return
        self.message.info(f"Saved these columns for experiment {self.experiment_names[0]!r}.")
        self.code.show("from studio_ext.entities import RunView\n\n"
                       f"ws.jobs.save_run_view({self.experiment_names[0]!r}, {view!r})")

    # -- searching ---------------------------------------------------------------------------------------
    def _order(self) -> str:
        return f"{self.sort_column.value} {'DESC' if self.sort_descending.value else 'ASC'}"

    def grouping(self) -> bool:
        """Whether child runs are listed under their parent: asked for, and no filter or search narrows the list."""
        return bool(self.group_children.value and not self.filter_box.value.strip()
                    and not self.search_box.value.strip())

    def search_kwargs(self) -> dict[str, Any]:
        """The arguments of ``ws.jobs.search`` for what the controls say (page token aside)."""
        where = self.filter_box.value.strip() or ("parent_run_id is null" if self.grouping() else None)
        kwargs: dict[str, Any] = {"filter": where, "order_by": [self._order()],
                                  "page_size": self.page_size.value}
        if self.search_box.value.strip():
            kwargs["search_text"] = self.search_box.value.strip()
        if self.status_filter.value:
            kwargs["status"] = self.status_filter.value
        if self.show_archived.value:
            kwargs["archived"] = True
        return kwargs

    def code_for(self, kwargs: dict[str, Any], token: str | None) -> str:
        args = [repr(self.experiment_names)] + [f"{k}={v!r}" for k, v in kwargs.items() if v is not None]
        if token:
            args.append("page_token=page.next_page_token")
        return "page = ws.jobs.search(" + ", ".join(args) + ")\nfor run in page.runs:\n    print(run.name, run.status, run.metrics)"

    def apply_filter(self) -> None:
        if self._loading:
            return
        self._restart()

    def _restart(self) -> None:
        if self._loading:
            return
        self._tokens = [None]
        self.refresh()

    def refresh(self) -> bool:
        """Search again for the current page; on bad input keep the last results and say why."""
        if not self.experiment_names:
            return False
        kwargs = self.search_kwargs()
        token = self._tokens[-1]
        try:
            page = self.ws.jobs.search(self.experiment_names, page_token=token, **kwargs)
        except StudioError as exc:
            self.filter_error.error(str(exc))  # the previous table stays as it was
            return False
        self.filter_error.clear()
        self.children_of = self._children(page)
        self._show(page)
        self.code.show(self.code_for(kwargs, token))
        self._follow_if_active()
        return True

    def _show(self, page: RunPage) -> None:
        with self._lock:
            self.page = page
            self.refreshes += 1
            first = page.offset + 1 if page.runs else 0
            self.page_label.value = (f"&nbsp;{first:,}–{page.offset + len(page.runs):,} of {page.total:,} runs"
                                     f"&nbsp;")
            self.archive_button.description = "Restore" if self.show_archived.value else "Archive"
            self.prev_button.disabled = len(self._tokens) <= 1
            self.next_button.disabled = page.next_page_token is None
            names = [r.name for r in page.runs]
            if not self.table.selected and len(names) == 1 and self.table.visible_keys() != names:
                self.table.selected = names  # one run listed: Open opens it without a pick first
            self.render_table()
            self._enable_cancel()

    def _runs(self) -> list[RunSummary]:
        """The runs listed: the page's, and the children shown under them."""
        if self.page is None:
            return []
        return [*self.page.runs, *(c for kids in self.children_of.values() for c in kids)]

    def _children(self, page: RunPage) -> dict[str, list[RunSummary]]:
        """Each listed parent's child runs (by the parent's name), when they are grouped."""
        if not self.grouping() or not page.runs:
            return {}
        by_id = {r.run_id: r.name for r in page.runs}
        quoted = ", ".join("'" + run_id.replace("'", "") + "'" for run_id in by_id)
        out: dict[str, list[RunSummary]] = {}
        token: str | None = None
        while True:
            try:
                kids = self.ws.jobs.search(self.experiment_names, filter=f"parent_run_id in ({quoted})",
                                           order_by=[self._order()], archived=self.show_archived.value or False,
                                           page_size=1000, page_token=token)
            except StudioError as exc:
                self.message.error(f"Could not list the child runs: {exc}")
                return out
            for kid in kids.runs:
                parent = by_id.get(kid.parent_run_id or "")
                if parent is not None:
                    out.setdefault(parent, []).append(kid)
            token = kids.next_page_token
            if token is None:
                return out

    def selected(self) -> list[str]:
        """The names of the ticked runs."""
        return list(self.table.selected)

    def _enable_cancel(self) -> None:
        """Cancel is offered only while a ticked run is still queued or running."""
        active = {r.name for r in self._runs() if r.status not in TERMINAL_STATES}
        can = bool(active.intersection(self.table.selected))
        self.cancel_button.disabled = not can
        self.cancel_button.layout.display = "" if can else "none"

    def render_table(self) -> None:
        if self.page is None:
            return
        columns = list(self.column_chooser.value) or BASE_COLUMNS
        sortable = set(self.sort_column.options)
        self.table.columns = [Column(c, _title(c), kind=_column(c).kind, link=c == "name", tooltip=c,
                                     sortable=c in sortable) for c in columns]
        self.table.sort_column, self.table.descending = self.sort_column.value, bool(self.sort_descending.value)
        self.table.empty = "No runs match."

        def row(run: RunSummary) -> Row:
            return Row(run.name, {c: cell_value(run, c) for c in columns},
                       html={"status": status_badge(run.status)},
                       children=[row(k) for k in self.children_of.get(run.name, [])])

        self.table.set_rows([row(r) for r in self.page.runs])

    def _sort_from_header(self, column: str, descending: bool) -> None:
        """A click on a column header: search again sorted by that column."""
        if column not in self.sort_column.options:
            return
        self._loading = True
        try:
            self.sort_column.value = column
            self.sort_descending.value = descending
        finally:
            self._loading = False
        self._restart()

    def next_page(self) -> None:
        if self.page is None or self.page.next_page_token is None:
            return
        self._tokens.append(self.page.next_page_token)
        if not self.refresh():
            self._tokens.pop()

    def previous_page(self) -> None:
        if len(self._tokens) <= 1:
            return
        popped = self._tokens.pop()
        if not self.refresh():
            self._tokens.append(popped)

    # -- live refresh ------------------------------------------------------------------------------------------
    def _follow_if_active(self) -> None:
        active = any(r.status not in TERMINAL_STATES for r in self._runs())
        if not (self.live.value and active):
            self.stop_following()
            return
        if self._subscription is not None:
            return
        poller = SharedPoller.for_workspace(self.ws, self.poll_interval)
        self._subscription = poller.subscribe(("explorer", id(self)), lambda: self._live_search(), self._on_live)

    def _live_search(self) -> tuple[tuple, RunPage, dict[str, list[RunSummary]]]:
        kwargs, token = self.search_kwargs(), self._tokens[-1]
        key = (tuple(self.experiment_names), repr(kwargs), token)
        page = self.ws.jobs.search(self.experiment_names, page_token=token, **kwargs)
        return key, page, self._children(page)

    def _on_live(self, result: Any, error: BaseException | None) -> bool:
        if error is not None:
            return True  # bad input is shown by refresh(); the live view just waits
        key, page, children = result
        if key != (tuple(self.experiment_names), repr(self.search_kwargs()), self._tokens[-1]):
            return True  # the user changed the search meanwhile
        self.children_of = children
        self._show(page)
        if not any(r.status not in TERMINAL_STATES for r in self._runs()):
            self._subscription = None
            return False
        return True

    def stop_following(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None

    def close(self) -> None:
        self.stop_following()
        if self.details is not None:
            self.details.close()
        super().close()

    # -- actions on the selected runs ---------------------------------------------------------------------------
    def _selected(self) -> list[str]:
        names = self.selected()
        if not names:
            self.message.error("Tick one or more runs in the list first (or click a run to open it).")
        return names

    def _show_detail(self, widget: RunDetails | RunCompare | SweepPanel | PipelineRunView) -> None:
        """Show a run's page (or a comparison) in place of the list, at the top of the page."""
        if isinstance(self.details, (RunDetails, SweepPanel, PipelineRunView)):
            self.details.stop_following()
        self.details = widget
        self.pipeline_button = None
        self.message.clear()
        self.detail_area.children = [widget]
        self.detail_view.layout.display = ""
        self.list_area.layout.display = "none"
        self.code.layout.display = "none"  # the run's page has its own Equivalent Python

    def show_list(self) -> None:
        """Back from a run's page to the list (which is refreshed)."""
        if isinstance(self.details, (RunDetails, SweepPanel, PipelineRunView)):
            self.details.stop_following()
        self.detail_view.layout.display = "none"
        self.list_area.layout.display = ""
        self.code.layout.display = ""
        self.refresh()

    @property
    def showing_details(self) -> bool:
        return self.detail_view.layout.display != "none"

    def open_selected(self) -> RunDetails | SweepPanel | PipelineRunView | None:
        names = self._selected()
        if not names:
            return None
        return self.open_run(names[0])

    def open_run(self, name: str) -> RunDetails | SweepPanel | PipelineRunView | None:
        """Show the page of the job or run ``name`` in place of the list.

        A sweep job opens on its Sweep page, a pipeline job on its Pipelines page (the graph); a
        pipeline step's run details have a button back to its pipeline.
        """
        try:
            job: Any = self.ws.jobs.get(name)
        except StudioError:
            job = None  # an MLflow run that is no job: its run details
        if getattr(job, "type", None) == "pipeline":
            try:
                pipeline = PipelineRunView(self.ws, name, poll_interval=self.poll_interval,
                                           on_submitted=self.open_run)
            except StudioError as exc:
                self.message.error(str(exc))
                return None
            self._show_detail(pipeline)
            self.code.show(f"from studio_ext.panels.pipelines import PipelinesPanel\nPipelinesPanel(ws, {name!r})")
            return pipeline
        sweep = sweep_page(self.ws, name, poll_interval=self.poll_interval)
        if sweep is not None:
            self._show_detail(sweep)
            self.code.show(f"from studio_ext.panels.sweeps import SweepPanel\nSweepPanel(ws, {name!r})")
            return sweep
        try:
            details = RunDetails(self.ws, name, poll_interval=self.poll_interval)
        except StudioError as exc:
            self.message.error(str(exc))
            return None
        self._show_detail(details)
        parent = self._pipeline_of(job)
        if parent is not None:
            self.pipeline_button = widgets.Button(description=f"Pipeline {parent}", icon="sitemap",
                                                  tooltip=f"Open pipeline {parent}, whose step this run is",
                                                  layout=widgets.Layout(width="auto", align_self="flex-start"))
            self.pipeline_button.on_click(lambda _b: self.open_run(parent))
            self.detail_area.children = [self.pipeline_button, details]
        self.code.show(f"from studio_ext.panels.run_details import RunDetails\nRunDetails(ws, {name!r})")
        return details

    def _pipeline_of(self, job: Any) -> str | None:
        """The name of the pipeline whose step ``job`` is, else None."""
        parent = getattr(job, "parent_job_name", None)
        if not parent:
            return None
        try:
            return str(parent) if getattr(self.ws.jobs.get(parent), "type", None) == "pipeline" else None
        except StudioError:
            return None

    def compare_selected(self) -> RunCompare | None:
        names = self._selected()
        if not names:
            return None
        try:
            compare = RunCompare(self.ws, names)
        except StudioError as exc:
            self.message.error(str(exc))
            return None
        self._show_detail(compare)
        self.code.show(f"from studio_ext.panels.run_compare import RunCompare\nRunCompare(ws, {names!r})")
        return compare

    def _each(self, names: list[str], action: Any, verb: str, code: str) -> None:
        done, failed = [], []
        for name in names:
            try:
                action(name)
                done.append(name)
            except StudioError as exc:
                failed.append(f"{name}: {exc}")
        self.refresh()
        if failed:
            self.message.error("\n".join(failed))
        else:
            self.message.info(f"{verb} {', '.join(done)}.")
        if done:
            self.code.show("\n".join(code.format(name=repr(n)) for n in done))

    def cancel_selected(self) -> None:
        names = self._selected()
        if names:
            self._each(names, self.ws.jobs.begin_cancel, "Canceling", "ws.jobs.begin_cancel({name})")

    def archive_selected(self) -> None:
        names = self._selected()
        if not names:
            return
        if self.show_archived.value:
            self._each(names, self.ws.jobs.restore, "Restored", "ws.jobs.restore({name})")
        else:
            self._each(names, self.ws.jobs.archive, "Archived", "ws.jobs.archive({name})")

    def tag_selected(self) -> None:
        names = self._selected()
        if not names:
            return
        text = self.tag_box.value
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            self.message.error(f"Write the tag as key=value. Got {text!r}.")
            return
        tags = {key.strip(): value.strip()}
        self._each(names, lambda n: self.ws.jobs.update_tags(n, tags), "Tagged",
                   f"ws.jobs.update_tags({{name}}, {tags!r})")


def _quote(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", key) else f"`{key}`"
