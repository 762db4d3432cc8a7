"""The Jobs page: experiments, then a runs table to sort, filter, search, page and act on.

The table is plain HTML (fast in every front end, even at 200 rows); the runs of the
current page are also listed in a selector for opening, comparing and actions. The
chosen columns persist per experiment through ``ws.jobs.save_run_view``. While
runs on the page are active, the page refreshes through the workspace's shared
poller and stops when they have ended.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from studio_ext.entities import TERMINAL_STATES, JobStatus
from studio_ext.entities._run import RunPage, RunSummary, RunView
from studio_ext.errors import StudioError
from studio_ext.panels._widgets import (
    CodeBox,
    Message,
    SharedPoller,
    Subscription,
    format_duration,
    format_value,
    html_table,
    status_badge,
)
from studio_ext.panels.run_compare import RunCompare
from studio_ext.panels.run_details import RunDetails

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

#: A first open with more runs than this to index builds the index in the background.
INDEX_IN_BACKGROUND_ABOVE = 5_000
BASE_COLUMNS = ["status", "name", "compute", "duration", "start_time"]
_ATTRIBUTE_TITLES = {"status": "Status", "name": "Display name", "job_name": "Name", "run_id": "Run id",
                     "compute": "Compute", "start_time": "Started", "end_time": "Ended", "duration": "Duration",
                     "parent_run_id": "Parent run"}
_SORTABLE_ATTRIBUTES = ["start_time", "end_time", "duration", "name", "status", "compute", "job_name", "run_id"]


def cell(run: RunSummary, column: str) -> str:
    """The HTML of one cell of the runs table."""
    if column == "status":
        return status_badge(run.status)
    if column == "name":
        return (f"<b>{html.escape(run.display_name or run.name)}</b><br>"
                f"<span style='color:#888;font-size:85%'>{html.escape(run.name)}</span>")
    if column == "duration":
        return format_duration(run.duration_seconds)
    if column in ("start_time", "end_time"):
        return format_value(getattr(run, column))
    if column == "job_name":
        return html.escape(run.name)
    if column in ("run_id", "compute", "parent_run_id"):
        return html.escape(getattr(run, column) or "")
    group, _, key = column.partition(".")
    key = key.strip("`")
    sources: dict[str, Mapping[str, object]] = {"metrics": run.metrics, "params": run.params, "tags": run.tags}
    source = sources.get(group, {})
    return html.escape(format_value(source.get(key)))


def _title(column: str) -> str:
    return _ATTRIBUTE_TITLES.get(column, column)


class RunExplorer(widgets.VBox):
    """``RunExplorer(ws)``: experiments → runs table → a run's page or a comparison."""

    experiment_names = traitlets.List(traitlets.Unicode()).tag(sync=False)

    def __init__(self, ws: Workspace, *, experiment: str | None = None, run: str | None = None,
                 poll_interval: float = 2.0) -> None:
        """``run``: open that job's or run's details at once (a ``studio_url`` names it), in its experiment."""
        self.ws = ws
        self.poll_interval = poll_interval
        self.page: RunPage | None = None
        self.details: RunDetails | RunCompare | None = None
        self.refreshes = 0
        self._tokens: list[str | None] = [None]  # page tokens of the pages before the current one
        self._subscription: Subscription | None = None
        self._lock = threading.RLock()
        self._loading = False

        self.experiment_list = widgets.SelectMultiple(options=[], rows=6, description="Experiments",
                                                      style={"description_width": "initial"},
                                                      layout=widgets.Layout(width="560px"))
        self.experiments_refresh = widgets.Button(description="", icon="refresh", tooltip="Reload experiments",
                                                  layout=widgets.Layout(width="40px"))
        self.search_box = widgets.Text(placeholder="search by name or id", description="Search",
                                       continuous_update=False)
        self.filter_box = widgets.Text(placeholder="metrics.accuracy > 0.9 and params.model = 'lgbm'",
                                       description="Filter", continuous_update=False,
                                       layout=widgets.Layout(width="520px"))
        self.apply_button = widgets.Button(description="Apply", button_style="primary")
        self.filter_error = Message()
        self.status_filter = widgets.Dropdown(options=[("any status", "")] + [(s.value, s.value) for s in JobStatus],
                                              value="", description="Status")
        self.show_archived = widgets.Checkbox(value=False, description="Archived runs")
        self.sort_column = widgets.Dropdown(options=_SORTABLE_ATTRIBUTES, value="start_time", description="Sort by")
        self.sort_descending = widgets.Checkbox(value=True, description="Descending")
        self.page_size = widgets.Dropdown(options=[10, 25, 50, 100, 200], value=50, description="Page size")
        self.prev_button = widgets.Button(description="◀ Previous")
        self.next_button = widgets.Button(description="Next ▶")
        self.page_label = widgets.HTML()
        self.column_chooser = widgets.SelectMultiple(options=BASE_COLUMNS, value=BASE_COLUMNS, rows=8,
                                                     description="Columns")
        self.save_columns = widgets.Button(description="Save columns", icon="save")
        self.table = widgets.HTML()
        self.selection = widgets.SelectMultiple(options=[], rows=6, description="Runs",
                                                layout=widgets.Layout(width="520px"))
        self.open_button = widgets.Button(description="Open", icon="folder-open")
        self.compare_button = widgets.Button(description="Compare", icon="columns")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", button_style="warning")
        self.archive_button = widgets.Button(description="Archive", icon="archive")
        self.tag_box = widgets.Text(placeholder="key=value", description="Tag")
        self.tag_button = widgets.Button(description="Add tag", icon="tag")
        self.live = widgets.Checkbox(value=True, description="Live")
        self.message = Message()
        self.code = CodeBox()
        self.detail_area = widgets.VBox()
        super().__init__(children=[
            widgets.HTML("<h2 style='margin:4px 0'>Jobs</h2>"),
            widgets.HBox([self.experiment_list, self.experiments_refresh]),
            widgets.HBox([self.filter_box, self.apply_button]), self.filter_error,
            widgets.HBox([self.search_box, self.status_filter, self.show_archived]),
            widgets.HBox([self.sort_column, self.sort_descending, self.page_size]),
            widgets.HBox([self.column_chooser, self.save_columns, self.live]),
            widgets.HBox([self.prev_button, self.page_label, self.next_button]),
            self.table,
            widgets.HBox([self.selection, widgets.VBox([
                widgets.HBox([self.open_button, self.compare_button]),
                widgets.HBox([self.cancel_button, self.archive_button]),
                widgets.HBox([self.tag_box, self.tag_button])])]),
            self.message, self.code, self.detail_area,
        ])
        self.apply_button.on_click(lambda _: self.apply_filter())
        self.filter_box.observe(lambda _: self.apply_filter(), "value")
        self.experiments_refresh.on_click(lambda _: self.load_experiments())
        self.experiment_list.observe(self._on_experiments, "value")
        for control in (self.search_box, self.status_filter, self.show_archived, self.sort_column,
                        self.sort_descending, self.page_size):
            control.observe(lambda _: self._restart(), "value")
        self.column_chooser.observe(lambda _: self.render_table(), "value")
        self.save_columns.on_click(lambda _: self.save_view())
        self.prev_button.on_click(lambda _: self.previous_page())
        self.next_button.on_click(lambda _: self.next_page())
        self.open_button.on_click(lambda _: self.open_selected())
        self.compare_button.on_click(lambda _: self.compare_selected())
        self.cancel_button.on_click(lambda _: self.cancel_selected())
        self.selection.observe(lambda _: self._enable_cancel(), "value")
        self.archive_button.on_click(lambda _: self.archive_selected())
        self.tag_button.on_click(lambda _: self.tag_selected())
        self.live.observe(lambda _: self._follow_if_active(), "value")
        self.indexing: threading.Thread | None = None
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
            # Opened for one run (its studio_url): its page comes first, the runs table below it.
            heading, *rest = self.children  # type: ignore[has-type]  # ipywidgets is untyped
            self.children = (heading, self.detail_area, *(c for c in rest if c is not self.detail_area))
            self.open_run(opened.name)

    def _index_in_background(self, pending: int, experiment: str | None) -> None:
        """A first open of a big store indexes its runs once: show progress, keep the kernel free."""
        bar = widgets.IntProgress(value=0, min=0, max=max(pending, 1), description="Indexing runs",
                                  layout=widgets.Layout(width="520px"))
        note = widgets.HTML(f"<i>Indexing {pending:,} runs once so that searches stay fast…</i>")
        self.children = (self.children[0], note, bar, *self.children[1:])

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
        current = list(self.experiment_list.value)
        options = [(f"{e.name} — {e.run_count:,} runs, last {format_value(e.last_activity)}", e.name)
                   for e in experiments]
        names = [n for _, n in options]
        self._loading = True
        try:
            self.experiment_list.options = options
            wanted = [select] if select in names else [n for n in current if n in names]
            if not wanted:
                busy = [e.name for e in experiments if e.run_count]
                wanted = busy[:1] or names[:1]
        finally:
            self._loading = False
        self.experiment_list.value = tuple(wanted)
        if tuple(wanted) == tuple(current):
            self._on_experiments({"new": tuple(wanted)})

    def _on_experiments(self, change: dict[str, Any]) -> None:
        if self._loading:
            return
        self.experiment_names = list(change["new"])
        if not self.experiment_names:
            self.table.value = "<i>Choose an experiment.</i>"
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
            self.column_chooser.options = choices
            self.column_chooser.value = tuple(chosen)
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

    def search_kwargs(self) -> dict[str, Any]:
        """The arguments of ``ws.jobs.search`` for what the controls say (page token aside)."""
        kwargs: dict[str, Any] = {"filter": self.filter_box.value.strip() or None, "order_by": [self._order()],
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
        self._show(page)
        self.code.show(self.code_for(kwargs, token))
        self._follow_if_active()
        return True

    def _show(self, page: RunPage) -> None:
        with self._lock:
            self.page = page
            self.refreshes += 1
            self.render_table()
            first = page.offset + 1 if page.runs else 0
            self.page_label.value = (f"&nbsp;{first:,}–{page.offset + len(page.runs):,} of {page.total:,} runs"
                                     f"&nbsp;")
            self.archive_button.description = "Restore" if self.show_archived.value else "Archive"
            self.prev_button.disabled = len(self._tokens) <= 1
            self.next_button.disabled = page.next_page_token is None
            selected = [v for v in self.selection.value if v in {r.name for r in page.runs}]
            names = [r.name for r in page.runs]
            offered = [value for _, value in self.selection.options]
            if not selected and len(names) == 1 and names != offered:  # one run listed: Open opens it
                selected = names
            self.selection.options = [(f"{r.display_name or r.name} ({r.name}) — {r.status.value}", r.name)
                                      for r in page.runs]
            self.selection.value = tuple(selected)
            self._enable_cancel()

    def _enable_cancel(self) -> None:
        """Cancel only when a selected run is still queued or running."""
        active = {r.name for r in self.page.runs if r.status not in TERMINAL_STATES} if self.page else set()
        self.cancel_button.disabled = not active.intersection(self.selection.value)

    def render_table(self) -> None:
        if self.page is None:
            return
        columns = list(self.column_chooser.value) or BASE_COLUMNS
        rows = [[cell(r, c) for c in columns] for r in self.page.runs]
        self.table.value = html_table([_title(c) for c in columns], rows, raw_columns=range(len(columns)),
                                      empty="No runs match.")

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
        active = self.page is not None and any(r.status not in TERMINAL_STATES for r in self.page.runs)
        if not (self.live.value and active):
            self.stop_following()
            return
        if self._subscription is not None:
            return
        poller = SharedPoller.for_workspace(self.ws, self.poll_interval)
        self._subscription = poller.subscribe(("explorer", id(self)), lambda: self._live_search(), self._on_live)

    def _live_search(self) -> tuple[tuple, RunPage]:
        kwargs, token = self.search_kwargs(), self._tokens[-1]
        key = (tuple(self.experiment_names), repr(kwargs), token)
        return key, self.ws.jobs.search(self.experiment_names, page_token=token, **kwargs)

    def _on_live(self, result: Any, error: BaseException | None) -> bool:
        if error is not None:
            return True  # bad input is shown by refresh(); the live view just waits
        key, page = result
        if key != (tuple(self.experiment_names), repr(self.search_kwargs()), self._tokens[-1]):
            return True  # the user changed the search meanwhile
        self._show(page)
        if not any(r.status not in TERMINAL_STATES for r in page.runs):
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
        names = list(self.selection.value)
        if not names:
            self.message.error("Select one or more runs in the list first.")
        return names

    def _show_detail(self, widget: RunDetails | RunCompare) -> None:
        if isinstance(self.details, RunDetails):
            self.details.stop_following()
        self.details = widget
        self.detail_area.children = [widget]

    def open_selected(self) -> RunDetails | None:
        names = self._selected()
        if not names:
            return None
        return self.open_run(names[0])

    def open_run(self, name: str) -> RunDetails | None:
        """Show the details of the job or run ``name`` below the table."""
        try:
            details = RunDetails(self.ws, name, poll_interval=self.poll_interval)
        except StudioError as exc:
            self.message.error(str(exc))
            return None
        self._show_detail(details)
        self.code.show(f"from studio_ext.panels.run_details import RunDetails\nRunDetails(ws, {name!r})")
        return details

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
    import re

    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", key) else f"`{key}`"
