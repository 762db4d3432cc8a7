"""The pandas-free path: Parquet read into numpy columns, windows and metrics on the arrays, no pandas imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from studio_ext.errors import InvalidInput
from studio_ext.ml.drift import Coded, Columns, Reference, compare, iter_windows, read_columns, read_table

N = 3000
FEATURES = ["x", "k", "c", "n"]


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    """Rows out of time order, some times missing, nulls in every feature, two row groups."""
    rng = np.random.default_rng(7)
    stamps = pd.Series(pd.date_range("2013-01-01", periods=N, freq="37min", tz="America/New_York"))
    stamps = stamps.sample(frac=1, random_state=3).reset_index(drop=True)
    stamps[rng.random(N) < 0.01] = pd.NaT
    later = np.arange(N) > N // 2
    x = rng.normal(0.0, 1.0, N) + np.where(later, 0.5, 0.0)
    x[rng.random(N) < 0.02] = np.nan
    frame = pd.DataFrame({
        "t": stamps,
        "x": x,
        "k": pd.array(rng.integers(0, 50, N), dtype="Int64"),
        "c": pd.Series(rng.choice(["a", "b", "c", "d"], N)).mask(rng.random(N) < 0.03),
        "n": rng.integers(0, 9, N).astype("int32"),
    })
    frame.loc[rng.random(N) < 0.02, "k"] = pd.NA
    path = tmp_path_factory.mktemp("columns") / "data.parquet"
    frame.to_parquet(path, row_group_size=N // 2)
    return path


def _reference(table):
    if isinstance(table, Columns):
        return Reference(table.take(table["t"] < np.datetime64("2013-01-15T05:00")))
    return Reference(table[table["t"] < pd.Timestamp("2013-01-15", tz="America/New_York")])


def test_read_table_gives_numpy_columns_with_strings_as_codes(parquet):
    table = read_table(parquet, ["t", "x", "k", "c", "n"])
    frame = read_columns(parquet, ["t", "x", "k", "c", "n"])
    assert table.columns == ["t", "x", "k", "c", "n"] and len(table) == N
    assert table.timezones == {"t": "America/New_York"} and table["t"].dtype.kind == "M"
    assert isinstance(table["c"], Coded) and table["c"].codes.dtype == np.int8
    np.testing.assert_array_equal(table["x"], frame["x"].to_numpy())
    np.testing.assert_array_equal(table["k"], frame["k"].to_numpy(dtype=float, na_value=np.nan))
    assert table["n"].dtype == np.int32
    assert list(table["c"].values()) == [None if pd.isna(v) else v for v in frame["c"]]
    back = table.to_pandas()
    pd.testing.assert_series_equal(back["t"], frame["t"], check_dtype=False)
    with pytest.raises(InvalidInput, match="Column 'nope' is not in data.parquet"):
        read_table(parquet, ["x", "nope"])


@pytest.mark.parametrize("frequency", ["Day", "Week", "Month"])
def test_windows_of_columns_are_those_of_the_dataframe(parquet, frequency):
    table = read_table(parquet, ["t", *FEATURES])
    frame = read_columns(parquet, ["t", *FEATURES])
    ours, theirs = list(iter_windows(table, "t", frequency)), list(iter_windows(frame, "t", frequency))
    assert [(w.start, w.end, w.rows) for w in ours] == [(w.start, w.end, w.rows) for w in theirs]
    assert ours[0].start.utcoffset() == pd.Timedelta(hours=-5)  # midnight in the column's zone
    bounded = list(iter_windows(table, "t", frequency, start="2013-01-02", end="2013-02-10"))
    expected = list(iter_windows(frame, "t", frequency, start="2013-01-02", end="2013-02-10"))
    assert [(w.start, w.end, w.rows) for w in bounded] == [(w.start, w.end, w.rows) for w in expected]


def test_compare_on_columns_matches_the_dataframe_to_the_bit(parquet):
    table = read_table(parquet, ["t", *FEATURES])
    frame = read_columns(parquet, ["t", *FEATURES])
    ref_table, ref_frame = _reference(table), _reference(frame)
    assert len(ref_table) == len(ref_frame)
    pairs = list(zip(iter_windows(table, "t", "Week"), iter_windows(frame, "t", "Week"), strict=True))
    for ours, theirs in pairs[1:4]:
        a = compare(ref_table, ours.frame, FEATURES)
        b = compare(ref_frame, theirs.frame, FEATURES)
        assert a.to_dict() == b.to_dict()
        assert a.magnitude is not None and set(a.features) == set(FEATURES)


def test_bad_input_on_columns_is_named():
    stamps = np.array(["2013-01-01T00", "2013-01-02T00"], dtype="datetime64[ns]")
    table = Columns({"t": stamps, "x": np.array([1.0, 2.0]), "s": np.array(["a", "b"], dtype=object)})
    with pytest.raises(InvalidInput, match="no timestamp column 'when'"):
        iter_windows(table, "when", "Week")
    with pytest.raises(InvalidInput, match="Timestamp column 'x' holds values that are not times"):
        iter_windows(table, "x", "Week")
    other = Columns({"x": Coded(np.array([0, 1], dtype=np.int8), np.array(["a", "b"], dtype=object))})
    result = compare(table[["x"]], other, magnitude=False)
    assert "x" in result.skipped and "numerical (float64) in the reference but categorical" in result.skipped["x"]
    dated = compare(table, table, features=["t", "x"], magnitude=False)
    assert "Column 't' is of type datetime64[ns]" in dated.skipped["t"] and list(dated.features) == ["x"]
    empty = list(iter_windows(table, "t", "Day", start="2013-01-05", end="2013-01-06"))
    assert len(empty) == 1 and empty[0].rows == 0
    assert compare(table[["x"]], empty[0].frame[["x"]]).no_data


def test_a_backfill_over_parquet_never_imports_pandas(parquet):
    script = textwrap.dedent(f"""
        import sys
        from studio_ext.ml.drift import Reference, compare, iter_windows, read_table
        table = read_table({str(parquet)!r}, ["t", "x", "k", "c", "n"])
        reference = Reference(table.take(slice(0, 500)))
        results = [compare(reference, w.frame, ["x", "k", "c", "n"], magnitude=False)
                   for w in iter_windows(table, "t", "Week")]
        assert any(r.alerts for r in results) and not all(r.no_data for r in results)
        print(sorted(m for m in ("pandas", "sklearn") if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
