"""The sidebar's REST API in a real jupyter server: authenticated, XSRF-checked, correct."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

import studio_ext
from studio_ext.jupyter._handlers import StudioState
from studio_ext.panels import PAGES
from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")

ROUTES = [
    ("GET", "studio-ext/pages", None),
    ("GET", "studio-ext/workspace", None),
    ("GET", "studio-ext/summary", None),
    ("POST", "studio-ext/workspace", {"path": "ws"}),
]
# Every route, including the one that is not JSON.
PROTECTED_ROUTES = [*ROUTES, ("GET", "studio-ext/widget-modules/plotly.js", None)]


@pytest.mark.parametrize(("method", "route", "body"), PROTECTED_ROUTES)
def test_routes_refuse_requests_without_a_token(jupyter_server, method, route, body) -> None:
    response = requests.request(method, f"{jupyter_server.url}/{route}", json=body, timeout=10)
    assert response.status_code in (401, 403)


@pytest.mark.parametrize(("method", "route", "body"), PROTECTED_ROUTES)
def test_routes_refuse_a_wrong_token(jupyter_server, method, route, body) -> None:
    response = requests.request(
        method,
        f"{jupyter_server.url}/{route}",
        json=body,
        headers={"Authorization": "token not-the-token"},
        timeout=10,
    )
    assert response.status_code in (401, 403)


@pytest.mark.parametrize(("method", "route", "body"), ROUTES)
def test_routes_answer_with_the_token(jupyter_server, method, route, body) -> None:
    response = requests.request(
        method,
        f"{jupyter_server.url}/{route}",
        json=body,
        headers=jupyter_server.headers(),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")


def test_plotly_widget_module_is_served_to_the_logged_in_browser(jupyter_server) -> None:
    from studio_ext.panels.widget_modules import plotly_widget_module_path

    browser = requests.Session()
    assert browser.get(f"{jupyter_server.url}/lab?token={jupyter_server.token}").ok
    response = browser.get(f"{jupyter_server.url}/studio-ext/widget-modules/plotly.js", timeout=60)
    assert response.status_code == 200
    # A module script: browsers refuse to import one served with another type.
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert response.content == plotly_widget_module_path().read_bytes()


def test_cookie_post_without_xsrf_is_refused(jupyter_server) -> None:
    browser = requests.Session()
    # Logging in with the token in the URL sets the login and _xsrf cookies.
    assert browser.get(f"{jupyter_server.url}/lab?token={jupyter_server.token}").ok
    assert browser.cookies.get("_xsrf")
    url = f"{jupyter_server.url}/studio-ext/workspace"

    refused = browser.post(url, json={"path": "ws"}, timeout=10)
    assert refused.status_code == 403
    assert "_xsrf" in refused.json()["message"]

    accepted = browser.post(
        url, json={"path": "ws"}, headers={"X-XSRFToken": browser.cookies["_xsrf"]}, timeout=60
    )
    assert accepted.status_code == 200, accepted.text
    # A cookie is enough for a GET.
    assert browser.get(f"{jupyter_server.url}/studio-ext/pages", timeout=10).status_code == 200


def test_pages_lists_the_registry(jupyter_server) -> None:
    reply = requests.get(
        f"{jupyter_server.url}/studio-ext/pages", headers=jupyter_server.headers(), timeout=10
    ).json()
    assert reply == {"pages": [{"id": p.id, "title": p.title} for p in PAGES.values()]}


def test_workspace_reports_the_default_from_the_environment(jupyter_server) -> None:
    reply = requests.get(
        f"{jupyter_server.url}/studio-ext/workspace", headers=jupyter_server.headers(), timeout=10
    ).json()
    assert reply == {
        "path": str(jupyter_server.workspace),
        "source": "env",
        "root_dir": str(jupyter_server.root_dir.resolve()),
    }


def test_open_workspace_resolves_a_relative_path(jupyter_server) -> None:
    reply = requests.post(
        f"{jupyter_server.url}/studio-ext/workspace",
        json={"path": "ws"},
        headers=jupyter_server.headers(),
        timeout=60,
    )
    assert reply.json() == {"path": str(jupyter_server.workspace), "name": "server-tests"}


def test_open_workspace_refuses_a_folder_that_is_not_one(jupyter_server) -> None:
    reply = requests.post(
        f"{jupyter_server.url}/studio-ext/workspace",
        json={"path": "."},
        headers=jupyter_server.headers(),
        timeout=60,
    )
    assert reply.status_code == 400
    assert reply.json()["error"] == "WorkspaceError"
    assert "is not a studio workspace" in reply.json()["message"]


@pytest.mark.parametrize("body", [{}, {"path": ""}, {"path": 3}, []])
def test_open_workspace_needs_a_path(jupyter_server, body) -> None:
    reply = requests.post(
        f"{jupyter_server.url}/studio-ext/workspace",
        json=body,
        headers=jupyter_server.headers(),
        timeout=10,
    )
    assert reply.status_code == 400
    assert reply.json()["message"] == 'Send a JSON body {"path": "<workspace folder>"}.'


def test_summary_of_a_fresh_workspace(jupyter_server) -> None:
    reply = requests.get(
        f"{jupyter_server.url}/studio-ext/summary",
        params={"workspace": str(jupyter_server.workspace)},
        headers=jupyter_server.headers(),
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    summary = reply.json()
    assert summary["workspace"] == str(jupyter_server.workspace)
    assert summary["name"] == "server-tests"
    assert summary["jobs"] == {"running": 0, "queued": 0}
    assert summary["endpoints"]["unhealthy"] == 0
    assert summary["alerts"] == {"available": True, "unacknowledged": 0}


def test_summary_of_a_missing_folder_says_what_is_wrong(jupyter_server) -> None:
    reply = requests.get(
        f"{jupyter_server.url}/studio-ext/summary",
        params={"workspace": "no-such-folder"},
        headers=jupyter_server.headers(),
        timeout=60,
    )
    assert reply.status_code == 400
    assert "is not a folder" in reply.json()["message"]


# -- the summary's counting, on stand-in workspaces -----------------------------------


class _Service:
    def __init__(self, items):
        self._items = items

    def list(self):
        return list(self._items)


def _state_with(workspace) -> StudioState:
    state = StudioState(".")
    state.workspace = lambda path: workspace  # type: ignore[method-assign]
    return state


def test_summary_counts_jobs_by_state() -> None:
    from studio_ext.entities import JobStatus

    jobs = [SimpleNamespace(status=s) for s in (
        JobStatus.RUNNING, JobStatus.RUNNING, JobStatus.STARTING, JobStatus.FINALIZING,
        JobStatus.QUEUED, JobStatus.NOT_STARTED, JobStatus.COMPLETED, JobStatus.FAILED,
        JobStatus.CANCELED,
    )]
    ws = SimpleNamespace(name="w", jobs=_Service(jobs))
    summary = _state_with(ws).summary(Path("/w"))
    assert summary["jobs"] == {"running": 4, "queued": 2}
    assert summary["endpoints"] == {"available": False, "total": 0, "unhealthy": 0}
    assert summary["alerts"] == {"available": False, "unacknowledged": 0}


def test_summary_counts_unacknowledged_alerts() -> None:
    monitors = SimpleNamespace(alert_count=lambda: 3)
    ws = SimpleNamespace(name="w", jobs=_Service([]), data_drift=monitors)
    assert _state_with(ws).summary(Path("/w"))["alerts"] == {"available": True, "unacknowledged": 3}


def test_summary_counts_unhealthy_endpoints() -> None:
    endpoints = [
        SimpleNamespace(state="Healthy"),
        SimpleNamespace(state="Unhealthy"),
        SimpleNamespace(state="Failed"),
        SimpleNamespace(provisioning_state="Failed"),
        SimpleNamespace(),
    ]
    ws = SimpleNamespace(name="w", jobs=_Service([]), online_endpoints=_Service(endpoints))
    summary = _state_with(ws).summary(Path("/w"))
    assert summary["endpoints"] == {"available": True, "total": 5, "unhealthy": 3}


def test_summary_reports_no_endpoints_when_the_service_cannot_start() -> None:
    from studio_ext.errors import MissingDependency

    class Workspace:
        name = "w"
        jobs = _Service([])

        @property
        def online_endpoints(self):
            raise MissingDependency("uvicorn", "serving", "Online endpoints")

    summary = _state_with(Workspace()).summary(Path("/w"))
    assert summary["endpoints"] == {"available": False, "total": 0, "unhealthy": 0}


def test_default_workspace_prefers_env_then_demo_then_root(tmp_path, monkeypatch) -> None:
    state = StudioState(str(tmp_path))
    monkeypatch.delenv("STUDIO_EXT_WORKSPACE", raising=False)
    assert state.default_workspace() == (tmp_path.resolve(), "root")
    (tmp_path / "demo-workspace").mkdir()
    assert state.default_workspace() == (tmp_path.resolve() / "demo-workspace", "demo")
    monkeypatch.setenv("STUDIO_EXT_WORKSPACE", "elsewhere")
    assert state.default_workspace() == (tmp_path.resolve() / "elsewhere", "env")


# -- installation -----------------------------------------------------------------------


def test_package_exposes_the_jupyter_entry_points() -> None:
    assert studio_ext._jupyter_server_extension_points() == [{"module": "studio_ext.jupyter"}]
    assert studio_ext._jupyter_labextension_paths() == [
        {"src": "labextension", "dest": "studio-ext"}
    ]


def test_labextension_is_installed_and_enabled() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jupyterlab.labextensions", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = ANSI.sub("", out.stdout + out.stderr)
    line = next((ln for ln in text.splitlines() if "studio-ext" in ln), "")
    assert "enabled" in line and "OK" in line, text


def test_server_extension_is_enabled_by_the_installed_config() -> None:
    config = REPO / "jupyter-config" / "server-config" / "studio_ext.json"
    assert json.loads(config.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"studio_ext": True}}
    }
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_server.extension.serverextension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = ANSI.sub("", out.stdout + out.stderr)
    assert re.search(r"^\s*studio_ext enabled$", text, re.M), text
    assert re.search(r"^\s*studio_ext [0-9.]+ OK$", text, re.M), text


@pytest.mark.slow
@pytest.mark.browser
def test_jupyterlab_browser_check_passes(tmp_path: Path) -> None:
    """``python -m jupyterlab.browser_check``: JupyterLab loads with our extension and logs
    no error, in Debian's chromium through the node Playwright the check drives
    (scripts/browser-check-prereqs.sh installs it, and makes Playwright's browser
    folder point at /usr/bin/chromium so the check downloads nothing)."""
    from jupyterlab.commands import get_app_dir

    browsers = Path(sys.prefix) / "share" / "playwright-browsers"
    check_dir = Path(get_app_dir()) / "browser_test" / "node_modules" / "playwright"
    if not (browsers.is_dir() and check_dir.is_dir()):
        pytest.fail("The browser check is not prepared; run scripts/test-prereqs.sh first.")
    env = {
        **os.environ,
        "PLAYWRIGHT_BROWSERS_PATH": str(browsers),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyterlab.browser_check",
            "--allow-root",
            f"--ServerApp.port={free_port()}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    log = out.stdout[-4000:] + out.stderr[-4000:]
    assert out.returncode == 0, log
    assert "Browser test complete" in out.stdout + out.stderr, log
