"""The shared widget pieces: one fetch per key for many pages, stopping, escaping, code box."""

from __future__ import annotations

import threading
import time

import ipywidgets as widgets
import plotly.graph_objects as go

from studio_ext import Workspace
from studio_ext.panels._widgets import CodeBox, Message, SharedPoller, format_value, html_table, show_figures
from studio_ext.panels.run_details import smooth
from tests.helpers import wait_until


def test_pages_watching_one_key_share_each_fetch_and_the_thread_stops_when_nobody_watches() -> None:
    poller = SharedPoller(interval=0.02)
    calls = {"n": 0}
    seen_a, seen_b = [], []

    def fetch() -> int:
        calls["n"] += 1
        return calls["n"]

    sub_a = poller.subscribe("job-1", fetch, lambda value, error: seen_a.append(value))
    poller.subscribe("job-1", fetch, lambda value, error: seen_b.append(value) if len(seen_b) < 3 else False)
    wait_until(lambda: len(seen_a) >= 6, timeout=10.0, interval=0.01)
    assert poller.fetch_counts["job-1"] == calls["n"], "one fetch per tick for both pages"
    assert seen_b == [v for v in seen_a if v in seen_b][:3] and len(seen_b) == 3, "False unsubscribes"
    sub_a.cancel()
    wait_until(lambda: poller._thread is None, timeout=10.0, interval=0.01)
    assert poller.watching() == []
    n = calls["n"]
    time.sleep(0.1)
    assert calls["n"] == n, "no fetching once nobody watches"


def test_fetch_errors_reach_the_page_and_a_broken_page_does_not_stop_others() -> None:
    poller = SharedPoller(interval=0.02)
    errors, good = [], []

    def failing() -> None:
        raise RuntimeError("store unreachable")

    poller.subscribe("bad", failing, lambda value, error: errors.append(str(error)) if len(errors) < 2 else False)
    poller.subscribe("x", lambda: 1, lambda value, error: 1 / 0)  # raises: dropped, logged
    poller.subscribe("y", lambda: 2, lambda value, error: good.append(value) if len(good) < 3 else False)
    wait_until(lambda: poller._thread is None, timeout=10.0, interval=0.01)
    assert errors == ["store unreachable", "store unreachable"] and good == [2, 2, 2]


def test_one_poller_per_workspace_keeps_the_shortest_interval(workspace) -> None:
    a = SharedPoller.for_workspace(workspace, 2.0)
    b = SharedPoller.for_workspace(Workspace(workspace.path), 0.5)
    assert a is b and a.interval == 0.5


def test_table_cells_are_escaped_unless_marked_as_html() -> None:
    out = html_table(["a<b", "raw"], [["<script>x</script>", "<b>ok</b>"]], raw_columns=[1])
    assert "&lt;script&gt;" in out and "<script>" not in out and "<b>ok</b>" in out
    assert "a&lt;b" in out
    assert "Nothing" in html_table(["a"], [], empty="Nothing here")


def test_code_box_and_message_keep_plain_text() -> None:
    box = CodeBox()
    box.show("ws.jobs.search(['e'], filter=\"metrics.a > 1\")")
    assert box.code == "ws.jobs.search(['e'], filter=\"metrics.a > 1\")"
    assert "filter=&quot;metrics.a &gt; 1&quot;" in box.value
    msg = Message()
    msg.error("bad <input>")
    assert msg.text == "bad <input>" and msg.kind == "error" and "&lt;input&gt;" in msg.value
    msg.clear()
    assert msg.value == "" and msg.text == ""


def test_figures_go_into_the_output_from_any_thread() -> None:
    out = widgets.Output()
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    fig.update_layout(title="loss")
    worker = threading.Thread(target=show_figures, args=(out, [fig, fig]))
    worker.start()
    worker.join()
    assert len(out.outputs) == 2
    assert out.outputs[0]["data"]["application/vnd.plotly.v1+json"]["data"][0]["y"] == [3, 4]
    assert out.outputs[0]["data"]["text/plain"] == "<Figure: loss>"


def test_smoothing_is_a_debiased_moving_average() -> None:
    assert smooth([1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]
    smoothed = smooth([1.0, 1.0, 1.0, 10.0], 0.5)
    assert smoothed[:3] == [1.0, 1.0, 1.0], "debiasing: a constant stays constant from the first point"
    assert 1.0 < smoothed[3] < 10.0


def test_table_cells_show_pandas_timestamps_and_leave_missing_ones_blank() -> None:
    import pandas as pd

    frame = pd.DataFrame({"when": pd.to_datetime(["2013-01-01 05:00", None])})
    assert [format_value(v) for v in frame["when"]] == ["2013-01-01 05:00", ""]
