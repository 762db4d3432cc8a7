"""The Privacy page on a real workspace: metadata with marked bounds, a charged query, the teaching view."""

from __future__ import annotations

import shutil
from pathlib import Path

import ipywidgets as widgets
import pytest

from studio_ext import Workspace
from studio_ext.entities import Data
from studio_ext.panels import PAGES, open_page
from studio_ext.panels.privacy import PrivacyPanel

DP100 = Path(__file__).resolve().parents[3] / "shared" / "data" / "dp100"


@pytest.fixture
def ws(workspace: Workspace, tmp_path: Path) -> Workspace:
    shutil.copy(DP100 / "diabetes.csv", tmp_path / "diabetes.csv")
    workspace.data.create_or_update(Data(name="diabetes", path=str(tmp_path / "diabetes.csv"), type="tabular"))
    return workspace


def test_privacy_page_edits_metadata_runs_queries_and_compares(ws: Workspace) -> None:
    assert PAGES["privacy"].title == "Privacy"
    panel = open_page("privacy", ws)
    assert isinstance(panel, PrivacyPanel) and panel.dataset.value == "diabetes:1"
    assert "No metadata" in panel.history.value
    rows = {r.name: r for r in panel.rows}
    rows["Age"].lower.value, rows["Age"].upper.value = "0", "120"
    rows["Diabetic"].lower.value, rows["Diabetic"].upper.value = "0", "1"
    assert "observed min and max" in rows["Diabetic"].note.value and rows["Age"].note.value == ""
    panel.budget_epsilon.value = 2.0
    assert panel.save() is None and "observed min or max" in panel.message.value  # not confirmed yet
    rows["Diabetic"].confirm.value = True
    panel.identifier.value, panel.max_rows.value = "PatientID", 2
    assert panel.save() is not None
    assert ws.privacy.describe("diabetes:1").identifier == "PatientID"
    assert "ws.privacy.set_metadata('diabetes:1'" in panel.code.code

    # compact column dropdowns, no list box: a second one only for the covariance
    assert isinstance(panel.column, widgets.Dropdown) and panel.column2.layout.display == "none"
    panel.statistic.value, panel.column.value, panel.column2.value = "covariance", "Age", "Diabetic"
    assert panel.column2.layout.display is None
    assert panel._call() == ("covariance", {"columns": ["Age", "Diabetic"], "epsilon": panel.epsilon.value})
    panel.statistic.value, panel.column.value, panel.epsilon.value = "mean", "Age", 0.5
    assert panel.column2.layout.display == "none" and panel._call()[1]["column"] == "Age"
    result = panel.run()
    assert result is not None and "95 % interval" in panel.answer.value
    assert "ws.privacy.mean('diabetes:1', column='Age', epsilon=0.5)" in panel.code.code
    panel.statistic.value = "SQL"
    panel.sql.value = "SELECT Diabetic, COUNT(*) AS n FROM diabetes GROUP BY Diabetic"
    assert panel.run() is not None and len(panel.answer_chart.outputs) == 1
    assert "0.5 of 2" not in panel.history.value and "sql" in panel.history.value
    panel.epsilon.value = 5.0
    assert panel.run() is None and "would pass the privacy budget" in panel.message.value

    panel.statistic.value, panel.column.value = "mean", "Age"
    panel.repeats.value, panel.epsilons.value = 5, "0.1, 1"
    c = panel.compare()
    assert c is not None and "spends no privacy budget" in panel.compare_note.value
    assert len(panel.compare_chart.outputs) == 1
    assert ws.privacy.budget("diabetes:1").queries == 2

    panel.synth_method.value, panel.synth_epsilon.value, panel.synth_rows.value = "mst", 0.2, 300
    synthetic = panel.synthesize()
    assert synthetic is not None and synthetic.tags["privacy.method"] == "mst"
    assert len(panel.synth_chart.outputs) == 1 and "ws.privacy.synthesize('diabetes:1'" in panel.code.code
