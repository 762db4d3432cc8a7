"""The scoring server of one deployment instance: one process, run by uvicorn.

``python -m studio_ext.serving.scoring_app SERVER_JSON --fd N`` serves on the
listening socket the supervisor bound for it. Routes:

- ``GET /``, ``/health/live`` (liveness) and ``/health/ready`` (readiness) need no key;
- ``POST /score`` and ``GET /swagger.json`` need ``Authorization: Bearer KEY``.

MLflow models are served with no script: concurrent requests are batched into
one ``predict`` call on a NumPy matrix (no pandas on the hot path for numeric
scikit-learn models). A scoring script follows Azure ML's contract (``init()``
once, ``run(raw_data)`` per request, files under ``AZUREML_MODEL_DIR``); what it
prints or logs during a request becomes custom dimensions of that request's
telemetry. SIGHUP reloads the script without a restart; SIGTERM drains.
uvicorn owns the socket, the lifespan and the graceful shutdown; requests are
parsed and answered by :mod:`.http_protocol` (no ASGI on the request path).

Ready means ready: ``/health/ready`` answers 200, and requests are scored, only
once everything a request needs is in place (the model loaded or ``init()`` run,
the batcher started). Until then scoring and ``/swagger.json`` get 503 with
``Retry-After: 1`` and a ``x-ms-instance-state: initializing`` header, which tells
the router to hold the request for another instance or for this one to be ready.

The parts live beside it: :mod:`.parsers` (input formats → rows), :mod:`.scorers`
(the MLflow model and the scoring script), :mod:`.batching` (one ``predict`` for
the requests that queue meanwhile) and :mod:`.logcapture` (a request's prints and
logs as its telemetry's custom dimensions) and :mod:`.data_collection` (a deployment's
``data_collector``: each sampled request's input rows and predictions, and with ``request`` /
``response`` its HTTP bodies, written by a thread).
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
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
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from studio_ext.serving import data_collection, logcapture
from studio_ext.serving.batching import Batcher
from studio_ext.serving.endpoint_files import KeyChecker, exit_when_orphaned
from studio_ext.serving.http_protocol import (
    HttpError,
    HttpProtocol,
    Request,
    http_answer,
    new_guid,
    sanitize_request_id,
    uvicorn_protocol,
)
from studio_ext.serving.parsers import rows_from_payload
from studio_ext.serving.scorers import MlflowScorer, ModelError, ScriptScorer

log = logging.getLogger("studio_ext.scoring")
ORPHAN_EXIT_SECONDS = float(os.environ.get("STUDIO_EXT_SERVER_ORPHAN_EXIT", "600"))
_GUID = re.compile(rb"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEALTH = {b"/", b"/health", b"/health/live", b"/health/ready"}
# On a 503 while the server starts: the router holds such a request instead of passing the 503 on.
NOT_READY_HEADER = (b"x-ms-instance-state", b"initializing")
_ROUTES = {b"/score": "/score", "/score": "/score", b"/swagger.json": "/swagger.json", "/swagger.json": "/swagger.json"}


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
        self.collector: data_collection.CollectionWriter | None = None
        if config.get("data_collector"):
            self.collector = data_collection.CollectionWriter(config["data_collector"], self.endpoint, self.name)
            data_collection.activate(self.collector)  # for Collector(...) in the scoring script

    # -- loading ------------------------------------------------------------------------------
    def load(self) -> None:
        """Verify the model files, then load the model or run ``init()`` (in a thread; :meth:`become_ready` follows)."""
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

    def become_ready(self) -> None:
        """On the event loop, once :meth:`load` is done: start the batcher, then (last) say ready."""
        if self.scorer is not None and self.batcher is None:
            self.batcher = Batcher(self.scorer, self._predict_pool)
            self.batcher.start()
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
        except Exception as exc:  # noqa: BLE001 - keep serving with the old script; the supervisor shows the reason
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
                if not self.ready or self._openapi is None:
                    raise HttpError(503, "The deployment is still initializing.",
                                    [(b"retry-after", b"1"), NOT_READY_HEADER])
                status = 200
                return http_answer(200, self._openapi, ids)
            if path != b"/score":
                raise HttpError(404, f"There is no route {path.decode('latin-1')}. Score with POST /score; "
                                "the schema is at /swagger.json.")
            if method != b"POST":
                raise HttpError(405, "Score with POST /score.", [(b"allow", b"POST")])
            if not self.ready:
                raise HttpError(503, "The deployment is still initializing (init() has not finished).",
                                [(b"retry-after", b"1"), NOT_READY_HEADER])
            if self.in_flight >= 2 * self.max_concurrent:
                raise HttpError(429, f"Too many requests in flight (max_concurrent_requests_per_instance="
                                f"{self.max_concurrent}); retry after a moment.", [(b"retry-after", b"1")])
            self.in_flight += 1
            try:
                result = await self._score(request.body, ctype, dims, request_id, request.headers)
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
        except Exception:  # noqa: BLE001 - a bug of ours: never a stack trace to the client
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

    def _collecting(self, request_id: str, headers: list[tuple[bytes, bytes]]) -> data_collection.RequestContext | None:
        """This request's collection context, when the deployment collects data (sampled or not)."""
        collector = self.collector
        if collector is None:
            return None
        captured = {}
        if collector.capture_headers:
            wanted = collector.capture_headers
            captured = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers if k.decode("latin-1") in wanted}
        return data_collection.RequestContext(id=request_id, time=time.time(), sampled=collector.sample(),
                                              headers=captured)

    async def _score(self, body: bytes, ctype: bytes | None, dims: dict[str, Any], request_id: str = "",
                     headers: list[tuple[bytes, bytes]] | None = None) -> bytes:
        collecting = self._collecting(request_id, headers or []) if self.collector is not None else None
        is_json = ctype is None or b"json" in ctype
        payload: Any = None
        if is_json:
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise HttpError(400, f"The body is not valid JSON: {exc}.") from None
        if self.script is not None:
            token = logcapture.captured.set(dims)
            collection_token = data_collection.current.set(collecting)
            context = contextvars.copy_context()
            data_collection.current.reset(collection_token)
            logcapture.captured.reset(token)
            async with asyncio.timeout(self.timeout), self._gate:
                raw = body.decode("utf-8", errors="replace")
                result = await asyncio.get_running_loop().run_in_executor(self._executor, context.run, self.script.run, raw)
            if isinstance(result, (bytes, bytearray)):
                answer = bytes(result)
            else:
                try:
                    answer = orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY)
                except TypeError as exc:
                    raise ModelError(f"run() returned something that is not JSON: {exc}") from None
            if collecting is not None and collecting.sampled:
                if is_json:
                    self._collect_script(collecting, body, answer)
                self._collect_payloads(collecting, body, answer)
            return answer
        if self.scorer is None or self.batcher is None:  # never once ready; kept as an answer, not a crash
            raise HttpError(503, "The deployment is still initializing.", [(b"retry-after", b"1"), NOT_READY_HEADER])
        rows, _, azure = rows_from_payload(payload, self.scorer.columns)
        predictions = await self.batcher.submit(self.scorer.to_matrix(rows), self.timeout)
        if collecting is not None and collecting.sampled:
            collector = self.collector
            assert collector is not None
            if collector.enabled(data_collection.INPUTS):
                # the body as received (bytes: nothing for the garbage collector to walk); the writer
                # process parses it again, into the model's column order
                collector.put(data_collection.INPUTS, request_id, collecting.time, "body", body, self.scorer.columns,
                              collecting.headers)
            if collector.enabled(data_collection.OUTPUTS):
                collector.put(data_collection.OUTPUTS, request_id, collecting.time, "predictions", predictions,
                              None, collecting.headers)
            if collector.payloads:
                answer = orjson.dumps(predictions if azure else {"predictions": predictions},
                                      option=orjson.OPT_SERIALIZE_NUMPY)
                self._collect_payloads(collecting, body, answer)
                return answer
        return orjson.dumps(predictions if azure else {"predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY)

    def _collect_payloads(self, collecting: data_collection.RequestContext, body: bytes, answer: bytes) -> None:
        """Payload logging: the request body as received and the response body as sent (``request`` and
        ``response`` collections), queued as they are (bytes); the writer process parses them."""
        collector = self.collector
        assert collector is not None
        if collector.enabled(data_collection.REQUEST):
            collector.put(data_collection.REQUEST, collecting.id, collecting.time, "payload", body, None,
                          collecting.headers)
        if collector.enabled(data_collection.RESPONSE):
            collector.put(data_collection.RESPONSE, collecting.id, collecting.time, "payload", answer, None,
                          collecting.headers)

    def _collect_script(self, collecting: data_collection.RequestContext, body: bytes, answer: bytes) -> None:
        """A scoring script's request and answer, for the collections its own Collector does not fill."""
        collector = self.collector
        assert collector is not None
        if collector.automatic(data_collection.INPUTS):
            collector.put(data_collection.INPUTS, collecting.id, collecting.time, "body", body, None, collecting.headers)
        if collector.automatic(data_collection.OUTPUTS):
            collector.put(data_collection.OUTPUTS, collecting.id, collecting.time, "predictions", answer, None,
                          collecting.headers)

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
            self._loop.call_soon_threadsafe(self.become_ready)
        except BaseException as exc:  # noqa: BLE001 - the deployment fails with the reason; the supervisor shows it
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
    logcapture.install()
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
        if app.collector is not None:
            app.collector.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
