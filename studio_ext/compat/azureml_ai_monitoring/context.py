"""``azureml.ai.monitoring.context``: the correlation context that ties a request's collections together."""

from __future__ import annotations

import time
import uuid
from abc import ABC, abstractmethod
from typing import Any


class CorrelationContext(ABC):
    """What :meth:`Collector.collect` returns: an id (the request's), a time and headers."""

    @abstractmethod
    def get_id(self) -> str:
        ...

    @abstractmethod
    def get_timestamp(self) -> int:
        ...

    @abstractmethod
    def get_headers(self) -> dict[str, str]:
        ...


class BasicCorrelationContext(CorrelationContext):
    """A correlation context with the given id (a new one when None), time (ms since the epoch) and headers."""

    def __init__(self, id: str | None = None, timestamp: int | None = None,  # noqa: A002 - Azure's keyword
                 headers: dict[str, str] | None = None) -> None:
        self.id = id or str(uuid.uuid4())
        self.timestamp = int(timestamp if timestamp is not None else time.time() * 1000)
        self.headers = dict(headers or {})

    def get_id(self) -> str:
        return self.id

    def get_timestamp(self) -> int:
        return self.timestamp

    def get_headers(self) -> dict[str, str]:
        return self.headers

    def __repr__(self) -> str:
        return f"BasicCorrelationContext(id={self.id!r}, timestamp={self.timestamp})"


def get_context(context: Any = None) -> CorrelationContext:
    """``context`` when it is one, else a new one."""
    return context if isinstance(context, CorrelationContext) else BasicCorrelationContext()
