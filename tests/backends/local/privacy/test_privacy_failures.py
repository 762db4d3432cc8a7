"""ws.privacy when a release fails after its charge is reserved: the charge comes back, nothing half-written.

The failure is a real one from the file system, after the ledger holds the charge and OpenDP has
released the table: the synthetic rows cannot be written. (An interrupt, SIGINT, is not used: one
that lands inside a Python callback OpenDP's Rust side is running aborts the interpreter.)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from studio_ext import Workspace
from studio_ext.entities import Data

DP100 = Path(__file__).resolve().parents[5] / "shared" / "data" / "dp100"
COLUMNS = {"Age": {"type": "int", "lower": 0, "upper": 120}, "BMI": {"lower": 0, "upper": 100},
           "Diabetic": {"type": "int", "lower": 0, "upper": 1}}


@pytest.fixture(scope="module")
def ws(module_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    folder = tmp_path_factory.mktemp("data")
    pd.read_csv(DP100 / "diabetes.csv").head(1000).to_csv(folder / "diabetes.csv", index=False)
    module_workspace.data.create_or_update(Data(name="small", path=str(folder / "diabetes.csv"), type="tabular"))
    module_workspace.privacy.set_metadata("small:1", columns=COLUMNS, budget_epsilon=10.0, confirm=True)
    return module_workspace


def _ledger(ws: Workspace) -> tuple[int, float, int]:
    with ws._backend.store.engine.connect() as conn:  # type: ignore[attr-defined]
        records = conn.execute(sa.text("SELECT COUNT(*) FROM privacy_queries")).scalar()
        spent = conn.execute(sa.text("SELECT COALESCE(SUM(epsilon_spent), 0) FROM privacy_ledger")).scalar()
        counted = conn.execute(sa.text("SELECT COALESCE(SUM(queries), 0) FROM privacy_ledger")).scalar()
    return int(records or 0), float(spent or 0.0), int(counted or 0)


def test_a_synthesis_that_fails_after_its_charge_gives_it_back_and_leaves_nothing(ws: Workspace) -> None:
    before = _ledger(ws)
    assert before == (0, 0.0, 0)
    datasets = {d.name for d in ws.data.list()}
    # A real failure after the charge and the release: the synthetic rows cannot be written,
    # because a file stands where the workspace keeps its synthetic datasets' folder.
    folder = Path(ws.path) / "privacy" / "synthetic"
    if folder.is_dir():
        folder.rmdir()
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("not a folder")
    try:
        with pytest.raises(OSError):
            ws.privacy.synthesize("small:1", epsilon=1.0, method="mst", rows=100, name="unwritten")
    finally:
        folder.unlink()
    assert _ledger(ws) == before  # the run record is gone and the ledger recomposed from what is left
    budget = ws.privacy.budget("small:1")
    assert budget.epsilon_spent == 0.0 and budget.queries == 0 and ws.privacy.history("small:1") == []
    assert {d.name for d in ws.data.list()} == datasets
    # The budget given back is spendable.
    ws.privacy.count("small:1", epsilon=9.5)
    assert ws.privacy.budget("small:1").epsilon_spent == pytest.approx(9.5)
