"""A custom model registered from a joblib .pkl (the course's first labs) is explained and assessed
when it was registered with allow_pickle=True, and refused with how to re-register when not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import joblib
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from studio_ext import Workspace
from studio_ext.entities import Data, Model
from studio_ext.errors import InvalidInput

DIABETES = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "dp100" / "diabetes.csv"
FEATURES = ["Pregnancies", "PlasmaGlucose", "DiastolicBloodPressure", "TricepsThickness", "SerumInsulin", "BMI",
            "DiabetesPedigree", "Age"]


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("pickle-models")
    frame = pd.read_csv(DIABETES).drop(columns="PatientID").head(600)
    frame["AgeGroup"] = pd.cut(frame["Age"], [0, 30, 50, 200], labels=["under 30", "30-50", "over 50"]).astype(str)
    csv = root / "diabetes.csv"
    frame.to_csv(csv, index=False)
    # The labs' way: fit, joblib.dump, register the file. The pipeline picks its numeric columns.
    model = Pipeline([("prep", ColumnTransformer([("num", StandardScaler(), FEATURES)])),
                      ("model", LogisticRegression(max_iter=500))]).fit(frame[FEATURES], frame["Diabetic"])
    pkl = root / "model.pkl"
    joblib.dump(model, pkl)
    ws = Workspace.create(root / "ws")
    try:
        ws.data.create_or_update(Data(name="diabetes", path=str(csv), type="tabular"))
        ws.models.create_or_update(Model(name="diabetes-trusted", path=str(pkl), allow_pickle=True))
        ws.models.create_or_update(Model(name="diabetes-plain", path=str(pkl)))
        yield ws
    finally:
        ws.runtime.stop()
        ws.close()


def test_a_pkl_registered_with_allow_pickle_is_explained_and_assessed(studio: Workspace) -> None:
    model = studio.models.get("diabetes-trusted", 1)
    assert str(model.type) == "custom_model" and model.allow_pickle
    exp = studio.explanations.create(model, "azureml:diabetes:1", "Diabetic", features=FEATURES, sample=200,
                                     timeout=240)
    assert exp.rows == 200 and set(exp.global_importance) <= set(FEATURES) and "PlasmaGlucose" in exp.global_importance
    record = studio.explanations.get_record(exp.name)
    assert record.model == "azureml:diabetes-trusted:1"
    assessment = studio.fairness.assess("diabetes-trusted:1", "azureml:diabetes:1", "Diabetic", ["AgeGroup"])
    assert assessment.rows == 600 and set(assessment.by_group("AgeGroup").index.astype(str)) >= {"under 30",
                                                                                                  "over 50"}


def test_a_pkl_without_allow_pickle_is_refused_naming_allow_pickle_and_how_to_re_register(studio: Workspace) -> None:
    jobs_before = len(studio.jobs.list(include_interactive=False))
    for call in (lambda: studio.explanations.create("diabetes-plain:1", "azureml:diabetes:1", "Diabetic"),
                 lambda: studio.fairness.assess("diabetes-plain:1", "azureml:diabetes:1", "Diabetic", ["AgeGroup"])):
        with pytest.raises(InvalidInput) as caught:
            call()
        message = str(caught.value)
        assert "registered without allow_pickle=True" in message and "model.pkl" in message
        assert "ws.models.create_or_update(Model(name='diabetes-plain', path=\"model.pkl\", allow_pickle=True))" \
            in message
    assert len(studio.jobs.list(include_interactive=False)) == jobs_before, "nothing queued"


def test_a_custom_model_with_no_pickle_still_says_to_register_an_mlflow_folder(studio: Workspace,
                                                                              tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    studio.models.create_or_update(Model(name="opaque", path=str(tmp_path / "weights.bin"), allow_pickle=True))
    with pytest.raises(InvalidInput, match="custom model .no MLflow flavor. with no .pkl"):
        studio.fairness.assess("opaque:1", "azureml:diabetes:1", "Diabetic", ["AgeGroup"])
