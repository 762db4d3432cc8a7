"""A helper process fed marshalled frames on its stdin: how a server hands work off its request path.

The telemetry exporter (:mod:`.telemetry`) and the data collection writer (:mod:`.data_collection`)
are such processes. The server marshals a batch and writes it as one length-prefixed frame
(:meth:`ChildPipe.send`); a child that has exited is started again and the frame sent to it.
The child reads the frames with :func:`read_frames` until the server closes the pipe.
"""

from __future__ import annotations

import logging
import marshal
import struct
import subprocess
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

log = logging.getLogger("studio_ext.serving")


class ChildPipe:
    """``python -m ...`` reading frames on its stdin; ``send`` restarts it when it has exited."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, what: str = "helper process") -> None:
        self._args, self._env, self._what = args, env, what
        self._lock = threading.Lock()
        self.process = self._start()

    def _start(self) -> subprocess.Popen:
        return subprocess.Popen(self._args, stdin=subprocess.PIPE, env=self._env, close_fds=True)

    def send(self, batch: Any) -> None:
        """Write ``batch`` (marshal's types only) as one frame; blocks while the pipe is full."""
        self.send_frame(marshal.dumps(batch))

    def send_frame(self, frame: bytes) -> None:
        """Write a batch already marshalled as one frame; blocks while the pipe is full."""
        with self._lock:
            for _ in range(2):
                try:
                    self.process.stdin.write(struct.pack("<I", len(frame)) + frame)  # type: ignore[union-attr]
                    self.process.stdin.flush()  # type: ignore[union-attr]
                    return
                except (BrokenPipeError, ValueError, OSError):
                    log.warning("the %s exited (code %s); starting another", self._what, self.process.poll())
                    self.process = self._start()

    def close(self, timeout: float) -> None:
        """Close the pipe and wait until the child has done what it was sent (killed past ``timeout``)."""
        try:
            self.process.stdin.close()  # type: ignore[union-attr]
            self.process.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()


def read_frames(source: BinaryIO) -> Iterator[Any]:
    """The child's side: each batch sent, until the server closes the pipe (or dies)."""
    while True:
        head = source.read(4)
        if len(head) < 4:
            return
        (size,) = struct.unpack("<I", head)
        yield marshal.loads(source.read(size))
