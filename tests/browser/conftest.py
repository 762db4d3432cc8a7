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
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import ServerProcess, jupyter_argv, serve, wait_until

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
    (
        re.compile(r"status of 403"),
        re.compile(r"/voila/api/shutdown/"),
        (
            "Voila 0.5's page-close beacon carries no XSRF cookie (voila-dashboards/voila#1458);"
            " the kernel is culled instead (see notebooks/dashboards/README.md)"
        ),
    ),
)

# Widget views that failed to load show this box instead of the widget.
JS_ERROR_BOX = ".jupyter-widgets-error-widget"

LAB_START_TIMEOUT = 120.0
RENDER_TIMEOUT_MS = 120_000


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


def _write_isolated_jupyter_dirs(base: Path, harness: bool = True) -> dict[str, str]:
    """Config, data, runtime and IPython dirs of a test server (with the harness pages)."""
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
    if harness:
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
    token = secrets.token_hex(16)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "jupyterlab.log"

    def command(port: int) -> list[str]:
        # No update check: the test machine has no internet, and it is not under test.
        return jupyter_argv("jupyterlab", port, token=token, root=root, extension=SERVER_EXTENSION,
                            extra=("--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",))

    def lab(running: ServerProcess) -> LabServer:
        return LabServer(running.url, token, root, workspace.path, log_path, running.process)

    try:
        with serve(command, name="jupyter lab", ready=lambda running: lab(running).api("GET", "api/status") or True,
                   log_path=log_path, cwd=root, env=env, timeout=LAB_START_TIMEOUT) as running:
            yield lab(running)
    finally:
        workspace.runtime.stop()
        workspace.close()


DASHBOARDS = REPO / "notebooks" / "dashboards"
VOILA_START_TIMEOUT = 90.0


@dataclass
class VoilaServer:
    url: str
    workspace: Path
    dataset: str
    job_display_name: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def dashboard_url(self, page_id: str, workspace: Path | None = None) -> str:
        query = "" if workspace is None else "?" + urllib.parse.urlencode({"workspace": str(workspace)})
        return f"{self.url}/voila/render/{page_id}.ipynb{query}"


def _install_extension_as_a_wheel_would(data_dir: Path) -> None:
    """Copy the built extension into ``data_dir/labextensions`` (first on JUPYTER_PATH).

    A development install links it instead, and Voila refuses to serve files behind
    a link that leaves its static folder (403); users get a real folder from the
    wheel, so the dashboards are tested with one.
    """
    target = data_dir / "labextensions" / "studio-ext"
    shutil.copytree(REPO / "studio_ext" / "labextension", target, symlinks=False)


def _seed_workspace(path: Path) -> tuple[str, str]:
    """A workspace with a small registered dataset and one finished job."""
    import pandas as pd

    from studio_ext import Workspace, command
    from studio_ext.entities import Data

    ws = Workspace.create(path, name="dashboard-tests")
    try:
        csv = path / "flowers.csv"
        pd.DataFrame(
            {"petal": [1.4, 4.7, 6.0, 1.3, 4.5, 5.1] * 5, "kind": ["a", "b", "c"] * 10}
        ).to_csv(csv, index=False)
        ws.data.create_or_update(Data(name="flowers", path=str(csv), type="tabular"))
        job = ws.jobs.create_or_update(
            command(
                # A metric with all its digits: pages must show it short (the page checks look).
                command="python -c \"import mlflow; mlflow.log_metric('r2', 0.5301234567891234); print(42)\"",
                experiment_name="dashboards",
                display_name="hello-dashboards",
            )
        )
        job = wait_until(lambda: (done := ws.jobs.get(job.name)).status.is_terminal and done, timeout=120,
                         interval=0.2, what=f"the seed job {job.name} to finish")
        assert str(job.status) == "Completed", f"the seed job ended {job.status}: {job.error}"
        return "flowers", "hello-dashboards"
    finally:
        ws.runtime.stop()
        ws.close()


@pytest.fixture(scope="module")
def voila_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoilaServer]:
    """``voila notebooks/dashboards`` on 127.0.0.1, as a user starts it, with no workspace set.

    The workspace, seeded while Voila starts, is passed by URL parameter.
    """
    if not (REPO / "studio_ext" / "labextension" / "package.json").is_file():
        pytest.fail("The JupyterLab extension is not built; run scripts/test-prereqs.sh first.")
    base = tmp_path_factory.mktemp("voila")
    # A copy: from the checkout, a dashboard would find a demo-workspace/ made by `make studio`.
    served = base / "dashboards"
    shutil.copytree(DASHBOARDS, served)
    jupyter_path = base / "jupyter-path"
    _install_extension_as_a_wheel_would(jupyter_path)
    env = dict(os.environ)
    # No harness pages: the dashboards run the product only.
    env.update(_write_isolated_jupyter_dirs(base, harness=False))
    env["JUPYTER_PATH"] = str(jupyter_path)
    env.pop("STUDIO_EXT_WORKSPACE", None)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "voila.log"

    def command(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "voila",
            "--no-browser",
            "--Voila.ip=127.0.0.1",
            f"--Voila.port={port}",
            "--Voila.port_retries=0",
            "--show_tracebacks=True",
            # As notebooks/dashboards/README.md advises: cull the kernels of closed pages.
            "--MappingKernelManager.cull_interval=30",
            "--MappingKernelManager.cull_idle_timeout=120",
            str(served),
        ]

    def answers(running: ServerProcess) -> bool:
        with urllib.request.urlopen(f"{running.url}/", timeout=10):
            return True

    with serve(command, name="voila", ready=answers, log_path=log_path, cwd=base, env=env,
               timeout=VOILA_START_TIMEOUT, wait=False) as running:
        dataset, job = _seed_workspace(base / "studio-ws")
        running.wait_ready()
        yield VoilaServer(running.url, base / "studio-ws", dataset, job, log_path, running.process)


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
class BrowserTab:
    """A browser tab that records console errors and saves screenshots."""

    page: object  # playwright.sync_api.Page
    console: list[ConsoleEntry] = field(default_factory=list)
    checked: int = 0
    # Errors one test expects (e.g. the 400 of a refused request); reset per test.
    expected: list[tuple[re.Pattern[str], re.Pattern[str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        def on_console(message) -> None:
            if message.type == "error":
                self.console.append(
                    ConsoleEntry("error", message.text, (message.location or {}).get("url", ""))
                )

        self.page.on("console", on_console)
        self.page.on(
            "pageerror", lambda exc: self.console.append(ConsoleEntry("exception", str(exc), ""))
        )

    def screenshot(self, name: str, full_page: bool = False) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def expect_console_error(self, text: str, url: str = "") -> None:
        """Tolerate, for the current test only, console errors matching both regexes."""
        self.expected.append((re.compile(text), re.compile(url)))

    def start_test(self) -> None:
        self.checked = len(self.console)
        self.expected.clear()

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


@dataclass
class Lab(BrowserTab):
    """A browser tab on the test JupyterLab, with helpers for the Studio sidebar."""

    server: LabServer | None = None

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


@pytest.fixture(scope="module")
def lab(browser, lab_server: LabServer) -> Iterator[Lab]:
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    page = context.new_page()
    page.set_default_timeout(30_000)
    state = Lab(page=page, server=lab_server)
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
    lab.start_test()
    yield lab
    if getattr(request.node, "studio_call_failed", False):
        lab.screenshot(f"FAILED-{request.node.name}")
    lab.assert_clean()


@dataclass
class Dashboard(BrowserTab):
    """A browser tab on the test Voila server."""

    server: VoilaServer | None = None

    def open(self, page_id: str, workspace: Path | None = None):
        """Load a dashboard and wait for its output (a widget, or an error); returns the output."""
        self.page.goto(self.server.dashboard_url(page_id, workspace))
        output = self.page.locator(".jp-OutputArea-output")
        output.first.wait_for(timeout=RENDER_TIMEOUT_MS)
        errors = self.page.locator(f"{VOILA_ERROR_OUTPUT}")
        self.page.locator(f".jupyter-widgets, {VOILA_ERROR_OUTPUT}").first.wait_for(
            timeout=RENDER_TIMEOUT_MS
        )
        if errors.count():
            pytest.fail(f"dashboard {page_id!r} failed:\n{errors.first.inner_text()[:4000]}")
        return output


# What Voila shows for an exception in a cell (with --show_tracebacks).
VOILA_ERROR_OUTPUT = '[data-mime-type="application/vnd.jupyter.error"], [data-mime-type="application/vnd.jupyter.stderr"]'


@pytest.fixture(scope="module")
def voila_tab(browser, voila_server: VoilaServer) -> Iterator[Dashboard]:
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield Dashboard(page=page, server=voila_server)
    finally:
        context.close()


@pytest.fixture
def dashboards(voila_tab: Dashboard, request: pytest.FixtureRequest) -> Iterator[Dashboard]:
    """The module's Voila tab; the test fails if it logged errors meanwhile."""
    voila_tab.start_test()
    yield voila_tab
    if getattr(request.node, "studio_call_failed", False):
        voila_tab.screenshot(f"FAILED-{request.node.name}")
    voila_tab.assert_clean()
