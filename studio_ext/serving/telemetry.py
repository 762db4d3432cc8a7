"""Request telemetry: OpenTelemetry spans into a local SQLite store, Azure Monitor when configured.

Every server process records one span per request (duration, status, endpoint,
deployment, request id, and what the scoring script printed or logged, as custom
dimensions). Its exporter process (``python -m studio_ext.serving.telemetry``) turns
the records into spans for :class:`SQLiteSpanExporter`, off the request path; with an
Application Insights connection string, the same spans also go to Azure Monitor.
:func:`query_metrics` turns the store into the studio's charts.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from studio_ext.entities import EndpointMetrics
from studio_ext.serving.child_pipe import ChildPipe, read_frames

log = logging.getLogger("studio_ext.telemetry")
CONNECTION_STRING_VARS = ("APPLICATIONINSIGHTS_CONNECTION_STRING",)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    ts REAL NOT NULL, endpoint TEXT NOT NULL, deployment TEXT, request_id TEXT,
    route TEXT, status INTEGER NOT NULL, duration_ms REAL NOT NULL, dims TEXT
);
CREATE INDEX IF NOT EXISTS requests_endpoint_ts ON requests (endpoint, ts);
"""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(_SCHEMA)
    return conn


def _exporter_classes() -> Any:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class SQLiteSpanExporter(SpanExporter):
        """Writes request spans as rows of the workspace's telemetry store."""

        def __init__(self, path: Path) -> None:
            self._conn = _connect(path)

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            rows = []
            for span in spans:
                a = span.attributes or {}
                # custom dimensions: what the scoring code printed or logged
                dims = {k[7:]: list(v) if isinstance(v, tuple) else v for k, v in a.items() if k[:7] == "custom."}
                rows.append((
                    span.start_time / 1e9, a.get("endpoint", ""), a.get("deployment"), a.get("request_id"),
                    a.get("http.route"), int(a.get("http.status_code", 0)),
                    (span.end_time - span.start_time) / 1e6, json.dumps(dims) if dims else None,
                ))
            try:
                with self._conn:
                    self._conn.executemany("INSERT INTO requests VALUES (?,?,?,?,?,?,?,?)", rows)
            except sqlite3.Error:
                log.exception("could not store %d request records", len(rows))
                return SpanExportResult.FAILURE
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            self._conn.close()

    return SQLiteSpanExporter


class SpanWriter:
    """Turns request records into OpenTelemetry spans and hands them to the exporters."""

    def __init__(self, store: Path, service_name: str, connection_string: str | None = None) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.trace import TraceFlags

        self._resource = Resource.create({"service.name": service_name})
        self._sampled = TraceFlags(TraceFlags.SAMPLED)
        self._exporters = [_exporter_classes()(store)]
        if connection_string:
            # Only wired when configured: the exporter talks to Azure over the network.
            from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter
            from opentelemetry.sdk.trace import TracerProvider

            self._exporters.append(AzureMonitorTraceExporter(
                connection_string=connection_string, tracer_provider=TracerProvider(resource=self._resource)))

    def write(self, batch: list[tuple[int, int, dict[str, Any]]]) -> None:
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind

        spans = []
        for start_ns, end_ns, attributes in batch:
            context = SpanContext(trace_id=random.getrandbits(128) or 1, span_id=random.getrandbits(64) or 1,
                                  is_remote=False, trace_flags=self._sampled)
            name = "POST /score" if attributes.get("http.route") == "/score" else "request"
            spans.append(ReadableSpan(name=name, context=context, kind=SpanKind.SERVER, resource=self._resource,
                                      attributes=attributes, start_time=start_ns, end_time=end_ns))
        for exporter in self._exporters:
            try:
                exporter.export(spans)
            except Exception:  # telemetry must never take the server down
                log.exception("exporting %d spans failed", len(spans))

    def shutdown(self) -> None:
        for exporter in self._exporters:
            exporter.shutdown()


class RequestRecorder:
    """One per server process: ``record(...)`` notes a finished request; another process exports.

    The request path only appends a tuple. Every half second a thread ships the
    batch (marshalled, one pipe write) to this server's exporter process, which
    makes the OpenTelemetry spans and writes them. Making spans in the server
    itself cost little CPU but a lot of latency: the exporting thread held the
    GIL for milliseconds at a time while the event loop waited for it.
    """

    def __init__(self, store: Path, service_name: str, connection_string: str | None = None,
                 interval: float = 0.5) -> None:
        self._pending: list[tuple[int, int, dict[str, Any]]] = []
        self._interval = interval
        self._lock = threading.Lock()
        self._pipe = ChildPipe([sys.executable, "-m", "studio_ext.serving.telemetry", str(store), service_name],
                               {**os.environ, CONNECTION_STRING_VARS[0]: connection_string or ""},
                               what="telemetry exporter")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="telemetry", daemon=True)
        self._thread.start()

    @property
    def _exporter(self) -> subprocess.Popen:
        """The exporter process now (another one after a crash)."""
        return self._pipe.process

    def record(self, *, start_ns: int, end_ns: int, attributes: dict[str, Any]) -> None:
        self._pending.append((start_ns, end_ns, attributes))

    def flush(self) -> None:
        """Ship what was recorded so far to the exporter process."""
        with self._lock:
            batch, self._pending = self._pending, []
            if batch:
                self._pipe.send(batch)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Ship the rest and wait until the exporter has written it."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
        self._pipe.close(timeout)


def _export_from_stdin(store: Path, service_name: str) -> int:
    """The exporter process: read marshalled batches from stdin until it closes.

    It runs at a lower priority than the servers: when requests keep every core busy,
    their records wait in the pipe (and, past its buffer, in the server's memory) and
    are written as soon as a core is free, instead of taking CPU from the requests.
    """
    os.nice(10)
    writer = SpanWriter(store, service_name, os.environ.get(CONNECTION_STRING_VARS[0]) or None)
    try:
        for batch in read_frames(sys.stdin.buffer):
            writer.write(batch)
        return 0  # the server closed the pipe (or died): done
    finally:
        writer.shutdown()


def query_metrics(
    store: Path,
    endpoint: str,
    *,
    deployment: str | None = None,
    since: float | None = None,
    until: float | None = None,
    interval_seconds: int = 60,
) -> EndpointMetrics:
    """Requests, failures (status >= 400 but 401) and latency percentiles per time bucket."""
    until = until or time.time()
    since = since if since is not None else until - 3600
    metrics = EndpointMetrics(endpoint_name=endpoint, deployment_name=deployment, interval_seconds=interval_seconds)
    if not store.exists():
        return metrics
    conn = _connect(store)
    try:
        q = "SELECT ts, status, duration_ms FROM requests WHERE endpoint = ? AND ts >= ? AND ts <= ?"
        args: list[Any] = [endpoint, since, until]
        if deployment is not None:
            q += " AND deployment = ?"
            args.append(deployment)
        rows = conn.execute(q, args).fetchall()
    finally:
        conn.close()
    if not rows:
        return metrics
    data = np.asarray(rows, dtype=float)
    ts, status, duration = data[:, 0], data[:, 1].astype(int), data[:, 2]
    failed = (status >= 400) & (status != 401)
    buckets = np.floor(ts / interval_seconds).astype(np.int64)
    for bucket in np.unique(buckets):
        sel = buckets == bucket
        p50, p95, p99 = np.percentile(duration[sel], [50, 95, 99])
        metrics.series.append({"time": float(bucket * interval_seconds), "requests": int(sel.sum()),
                               "failures": int(failed[sel].sum()), "p50_ms": float(p50),
                               "p95_ms": float(p95), "p99_ms": float(p99)})
    metrics.total_requests = len(rows)
    metrics.total_failures = int(failed.sum())
    metrics.requests_per_minute = len(rows) * 60.0 / max(until - since, 1.0)
    metrics.p50_ms, metrics.p95_ms, metrics.p99_ms = (float(v) for v in np.percentile(duration, [50, 95, 99]))
    codes, counts = np.unique(status, return_counts=True)
    metrics.by_status = {int(c): int(n) for c, n in zip(codes, counts)}
    return metrics


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(_export_from_stdin(Path(sys.argv[1]), sys.argv[2]))
