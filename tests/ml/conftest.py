"""Real data for the explanation and fairness engines: a few thousand Adult census rows."""

from __future__ import annotations

import pandas as pd
import pytest

from studio_ext.ml.census import load_adult_census


def adult_pipeline(X: pd.DataFrame, estimator: object) -> object:
    """Impute + scale numbers, impute + one-hot categories, then ``estimator`` (the usual featurization)."""
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


@pytest.fixture(scope="session")
def adult() -> pd.DataFrame:
    return load_adult_census(rows=3000, seed=1)


@pytest.fixture(scope="session")
def adult_gbm(adult: pd.DataFrame) -> object:
    from sklearn.ensemble import GradientBoostingClassifier

    X = adult.drop(columns="income")
    return adult_pipeline(X, GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0)).fit(X, adult["income"])


@pytest.fixture(scope="session")
def adult_logistic(adult: pd.DataFrame) -> object:
    from sklearn.linear_model import LogisticRegression

    X = adult.drop(columns="income")
    return adult_pipeline(X, LogisticRegression(max_iter=500)).fit(X, adult["income"])


@pytest.fixture(scope="session")
def make_adult_pipeline():  # noqa: ANN201 - returns the builder above
    return adult_pipeline
