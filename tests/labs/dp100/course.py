"""What the DP-100 lab tests share: the course's data, and the kinds of training script the labs
write into ``src/``, in this project's words.

The course's scripts are one family: read the diabetes CSV, split 70/30, fit a logistic
regression, report accuracy and AUC, and (from Lab 08 on) track with MLflow in one of a
few ways. :func:`training_script` writes a member of that family; ``tracking`` picks the
way:

- ``"print"``: prints the metrics only (Labs 02, 04, 08's first job);
- ``"log"``: ``mlflow.log_param`` / ``log_metric`` / ``log_artifact`` with no ``start_run``
  (Lab 08), the calls landing in the job's run;
- ``"autolog"`` / ``"sklearn-autolog"``: ``mlflow.autolog()`` / ``mlflow.sklearn.autolog()``
  before fitting (Labs 08, 10);
- ``"infer-signature"`` / ``"signature"``: ``mlflow.sklearn.log_model(model, "model",
  signature=...)`` outside any ``start_run``, the signature inferred from the data or
  written out column by column (Lab 10).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# The course's data, in shared/ beside the checkout (../shared/data/dp100 from the project's root).
DP100_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "dp100"
FEATURES = ["Pregnancies", "PlasmaGlucose", "DiastolicBloodPressure", "TricepsThickness",
            "SerumInsulin", "BMI", "DiabetesPedigree", "Age"]
LABEL = "Diabetic"

_IMPORTS = """\
import argparse

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split
"""

_BODY = """\
COLUMNS = ["Pregnancies", "PlasmaGlucose", "DiastolicBloodPressure", "TricepsThickness",
           "SerumInsulin", "BMI", "DiabetesPedigree", "Age"]


def arguments():
    parser = argparse.ArgumentParser(description="Fit a diabetes classifier.")
    parser.add_argument("--training_data", default="diabetes.csv")
    parser.add_argument("--reg_rate", type=float, default=0.01)
    return parser.parse_args()


def main():
    args = arguments()
    print("Reading", args.training_data)
    table = pd.read_csv(args.training_data)
    features, labels = table[COLUMNS].values, table["Diabetic"].values
    x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.30, random_state=0)
    {before_fit}
    print("Fitting a logistic regression, regularization rate", args.reg_rate)
    model = LogisticRegression(C=1 / args.reg_rate, solver="liblinear").fit(x_train, y_train)
    predicted = model.predict(x_test)
    accuracy = np.average(predicted == y_test)
    scores = model.predict_proba(x_test)[:, 1]
    auc = roc_auc_score(y_test, scores)
    print("Accuracy:", accuracy)
    print("AUC:", auc)
    false_positive, true_positive, _ = roc_curve(y_test, scores)
    plt.figure(figsize=(6, 4))
    plt.plot([0, 1], [0, 1], "k--")
    plt.plot(false_positive, true_positive)
    plt.xlabel("False positive rate")
    plt.ylabel("True positive rate")
    plt.savefig("ROC-Curve.png")
    {after_fit}


if __name__ == "__main__":
    main()
"""

_TRACKING = {
    "print": ("", "", ""),
    "log": (
        "import mlflow\n",
        'mlflow.log_param("Regularization rate", args.reg_rate)',
        'mlflow.log_metric("Accuracy", accuracy)\n'
        '    mlflow.log_metric("AUC", auc)\n'
        '    mlflow.log_artifact("ROC-Curve.png")',
    ),
    "autolog": ("import mlflow\n", "mlflow.autolog()", ""),
    "sklearn-autolog": ("import mlflow\n", "mlflow.sklearn.autolog()", ""),
    "infer-signature": (
        "import mlflow\nimport mlflow.sklearn\nfrom mlflow.models.signature import infer_signature\n",
        "",
        "signature = infer_signature(x_train, predicted)\n"
        '    mlflow.sklearn.log_model(model, "model", signature=signature)',
    ),
    "signature": (
        "import mlflow\nimport mlflow.sklearn\nfrom mlflow.models.signature import ModelSignature\n"
        "from mlflow.types.schema import ColSpec, Schema\n",
        "",
        "kinds = {'BMI': 'double', 'DiabetesPedigree': 'double'}\n"
        "    inputs = Schema([ColSpec(kinds.get(name, 'integer'), name) for name in COLUMNS])\n"
        "    signature = ModelSignature(inputs=inputs, outputs=Schema([ColSpec('boolean')]))\n"
        '    mlflow.sklearn.log_model(model, "model", signature=signature)',
    ),
}


def training_script(tracking: str = "print") -> str:
    """A diabetes training script that tracks its run the way ``tracking`` names (see above)."""
    imports, before_fit, after_fit = _TRACKING[tracking]
    return _IMPORTS + imports + "\n\n" + _BODY.format(before_fit=before_fit, after_fit=after_fit)


def stream_to_end(ml_client: Any, job_name: str, capsys: pytest.CaptureFixture[str]) -> str:
    """``ml_client.jobs.stream(job_name)``, as a lab's reader watches a job; the log it printed.

    Fails, with that log, unless the job ended Completed.
    """
    capsys.readouterr()
    ml_client.jobs.stream(job_name)
    streamed = capsys.readouterr().out
    assert ml_client.jobs.get(job_name).status == "Completed", streamed
    return streamed
