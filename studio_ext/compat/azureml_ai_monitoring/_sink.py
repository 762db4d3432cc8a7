"""Where ``Collector.collect`` sends its frames: the scoring server's collection writer, and the request served.

The scoring server (:mod:`studio_ext.serving.data_collection`) calls :func:`activate` with its
writer and sets :data:`current` around each request; the stand-in only reads them, so it
needs nothing of the server's.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class RequestContext:
    """The scoring request being served: its id, time, whether it is sampled, and captured headers."""

    id: str
    time: float
    sampled: bool
    headers: dict[str, str] = field(default_factory=dict)


class Sink(Protocol):
    """What the scoring server's writer offers a ``Collector``."""

    collections: dict[str, bool]
    claimed: set[str]

    def enabled(self, collection: str) -> bool: ...

    def sample(self) -> bool: ...

    def put(self, collection: str, request_id: str, ts: float, kind: str, payload: Any,
            columns: Any = None, headers: dict[str, str] | None = None) -> None: ...

    def warn_once(self, key: str, message: str) -> None: ...


current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("collection_request", default=None)
_active: Sink | None = None


def activate(sink: Sink | None) -> None:
    """Make ``sink`` the one ``Collector(...)`` writes to (the scoring server does, at start)."""
    global _active
    _active = sink


def active() -> Sink | None:
    """The server's writer, or None outside a deployment with data collection."""
    return _active
