"""The Monitoring page on a real workspace: a dataset monitor listed, opened, backfilled from the page (a real
monitor run job followed by the progress bar), its drift magnitude chart with the threshold line, backfilled
windows and a "no data" week; a feature's metric over time and reference-vs-target distributions for a window
picked; alerts in the badge and the list (emails "not sent locally"), acknowledged; enable and disable; the
SDK code and YAML of the monitor."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from studio_ext.entities import Data
from studio_ext.panels import PAGES, open_page
from studio_ext.panels.monitoring import MonitoringPanel
from studio_ext.workspace import Workspace


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A baseline, and four weeks of traffic from Monday 2026-01-05: the second week empty, the fourth shifted."""
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"x": rng.normal(0, 1, 600), "cat": rng.choice(list("abc"), 600)})
    rows = []
    for i, day in enumerate(pd.date_range("2026-01-05", periods=28, freq="D")):
        if 7 <= i < 14:
            continue
        shifted = i >= 21
        for _ in range(40):
            rows.append({"ts": day + pd.Timedelta(hours=int(rng.integers(0, 24))),
                         "x": rng.normal(2.5 if shifted else 0.0, 1),
                         "cat": rng.choice(list("abc"), p=[0.1, 0.1, 0.8] if shifted else [1 / 3] * 3)})
    return base, pd.DataFrame(rows)


@pytest.fixture(scope="module")
def ws(module_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    folder = tmp_path_factory.mktemp("monitoring-data")
    base, traffic = _frames()
    base.to_csv(folder / "base.csv", index=False)
    traffic.to_csv(folder / "traffic.csv", index=False)
    for name in ("base", "traffic"):
        module_workspace.data.create_or_update(Data(name=name, path=str(folder / f"{name}.csv"), type="mltable"))
    return module_workspace


def test_the_page_is_in_the_sidebar_and_says_how_to_make_a_monitor(ws: Workspace) -> None:
    assert PAGES["monitoring"].title == "Monitoring"
    panel = open_page("monitoring", ws)
    assert isinstance(panel, MonitoringPanel)
    assert panel.table.visible_keys() == []
    assert "No monitors yet. Make one with ws.data_drift.create(...)" in panel.table._empty.value
    assert "no alerts" in panel.badge.value
    missing = MonitoringPanel(ws, monitor="nope")
    assert "There is no monitor named 'nope'" in missing.message.text


@pytest.mark.slow(seconds=60)  # two monitor run jobs
def test_a_backfill_from_the_page_charts_windows_features_and_alerts(ws: Workspace) -> None:
    ws.data_drift.create("weekly", baseline="base", target="traffic", timestamp_column="ts", frequency="Week",
                         drift_threshold=30, alert_emails=["ops@example.com"])
    panel = MonitoringPanel(ws)
    assert panel.table.visible_keys() == ["weekly"]
    assert ">Disabled<" in panel.table.cell("weekly", "state") and panel.table.cell("weekly", "last_run") == "never"
    panel.table.open_row("weekly")
    view = panel.view
    assert view is not None and "No results yet" in view.summary.value
    assert "ws.data_drift.create('weekly', baseline='base', target='traffic'" in view.sdk.code
    assert "no v2 YAML of its own" in view.yaml.code

    # Backfill the four weeks from the page: a real job, followed by the progress bar.
    view.start.value, view.end.value = date(2026, 1, 5), date(2026, 2, 1)
    job = view.backfill()
    assert job is not None and view.progress.layout.display is None and view.backfill_button.disabled
    view.wait(240)
    assert ws.jobs.get(job.name).status == "Completed", view.progress_label.value
    assert view.progress.bar_style == "success" and view.progress.value == view.progress.max == 4
    assert "4 of 4 window(s)" in view.progress_label.value and not view.backfill_button.disabled
    assert "ws.data_drift.backfill('weekly', '2026-01-05', '2026-02-02')" in panel.code.code

    # The magnitude chart: backfilled windows marked, the threshold line, the empty week as "no data".
    view = panel.view
    assert view is not None and len(view.drift_results) == 4
    fig = view.magnitude_figure
    names = [t.name for t in fig.data if t.name]
    assert names == ["backfilled"] and len(fig.data[1].x) == 3  # three measured windows, all backfilled
    shapes = [s for s in fig.layout.shapes]
    assert any(s.type == "line" and s.y0 == 30 for s in shapes)  # the threshold
    assert [a.text for a in fig.layout.annotations].count("no data") == 1
    assert "threshold 30" in [a.text for a in fig.layout.annotations]
    lo, hi = (pd.Timestamp(x) for x in fig.layout.xaxis.range)  # the time axis spans the windows' whole weeks
    assert lo < pd.Timestamp("2026-01-05", tz="UTC") and hi > pd.Timestamp("2026-02-01", tz="UTC")
    assert "1 with no data" in view.summary.value and "4 window(s) (4 backfilled)" in view.summary.value
    shifted = max(view.drift_results, key=lambda r: r.drift_magnitude or 0)
    assert shifted.start.date() == date(2026, 1, 26) and shifted.drift_magnitude > 30

    # Per feature: the shifted week is picked first (the highest magnitude); its distributions drawn.
    assert view.window.value == shifted.start.isoformat()
    assert view.feature.options == ("cat", "x") and view.feature.value == "cat"
    assert view.metric.value == "jensen_shannon_distance"
    metric_fig, dist_fig = view.feature_figures
    assert len(metric_fig.data[0].x) == 4 and metric_fig.data[0].y[1] is None  # the empty week is a gap
    assert metric_fig.layout.shapes[0].y0 == 0.1  # Azure's default threshold
    assert [t.name for t in dist_fig.data] == ["reference", "target"] and dist_fig.data[0].type == "bar"
    assert dict(zip(dist_fig.data[1].x, dist_fig.data[1].y, strict=True))["c"] > 0.6
    view.feature.value = "x"
    assert view.metric.value == "normalized_wasserstein_distance"
    hist = view.feature_figures[1]
    assert hist.data[0].type == "histogram" and len(hist.data[1].x) == 7 * 40
    assert float(np.mean(hist.data[1].x)) > 2  # the shifted week's values
    first = view.drift_results[0].start.isoformat()
    view.window.value = first
    assert abs(float(np.mean(view.feature_figures[1].data[1].x))) < 0.5
    assert "280 target rows against 600 reference rows" in view.feature_table.value
    no_data = view.drift_results[1]
    view.window.value = no_data.start.isoformat()
    assert len(view.feature_figures) == 1 and "<b>no data</b>" in view.feature_table.value

    # Alerts: the badge, the list with emails kept as not sent locally, acknowledged.
    assert panel.alert_count == 1 and "1 alert" in panel.badge.value
    assert panel.tabs.get_title(1) == "Alerts (1)"
    assert "not sent locally" in panel.alerts.value and "ops@example.com" in panel.alerts.value
    assert "drift magnitude" in view.alerts.value and "vs 30" in view.alerts.value
    assert ">1 alert<" in panel.table.cell("weekly", "alerts")
    assert panel.acknowledge() == 1
    assert panel.alert_count == 0 and "no alerts" in panel.badge.value and panel.tabs.get_title(1) == "Alerts"

    # Run now: a real run of the monitor as a fire of its schedule would make (its latest whole week, which has
    # no rows), a job tagged as such, followed by the progress bar; the new window appears, not as backfilled.
    run = view.run_now()
    assert run is not None and view.run_button.disabled and "Run now: job" in view.progress_label.value
    view.wait(240)
    assert ws.jobs.get(run.name).status == "Completed" and ws.jobs.get(run.name).tags["monitor_run"] == "run"
    assert "ws.data_drift.run('weekly')" in panel.code.code and view.progress.bar_style == "success"
    view = panel.view
    assert view is not None and len(view.drift_results) == 5
    latest = view.drift_results[-1]
    assert latest.job_name == run.name and not latest.backfill and latest.no_data
    assert latest.end <= datetime.now(UTC) and latest.end - latest.start == timedelta(days=7)
    assert "5 window(s) (4 backfilled)" in view.summary.value

    # Enable, then disable, the monitor's schedule; its YAML appears with the schedule.
    view.toggle()
    view = panel.view
    assert view is not None and view.info.state == "Enabled" and view.toggle_button.description == "Disable"
    assert ">Enabled<" in panel.table.cell("weekly", "state")
    assert "ws.data_drift.enable_schedule('weekly')" in view.sdk.code
    assert "data_drift_monitor" in view.yaml.code or "weekly" in view.yaml.code
    view.toggle()
    assert panel.view is not None and panel.view.info.state == "Disabled"
    assert panel.table.cell("weekly", "last_run") == run.name
    ws.data_drift.delete("weekly")
