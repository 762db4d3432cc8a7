"""The Jupyter server extension: the small REST API the JupyterLab sidebar reads.

Routes, under the server's base URL (every one authenticated and authorized on the
``studio_ext`` resource)::

    GET  /studio-ext/pages                   the studio's pages, from studio_ext.panels.PAGES
    GET  /studio-ext/workspace               the default workspace path and where it came from
    POST /studio-ext/workspace  {"path": p}  open p as a workspace; its absolute path and name
    GET  /studio-ext/summary?workspace=p     running jobs and unhealthy endpoints of p
    GET  /studio-ext/widget-modules/plotly.js plotly's FigureWidget front-end module

The panels themselves run in a kernel, not here: this extension only answers the
sidebar's questions, so the sidebar works before any kernel has started.

Once the server listens, it records its URL and token in the workspace it shows (and
in every workspace the sidebar opens), so a job's ``studio_url`` opens here; the
records are removed when the server exits (see ``studio_ext._studio_link``).
"""

from __future__ import annotations

from typing import Any

from studio_ext.jupyter._handlers import StudioState, setup_handlers
from studio_ext.jupyter._record import record_server

__all__ = ["StudioState", "setup_handlers"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "studio_ext.jupyter"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    state = setup_handlers(serverapp)
    record_server(serverapp, state)
    serverapp.log.info("studio_ext: sidebar REST API at %sstudio-ext/", serverapp.base_url)
