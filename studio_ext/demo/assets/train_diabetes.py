"""Train a ridge regression on scikit-learn's diabetes data and log it with plain MLflow.

This script knows nothing of studio_ext: it runs unchanged as an Azure ML command job.
"""

import argparse
import os

import mlflow
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, default=1.0)
parser.add_argument("--output-dir", default="outputs")
parser.add_argument("--data", help="a Parquet table with the diabetes columns (a registered tabular dataset as uri_file)")
args = parser.parse_args()

if args.data:  # a job input: the registered dataset's Parquet file
    import pandas as pd

    table = pd.read_parquet(args.data)
    X, y = table.drop(columns=["target"]), table["target"]
else:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
mlflow.log_param("alpha", args.alpha)
mlflow.log_param("rows", len(X))
model = Ridge(alpha=args.alpha).fit(X_train, y_train)
pred = model.predict(X_test)
for step, fraction in enumerate(np.linspace(0.2, 1.0, 5)):
    n = int(len(X_train) * fraction)
    partial = Ridge(alpha=args.alpha).fit(X_train[:n], y_train[:n])
    mlflow.log_metric("r2_by_train_size", r2_score(y_test, partial.predict(X_test)), step=step)
rmse = float(np.sqrt(mean_squared_error(y_test, pred)))
mlflow.log_metric("rmse", rmse)
mlflow.log_metric("r2", r2_score(y_test, pred))
os.makedirs(args.output_dir, exist_ok=True)
mlflow.sklearn.log_model(model, name="model", input_example=X_test.head(3))
print(f"alpha={args.alpha} rmse={rmse:.2f} r2={r2_score(y_test, pred):.3f}")
