"""ws.explanations and ws.fairness end to end: a training job, a registered model and dataset, jobs under it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from studio_ext import Workspace, command
from studio_ext.entities import Data, Input, InsightKind, JobStatus, Model
from studio_ext.errors import Conflict, InvalidInput, NotFound
from studio_ext.ml.census import load_adult_census

TRAIN = '''
import argparse, mlflow, mlflow.sklearn, pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

p = argparse.ArgumentParser(); p.add_argument("--data"); a = p.parse_args()
df = pd.read_parquet(a.data)
X, y = df.drop(columns="income"), df["income"]
cat = [c for c in X if not pd.api.types.is_numeric_dtype(X[c])]
num = [c for c in X if c not in cat]
prep = ColumnTransformer([("num", StandardScaler(), num), ("cat", Pipeline([
    ("impute", SimpleImputer(strategy="most_frequent")), ("onehot", OneHotEncoder(handle_unknown="ignore"))]), cat)])
for kind, est in (("gbm", GradientBoostingClassifier(n_estimators=30, random_state=0)),
                  ("logistic", LogisticRegression(max_iter=300))):
    model = Pipeline([("prep", prep), ("model", est)]).fit(X, y)
    mlflow.log_metric(f"accuracy_{kind}", model.score(X, y))
    mlflow.sklearn.log_model(model, name=kind, serialization_format="cloudpickle")
'''


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A workspace holding the Adult data (1,000 rows), a trained and registered GBM model."""
    root = tmp_path_factory.mktemp("insights")
    ws = Workspace.create(root / "ws")
    try:
        csv = root / "adult.csv"
        load_adult_census(rows=1000, seed=3).to_csv(csv, index=False)
        ws.data.create_or_update(Data(name="adult", path=str(csv), type="tabular"))
        code = root / "src"
        code.mkdir()
        (code / "train.py").write_text(TRAIN)
        job = ws.jobs.create_or_update(command(
            code=str(code), command="python train.py --data ${{inputs.data}}",
            inputs={"data": Input(type="uri_file", path="azureml:adult:1")}, experiment_name="income"))
        job = ws.jobs.stream(job.name, out=open("/dev/null", "w"), timeout=300)
        assert job.status is JobStatus.COMPLETED, ws.jobs.get_logs(job.name)
        for kind in ("gbm", "logistic"):
            ws.models.create_or_update(Model(name=f"income-{kind}", path=f"runs:/{job.name}/{kind}", allow_pickle=True))
        yield ws
    finally:
        ws.runtime.stop()
        ws.close()


@pytest.mark.slow
def test_explanation_runs_as_a_child_job_of_the_training_run(studio: Workspace) -> None:
    model = studio.models.get("income-gbm", 1)
    exp = studio.explanations.create(model, "azureml:adult:1", "income", sample=300, timeout=240)
    assert exp.method == "shap.TreeExplainer" and exp.rows == 300
    assert "relationship" in exp.global_importance and "income" not in exp.global_importance
    record = studio.explanations.get_record(exp.name)
    assert record.status is JobStatus.COMPLETED and record.kind is InsightKind.EXPLANATION
    assert record.model == "azureml:income-gbm:1" and record.dataset == "azureml:adult:1"
    job = studio.jobs.get(record.job_name)
    assert job.parent_job_name == model.job_name  # a child of the training job
    assert exp.name in studio.jobs.get(model.job_name).children
    assert record.summary["top_features"] == exp.top_features(5)
    # the result lives with the run, and reads back the same
    again = studio.explanations.get(exp.name)
    assert again.global_importance == pytest.approx(exp.global_importance)
    assert [r.name for r in studio.explanations.list(model="income-gbm:1")] == [exp.name]
    assert [r.name for r in studio.explanations.for_run(model.job_name)] == [exp.name]


@pytest.mark.slow
def test_mimic_explanation_of_a_dataframe_waits_for_its_job(studio: Workspace) -> None:
    frame = load_adult_census(rows=600, seed=9)
    record = studio.explanations.create("income-logistic", frame, "income", explainer="mimic",
                                        surrogate="decision_tree", wait=False)
    assert record.status in (JobStatus.NOT_STARTED, JobStatus.QUEUED, JobStatus.STARTING, JobStatus.RUNNING)
    assert record.dataset == "(DataFrame)" and record.options["explainer"] == "mimic"
    with pytest.raises(Conflict, match="is still being computed"):
        studio.explanations.get(record.name)
    poller = studio.explanations._store.poller(record.name, studio.explanations.get)
    mimic = poller.result(240)
    assert mimic.fidelity["metric"] == "accuracy" and mimic.fidelity["value"] > 0.8
    assert mimic.rows == 600 and mimic.method.startswith("mimic:decision_tree+")
    assert studio.jobs.get(record.job_name).metrics["progress"] == 1.0


def test_bad_requests_are_refused_before_a_job_is_queued(studio: Workspace) -> None:
    jobs_before = len(studio.jobs.list(include_interactive=False))
    with pytest.raises(InvalidInput, match="asks for 50,000 rows but the data has only 1,000"):
        studio.explanations.create("income-gbm:1", "azureml:adult:1", "income", sample=50_000)
    with pytest.raises(InvalidInput, match="The target column 'salary' is not in azureml:adult:1"):
        studio.explanations.create("income-gbm:1", "azureml:adult:1", "salary")
    with pytest.raises(InvalidInput, match="TreeExplainer does not support LogisticRegression"):
        studio.explanations.create("income-logistic:1", "azureml:adult:1", "income", algorithm="tree")
    with pytest.raises(NotFound, match="Model 'nope' version 1 does not exist"):
        studio.explanations.create("nope:1", "azureml:adult:1", "income")
    with pytest.raises(InvalidInput, match="Unknown options colour"):
        studio.explanations.create("income-gbm:1", "azureml:adult:1", "income", colour="red")
    with pytest.raises(InvalidInput, match="The sensitive features 'gender' are not columns of azureml:adult:1"):
        studio.fairness.assess("income-gbm:1", "azureml:adult:1", "income", ["gender"])
    with pytest.raises(InvalidInput, match="threshold_optimizer does not support error_rate_parity"):
        studio.fairness.mitigate("income-gbm:1", "azureml:adult:1", "income", ["sex"],
                                 method="threshold_optimizer", constraint="error_rate_parity")
    assert len(studio.jobs.list(include_interactive=False)) == jobs_before


def test_a_pickled_model_loads_only_when_trusted(studio: Workspace) -> None:
    job_name = studio.models.get("income-gbm", 1).job_name
    studio.models.create_or_update(Model(name="income-untrusted", path=f"runs:/{job_name}/gbm"))
    with pytest.raises(InvalidInput, match="stored as a cloudpickle; loading it runs code from the file"):
        studio.fairness.assess("income-untrusted:1", "azureml:adult:1", "income", ["sex"])


def test_assessment_is_stored_with_the_models_run(studio: Workspace) -> None:
    model = studio.models.get("income-gbm", 1)
    a = studio.fairness.assess(model, "azureml:adult:1", "income", ["sex", "race"])
    assert a.keys == ["sex", "race", "sex × race"] and a.rows == 1000
    record = studio.fairness.get_record(a.name)
    assert record.kind is InsightKind.ASSESSMENT and record.parent_run_id == model.run_id
    run = studio.jobs.get(record.run_id)
    assert run.parent_job_name == model.run_id
    assert run.metrics["demographic_parity_difference.sex"] == pytest.approx(a.summary["sex"]["demographic_parity_difference"])
    back = studio.fairness.get(a.name)
    assert back.by_group("sex").equals(a.by_group("sex"))
    assert a.name in [r.name for r in studio.fairness.list(kind="fairness_assessment")]


@pytest.mark.slow
def test_mitigation_candidates_are_child_runs_and_one_can_be_registered(studio: Workspace) -> None:
    result = studio.fairness.mitigate("income-logistic:1", "azureml:adult:1", "income", ["sex"],
                                      method="grid_search", constraint="demographic_parity", grid_size=2, timeout=300)
    assert [c.name for c in result.candidates] == ["original", "grid_search_0", "grid_search_1"]
    record = studio.fairness.get_record(result.name)
    assert record.kind is InsightKind.MITIGATION and record.summary["candidates"] == 3
    for c in result.candidates:
        child = studio.jobs.get(c.run_id)
        assert child.parent_job_name == record.run_id
        assert child.metrics["demographic_parity_difference"] == pytest.approx(c.disparity["demographic_parity_difference"])
    fairest = min(result.candidates[1:], key=lambda c: c.disparity["demographic_parity_difference"])
    registered = studio.fairness.register_candidate(result.name, fairest.name, name="income-fair")
    assert registered.tags["fairness.sensitive_features"] == "sex"
    assert registered.tags["fairness.constraint"] == "demographic_parity"
    assert registered.tags["fairness.candidate"] == fairest.name
    # the registered candidate is a model like any other: it can be assessed in turn
    again = studio.fairness.assess("income-fair:1", "azureml:adult:1", "income", ["sex"])
    before = result.original.assessment.summary["sex"]["demographic_parity_difference"]
    assert again.summary["sex"]["demographic_parity_difference"] < before + 0.1
    with pytest.raises(InvalidInput, match="is the original model"):
        studio.fairness.register_candidate(result.name, "original", name="again")

