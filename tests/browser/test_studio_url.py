"""A job's studio_url, opened in chromium, shows the Jobs page with that run's details."""

from __future__ import annotations

import pytest

from studio_ext import Workspace, command
from tests.browser.conftest import Lab, LabServer
from tests.helpers import wait_until

pytestmark = pytest.mark.browser


def test_studio_url_opens_the_runs_details(browser, lab_server: LabServer) -> None:
    ws = Workspace(lab_server.workspace)
    try:
        job = ws.jobs.create_or_update(command(
            command="python -c \"import mlflow; mlflow.log_metric('linked_metric', 0.5)\"",
            experiment_name="studio-url", display_name="opened-from-its-url"))
        done = wait_until(lambda: (j := ws.jobs.get(job.name)).status.is_terminal and j, timeout=120, interval=0.3,
                          what=f"job {job.name} to finish")
        assert str(done.status) == "Completed", done.error
    finally:
        ws.close()
    url = done.studio_url
    assert url and url.startswith(f"{lab_server.url}/lab?studio-run={job.name}&"), url

    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    tab = Lab(page=context.new_page(), server=lab_server)
    tab.page.set_default_timeout(60_000)
    try:
        tab.page.goto(url)  # a new browser: the token in the URL is its login
        jobs = tab.wait_rendered("jobs")
        # The run's page in place of the list: its display name as the title, then its name and experiment.
        jobs.locator("h3", has_text="opened-from-its-url").wait_for()
        jobs.get_by_text(f"{job.name} · experiment studio-url").wait_for()
        assert jobs.locator("select option:checked", has_text="studio-url").count() == 1, \
            "the run's experiment is the one selected"
        assert "studio-run" not in tab.page.url, "the link's parameters are dropped once acted on"
        title = jobs.locator("h3", has_text="opened-from-its-url").bounding_box()
        assert title is not None and 0 <= title["y"] < 960, f"the run's page is in view, not below the fold: {title}"
        tab.page.wait_for_timeout(500)
        tab.screenshot("studio-url-run-details")
        tab.assert_clean()
    except Exception:
        tab.screenshot("FAILED-test_studio_url_opens_the_runs_details")
        raise
    finally:
        context.close()
