"""Pieces every panel can reuse: the SDK-code box, HTML tables, messages, charts, live refresh.

* :class:`CodeBox` shows the Python that reproduces what the panel just did.
* :class:`Message` shows an error or a note beside a control, without clearing the rest.
* :func:`html_table` renders rows as an escaped HTML table (cheap in every front end).
* :func:`show_figures` puts plotly figures in an ``Output`` the way ``display(fig)`` does
  under plotly's mimetype renderer, but safely from a background thread.
* :class:`SharedPoller` refreshes live views: one thread per workspace, one fetch per
  key per tick however many pages watch the same thing, stopping when nobody watches.

Example (a page watching a job)::

    poller = SharedPoller.for_workspace(ws)
    sub = poller.subscribe(("run", name), lambda: ws.jobs.run_summary(name), self._on_update)
    ...
    sub.cancel()  # or return False from the callback to stop
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import ipywidgets as widgets

from studio_ext.entities import JobStatus

# format_duration and format_value live in _format (the one formatter); panels import them from here too.
from studio_ext.panels._format import format_duration as format_duration
from studio_ext.panels._format import format_value as format_value
from studio_ext.panels._format import value_html

log = logging.getLogger("studio_ext.panels")

_STATUS_COLOURS = {
    JobStatus.COMPLETED: "#107c10", JobStatus.FAILED: "#a4262c", JobStatus.CANCELED: "#797775",
    JobStatus.RUNNING: "#0078d4", JobStatus.FINALIZING: "#0078d4", JobStatus.STARTING: "#8764b8",
    JobStatus.QUEUED: "#8764b8", JobStatus.NOT_STARTED: "#8764b8",
}


#: The studio's look on every page, wherever it renders (a notebook, Voila, the sidebar): labels,
#: buttons, dropdowns and tab titles as wide as their text (never cut off with "..."; a dropdown's box
#: grows with its select, so a long choice never spills over the control beside it), and links in
#: JupyterLab's link colour. Carried by :class:`CodeBox` (which every page has) and the table.
STUDIO_STYLE = """<style>
.widget-inline-hbox > .widget-label {min-width:max-content !important}
.jupyter-button {min-width:max-content !important}
.widget-dropdown > select {min-width:max-content !important}
.widget-inline-hbox.widget-dropdown {min-width:max-content !important; flex-shrink:0}
.jupyter-widgets.widget-tab > .lm-TabBar .lm-TabBar-tab {flex:0 0 auto !important; max-width:none !important}
.jupyter-widgets.widget-tab > .lm-TabBar .lm-TabBar-tabLabel {overflow:visible; text-overflow:clip}
.jupyter-widgets.widget-html a, .jupyter-widgets.widget-htmlmath a {color:var(--jp-content-link-color,#0969da);
  text-decoration:underline}
</style>"""


class CodeBox(widgets.HTML):
    """The equivalent SDK code of the last action, ready to copy into a cell.

    Collapsed by default (a summary line to open), so results next to it stay in view;
    each action calls :meth:`show` with its own code, and :meth:`clear` empties it.
    """

    def __init__(self, code: str = "", title: str = "Equivalent Python", *, expanded: bool = False) -> None:
        self._title = title
        self._open = expanded
        self.code = ""
        super().__init__()
        self.show(code)

    def clear(self) -> None:
        self.show("")

    def show(self, code: str) -> None:
        self.code = code
        self.value = (
            f"<details{' open' if self._open else ''}><summary style='font-size:90%;color:#555'>{html.escape(self._title)}</summary>"
            f"<pre style='background:#f6f8fa;padding:6px;margin:2px 0;font-size:85%;white-space:pre-wrap'>"
            f"{html.escape(code)}</pre></details>" if code else ""
        ) + STUDIO_STYLE


class Message(widgets.HTML):
    """A one-line error or note; ``text`` keeps the plain message for tests and screen readers."""

    def __init__(self) -> None:
        self.text = ""
        self.kind = ""
        super().__init__()

    def error(self, text: str) -> None:
        self._set(text, "error", "#a4262c")

    def info(self, text: str) -> None:
        self._set(text, "info", "#444")

    def clear(self) -> None:
        self.text, self.kind, self.value = "", "", ""

    def _set(self, text: str, kind: str, colour: str) -> None:
        self.text, self.kind = text, kind
        self.value = f"<div style='color:{colour};white-space:pre-wrap;font-size:90%'>{html.escape(text)}</div>"


def set_choices(dropdown: widgets.Dropdown, options: Sequence[Any], *, keep: Any = None, blank: Any = "",
                pick_first: bool = False) -> None:
    """Give ``dropdown`` new options and a value a person expects (ipywidgets leaves it empty).

    The value is ``keep`` when it is still offered, else the only real choice when there is
    exactly one (a list with one item never starts blank), else the first real choice with
    ``pick_first``, else the ``blank`` placeholder when the options hold one, else empty.
    ``options`` are values or ``(label, value)`` pairs; ``blank`` is the placeholder's value.
    """
    values = [o[1] if isinstance(o, tuple) else o for o in options]
    real = [v for v in values if v != blank and v is not None]
    dropdown.options = list(options)
    if keep is not None and keep != blank and keep in values:
        dropdown.value = keep
    elif len(real) == 1 or (pick_first and real):
        dropdown.value = real[0]
    elif blank in values:
        dropdown.value = blank
    else:
        dropdown.value = None


# Column names that usually hold what a model predicts, most telling first (compared case-blind).
LABEL_NAMES = ("target", "label", "labels", "y", "class", "outcome", "diagnosis", "diabetic", "income", "churn",
               "survived", "price")


def suggest_target(columns: Sequence[str], *, preferred: Iterable[str | None] = (),
                   inputs: Iterable[str] = ()) -> str | None:
    """The column a person most likely wants to predict among ``columns``.

    The first of ``preferred`` (what the model records as its target) that the data has;
    else the only column outside the model's ``inputs`` when they are known; else a
    column named like a label (:data:`LABEL_NAMES`); else the last column.
    """
    names = [str(c) for c in columns]
    if not names:
        return None
    for wanted in preferred:
        if wanted and wanted in names:
            return wanted
    known = set(inputs)
    if known:
        rest = [c for c in names if c not in known]
        if len(rest) == 1:
            return rest[0]
    by_lower = {c.lower(): c for c in reversed(names)}
    for label in LABEL_NAMES:
        if label in by_lower:
            return by_lower[label]
    return names[-1]


#: A coloured pill's box: inline-block with its own line height, so descenders (the g of "Running")
#: are not clipped by the row's line box.
BADGE_STYLE = "display:inline-block;border-radius:8px;padding:1px 7px 2px;font-size:85%;line-height:1.35;color:white"


def badge(text: str, colour: str) -> str:
    """A coloured pill with ``text`` (escaped), as the status and state columns show."""
    return f"<span style='background:{colour};{BADGE_STYLE}'>{html.escape(text)}</span>"


def status_badge(status: JobStatus | str) -> str:
    status = JobStatus(status)
    return badge(status.value, _STATUS_COLOURS.get(status, "#444"))


class TagsField(widgets.VBox):
    """Several values picked as tags (typed, with completion from ``options``): the studio's multi-select.

    A label beside the box, as wide as its neighbours' descriptions (TagsInput draws no description),
    and the allowed values listed under it. ``value`` is a tuple of the chosen strings and ``options``
    the allowed ones, as on the list box it replaces; setting ``options`` drops chosen values no longer
    allowed.
    """

    def __init__(self, label: str, options: Sequence[Any] = (), *, label_width: str = "160px",
                 width: str = "440px", placeholder: str = "type a value (Enter adds it)", tooltip: str = "") -> None:
        self.tags = widgets.TagsInput(value=[], allowed_tags=[], allow_duplicates=False, placeholder=placeholder,
                                      tooltip=tooltip or None, layout=widgets.Layout(width=width))
        self.label = widgets.HTML(f"<div style='text-align:right;padding-right:8px'>{html.escape(label)}</div>",
                                  layout=widgets.Layout(width=label_width, min_width=label_width))
        self.hint = widgets.HTML()
        self._label_width = label_width
        self._options: list[str] = []
        super().__init__([widgets.HBox([self.label, self.tags]), self.hint])
        self.options = options

    @property
    def value(self) -> tuple[str, ...]:
        return tuple(self.tags.value)

    @value.setter
    def value(self, chosen: Iterable[Any]) -> None:
        self.tags.value = [str(v) for v in chosen]

    @property
    def options(self) -> tuple[str, ...]:
        return tuple(self._options)

    @options.setter
    def options(self, allowed: Iterable[Any]) -> None:
        self._options = [str(v) for v in allowed]
        self.tags.value = [v for v in self.tags.value if v in self._options]
        self.tags.allowed_tags = list(self._options)
        shown = ", ".join(self._options[:12]) + (", ..." if len(self._options) > 12 else "")
        self.hint.value = (f"<span style='color:#666;font-size:90%;padding-left:{self._label_width}'>pick from: "
                           f"{html.escape(shown)}</span>" if self._options else "")

    def observe_value(self, handler: Callable[[Any], object]) -> None:
        """Call ``handler(change)`` when the chosen values change."""
        self.tags.observe(handler, names="value")


class ToggleSet(widgets.HBox):
    """A row of toggle buttons, any number pressed (week days): ``value`` is the tuple of pressed values.

    ``options`` are values, or ``(label, value)`` pairs for a short label on the button.
    """

    def __init__(self, label: str, options: Sequence[Any], *, label_width: str = "160px",
                 button_width: str = "52px") -> None:
        pairs = [o if isinstance(o, tuple) else (str(o), o) for o in options]
        self._values = [v for _, v in pairs]
        self.buttons = [widgets.ToggleButton(description=text, value=False, tooltip=str(v),
                                             layout=widgets.Layout(width=button_width)) for text, v in pairs]
        self.label = widgets.HTML(f"<div style='text-align:right;padding-right:8px'>{html.escape(label)}</div>",
                                  layout=widgets.Layout(width=label_width, min_width=label_width))
        super().__init__([self.label, *self.buttons])

    @property
    def options(self) -> tuple[Any, ...]:
        return tuple(self._values)

    @property
    def value(self) -> tuple[Any, ...]:
        return tuple(v for v, b in zip(self._values, self.buttons, strict=True) if b.value)

    @value.setter
    def value(self, pressed: Iterable[Any]) -> None:
        chosen = list(pressed)
        for v, b in zip(self._values, self.buttons, strict=True):
            b.value = v in chosen

    def observe_value(self, handler: Callable[[Any], object]) -> None:
        """Call ``handler(change)`` when a button is pressed or released."""
        for b in self.buttons:
            b.observe(handler, names="value")


def html_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, raw_columns: Iterable[int] = (),
               empty: str = "Nothing to show.") -> str:
    """An HTML table; cells are escaped except the columns in ``raw_columns`` (already HTML)."""
    raw = set(raw_columns)
    body = []
    for row in rows:
        cells = "".join(
            f"<td style='padding:2px 8px;border-bottom:1px solid #eee;white-space:nowrap'>"
            f"{cell if i in raw else value_html(cell)}</td>"
            for i, cell in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    if not body:
        return f"<div style='color:#666;font-size:90%'>{html.escape(empty)}</div>"
    head = "".join(f"<th style='text-align:left;padding:2px 8px;border-bottom:2px solid #ccc'>"
                   f"{html.escape(h)}</th>" for h in headers)
    return (f"<div style='overflow-x:auto'><table style='border-collapse:collapse;font-size:90%'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def show_figures(output: widgets.Output, figures: Sequence[Any]) -> None:
    """Show plotly figures in ``output`` (replacing what was there), from any thread.

    The bundle is the one plotly's ``plotly_mimetype`` renderer gives ``display(fig)``,
    which JupyterLab, Notebook 7, VS Code and Voila render offline; setting
    ``outputs`` in one assignment is safe from the live-refresh thread.
    """
    import plotly.io as pio

    renderer = pio.renderers["plotly_mimetype"]
    output.outputs = tuple(
        {"output_type": "display_data", "metadata": {},
         "data": {**renderer.to_mimebundle(fig.to_dict()), "text/plain": f"<Figure: {_title(fig)}>"}}
        for fig in figures
    )


def _title(fig: Any) -> str:
    text = getattr(getattr(fig.layout, "title", None), "text", None)
    return text or "chart"


def now_utc() -> datetime:
    return datetime.now(UTC)


# -- live refresh ---------------------------------------------------------------------------------
@dataclass(eq=False)
class Subscription:
    """One page's interest in a key; ``cancel()`` ends it (also done by returning False)."""

    key: Hashable
    callback: Callable[[Any, BaseException | None], bool | None]
    poller: SharedPoller
    active: bool = True

    def cancel(self) -> None:
        self.poller._remove(self)


@dataclass
class _Watch:
    fetch: Callable[[], Any]
    subscribers: list[Subscription] = field(default_factory=list)


class SharedPoller:
    """Refreshes live views every ``interval`` seconds on one background thread per workspace.

    Pages subscribe to a key with a fetch function; each tick calls each key's fetch
    once and hands the result (or the exception) to every subscriber of that key, so
    ten pages on one running job cost one read of the store per tick. A callback
    returning False unsubscribes (a job that ended). The thread ends when nothing
    is watched, and never blocks the kernel: widgets are updated from it, as
    ipywidgets allows.
    """

    _instances: dict[str, SharedPoller] = {}
    _instances_lock = threading.Lock()

    def __init__(self, interval: float = 2.0) -> None:
        self.interval = interval
        self._watches: dict[Hashable, _Watch] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self.ticks = 0
        #: How many times each key was fetched (one per tick, however many pages watch it).
        self.fetch_counts: Counter[Hashable] = Counter()

    @classmethod
    def for_workspace(cls, ws: Any, interval: float | None = None) -> SharedPoller:
        """The poller of a workspace in this process (created on first use)."""
        key = str(getattr(ws, "path", id(ws)))
        with cls._instances_lock:
            poller = cls._instances.get(key)
            if poller is None:
                poller = cls._instances[key] = cls(interval or 2.0)
            elif interval is not None:
                poller.interval = min(poller.interval, interval)
            return poller

    def subscribe(self, key: Hashable, fetch: Callable[[], Any],
                  callback: Callable[[Any, BaseException | None], bool | None]) -> Subscription:
        sub = Subscription(key=key, callback=callback, poller=self)
        with self._lock:
            watch = self._watches.setdefault(key, _Watch(fetch=fetch))
            watch.subscribers.append(sub)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="studio-live-refresh", daemon=True)
                self._thread.start()
        return sub

    def watching(self) -> list[Hashable]:
        with self._lock:
            return list(self._watches)

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            sub.active = False
            watch = self._watches.get(sub.key)
            if watch is not None and sub in watch.subscribers:
                watch.subscribers.remove(sub)
                if not watch.subscribers:
                    del self._watches[sub.key]

    def _run(self) -> None:
        while True:
            started = time.monotonic()
            with self._lock:
                if not self._watches:
                    self._thread = None
                    return
                watches = list(self._watches.items())
            self.ticks += 1
            for key, watch in watches:
                try:
                    result, error = watch.fetch(), None
                except Exception as exc:  # noqa: BLE001 - handed to the pages, which show it
                    result, error = None, exc
                self.fetch_counts[key] += 1
                for sub in list(watch.subscribers):
                    if not sub.active:
                        continue
                    try:
                        keep = sub.callback(result, error)
                    except Exception:  # a broken page must not stop the others
                        log.exception("live refresh of %r failed", key)
                        keep = False
                    if keep is False:
                        self._remove(sub)
            self._wake.wait(max(0.0, self.interval - (time.monotonic() - started)))


def reveal_html(note: str = "") -> str:
    """HTML that scrolls itself into view when drawn (put it at the top of new results).

    A panel sets an ``HTML`` widget at the head of the content it just produced to this,
    so a result never lands below the fold; each call differs, so the browser redraws
    it and scrolls again. It is a broken image's ``onerror``: ipywidgets' HTML view sets
    ``innerHTML`` in every front end (notebook, Voila, the sidebar), where ``<script>``
    would not run.
    """
    stamp = time.monotonic_ns()
    return (f"<img alt='' src='data:,x{stamp}' style='display:none' "
            f"onerror=\"this.parentElement&&this.parentElement.scrollIntoView({{block:'start',behavior:'smooth'}})\">"
            f"{html.escape(note)}")


class Reveal(widgets.HTML):
    """A marker placed above new content; :meth:`now` scrolls the page so the content is in view."""

    def now(self, note: str = "") -> None:
        self.value = reveal_html(note)


#: How a link looks on every page: JupyterLab's link colour, underlined (not black text).
LINK_STYLE = "color:var(--jp-content-link-color,#0969da);text-decoration:underline"


def link_html(url: str, text: str, *, new_tab: bool = True) -> str:
    """An ``<a>`` in JupyterLab's link colour with an underline, opening in a new tab by default."""
    target = " target='_blank' rel='noopener'" if new_tab else ""
    return (f"<a href='{html.escape(url, quote=True)}'{target} style='{LINK_STYLE}'>"
            f"{html.escape(text)}</a>")
