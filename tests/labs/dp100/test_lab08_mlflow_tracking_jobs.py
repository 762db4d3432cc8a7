"""DP-100 Lab 08 "Use MLflow to track jobs": jobs that log with MLflow, then queried from the notebook.

The jobs are azure-ai-ml command jobs; the queries run in a real kernel started as the
studio starts its kernels, with plain mlflow calls and no tracking URI set, as on an
Azure ML compute instance.
"""

from __future__ import annotations

import pytest
from azure.ai.ml import command
from azure.identity import DefaultAzureCredential

from studio_ext import Workspace
from tests.labs.dp100.course import stream_to_end, training_script

pytestmark = pytest.mark.slow

QUERIES = """\
import mlflow

experiments = mlflow.search_experiments()
print("experiments:", sorted(exp.name for exp in experiments))
exp = mlflow.get_experiment_by_name("diabetes-training")
print("experiment:", exp.name)
every = mlflow.search_runs(exp.experiment_id)
print("runs:", len(every))
newest = mlflow.search_runs(exp.experiment_id, order_by=["start_time DESC"], max_results=2)
print("newest:", list(newest["tags.mlflow.runName"]))
query = "metrics.AUC > 0.8 and tags.model_type = 'LogisticRegression'"
chosen = mlflow.search_runs(exp.experiment_id, filter_string=query)
print("chosen:", list(chosen["tags.mlflow.runName"]), list(chosen["params.Regularization rate"]))
print("its artifacts:", [a.path for a in mlflow.MlflowClient().list_artifacts(chosen["run_id"][0])])
"""


def test_jobs_log_with_mlflow_and_the_notebook_finds_their_runs(
        lab, aml_cluster, notebook_kernel, capsys: pytest.CaptureFixture[str]) -> None:
    ml_client = Workspace.from_config(credential=DefaultAzureCredential())
    lab.diabetes("src/diabetes.csv")
    lab.write("src/train-model-mlflow.py", training_script("log"))
    lab.write("src/train-model-autolog.py", training_script("autolog"))

    logged = command(
        code="./src",
        command="python train-model-mlflow.py --training_data diabetes.csv",
        environment="AzureML-sklearn-1.5@latest",
        compute="aml-cluster",
        display_name="diabetes-train-mlflow",
        experiment_name="diabetes-training",
        tags={"model_type": "LogisticRegression"},
    )
    logged_job = ml_client.create_or_update(logged)
    print("Monitor your job at", logged_job.studio_url)
    stream_to_end(ml_client, logged_job.name, capsys)

    autologged = command(
        code="./src",
        command="python train-model-autolog.py --training_data diabetes.csv",
        environment="AzureML-sklearn-1.5@latest",
        compute="aml-cluster",
        display_name="diabetes-train-autolog",
        experiment_name="diabetes-training",
    )
    autologged_job = ml_client.create_or_update(autologged)
    print("Monitor your job at", autologged_job.studio_url)
    stream_to_end(ml_client, autologged_job.name, capsys)

    printed = notebook_kernel.run(QUERIES)
    assert "'diabetes-training'" in printed.split("experiments:")[1].splitlines()[0], printed
    assert "experiment: diabetes-training" in printed
    assert "runs: 2" in printed
    assert "newest: ['diabetes-train-autolog', 'diabetes-train-mlflow']" in printed
    assert "chosen: ['diabetes-train-mlflow'] ['0.01']" in printed
    assert "ROC-Curve.png" in printed.split("its artifacts:")[1]
