"""Real data for the explanation and fairness engines: a few thousand Adult census rows."""

from __future__ import annotations

import pandas as pd
import pytest

from studio_ext.ml.census import census_pipeline, load_adult_census


@pytest.fixture(scope="session")
def adult() -> pd.DataFrame:
    return load_adult_census(rows=3000, seed=1)


@pytest.fixture(scope="session")
def adult_gbm(adult: pd.DataFrame) -> object:
    from sklearn.ensemble import GradientBoostingClassifier

    X = adult.drop(columns="income")
    return census_pipeline(X, GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0)).fit(X, adult["income"])


@pytest.fixture(scope="session")
def adult_logistic(adult: pd.DataFrame) -> object:
    from sklearn.linear_model import LogisticRegression

    X = adult.drop(columns="income")
    return census_pipeline(X, LogisticRegression(max_iter=500)).fit(X, adult["income"])

