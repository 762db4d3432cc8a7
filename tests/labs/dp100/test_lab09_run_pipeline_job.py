"""DP-100 Lab 09 "Run a pipeline job": two command components joined by a @pipeline on aml-cluster.

The course's calls, unchanged apart from the client: the components' YAML (``prep-data.yml``,
``train-model.yml``), ``load_component(source=...)``, the ``@pipeline()`` function with its
``pipeline_job_input`` and its returned outputs, ``pipeline_job.outputs...mode = "upload"``,
``settings.default_compute = "aml-cluster"``, ``settings.default_datastore =
"workspaceblobstore"``, then ``ml_client.jobs.create_or_update(pipeline_job,
experiment_name="pipeline_diabetes")``. The data asset ``diabetes-data:1`` is what the course's
setup.sh registers. The scripts are this project's own: the data step drops missing rows and
scales the features into a folder; the training step fits a logistic regression, logs with
MLflow and saves the model as an MLflow model into its output.
"""

from __future__ import annotations

import time

import pytest
from azure.ai.ml import Input, load_component
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.dsl import pipeline
from azure.ai.ml.entities import Data
from azure.identity import DefaultAzureCredential

from studio_ext import Workspace

pytestmark = pytest.mark.slow

PREP = """\
import argparse
from pathlib import Path

import pandas as pd
from sklearn.preprocessing import MinMaxScaler

parser = argparse.ArgumentParser()
parser.add_argument("--input_data")
parser.add_argument("--output_data")
args = parser.parse_args()

frame = pd.read_csv(args.input_data)
print(f"Preparing {len(frame)} rows of data")
frame = frame.dropna()
columns = ["Pregnancies", "PlasmaGlucose", "DiastolicBloodPressure", "TricepsThickness", "SerumInsulin", "BMI",
           "DiabetesPedigree"]
frame[columns] = MinMaxScaler().fit_transform(frame[columns])
frame.to_csv(Path(args.output_data) / "diabetes.csv", index=False)
"""

TRAIN = """\
import argparse
import glob

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--training_data")
parser.add_argument("--reg_rate", type=float, default=0.01)
parser.add_argument("--model_output")
args = parser.parse_args()

frame = pd.concat(pd.read_csv(f) for f in glob.glob(args.training_data + "/*.csv"))
features = ["Pregnancies", "PlasmaGlucose", "DiastolicBloodPressure", "TricepsThickness", "SerumInsulin", "BMI",
            "DiabetesPedigree", "Age"]
x_train, x_test, y_train, y_test = train_test_split(frame[features].values, frame["Diabetic"].values,
                                                    test_size=0.30, random_state=0)
mlflow.log_param("Regularization rate", args.reg_rate)
model = LogisticRegression(C=1 / args.reg_rate, solver="liblinear").fit(x_train, y_train)
mlflow.sklearn.save_model(model, args.model_output)
accuracy = float(np.average(model.predict(x_test) == y_test))
auc = float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))
mlflow.log_metric("Accuracy", accuracy)
mlflow.log_metric("AUC", auc)
print("Accuracy:", accuracy)
print("AUC:", auc)
"""

PREP_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: prep_data
display_name: Prepare training data
version: 1
type: command
inputs:
  input_data:
    type: uri_file
outputs:
  output_data:
    type: uri_folder
code: ./src
environment: azureml:AzureML-sklearn-0.24-ubuntu18.04-py37-cpu@latest
command: >-
  python prep-data.py
  --input_data ${{inputs.input_data}}
  --output_data ${{outputs.output_data}}
"""

TRAIN_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: train_model
display_name: Train a decision tree classifier model
version: 1
type: command
inputs:
  training_data:
    type: uri_folder
  reg_rate:
    type: number
    default: 0.01
outputs:
  model_output:
    type: mlflow_model
code: ./src
environment: azureml:AzureML-sklearn-0.24-ubuntu18.04-py37-cpu@latest
command: >-
  python train-model.py
  --training_data ${{inputs.training_data}}
  --reg_rate ${{inputs.reg_rate}}
  --model_output ${{outputs.model_output}}
"""


def test_the_two_step_pipeline_runs_on_the_cluster(lab, aml_cluster) -> None:
    ml_client = Workspace.from_config(credential=DefaultAzureCredential())
    lab.diabetes("data/diabetes.csv", rows=600)
    ml_client.data.create_or_update(Data(name="diabetes-data", version="1", type=AssetTypes.URI_FILE,
                                         path="./data/diabetes.csv"))
    lab.write("src/prep-data.py", PREP)
    lab.write("src/train-model.py", TRAIN)
    lab.write("prep-data.yml", PREP_YML)
    lab.write("train-model.yml", TRAIN_YML)

    parent_dir = ""
    prep_data = load_component(source=parent_dir + "./prep-data.yml")
    train_decision_tree = load_component(source=parent_dir + "./train-model.yml")

    @pipeline()
    def diabetes_classification(pipeline_job_input):
        clean_data = prep_data(input_data=pipeline_job_input)
        train_model = train_decision_tree(training_data=clean_data.outputs.output_data)

        return {
            "pipeline_job_transformed_data": clean_data.outputs.output_data,
            "pipeline_job_trained_model": train_model.outputs.model_output,
        }

    pipeline_job = diabetes_classification(Input(type=AssetTypes.URI_FILE, path="azureml:diabetes-data:1"))
    print(pipeline_job)
    pipeline_job.outputs.pipeline_job_transformed_data.mode = "upload"
    pipeline_job.outputs.pipeline_job_trained_model.mode = "upload"
    pipeline_job.settings.default_compute = "aml-cluster"
    pipeline_job.settings.default_datastore = "workspaceblobstore"
    print(pipeline_job)

    pipeline_job = ml_client.jobs.create_or_update(pipeline_job, experiment_name="pipeline_diabetes")
    print(pipeline_job)
    assert pipeline_job.type == "pipeline" and pipeline_job.experiment_name == "pipeline_diabetes"

    # What the studio shows when the run is opened: the run completes, each step is a child run.
    deadline = time.monotonic() + 600
    while not (job := ml_client.jobs.get(pipeline_job.name)).status.is_terminal and time.monotonic() < deadline:
        time.sleep(0.5)
    assert str(job.status) == "Completed", ml_client.jobs.get_logs(pipeline_job.name)
    children = {c.display_name: c for c in ml_client.jobs.list(parent_job_name=pipeline_job.name)}
    assert set(children) == {"clean_data", "train_model"}
    assert all(c.compute == "aml-cluster" and str(c.status) == "Completed" for c in children.values())
    assert "Preparing 600 rows of data" in ml_client.jobs.get_logs(children["clean_data"].name)
    train = children["train_model"]
    assert train.params["Regularization rate"] == "0.01"
    assert 0.6 < train.metrics["Accuracy"] <= 1 and 0.6 < train.metrics["AUC"] <= 1
    model_folder = job.outputs["pipeline_job_trained_model"].path
    assert model_folder and (__import__("pathlib").Path(model_folder) / "MLmodel").is_file()
