"""Data guardrails: imbalance, imputation, high cardinality, target leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studio_ext.ml.automl import AutoMLSettings, GuardrailStatus, Task, prepare


def guardrails(frame: pd.DataFrame, task: Task = Task.CLASSIFICATION) -> dict[str, object]:
    prepared = prepare(frame, AutoMLSettings(task=task, target="y", timeout_seconds=10))
    return {g.name: g for g in prepared.guardrails}


def test_imbalance_missing_values_and_high_cardinality_are_reported() -> None:
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({
        "x": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
        "shop": [f"s{i % 50}" for i in range(n)],
        "y": np.where(np.arange(n) < 30, "fraud", "ok"),
    })
    found = guardrails(frame)
    assert found["Class balancing detection"].status is GuardrailStatus.ALERTED
    assert "'fraud', 30 rows" in found["Class balancing detection"].description
    assert found["Missing feature values imputation"].status is GuardrailStatus.DONE
    assert found["Missing feature values imputation"].details[0]["column"] == "x"
    assert found["High cardinality feature detection"].status is GuardrailStatus.DONE
    assert found["Validation split handling"].status is GuardrailStatus.DONE
    assert found["Target leakage detection"].status is GuardrailStatus.PASSED


def test_a_feature_that_alone_gives_the_answer_is_flagged_as_leakage() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=300)
    frame = pd.DataFrame({"noise": rng.normal(size=300), "y_copy": y * 2 + 1, "y": y})
    found = guardrails(frame, Task.REGRESSION)
    leak = found["Target leakage detection"]
    assert leak.status is GuardrailStatus.ALERTED
    assert [d["column"] for d in leak.details] == ["y_copy"]
    assert "mark it Ignore" in leak.description
