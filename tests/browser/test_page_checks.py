"""Every studio page, as a person sees it at 1600x1000 in chromium: nothing cut off, no
long numbers, no blank single-option dropdowns, and a screenshot of each page (and tab)
in test-artifacts/screenshots/check-*.png for review.

Pages are opened as Voila dashboards on the seeded workspace (a dataset, a finished job
with metrics), one tab after another. The checks are :mod:`tests.browser.page_checks`,
which other browser tests call on their own pages too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from studio_ext.panels import PAGES
from tests.browser.conftest import Dashboard, VoilaServer
from tests.browser.page_checks import page_problems, screenshot, visit_tabs

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1600, "height": 1000}


@pytest.fixture(scope="module")
def wide_tab(browser, voila_server: VoilaServer) -> Iterator[Dashboard]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.set_default_navigation_timeout(180_000)  # a dashboard's kernel starts on load: slow on a busy machine
    try:
        yield Dashboard(page=page, server=voila_server)
    finally:
        context.close()


@pytest.mark.parametrize("page_id", list(PAGES))
def test_page_shows_nothing_cut_off_long_or_blank(wide_tab: Dashboard, page_id: str) -> None:
    wide_tab.start_test()
    output = wide_tab.open(page_id, wide_tab.server.workspace).first
    wide_tab.page.wait_for_timeout(1500)  # the page's first refresh
    problems: list[str] = []
    for title in visit_tabs(wide_tab.page, output):
        screenshot(wide_tab.page, f"check-{page_id}" + (f"-{title}" if title else ""))
        problems += [f"[{title or page_id}] {p}" for p in page_problems(wide_tab.page, output)]
    assert not problems, "\n".join(dict.fromkeys(problems))
    wide_tab.assert_clean()


def test_clicking_a_job_row_shows_its_page_in_view(wide_tab: Dashboard) -> None:
    """Jobs > a row: the run's page replaces the list at the top, within the viewport."""
    wide_tab.start_test()
    server = wide_tab.server
    output = wide_tab.open("jobs", server.workspace).first
    row = output.locator(".sx-table .sx-cell.sx-link", has_text=server.job_display_name).first
    row.click()
    back = output.get_by_role("button", name="Jobs")
    back.wait_for(timeout=60_000)
    tabs = output.locator(".lm-TabBar-tab", has_text="Overview").first
    tabs.wait_for(timeout=60_000)
    box = tabs.bounding_box()
    assert box is not None and 0 <= box["y"] < VIEWPORT["height"] - 40, f"the run's page is off-screen: {box}"
    screenshot(wide_tab.page, "check-jobs-opened-run", full_page=False)
    problems = page_problems(wide_tab.page, output)
    assert not problems, "\n".join(problems)
    back.click()
    output.locator(".sx-table").first.wait_for()
    wide_tab.assert_clean()
