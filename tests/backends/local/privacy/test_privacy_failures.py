"""ws.privacy when a release fails after its charge is reserved: the charge comes back, nothing half-written.

The failure is a real interrupt: SIGINT, as Ctrl-C in a notebook, delivered while OpenDP is
synthesizing, after the ledger already holds the charge.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from studio_ext import Workspace
from studio_ext.entities import Data
from studio_ext.errors import InvalidInput

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


def test_an_interrupted_synthesis_gives_its_charge_back_and_leaves_nothing(ws: Workspace) -> None:
    before = _ledger(ws)
    assert before == (0, 0.0, 0)
    datasets = {d.name for d in ws.data.list()}
    seen: list[tuple[int, float, int]] = []
    stop = threading.Event()

    def interrupt_once_charged() -> None:
        while not stop.is_set():
            state = _ledger(ws)
            if state[0] > before[0]:  # the charge is in the ledger; the release is running
                seen.append(state)
                os.kill(os.getpid(), signal.SIGINT)  # Python raises KeyboardInterrupt in the main thread
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=interrupt_once_charged, daemon=True)
    watcher.start()
    try:
        # OpenDP runs MST's steps as Python callbacks from its Rust side: an interrupt inside one comes
        # back as OpenDP's failure (InvalidInput here), elsewhere as KeyboardInterrupt. Either way the
        # synthesis ends without a dataset.
        with pytest.raises((KeyboardInterrupt, InvalidInput)):
            ws.privacy.synthesize("small:1", epsilon=1.0, method="mst", rows=500, name="interrupted")
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert seen and seen[0][:2] == (1, pytest.approx(1.0))  # the charge had been reserved
    assert _ledger(ws) == before  # the run record is gone and the ledger recomposed from what is left
    budget = ws.privacy.budget("small:1")
    assert budget.epsilon_spent == 0.0 and budget.queries == 0 and ws.privacy.history("small:1") == []
    assert {d.name for d in ws.data.list()} == datasets
    assert not list((Path(ws.path) / "privacy" / "synthetic").glob("interrupted-*"))
    # The budget given back is spendable: the same synthesis now completes and is charged once.
    done = ws.privacy.synthesize("small:1", epsilon=1.0, method="mst", rows=200, name="completed")
    assert done.row_count == 200 and ws.privacy.budget("small:1").epsilon_spent == pytest.approx(1.0)
