"""HTTP/1.1 over asyncio with httptools: the request loop of both serving hops.

The router (the endpoint's port) and every deployment server speak HTTP through
:class:`HttpProtocol`: a request is parsed with httptools, handed whole to
``handle`` and its answer written with one ``write``. A generic ASGI server
costs more per request than a batched prediction (a task, dictionaries and two
writes per answer), so the deployment server plugs this protocol into uvicorn
(``uvicorn.Config(http=...)``, see :func:`uvicorn_protocol`) and uvicorn keeps
the process, the socket, the lifespan and the graceful shutdown.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import json
import logging
import random
import re
import socket
from http import HTTPStatus
from typing import Any

import httptools

log = logging.getLogger("studio_ext.http")
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_REQUEST_ID = re.compile(rb"[^A-Za-z0-9._-]")


def new_guid() -> str:
    """A random version-4 GUID for a request id (no system call: ids need not be secret)."""
    h = "%032x" % ((random.getrandbits(128) & ~(0xF000 << 64) & ~(0xC << 60)) | (0x4000 << 64) | (0x8 << 60))
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def sanitize_request_id(raw: bytes | None) -> str | None:
    """Keep a client's request id only as safe characters, at most 40 of them."""
    if not raw:
        return None
    cleaned = _REQUEST_ID.sub(b"", raw)[:40]
    return cleaned.decode("ascii") or None


def http_answer(status: int, body: bytes | str | dict[str, Any], headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
                close: bool = False) -> bytes:
    """A whole HTTP/1.1 response (JSON body) as one buffer, ready for one ``write``."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    head = [b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b"Unknown")), b"content-type: application/json",
            b"content-length: %d" % len(body)]
    head += [k + b": " + v for k, v in headers]
    if close:
        head.append(b"connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class Request:
    """One parsed request: method, raw URL, path, lower-cased headers, whole body."""

    __slots__ = ("body", "headers", "keep_alive", "method", "path", "url")

    def __init__(self, method: bytes, url: bytes, headers: list[tuple[bytes, bytes]], body: bytes,
                 keep_alive: bool) -> None:
        self.method = method
        self.url = url
        self.path = url.split(b"?", 1)[0]
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive


class HttpError(Exception):
    """An answer other than 200, with the message the client sees."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


class HttpProtocol(asyncio.Protocol, metaclass=abc.ABCMeta):
    """One client connection: requests are answered in order, one at a time.

    Pipelined requests (several written before the first answer) queue up and are
    all answered, also when the client half-closes its side after writing them
    (``nc``, many load tools): the connection closes once the last is answered.

    Subclasses give ``handle`` (the answer's bytes), ``max_body`` and the answers
    for a body over the limit and for a bug of ours. A body over the limit gets 413
    as soon as its size is known, before it is read whole; the connection then closes.
    """

    idle_seconds = 60.0

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_event_loop()
        self.busy = False
        self.closing = False  # close once the current answer is out
        self.client_done = False  # the client half-closed: close once every request it sent is answered
        self._pending: collections.deque[Request] = collections.deque()
        self._wakeup: asyncio.Future | None = None
        self._task: asyncio.Task | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_seen = 0.0
        self._rejecting = False

    # -- hooks ----------------------------------------------------------------------------------
    def max_body(self) -> int:
        return 10 * 1024 * 1024

    @abc.abstractmethod
    async def handle(self, request: Request) -> bytes:
        """The whole answer to ``request`` (each server answers in its own way)."""

    def too_large_answer(self, size: int) -> bytes:
        return http_answer(413, {"error": f"The body is {size} bytes or more; at most {self.max_body()} are taken."},
                           close=True)

    def bug_answer(self) -> bytes:
        return http_answer(500, {"error": "Internal server error.", "request_id": new_guid()})

    def start_at_once(self, request: Request) -> bool:
        """Optionally take ``request`` on here, without a task; then answer it with :meth:`respond`.

        Called only when nothing else is in progress on the connection. Returning
        False hands the request to ``handle`` as usual.
        """
        return False

    def respond(self, request: Request, answer: bytes) -> None:
        """Write the answer of a request taken by :meth:`start_at_once`; the next one may start."""
        self.busy = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(answer)
        if not request.keep_alive or self.closing or (self.client_done and not self._pending):
            transport.close()
            return
        self._arm_timer()
        if self._pending and self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    # -- parser callbacks -----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        for name, value in self._headers:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body():
                self._reject_too_large(int(value))

    def on_body(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.max_body():
            self._reject_too_large(self._size)
        elif not self._too_large:
            self._body.append(chunk)

    def on_message_complete(self) -> None:
        if self._too_large:
            return
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = Request(self.parser.get_method(), self._url, self._headers, body, self.parser.should_keep_alive())
        if not self.busy and not self._pending:
            self.busy = True
            try:
                started = self.start_at_once(request)
            except Exception:  # a bug of ours: the usual way answers instead
                log.exception("starting %r failed", request.url)
                started = False
            if started:
                return
            self.busy = False
        self._pending.append(request)
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _reject_too_large(self, size: int) -> None:
        if self._too_large:
            return
        self._too_large = self._rejecting = True
        transport = self.transport
        assert transport is not None
        transport.write(self.too_large_answer(size))
        # Half-close and drop what still arrives: closing outright would reset the
        # connection and the client might never read the 413.
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(5.0, transport.close)

    # -- connection -----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._task = self.loop.create_task(self._serve())
        self._arm_timer()

    def data_received(self, data: bytes) -> None:
        if self._rejecting:
            return
        self._last_seen = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._bad_request("Upgrades are not supported.")
        except httptools.HttpParserError as exc:
            self._bad_request(f"Malformed HTTP request: {exc}")

    def eof_received(self) -> bool:
        """The client finished sending: answer what it sent, then close (keep the transport open)."""
        self.client_done = True
        if not self.busy and not self._pending and self.transport is not None:
            self.transport.close()
        return True

    def _bad_request(self, message: str) -> None:
        self._rejecting = True
        assert self.transport is not None
        self.transport.write(http_answer(400, {"error": message, "request_id": new_guid()}, close=True))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._timer is not None:
            self._timer.cancel()

    def _arm_timer(self) -> None:
        """Check for idleness ``idle_seconds`` after the last activity (one timer, moved only when due)."""
        self._last_seen = self.loop.time()
        if self._timer is None:
            self._timer = self.loop.call_later(self.idle_seconds, self._idle)

    def _idle(self) -> None:
        quiet_for = self.loop.time() - self._last_seen
        if self.busy or quiet_for < self.idle_seconds:
            self._timer = self.loop.call_later(self.idle_seconds - quiet_for if not self.busy else self.idle_seconds,
                                               self._idle)
        elif self.transport is not None:
            self._timer = None
            self.transport.close()  # idle, or a request that never finished arriving

    def shutdown(self) -> None:
        """Close now if idle, else after the answer in progress."""
        self.closing = True
        if not self.busy and not self._pending and self.transport is not None:
            self.transport.close()

    async def _serve(self) -> None:
        while True:
            if not self._pending or self.busy:  # busy: a request taken on at once is in progress
                self._wakeup = self.loop.create_future()
                await self._wakeup
                continue
            request = self._pending.popleft()
            self.busy = True
            await self._respond_later(request)
            if self.transport is None or self.transport.is_closing():
                return

    async def _respond_later(self, request: Request) -> None:
        """``handle`` the request, then :meth:`respond`; a bug of ours gets an error answer, never a trace."""
        try:
            answer = await self.handle(request)
        except Exception:
            log.exception("answering %r failed", request.url)
            answer = self.bug_answer()
        self.respond(request, answer)


def uvicorn_protocol(factory: type[HttpProtocol], *args: Any) -> type[asyncio.Protocol]:
    """``factory(*args)`` shaped as uvicorn's ``http`` protocol class.

    uvicorn builds its protocol with ``(config=, server_state=, app_state=, _loop=)``
    and, on shutdown, calls ``shutdown()`` on each connection it tracks and waits
    (up to ``timeout_graceful_shutdown``) for them to close.
    """

    class UvicornHttp(factory):  # type: ignore[valid-type, misc]
        def __init__(self, config: Any, server_state: Any, app_state: Any = None, _loop: Any = None) -> None:
            super().__init__(*args)
            self.idle_seconds = float(config.timeout_keep_alive)
            self._server_state = server_state

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self._server_state.connections.add(self)
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            self._server_state.connections.discard(self)
            super().connection_lost(exc)

        async def handle(self, request: Request) -> bytes:
            self._server_state.total_requests += 1
            return await super().handle(request)

    UvicornHttp.__name__ = f"Uvicorn{factory.__name__}"
    return UvicornHttp
