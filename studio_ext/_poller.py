"""A small stand-in for azure-core's LROPoller, returned by every ``begin_*`` call."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

from studio_ext.errors import StudioError

T = TypeVar("T")


class Poller(Generic[T]):
    """Wait for a long-running operation: ``poller.result(timeout=60)``.

    ``check`` returns the finished result, or None while the operation is still going.
    """

    def __init__(self, check: Callable[[], T | None], description: str, interval: float = 0.1) -> None:
        self._check = check
        self._description = description
        self._interval = interval
        self._result: T | None = None

    def done(self) -> bool:
        if self._result is None:
            self._result = self._check()
        return self._result is not None

    def result(self, timeout: float | None = None) -> T:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done():
            if deadline is not None and time.monotonic() > deadline:
                raise StudioError(f"{self._description} did not finish within {timeout} s.")
            time.sleep(self._interval)
        assert self._result is not None  # done() said so
        return self._result

    def wait(self, timeout: float | None = None) -> None:
        self.result(timeout)

    def status(self) -> str:
        return "Succeeded" if self.done() else "InProgress"


class DonePoller(Poller[T]):
    """A poller for an operation that finished at once."""

    def __init__(self, value: T) -> None:
        super().__init__(lambda: value, "operation")
