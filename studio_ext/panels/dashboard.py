"""What a Voila dashboard notebook runs: find the workspace, show one page's panel.

The workspace comes from the URL (``?workspace=/path/to/ws``, which Voila passes to
the kernel as ``QUERY_STRING``), else ``$STUDIO_EXT_WORKSPACE``, else the folder the
dashboard runs in. With none of them, the page says how to set one instead of failing.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

import ipywidgets as widgets

from studio_ext.errors import StudioError


def workspace_path_from_request() -> str | None:
    query = urllib.parse.parse_qs(os.environ.get("QUERY_STRING", ""))
    if query.get("workspace"):
        return query["workspace"][0]
    return os.environ.get("STUDIO_EXT_WORKSPACE")


def build(page_id: str) -> Any:
    """The panel of ``page_id``, or a message widget that says what is missing."""
    from studio_ext.panels import PAGES, open_page
    from studio_ext.workspace import Workspace

    path = workspace_path_from_request()
    try:
        ws = Workspace.from_config(path)
    except StudioError as exc:
        return widgets.HTML(
            "<div class='studio-ext-message'><b>No workspace to show.</b><br>"
            f"{exc.message}<br>Open this dashboard with <code>?workspace=/path/to/workspace</code> "
            "in the URL, or start Voila with <code>STUDIO_EXT_WORKSPACE</code> set.</div>"
        )
    if page_id not in PAGES:
        return widgets.HTML(f"<b>There is no studio page {page_id!r}.</b> Pages: {', '.join(PAGES)}.")
    return open_page(page_id, ws)


def show(page_id: str) -> None:
    from IPython.display import display

    display(build(page_id))
