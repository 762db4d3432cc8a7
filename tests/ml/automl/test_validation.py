"""The studio's automatic validation rule, explicit choices, and data too small for them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studio_ext.errors import InvalidInput
from studio_ext.ml.automl import Task, ValidationKind, plan_validation
from studio_ext.ml.automl.validation import check_plan, make_splits


@pytest.mark.parametrize("rows, kind, folds", [
    (500, ValidationKind.CROSS_VALIDATION, 10),
    (5_000, ValidationKind.CROSS_VALIDATION, 3),
    (30_000, ValidationKind.HOLDOUT, 1),
])
def test_automatic_rule_follows_the_row_count(rows: int, kind: ValidationKind, folds: int) -> None:
    plan = plan_validation(rows, Task.CLASSIFICATION)
    assert plan.kind is kind and plan.folds == folds and plan.automatic
    assert "automatic" in plan.description


def test_explicit_choices_win_and_conflicts_are_refused() -> None:
    assert plan_validation(500, Task.REGRESSION, n_cross_validations=4).folds == 4
    assert plan_validation(500, Task.REGRESSION, validation_data_size=0.25).fraction == 0.25
    assert plan_validation(500, Task.REGRESSION, has_validation_data=True).kind is ValidationKind.GIVEN
    with pytest.raises(InvalidInput, match="Give at most one of validation_data, n_cross_validations"):
        plan_validation(500, Task.REGRESSION, n_cross_validations=3, validation_data_size=0.2)
    with pytest.raises(InvalidInput, match="must be an int >= 2"):
        plan_validation(500, Task.REGRESSION, n_cross_validations=1)


def test_a_class_smaller_than_the_folds_is_refused_with_the_fix() -> None:
    y = pd.Series(["a"] * 40 + ["b"] * 3)
    plan = plan_validation(len(y), Task.CLASSIFICATION, n_cross_validations=5)
    with pytest.raises(InvalidInput) as info:
        check_plan(plan, y, Task.CLASSIFICATION)
    assert str(info.value) == ("The class 'b' of the target has only 3 rows, too few for 5-fold cross-validation "
                               "(each fold needs one). Use fewer folds (n_cross_validations=3), a holdout "
                               "(validation_data_size=0.2), or more data.")


def test_folds_cover_every_row_once_and_keep_class_shares() -> None:
    y = np.array([0] * 90 + [1] * 30)
    splits = make_splits(plan_validation(len(y), Task.CLASSIFICATION, n_cross_validations=3), y, Task.CLASSIFICATION)
    held = np.concatenate([v for _, v in splits])
    assert sorted(held.tolist()) == list(range(120))
    assert all(y[v].mean() == pytest.approx(0.25) for _, v in splits)
