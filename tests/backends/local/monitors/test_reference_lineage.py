"""A model monitor's reference when its signal names none: the model's training data, found through its lineage
(the tabular data asset version the job that made the model read), or an error saying what the lineage holds.
The reference is read only in the columns asked for."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from studio_ext import Input, command
from studio_ext.backends.local import LocalBackend
from studio_ext.backends.local.monitors.run import References
from studio_ext.backends.local.monitors.service import reference_of
from studio_ext.entities import Data, Model
from studio_ext.errors import InvalidInput
from studio_ext.workspace import Workspace

TRAIN = '''
import argparse, mlflow, pandas as pd
from sklearn.linear_model import LinearRegression
p = argparse.ArgumentParser(); p.add_argument("--data"); a = p.parse_args()
frame = pd.read_parquet(a.data)
with mlflow.start_run():
    mlflow.sklearn.log_model(LinearRegression().fit(frame[["x", "z"]], frame["y"]), name="model",
                             pip_requirements=["scikit-learn"])
'''


def _target(model: str) -> dict[str, str]:
    return {"endpoint_deployment_id": "azureml:no-such-endpoint:blue", "model_id": model}


@pytest.mark.slow(seconds=30)  # one training job
def test_the_training_data_of_the_models_job_is_the_reference(module_workspace: Workspace, tmp_path: Path) -> None:
    ws = module_workspace
    backend = LocalBackend.of(ws)
    frame = pd.DataFrame({"x": range(20), "z": [i % 3 for i in range(20)], "y": [2.0 * i for i in range(20)]})
    frame.to_csv(tmp_path / "train.csv", index=False)
    ws.data.create_or_update(Data(name="train-set", path=str(tmp_path / "train.csv"), type="mltable"))
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text(TRAIN)
    job = ws.jobs.create_or_update(command(
        code=str(tmp_path / "code"), command="python train.py --data ${{inputs.data}}",
        inputs={"data": Input(type="uri_file", path="azureml:train-set@latest")}))
    final = ws.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=120)
    assert str(final.status) == "Completed", ws.jobs.get_logs(job.name)
    ws.models.create_or_update(Model(name="trained", path=f"azureml://jobs/{job.name}/outputs/artifacts/paths/model"))
    # a newer version registered after the job: the reference is still the version the job read
    frame.assign(x=frame["x"] * 10).to_csv(tmp_path / "train2.csv", index=False)
    ws.data.create_or_update(Data(name="train-set", path=str(tmp_path / "train2.csv"), type="mltable"))

    assert reference_of(backend, {}, _target("azureml:trained:1")) == "azureml:train-set:1"
    given = {"reference_data": {"input_data": {"path": "azureml:train-set:2", "type": "mltable"}}}
    assert reference_of(backend, given, _target("azureml:trained:1")) == "azureml:train-set:2"

    # Only the columns asked for are read; a later signal's extra column is read then, once.
    refs = References(backend)
    assert refs.columns("azureml:train-set:1") == ["x", "z", "y"]
    first = refs.frame("azureml:train-set:1", ["x"])
    assert list(first.columns) == ["x"] and first["x"].tolist() == list(range(20))
    assert list(refs._frames["azureml:train-set:1"].columns) == ["x"]
    assert list(refs.frame("azureml:train-set:1", ["z", "x"]).columns) == ["z", "x"]
    assert list(refs._frames["azureml:train-set:1"].columns) == ["x", "z"]

    # A model logged outside any job has no lineage: said, with what to give instead.
    mlflow.set_tracking_uri(ws.mlflow_tracking_uri)
    # an experiment of this workspace's own: MLflow keeps the active experiment per process, and an
    # earlier test in this process may have set one that only its own workspace had
    experiment = mlflow.set_experiment("outside-any-job")
    with mlflow.start_run(experiment_id=experiment.experiment_id) as run:
        mlflow.sklearn.log_model(LinearRegression().fit(frame[["x"]], frame["y"]), name="model",
                                 pip_requirements=["scikit-learn"])
    ws.models.create_or_update(Model(name="untracked", path=f"runs:/{run.info.run_id}/model"))
    with pytest.raises(InvalidInput) as err:
        reference_of(backend, {}, _target("azureml:untracked:1"))
    assert "has no training dataset in its lineage" in err.value.message
    assert "reference_data=ReferenceData(" in err.value.message
