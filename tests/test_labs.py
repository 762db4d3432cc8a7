"""The guided labs' check helpers: each says what to fix when the learner's result is off."""

from __future__ import annotations

import mlflow
import pytest

from studio_ext import Workspace
from studio_ext.entities import Data
from studio_ext.labs import (
    LabCheckError,
    check_automl_job,
    check_dataset_registered,
    check_endpoint_monitored,
    check_endpoint_serves,
    check_experiment_has_runs,
    check_job_completed,
    check_jobs_ran_on,
    check_model_explained,
    check_model_registered,
    check_unfairness_mitigated,
    lab_workspace,
)


def test_lab_workspace_is_the_environments_workspace(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_EXT_WORKSPACE", str(workspace.path))
    assert lab_workspace().path == workspace.path


def test_checks_on_an_empty_workspace_say_which_cell_to_run(workspace: Workspace) -> None:
    ws = workspace
    with pytest.raises(LabCheckError, match="No job name to check: run the cell that submits the job first"):
        check_job_completed(ws, None)
    with pytest.raises(LabCheckError, match="The job 'nope' is not in this workspace"):
        check_job_completed(ws, "nope")
    with pytest.raises(LabCheckError, match="No jobs to check"):
        check_jobs_ran_on(ws, [], "lab06-cluster")
    with pytest.raises(LabCheckError, match="The model 'm' has 0 version\\(s\\); the lab expects at least 2"):
        check_model_registered(ws, "m", versions=2)
    with pytest.raises(LabCheckError, match="The dataset 'd' has 0 version\\(s\\)"):
        check_dataset_registered(ws, "d")
    with pytest.raises(LabCheckError, match="There is no endpoint 'e'. Run the cell that creates it"):
        check_endpoint_serves(ws, "e", deployments=["blue"])
    with pytest.raises(LabCheckError, match="There is no endpoint 'e'. Run the cells that create and deploy it"):
        check_endpoint_monitored(ws, "e")
    with pytest.raises(LabCheckError, match="Model 'm' version 1 does not exist.*Run the cell that registers the model"):
        check_model_explained(ws, "m:1", explainers=["tabular"])
    with pytest.raises(LabCheckError, match="Model 'm' version 1 does not exist.*Run the cell that registers the model"):
        check_unfairness_mitigated(ws, "m:1", "m-fair", sensitive_feature="sex")
    with pytest.raises(LabCheckError, match="No job name to check"):
        check_automl_job(ws, None, task="regression", primary_metric="r2_score")


def test_experiment_check_counts_interactive_runs(workspace: Workspace) -> None:
    mlflow.set_tracking_uri(workspace.mlflow_tracking_uri)
    mlflow.set_experiment("lab-check")
    with pytest.raises(LabCheckError, match="The experiment 'lab-check' has 0 interactive run\\(s\\)"):
        check_experiment_has_runs(workspace, "lab-check", interactive=True)
    with mlflow.start_run():
        mlflow.log_metric("answer", 42)
    assert len(check_experiment_has_runs(workspace, "lab-check", interactive=True)) == 1


def test_dataset_check_names_the_read_option_that_fixes_a_column_type(workspace: Workspace, tmp_path) -> None:
    csv = tmp_path / "flights.csv"
    csv.write_text("flight,delay\n1545,3\n725,-2\n")
    workspace.data.create_or_update(Data(name="flights", path=str(csv)))
    with pytest.raises(LabCheckError, match="the column 'flight' is integer, not string.*'column_types': \\{'flight': 'string'\\}"):
        check_dataset_registered(workspace, "flights", column_types={"flight": "string"})
    with pytest.raises(LabCheckError, match="has no column 'carrier'"):
        check_dataset_registered(workspace, "flights", column_types={"carrier": "string"})
    with pytest.raises(LabCheckError, match="No completed job has read 'flights' yet"):
        check_dataset_registered(workspace, "flights", used_by_job=True)
    workspace.data.create_or_update(Data(name="flights", path=str(csv), read_options={"column_types": {"flight": "string"}}))
    assert check_dataset_registered(workspace, "flights", versions=2, column_types={"flight": "string"}).version == "2"
