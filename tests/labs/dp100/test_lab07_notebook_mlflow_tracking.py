"""DP-100 Lab 07 "Track model training with MLflow": plain mlflow calls in a notebook land in the workspace.

The cells run in a real kernel started as the studio starts its kernels; none of them sets a
tracking URI, as on an Azure ML compute instance.
"""

from __future__ import annotations

import mlflow
import pytest
from azure.identity import DefaultAzureCredential

from studio_ext import Workspace

pytestmark = pytest.mark.slow

READ_AND_SPLIT = """\
import pandas as pd
from sklearn.model_selection import train_test_split

print("Reading data...")
df = pd.read_csv("./data/diabetes.csv")
columns = ["Pregnancies", "PlasmaGlucose", "DiastolicBloodPressure", "TricepsThickness",
           "SerumInsulin", "BMI", "DiabetesPedigree", "Age"]
X, y = df[columns].values, df["Diabetic"].values
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.30, random_state=0)
df.head()
"""

SET_EXPERIMENT = """\
import mlflow
experiment_name = "mlflow-experiment-diabetes"
mlflow.set_experiment(experiment_name)
"""

AUTOLOGGED = """\
from sklearn.linear_model import LogisticRegression

with mlflow.start_run():
    mlflow.sklearn.autolog()
    model = LogisticRegression(C=1 / 0.1, solver="liblinear").fit(X_train, y_train)
"""

AUTOLOG_OFF = "mlflow.sklearn.autolog(disable=True)\n"

LOGGED_BY_HAND = """\
import numpy as np
from sklearn.linear_model import LogisticRegression

with mlflow.start_run():
    model = LogisticRegression(C=1 / {rate}, solver="liblinear").fit(X_train, y_train)
    accuracy = np.average(model.predict(X_test) == y_test)
    mlflow.log_param("regularization_rate", {rate})
    mlflow.log_metric("Accuracy", accuracy)
"""

TREE = """\
import numpy as np
from sklearn.tree import DecisionTreeClassifier

with mlflow.start_run():
    model = DecisionTreeClassifier().fit(X_train, y_train)
    accuracy = np.average(model.predict(X_test) == y_test)
    mlflow.log_param("estimator", "DecisionTreeClassifier")
    mlflow.log_metric("Accuracy", accuracy)
"""

TREE_WITH_ROC = """\
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_curve
from sklearn.tree import DecisionTreeClassifier

with mlflow.start_run():
    model = DecisionTreeClassifier().fit(X_train, y_train)
    accuracy = np.average(model.predict(X_test) == y_test)
    false_positive, true_positive, _ = roc_curve(y_test, model.predict_proba(X_test)[:, 1])
    figure = plt.figure(figsize=(6, 4))
    plt.plot([0, 1], [0, 1], "k--")
    plt.plot(false_positive, true_positive)
    plt.xlabel("False Positive Rate")
    plt.ylabel("True Positive Rate")
    plt.title("ROC Curve")
    plt.savefig("ROC-Curve.png")
    mlflow.log_param("estimator", "DecisionTreeClassifier")
    mlflow.log_metric("Accuracy", accuracy)
    mlflow.log_artifact("ROC-Curve.png")
"""


def test_notebook_runs_land_in_the_workspace(lab, notebook_kernel) -> None:
    lab.diabetes("data/diabetes.csv")
    notebook_kernel.run("from azure.identity import DefaultAzureCredential\n"
                        "from studio_ext import Workspace\n"
                        "ml_client = Workspace.from_config(credential=DefaultAzureCredential())\n")

    assert "Reading data..." in notebook_kernel.run(READ_AND_SPLIT)
    notebook_kernel.run(SET_EXPERIMENT)
    notebook_kernel.run(AUTOLOGGED)
    notebook_kernel.run(AUTOLOG_OFF)
    notebook_kernel.run(LOGGED_BY_HAND.format(rate=0.1))
    notebook_kernel.run(LOGGED_BY_HAND.format(rate=0.01))
    notebook_kernel.run(TREE)
    notebook_kernel.run(TREE_WITH_ROC)

    # Nothing went to a stray local store beside the notebook.
    assert not (lab.path / "mlflow.db").exists() and not (lab.path / "mlruns").exists()

    # The reader's view: the experiment's five runs in the workspace, with what each logged.
    ml_client = Workspace.from_config(credential=DefaultAzureCredential())
    tracking = mlflow.MlflowClient(ml_client.workspaces.get(ml_client.workspace_name).mlflow_tracking_uri)
    experiment = tracking.get_experiment_by_name("mlflow-experiment-diabetes")
    runs = tracking.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    assert len(runs) == 5, [r.info.run_name for r in runs]
    autologged, rate_01, rate_001, tree, tree_roc = runs
    assert "training_accuracy_score" in autologged.data.metrics
    assert autologged.data.params.get("C") == "10.0"
    assert [r.data.params.get("regularization_rate") for r in (rate_01, rate_001)] == ["0.1", "0.01"]
    assert all(0.5 < r.data.metrics["Accuracy"] <= 1 for r in (rate_01, rate_001, tree, tree_roc))
    assert "training_accuracy_score" not in rate_01.data.metrics, "autolog was turned off"
    assert tree.data.params == {"estimator": "DecisionTreeClassifier"}
    artifacts = [a.path for a in tracking.list_artifacts(tree_roc.info.run_id)]
    assert artifacts == ["ROC-Curve.png"]
    assert len(ml_client.jobs.list("mlflow-experiment-diabetes")) == 5, "the runs show on the studio's Jobs page"
