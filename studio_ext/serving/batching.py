"""Requests that arrive while ``predict`` runs are scored together in one call.

A numeric model's ``predict`` costs about the same for one row as for a hundred,
so under load the :class:`Batcher` answers many requests with one call: it runs
on the event loop, gathers what queued up meanwhile, predicts once and hands each
request its slice of the result.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from studio_ext.serving.scorers import MlflowScorer


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
                except Exception as exc:  # noqa: BLE001 - every waiter gets the model's error
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

