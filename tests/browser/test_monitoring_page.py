"""The Monitoring page in chromium (Voila dashboard): a dataset monitor backfilled over four weeks (one empty,
one shifted) is listed with its alert badge, opened, and each of its tabs and the page's Alerts tab checked as a
person would (no cut-off labels, no long numbers, no blank dropdowns); screenshots at 1600x1000 go to
test-artifacts/screenshots/monitoring-*.png."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from studio_ext import Workspace
from studio_ext.entities import Data
from tests.browser.page_checks import page_problems, screenshot
from tests.helpers import wait_until
from tests.panels.test_monitoring_panel import _frames

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def backfilled(voila_server) -> Iterator[str]:
    """A weekly dataset monitor whose backfill job has completed (one alert raised)."""
    ws = Workspace.from_config(voila_server.workspace)
    folder = voila_server.workspace.parent / "monitoring-data"
    folder.mkdir(exist_ok=True)
    base, traffic = _frames()
    base.to_csv(folder / "base.csv", index=False)
    traffic.to_csv(folder / "traffic.csv", index=False)
    try:
        for name in ("base", "traffic"):
            ws.data.create_or_update(Data(name=name, path=str(folder / f"{name}.csv"), type="mltable"))
        ws.data_drift.create("traffic-weekly", baseline="base", target="traffic", timestamp_column="ts",
                             frequency="Week", drift_threshold=30, alert_emails=["ops@example.com"])
        job = ws.data_drift.backfill("traffic-weekly", "2026-01-05", "2026-02-02")
        done = wait_until(lambda: (j := ws.jobs.get(job.name)).status.is_terminal and j, timeout=240, interval=0.5,
                          what="the backfill job")
        assert str(done.status) == "Completed", done.error
        yield "traffic-weekly"
    finally:
        ws.runtime.stop()
        ws.close()


def test_a_backfilled_monitor_is_seen_whole(dashboards, backfilled: str) -> None:
    page = dashboards.page
    page.set_viewport_size({"width": 1600, "height": 1000})
    output = dashboards.open("monitoring", dashboards.server.workspace)
    expect(output.first).to_contain_text("1 alert")
    problems = [f"[list] {p}" for p in page_problems(page, output.first)]
    screenshot(page, "monitoring-list", full_page=False)
    output.get_by_role("tab", name="Alerts (1)").click()
    expect(output.first).to_contain_text("not sent locally")
    problems += [f"[alerts] {p}" for p in page_problems(page, output.first)]
    screenshot(page, "monitoring-alerts", full_page=False)
    output.get_by_role("tab", name="Monitors").click()
    output.locator(".sx-table .sx-cell.sx-link", has_text=backfilled).first.click()
    output.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    expect(output.first).to_contain_text("4 window(s) (4 backfilled)")
    page.wait_for_timeout(1500)
    problems += [f"[monitor] {p}" for p in page_problems(page, output.first)]
    screenshot(page, "monitoring-monitor", full_page=False)
    output.locator(".js-plotly-plot").nth(2).scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    screenshot(page, "monitoring-monitor-feature", full_page=False)
    for title in ("Data quality", "Feature attribution", "Alerts"):
        output.get_by_role("tab", name=title, exact=True).last.click()
        page.wait_for_timeout(400)
        problems += [f"[{title}] {p}" for p in page_problems(page, output.first)]
    screenshot(page, "monitoring-monitor-alerts", full_page=True)
    assert not problems, "\n".join(dict.fromkeys(problems))
