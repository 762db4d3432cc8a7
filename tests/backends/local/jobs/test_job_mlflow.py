"""MLflow inside a job behaves as in an Azure ML job: every fluent call of the script lands in the job's run.

Real scripts, run as jobs: MLflow 3's ``log_model`` outside ``start_run`` (Lab 10 of the DP-100
course), the script's own ``start_run``, and ``autolog``. The model logged that way registers
from ``azureml://jobs/NAME/outputs/artifacts/paths/model/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest

from studio_ext import Input, Workspace, command
from studio_ext.entities import JobStatus, Model

DATA = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "dp100" / "diabetes.csv"

TRAIN = """import argparse, mlflow, pandas as pd
from sklearn.linear_model import LogisticRegression

parser = argparse.ArgumentParser()
parser.add_argument("--training_data")
parser.add_argument("--reg_rate", type=float)
args = parser.parse_args()
df = pd.read_csv(args.training_data).head(600)
X, y = df.drop(columns=["PatientID", "Diabetic"]).values, df["Diabetic"].values
model = LogisticRegression(C=1 / args.reg_rate, max_iter=200).fit(X, y)
mlflow.log_param("reg_rate", args.reg_rate)
mlflow.log_metric("training_accuracy", float(model.score(X, y)))
mlflow.sklearn.log_model(model, name="model")  # MLflow 3, outside start_run, as Lab 10's script does
with mlflow.start_run():  # the script's own run: the job's run again, not an error
    mlflow.log_param("inside_start_run", "yes")
mlflow.log_metric("after_end_run", 1.0)  # after end_run: still the job's run, not a stray new one
print("active at the end:", mlflow.active_run().info.run_id)
"""

AUTOLOG = """import sys, mlflow, pandas as pd
from sklearn.tree import DecisionTreeClassifier

mlflow.{flavor}autolog()
df = pd.read_csv(sys.argv[1]).head(600)
X, y = df.drop(columns=["PatientID", "Diabetic"]), df["Diabetic"]
DecisionTreeClassifier(max_depth=3).fit(X, y)
mlflow.log_metric("after_fit", 1.0)
"""


def finished(ws: Workspace, job: object) -> object:
    done = ws.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=300)
    assert done.status == JobStatus.COMPLETED, f"{done.error}\n{ws.jobs.get_logs(job.name)}"
    return done


def test_log_model_outside_start_run_lands_in_the_job_and_registers_from_it(workspace: Workspace,
                                                                             code_dir: Path) -> None:
    (code_dir / "train.py").write_text(TRAIN)
    job = workspace.jobs.create_or_update(command(
        code=str(code_dir), experiment_name="lab10",
        command="python train.py --training_data ${{inputs.training_data}} --reg_rate ${{inputs.reg_rate}}",
        inputs={"training_data": Input(type="uri_file", path=str(DATA)), "reg_rate": 0.01}))
    done = finished(workspace, job)
    assert done.params == {"reg_rate": "0.01", "inside_start_run": "yes"}
    assert set(done.metrics) == {"training_accuracy", "after_end_run"}
    assert f"active at the end: {done.run_id}" in workspace.jobs.get_logs(done.name)
    client = mlflow.tracking.MlflowClient(workspace.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("lab10")
    assert [r.info.run_id for r in client.search_runs([experiment.experiment_id])] == [done.run_id]  # no stray run
    logged = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    assert [(m.name, m.source_run_id) for m in logged] == [("model", done.run_id)]
    assert client.get_run(done.run_id).info.status == "FINISHED"
    model = workspace.models.create_or_update(Model(
        path=f"azureml://jobs/{done.name}/outputs/artifacts/paths/model/", type="mlflow_model", name="diabetes-lr"))
    assert model.version == "1" and model.type == "mlflow_model"
    assert model.job_name == done.name and model.run_id == done.run_id
    assert "sklearn" in model.flavors


@pytest.mark.parametrize("flavor", ["", "sklearn."])
def test_autolog_logs_into_the_jobs_run(workspace: Workspace, code_dir: Path, flavor: str) -> None:
    (code_dir / "auto.py").write_text(AUTOLOG.format(flavor=flavor))
    job = workspace.jobs.create_or_update(command(
        code=str(code_dir), experiment_name="auto", command="python auto.py ${{inputs.data}}",
        inputs={"data": Input(type="uri_file", path=str(DATA))}))
    done = finished(workspace, job)
    assert done.params.get("max_depth") == "3"
    assert "training_accuracy_score" in done.metrics and "after_fit" in done.metrics
    client = mlflow.tracking.MlflowClient(workspace.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("auto")
    assert [r.info.run_id for r in client.search_runs([experiment.experiment_id])] == [done.run_id]
