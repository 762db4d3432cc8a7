"""The drift engine on samples of known distributions: metrics, thresholds, bad input, windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

import studio_ext.ml.drift as drift
from studio_ext.errors import InvalidInput
from studio_ext.ml.drift import (
    CATEGORICAL_METRICS,
    DEFAULT_THRESHOLDS,
    NUMERICAL_METRICS,
    attribution_drift,
    compare,
    data_quality,
    drift_magnitude,
    feature_drift,
    feature_kind,
    prediction_drift,
    windows,
)

N = 4000


def _frame(shift: float = 0.0, probs: tuple[float, float, float] = (0.5, 0.3, 0.2), n: int = N, seed: int = 0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, n),
            "k": rng.integers(0, 100, n),
            "c": rng.choice(["a", "b", "c"], n, p=list(probs)),
        }
    )


def test_public_api_is_what_all_says():
    public = {name for name in dir(drift) if not name.startswith("_")}
    assert public - {"annotations"} >= set(drift.__all__)
    assert sorted(drift.__all__) == sorted(set(drift.__all__))
    for name in drift.__all__:
        assert getattr(drift, name) is not None


def test_metric_names_are_azures():
    from azure.ai.ml.constants import MonitorMetricName
    from azure.ai.ml.entities import CategoricalDriftMetrics, NumericalDriftMetrics

    azure_names = {m.value for m in MonitorMetricName}
    assert set(NUMERICAL_METRICS) | set(CATEGORICAL_METRICS) <= azure_names
    assert set(NUMERICAL_METRICS) == set(vars(NumericalDriftMetrics())) - {"metric", "metric_threshold"}
    assert set(CATEGORICAL_METRICS) == set(vars(CategoricalDriftMetrics()))
    num = NumericalDriftMetrics._get_default_thresholds()
    cat = CategoricalDriftMetrics._get_default_thresholds()
    assert DEFAULT_THRESHOLDS["numerical"] == {"normalized_wasserstein_distance": num.normalized_wasserstein_distance}
    assert DEFAULT_THRESHOLDS["categorical"] == {"jensen_shannon_distance": cat.jensen_shannon_distance}


def test_numerical_metrics_are_scipys_on_every_row():
    ref, tgt = _frame(seed=1)["x"], _frame(shift=0.5, seed=2)["x"]
    out = feature_drift(ref, tgt, "numerical")
    assert set(out) == {*NUMERICAL_METRICS, "two_sample_kolmogorov_smirnov_test_p_value"}
    assert out["normalized_wasserstein_distance"] == pytest.approx(wasserstein_distance(ref, tgt) / np.std(ref))
    ks = ks_2samp(ref, tgt)
    assert out["two_sample_kolmogorov_smirnov_test"] == pytest.approx(ks.statistic)
    assert out["two_sample_kolmogorov_smirnov_test_p_value"] == pytest.approx(ks.pvalue)
    # A shift of half a standard deviation of N(0, 1): W1 = 0.5, KS D = 2*Phi(0.25)-1 = 0.197.
    assert out["normalized_wasserstein_distance"] == pytest.approx(0.5, abs=0.06)
    assert out["two_sample_kolmogorov_smirnov_test"] == pytest.approx(0.197, abs=0.04)
    assert out["two_sample_kolmogorov_smirnov_test_p_value"] < 1e-10
    # PSI of N(0,1) vs N(0.5,1) is mu^2 = 0.25 in the limit; 20 quantile bins come close.
    assert out["population_stability_index"] == pytest.approx(0.25, abs=0.07)
    assert 0.1 < out["jensen_shannon_distance"] < 0.3


def test_same_distribution_gives_small_metrics():
    out = feature_drift(_frame(seed=1)["x"], _frame(seed=2)["x"], "numerical")
    assert out["normalized_wasserstein_distance"] < 0.06
    assert out["jensen_shannon_distance"] < 0.06
    assert out["population_stability_index"] < 0.02
    assert out["two_sample_kolmogorov_smirnov_test_p_value"] > 0.01
    identical = feature_drift(_frame(seed=1)["x"], _frame(seed=1)["x"], "numerical")
    assert identical["normalized_wasserstein_distance"] == 0.0
    assert identical["jensen_shannon_distance"] == pytest.approx(0.0, abs=1e-7)


def test_categorical_metrics():
    ref, tgt = _frame(seed=1)["c"], _frame(probs=(0.2, 0.3, 0.5), seed=2)["c"]
    out = feature_drift(ref, tgt, "categorical")
    assert set(out) == {*CATEGORICAL_METRICS, "pearsons_chi_squared_test_p_value"}
    table = np.vstack([ref.value_counts().sort_index(), tgt.value_counts().sort_index()])
    chi2 = chi2_contingency(table)
    assert out["pearsons_chi_squared_test"] == pytest.approx(chi2.statistic)
    assert out["pearsons_chi_squared_test_p_value"] == pytest.approx(chi2.pvalue)
    # The population's distance: JS(base 2) of (.5,.3,.2) and (.2,.3,.5).
    assert out["jensen_shannon_distance"] == pytest.approx(jensenshannon([0.5, 0.3, 0.2], [0.2, 0.3, 0.5], base=2), abs=0.03)
    expected_psi = sum((q - p) * np.log(q / p) for p, q in [(0.5, 0.2), (0.3, 0.3), (0.2, 0.5)])
    assert out["population_stability_index"] == pytest.approx(expected_psi, rel=0.1)


def test_a_category_new_in_the_target_counts_and_stays_finite():
    ref = pd.Series(["a"] * 50 + ["b"] * 50, name="c")
    tgt = pd.Series(["a"] * 50 + ["z"] * 50, name="c")
    out = feature_drift(ref, tgt, "categorical")
    assert np.isfinite(out["population_stability_index"]) and out["population_stability_index"] > 1
    assert out["jensen_shannon_distance"] == pytest.approx(jensenshannon([50, 50, 0], [50, 0, 50], base=2))


def test_metric_of_the_wrong_type_is_refused_with_the_reason():
    with pytest.raises(InvalidInput, match="'pearsons_chi_squared_test' applies to categorical features only, not to a numerical"):
        feature_drift(_frame()["x"], _frame()["x"], "numerical", ["pearsons_chi_squared_test"])
    with pytest.raises(InvalidInput, match="'normalized_wasserstein_distance' applies to numerical features only"):
        compare(_frame(), _frame(seed=3), thresholds={"categorical": {"normalized_wasserstein_distance": 0.1}})
    with pytest.raises(InvalidInput, match="Unknown drift metric 'chebyshev'"):
        feature_drift(_frame()["x"], _frame()["x"], "numerical", ["chebyshev"])
    with pytest.raises(InvalidInput, match="'numerical' or 'categorical'. Got 'text'"):
        compare(_frame(), _frame(), thresholds={"text": {"jensen_shannon_distance": 0.1}})


def test_feature_kind():
    f = _frame()
    assert feature_kind(f["x"], f["x"]) == "numerical"
    assert feature_kind(f["k"], f["x"]) == "numerical"
    assert feature_kind(f["c"], f["c"].astype("category")) == "categorical"
    assert feature_kind(pd.Series([True, False]), pd.Series([False])) == "categorical"
    with pytest.raises(InvalidInput, match="Column 'x' is numerical \\(float64\\) in the reference but categorical"):
        feature_kind(f["x"], f["x"].astype(str))


def test_compare_alerts_on_azures_default_thresholds():
    r = compare(_frame(seed=1), _frame(shift=0.5, probs=(0.2, 0.3, 0.5), seed=2))
    assert r.features["x"].alerts == ("normalized_wasserstein_distance",)
    assert r.features["c"].alerts == ("jensen_shannon_distance",)
    assert r.features["k"].alerts == ()
    assert r.drifted_features == ["x", "c"]
    assert 15 < r.magnitude <= 100
    assert (r.rows_reference, r.rows_target, r.no_data) == (N, N, False)
    assert r.to_dict()["features"]["x"]["alerts"] == ["normalized_wasserstein_distance"]

    calm = compare(_frame(seed=1), _frame(seed=2))
    assert calm.alerts == {} and calm.magnitude < 5


def test_thresholds_on_tests_are_significance_levels():
    r = compare(
        _frame(seed=1),
        _frame(shift=0.2, seed=2),
        features=["x"],
        metrics=["population_stability_index"],
        thresholds={"numerical": {"two_sample_kolmogorov_smirnov_test": 0.05, "normalized_wasserstein_distance": 0.5}},
        magnitude=False,
    )
    metrics = r.features["x"].metrics
    # Only the asked metric and the threshold metrics are computed.
    assert set(metrics) == {
        "population_stability_index",
        "two_sample_kolmogorov_smirnov_test",
        "two_sample_kolmogorov_smirnov_test_p_value",
        "normalized_wasserstein_distance",
    }
    assert r.features["x"].alerts == ("two_sample_kolmogorov_smirnov_test",)
    assert r.magnitude is None


def test_a_window_with_no_rows_is_no_data_not_zero_drift():
    ref = _frame()
    r = compare(ref, ref.iloc[:0])
    assert r.no_data and r.features == {} and r.magnitude is None and r.rows_target == 0
    assert "no rows" in r.warnings[0] and "not zero drift" in r.warnings[0]
    assert data_quality(ref, ref.iloc[:0])["x"] == {
        "null_value_rate": None,
        "data_type_error_rate": None,
        "out_of_bounds_rate": None,
    }


def test_feature_missing_from_one_side_is_named():
    ref, tgt = _frame(), _frame(seed=1).drop(columns="c").assign(extra=1.0)
    with pytest.raises(InvalidInput, match="Feature 'c' \\(missing from the target\\)"):
        compare(ref, tgt, features=["x", "c"])
    r = compare(ref, tgt, magnitude=False)
    assert r.skipped == {"c": "missing from the target", "extra": "missing from the reference"}
    assert set(r.features) == {"x", "k"}
    assert "Column 'c' skipped: missing from the target." in r.warnings


def test_a_column_of_different_types_is_named_and_skipped_with_a_warning():
    ref = _frame()
    tgt = _frame(seed=1).assign(k=lambda f: f["k"].astype(str))
    r = compare(ref, tgt)
    assert "k" not in r.features and set(r.features) == {"x", "c"}
    assert "Column 'k' is numerical (int64) in the reference but categorical" in r.skipped["k"]
    assert any(w.startswith("Column 'k' skipped: Column 'k' is numerical") for w in r.warnings)
    assert r.magnitude is not None


def test_a_column_all_null_on_one_side_is_skipped():
    tgt = _frame(seed=1).assign(x=np.nan)
    r = compare(_frame(), tgt, magnitude=False)
    assert "no non-null values in the target" in r.skipped["x"]


def test_drift_magnitude_separates_and_does_not_invent():
    assert drift_magnitude(_frame(seed=1), _frame(seed=2), ["x", "c"]) < 5
    assert drift_magnitude(_frame(seed=1), _frame(shift=3.0, seed=2), ["x", "c"]) > 90
    with pytest.raises(InvalidInput, match="at least 20 rows on each side; the reference has 5"):
        drift_magnitude(_frame(n=5), _frame(), ["x"])
    r = compare(_frame(), _frame(n=10))
    assert r.magnitude is None and any("magnitude not computed" in w for w in r.warnings)


def test_windows_cut_by_week_and_keep_empty_ones():
    stamps = pd.to_datetime(["2013-01-01", "2013-01-02", "2013-01-08", "2013-01-23", None])
    frame = pd.DataFrame({"t": stamps, "v": [1, 2, 3, 4, 5]})
    ws = windows(frame, "t", "Week")
    assert [w.start for w in ws] == list(pd.to_datetime(["2012-12-31", "2013-01-07", "2013-01-14", "2013-01-21"]))
    assert [w.rows for w in ws] == [2, 1, 0, 1]
    assert ws[2].frame.empty and ws[0].end == pd.Timestamp("2013-01-07")
    months = windows(frame, "t", "Month", start="2012-12-15", end="2013-03-01")
    assert [(w.start.month, w.rows) for w in months] == [(12, 0), (1, 4), (2, 0)]
    days = windows(frame.assign(t=frame["t"].dt.strftime("%Y-%m-%d")), "t", "Day", end="2013-01-03")
    assert [w.rows for w in days] == [1, 1]


def test_windows_bad_input():
    frame = pd.DataFrame({"when": pd.to_datetime(["2013-01-01"]), "v": [1]})
    with pytest.raises(InvalidInput, match="no timestamp column 'time_hour': its columns are \\['when', 'v'\\]"):
        windows(frame, "time_hour", "Week")
    with pytest.raises(InvalidInput, match="'frequency' parameter must be one of 'Day', 'Week', 'Month'. Got 'Hour'"):
        windows(frame, "when", "Hour")
    with pytest.raises(InvalidInput, match="not times"):
        windows(pd.DataFrame({"when": ["soon"]}), "when", "Day")


def test_data_quality():
    ref = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "c": ["a", "b", "a", "b"]})
    tgt = pd.DataFrame({"x": [1.0, None, 5.0, "oops"], "c": ["a", "z", None, 3]})
    q = data_quality(ref, tgt)
    assert q["x"] == {"null_value_rate": 0.25, "data_type_error_rate": pytest.approx(1 / 3), "out_of_bounds_rate": 0.5}
    assert q["c"] == {"null_value_rate": 0.25, "data_type_error_rate": pytest.approx(1 / 3), "out_of_bounds_rate": 0.5}
    with pytest.raises(InvalidInput, match="Feature 'y' \\(missing from the reference\\)"):
        data_quality(ref, tgt.assign(y=1), features=["y"])


def test_prediction_drift_on_labels_and_scores():
    labels = prediction_drift(["yes"] * 80 + ["no"] * 20, ["yes"] * 30 + ["no"] * 70)
    assert labels.features["prediction"].kind == "categorical"
    assert labels.features["prediction"].alerts == ("jensen_shannon_distance",)
    scores = prediction_drift(_frame(seed=1)["x"].rename("score"), _frame(seed=2)["x"].rename("score"))
    assert scores.features["score"].alerts == () and scores.magnitude is None


def test_attribution_drift_is_ndcg():
    ref = {"age": 0.5, "bmi": 0.3, "glucose": 0.2}
    assert attribution_drift(ref, dict(ref)) == pytest.approx(1.0)
    swapped = attribution_drift(ref, {"age": 0.1, "bmi": 0.3, "glucose": 0.6})
    assert 0.5 < swapped < 0.95
    assert attribution_drift(ref, {"age": 0.5, "bmi": 0.3}) == pytest.approx(1.0)
    with pytest.raises(InvalidInput, match="production feature importance is empty"):
        attribution_drift(ref, {})


def test_beyond_the_exact_limit_a_side_is_sampled_and_said(monkeypatch):
    import studio_ext.ml.drift._compare as compare_module
    import studio_ext.ml.drift._metrics as metrics_module

    # The limit is 10 M rows; lowered here so the sampled path runs on a small frame.
    monkeypatch.setattr(metrics_module, "EXACT_ROWS", 1000)
    monkeypatch.setattr(compare_module, "EXACT_ROWS", 1000)
    r = compare(_frame(seed=1), _frame(seed=2, n=800), magnitude=False)
    assert r.warnings == [
        f"The reference has {N:,} rows: its metrics are computed on a uniform random sample of 1,000 rows "
        "(exact up to that)."
    ]
    assert r.alerts == {}
    again = compare(_frame(seed=1), _frame(seed=2, n=800), magnitude=False)
    assert again.features["x"].metrics == r.features["x"].metrics  # the sample is seeded


def test_iter_windows_gives_the_windows_one_at_a_time_and_checks_at_the_call():
    rng = np.random.default_rng(3)
    stamps = pd.Series(pd.date_range("2013-01-01", periods=500, freq="7h", tz="UTC")).sample(frac=1, random_state=1)
    frame = pd.DataFrame({"t": stamps.to_numpy(), "v": rng.normal(size=500)})
    listed = windows(frame, "t", "Week")
    lazy = drift.iter_windows(frame, "t", "Week")
    assert not isinstance(lazy, list)
    for a, b in zip(listed, lazy, strict=True):
        assert (a.start, a.end, a.rows) == (b.start, b.end, b.rows)
        pd.testing.assert_frame_equal(a.frame, b.frame)
    in_order = frame.sort_values("t", ignore_index=True)
    assert [w.rows for w in drift.iter_windows(in_order, "t", "Week")] == [w.rows for w in listed]
    with pytest.raises(InvalidInput, match="no timestamp column"):
        drift.iter_windows(frame, "when", "Week")  # raised at the call, before any window


def test_a_prepared_reference_and_categorical_codes_give_the_same_metrics():
    ref, tgt = _frame(), _frame(shift=0.3, probs=(0.3, 0.3, 0.4), seed=5)
    plain = compare(ref, tgt, magnitude=False)
    prepared = drift.Reference(ref)
    for _ in range(2):  # the second comparison reuses the reference's side of each feature
        again = compare(prepared, tgt, magnitude=False)
        assert again.to_dict() == plain.to_dict()
    coded = compare(ref.astype({"c": "category"}), tgt.astype({"c": "category"}), magnitude=False)
    for metric, value in plain.features["c"].metrics.items():
        assert coded.features["c"].metrics[metric] == pytest.approx(value, rel=1e-12)


def test_read_columns_reads_only_those_with_strings_as_categoricals(tmp_path):
    path = tmp_path / "t.parquet"
    _frame().assign(t=pd.date_range("2013-01-01", periods=N, freq="h")).to_parquet(path)
    frame = drift.read_columns(path, ["t", "x", "c"])
    assert list(frame.columns) == ["t", "x", "c"] and len(frame) == N
    assert isinstance(frame["c"].dtype, pd.CategoricalDtype) and frame["x"].dtype == np.float64
    with pytest.raises(InvalidInput, match="Column 'nope' is not in t.parquet: its columns are"):
        drift.read_columns(path, ["x", "nope"])
