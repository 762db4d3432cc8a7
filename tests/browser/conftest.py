"""The browser test harness: one JupyterLab per session, driven by Debian's chromium.

- ``lab_server`` starts ``jupyter lab`` on 127.0.0.1 with a token, an isolated
  Jupyter config/data/runtime, and STUDIO_EXT_WORKSPACE pointing at a fresh
  workspace. It also registers a test-only page (harness/studio_ext_test_harness.py)
  in the server and in its kernels, so the rendering machinery is checked even
  before the product has pages.
- ``lab`` (module-scoped) is a browser tab on JupyterLab that records console
  errors; tests call ``lab.assert_clean()``, and teardown checks again.
- Screenshots go to test-artifacts/screenshots/ (kept by CI, ignored by git).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
HARNESS_DIR = Path(__file__).resolve().parent / "harness"
ARTIFACTS = REPO / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM = os.environ.get("STUDIO_EXT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# The server extension to enable. "studio_ext" is what the package installs; the
# variable exists to debug the REST handlers alone ("studio_ext.jupyter").
SERVER_EXTENSION = os.environ.get("STUDIO_EXT_TEST_SERVER_EXTENSION", "studio_ext")

# Console errors that are not failures, each with the reason. Matched on the message
# text and on the URL of the resource that failed.
ALLOWED_CONSOLE_ERRORS: tuple[tuple[re.Pattern[str], re.Pattern[str], str], ...] = (
    (
        re.compile(r"net::ERR_(NAME_NOT_RESOLVED|INTERNET_DISCONNECTED|CONNECTION_REFUSED)"),
        re.compile(r"^https?://(fonts\.googleapis\.com|fonts\.gstatic\.com|cdn\.jsdelivr\.net)/"),
        "web fonts from a CDN the test machine cannot reach; a fallback font is used",
    ),
)

# Widget views that failed to load show this box instead of the widget.
JS_ERROR_BOX = ".jupyter-widgets-error-widget"

LAB_START_TIMEOUT = 120.0
RENDER_TIMEOUT_MS = 120_000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    url: str
    token: str
    root_dir: Path
    workspace: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def api(self, method: str, path: str, body: object | None = None) -> object:
        """Call the server's REST API with the token; returns the decoded JSON (or None)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _write_isolated_jupyter_dirs(base: Path) -> dict[str, str]:
    """Config, data, runtime and IPython dirs of the test server, with the harness page."""
    config = base / "jupyter-config"
    ipython_startup = base / "ipython" / "profile_default" / "startup"
    for folder in (config, base / "jupyter-data", base / "jupyter-runtime", ipython_startup):
        folder.mkdir(parents=True, exist_ok=True)
    # No "fetch Jupyter news?" toast over the screenshots, and no request for it.
    notification = config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    register = "import studio_ext_test_harness\nstudio_ext_test_harness.register()\n"
    (config / "jupyter_server_config.py").write_text(register)
    (ipython_startup / "00-studio-ext-test-harness.py").write_text(register)
    return {
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(base / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(base / "jupyter-runtime"),
        "IPYTHONDIR": str(base / "ipython"),
    }


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    if not (REPO / "studio_ext" / "labextension" / "package.json").is_file():
        pytest.fail("The JupyterLab extension is not built; run scripts/test-prereqs.sh first.")
    from studio_ext import Workspace

    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "root"
    root.mkdir()
    workspace = Workspace.create(root / "studio-ws", name="browser-tests")
    env = dict(os.environ)
    env.update(_write_isolated_jupyter_dirs(base))
    env["STUDIO_EXT_WORKSPACE"] = str(workspace.path)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HARNESS_DIR), env.get("PYTHONPATH", "")) if p
    )
    port, token = free_port(), secrets.token_hex(16)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--allow-root",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.jpserver_extensions={SERVER_EXTENSION}=True",
        # No update check: the test machine has no internet, and it is not under test.
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = LabServer(f"http://127.0.0.1:{port}", token, root, workspace.path, log_path, process)
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        stop = getattr(workspace._backend, "stop_supervisor", None)
        if callable(stop):
            stop()
        workspace.close()


def _wait_until_up(server: LabServer) -> None:
    deadline = time.monotonic() + LAB_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"jupyter lab exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            server.api("GET", "api/status")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within {LAB_START_TIMEOUT:.0f}s:\n{server.log_tail()}")


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module.

    Module scope on purpose: while Playwright's sync API is active it keeps an
    asyncio loop marked as running in the main thread, so a session-wide browser
    would break every later test that calls ``asyncio.run``.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; run scripts/test-prereqs.sh to install chromium.")
    from playwright.sync_api import expect, sync_playwright

    # The first call into a workspace imports MLflow in the server: allow for it.
    expect.set_options(timeout=30_000)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


@dataclass
class ConsoleEntry:
    kind: str
    text: str
    url: str

    def allowed(self) -> bool:
        return any(
            text.search(self.text) and url.search(self.url)
            for text, url, _reason in ALLOWED_CONSOLE_ERRORS
        )


@dataclass
class Lab:
    """A browser tab on the test JupyterLab, with helpers for the Studio sidebar."""

    page: object  # playwright.sync_api.Page
    server: LabServer
    console: list[ConsoleEntry] = field(default_factory=list)
    checked: int = 0
    # Errors one test expects (e.g. the 400 of a refused request); reset per test.
    expected: list[tuple[re.Pattern[str], re.Pattern[str]]] = field(default_factory=list)

    # -- navigation ---------------------------------------------------------
    def load(self) -> None:
        """Load JupyterLab with a fresh layout and wait for the Studio tab."""
        self.page.goto(f"{self.server.url}/lab?reset&token={self.server.token}")
        self.page.wait_for_selector('[data-id="studio-ext-sidebar"]', timeout=60_000)

    def open_sidebar(self):
        sidebar = self.page.locator("#studio-ext-sidebar")
        if not sidebar.is_visible():
            self.page.click('.jp-SideBar [data-id="studio-ext-sidebar"]')
        sidebar.wait_for(state="visible")
        return sidebar

    def open_studio_page(self, page_id: str):
        """Click the page in the sidebar; returns the page's content locator."""
        sidebar = self.open_sidebar()
        sidebar.locator(f'button.jp-StudioSidebar-page[data-page-id="{page_id}"]').click()
        return self.page.locator(f'.jp-StudioPage[data-studio-page="{page_id}"]')

    def wait_rendered(self, page_id: str, after: int = 0, timeout: float = RENDER_TIMEOUT_MS):
        """Wait until the page finished building more than ``after`` times; returns it."""
        selector = f'.jp-StudioPage[data-studio-page="{page_id}"]'
        self.page.wait_for_function(
            """([selector, after]) => {
                const node = document.querySelector(selector);
                if (!node) return false;
                const state = node.dataset.renderState;
                if (state === 'error') return true;
                return state === 'done' && Number(node.dataset.renderCount || 0) > after;
            }""",
            arg=[selector, after],
            timeout=timeout,
        )
        content = self.page.locator(selector)
        state = content.get_attribute("data-render-state")
        if state != "done":
            pytest.fail(f"page {page_id!r} failed to build:\n{content.inner_text()[:4000]}")
        return content

    def render_count(self, page_id: str) -> int:
        node = self.page.locator(f'.jp-StudioPage[data-studio-page="{page_id}"]')
        return int(node.get_attribute("data-render-count") or 0)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        self.page.screenshot(path=str(path))
        return path

    # -- checks -------------------------------------------------------------
    def expect_console_error(self, text: str, url: str = "") -> None:
        """Tolerate, for the current test only, console errors matching both regexes."""
        self.expected.append((re.compile(text), re.compile(url)))

    def assert_clean(self) -> None:
        """No console error outside the allow-list, and no widget that failed to load."""
        errors = [
            e
            for e in self.console[self.checked :]
            if not e.allowed()
            and not any(t.search(e.text) and u.search(e.url) for t, u in self.expected)
        ]
        self.checked = len(self.console)
        boxes = self.page.locator(JS_ERROR_BOX)
        problems = [f"console {e.kind}: {e.text} ({e.url})" for e in errors]
        if boxes.count():
            problems.append(
                f"{boxes.count()} widget(s) failed to load ('Click to show javascript error')"
            )
        assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def lab(browser, lab_server: LabServer) -> Iterator[Lab]:
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    page = context.new_page()
    page.set_default_timeout(30_000)
    state = Lab(page=page, server=lab_server)

    def on_console(message) -> None:
        if message.type == "error":
            state.console.append(
                ConsoleEntry("error", message.text, (message.location or {}).get("url", ""))
            )

    page.on("console", on_console)
    page.on("pageerror", lambda exc: state.console.append(ConsoleEntry("exception", str(exc), "")))
    state.load()
    try:
        yield state
    finally:
        context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.studio_call_failed = report.failed


@pytest.fixture
def studio(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """The module's JupyterLab tab; the test fails if it logged errors meanwhile.

    A failed test leaves a screenshot, FAILED-<test>.png, beside the others.
    """
    lab.checked = len(lab.console)
    lab.expected.clear()
    yield lab
    if getattr(request.node, "studio_call_failed", False):
        lab.screenshot(f"FAILED-{request.node.name}")
    lab.assert_clean()
