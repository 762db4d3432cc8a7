"""The DP-100 diabetes table (10k rows) for the privacy engines, copied out of shared data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

DP100 = Path(__file__).resolve().parents[4] / "shared" / "data" / "dp100"


@pytest.fixture(scope="session")
def diabetes_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("dp100") / "diabetes.csv"
    shutil.copy(DP100 / "diabetes.csv", target)
    return target


@pytest.fixture(scope="session")
def diabetes(diabetes_csv: Path) -> pd.DataFrame:
    return pd.read_csv(diabetes_csv)
