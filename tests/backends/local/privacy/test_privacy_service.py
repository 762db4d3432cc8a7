"""ws.privacy on a local workspace: metadata with confirmed bounds, charged queries, the ledger under concurrency."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from studio_ext import Workspace
from studio_ext.entities import Data
from studio_ext.errors import BudgetExceeded, InvalidInput, NotFound

DP100 = Path(__file__).resolve().parents[5] / "shared" / "data" / "dp100"
COLUMNS = {"Age": {"type": "int", "lower": 0, "upper": 120}, "BMI": {"lower": 0, "upper": 100},
           "Diabetic": {"type": "int", "lower": 0, "upper": 1}}


@pytest.fixture(scope="module")
def ws(module_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    folder = tmp_path_factory.mktemp("data")
    for name in ("diabetes.csv", "diabetes2.csv"):
        shutil.copy(DP100 / name, folder / name)
    module_workspace.data.create_or_update(Data(name="diabetes", path=str(folder / "diabetes.csv"), type="tabular"))
    module_workspace.data.create_or_update(Data(name="diabetes", path=str(folder / "diabetes2.csv"), type="tabular"))
    module_workspace.data.create_or_update(Data(name="owned", path=str(folder / "diabetes.csv"), type="tabular"))
    module_workspace.data.create_or_update(Data(name="folder", path=str(folder), type="uri_folder"))
    return module_workspace


def _ledger_rows(ws: Workspace) -> tuple[int, float]:
    store = ws._backend.store  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        n = conn.execute(sa.text("SELECT COUNT(*) FROM privacy_queries")).scalar()
        spent = conn.execute(sa.text("SELECT COALESCE(SUM(epsilon_spent), 0) FROM privacy_ledger")).scalar()
    return int(n), float(spent)


def test_metadata_bounds_from_the_data_must_be_confirmed(ws: Workspace) -> None:
    described = ws.privacy.describe("diabetes:1")
    assert described.columns["Age"].type == "int" and described.columns["Age"].lower is None
    with pytest.raises(NotFound, match="no privacy metadata"):
        ws.privacy.mean("diabetes:1", "Age", epsilon=0.5)
    # Diabetic's 0 and 1 are the observed min and max: refused until confirmed.
    with pytest.raises(InvalidInput, match=r"Diabetic\.lower, Diabetic\.upper"):
        ws.privacy.set_metadata("diabetes:1", columns=COLUMNS, budget_epsilon=3.0, budget_delta=1e-5)
    with pytest.raises(InvalidInput, match="greater than upper"):
        ws.privacy.set_metadata("diabetes:1", columns={"Age": {"lower": 100, "upper": 0}})
    md = ws.privacy.set_metadata("diabetes:1", columns=COLUMNS, budget_epsilon=3.0, budget_delta=1e-5,
                                 confirm=["Diabetic.lower", "Diabetic.upper"])
    assert md.columns["Diabetic"].confirmed and not md.columns["Age"].confirmed
    assert ws.privacy.describe("azureml:diabetes:1").budget_epsilon == 3.0
    with pytest.raises(InvalidInput, match="need a tabular one"):
        ws.privacy.describe("folder:1")


def test_queries_are_charged_recorded_without_values_and_refused_past_the_budget(ws: Workspace) -> None:
    mean = ws.privacy.mean("diabetes:1", "Age", epsilon=0.5)
    assert mean.epsilon == pytest.approx(0.5) and mean.interval[0] <= mean.value <= mean.interval[1]
    hist = ws.privacy.histogram("diabetes:1", "Diabetic", epsilon=0.5)
    assert list(hist.value["Diabetic"]) == [0, 1]
    cov = ws.privacy.covariance("diabetes:1", ["Age", "BMI"], epsilon=0.5)
    assert cov.value.shape == (2, 2)
    sql = ws.privacy.query("diabetes:1", "SELECT Diabetic, COUNT(*), AVG(Age) FROM diabetes GROUP BY Diabetic",
                           epsilon=0.5)
    assert len(sql.value) == 2
    budget = ws.privacy.budget("diabetes:1")
    assert budget.epsilon_spent == pytest.approx(2.0) and budget.queries == 4
    history = ws.privacy.history("diabetes:1")
    assert [h.statistic for h in history] == ["mean", "histogram", "covariance", "sql"]
    assert all("pid" in h.caller for h in history)

    before = _ledger_rows(ws)
    with pytest.raises(BudgetExceeded, match=r"Remaining: epsilon=1(\.0+)?\b"):
        ws.privacy.mean("diabetes:1", "Age", epsilon=1.5)
    # Bad input changes nothing.
    for call in (lambda: ws.privacy.mean("diabetes:1", "Pregnancies", epsilon=0.1),
                 lambda: ws.privacy.count("diabetes:1", epsilon=float("nan")),
                 lambda: ws.privacy.count("diabetes:1", epsilon=0.1, delta=0.5),
                 lambda: ws.privacy.query("diabetes:1", "SELECT STDDEV(Age) FROM diabetes", epsilon=0.1)):
        with pytest.raises(InvalidInput):
            call()
    assert _ledger_rows(ws) == before
    # The second version shares rows with the first (by default): the budget carries over.
    ws.privacy.set_metadata("diabetes:2", columns=COLUMNS, budget_epsilon=3.0, budget_delta=1e-5, confirm=True)
    assert ws.privacy.budget("diabetes:2").epsilon_spent == pytest.approx(2.0)
    ws.privacy.set_metadata("diabetes:2", new_budget=True)  # the user states: no rows in common
    assert ws.privacy.budget("diabetes:2").epsilon_spent == 0.0


def test_twenty_parallel_queries_against_a_budget_for_ten(ws: Workspace) -> None:
    ws.privacy.set_metadata("owned:1", columns=COLUMNS, budget_epsilon=1.0, confirm=True)

    def ask(_: int) -> str:
        try:
            ws.privacy.count("owned:1", epsilon=0.1)
            return "answered"
        except BudgetExceeded:
            return "refused"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(ask, range(20)))
    assert outcomes.count("answered") == 10 and outcomes.count("refused") == 10
    budget = ws.privacy.budget("owned:1")
    assert budget.queries == 10 and budget.epsilon_spent == pytest.approx(1.0)


def test_compare_spends_nothing_and_is_refused_on_protected_data(ws: Workspace) -> None:
    before = ws.privacy.budget("owned:1")
    c = ws.privacy.compare("owned:1", "SELECT COUNT(*) AS n, AVG(Age) AS age FROM owned", epsilons=[0.1, 1.0],
                           repeats=5)
    assert "spends no privacy budget" in c.note
    assert set(c.samples["output"]) == {"n", "age"} and len(c.samples) == 2 * 5 * 2
    spread = c.spread()
    wide = spread[(spread.output == "age") & (spread.epsilon == 0.1)].mean_abs_error.item()
    narrow = spread[(spread.output == "age") & (spread.epsilon == 1.0)].mean_abs_error.item()
    assert c.exact["n"] == 10000 and narrow <= wide * 3
    assert ws.privacy.budget("owned:1") == before
    ws.privacy.set_metadata("owned:1", protected=True)
    with pytest.raises(InvalidInput, match="protected"):
        ws.privacy.compare("owned:1", "SELECT COUNT(*) FROM owned")


def test_synthesize_registers_a_dataset_that_records_its_source_and_spends_the_budget_once(ws: Workspace) -> None:
    ws.privacy.set_metadata("diabetes:2", budget_epsilon=5.0)
    before = ws.privacy.budget("diabetes:2").epsilon_spent
    synthetic = ws.privacy.synthesize("diabetes:2", epsilon=1.0, method="mst", rows=400,
                                      columns=["Age", "BMI", "Diabetic"], name="diabetes-synthetic")
    assert synthetic.tags["privacy.source"] == "azureml:diabetes:2" and synthetic.tags["privacy.method"] == "mst"
    assert float(synthetic.tags["privacy.epsilon"]) == pytest.approx(1.0)
    assert synthetic.row_count == 400 and [c.name for c in synthetic.columns] == ["Age", "BMI", "Diabetic"]
    assert ws.privacy.budget("diabetes:2").epsilon_spent == pytest.approx(before + 1.0)
    frame = ws.data.load(synthetic.name, synthetic.version)
    # A row may be missing a key (OpenDP keeps a category for values outside the declared keys).
    assert frame["Diabetic"].dropna().isin([0, 1]).all() and frame["Age"].dropna().between(0, 120).all()
    # The synthetic set has no budget of the original: its own metadata, its own ledger.
    ws.privacy.set_metadata(f"{synthetic.name}:{synthetic.version}",
                            columns={"Age": {"lower": 0, "upper": 120}}, budget_epsilon=1.0)
    ws.privacy.mean(f"{synthetic.name}:{synthetic.version}", "Age", epsilon=0.5)
    assert ws.privacy.budget("diabetes:2").epsilon_spent == pytest.approx(before + 1.0)
    with pytest.raises(InvalidInput, match="method"):
        ws.privacy.synthesize("diabetes:2", epsilon=1.0, method="gan")
