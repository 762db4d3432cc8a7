"""Request telemetry: spans into the workspace's store, metrics from it, Azure Monitor only when configured."""

from __future__ import annotations

import time

from studio_ext.serving.telemetry import RequestRecorder, SpanWriter, query_metrics
from tests.helpers import wait_until


def _record(recorder: RequestRecorder, status: int, ms: float, when: float, **extra) -> None:
    start = int(when * 1e9)
    recorder.record(start_ns=start, end_ns=start + int(ms * 1e6), attributes={
        "endpoint": "ep", "deployment": "blue", "request_id": f"r{status}{ms}", "http.route": "/score",
        "http.status_code": status, **extra})


def test_metrics_bucket_requests_failures_and_latency_percentiles(tmp_path):
    store = tmp_path / "telemetry.db"
    assert [type(e).__name__ for e in SpanWriter(store, "ep/blue")._exporters] == ["SQLiteSpanExporter"]
    recorder = RequestRecorder(store, "ep/blue")
    base = (time.time() // 60) * 60 - 120
    for i in range(100):
        _record(recorder, 200, 10 + i, base + 1)
    _record(recorder, 424, 5, base + 61, **{"custom.log": ("scored 3 rows",)})
    _record(recorder, 401, 1, base + 62)  # a refused key is not a failure of the endpoint
    recorder.shutdown()
    m = query_metrics(store, "ep", since=base, until=base + 120, interval_seconds=60)
    assert m.total_requests == 102 and m.total_failures == 1 and m.by_status == {200: 100, 401: 1, 424: 1}
    assert [b["requests"] for b in m.series] == [100, 2] and [b["failures"] for b in m.series] == [0, 1]
    assert m.series[0]["p50_ms"] == 59.5 and 108 < m.series[0]["p99_ms"] < 110
    assert m.requests_per_minute == 102 / 2
    assert query_metrics(store, "ep", deployment="green", since=base, until=base + 120).total_requests == 0


def test_azure_monitor_is_wired_only_with_a_connection_string_and_never_blocks_the_local_store(tmp_path):
    store = tmp_path / "telemetry.db"
    unreachable = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"
    writer = SpanWriter(store, "ep/blue", connection_string=unreachable)
    assert [type(e).__name__ for e in writer._exporters] == ["SQLiteSpanExporter", "AzureMonitorTraceExporter"]
    writer.shutdown()
    recorder = RequestRecorder(store, "ep/blue", connection_string=unreachable)
    _record(recorder, 200, 3, time.time())
    start = time.monotonic()
    recorder.shutdown()
    assert time.monotonic() - start < 30
    assert query_metrics(store, "ep").total_requests == 1


def test_records_survive_a_crashed_exporter_process(tmp_path):
    store = tmp_path / "telemetry.db"
    recorder = RequestRecorder(store, "ep/blue", interval=3600)
    _record(recorder, 200, 1, time.time())
    recorder.flush()
    wait_until(lambda: query_metrics(store, "ep").total_requests >= 1, timeout=30, interval=0.1,
               what="the first record to be exported")
    recorder._exporter.kill()
    recorder._exporter.wait()
    _record(recorder, 200, 2, time.time())
    recorder.shutdown()  # ships the second record through a new exporter process
    assert query_metrics(store, "ep").total_requests == 2
