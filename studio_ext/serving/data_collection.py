"""Model data collection: a deployment's sampled inputs and outputs as JSON Lines, partitioned by hour.

A deployment with ``data_collector=DataCollector(collections={"model_inputs": ..., "model_outputs": ...})``
gets a :class:`CollectionWriter` in each of its server processes. The request path only decides
whether the request is sampled (``sampling_rate``) and appends what it already holds (the parsed
rows, the predictions, the request id, the time) to a list; a writer thread turns the list into
records every quarter second and appends them to
``<datastore>/modelDataCollector/<endpoint>/<deployment>/<collection>/YYYY/MM/DD/HH/<pid>.jsonl``
(Azure's layout: ``rolling_rate`` ``"day"`` drops the hour folder, ``"minute"`` adds one). One file
per server process and partition, so instances never interleave their lines.

Each line is one record in Azure's shape (a CloudEvents envelope): ``specversion``, ``id``,
``source``, ``type`` (``azureml.inference.<collection>``), ``time``, ``data`` (the rows, as a list of
column -> value objects), ``correlationid`` and ``xrequestid`` (the request id, the same for a
request's inputs and outputs), ``path``, ``method``, ``modelversion``, ``collectdatatype`` and
``agent``. :func:`read_collected` reads them back as one DataFrame.

Payload logging, Azure's reserved collections ``request`` and ``response``: the HTTP request body
as it came and the response body as it went, one record per request (``data`` the parsed JSON,
or the text when it is not JSON), with the same request id as that request's ``model_inputs`` and
``model_outputs`` records, written the same way (queued on the request path, written by the
writer process, partitioned by the rolling rate) and registered as ``<endpoint>-<deployment>-request``
and ``-response``. :func:`check_names` refuses a collection name that is a near miss of a reserved one.

Each server process keeps ``<deployment folder>/.stats/<pid>.json`` up to date (at most once a
second while it changes): records queued and dropped (past ``MAX_PENDING``), per collection.
:func:`read_stats` sums them over a deployment's processes.

A scoring script collects explicitly with ``from azureml.ai.monitoring import Collector``
(:mod:`studio_ext.compat.azureml_ai_monitoring`); a collection a script collects itself is no
longer collected automatically from its requests.
"""

from __future__ import annotations

import logging
import marshal
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

# The request context and the active writer live with the Collector stand-in, which reads them.
from studio_ext.compat.azureml_ai_monitoring._sink import RequestContext, activate, active, current
from studio_ext.serving.child_pipe import ChildPipe, read_frames

__all__ = ["CollectionWriter", "RequestContext", "activate", "active", "check_names", "current", "partition",
           "read_collected", "read_stats"]

log = logging.getLogger("studio_ext.data_collection")
FOLDER = "modelDataCollector"
INPUTS, OUTPUTS = "model_inputs", "model_outputs"
REQUEST, RESPONSE = "request", "response"  # payload logging: the HTTP bodies as they came and went
# Azure's reserved names; any other is a custom collection that a scoring script's Collector(name=...) fills
KNOWN = (INPUTS, OUTPUTS, REQUEST, RESPONSE)
STATS = ".stats"  # <deployment folder>/.stats/<pid>.json: a server's queued and dropped counts, per collection
ROLLING_RATES = ("minute", "hour", "day")
AGENT = "studio-ext-data-collector/1.0"
# Records waiting in a server (the writer process behind): past this many, new ones are dropped and counted.
MAX_PENDING = int(os.environ.get("STUDIO_EXT_COLLECTION_MAX_PENDING", "20000"))
_DEPTH = {"day": 3, "hour": 4, "minute": 5}


def deployment_folder(root: Path, endpoint: str, deployment: str) -> Path:
    """Where a deployment's collections go (one folder each), under the workspace datastore's folder ``root``."""
    return Path(root) / FOLDER / endpoint / deployment


def datastore_path(endpoint: str, deployment: str, collection: str) -> str:
    """The collection's folder as a path in the workspace datastore (Azure's ``modelDataCollector/...``)."""
    return f"{FOLDER}/{endpoint}/{deployment}/{collection}"


def partition(ts: float, rolling_rate: str | None = "hour") -> str:
    """``YYYY/MM/DD/HH`` (``rolling_rate`` hour) of a UTC time, as Azure's collector names its folders."""
    parts = time.strftime("%Y/%m/%d/%H/%M", time.gmtime(ts)).split("/")
    return "/".join(parts[:_DEPTH.get(rolling_rate or "hour", 4)])


class CollectionWriter:
    """One per server process: ``put(...)`` on the request path; another process writes the records.

    ``config``: ``folder`` (the deployment's ``modelDataCollector/<endpoint>/<deployment>``),
    ``collections`` (name -> enabled), ``sampling_rate``, ``rolling_rate``, ``capture_headers``,
    ``model_version``.

    The request path appends a tuple of what it already holds. Every ``interval`` a thread ships
    the batch (marshalled, one pipe write) to this server's writer process
    (``python -m studio_ext.serving.data_collection``), which makes the records and appends them
    to the files at the lowest priority (nice 19, and Linux's SCHED_IDLE where allowed): when
    requests keep every core busy, collection waits for a free core instead of taking one from
    them. Building 100 rows' objects and their
    JSON costs about half of what scoring them does. Past ``MAX_PENDING`` records waiting in the
    server, new ones are dropped and counted (``dropped``, and a warning in the server log).
    """

    def __init__(self, config: dict[str, Any], endpoint: str, deployment: str, interval: float = 0.25) -> None:
        self.folder = Path(config["folder"])
        self.collections = {str(k): bool(v) for k, v in (config.get("collections") or {}).items()}
        rate = config.get("sampling_rate")
        self.sampling_rate = 1.0 if rate is None else float(rate)
        self._always = self.sampling_rate >= 1.0
        self.payloads = self.collections.get(REQUEST, False) or self.collections.get(RESPONSE, False)
        self.rolling_rate = config.get("rolling_rate") or "hour"
        self.capture_headers = [h.lower() for h in config.get("capture_headers") or []]
        self.claimed: set[str] = set()  # collected by the scoring script itself (Collector)
        self.dropped = 0
        self.queued: dict[str, int] = {}  # records queued per collection (shipped, or waiting)
        self.dropped_by: dict[str, int] = {}  # records dropped per collection (past MAX_PENDING)
        self._stats_path = self.folder / STATS / f"{os.getpid()}.json"
        self._stats_written: tuple[Any, ...] = ()
        self._stats_at = 0.0
        self._settings = {"folder": str(self.folder), "rolling_rate": self.rolling_rate,
                          "source": f"/onlineEndpoints/{endpoint}/deployments/{deployment}",
                          "model_version": str(config.get("model_version") or "default"), "pid": os.getpid()}
        self._pending: list[tuple[Any, ...]] = []
        self._interval = interval
        self._stop = threading.Event()
        self._warned: set[str] = set()
        self._pipe = ChildPipe([sys.executable, "-m", "studio_ext.serving.data_collection",
                                orjson.dumps(self._settings).decode()], what="data collection writer")
        self._thread = threading.Thread(target=self._run, name="data-collection", daemon=True)
        self._thread.start()

    # -- the request path ------------------------------------------------------------------
    def sample(self) -> bool:
        """Is this request collected? (one draw per request, for its inputs and outputs alike)"""
        return self._always or random.random() < self.sampling_rate

    def enabled(self, collection: str) -> bool:
        return self.collections.get(collection, False)

    def automatic(self, collection: str) -> bool:
        """Collected from the request itself: enabled, and not collected by the script's own Collector."""
        return self.collections.get(collection, False) and collection not in self.claimed

    def put(self, collection: str, request_id: str, ts: float, kind: str, payload: Any,
            columns: Sequence[str] | None = None, headers: dict[str, str] | None = None) -> None:
        """Queue one record; ``kind`` says how ``payload`` becomes rows: rows, predictions, body or frame."""
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            self.dropped_by[collection] = self.dropped_by.get(collection, 0) + 1
            self.warn_once("dropped", f"data collection is behind by {MAX_PENDING} records: dropping new ones "
                           "(counted) until the writer catches up; lower data_collector.sampling_rate")
            return
        self._pending.append((collection, request_id, ts, kind, payload, columns, headers))

    def warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    # -- the shipping thread -----------------------------------------------------------------
    def flush(self) -> None:
        """Ship what was queued so far to the writer process (the thread does this every ``interval``)."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        for item in batch:
            self.queued[item[0]] = self.queued.get(item[0], 0) + 1
        # the common items (a body's bytes, a prediction array) take one conversion and no trial
        # marshal of their own; anything marshal refuses sends the batch the item-by-item way
        fast = [_quick(item) for item in batch]
        try:
            frame = marshal.dumps(fast)
        except ValueError:
            frame = marshal.dumps([_shippable(item) for item in batch])
        self._pipe.send_frame(frame)

    def write_stats(self, force: bool = False) -> None:
        """Write this server's queued and dropped counts (when they changed, at most once a second)."""
        state = (tuple(sorted(self.queued.items())), tuple(sorted(self.dropped_by.items())))
        moment = time.monotonic()
        if state == self._stats_written or (not force and moment - self._stats_at < 1.0):
            return
        try:
            self._stats_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._stats_path.with_suffix(".tmp")
            tmp.write_bytes(orjson.dumps({"pid": os.getpid(), "queued": self.queued, "dropped": self.dropped_by,
                                          "max_pending": MAX_PENDING}))
            os.replace(tmp, self._stats_path)
        except OSError as exc:
            self.warn_once("stats", f"could not write the collection counts to {self._stats_path}: {exc}")
        self._stats_written, self._stats_at = state, moment

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
                self.write_stats()
            except Exception:
                log.exception("data collection failed")

    def shutdown(self, timeout: float = 60.0) -> None:
        """Ship the rest and wait until the writer process has written it."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
        self.write_stats(force=True)
        self._pipe.close(timeout)


def read_stats(folder: str | os.PathLike[str]) -> dict[str, dict[str, int]]:
    """A deployment's collection counts summed over its server processes: ``{"queued": {collection: n},
    "dropped": {collection: n}}`` (``folder`` the deployment's ``modelDataCollector/<endpoint>/<deployment>``)."""
    total: dict[str, dict[str, int]] = {"queued": {}, "dropped": {}}
    for path in sorted((Path(folder) / STATS).glob("*.json")):
        try:
            found = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        for key in ("queued", "dropped"):
            for collection, n in (found.get(key) or {}).items():
                total[key][collection] = total[key].get(collection, 0) + int(n)
    return total


def check_names(collections: dict[str, bool], *, scripted: bool) -> None:
    """Refuse collection names (name -> enabled) that cannot be what was meant: a near miss of a reserved name
    (``requests``, ``Model_Inputs``), or, on a deployment without a scoring script, an enabled custom
    collection nothing could fill."""
    import difflib

    for name, enabled in collections.items():
        if name in KNOWN:
            continue
        close = difflib.get_close_matches(name.lower(), KNOWN, n=1, cutoff=0.75)
        if name.lower() in KNOWN or close:
            meant = name.lower() if name.lower() in KNOWN else close[0]
            raise ValueError(
                f"The collection {name!r} is not a collection name Azure knows: did you mean {meant!r}? The reserved "
                f"names are {', '.join(KNOWN)} (model_inputs/model_outputs the model's rows and predictions, "
                "request/response the HTTP payloads); any other name is a custom collection a scoring script fills "
                "with Collector(name=...).")
        if enabled and not scripted:
            raise ValueError(
                f"The collection {name!r} is a custom collection, filled only by a scoring script's "
                f"Collector(name={name!r}), and this deployment has no scoring script (an MLflow model served "
                f"with no code). Collect {', '.join(KNOWN)}, or give code_configuration with a scoring script.")


def _quick(item: tuple[Any, ...]) -> tuple[Any, ...]:
    """A queued tuple as marshal may take it: an array payload as a list, all else as queued."""
    payload = item[4]
    if type(payload) is bytes or type(payload) is list:
        return item
    if type(payload).__name__ == "ndarray":
        collection, request_id, ts, kind, _, columns, headers = item
        return collection, request_id, ts, kind, payload.tolist(), columns, headers
    return _shippable(item)


def _shippable(item: tuple[Any, ...]) -> tuple[Any, ...]:
    """A queued tuple in types marshal takes (arrays as lists, frames and anything else as JSON)."""
    collection, request_id, ts, kind, payload, columns, headers = item
    if hasattr(payload, "tolist") and not hasattr(payload, "columns"):
        payload = payload.tolist()
    elif kind == "frame" or hasattr(payload, "columns"):  # pandas writes the JSON (in C); the writer reads it
        kind, payload = "json_records", _frame(payload).to_json(orient="records", date_format="iso")
    columns = list(columns) if columns is not None else None
    try:
        marshal.dumps(payload)  # what ChildPipe.send will do with it
    except ValueError:
        kind, payload = "json", orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return collection, request_id, ts, kind, payload, columns, headers


class RecordWriter:
    """The writer process's half: batches of queued tuples → Azure-shaped records in the partition files."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.folder = Path(settings["folder"])
        self.rolling_rate = settings.get("rolling_rate") or "hour"
        self.source = settings.get("source") or ""
        self.model_version = settings.get("model_version") or "default"
        self.file_name = f"{settings.get('pid') or os.getpid()}.jsonl"
        self._warned: set[str] = set()
        self._paths: dict[tuple[str, int], Path] = {}  # (collection, minute) -> file
        self._stamps: dict[int, str] = {}  # second -> ISO text up to the seconds

    def write(self, batch: list[tuple[Any, ...]]) -> None:
        lines: dict[Path, list[bytes]] = {}
        for collection, request_id, ts, kind, payload, columns, headers in batch:
            try:
                if kind == "json":
                    kind, payload = "predictions", orjson.loads(payload)
                data = to_records(kind, payload, columns)
                record = self._record(collection, request_id, ts, data, headers)
                if kind == "payload":  # the body as sent, not rows
                    record["data"], record["collectdatatype"] = data[0], "payload"
                    del record["contentrange"]
                line = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
            except Exception as exc:  # noqa: BLE001 - one bad record must not stop the others
                self._warn(f"{collection}:{type(exc).__name__}",
                           f"could not collect a {collection} record: {type(exc).__name__}: {exc}")
                continue
            lines.setdefault(self._path(collection, ts), []).append(line)
        for path, chunk in lines.items():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "ab") as out:
                    out.write(b"\n".join(chunk) + b"\n")
            except OSError as exc:
                self._warn(f"write:{path.parent}", f"could not write collected data to {path}: {exc}")

    def _path(self, collection: str, ts: float) -> Path:
        key = (collection, int(ts // 60))
        path = self._paths.get(key)
        if path is None:
            if len(self._paths) > 1000:
                self._paths.clear()
            path = self._paths[key] = self.folder / collection / partition(ts, self.rolling_rate) / self.file_name
        return path

    def _stamp(self, ts: float) -> str:
        second = int(ts)
        text = self._stamps.get(second)
        if text is None:
            if len(self._stamps) > 1000:
                self._stamps.clear()
            text = self._stamps[second] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{text}.{int((ts - second) * 1000):03d}Z"

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    def _record(self, collection: str, request_id: str, ts: float, data: list[Any],
                headers: dict[str, str] | None) -> dict[str, Any]:
        stamp = self._stamp(ts)
        size = len(data)
        record = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": self.source,
                  "type": f"azureml.inference.{collection}", "datacontenttype": "application/json", "time": stamp,
                  "data": data, "path": "/score", "method": "POST", "contentrange": f"rows 0-{max(size - 1, 0)}/{size}",
                  "correlationid": request_id, "xrequestid": request_id, "modelversion": self.model_version,
                  "collectdatatype": "pandas.core.frame.DataFrame", "agent": AGENT}
        if headers:
            record["headers"] = headers
        return record


def _write_from_stdin(settings: dict[str, Any]) -> int:
    """The writer process: read marshalled batches from stdin until it closes, at the lowest priority."""
    os.nice(19)
    try:  # below nice 19 where the system allows: the writer runs only on a core nothing else wants
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        pass
    writer = RecordWriter(settings)
    for batch in read_frames(sys.stdin.buffer):
        writer.write(batch)
    return 0  # the server closed the pipe (or died): done


def to_records(kind: str, payload: Any, columns: Sequence[str] | None = None) -> list[Any]:
    """What the request path held → a list of row objects (column -> value)."""
    if kind == "rows":
        names = list(columns) if columns else None
        out = []
        for row in payload:
            if isinstance(row, dict):
                out.append(row)
            elif isinstance(row, (list, tuple)):
                out.append(dict(zip(names or [str(i) for i in range(len(row))], row)))
            else:
                out.append({(names or ["0"])[0]: row})
        return out
    if kind == "body":  # a scoring script's request body: the rows of any format the server reads
        from studio_ext.serving.http_protocol import HttpError
        from studio_ext.serving.parsers import rows_from_payload

        parsed = orjson.loads(payload) if isinstance(payload, (bytes, str)) else payload
        try:
            rows, given, _ = rows_from_payload(parsed, list(columns) if columns else None)
        except HttpError:
            return to_records("predictions", parsed)
        return to_records("rows", rows, columns or given)
    if kind == "frame":
        return _frame_records(payload)
    if kind == "json_records":
        return orjson.loads(payload)
    if kind == "payload":  # an HTTP body: one item, the JSON it holds or its text
        return [_payload(payload)]
    return _prediction_records(payload)


def _payload(body: Any) -> Any:
    if isinstance(body, (bytes, bytearray, str)):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            return body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
    return body


def _frame(value: Any) -> Any:
    """A DataFrame (a Series as one) with string column names."""
    import pandas as pd

    frame = value.to_frame() if isinstance(value, pd.Series) else value
    if any(not isinstance(c, str) for c in frame.columns):
        frame = frame.copy()
        frame.columns = [str(c) for c in frame.columns]
    return frame


def _frame_records(frame: Any) -> list[Any]:
    """A DataFrame's rows as objects, times as ISO text (as Azure's collector writes them)."""
    if hasattr(frame, "to_json") and hasattr(frame, "index"):
        return orjson.loads(_frame(frame).to_json(orient="records", date_format="iso"))
    return _prediction_records(frame)


def _prediction_records(value: Any) -> list[Any]:
    """Predictions (array, list, DataFrame, {"predictions": [...]}) → one object per row."""
    import numpy as np

    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        return _frame_records(value)
    if isinstance(value, (bytes, bytearray)):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return [{"predictions": value.decode("utf-8", "replace")}]
    if isinstance(value, dict):  # {"predictions": [...], ...}: a row per item of its lists (of one length)
        lists = {str(k): _listed(v) for k, v in value.items() if isinstance(v, (list, np.ndarray))}
        if len(lists) == 1:
            key, inner = next(iter(lists.items()))
            return [v if isinstance(v, dict) else {key: v} for v in inner]
        if lists and len({len(v) for v in lists.values()}) == 1:
            return [dict(zip(lists, row)) for row in zip(*lists.values())]
        return [value]
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list):
        return [v if isinstance(v, dict) else {"predictions": v} for v in value]
    return [{"predictions": value}]


def _listed(value: Any) -> list[Any]:
    return value.tolist() if hasattr(value, "tolist") else list(value)


def read_collected(folder: str | os.PathLike[str], start: datetime | None = None, end: datetime | None = None,
                   *, metadata: bool = True) -> Any:
    """The rows of a collection folder as one DataFrame (``start <= time < end``, UTC when naive).

    With ``metadata``, each row also has ``correlationid`` (the request id) and ``time`` (a UTC
    timestamp). A ``request`` or ``response`` collection gives one row per request, its body in
    ``data``. Only the partition folders that can hold the range are opened.
    """
    import pandas as pd

    root = Path(folder)
    lo = _utc(start).timestamp() if start is not None else None
    hi = _utc(end).timestamp() if end is not None else None
    rows: list[dict[str, Any]] = []
    for path in sorted(_files(root, lo, hi)):
        with open(path, "rb") as source:
            for line in source:
                line = line.strip()
                if not line:
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a line cut short by a crash mid-write
                ts = datetime.fromisoformat(str(record.get("time", "")).replace("Z", "+00:00")).timestamp()
                if (lo is not None and ts < lo) or (hi is not None and ts >= hi):
                    continue
                extra = {"correlationid": record.get("correlationid"), "time": ts} if metadata else {}
                if record.get("collectdatatype") == "payload":  # request/response: one row, the body
                    rows.append({"data": record.get("data"), **extra})
                    continue
                for item in record.get("data") or []:
                    rows.append({**(item if isinstance(item, dict) else {"value": item}), **extra})
    frame = pd.DataFrame(rows)
    if metadata and not frame.empty:
        frame["time"] = pd.to_datetime(frame["time"], unit="s", utc=True)
    return frame


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _files(root: Path, lo: float | None, hi: float | None) -> Iterable[Path]:
    """The ``*.jsonl`` files under ``root`` whose partition folder (YYYY/MM/DD[/HH[/mm]]) meets the range."""
    for path in root.rglob("*.jsonl"):
        parts = path.relative_to(root).parts[:-1]
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            yield path
            continue
        if not 3 <= len(numbers) <= 5:
            yield path
            continue
        year, month, day, *rest = numbers
        try:
            begin = datetime(year, month, day, *rest, tzinfo=UTC).timestamp()
        except ValueError:
            yield path
            continue
        span = {3: 86400, 4: 3600, 5: 60}[len(numbers)]
        if (hi is not None and begin >= hi) or (lo is not None and begin + span <= lo):
            continue
        yield path


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(_write_from_stdin(orjson.loads(sys.argv[1])))
