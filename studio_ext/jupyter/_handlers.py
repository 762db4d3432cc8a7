"""Tornado handlers of the sidebar's REST API (see the package docstring for routes)."""

from __future__ import annotations

import asyncio
import json
import os
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from studio_ext.entities import ACTIVE_STATES, JobStatus

T = TypeVar("T")

#: The environment variable that names the default workspace of the sidebar.
WORKSPACE_ENV = "STUDIO_EXT_WORKSPACE"
#: The folder, under the server's root, used by default when it exists (``make studio``).
DEMO_WORKSPACE_DIR = "demo-workspace"
#: The resource name the authorizer sees for every route of this extension.
AUTH_RESOURCE = "studio_ext"

# Active jobs in the summary: "running" once their process starts, "queued" before.
_RUNNING_JOB_STATES = frozenset({JobStatus.STARTING, JobStatus.RUNNING, JobStatus.FINALIZING})
_QUEUED_JOB_STATES = ACTIVE_STATES - _RUNNING_JOB_STATES
# Endpoint states the sidebar flags (Azure ML's endpoint and deployment states).
_UNHEALTHY_ENDPOINT_STATES = frozenset({"Unhealthy", "Failed"})
_ENDPOINT_STATE_ATTRIBUTES = ("state", "health", "provisioning_state", "status")

_MAX_OPEN_WORKSPACES = 4


class StudioState:
    """What the handlers share: the default workspace and the workspaces already open.

    Every call into a workspace runs on one worker thread, so the tornado loop never
    waits on a database and a workspace is only ever used from the thread that opened it.
    """

    def __init__(self, root_dir: str) -> None:
        self.root_dir = Path(root_dir).expanduser().resolve()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="studio-ext")
        self._open: OrderedDict[Path, Any] = OrderedDict()
        #: Called with each workspace path opened here (the server records itself there).
        self.on_open: Callable[[Path], None] | None = None

    def default_workspace(self) -> tuple[Path, str]:
        """The default workspace path and its source: ``env``, ``demo`` or ``root``."""
        from_env = os.environ.get(WORKSPACE_ENV, "").strip()
        if from_env:
            return self.resolve(from_env), "env"
        demo = self.root_dir / DEMO_WORKSPACE_DIR
        if demo.is_dir():
            return demo, "demo"
        return self.root_dir, "root"

    def resolve(self, path: str) -> Path:
        """An absolute path; a relative one is taken from the server's root directory."""
        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            candidate = self.root_dir / candidate
        return candidate.resolve()

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    def workspace(self, path: Path) -> Any:
        """Open (or reuse) the workspace at ``path``; runs on the worker thread."""
        if path in self._open:
            self._open.move_to_end(path)
            return self._open[path]
        from studio_ext import Workspace

        ws = Workspace(str(path))
        self._open[path] = ws
        if self.on_open is not None:
            self.on_open(path)
        while len(self._open) > _MAX_OPEN_WORKSPACES:
            _, old = self._open.popitem(last=False)
            close = getattr(old, "close", None)
            if callable(close):
                close()
        return ws

    def describe(self, path: Path) -> dict[str, Any]:
        ws = self.workspace(path)
        return {"path": str(path), "name": _workspace_name(ws, path)}

    def summary(self, path: Path) -> dict[str, Any]:
        ws = self.workspace(path)
        running = queued = 0
        for job in ws.jobs.list():
            state = JobStatus(job.status)
            if state in _RUNNING_JOB_STATES:
                running += 1
            elif state in _QUEUED_JOB_STATES:
                queued += 1
        return {
            "workspace": str(path),
            "name": _workspace_name(ws, path),
            "jobs": {"running": running, "queued": queued},
            "endpoints": _endpoint_summary(ws),
            "alerts": _alert_summary(ws),
        }

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _state_value(state: Any) -> str | None:
    if state is None:
        return None
    return str(getattr(state, "value", state))


def _workspace_name(ws: Any, path: Path) -> str:
    name = getattr(ws, "name", None)
    return name if isinstance(name, str) and name else path.name


def _endpoint_summary(ws: Any) -> dict[str, Any]:
    from studio_ext.errors import StudioError

    try:
        service = getattr(ws, "online_endpoints", None)
    except StudioError:  # a service that exists but cannot start here (missing extra)
        service = None
    if service is None:
        return {"available": False, "total": 0, "unhealthy": 0}
    endpoints = list(service.list())
    unhealthy = 0
    for endpoint in endpoints:
        for attribute in _ENDPOINT_STATE_ATTRIBUTES:
            state = _state_value(getattr(endpoint, attribute, None))
            if state is not None:
                unhealthy += state in _UNHEALTHY_ENDPOINT_STATES
                break
    return {"available": True, "total": len(endpoints), "unhealthy": unhealthy}


def _alert_summary(ws: Any) -> dict[str, Any]:
    """The monitors' alerts not yet acknowledged (the sidebar's badge on the Monitoring page)."""
    from studio_ext.errors import StudioError

    try:
        service = getattr(ws, "data_drift", None)
        count = int(service.alert_count()) if service is not None else None
    except StudioError:  # a workspace without monitors' support here
        count = None
    return {"available": count is not None, "unacknowledged": count or 0}


class _StudioHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def studio(self) -> StudioState:
        return self.settings["studio_ext"]

    def reply(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload))

    async def call_workspace(self, func: Callable[[Path], dict[str, Any]], path: Path) -> None:
        """Run ``func(path)`` on the worker thread; a StudioError becomes its HTTP status."""
        from studio_ext.errors import StudioError

        try:
            payload = await self.studio.run(func, path)
        except StudioError as exc:
            self.reply({"message": exc.message, "error": type(exc).__name__}, exc.http_status)
            return
        self.reply(payload)


class PagesHandler(_StudioHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from studio_ext.panels import PAGES

        self.reply({"pages": [{"id": page.id, "title": page.title} for page in PAGES.values()]})


class WorkspaceHandler(_StudioHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        path, source = self.studio.default_workspace()
        self.reply({"path": str(path), "source": source, "root_dir": str(self.studio.root_dir)})

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            body = None
        raw = body.get("path") if isinstance(body, dict) else None
        if not isinstance(raw, str) or not raw.strip():
            self.reply({"message": 'Send a JSON body {"path": "<workspace folder>"}.'}, 400)
            return
        await self.call_workspace(self.studio.describe, self.studio.resolve(raw.strip()))


class SummaryHandler(_StudioHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        raw = self.get_query_argument("workspace", "").strip()
        path = self.studio.resolve(raw) if raw else self.studio.default_workspace()[0]
        await self.call_workspace(self.studio.summary, path)


class PlotlyWidgetModuleHandler(_StudioHandler):
    """plotly's FigureWidget front-end module, for the sidebar's kernel to name by URL
    (see studio_ext.panels.widget_modules). An API handler, so a request without
    credentials is refused (403) rather than redirected to the login page."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from studio_ext.panels.widget_modules import plotly_widget_module_path

        path = plotly_widget_module_path()
        if not path.is_file():
            raise tornado.web.HTTPError(404, f"plotly's widget module is missing ({path}); reinstall plotly.")
        self.set_header("Cache-Control", "private, max-age=86400")
        self.finish(path.read_bytes(), set_content_type="text/javascript; charset=utf-8")


def setup_handlers(serverapp: Any) -> StudioState:
    """Add the routes to a running ServerApp's web application."""
    web_app = serverapp.web_app
    root_dir = getattr(serverapp, "root_dir", None) or web_app.settings.get("server_root_dir", ".")
    state = StudioState(root_dir)
    web_app.settings["studio_ext"] = state
    base = url_path_join(web_app.settings["base_url"], "studio-ext")
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "pages"), PagesHandler),
            (url_path_join(base, "workspace"), WorkspaceHandler),
            (url_path_join(base, "summary"), SummaryHandler),
            (url_path_join(base, "widget-modules", "plotly.js"), PlotlyWidgetModuleHandler),
        ],
    )
    return state
