"""DP-100 Lab 11 "Deploy to online endpoint": an MLflow model folder behind a managed online endpoint."""

from __future__ import annotations

import datetime
import json

import mlflow
import pandas as pd
import pytest
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint, Model
from azure.identity import DefaultAzureCredential
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

from studio_ext import Workspace
from studio_ext.errors import NotFound
from tests.helpers import wait_until
from tests.labs.dp100.course import DP100_DATA, FEATURES, LABEL

pytestmark = pytest.mark.slow

# One patient, in the split layout the course's sample-data.json uses.
PATIENT = [0, 148, 58, 11, 179, 39.19207553, 0.160829008, 45]


def _course_files(lab) -> None:
    """The lab's model/ folder (an MLflow model of a diabetes classifier, all-double inputs as the
    course's is) and its sample-data.json."""
    table = pd.read_csv(DP100_DATA / "diabetes.csv", nrows=3000)
    features = table[FEATURES].astype("float64")
    model = LogisticRegression(C=100, solver="liblinear").fit(features, table[LABEL])
    mlflow.sklearn.save_model(model, str(lab.path / "model"),
                              signature=infer_signature(features, model.predict(features)))
    lab.write("sample-data.json", json.dumps(
        {"input_data": {"columns": FEATURES, "index": [1], "data": [PATIENT]}}, indent=2))


def test_an_mlflow_model_served_by_a_blue_deployment(lab) -> None:
    ml_client = Workspace.from_config(credential=DefaultAzureCredential())
    _course_files(lab)

    online_endpoint_name = "endpoint-" + datetime.datetime.now().strftime("%m%d%H%M%f")
    endpoint = ManagedOnlineEndpoint(
        name=online_endpoint_name,
        description="Online endpoint for MLflow diabetes model",
        auth_mode="key",
    )
    ml_client.begin_create_or_update(endpoint).result()

    model = Model(
        path="./model",
        type=AssetTypes.MLFLOW_MODEL,
        description="my sample mlflow model",
    )
    blue_deployment = ManagedOnlineDeployment(
        name="blue",
        endpoint_name=online_endpoint_name,
        model=model,
        instance_type="Standard_D2as_v4",
        instance_count=1,
    )
    ml_client.online_deployments.begin_create_or_update(blue_deployment).result()

    endpoint.traffic = {"blue": 100}
    ml_client.begin_create_or_update(endpoint).result()

    response = ml_client.online_endpoints.invoke(
        endpoint_name=online_endpoint_name,
        deployment_name="blue",
        request_file="sample-data.json",
    )
    print("Diabetic" if response[1] == "1" else "Not diabetic")
    patient = pd.DataFrame([PATIENT], columns=FEATURES, dtype="float64")
    expected = mlflow.pyfunc.load_model(str(lab.path / "model")).predict(patient)
    assert isinstance(response, str)
    assert json.loads(response) == [int(expected[0])], response

    endpoints = ml_client.online_endpoints.list()
    assert online_endpoint_name in [endp.name for endp in endpoints]

    endpoint = ml_client.online_endpoints.get(name=online_endpoint_name)
    print(endpoint.traffic)
    print(endpoint.scoring_uri)
    assert endpoint.traffic == {"blue": 100}
    assert endpoint.scoring_uri and endpoint.scoring_uri.startswith("http://127.0.0.1:")

    ml_client.online_endpoints.begin_delete(name=online_endpoint_name)

    def gone() -> bool:
        try:
            ml_client.online_endpoints.get(name=online_endpoint_name)
        except NotFound:
            return True
        return False

    wait_until(gone, timeout=60, what=f"the endpoint {online_endpoint_name} to be deleted")
