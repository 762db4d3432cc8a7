"""A classifier whose classes are Python objects (as an AutoML model keeps them) is scored by its labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from studio_ext.ml.explain import explain


class ObjectLabels:
    """A fitted classifier whose predict() returns an object array, as the AutoML models do."""

    def __init__(self, model: LogisticRegression) -> None:
        self.model = model
        self.classes_ = np.asarray(model.classes_.tolist(), dtype=object)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(X).tolist(), dtype=object)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(X)


def test_permutation_importance_on_an_integer_target_with_object_predictions() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"signal": rng.normal(size=400), "noise": rng.normal(size=400)})
    frame["label"] = (frame["signal"] > 0).astype("int64")
    model = ObjectLabels(LogisticRegression().fit(frame[["signal", "noise"]], frame["label"]))
    found = explain(model, frame, "label", explainer="pfi", metric="accuracy", repeats=2)
    assert found.global_importance["signal"] > 0.2 > abs(found.global_importance["noise"])
