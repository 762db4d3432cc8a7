"""Every Voila dashboard in notebooks/dashboards renders its page in chromium.

One ``voila notebooks/dashboards`` per module (as a user starts it: no workspace in
the environment); each dashboard gets the workspace by URL parameter, and one is
opened without it to check the message that says how to set one.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from studio_ext.panels import PAGES

pytestmark = pytest.mark.browser

PLOTLY = ".js-plotly-plot"
# Text each dashboard shows from the seeded workspace (a page without any shows its title).
SEEDED_TEXT = {
    "data": lambda server: server.dataset,
    "jobs": lambda server: server.job_display_name,
}


def _wait_for_charts(output) -> None:
    charts = output.locator(PLOTLY)
    for index in range(charts.count()):
        charts.nth(index).locator(".main-svg").first.wait_for(state="attached", timeout=30_000)


@pytest.mark.parametrize("page_id", list(PAGES))
def test_dashboard_renders_its_page(dashboards, page_id: str) -> None:
    server = dashboards.server
    output = dashboards.open(page_id, server.workspace)
    assert output.locator(".jupyter-widgets").count() > 0, "the dashboard shows no widgets"
    expect(output.first).not_to_contain_text("No workspace to show")
    # The page's own title, and what it shows of the seeded workspace.
    expect(output.first).to_contain_text(PAGES[page_id].title.split()[0])
    seeded = SEEDED_TEXT.get(page_id)
    if seeded:
        expect(output.first).to_contain_text(seeded(server))
    # No code cells: Voila shows outputs only.
    assert dashboards.page.locator(".jp-InputArea, .jp-Cell-inputWrapper").count() == 0
    _wait_for_charts(output)
    dashboards.page.wait_for_timeout(300)  # let the layout settle before the screenshot
    dashboards.screenshot(f"voila-{page_id}", full_page=True)
    dashboards.assert_clean()


def test_dashboard_without_a_workspace_says_how_to_set_one(dashboards) -> None:
    output = dashboards.open(next(iter(PAGES)))
    message = output.locator(".studio-ext-message")
    expect(message).to_contain_text("No workspace to show")
    expect(message).to_contain_text("?workspace=/path/to/workspace")
    expect(message).to_contain_text("STUDIO_EXT_WORKSPACE")
    dashboards.screenshot("voila-no-workspace")
    dashboards.assert_clean()


def test_data_dashboard_profiles_a_dataset_into_a_plotly_chart(dashboards) -> None:
    """A user action in a dashboard round-trips through its kernel and draws a chart."""
    server = dashboards.server
    output = dashboards.open("data", server.workspace)
    output.get_by_label("Open").select_option(server.dataset)
    output.get_by_role("tab", name="Profile").click()
    output.get_by_role("button", name="Profile").click()
    chart = output.locator(f"{PLOTLY} .main-svg").first
    chart.wait_for(timeout=60_000)
    expect(output.locator(f"{PLOTLY} .barlayer .point").first).to_be_attached()
    dashboards.screenshot("voila-data-profile", full_page=True)
    dashboards.assert_clean()
