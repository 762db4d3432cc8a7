"""Profiles alone: exact figures on small tables, checked against pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studio_ext.ml.profiling import profile_parquet


def test_profile_matches_pandas(tmp_path):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({
        "x": rng.normal(10, 2, 5000),
        "n": rng.integers(0, 50, 5000),
        "cat": rng.choice(["a", "b", "c"], 5000, p=[0.5, 0.3, 0.2]),
        "day": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 30, 5000), unit="D"),
        "flag": rng.integers(0, 2, 5000).astype(bool),
    })
    frame.loc[::10, "x"] = np.nan
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    profile = profile_parquet(path, bins=10)
    x = profile.column("x")
    assert (x.type, x.count, x.missing) == ("float", 4500, 500)
    assert x.mean == pytest.approx(frame["x"].mean()) and x.std == pytest.approx(frame["x"].std())
    assert x.quantiles["0.25"] == pytest.approx(frame["x"].quantile(0.25))
    counts, edges = np.histogram(frame["x"].dropna(), bins=10)
    assert x.histogram_counts == counts.tolist() and x.histogram_edges == pytest.approx(edges.tolist())
    n = profile.column("n")
    assert n.type == "integer" and n.distinct == frame["n"].nunique()
    assert n.most_frequent[0] == (frame["n"].value_counts().index[0], frame["n"].value_counts().iloc[0])
    cat = profile.column("cat")
    assert cat.most_frequent == [(k, v) for k, v in frame["cat"].value_counts().items()]
    assert profile.column("day").min == "2024-01-01T00:00:00" and profile.column("day").type == "datetime"
    assert profile.column("flag").distinct == 2
    assert list(profile.to_frame()["column"]) == ["x", "n", "cat", "day", "flag"]
