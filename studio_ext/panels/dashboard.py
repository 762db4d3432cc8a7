"""What a Voila dashboard notebook runs: find the workspace, show one page's panel under a header.

The workspace comes from the URL (``?workspace=/path/to/ws``, which Voila passes to
the kernel as ``QUERY_STRING``), else ``$STUDIO_EXT_WORKSPACE``, else the folder the
dashboard runs in or its parents, else the demo workspace (``demo-workspace/``, what
``make studio`` prepares) beside one of those folders: so ``voila notebooks/dashboards``
run from a checkout finds the demo with no parameter. With none of them, the page
says how to set one instead of failing.

Every dashboard starts with a header linking the other pages (the same ``?workspace=``
kept), so a person moves between them as in the studio's sidebar.
"""

from __future__ import annotations

import html
import os
import urllib.parse
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from studio_ext.errors import StudioError

DEMO_FOLDER = "demo-workspace"


def workspace_path_from_request() -> str | None:
    query = urllib.parse.parse_qs(os.environ.get("QUERY_STRING", ""))
    if query.get("workspace"):
        return query["workspace"][0]
    return os.environ.get("STUDIO_EXT_WORKSPACE")


def demo_workspace_near(start: Path | None = None) -> Path | None:
    """``demo-workspace/`` in ``start`` (the current folder) or one of its parents, if it is a workspace."""
    from studio_ext.workspace import WORKSPACE_FILE

    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        demo = candidate / DEMO_FOLDER
        if (demo / WORKSPACE_FILE).is_file():
            return demo
    return None


def header(page_id: str) -> widgets.HTML:
    """The dashboards' header: the studio's pages as links, this one in bold."""
    from studio_ext.panels import PAGES
    from studio_ext.panels._widgets import STUDIO_STYLE, link_html

    query = os.environ.get("QUERY_STRING", "")
    suffix = f"?{query}" if query else ""
    links = [f"<b>{html.escape(page.title)}</b>" if page.id == page_id else link_html(f"{page.id}.ipynb{suffix}",
                                                                                     page.title, new_tab=False)
             for page in PAGES.values()]
    return widgets.HTML(
        "<nav class='studio-ext-dashboard-nav' style='display:flex;flex-wrap:wrap;gap:4px 14px;align-items:center;"
        "padding:6px 0 8px;margin-bottom:6px;border-bottom:1px solid var(--jp-border-color2,#e0e0e0)'>"
        "<span style='font-weight:600;color:var(--jp-ui-font-color2,#555)'>Studio</span>" + "".join(links) + "</nav>"
        + STUDIO_STYLE)


def build(page_id: str) -> Any:
    """The panel of ``page_id`` under the pages' header, or a message widget that says what is missing."""
    from studio_ext.panels import PAGES, open_page
    from studio_ext.workspace import Workspace

    path = workspace_path_from_request()
    try:
        ws = Workspace.from_config(path)
    except StudioError as exc:
        demo = demo_workspace_near() if path is None else None
        if demo is None:
            return widgets.HTML(
                "<div class='studio-ext-message'><b>No workspace to show.</b><br>"
                f"{html.escape(exc.message)}<br>Open this dashboard with <code>?workspace=/path/to/workspace</code> "
                "in the URL, or start Voila with <code>STUDIO_EXT_WORKSPACE</code> set.</div>"
            )
        ws = Workspace(demo)
    if page_id not in PAGES:
        return widgets.HTML(f"<b>There is no studio page {html.escape(page_id)!r}.</b> Pages: {', '.join(PAGES)}.")
    return widgets.VBox([header(page_id), open_page(page_id, ws)])


def show(page_id: str) -> None:
    from IPython.display import display

    display(build(page_id))
