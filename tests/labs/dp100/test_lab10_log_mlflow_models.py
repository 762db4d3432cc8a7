"""DP-100 Lab 10 "Log models with MLflow": autologged and hand-logged models in jobs, one registered from its job."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from azure.ai.ml import command
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import Model
from azure.identity import DefaultAzureCredential

from studio_ext import Workspace
from tests.labs.dp100.course import DP100_DATA, FEATURES, stream_to_end, training_script

pytestmark = pytest.mark.slow

ENVIRONMENT = "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest"
SCRIPTS = {  # display name: (script, how it tracks)
    "diabetes-train-autolog": ("train-model-autolog.py", "autolog"),
    "diabetes-train-sklearn": ("train-model-sklearn.py", "sklearn-autolog"),
    "diabetes-train-infer": ("train-model-infer.py", "infer-signature"),
    "diabetes-train-signature": ("train-model-signature.py", "signature"),
}


def test_models_logged_in_jobs_and_one_registered_from_its_job(lab, aml_cluster, tmp_path, capsys) -> None:
    ml_client = Workspace.from_config(credential=DefaultAzureCredential())
    lab.diabetes("src/diabetes.csv", rows=2000)

    jobs = {}
    for display_name, (script, tracking) in SCRIPTS.items():
        lab.write(f"src/{script}", training_script(tracking))
        job = command(
            code="./src",
            command=f"python {script} --training_data diabetes.csv",
            environment=ENVIRONMENT,
            compute="aml-cluster",
            display_name=display_name,
            experiment_name="diabetes-training",
        )
        returned_job = ml_client.create_or_update(job)
        print("Monitor your job at", returned_job.studio_url)
        jobs[display_name] = returned_job.name

    for name in jobs.values():
        stream_to_end(ml_client, name, capsys)

    # What the studio shows of each job: its run's metrics and the model folder among its outputs.
    tracking = mlflow.MlflowClient(ml_client.workspaces.get(ml_client.workspace_name).mlflow_tracking_uri)
    experiment = tracking.get_experiment_by_name("diabetes-training")
    by_display_name = {run.info.run_name: run for run in tracking.search_runs([experiment.experiment_id])}
    assert set(by_display_name) == set(SCRIPTS)
    for display_name in ("diabetes-train-autolog", "diabetes-train-sklearn"):
        assert "training_accuracy_score" in by_display_name[display_name].data.metrics, display_name
    for display_name, run in by_display_name.items():
        artifacts = {a.path for a in tracking.list_artifacts(run.info.run_id)}
        logged = {m.name for m in tracking.search_logged_models(
            experiment_ids=[experiment.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")}
        assert "model" in artifacts | logged, (display_name, artifacts, logged)

    # The lab's last cell: register the model the last job logged, by its job's output path.
    job_name = jobs["diabetes-train-signature"]
    run_model = Model(
        path=f"azureml://jobs/{job_name}/outputs/artifacts/paths/model/",
        name="mlflow-diabetes",
        description="Model created from run.",
        type=AssetTypes.MLFLOW_MODEL,
    )
    registered = ml_client.models.create_or_update(run_model)
    assert (registered.name, registered.version, registered.type) == ("mlflow-diabetes", "1", "mlflow_model")

    # The registered model is the job's model: its signature names the diabetes columns, and it predicts.
    folder = ml_client.models.download("mlflow-diabetes", version=registered.version, download_path=tmp_path / "dl")
    model_dirs = [p.parent for p in folder.rglob("MLmodel")]
    assert len(model_dirs) == 1, list(folder.rglob("*"))
    loaded = mlflow.pyfunc.load_model(str(model_dirs[0]))
    assert loaded.metadata.get_input_schema().input_names() == FEATURES
    rows = pd.read_csv(DP100_DATA / "diabetes.csv", nrows=5)[FEATURES]
    declared = {spec.name: spec.type.to_numpy() for spec in loaded.metadata.get_input_schema().inputs}
    assert len(loaded.predict(rows.astype(declared))) == 5
