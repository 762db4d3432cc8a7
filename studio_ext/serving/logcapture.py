"""What a request's scoring code prints or logs becomes custom dimensions of its telemetry.

The scoring server replaces ``sys.stdout``/``sys.stderr`` with :class:`Capture` and
adds :class:`CaptureHandler` to the root logger (:func:`install`). While a request
runs, :data:`captured` holds its record (``lines``, ``dims``, ``partial``); output
outside a request goes to the server log only.
"""

from __future__ import annotations

import contextvars
import io
import logging
import sys
from typing import Any

captured: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("captured", default=None)


class Capture(io.TextIOBase):
    """stdout/stderr that also collects what a request's scoring code prints."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        record = captured.get()
        if record is not None:
            # print() writes its pieces separately: keep whole lines only.
            *lines, record["partial"] = (record.get("partial", "") + text).split("\n")
            record["lines"].extend(line[:2000] for line in lines if line.strip())
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return False


class CaptureHandler(logging.Handler):
    """Log records of a request's scoring code become its custom dimensions."""

    def emit(self, record: logging.LogRecord) -> None:
        request = captured.get()
        if request is None:
            return
        request["lines"].append(f"{record.levelname} {record.getMessage()}"[:2000])
        extra = getattr(record, "custom_dimensions", None)
        if isinstance(extra, dict):
            request["dims"].update({str(k): str(v)[:1000] for k, v in extra.items()})


def install() -> None:
    """Capture this process's output and log records for the request that makes them."""
    logging.getLogger().addHandler(CaptureHandler())
    sys.stdout = Capture(sys.stdout)
    sys.stderr = Capture(sys.stderr)
