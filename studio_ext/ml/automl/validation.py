"""How trials are validated: the studio's automatic rule, k-fold, a holdout, or given data.

The automatic rule is Azure ML's: more than 20,000 rows → a 10 % holdout;
otherwise cross-validation with 10 folds below 1,000 rows and 3 folds above.
Forecasting validates on rolling origins (the last horizon of each series, then
the one before), never on shuffled rows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import pandas as pd

from studio_ext.errors import InvalidInput
from studio_ext.ml.automl.metrics import Task

__all__ = ["ValidationKind", "ValidationPlan", "forecast_splits", "make_splits", "plan_validation"]

LARGE_DATA_ROWS = 20_000
SMALL_DATA_ROWS = 1_000
AUTO_HOLDOUT = 0.10
MIN_VALIDATION_ROWS = 2

MSG_FOLDS = ("The 'n_cross_validations' parameter must be an int >= 2 (or 'auto'). Got {value!r} instead.")
MSG_SIZE = ("The 'validation_data_size' parameter must be a fraction in (0, 1). Got {value!r} instead.")
MSG_BOTH = ("Give at most one of validation_data, n_cross_validations and validation_data_size "
            "(got {given}).")
MSG_CLASS_TOO_SMALL = ("The class {label!r} of the target has only {count} rows, too few for "
                       "{folds}-fold cross-validation (each fold needs one). Use fewer folds "
                       "(n_cross_validations={fit}), a holdout (validation_data_size=0.2), or more data.")
MSG_ROWS_TOO_FEW = ("The training data has {rows} rows, too few for {what}: each validation set needs at "
                    "least {need} rows. Use fewer folds, a larger validation_data_size, or more data.")


class ValidationKind(str, enum.Enum):
    CROSS_VALIDATION = "cross_validation"
    HOLDOUT = "holdout"
    GIVEN = "validation_data"
    ROLLING_ORIGIN = "rolling_origin"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ValidationPlan:
    """The validation chosen for a run, and why (shown by the guardrails)."""

    kind: ValidationKind
    folds: int = 1
    fraction: float | None = None
    automatic: bool = False
    reason: str = ""

    @property
    def description(self) -> str:
        if self.kind is ValidationKind.CROSS_VALIDATION:
            text = f"{self.folds}-fold cross-validation"
        elif self.kind is ValidationKind.HOLDOUT:
            text = f"a {self.fraction:.0%} holdout of the training data"
        elif self.kind is ValidationKind.ROLLING_ORIGIN:
            text = f"{self.folds} rolling-origin folds (the latest periods of each series)"
        else:
            text = "the validation data given"
        return text + (f" ({self.reason})" if self.reason else "")

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind.value, "folds": self.folds, "fraction": self.fraction,
                "automatic": self.automatic, "reason": self.reason}


def plan_validation(
    n_rows: int,
    task: Task,
    *,
    has_validation_data: bool = False,
    n_cross_validations: int | str | None = None,
    validation_data_size: float | None = None,
) -> ValidationPlan:
    """Pick the validation as the studio does; refuse conflicting or malformed settings."""
    given = [name for name, v in (("validation_data", has_validation_data or None),
                                  ("n_cross_validations", n_cross_validations),
                                  ("validation_data_size", validation_data_size)) if v is not None]
    if len(given) > 1:
        raise InvalidInput(MSG_BOTH.format(given=", ".join(given)))
    if has_validation_data:
        return ValidationPlan(kind=ValidationKind.GIVEN)
    if validation_data_size is not None:
        if (not isinstance(validation_data_size, (int, float)) or isinstance(validation_data_size, bool)
                or not 0 < validation_data_size < 1):
            raise InvalidInput(MSG_SIZE.format(value=validation_data_size))
        return ValidationPlan(kind=ValidationKind.HOLDOUT, fraction=float(validation_data_size))
    if n_cross_validations is not None and n_cross_validations != "auto":
        if (not isinstance(n_cross_validations, int) or isinstance(n_cross_validations, bool)
                or n_cross_validations < 2):
            raise InvalidInput(MSG_FOLDS.format(value=n_cross_validations))
        kind = ValidationKind.ROLLING_ORIGIN if task is Task.FORECASTING else ValidationKind.CROSS_VALIDATION
        return ValidationPlan(kind=kind, folds=n_cross_validations)
    if task is Task.FORECASTING:
        return ValidationPlan(kind=ValidationKind.ROLLING_ORIGIN, folds=3, automatic=True,
                              reason="automatic: forecasting validates on the latest periods")
    if n_rows > LARGE_DATA_ROWS:
        return ValidationPlan(kind=ValidationKind.HOLDOUT, fraction=AUTO_HOLDOUT, automatic=True,
                              reason=f"automatic: more than {LARGE_DATA_ROWS:,} rows")
    folds = 10 if n_rows < SMALL_DATA_ROWS else 3
    size = f"fewer than {SMALL_DATA_ROWS:,}" if folds == 10 else f"{SMALL_DATA_ROWS:,} to {LARGE_DATA_ROWS:,}"
    return ValidationPlan(kind=ValidationKind.CROSS_VALIDATION, folds=folds, automatic=True,
                          reason=f"automatic: {size} rows")


def check_plan(plan: ValidationPlan, y: pd.Series, task: Task) -> None:
    """Refuse a plan the data cannot fill (a class smaller than the folds, tiny holdouts)."""
    n = len(y)
    if plan.kind is ValidationKind.CROSS_VALIDATION:
        if n < plan.folds * MIN_VALIDATION_ROWS:
            raise InvalidInput(MSG_ROWS_TOO_FEW.format(rows=n, what=f"{plan.folds}-fold cross-validation",
                                                       need=MIN_VALIDATION_ROWS))
        if task is Task.CLASSIFICATION:
            counts = y.value_counts()
            smallest = counts.idxmin()
            if counts.min() < plan.folds:
                raise InvalidInput(MSG_CLASS_TOO_SMALL.format(
                    label=_plain(smallest), count=int(counts.min()), folds=plan.folds,
                    fit=max(int(counts.min()), 2)))
    elif plan.kind is ValidationKind.HOLDOUT:
        held = int(round(n * (plan.fraction or 0)))
        need = max(MIN_VALIDATION_ROWS, y.nunique() if task is Task.CLASSIFICATION else 0)
        if held < need:
            raise InvalidInput(MSG_ROWS_TOO_FEW.format(rows=n, what=f"a {plan.fraction:.0%} holdout", need=need))


def make_splits(plan: ValidationPlan, y: np.ndarray, task: Task, seed: int = 0,
                n_train: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Row indices (train, validation) for every fold of a non-forecasting plan.

    For ``GIVEN``, the rows are training data followed by validation data and
    ``n_train`` says where the validation part starts.
    """
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    n = len(y)
    index = np.arange(n)
    if plan.kind is ValidationKind.GIVEN:
        if n_train is None:
            raise ValueError("n_train is required for given validation data")
        return [(index[:n_train], index[n_train:])]
    stratify = task is Task.CLASSIFICATION
    if plan.kind is ValidationKind.HOLDOUT:
        try:
            train, valid = train_test_split(index, test_size=plan.fraction, random_state=seed,
                                            stratify=y if stratify else None)
        except ValueError:  # a class with a single row cannot be stratified
            train, valid = train_test_split(index, test_size=plan.fraction, random_state=seed)
        return [(np.sort(train), np.sort(valid))]
    splitter = (StratifiedKFold(plan.folds, shuffle=True, random_state=seed) if stratify
                else KFold(plan.folds, shuffle=True, random_state=seed))
    return [(train, valid) for train, valid in splitter.split(index, y if stratify else None)]


def forecast_splits(times: pd.Series, grains: pd.Series, horizon: int, folds: int,
                    ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rolling origins: fold i validates on each series' periods ``(i-1)*h .. i*h`` from its end."""
    order = pd.DataFrame({"t": times.to_numpy(), "g": grains.to_numpy(), "i": np.arange(len(times))})
    order["rank_from_end"] = order.groupby("g")["t"].rank(method="first", ascending=False) - 1
    splits = []
    for fold in range(folds):
        lo, hi = fold * horizon, (fold + 1) * horizon
        valid = order.loc[(order.rank_from_end >= lo) & (order.rank_from_end < hi), "i"].to_numpy()
        train = order.loc[order.rank_from_end >= hi, "i"].to_numpy()
        if len(valid) and len(train):
            splits.append((np.sort(train), np.sort(valid)))
    return splits


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else value
