"""The endpoint's router: a stable scoring URI in front of its deployments.

``python -m studio_ext.serving.router ROUTER_JSON --fd N`` serves the endpoint's
port. Per request it checks the key, then forwards to one deployment chosen by
the traffic weights (or named by the ``azureml-model-deployment`` header), and
copies a share of requests to mirrored deployments (their answers are dropped).
It speaks HTTP/1.1 itself over asyncio (httptools + uvloop) with keep-alive
connections to the deployments, so the extra hop costs little. Its routing table
is ``router.json``, written by the supervisor and re-read when it changes.

A request is never sent on to an instance that is not ready: while every instance
of the chosen deployment is down, restarting or still initializing (its 503 carries
``x-ms-instance-state: initializing``), the router holds the request and tries
again every 50 ms, for as long as it would wait for an answer (the request timeout
plus 5 s, less 1 s to score); only then does the client get 503. So a restarted
deployment server costs its clients time, not errors.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import random
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httptools

from studio_ext.serving.endpoint_files import KeyChecker, exit_when_orphaned
from studio_ext.serving.http_protocol import (
    HttpProtocol,
    Request,
    http_answer,
    new_guid,
    sanitize_request_id,
)

log = logging.getLogger("studio_ext.router")
ORPHAN_EXIT_SECONDS = float(os.environ.get("STUDIO_EXT_SERVER_ORPHAN_EXIT", "600"))
_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"te", b"transfer-encoding", b"content-length",
        b"host", b"upgrade", b"x-ms-request-id"}
_HEALTH = {b"/", b"/health", b"/health/live", b"/health/ready"}
HOLD_RETRY_SECONDS = 0.05  # while no instance can take a request, try again this often
_NOT_READY = b"\r\nx-ms-instance-state: initializing\r\n"  # see scoring_app.NOT_READY_HEADER


def not_ready(answer: bytes) -> bool:
    """True for an instance's 503 while it starts: the request was not scored and may go again."""
    if answer[9:12] != b"503":
        return False
    end = answer.find(b"\r\n\r\n")
    return answer.find(_NOT_READY, 0, end + 2) >= 0


class Routes:
    """The routing table from ``router.json``, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._checked = -1.0
        self.config: dict[str, Any] = {}
        self.ports: dict[str, list[int]] = {}  # a deployment's instances
        self._turn = 0
        self.weights: list[tuple[str, float]] = []
        self.mirror: dict[str, float] = {}
        self.max_body = 10 * 1024 * 1024
        self.timeout = 10.0
        self.refresh()

    def refresh(self) -> None:
        """Re-read the table if it changed; looks at the file at most every 50 ms."""
        now = time.monotonic()
        if now - self._checked < 0.05:
            return
        self._checked = now
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_mtime_ns)
            if stamp == self._stamp:
                return
            config = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError):
            return  # keep the last good table
        self._stamp = stamp
        self.config = config
        self.ports = {k: [int(p) for p in (v if isinstance(v, list) else [v])]
                      for k, v in (config.get("deployments") or {}).items() if v}
        total, cumulative = 0.0, []
        for name, weight in sorted((config.get("traffic") or {}).items()):
            if weight and name in self.ports:
                total += float(weight)
                cumulative.append((name, total))
        self.weights = [(n, c / total) for n, c in cumulative] if total else []
        self.mirror = {k: float(v) / 100.0 for k, v in (config.get("mirror_traffic") or {}).items() if v and k in self.ports}
        self.max_body = int(config.get("max_body_bytes", self.max_body))
        self.timeout = float(config.get("timeout_seconds", self.timeout))

    def instances(self, name: str) -> list[int]:
        """The deployment's instance ports, starting with the next in turn (then the others, for failover)."""
        ports = self.ports[name]
        if len(ports) == 1:
            return ports
        self._turn += 1
        first = self._turn % len(ports)
        return ports[first:] + ports[:first]

    def choose(self) -> str | None:
        r = random.random()
        for name, edge in self.weights:
            if r < edge:
                return name
        return self.weights[-1][0] if self.weights else None


class Upstream(asyncio.Protocol):
    """One keep-alive connection to a deployment; answers one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future | None = None
        self.chunks: list[bytes] = []
        self.closed = False
        self.complete = False
        self.keep_alive = True
        # Instead of a waiter, callbacks (the router's fast path): answer(bytes, keep) or failed().
        self.on_answer: Callable[[bytes, bool], None] | None = None
        self.on_failure: Callable[[], None] | None = None
        # One parser for the connection's whole life: it reads keep-alive answers one after another.
        self.parser = httptools.HttpResponseParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad answer from the deployment: {exc}"))
            return
        if self.complete:
            chunks, self.chunks, self.complete = self.chunks, [], False
            answer = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            waiter, self.waiter = self.waiter, None
            on_answer, self.on_answer, self.on_failure = self.on_answer, None, None
            if on_answer is not None:
                on_answer(answer, self.keep_alive)
            elif waiter is None:  # an answer nobody asked for: the connection cannot be trusted
                self._fail(ConnectionError("unexpected answer from the deployment"))
            elif not waiter.done():
                waiter.set_result((answer, self.keep_alive))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError("the deployment closed the connection"))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.waiter = None
        on_failure, self.on_answer, self.on_failure = self.on_failure, None, None
        if on_failure is not None:
            on_failure()
        if self.transport is not None:
            self.transport.close()
        self.closed = True

    async def exchange(self, request: bytes) -> tuple[bytes, bool]:
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(request)
        try:
            return await self.waiter
        except asyncio.CancelledError:  # timed out: its answer may still come, so the connection is spent
            self._fail(ConnectionError("cancelled"))
            raise


class Router:
    def __init__(self, config_path: Path) -> None:
        self.routes = Routes(config_path)
        cfg = self.routes.config
        self.keys = KeyChecker(Path(cfg["keys_path"]))
        self.endpoint = str(cfg.get("endpoint", ""))
        self.workspace = Path(cfg.get("workspace", "."))
        self.pools: dict[int, list[Upstream]] = {}
        self.draining = False
        self.recorder = None
        if cfg.get("telemetry_path"):
            from studio_ext.serving.telemetry import RequestRecorder

            self.recorder = RequestRecorder(Path(cfg["telemetry_path"]), f"{self.endpoint}/router",
                                            cfg.get("connection_string"))

    async def forward(self, port: int, request: bytes) -> bytes:
        pool = self.pools.setdefault(port, [])
        while pool:
            conn = pool.pop()
            if conn.closed:
                continue
            try:
                answer, keep = await conn.exchange(request)
            except ConnectionError:
                continue  # a stale pooled connection: try a fresh one
            if keep:
                pool.append(conn)
            else:
                conn.transport.close()  # type: ignore[union-attr]
            return answer
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(Upstream, "127.0.0.1", port)
        conn.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
        answer, keep = await conn.exchange(request)
        if keep:
            pool.append(conn)
        else:
            conn.transport.close()  # type: ignore[union-attr]
        return answer

    async def forward_any(self, name: str, request: bytes, hold_until: float) -> bytes | None:
        """The answer of the first instance of ``name`` that takes the request, trying the next if one
        is down, starting or draining; None if none took it by ``hold_until`` (loop time).

        An instance answers 503 only while it initializes or shuts down, so another
        instance of the same deployment can take the request instead. While every
        instance is down or initializing (a restart), the request waits for one to be
        ready; a draining instance's 503 is the answer if no other instance takes it.
        """
        loop = asyncio.get_running_loop()
        while True:
            draining = None
            for port in self.routes.instances(name):
                try:
                    answer = await self.forward(port, request)
                except (OSError, ConnectionError):
                    continue  # down, or restarting
                if answer[9:12] != b"503":
                    return answer
                if not not_ready(answer):
                    draining = answer
            if draining is not None:
                return draining
            if loop.time() + HOLD_RETRY_SECONDS >= hold_until:
                return None
            await asyncio.sleep(HOLD_RETRY_SECONDS)
            self.routes.refresh()  # a restarted instance may have a new port
            if name not in self.routes.ports:
                return None

    async def mirror(self, port: int, request: bytes) -> None:
        try:
            await asyncio.wait_for(self.forward(port, request), self.routes.timeout + 5)
        except (TimeoutError, OSError, ConnectionError):
            pass  # a mirror's failure never reaches the client

    def record(self, start_ns: int, request_id: str, status: int, route: str, deployment: str | None = None) -> None:
        if self.recorder is not None:
            self.recorder.record(start_ns=start_ns, end_ns=time.time_ns(), attributes={
                "endpoint": self.endpoint, "deployment": deployment or "(router)", "request_id": request_id,
                "http.route": route, "http.status_code": status})


def _answer(status: int, body: dict[str, Any] | str, ids: list[tuple[bytes, bytes]],
            extra: list[tuple[bytes, bytes]] | None = None) -> bytes:
    return http_answer(status, body, ids + (extra or []))


def _forwarded(request: Request, server_rid: str) -> bytes:
    """The request as the deployment gets it: hop-by-hop headers dropped, the server's request id added."""
    head = [request.method + b" " + request.url + b" HTTP/1.1", b"host: 127.0.0.1",
            b"content-length: %d" % len(request.body), b"x-ms-request-id: " + server_rid.encode()]
    head += [k + b": " + v for k, v in request.headers if k not in _HOP]
    return b"\r\n".join(head) + b"\r\n\r\n" + request.body


class Client(HttpProtocol):
    """One client connection of the endpoint's port."""

    def __init__(self, router: Router) -> None:
        super().__init__()
        self.router = router

    def max_body(self) -> int:
        return self.router.routes.max_body

    def too_large_answer(self, size: int) -> bytes:
        rid = new_guid()
        self.router.record(time.time_ns(), rid, 413, "/score")
        return http_answer(413, {"error": f"The body is {size} bytes or more; this endpoint takes at most "
                                          f"{self.max_body()}.", "request_id": rid},
                           [(b"x-request-id", rid.encode()), (b"x-ms-request-id", rid.encode())], close=True)

    def bug_answer(self) -> bytes:
        rid = new_guid()
        return http_answer(502, {"error": "The endpoint could not route the request.", "request_id": rid},
                           [(b"x-request-id", rid.encode())])

    def start_at_once(self, request: Request) -> bool:
        """The common case without a task: a keyed request for the one instance of the deployment
        the weights pick, over an idle pooled connection. Anything else goes the usual way."""
        router, routes = self.router, self.router.routes
        if router.draining or routes.mirror or request.path in _HEALTH:
            return False
        auth = client_id = None
        for name, value in request.headers:
            if name == b"authorization":
                auth = value
            elif name == b"x-request-id":
                client_id = value
            elif name == b"azureml-model-deployment":
                return False
        if not router.keys.check(auth):
            return False
        routes.refresh()
        deployment = routes.choose()
        ports = routes.ports.get(deployment) if deployment else None
        if not ports or len(ports) != 1:
            return False
        pool = router.pools.get(ports[0])
        conn = None
        while pool:
            conn = pool.pop()
            if not conn.closed:
                break
            conn = None
        if conn is None:
            return False
        start_ns = time.time_ns()
        server_rid = new_guid()
        timer: asyncio.TimerHandle | None = None

        def answered(answer: bytes, keep: bool) -> None:
            timer.cancel()  # type: ignore[union-attr]
            if keep:
                pool.append(conn)  # type: ignore[union-attr, arg-type]
            else:
                conn.transport.close()  # type: ignore[union-attr]
            if answer[9:12] == b"503" and not_ready(answer):  # restarted and not ready yet: the usual way holds it
                self.loop.create_task(self._respond_later(request))
                return
            self.respond(request, answer)

        def failed() -> None:  # a stale connection, or the instance went away: the usual way retries
            timer.cancel()  # type: ignore[union-attr]
            self.loop.create_task(self._respond_later(request))

        def timed_out() -> None:
            conn.on_answer = conn.on_failure = None  # type: ignore[union-attr]
            conn._fail(ConnectionError("timed out"))  # type: ignore[union-attr]
            rid = sanitize_request_id(client_id) or server_rid
            router.record(start_ns, rid, 504, request.path.decode("latin-1"), deployment)
            self.respond(request, _answer(504, {"error": f"The deployment {deployment!r} did not answer in time.",
                                                "request_id": rid},
                                          [(b"x-request-id", rid.encode()), (b"x-ms-request-id", server_rid.encode())]))

        conn.on_answer, conn.on_failure = answered, failed
        timer = self.loop.call_later(routes.timeout + 5, timed_out)
        conn.transport.write(_forwarded(request, server_rid))  # type: ignore[union-attr]
        return True

    async def handle(self, request: Request) -> bytes:
        start_ns = time.time_ns()
        router = self.router
        routes = router.routes
        method, path, headers = request.method, request.path, request.headers
        auth = client_id = target = None
        for name, value in headers:
            if name == b"authorization":
                auth = value
            elif name == b"x-request-id":
                client_id = value
            elif name == b"azureml-model-deployment":
                target = value.decode("latin-1").strip()
        server_rid = new_guid()
        rid = sanitize_request_id(client_id) or server_rid
        ids = [(b"x-request-id", rid.encode()), (b"x-ms-request-id", server_rid.encode())]
        route = path.decode("latin-1")
        if path in _HEALTH and method in (b"GET", b"HEAD"):
            return _answer(200, '"Healthy"', ids)
        if not router.keys.check(auth):
            router.record(start_ns, rid, 401, route)
            return _answer(401, {
                "error": "A valid key is required: send 'Authorization: Bearer <key>'. "
                         "Get the keys with ws.online_endpoints.get_keys(name).", "request_id": rid},
                ids, [(b"www-authenticate", b"Bearer")])
        if router.draining:
            return _answer(503, {"error": "The endpoint is shutting down.", "request_id": rid},
                           ids, [(b"retry-after", b"1")])
        routes.refresh()
        if target:
            if target not in routes.ports:
                router.record(start_ns, rid, 404, route)
                return _answer(404, {"error": f"The endpoint has no deployment named {target!r}. "
                               f"Deployments: {', '.join(sorted(routes.ports)) or 'none'}.", "request_id": rid}, ids)
            name = target
        else:
            name = routes.choose()
            if name is None:
                router.record(start_ns, rid, 503, route)
                return _answer(503, {
                    "error": "No deployment of this endpoint takes traffic. Set endpoint.traffic, e.g. "
                             "{'blue': 100}, and update the endpoint.", "request_id": rid}, ids)
        forwarded = _forwarded(request, server_rid)
        for mirror_name, share in routes.mirror.items():
            if mirror_name != name and random.random() < share:
                asyncio.get_running_loop().create_task(router.mirror(routes.instances(mirror_name)[0], forwarded))
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(routes.timeout + 5):
                answer = await router.forward_any(name, forwarded, hold_until=loop.time() + routes.timeout + 4)
        except TimeoutError:  # before OSError: TimeoutError is one
            router.record(start_ns, rid, 504, route, name)
            return _answer(504, {"error": f"The deployment {name!r} did not answer in time.",
                                 "request_id": rid}, ids)
        except (OSError, ConnectionError):
            answer = None
        if answer is None:
            router.record(start_ns, rid, 503, route, name)
            return _answer(503, {
                "error": f"The deployment {name!r} is not answering (restarting?); retry shortly.",
                "request_id": rid}, ids, [(b"retry-after", b"1")])
        return answer


async def _serve(router: Router, sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    gc.collect()
    gc.freeze()  # what is loaded stays: spare it the collector's full passes
    server = await loop.create_server(lambda: Client(router), sock=sock, backlog=2048)
    stop = asyncio.Event()

    def on_term() -> None:
        router.draining = True
        stop.set()

    loop.add_signal_handler(signal.SIGTERM, on_term)
    loop.add_signal_handler(signal.SIGINT, on_term)
    watcher = loop.create_task(exit_when_orphaned(router.workspace, ORPHAN_EXIT_SECONDS, on_term))
    await stop.wait()
    server.close()
    await asyncio.sleep(0.5)  # let answers in flight go out
    watcher.cancel()


def main(argv: list[str] | None = None) -> int:
    import uvloop

    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    fd = int(argv[argv.index("--fd") + 1])
    router = Router(Path(argv[0]))
    sock = socket.socket(fileno=fd)
    try:
        uvloop.run(_serve(router, sock))
    finally:
        if router.recorder is not None:
            router.recorder.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
