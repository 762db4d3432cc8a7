"""AutoML jobs through the workspace: bad input refused up front, real runs end to end, trials as children."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from studio_ext import Input, Workspace, automl
from studio_ext.backends.local import LocalBackend
from studio_ext.entities import AttachedCompute, Data, JobStatus
from studio_ext.errors import InvalidInput, NotFound
from tests.helpers import wait_until


def register(ws: Workspace, frame: pd.DataFrame, name: str, folder: Path) -> Data:
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    return ws.data.create_or_update(Data(name=name, path=str(path), type="tabular"))


def cancer_frame() -> pd.DataFrame:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.assign(diagnosis=y.map({0: "malignant", 1: "benign"}))


def wait_final(ws: Workspace, name: str, timeout: float = 240) -> object:
    return wait_until(lambda: (job := ws.jobs.get(name)).status.is_terminal and job, timeout=timeout, interval=0.5,
                      what=lambda: f"{name} to end: {ws.jobs.get_logs(name, tail=20)}")


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Path]]:
    """A workspace with datasets, for the refusals (nothing there ever runs)."""
    folder = tmp_path_factory.mktemp("automl-quiet")
    ws = Workspace.create(folder / "ws")
    frame = cancer_frame()
    register(ws, frame, "cancer", folder)
    register(ws, frame.assign(diagnosis="benign"), "one-class", folder)
    register(ws, frame.assign(diagnosis=np.nan), "no-target", folder)
    register(ws, pd.concat([frame[frame.diagnosis == "benign"].head(4), frame[frame.diagnosis == "malignant"].head(40)]),
             "tiny", folder)
    try:
        yield ws, folder
    finally:
        ws.runtime.stop()
        ws.close()


BLOCK_ALL = ["LightGBM", "GradientBoosting", "LogisticRegression", "XGBoostClassifier", "RandomForest",
             "ExtremeRandomTrees", "KNN", "DecisionTree"]


@pytest.mark.parametrize("dataset, task, change, message", [
    ("cancer", "classification", dict(target_column_name="nope"),
     "The target column 'nope' is not in the training data. Columns: mean radius,"),
    ("one-class", "classification", {}, "The target 'diagnosis' has a single class ('benign'); classification "
     "needs at least two."),
    ("cancer", "regression", {}, "The target 'diagnosis' is not numeric (values such as 'malignant'); regression "
     "needs numbers."),
    ("no-target", "classification", {}, "Every row's target ('diagnosis') is missing: there is nothing to learn from."),
    ("cancer", "classification", dict(limits=dict(timeout_minutes=0)),
     "The 'timeout_minutes' limit must be a number > 0. Got 0.0 instead."),
    ("cancer", "classification", dict(training=dict(blocked_training_algorithms=BLOCK_ALL)),
     "Every algorithm for classification is blocked or left out"),
    ("tiny", "classification", dict(n_cross_validations=5),
     "The class 'benign' of the target has only 4 rows, too few for 5-fold cross-validation"),
    ("cancer", "classification", dict(primary_metric="r2_score"),
     "The primary metric 'r2_score' does not apply to classification."),
    ("cancer", "classification", dict(weight_column_name="importance"),
     "The weight column 'importance' is not in the training data."),
])
def test_bad_input_is_refused_before_anything_runs(quiet, dataset: str, task: str, change: dict,
                                                   message: str) -> None:
    ws, _ = quiet
    limits, training = change.pop("limits", {}), change.pop("training", {})
    kwargs = dict(training_data=Input(type="mltable", path=f"azureml:{dataset}:1"), target_column_name="diagnosis",
                  experiment_name="refused")
    job = getattr(automl, task)(**{**kwargs, **change})
    job.set_limits(**limits)
    job.set_training(**training)
    with pytest.raises(InvalidInput) as info:
        ws.jobs.create_or_update(job)
    assert str(info.value).startswith(message)
    assert ws.jobs.list(include_interactive=False) == [], "nothing was written"


def test_test_data_with_bad_sample_weights_is_refused_at_submit(quiet) -> None:
    ws, folder = quiet
    frame = cancer_frame().assign(visits=1.0)
    train = register(ws, frame.iloc[:400], "weighted-train", folder)
    test = register(ws, frame.iloc[400:].assign(visits=np.r_[-1.0, np.ones(len(frame) - 401)]), "bad-weights",
                    folder)
    job = automl.classification(training_data=train, test_data=test, target_column_name="diagnosis",
                                weight_column_name="visits")
    with pytest.raises(InvalidInput, match=r"^In the test data: The weight column 'visits' must hold numbers >= 0"):
        ws.jobs.create_or_update(job)
    assert ws.jobs.list(include_interactive=False) == [], "nothing was submitted"


def test_data_that_is_not_a_registered_dataset_is_refused(quiet) -> None:
    ws, folder = quiet
    job = automl.classification(training_data=str(folder / "cancer.csv"), target_column_name="diagnosis")
    with pytest.raises(InvalidInput, match="training_data must be a registered dataset"):
        ws.jobs.create_or_update(job)
    job = automl.classification(training_data=Input(type="mltable", path="azureml:missing:1"),
                                target_column_name="diagnosis")
    with pytest.raises(NotFound):
        ws.jobs.create_or_update(job)


@pytest.mark.slow
def test_classification_job_end_to_end(workspace: Workspace, tmp_path: Path) -> None:
    frame = cancer_frame()
    data = register(workspace, frame, "cancer", tmp_path)
    job = automl.classification(training_data=data, target_column_name="diagnosis", primary_metric="AUC_weighted",
                                experiment_name="cancer-automl", test_data_size=0.2, positive_label="malignant")
    budget = 15.0
    job.set_limits(timeout_minutes=budget / 60)
    job.set_training(blocked_training_algorithms=["KNN", "DecisionTree"])
    guardrails = {g.name: g.status.value for g in workspace.automl.check(job).guardrails}
    assert guardrails["Validation split handling"] == "Done", "guardrails are shown before the run"
    submit = time.time()
    submitted = workspace.jobs.create_or_update(job)
    assert submitted.type == "automl" and submitted.name
    final = wait_final(workspace, submitted.name)
    wall = time.time() - submit
    assert final.status == JobStatus.COMPLETED, workspace.jobs.get_logs(submitted.name, tail=30)
    log = workspace.jobs.get_logs(submitted.name)
    # The budget counts from the submit. A busy machine can spend it all on starting the job's process,
    # and the first trial runs regardless (a job owes a model); otherwise the job ends on time.
    started = float(log.split("budget 15 s from the submit (", 1)[1].split(" s ago)", 1)[0])
    if started < budget / 3:
        assert wall < budget * 1.1 + 1.5, f"the job ends within its budget (took {wall:.1f} s)\n{log}"

    run = workspace.automl.get(submitted.name)
    children = workspace.jobs.list(parent_job_name=submitted.name)
    assert len(children) == len(run.trials) >= 1  # how many fit in 30 s depends on the machine's load
    first = min(children, key=lambda j: int(j.name.rsplit("_", 1)[1]))
    assert first.params["algorithm"] == "LogisticRegression" and first.params["C"] == "1.0", (
        "the scaled linear model's defaults come first: the one-line baseline every run must match")
    assert first.metrics["AUC_weighted"] > 0.95 and first.duration_seconds > 0 and first.status == JobStatus.COMPLETED
    assert final.tags["automl_best_child_run_id"] == run.best_trial
    best = workspace.jobs.get(run.best_trial)
    assert final.metrics["AUC_weighted"] == pytest.approx(best.metrics["AUC_weighted"])
    # The best model is the way of choosing that held up on rows it did not see: the top of the board,
    # or a note says why not.
    assert run.best_metric == pytest.approx(max(t.metric for t in run.trials if t.metric is not None)) or run.notes
    assert "test_AUC_weighted" in final.metrics and run.test_metrics["AUC_weighted"] > 0.95

    report = workspace.automl.get_report(submitted.name)
    assert list(report.roc) == ["malignant"], "the positive label's curve"
    test_report = workspace.automl.get_report(submitted.name, data="test")
    assert test_report.confusion_matrix.to_numpy().sum() == 114
    predictions = workspace.automl.get_predictions(submitted.name)
    assert len(predictions) == 114 and {"prediction", "probability_malignant"} <= set(predictions.columns)
    explanation = workspace.automl.get_explanation(submitted.name)
    assert set(explanation.feature) == set(frame.columns) - {"diagnosis"}

    scored = workspace.automl.test_model(submitted.name, frame.drop(columns="diagnosis").head(4))
    assert set(scored.prediction) <= {"malignant", "benign"}
    with pytest.raises(InvalidInput, match="The rows do not fit the model's input"):
        workspace.automl.test_model(submitted.name, [{"colour": "red"}])
    model = workspace.automl.register_best_model(submitted.name, "cancer-best")
    assert model.version == "1" and model.job_name == submitted.name and model.flavors
    assert "azureml:cancer:1" in model.datasets


@pytest.mark.slow
def test_regression_job_with_validation_data_and_sample_weights(workspace: Workspace, tmp_path: Path) -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    frame = X.assign(progression=y, visit_weight=np.linspace(0.5, 2.0, len(y)))
    train = register(workspace, frame.iloc[:350], "diabetes-train", tmp_path)
    valid = register(workspace, frame.iloc[350:], "diabetes-valid", tmp_path)
    job = automl.regression(training_data=train, validation_data=valid, target_column_name="progression",
                            primary_metric="r2_score", experiment_name="diabetes-automl",
                            weight_column_name="visit_weight")
    job.set_limits(timeout_minutes=3, max_trials=4)  # ends at max_trials: quick however busy the machine
    job.set_training(allowed_training_algorithms=["ElasticNet", "LightGBM"], enable_stack_ensemble=False,
                     enable_model_explainability=False)
    submitted = workspace.jobs.create_or_update(job)
    final = wait_final(workspace, submitted.name)
    assert final.status == JobStatus.COMPLETED, workspace.jobs.get_logs(submitted.name, tail=30)
    run = workspace.automl.get(submitted.name)
    assert run.stop_reason == "max_trials (4) reached"
    assert {t.algorithm for t in run.trials} <= {"ElasticNet", "LightGBM", "VotingEnsemble"}
    assert run.validation.startswith("the validation data given")
    assert "visit_weight" not in {c["column"] for c in run.featurization}, "the weights are not a feature"
    assert run.best_metric > 0.3 and not run.explanation
    assert any(t.algorithm == "ElasticNet" and t.status == "Completed" for t in run.trials), (
        "the linear model fits with sample weights")
    report = workspace.automl.get_report(submitted.name)
    assert len(report.y_true) == len(frame) - 350
    with pytest.raises(NotFound, match="had no test data"):
        workspace.automl.get_report(submitted.name, data="test")


def quick_job(data: Data, **limits: object) -> object:
    job = automl.classification(training_data=data, target_column_name="diagnosis", n_cross_validations=3,
                                primary_metric="AUC_weighted", experiment_name="cancer-warm")
    job.set_limits(**{"timeout_minutes": 3, **limits})
    job.set_training(allowed_training_algorithms=["LogisticRegression", "LightGBM"],
                     enable_model_explainability=False, enable_stack_ensemble=False)
    return job


@pytest.mark.slow
def test_a_ready_process_with_the_libraries_imported_runs_the_job(workspace: Workspace, tmp_path: Path) -> None:
    import psutil

    assert workspace.automl.warm_up(wait=180), "the supervisor gets a process with AutoML's libraries ready"
    spare = LocalBackend.of(workspace).store.get_setting("automl_warm")["pid"]
    data = register(workspace, cancer_frame(), "cancer", tmp_path)
    submitted = workspace.jobs.create_or_update(quick_job(data, max_trials=3))
    final = wait_final(workspace, submitted.name)
    assert final.status == JobStatus.COMPLETED, workspace.jobs.get_logs(submitted.name, tail=30)
    row = LocalBackend.of(workspace).service("jobs")._row(submitted.name)
    assert row.pid == spare, "the job ran in (a fork of) the ready process, not in a fresh interpreter"
    run = workspace.automl.get(submitted.name)
    children = workspace.jobs.list(parent_job_name=submitted.name)
    assert len(children) == len(run.trials) >= 3, "each trial is still a child run"
    assert {c.params["algorithm"] for c in children} >= {"LogisticRegression", "LightGBM"}
    assert all(c.duration_seconds is not None for c in children)
    assert final.metrics["AUC_weighted"] == pytest.approx(run.best_metric) and run.has_model
    assert workspace.jobs.get_logs(submitted.name).startswith("["), "the job's own log lines, from its start"

    # Once the job ended, another ready process is made for the next job; canceling a job it runs works.
    assert workspace.automl.warm_up(wait=180)
    second = LocalBackend.of(workspace).store.get_setting("automl_warm")["pid"]
    assert second != spare
    long = workspace.jobs.create_or_update(quick_job(data, timeout_minutes=5, max_trials=1000))
    wait_until(lambda: workspace.jobs.list(parent_job_name=long.name), timeout=120, interval=0.3,
               what=lambda: f"a trial of {long.name}: {workspace.jobs.get_logs(long.name, tail=20)}")
    assert LocalBackend.of(workspace).service("jobs")._row(long.name).pid == second
    assert workspace.jobs.begin_cancel(long.name).result(60).status == JobStatus.CANCELED
    wait_until(lambda: not psutil.pid_exists(second) or psutil.Process(second).status() == psutil.STATUS_ZOMBIE,
               timeout=30, interval=0.2, what="the canceled job's process to end")


def two_trials_at_once(data: Data, compute: str) -> object:
    """Four trials, two at a time on ``compute``: the job ends at max_trials, not at its budget, so it runs
    the same trials however busy the machine is."""
    job = automl.classification(training_data=data, target_column_name="diagnosis", compute=compute,
                                experiment_name=f"cancer-{compute}", n_cross_validations=3)
    job.set_limits(timeout_minutes=3, max_trials=4, max_concurrent_trials=2)
    job.set_training(allowed_training_algorithms=["RandomForest", "LightGBM"], enable_model_explainability=False,
                     enable_stack_ensemble=False, enable_vote_ensemble=False)
    return job


def overlapping_pairs(trials: list) -> int:
    """How many pairs of trials were running at the same moment (by their recorded start and end)."""
    return sum(1 for i, a in enumerate(trials) for b in trials[i + 1:]
               if a.start_time < b.end_time and b.start_time < a.end_time)


@pytest.mark.slow
def test_trials_run_concurrently_on_an_attached_dask_cluster(workspace: Workspace, tmp_path: Path) -> None:
    from distributed import LocalCluster

    data = register(workspace, cancer_frame(), "cancer", tmp_path)
    # Two nodes: the job takes one and gives its thread back for trials, so two trials run at once.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        workspace.compute.begin_create_or_update(
            AttachedCompute(name="dask", address=cluster.scheduler_address, connect_timeout=30)).result(120)
        submitted = workspace.jobs.create_or_update(two_trials_at_once(data, "dask"))
        final = wait_final(workspace, submitted.name)
        assert final.status == JobStatus.COMPLETED, workspace.jobs.get_logs(submitted.name, tail=30)
        assert "2 at a time on 2 node(s)" in workspace.jobs.get_logs(submitted.name)
    trials = workspace.automl.list_trials(submitted.name)
    assert len(trials) == 4 and all(t.start_time and t.end_time for t in trials)
    # The first two are submitted together, one to each node; a random forest's fit outlasts the hand-off.
    assert overlapping_pairs(trials) >= 1, [(t.name, t.start_time, t.end_time) for t in trials]
    assert all(workspace.jobs.get(t.name).compute == "dask" for t in trials)


@pytest.mark.slow
def test_a_scaling_cluster_grows_to_one_node_per_concurrent_trial(workspace: Workspace, tmp_path: Path) -> None:
    from studio_ext.entities import AmlCompute

    data = register(workspace, cancer_frame(), "cancer", tmp_path)
    workspace.compute.begin_create_or_update(
        AmlCompute(name="trials", min_instances=0, max_instances=2, idle_time_before_scale_down=60)).result(120)
    submitted = workspace.jobs.create_or_update(two_trials_at_once(data, "trials"))
    # One AutoML job, yet the cluster grows to two nodes: it scales by the trials that can run at once.
    nodes = 0

    def ended() -> object:
        nonlocal nodes
        nodes = max(nodes, workspace.compute.get("trials").current_nodes)
        return (job := workspace.jobs.get(submitted.name)).status.is_terminal and job

    current = wait_until(ended, timeout=240, interval=0.5, what=f"job {submitted.name} to end")
    assert current.status == JobStatus.COMPLETED, workspace.jobs.get_logs(submitted.name, tail=30)
    assert nodes == 2, "the cluster grew to a node per concurrent trial"
    trials = workspace.automl.list_trials(submitted.name)
    assert len(trials) == 4 and overlapping_pairs(trials) >= 1, [(t.start_time, t.end_time) for t in trials]
