"""The scoring server of one deployment instance: one process, run by uvicorn.

``python -m studio_ext.serving.scoring_app SERVER_JSON --fd N`` serves on the
listening socket the supervisor bound for it. Routes:

- ``GET /``, ``/health/live`` (liveness) and ``/health/ready`` (readiness, 503
  until ``init()`` or the model load finished) need no key;
- ``POST /score`` and ``GET /swagger.json`` need ``Authorization: Bearer KEY``.

MLflow models are served with no script: concurrent requests are batched into
one ``predict`` call on a NumPy matrix (no pandas on the hot path for numeric
scikit-learn models). A scoring script follows Azure ML's contract (``init()``
once, ``run(raw_data)`` per request, files under ``AZUREML_MODEL_DIR``); what it
prints or logs during a request becomes custom dimensions of that request's
telemetry. SIGHUP reloads the script without a restart; SIGTERM drains.
uvicorn owns the socket, the lifespan and the graceful shutdown; requests are
parsed and answered by :mod:`.http_protocol` (no ASGI on the request path).
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import importlib.util
import io
import itertools
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Awaitable, Callable

import numpy as np
import orjson

from studio_ext.serving.endpoint_files import KeyChecker, exit_when_orphaned
from studio_ext.serving.http_protocol import (
    HttpProtocol,
    Request,
    http_answer,
    new_guid,
    sanitize_request_id,
    uvicorn_protocol,
)

log = logging.getLogger("studio_ext.scoring")
ORPHAN_EXIT_SECONDS = float(os.environ.get("STUDIO_EXT_SERVER_ORPHAN_EXIT", "600"))
_GUID = re.compile(rb"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs", "input_data")
_NUMERIC = {"double", "float", "long", "integer", "boolean"}
_HEALTH = {b"/", b"/health", b"/health/live", b"/health/ready"}
_ROUTES = {b"/score": "/score", "/score": "/score", b"/swagger.json": "/swagger.json", "/swagger.json": "/swagger.json"}
_captured: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("captured", default=None)


class HttpError(Exception):
    """An answer other than 200, with the message the client sees."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


class ModelError(Exception):
    """The model or the scoring script raised while scoring: answered with 424."""


# -- request parsing ------------------------------------------------------------------------------
def rows_from_payload(payload: Any, columns: list[str] | None) -> tuple[list[Any], list[str] | None, bool]:
    """MLflow's and Azure's input formats → (rows in ``columns`` order, columns given, azure style)."""
    if not isinstance(payload, dict) or len(payload) != 1 or next(iter(payload)) not in _FORMATS:
        raise HttpError(400, "The body must be a JSON object with exactly one of the keys "
                        f"{', '.join(_FORMATS)}. See /swagger.json for the schema.")
    key, value = next(iter(payload.items()))
    azure = key == "input_data"
    if key in ("dataframe_split", "input_data") and isinstance(value, dict):
        data, given = value.get("data"), value.get("columns")
        if not isinstance(data, list):
            raise HttpError(400, f"'{key}' needs a 'data' list of rows.")
        if given is not None and given != columns and (
                not isinstance(given, list) or not all(isinstance(c, str) for c in given)):
            raise HttpError(400, f"'{key}.columns' must be a list of column names.")
        return _reorder(data, given, columns), given, azure
    if isinstance(value, dict):  # {"col": [values...]}: columnar instances/inputs
        if not all(isinstance(v, list) for v in value.values()):
            raise HttpError(400, f"'{key}' as an object must map each column to a list of values.")
        lengths = {len(v) for v in value.values()}
        if len(lengths) > 1:
            raise HttpError(400, f"The columns of '{key}' have different lengths: {sorted(lengths)}.")
        records = [dict(zip(value, vals)) for vals in zip(*value.values())]
        return _from_records(records, columns), list(value), azure
    if not isinstance(value, list):
        raise HttpError(400, f"'{key}' must be a list of rows or records.")
    if value and all(isinstance(r, dict) for r in value):
        return _from_records(value, columns), None, azure
    if key == "dataframe_records":
        raise HttpError(400, "'dataframe_records' must be a list of objects (one per row).")
    return value, None, azure


def _reorder(data: list[Any], given: list[str] | None, columns: list[str] | None) -> list[Any]:
    if not given or not columns or given == columns:
        return data
    missing = [c for c in columns if c not in given]
    if missing:
        raise HttpError(400, f"The input lacks the column(s) {', '.join(missing)}; the model needs {', '.join(columns)}.")
    index = [given.index(c) for c in columns]
    try:
        return [[row[i] for i in index] for row in data]
    except (IndexError, TypeError, KeyError):
        raise HttpError(400, f"Each row must be a list of {len(given)} values, one per column.") from None


def _from_records(records: list[dict[str, Any]], columns: list[str] | None) -> list[Any]:
    names = columns or list(records[0])
    try:
        return [[r[c] for c in names] for r in records]
    except KeyError as exc:
        raise HttpError(400, f"A record lacks the column {exc.args[0]!r}; the model needs {', '.join(names)}.") from None


# -- models ---------------------------------------------------------------------------------------
class MlflowScorer:
    """Loads an MLflow model (after its integrity check) and predicts on batches of rows."""

    def __init__(self, model_dir: Path, model: dict[str, Any]) -> None:
        self.signature = model.get("signature") or {}
        inputs = [c for c in self.signature.get("inputs") or [] if isinstance(c, dict)]
        self.columns = [c["name"] for c in inputs if c.get("name")] or None
        self.numeric = bool(inputs) and all(c.get("type") in _NUMERIC for c in inputs)
        self._estimator: Any = None
        self._pyfunc: Any = None
        serialization = model.get("serialization")
        trusted = list(model.get("trusted_types") or [])
        if "sklearn" in model.get("flavors", []) and serialization == "skops":
            import skops.io

            meta = _read_mlmodel(model_dir)
            weights = model_dir / meta["flavors"]["sklearn"]["pickled_model"]
            untrusted = set(skops.io.get_untrusted_types(file=str(weights))) - set(trusted)
            if untrusted:
                raise PermissionError(
                    f"The model holds types that were not trusted at registration: {', '.join(sorted(untrusted))}. "
                    "Register it again with Model(..., trusted_types=[...]) if you trust its source.")
            self._estimator = skops.io.load(str(weights), trusted=trusted)
        elif serialization in ("pickle", "cloudpickle") and not model.get("allow_pickle"):
            raise PermissionError(
                f"The model is a {serialization}; loading it would run code stored in the file. "
                "Register it with Model(..., allow_pickle=True) if you trust its source.")
        elif "sklearn" in model.get("flavors", []):
            import mlflow.sklearn

            self._estimator = mlflow.sklearn.load_model(str(model_dir))
        else:
            import mlflow.pyfunc

            self._pyfunc = mlflow.pyfunc.load_model(str(model_dir))
        if self._estimator is not None and self.columns is None and hasattr(self._estimator, "feature_names_in_"):
            self.columns = [str(c) for c in self._estimator.feature_names_in_]
        self.fast = self._estimator is not None and (self.numeric or not inputs)
        self._finite_context: Any = None
        if self.fast:
            from sklearn import config_context

            self._finite_context = config_context
        self.width = len(self.columns) if self.columns else getattr(self._estimator, "n_features_in_", None)
        self._onnx: Any = None
        if self.fast and self.width:
            from studio_ext.serving.onnx_predict import onnx_predictor

            self._onnx = onnx_predictor(self._estimator, self._example_matrix(model.get("input_example")), self.width)

    def _example_matrix(self, example: Any) -> Any:
        try:
            return self.to_matrix(rows_from_payload(example, self.columns)[0])
        except HttpError:
            return None

    def to_matrix(self, rows: list[Any]) -> Any:
        """Rows → what ``predict`` takes: a float matrix on the fast path, else a DataFrame."""
        if not rows:
            raise HttpError(400, "The input has no rows.")
        if self.fast:
            try:
                width = len(rows[0]) if isinstance(rows[0], list) else -1
                if width > 0 and all(type(r) is list and len(r) == width for r in rows):
                    # Twice as fast as np.asarray on nested lists, once the shape is known.
                    flat = itertools.chain.from_iterable(rows)
                    matrix = np.fromiter(flat, np.float64, count=len(rows) * width).reshape(len(rows), width)
                else:
                    matrix = np.asarray(rows, dtype=np.float64)
            except (ValueError, TypeError):
                raise HttpError(400, "Every value must be a number, and every row the same length"
                                + (f" ({self.width} values: {', '.join(self.columns)})." if self.columns else ".")) from None
            if matrix.ndim == 1 and self.width == 1:
                matrix = matrix.reshape(-1, 1)
            if matrix.ndim != 2 or (self.width is not None and matrix.shape[1] != self.width):
                raise HttpError(400, f"Each row must have {self.width} values"
                                + (f" ({', '.join(self.columns)})" if self.columns else "")
                                + f"; got shape {list(matrix.shape)}.")
            return matrix
        import pandas as pd

        try:
            return pd.DataFrame(rows, columns=self.columns)
        except (ValueError, TypeError) as exc:
            raise HttpError(400, f"The rows do not fit the model's columns: {exc}") from None

    def predict(self, batch: Any) -> Any:
        model = self._estimator if self._estimator is not None else self._pyfunc
        try:
            if self._onnx is not None and isinstance(batch, np.ndarray) and len(batch) <= self._onnx.max_rows:
                result = self._onnx.predict(batch)
            elif self._finite_context is not None and isinstance(batch, np.ndarray):
                # A matrix from JSON holds finite numbers only (JSON has no NaN or infinity, and
                # orjson refuses overflow), so scikit-learn's finiteness scan, a fifth of a
                # small predict, is skipped.
                with self._finite_context(assume_finite=True):
                    result = model.predict(batch)
            else:
                result = model.predict(batch)
        except Exception as exc:  # the model's own failure: 424 to the caller, details to the log
            log.error("predict failed:\n%s", traceback.format_exc())
            raise ModelError(f"{type(exc).__name__}: {exc}") from exc
        if hasattr(result, "to_dict") and hasattr(result, "columns"):
            return result.to_dict(orient="records")
        array = np.asarray(result)
        # Numeric arrays go to orjson as they are (no Python floats in between).
        return array if array.dtype.kind in "fiub" else array.tolist()


def _read_mlmodel(model_dir: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8")) or {}


class Batcher:
    """Gathers requests that arrive while ``predict`` runs and scores them in one call."""

    def __init__(self, scorer: MlflowScorer, executor: ThreadPoolExecutor, max_rows: int = 20000) -> None:
        self._scorer = scorer
        self._executor = executor
        self._max_rows = max_rows
        self._queue: list[tuple[Any, asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.batches = 0  # predict calls
        self.batched = 0  # requests they answered

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def submit(self, matrix: Any, timeout: float) -> list[Any]:
        """The rows' predictions; TimeoutError once ``timeout`` seconds pass (a timer, not a task)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((matrix, future))
        if not self._wake.is_set():
            self._wake.set()
        timer = loop.call_later(timeout, _expire, future)
        try:
            return await future
        finally:
            timer.cancel()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                items, rows = [], 0
                while self._queue and (not items or rows + len(self._queue[0][0]) <= self._max_rows):
                    matrix, future = self._queue.pop(0)
                    if not future.done():
                        items.append((matrix, future))
                        rows += len(matrix)
                if not items:
                    continue
                self.batches += 1
                self.batched += len(items)
                fast = isinstance(items[0][0], np.ndarray)
                if fast and len(items) > 1:
                    batch = np.concatenate([m for m, _ in items])
                elif fast or len(items) == 1:
                    batch = items[0][0] if len(items) == 1 else None
                else:
                    import pandas as pd

                    batch = pd.concat([m for m, _ in items], ignore_index=True)
                try:
                    # Inline: while predict holds the loop, new requests wait in the socket
                    # buffers and all join the next batch (a thread hop would cost more
                    # than a fast predict, and the GIL gives no overlap anyway).
                    result = self._scorer.predict(batch)
                except Exception as exc:  # every waiter gets the model's error
                    for _, future in items:
                        if not future.done():
                            future.set_exception(exc)
                    await asyncio.sleep(0)
                    continue
                start = 0
                for matrix, future in items:
                    end = start + len(matrix)
                    if not future.done():
                        future.set_result(result[start:end])
                    start = end
                await asyncio.sleep(0)  # let the answers go out and new requests in


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class _Capture(io.TextIOBase):
    """stdout/stderr that also collects what a request's scoring code prints."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        captured = _captured.get()
        if captured is not None:
            # print() writes its pieces separately: keep whole lines only.
            *lines, captured["partial"] = (captured.get("partial", "") + text).split("\n")
            captured["lines"].extend(line[:2000] for line in lines if line.strip())
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return False


class _CaptureHandler(logging.Handler):
    """Log records of a request's scoring code become its custom dimensions."""

    def emit(self, record: logging.LogRecord) -> None:
        captured = _captured.get()
        if captured is None:
            return
        captured["lines"].append(f"{record.levelname} {record.getMessage()}"[:2000])
        extra = getattr(record, "custom_dimensions", None)
        if isinstance(extra, dict):
            captured["dims"].update({str(k): str(v)[:1000] for k, v in extra.items()})


class ScriptScorer:
    """Azure ML's contract: ``init()`` once, then ``run(raw_data)`` per request."""

    def __init__(self, code_dir: Path, script: str, generation: int) -> None:
        path = code_dir / script
        spec = importlib.util.spec_from_file_location(f"score_{generation}_{uuid.uuid4().hex[:6]}", path)
        if spec is None or spec.loader is None:
            raise FileNotFoundError(f"The scoring script {path} cannot be imported.")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(code_dir)) if str(code_dir) not in sys.path else None
        spec.loader.exec_module(module)
        for name in ("init", "run"):
            if not callable(getattr(module, name, None)):
                raise AttributeError(f"The scoring script {script} has no {name}() function; Azure ML's contract needs init() and run(raw_data).")
        module.init()
        self.module = module

    def run(self, raw: str) -> Any:
        try:
            return self.module.run(raw)
        except Exception as exc:  # the script's own failure: 424 to the caller, details to the log
            log.error("run() raised:\n%s", traceback.format_exc())
            raise ModelError(f"{type(exc).__name__}: {exc}") from exc


# -- the app -------------------------------------------------------------------------------------
class ScoringApp:
    """The ASGI app; state is this process's only (the supervisor keeps the rest)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.name = str(config["deployment"])
        self.endpoint = str(config["endpoint"])
        settings = config.get("request_settings") or {}
        self.timeout = float(settings.get("request_timeout_ms", 5000)) / 1000.0
        self.max_concurrent = max(1, int(settings.get("max_concurrent_requests_per_instance", 1)))
        self.max_body = int(settings.get("max_body_bytes", 10 * 1024 * 1024))
        self.keys = KeyChecker(Path(config["keys_path"]))
        self.ready = False
        self.draining = False
        self.code_version = int(config.get("code_version", 0))
        self.reload_error: str | None = None
        self.in_flight = 0
        self.scorer: MlflowScorer | None = None
        self.script: ScriptScorer | None = None
        self.batcher: Batcher | None = None
        self._executor = ThreadPoolExecutor(max_workers=max(4, 2 * self.max_concurrent), thread_name_prefix="score")
        self._predict_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self._gate = asyncio.Semaphore(self.max_concurrent)
        self._openapi: bytes | None = None
        self._base_headers = [(b"azureml-model-deployment", self.name.encode())]
        self._ok_head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nazureml-model-deployment: %b\r\n" % (
            self.name.encode())
        self.recorder = None
        if config.get("telemetry_path"):
            from studio_ext.serving.telemetry import RequestRecorder

            self.recorder = RequestRecorder(Path(config["telemetry_path"]), f"{self.endpoint}/{self.name}",
                                            config.get("connection_string"))

    # -- loading ------------------------------------------------------------------------------
    def load(self) -> None:
        """Verify the model files, then load the model or run ``init()``; readiness follows."""
        from studio_ext.serving.model_files import verify_files

        model = self.config.get("model")
        if model:
            verify_files(Path(model["root"]), model["files"])
        if self.config.get("scoring_script"):
            self.script = ScriptScorer(Path(self.config["code_dir"]), self.config["scoring_script"], self.code_version)
        else:
            self.scorer = MlflowScorer(Path(model["root"]) / model["mlflow_subpath"], model)
        from studio_ext.ml.openapi import scoring_openapi

        signature = (model or {}).get("signature")
        sample = (model or {}).get("input_example")
        self._openapi = json.dumps(scoring_openapi(title=f"{self.endpoint}/{self.name}",
                                                   signature=signature, sample=sample)).encode()
        self.ready = True
        log.info("deployment %s ready", self.name)

    def reload(self) -> None:
        """SIGHUP: import the (updated) scoring script again and run its init(); keep the old one on failure."""
        try:
            config = json.loads(Path(self.config["config_path"]).read_text())
            version = int(config.get("code_version", 0))
            if config.get("scoring_script"):
                script = ScriptScorer(Path(config["code_dir"]), config["scoring_script"], version)
                self.script = script
            self.code_version, self.reload_error = version, None
            log.info("reloaded the scoring script (code version %s)", version)
        except Exception as exc:  # keep serving with the old script; the supervisor shows the reason
            self.reload_error = f"{type(exc).__name__}: {exc}"
            self.code_version = int(json.loads(Path(self.config["config_path"]).read_text()).get("code_version", 0))
            log.error("reload failed, the previous script keeps serving:\n%s", traceback.format_exc())

    # -- requests -------------------------------------------------------------------------------
    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]) -> None:
        """uvicorn's lifespan; requests never come this way (see :class:`ScoringConnection`)."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    def too_large(self, size: int) -> bytes:
        rid = new_guid()
        self._record(time.time_ns(), rid, "/score", "POST", 413, None)
        return http_answer(413, {"error": f"The body is {size} bytes or more; this deployment takes at most "
                                          f"{self.max_body}.", "request_id": rid},
                           self._base_headers + [(b"x-request-id", rid.encode()), (b"x-ms-request-id", rid.encode())],
                           close=True)

    async def handle(self, request: Request) -> bytes:
        """One request's whole answer: key, limits, scoring, and its telemetry record."""
        start_ns = time.time_ns()
        path, method = request.path, request.method
        auth = client_id = server_id = ctype = None
        for key, value in request.headers:
            if key == b"authorization":
                auth = value
            elif key == b"x-request-id":
                client_id = value
            elif key == b"x-ms-request-id":
                server_id = value
            elif key == b"content-type":
                ctype = value
        server_rid = server_id.decode() if server_id and _GUID.match(server_id) else new_guid()
        request_id = sanitize_request_id(client_id) or server_rid
        ids = self._base_headers + [(b"x-request-id", request_id.encode()), (b"x-ms-request-id", server_rid.encode())]
        if path in _HEALTH and method in (b"GET", b"HEAD"):
            return self._health(path, ids)
        dims: dict[str, Any] = {"lines": [], "dims": {}}
        status = 500
        try:
            if not self.keys.check(auth):
                raise HttpError(401, "A valid key is required: send 'Authorization: Bearer <key>'. "
                                "Get the keys with ws.online_endpoints.get_keys(name).",
                                [(b"www-authenticate", b"Bearer")])
            if self.draining:
                raise HttpError(503, "The deployment is shutting down; retry shortly.", [(b"retry-after", b"1")])
            if path == b"/swagger.json" and method == b"GET":
                if self._openapi is None:
                    raise HttpError(503, "The deployment is still initializing.", [(b"retry-after", b"1")])
                status = 200
                return http_answer(200, self._openapi, ids)
            if path != b"/score":
                raise HttpError(404, f"There is no route {path.decode('latin-1')}. Score with POST /score; "
                                "the schema is at /swagger.json.")
            if method != b"POST":
                raise HttpError(405, "Score with POST /score.", [(b"allow", b"POST")])
            if not self.ready:
                raise HttpError(503, "The deployment is still initializing (init() has not finished).",
                                [(b"retry-after", b"1")])
            if self.in_flight >= 2 * self.max_concurrent:
                raise HttpError(429, f"Too many requests in flight (max_concurrent_requests_per_instance="
                                f"{self.max_concurrent}); retry after a moment.", [(b"retry-after", b"1")])
            self.in_flight += 1
            try:
                result = await self._score(request.body, ctype, dims)
            except TimeoutError:
                raise HttpError(408, f"The request took longer than request_timeout_ms={int(self.timeout * 1000)}.") from None
            finally:
                self.in_flight -= 1
            status = 200
            return self._ok_head + b"x-request-id: %b\r\nx-ms-request-id: %b\r\ncontent-length: %d\r\n\r\n%b" % (
                ids[-2][1], ids[-1][1], len(result), result)
        except HttpError as err:
            status = err.status
            return http_answer(err.status, {"error": err.message, "request_id": request_id}, ids + err.headers)
        except ModelError as err:
            status = 424
            reason = str(err).replace("\r", " ").replace("\n", " ")[:300]
            return http_answer(424, {"error": "The model raised an error while scoring; see the deployment logs.",
                                     "request_id": request_id}, ids + [
                (b"ms-azureml-model-error-reason", reason.encode("ascii", "replace")),
                (b"ms-azureml-model-error-statuscode", b"500")])
        except Exception:  # a bug of ours: never a stack trace to the client
            log.error("request %s failed:\n%s", request_id, traceback.format_exc())
            status = 500
            return http_answer(500, {"error": "Internal server error.", "request_id": request_id}, ids)
        finally:
            self._record(start_ns, request_id, path, method, status, dims)

    def _record(self, start_ns: int, request_id: str, path: bytes | str, method: bytes | str, status: int,
                dims: dict[str, Any] | None) -> None:
        if self.recorder is None:
            return
        attributes: dict[str, Any] = {
            "endpoint": self.endpoint, "deployment": self.name, "request_id": request_id,
            "http.route": _ROUTES.get(path, "other"),
            "http.method": method if isinstance(method, str) else method.decode("latin-1"),
            "http.status_code": status}
        if dims and (dims["lines"] or dims["dims"] or dims.get("partial")):
            if dims.get("partial", "").strip():
                dims["lines"].append(dims["partial"][:2000])
            if dims["lines"]:
                attributes["custom.log"] = tuple(dims["lines"][:50])
            for k, v in dims["dims"].items():
                attributes[f"custom.{k}"] = v
        self.recorder.record(start_ns=start_ns, end_ns=time.time_ns(), attributes=attributes)

    async def _score(self, body: bytes, ctype: bytes | None, dims: dict[str, Any]) -> bytes:
        is_json = ctype is None or b"json" in ctype
        payload: Any = None
        if is_json:
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise HttpError(400, f"The body is not valid JSON: {exc}.") from None
        if self.script is not None:
            token = _captured.set(dims)
            context = contextvars.copy_context()
            _captured.reset(token)
            async with asyncio.timeout(self.timeout), self._gate:
                raw = body.decode("utf-8", errors="replace")
                result = await asyncio.get_running_loop().run_in_executor(self._executor, context.run, self.script.run, raw)
            if isinstance(result, (bytes, bytearray)):
                return bytes(result)
            try:
                return orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY)
            except TypeError as exc:
                raise ModelError(f"run() returned something that is not JSON: {exc}") from None
        assert self.scorer is not None and self.batcher is not None  # set once ready
        rows, _, azure = rows_from_payload(payload, self.scorer.columns)
        predictions = await self.batcher.submit(self.scorer.to_matrix(rows), self.timeout)
        return orjson.dumps(predictions if azure else {"predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY)

    def _health(self, path: bytes, ids: list[tuple[bytes, bytes]]) -> bytes:
        if path == b"/health/ready":
            state = {"status": "ready" if self.ready else "initializing", "code_version": self.code_version,
                     "reload_error": self.reload_error, "in_flight": self.in_flight, "pid": os.getpid(),
                     "predict_calls": self.batcher.batches if self.batcher else 0,
                     "batched_requests": self.batcher.batched if self.batcher else 0}
            return http_answer(200 if self.ready and not self.draining else 503, state, ids)
        return http_answer(200, b'"Healthy"', ids)

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                loop = asyncio.get_running_loop()
                self._loop = loop
                loop.add_signal_handler(signal.SIGHUP, lambda: threading.Thread(target=self.reload, daemon=True).start())
                loop.create_task(exit_when_orphaned(Path(self.config["workspace"]), ORPHAN_EXIT_SECONDS,
                                                    lambda: os.kill(os.getpid(), signal.SIGTERM)))
                threading.Thread(target=self._load_in_background, daemon=True, name="init").start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _load_in_background(self) -> None:
        try:
            self.load()
            # The model and the libraries are loaded for good: keep them out of the cyclic
            # garbage collector, whose full passes over them paused requests for tens of ms.
            gc.collect()
            gc.freeze()
            if self.scorer is not None:
                def start_batcher() -> None:
                    self.batcher = Batcher(self.scorer, self._predict_pool)
                    self.batcher.start()

                self._loop.call_soon_threadsafe(start_batcher)
        except BaseException as exc:  # the deployment fails with the reason; the supervisor shows it
            reason = f"{type(exc).__name__}: {exc}" if not hasattr(exc, "message") else exc.message
            log.error("the deployment could not start:\n%s", traceback.format_exc())
            failure = Path(self.config["failure_dir"]) / f"{os.getpid()}.json"
            failure.write_text(json.dumps({"pid": os.getpid(), "reason": reason, "at": time.time()}))
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(3)


class ScoringConnection(HttpProtocol):
    """A client connection of the deployment server (the router's, mostly)."""

    def __init__(self, app: ScoringApp) -> None:
        super().__init__()
        self.app = app

    def max_body(self) -> int:
        return self.app.max_body

    def too_large_answer(self, size: int) -> bytes:
        return self.app.too_large(size)

    async def handle(self, request: Request) -> bytes:
        return await self.app.handle(request)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    argv = sys.argv[1:] if argv is None else argv
    config_path = Path(argv[0])
    fd = int(argv[argv.index("--fd") + 1])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger().addHandler(_CaptureHandler())
    sys.stdout = _Capture(sys.stdout)
    sys.stderr = _Capture(sys.stderr)
    import warnings

    # Rows arrive without column names on the fast path; the signature already ordered them.
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    try:  # the server checked the input already; skip scikit-learn's per-call parameter checks
        import sklearn

        sklearn.set_config(skip_parameter_validation=True)
    except ImportError:
        pass
    config = json.loads(config_path.read_text())
    config["config_path"] = str(config_path)
    app = ScoringApp(config)
    grace = float((config.get("request_settings") or {}).get("request_timeout_ms", 5000)) / 1000.0 + 5.0

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            app.draining = True  # new requests get 503; those in flight finish
            super().handle_exit(sig, frame)

    sock = socket.socket(fileno=fd)
    server = DrainingServer(uvicorn.Config(
        app, loop="uvloop", http=uvicorn_protocol(ScoringConnection, app), lifespan="on", log_level="warning", access_log=False,
        timeout_keep_alive=30, timeout_graceful_shutdown=int(grace), backlog=2048))
    try:
        server.run(sockets=[sock])
    finally:
        if app.recorder is not None:
            app.recorder.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
