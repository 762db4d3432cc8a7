"""DP-100 Lab 11 "Deploy to batch endpoint": an MLflow model behind a batch endpoint scores a folder of
patient CSVs on the aml-cluster, and the predictions are downloaded beside the notebook."""

from __future__ import annotations

import datetime

import mlflow
import pandas as pd
import pytest
from azure.ai.ml import Input
from azure.ai.ml.constants import AssetTypes, BatchDeploymentOutputAction
from azure.ai.ml.entities import BatchEndpoint, BatchRetrySettings, Data, Model, ModelBatchDeployment
from azure.identity import DefaultAzureCredential
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

from studio_ext import Workspace
from tests.labs.dp100.course import DP100_DATA, FEATURES, LABEL

pytestmark = pytest.mark.slow  # a two-node cluster scores the files in two worker processes each


def _course_files(lab) -> pd.DataFrame:
    """The lab's model/ folder (an MLflow diabetes classifier, all-double inputs as the course's) and its
    data/ folder: four unlabeled files of 100 patients, patient-data-0.csv to patient-data-3.csv."""
    table = pd.read_csv(DP100_DATA / "diabetes.csv")
    train, patients = table.iloc[:3000], table.iloc[3000:3400]
    features = train[FEATURES].astype("float64")
    model = LogisticRegression(C=100, solver="liblinear").fit(features, train[LABEL])
    mlflow.sklearn.save_model(model, str(lab.path / "model"),
                              signature=infer_signature(features, model.predict(features)))
    (lab.path / "data").mkdir()
    for i in range(4):
        patients.iloc[i * 100:(i + 1) * 100][FEATURES].to_csv(lab.path / "data" / f"patient-data-{i}.csv", index=False)
    return patients


def test_an_mlflow_model_scores_the_patient_files_in_a_batch(lab, aml_cluster: str) -> None:
    patients = _course_files(lab)
    ml_client = Workspace.from_config(credential=DefaultAzureCredential())

    # Register the model
    model_name = 'diabetes-mlflow'
    model = ml_client.models.create_or_update(
        Model(name=model_name, path='./model', type=AssetTypes.MLFLOW_MODEL)
    )

    # Create a batch endpoint
    endpoint_name = "batch-" + datetime.datetime.now().strftime("%m%d%H%M%f")
    endpoint = BatchEndpoint(
        name=endpoint_name,
        description="A batch endpoint for classifying diabetes in patients",
    )
    ml_client.batch_endpoints.begin_create_or_update(endpoint)

    # Create the deployment
    deployment = ModelBatchDeployment(
        name="classifier-diabetes-mlflow",
        description="A diabetes classifier",
        endpoint_name=endpoint.name,
        model=model,
        compute="aml-cluster",
        instance_count=2,
        max_concurrency_per_instance=2,
        mini_batch_size=2,
        output_action=BatchDeploymentOutputAction.APPEND_ROW,
        output_file_name="predictions.csv",
        retry_settings=BatchRetrySettings(max_retries=3, timeout=300),
        logging_level="info",
    )
    ml_client.batch_deployments.begin_create_or_update(deployment)

    endpoint.defaults = {}
    endpoint.defaults["deployment_name"] = deployment.name
    ml_client.batch_endpoints.begin_create_or_update(endpoint)

    # Prepare the data for batch predictions
    data_path = "./data"
    dataset_name = "patient-data-unlabeled"
    patient_dataset_unlabeled = Data(
        path=data_path,
        type=AssetTypes.URI_FOLDER,
        description="An unlabeled dataset for diabetes classification",
        name=dataset_name,
    )
    ml_client.data.create_or_update(patient_dataset_unlabeled)
    patient_dataset_unlabeled = ml_client.data.get(
        name="patient-data-unlabeled", label="latest"
    )

    # Submit the job
    input = Input(type=AssetTypes.URI_FOLDER, path=patient_dataset_unlabeled.id)  # noqa: A001 (the lab's name)
    job = ml_client.batch_endpoints.invoke(
        endpoint_name=endpoint.name,
        input=input)
    ml_client.jobs.get(job.name)

    # (the reader waits for the job in the studio before the next cell)
    ml_client.jobs.stream(job.name)
    done = ml_client.jobs.get(job.name)
    assert done.status == "Completed", (done.error, ml_client.jobs.get_logs(job.name)[-3000:])
    assert ml_client.batch_endpoints.get(endpoint_name).defaults.deployment_name == "classifier-diabetes-mlflow"
    scoring = ml_client.jobs.list(parent_job_name=job.name)
    assert [s.display_name for s in scoring] == ["batchscoring"] and scoring[0].compute == "aml-cluster"

    # Get the results
    ml_client.jobs.download(name=job.name, download_path=".", output_name="score")
    score = pd.read_csv("predictions.csv", index_col=0, names=["patient", "prediction", "file"])
    print(score)

    assert len(score) == 400, "every patient of the four files, once"
    assert sorted(score["file"].unique()) == [f"patient-data-{i}.csv" for i in range(4)]
    expected = mlflow.pyfunc.load_model(str(lab.path / "model")).predict(patients[FEATURES].astype("float64"))
    for i in range(4):
        rows = score[score["file"] == f"patient-data-{i}.csv"]
        assert list(rows["prediction"]) == [int(p) for p in expected[i * 100:(i + 1) * 100]], f"patient-data-{i}.csv"
