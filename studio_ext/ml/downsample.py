"""Downsampling long metric series for display, keeping their shape and their extremes.

A chart a few hundred pixels wide cannot show 100,000 points, and sending them all
to the browser is what makes long runs slow to open. LTTB (Largest-Triangle-Three-
Buckets) keeps the points that carry the visual shape; on top of it we guarantee the
first, last, lowest and highest points survive, so a loss spike or the best accuracy
is never smoothed away. The LTTB itself comes from ``tsdownsample`` (Rust).

Example::

    steps, values = downsample(steps, values, max_points=1000)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from studio_ext.errors import InvalidInput

#: Fewer points than this are never worth downsampling (LTTB needs 3 buckets).
MIN_POINTS = 3


@dataclass(frozen=True, kw_only=True)
class Downsampled:
    """The kept points (in x order) and how many there were before."""

    x: np.ndarray
    y: np.ndarray
    original_points: int
    #: Points dropped because their value was NaN or infinite (they cannot be drawn).
    non_finite_points: int

    @property
    def reduced(self) -> bool:
        return len(self.x) < self.original_points - self.non_finite_points


def downsample_indices(x: np.ndarray, y: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` points of a finite series sorted by ``x``.

    Always includes the first and last point and the global minimum and maximum of ``y``.
    """
    n = len(x)
    if n <= max_points:
        return np.arange(n)
    from tsdownsample import LTTBDownsampler

    # tsdownsample wants contiguous arrays of matching numeric kinds.
    idx = LTTBDownsampler().downsample(
        np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64), n_out=max_points
    )
    idx = np.asarray(idx, dtype=np.int64)
    extremes = np.array([0, n - 1, int(np.argmin(y)), int(np.argmax(y))], dtype=np.int64)
    missing = np.setdiff1d(extremes, idx)
    if missing.size:
        # Swap each missing extreme for the LTTB pick nearest to it (never an extreme),
        # so the count stays within max_points and the picks stay spread out.
        protected = set(extremes.tolist())
        idx = idx.copy()
        for m in missing:
            order = np.argsort(np.abs(idx - m), kind="stable")
            for pos in order:
                if int(idx[pos]) not in protected:
                    idx[pos] = m
                    break
        idx = np.unique(idx)
    return idx


def downsample(x: ArrayLike, y: ArrayLike, max_points: int = 1000) -> Downsampled:
    """Reduce a series to at most ``max_points`` for a chart, keeping shape and extremes.

    ``x`` must be sorted ascending (steps or timestamps). NaN and infinite values are
    dropped (and counted) since a chart cannot draw them.
    """
    if not isinstance(max_points, (int, np.integer)) or isinstance(max_points, bool) or max_points < MIN_POINTS:
        raise InvalidInput(
            f"The 'max_points' parameter of downsample must be an int >= {MIN_POINTS}. Got {max_points!r} instead."
        )
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise InvalidInput(
            f"downsample needs two 1-D sequences of the same length. Got shapes {xs.shape} and {ys.shape}."
        )
    if xs.size > 1 and np.any(np.diff(xs) < 0):
        raise InvalidInput("downsample needs x sorted ascending (steps or timestamps); sort the series first.")
    finite = np.isfinite(ys) & np.isfinite(xs)
    dropped = int(xs.size - finite.sum())
    if dropped:
        xs, ys = xs[finite], ys[finite]
    idx = downsample_indices(xs, ys, int(max_points))
    return Downsampled(x=xs[idx], y=ys[idx], original_points=int(finite.size), non_finite_points=dropped)
