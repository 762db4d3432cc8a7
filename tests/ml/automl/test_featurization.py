"""Featurization: column types detected as the studio does, overrides and blocks honoured, bad settings refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studio_ext.entities import FeaturizationSettings
from studio_ext.errors import InvalidInput
from studio_ext.ml.automl import Task, plan_featurization


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    words = np.array(["late", "delivery", "great", "service", "broken", "box", "would", "buy", "again"])
    return pd.DataFrame({
        "age": rng.integers(18, 90, n).astype(float),
        "row_id": np.arange(n),
        "colour": rng.choice(["red", "green", "blue", None], n),
        "city": [f"city-{i % 80}" for i in range(n)],
        "signup": pd.date_range("2024-01-01", periods=n, freq="h").astype(str),
        "review": [" ".join(rng.choice(words, 6)) + f" #{i}" for i in range(n)],
        "constant": ["x"] * n,
        "empty": [None] * n,
        "income": np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 10, n)),
    })


def by_name(plan):
    return {c.name: c for c in plan.columns}


def test_auto_detects_purposes_and_transformers(frame: pd.DataFrame) -> None:
    plan = by_name(plan_featurization(frame, Task.CLASSIFICATION))
    assert plan["age"].purpose.value == "Numeric" and plan["age"].transformer is None
    assert plan["income"].transformer == "Imputer" and plan["income"].params == {"strategy": "mean"}
    assert plan["colour"].transformer == "OneHotEncoder" and plan["colour"].missing > 0
    assert plan["city"].transformer == "CatTargetEncoder", "80 categories is high cardinality"
    assert plan["signup"].purpose.value == "DateTime"
    assert plan["review"].purpose.value == "Text" and plan["review"].transformer == "TfIdf"
    assert plan["row_id"].dropped and "row id" in plan["row_id"].reason
    assert plan["constant"].dropped and plan["empty"].dropped


def test_the_built_transformer_gives_a_dense_matrix_without_missing_values(frame: pd.DataFrame) -> None:
    plan = plan_featurization(frame, Task.CLASSIFICATION)
    y = np.arange(len(frame)) % 2
    out = plan.build().fit_transform(frame, y)
    assert out.shape[0] == len(frame) and out.dtype.kind == "f"
    assert not np.isnan(out).any()
    # Scoring applies the same steps to new rows, including unseen categories and dates as text.
    fresh = frame.head(3).assign(colour=["purple", None, "red"], city=["nowhere", "city-1", "city-2"])
    assert plan.build().fit(frame, y).transform(fresh).shape == (3, out.shape[1])


def test_blocked_transformers_fall_back_and_a_column_with_all_blocked_is_dropped(frame: pd.DataFrame) -> None:
    settings = FeaturizationSettings(mode="custom", blocked_transformers=["OneHotEncoder", "TfIdf", "CountVectorizer"])
    plan = by_name(plan_featurization(frame, Task.REGRESSION, settings))
    assert plan["colour"].transformer == "HashOneHotEncoder"
    assert plan["review"].dropped and "blocked" in plan["review"].reason


def test_column_types_and_transformer_params_override_detection(frame: pd.DataFrame) -> None:
    settings = FeaturizationSettings(
        mode="custom",
        column_name_and_types={"age": "Categorical", "city": "CategoricalHash", "review": "Ignore"},
        transformer_params={"imputer": [{"fields": ["income"], "parameters": {"strategy": "median"}}],
                            "hash_one_hot_encoder": [{"fields": ["city"], "parameters": {"number_of_bits": 4}}]},
    )
    plan = by_name(plan_featurization(frame, Task.CLASSIFICATION, settings))
    assert plan["age"].purpose.value == "Categorical" and plan["age"].reason == "set by column_name_and_types"
    assert plan["city"].transformer == "HashOneHotEncoder" and plan["city"].params == {"number_of_bits": 4}
    assert plan["review"].dropped
    assert plan["income"].params == {"strategy": "median"}
    out = plan_featurization(frame, Task.CLASSIFICATION, settings).build().fit_transform(frame, np.zeros(len(frame)))
    assert out.shape[0] == len(frame)


@pytest.mark.parametrize("settings, message", [
    (FeaturizationSettings(column_name_and_types={"nope": "Numeric"}),
     "column_name_and_types names the column 'nope', which the training data does not have."),
    (FeaturizationSettings(column_name_and_types={"age": "Decimal"}),
     "column_name_and_types gives 'age' the type 'Decimal'. Use one of: Numeric, Categorical, CategoricalHash, "
     "DateTime, Text, Ignore."),
    (FeaturizationSettings(blocked_transformers=["Magic"]), "blocked_transformers names 'Magic', which is not a "
     "transformer."),
    (FeaturizationSettings(transformer_params={"imputer": [{"fields": ["age"], "parameters": {"strategy": "max"}}]}),
     "The imputer strategy for 'age' must be one of mean, median, most_frequent, constant. Got 'max' instead."),
    (FeaturizationSettings(mode="sometimes"), "The featurization mode must be 'auto', 'off' or 'custom'. "
     "Got 'sometimes' instead."),
])
def test_bad_featurization_settings_are_refused(frame: pd.DataFrame, settings, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        plan_featurization(frame, Task.CLASSIFICATION, settings)
    assert str(info.value).startswith(message)


def test_featurization_off_needs_numeric_columns(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="Featurization is off, but the column 'colour' is not numeric"):
        plan_featurization(frame[["age", "colour"]], Task.CLASSIFICATION, FeaturizationSettings(mode="off"))
    plan = plan_featurization(frame[["age", "income"]], Task.CLASSIFICATION, FeaturizationSettings(mode="off"))
    assert [c.purpose.value for c in plan.columns] == ["Numeric", "Numeric"]


def test_nothing_left_to_learn_from_is_refused(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="No column is left to learn from"):
        plan_featurization(frame[["constant", "empty"]], Task.CLASSIFICATION)
