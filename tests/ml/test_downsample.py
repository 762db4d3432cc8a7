"""Downsampling keeps the shape and, above all, the extremes of a long series."""

from __future__ import annotations

import numpy as np
import pytest

from studio_ext.errors import InvalidInput
from studio_ext.ml.downsample import downsample


def test_short_series_are_returned_whole() -> None:
    out = downsample([0, 1, 2, 3], [1.0, 2.0, 0.5, 4.0], max_points=10)
    assert out.x.tolist() == [0, 1, 2, 3]
    assert out.y.tolist() == [1.0, 2.0, 0.5, 4.0]
    assert not out.reduced


def test_long_series_keeps_first_last_and_global_extremes() -> None:
    rng = np.random.default_rng(0)
    steps = np.arange(100_000)
    values = np.cumsum(rng.normal(size=steps.size)) * 0.01
    values[31_337] = -50.0  # a single-step dip LTTB alone could smooth away
    values[77_001] = 80.0
    out = downsample(steps, values, max_points=500)
    assert len(out.x) <= 500
    assert out.reduced and out.original_points == 100_000
    assert out.x[0] == 0 and out.x[-1] == 99_999
    assert out.y.min() == -50.0 and 31_337 in out.x
    assert out.y.max() == 80.0 and 77_001 in out.x
    assert np.all(np.diff(out.x) > 0), "points stay in step order"
    # The kept points are real points of the series, not averages.
    assert np.array_equal(values[out.x.astype(int)], out.y)


def test_extremes_survive_even_at_the_minimum_budget() -> None:
    values = np.zeros(1000)
    values[500] = 9.0
    values[501] = -9.0
    out = downsample(np.arange(1000), values, max_points=4)
    assert set(out.x.tolist()) == {0, 500, 501, 999}


def test_nan_and_inf_are_dropped_and_counted() -> None:
    values = np.linspace(0, 1, 50)
    values[[3, 7]] = np.nan
    values[10] = np.inf
    out = downsample(np.arange(50), values, max_points=100)
    assert out.non_finite_points == 3
    assert len(out.x) == 47 and np.isfinite(out.y).all()


@pytest.mark.parametrize(
    ("x", "y", "max_points", "message"),
    [
        ([0, 1], [1.0], 10, "same length"),
        ([2, 1, 3], [1, 2, 3], 10, "sorted ascending"),
        ([0, 1, 2], [1, 2, 3], 2, "must be an int >= 3. Got 2 instead."),
        ([0, 1, 2], [1, 2, 3], "many", "must be an int >= 3. Got 'many' instead."),
    ],
)
def test_bad_input_is_refused_with_the_reason(x, y, max_points, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        downsample(x, y, max_points=max_points)
