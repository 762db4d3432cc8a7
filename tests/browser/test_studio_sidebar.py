"""The Studio sidebar in a real JupyterLab and chromium: pages render, the kernel recovers.

Every page in ``studio_ext.panels.PAGES`` is opened and checked; the test-only
harness page (harness/studio_ext_test_harness.py) checks the rendering machinery
itself: controls, a kernel round trip, a plotly Figure and a FigureWidget.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from studio_ext import Workspace
from studio_ext.panels import PAGES
from tests.helpers import wait_until

pytestmark = pytest.mark.browser

JS_ERROR_BOX = ".jupyter-widgets-error-widget"
HARNESS = "test-harness"
FIGURE_WIDGET = "test-figurewidget"
WIDGETS = ".jp-OutputArea .lm-Widget.jupyter-widgets, .jp-OutputArea .widget-box"
PLOTLY = ".js-plotly-plot"
TRACEBACK = ('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], '
             '.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]')


def _check_widgets_and_charts(content) -> None:
    assert content.locator(WIDGETS).count() > 0, "the page shows no widgets"
    assert content.locator('[data-mime-type="application/vnd.jupyter.error"]').count() == 0
    # Every plotly chart on the page must have drawn its SVG.
    charts = content.locator(PLOTLY)
    for index in range(charts.count()):
        charts.nth(index).locator(".main-svg").first.wait_for(state="attached", timeout=30_000)


def test_sidebar_shows_workspace_summary_and_pages(studio) -> None:
    sidebar = studio.open_sidebar()
    expect(sidebar.locator(".jp-StudioSidebar-workspaceName")).to_have_text("browser-tests")
    expect(sidebar).to_have_attribute("data-workspace", str(studio.server.workspace))
    expect(sidebar.locator('[data-count="running-jobs"]')).to_have_attribute("data-value", "0")
    expect(sidebar.locator('[data-count="queued-jobs"]')).to_have_attribute("data-value", "0")
    expected = [*PAGES, HARNESS, FIGURE_WIDGET]
    buttons = sidebar.locator("button.jp-StudioSidebar-page")
    buttons.first.wait_for()
    shown = [buttons.nth(i).get_attribute("data-page-id") for i in range(buttons.count())]
    assert sorted(shown) == sorted(set(expected))
    studio.screenshot("sidebar")
    studio.assert_clean()


def test_harness_page_renders_widgets_and_plotly(studio) -> None:
    content = studio.open_studio_page(HARNESS)
    studio.wait_rendered(HARNESS)
    _check_widgets_and_charts(content)
    # A go.Figure shown in an Output widget.
    content.locator(f".studio-harness-figure {PLOTLY} .main-svg").first.wait_for()
    studio.screenshot(f"page-{HARNESS}")
    studio.assert_clean()


def test_figurewidget_renders_through_anywidget(studio) -> None:
    content = studio.open_studio_page(FIGURE_WIDGET)
    studio.wait_rendered(FIGURE_WIDGET)
    # anywidget is registered on the extension's widget manager, so the view loads
    # (else a JS error box shows), and its module was preloaded by URL, so the model
    # initializes within anywidget's 2 s and the figure gets its data.
    content.locator(f"{PLOTLY} .main-svg").first.wait_for(timeout=60_000)
    content.locator(f"{PLOTLY} .scatterlayer .trace").first.wait_for(timeout=30_000)
    # The kernel sent the module's URL, not the module.
    esm = studio.page.evaluate(
        """() => {
            const entries = performance.getEntriesByType('resource');
            return entries.filter(e => e.name.includes('/studio-ext/widget-modules/plotly.js')).length;
        }"""
    )
    assert esm >= 1, "plotly's widget module was not loaded from the server extension"
    studio.screenshot(f"page-{FIGURE_WIDGET}")
    studio.assert_clean()


def test_harness_round_trips_through_the_kernel(studio) -> None:
    content = studio.open_studio_page(HARNESS)
    studio.wait_rendered(HARNESS)
    content.locator(".studio-harness-button").click()
    content.locator(".studio-harness-clicks", has_text="clicks: 1").wait_for()
    content.locator(".studio-harness-button").click()
    content.locator(".studio-harness-clicks", has_text="clicks: 2").wait_for()
    studio.assert_clean()


def test_choosing_an_open_page_reuses_its_tab(studio) -> None:
    studio.open_studio_page(HARNESS)
    studio.wait_rendered(HARNESS)
    studio.open_studio_page(HARNESS)
    assert studio.page.locator('.jp-StudioPage[data-studio-page="test-harness"]').count() == 1
    tabs = studio.page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text="Test harness")
    assert tabs.count() == 1
    studio.assert_clean()


@pytest.mark.parametrize("page_id", list(PAGES))
def test_every_page_renders(studio, page_id: str) -> None:
    content = studio.open_studio_page(page_id)
    studio.wait_rendered(page_id)
    _check_widgets_and_charts(content)
    studio.page.wait_for_timeout(500)  # let charts settle before the screenshot
    studio.screenshot(f"page-{page_id}")
    studio.assert_clean()


def test_restart_kernel_rebuilds_the_page(studio) -> None:
    content = studio.open_studio_page(HARNESS)
    studio.wait_rendered(HARNESS)
    before = studio.render_count(HARNESS)
    studio.page.locator(
        '.jp-StudioPageWidget:not(.lm-mod-hidden) .jp-StudioPage-restart'
    ).click()
    studio.wait_rendered(HARNESS, after=before)
    expect(content.locator(".jp-StudioPage-notice")).to_contain_text("restarted")
    _check_widgets_and_charts(content)
    # The rebuilt page talks to the new kernel.
    content.locator(".studio-harness-button").click()
    content.locator(".studio-harness-clicks", has_text="clicks: 1").wait_for()
    studio.screenshot(f"page-{HARNESS}-after-restart")
    studio.assert_clean()


def test_page_recovers_after_the_kernel_crashes(studio) -> None:
    content = studio.open_studio_page(HARNESS)
    studio.wait_rendered(HARNESS)
    before = studio.render_count(HARNESS)
    content.locator(".studio-harness-crash").click()
    # The server restarts the dead kernel; the page is rebuilt on the new one.
    studio.wait_rendered(HARNESS, after=before)
    expect(content.locator(".jp-StudioPage-notice")).to_contain_text("restarted")
    content.locator(".studio-harness-button").click()
    content.locator(".studio-harness-clicks", has_text="clicks: 1").wait_for()
    studio.assert_clean()


def test_open_pages_come_back_after_a_reload(studio) -> None:
    studio.open_studio_page(HARNESS)
    studio.wait_rendered(HARNESS)
    studio.page.reload()
    # The layout restorer reopens the tab; it joins the same kernel and renders again.
    studio.wait_rendered(HARNESS)
    tabs = studio.page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text="Test harness")
    expect(tabs).to_have_count(1)
    studio.assert_clean()


def test_page_recovers_after_the_kernel_is_shut_down(studio) -> None:
    content = studio.open_studio_page(HARNESS)
    studio.wait_rendered(HARNESS)
    before = studio.render_count(HARNESS)
    sessions = studio.server.api("GET", "api/sessions")
    (session,) = [s for s in sessions if s["path"] == "studio-ext-sidebar"]
    studio.server.api("DELETE", f"api/sessions/{session['id']}")
    restart = content.locator(".jp-StudioPage-noticeRestart")
    restart.wait_for()
    expect(content.locator(".jp-StudioPage-notice")).to_contain_text("died or was shut down")
    restart.click()
    studio.wait_rendered(HARNESS, after=before)
    _check_widgets_and_charts(content)
    studio.assert_clean()


def test_switching_workspace_rebuilds_open_pages(studio, tmp_path) -> None:
    other = Workspace.create(tmp_path / "other-ws", name="other-workspace")
    try:
        content = studio.open_studio_page(HARNESS)
        studio.wait_rendered(HARNESS)
        before = studio.render_count(HARNESS)
        sidebar = studio.open_sidebar()
        field = sidebar.locator(".jp-StudioSidebar-workspaceInput")

        # A folder that is not a workspace is refused with the server's explanation
        # (the browser logs the 400 answer).
        studio.expect_console_error(r"status of 400", r"/studio-ext/workspace")
        field.fill(str(tmp_path))
        sidebar.get_by_role("button", name="Open").click()
        error = sidebar.locator(".jp-StudioSidebar-workspace .jp-StudioSidebar-error")
        expect(error).to_contain_text("not a studio workspace")
        expect(sidebar.locator(".jp-StudioSidebar-workspaceName")).to_have_text("browser-tests")

        field.fill(str(other.path))
        sidebar.get_by_role("button", name="Open").click()
        sidebar.locator(".jp-StudioSidebar-workspaceName", has_text="other-workspace").wait_for()
        studio.wait_rendered(HARNESS, after=before)
        content.get_by_text("other-workspace").first.wait_for()
        toolbar = studio.page.locator(
            ".jp-StudioPageWidget:not(.lm-mod-hidden) .jp-StudioPage-toolbarWorkspace"
        )
        expect(toolbar).to_have_text("Workspace: other-workspace")
        studio.screenshot("sidebar-switched-workspace")
    finally:
        # Back to the server's default for the tests that follow.
        field = studio.open_sidebar().locator(".jp-StudioSidebar-workspaceInput")
        field.fill("")
        studio.open_sidebar().get_by_role("button", name="Open").click()
        studio.open_sidebar().locator(
            ".jp-StudioSidebar-workspaceName", has_text="browser-tests"
        ).wait_for()
        other.close()
    studio.assert_clean()


def test_summary_counts_a_running_job(studio) -> None:
    from studio_ext import command

    ws = Workspace(studio.server.workspace)
    job = ws.jobs.create_or_update(
        command(
            command="python -c \"import time; time.sleep(300)\"",
            display_name="sleeper",
            experiment_name="browser-tests",
        )
    )
    sidebar = studio.open_sidebar()
    running = sidebar.locator('[data-count="running-jobs"]')
    try:
        def counted() -> bool:
            if running.get_attribute("data-value") == "1":
                return True
            sidebar.locator(".jp-StudioSidebar-refresh").click()
            studio.page.wait_for_timeout(1000)  # lets the page work, unlike a sleep
            return False

        wait_until(counted, timeout=120, interval=0, what="the sidebar to count the running job")
        studio.screenshot("sidebar-running-job")
    finally:
        ws.jobs.begin_cancel(job.name).result(timeout=60)
    sidebar.locator(".jp-StudioSidebar-refresh").click()
    expect(running).to_have_attribute("data-value", "0")
    ws.close()
    studio.assert_clean()


def test_compute_page_creates_a_cluster_and_lists_it(studio) -> None:
    """The Compute page's form, filled in as a user does, creates a cluster through the kernel."""
    name = "browser-cluster"
    content = studio.open_studio_page("compute")
    studio.wait_rendered("compute")
    content.get_by_role("button", name="New compute").click()
    content.get_by_role("button", name="Compute cluster").click()
    content.get_by_label("Name", exact=True).first.fill(name)  # the Datastores tab, after it, has a Name too
    # A number field sends its value when it loses focus; leave it first, and give the
    # update a moment, so that it reaches the kernel before the click's message.
    content.get_by_label("Maximum nodes").fill("1")
    content.get_by_label("Maximum nodes").press("Tab")
    studio.page.wait_for_timeout(1000)
    # The button's name starts with its icon.
    create = content.get_by_role("button", name=re.compile(r"^\W*Create$"))
    expect(create).to_be_enabled()  # the kernel checked the form
    ws = Workspace(studio.server.workspace)
    try:
        create.click()
        table = content.locator("table", has_text="Nodes (min-max)")
        row = table.locator("tr", has_text=name)
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Compute cluster")
        expect(row).to_contain_text("(0-1)")
        expect(content.get_by_text(f"Creating {name}…", exact=True)).to_be_visible()
        sdk_call = f"ws.compute.begin_create_or_update(AmlCompute(name='{name}'"
        expect(content.get_by_text(sdk_call)).to_be_attached()
        assert ws.compute.get(name).max_nodes == 1
        studio.screenshot("page-compute-created-cluster")
    finally:
        ws.compute.begin_delete(name).result(timeout=120)
        ws.close()
    # The live refresh drops it from the table.
    expect(content.locator("tr", has_text=name)).to_have_count(0, timeout=60_000)
    studio.assert_clean()


def test_data_page_registers_a_csv_through_the_wizard(studio, tmp_path) -> None:
    """The Data page's wizard, clicked through as a user does, registers a file and lists it."""
    csv = tmp_path / "orders.csv"
    csv.write_text("id;amount\n1;2,5\n2;3,0\n3;4,5\n")
    name = "browser-orders"
    content = studio.open_studio_page("data")
    studio.wait_rendered("data")
    content.get_by_role("button", name="Create dataset").click()
    # The wizard's Path (the Datastores tab has a Path field of its own, for browsing).
    content.get_by_placeholder("a file or folder, relative to").fill(str(csv))
    content.get_by_label("Name", exact=True).first.fill(name)  # the Datastores tab, after it, has a Name too
    next_step = content.get_by_role("button", name="Next")
    next_step.click()
    # Settings: the kernel reads the file and previews it with the detected delimiter.
    content.get_by_label("Decimal").select_option(label=", (1,5)")
    preview = content.locator("table", has_text="amount")
    expect(preview.first).to_contain_text("2.5")
    next_step.click()
    next_step.click()
    content.get_by_role("button", name=re.compile(r"^\W*Create$")).click()
    # Registered: the wizard closes, the list has it, and its page opens.
    listed = content.locator("table", has_text="Latest version").locator("tr", has_text=name)
    expect(listed).to_contain_text("tabular", timeout=60_000)
    expect(content.locator("h4", has_text=name)).to_be_visible()
    expect(content.get_by_role("button", name="Next")).to_be_hidden()
    ws = Workspace(studio.server.workspace)
    try:
        data = ws.data.get(name)
        assert (data.row_count, [c.name for c in data.columns]) == (3, ["id", "amount"])
        assert list(ws.data.preview(name, n=3)["amount"]) == [2.5, 3.0, 4.5]
        studio.screenshot("page-data-registered")
    finally:
        ws.data.archive(name)
        ws.close()
    studio.assert_clean()
