"""Sweep jobs run for real: trials are child command jobs (MLflow, processes, a Dask cluster), driven by the
supervisor's sweep duty; early termination reads the metrics the trials log with plain MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.ai.ml import Input as AzureInput
from azure.ai.ml import command as azure_command
from azure.ai.ml.sweep import BanditPolicy as AzureBandit
from azure.ai.ml.sweep import Choice as AzureChoice
from azure.ai.ml.sweep import RandomSamplingAlgorithm as AzureRandom

from studio_ext import command
from studio_ext.entities import AmlCompute, JobStatus
from studio_ext.errors import InvalidInput
from studio_ext.sweep import (
    BanditPolicy,
    Choice,
    LogUniform,
    Objective,
    RandomSamplingAlgorithm,
    SweepJob,
    SweepJobLimits,
    Uniform,
)
from studio_ext.workspace import Workspace

# Logs "score" once per epoch: score = quality * epoch / epochs, so a poor quality stays behind all along.
TRAIN = """
import argparse, time, mlflow
p = argparse.ArgumentParser()
p.add_argument("--quality", type=float)
p.add_argument("--epochs", type=int, default=6)
p.add_argument("--label", default="")
p.add_argument("--sleep", type=float, default=0.15)
p.add_argument("--fail", type=float, default=-1)
a = p.parse_args()
if a.quality == a.fail:
    raise SystemExit("asked to fail")
print("label", repr(a.label))
for epoch in range(1, a.epochs + 1):
    mlflow.log_metric("score", a.quality * epoch / a.epochs, step=epoch)
    time.sleep(a.sleep)
"""


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "src"
    path.mkdir()
    (path / "train.py").write_text(TRAIN)
    return path


def _sweep(src: Path, space: dict, command_line: str, **kw: object) -> SweepJob:
    limits = kw.pop("limits", SweepJobLimits(max_total_trials=3, max_concurrent_trials=3))
    trial = command(code=str(src), command=command_line)
    return SweepJob(trial=trial, search_space=space, objective=Objective(goal="maximize", primary_metric="score"),
                    limits=limits, compute="local", experiment_name="sweeps", **kw)  # type: ignore[arg-type]


def test_grid_sweep_runs_every_point_as_a_child_job(workspace: Workspace, src: Path) -> None:
    job = _sweep(src, {"quality": Choice([0.2, 0.9, 0.5]), "label": Choice(["; rm -rf ~", "$(id)"])},
                 "python train.py --quality ${{search_space.quality}} --label ${{search_space.label}} --epochs 2",
                 sampling_algorithm="grid", limits=SweepJobLimits(max_concurrent_trials=3))
    submitted = workspace.jobs.create_or_update(job)
    assert submitted.type == "sweep" and submitted.status == JobStatus.RUNNING
    done = _wait(workspace, submitted.name)
    assert done.status == JobStatus.COMPLETED, workspace.jobs.get_logs(submitted.name)
    assert done.compute == "local" and done.limits.max_total_trials == 6  # the grid's size
    trials = workspace.sweeps.trials(submitted.name)
    assert len(trials) == 6 and all(t["status"] == "Completed" for t in trials)
    assert done.best_metric == pytest.approx(0.9) and done.best_hyperparameters["quality"] == 0.9
    best = workspace.jobs.get(done.best_child_run_id)
    assert best.parent_job_name == submitted.name and best.status == JobStatus.COMPLETED
    children = workspace.jobs.list(parent_job_name=submitted.name)
    assert {c.name for c in children} == {t["name"] for t in trials}
    logs = "".join(workspace.jobs.get_logs(t["name"]) for t in trials)
    assert "label '; rm -rf ~'" in logs and "label '$(id)'" in logs  # shell-quoted, never run
    # Each trial's command is stored and shown with its values put in, quoted as the shell gets them.
    shown = {workspace.jobs.get(t["name"]).command for t in trials}
    assert "python train.py --quality 0.9 --label '; rm -rf ~' --epochs 2" in shown
    assert "python train.py --quality 0.2 --label '$(id)' --epochs 2" in shown
    assert not any("${{" in c for c in shown)
    # Policy replay on the finished sweep: at interval 1 the best is 0.45 (0.9 / 2); 0.1 and 0.25 are outside 10 %.
    replay = workspace.sweeps.replay(submitted.name, BanditPolicy(slack_factor=0.1, evaluation_interval=1))
    assert len(replay["stops"]) == 4 and all(s["interval"] == 1 for s in replay["stops"].values())
    assert (replay["saved_intervals"], replay["total_intervals"], replay["stops_best"]) == (4, 12, False)
    importance = workspace.sweeps.importance(submitted.name)
    assert set(importance) == {"quality", "label"} and importance["quality"] > 0.9


def _wait(ws: Workspace, name: str, timeout: float = 300) -> SweepJob:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = ws.jobs.get(name)
        if job.status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED):
            return job  # type: ignore[return-value]
        time.sleep(0.3)
    raise AssertionError(f"sweep {name} did not end in {timeout} s: {ws.jobs.get_logs(name)}")


def test_bandit_stops_the_trials_behind(workspace: Workspace, src: Path) -> None:
    job = _sweep(src, {"quality": Choice([1.0, 0.5, 0.95])},
                 "python train.py --quality ${{search_space.quality}} --epochs 8 --sleep 0.4",
                 sampling_algorithm="grid", early_termination=BanditPolicy(slack_factor=0.2, evaluation_interval=1,
                                                                          delay_evaluation=2))
    done = _wait(workspace, workspace.jobs.create_or_update(job).name)
    assert done.status == JobStatus.COMPLETED
    trials = {t["params"]["quality"]: t for t in workspace.sweeps.trials(done.name)}
    assert trials[0.5]["status"] == "Canceled" and trials[0.5]["stopped"]["policy"] == "bandit"
    assert trials[1.0]["status"] == "Completed" and trials[0.95]["status"] == "Completed"
    stopped = workspace.jobs.get(trials[0.5]["name"])
    assert stopped.status == JobStatus.CANCELED and "Bandit policy" in (stopped.error or "")
    assert done.best_hyperparameters == {"quality": 1.0}


def test_failed_trials_and_all_failed(workspace: Workspace, src: Path) -> None:
    job = _sweep(src, {"quality": Choice([0.3, 0.6])},
                 "python train.py --quality ${{search_space.quality}} --fail 0.3 --epochs 1", sampling_algorithm="grid")
    done = _wait(workspace, workspace.jobs.create_or_update(job).name)
    assert done.status == JobStatus.COMPLETED and done.best_hyperparameters == {"quality": 0.6}
    job = _sweep(src, {"quality": Choice([0.3])}, "python train.py --quality ${{search_space.quality}} --fail 0.3",
                 sampling_algorithm="grid")
    done = _wait(workspace, workspace.jobs.create_or_update(job).name)
    assert done.status == JobStatus.FAILED and "Every trial of the sweep failed" in (done.error or "")


def test_a_trial_killed_with_sigkill_fails_and_the_sweep_goes_on(workspace: Workspace, src: Path) -> None:
    """A trial process killed with -9 (nothing reports its end) is found and marked Failed as any job is; the sweep
    records it, runs its other trials to the end and keeps its best trial right."""
    import signal
    import time

    import psutil

    from studio_ext.backends.local.jobs.service import LocalJobs

    job = _sweep(src, {"quality": Choice([0.3, 0.6, 0.9])},
                 "python train.py --quality ${{search_space.quality}} --epochs 6 --sleep 1", sampling_algorithm="grid")
    name = workspace.jobs.create_or_update(job).name
    deadline = time.monotonic() + 240
    victim = None
    while victim is None and time.monotonic() < deadline:
        for trial in workspace.sweeps.trials(name):
            row = LocalJobs._row(workspace.jobs, trial["name"])
            if trial["params"]["quality"] == 0.9 and row is not None and row.status == "Running" and row.pid:
                victim = trial["name"]
                wrapper = psutil.Process(row.pid)
                for proc in [wrapper, *wrapper.children(recursive=True)]:
                    proc.send_signal(signal.SIGKILL)
        time.sleep(0.2)
    assert victim is not None, "the trial never ran"
    done = _wait(workspace, name)
    assert done.status == JobStatus.COMPLETED, workspace.jobs.get_logs(name)
    killed = workspace.jobs.get(victim)
    assert killed.status == JobStatus.FAILED and "died without reporting" in (killed.error or "")
    trials = {t["params"]["quality"]: t for t in workspace.sweeps.trials(name)}
    assert trials[0.9]["status"] == "Failed" and "died without reporting" in trials[0.9]["error"]
    assert trials[0.3]["status"] == trials[0.6]["status"] == "Completed"
    assert done.best_child_run_id == trials[0.6]["name"] and done.best_hyperparameters == {"quality": 0.6}
    assert done.best_metric == pytest.approx(0.6) and done.trial_count == 3
    assert f"Trial {victim} Failed" in workspace.jobs.get_logs(name)


def test_bad_input_is_refused_before_anything_is_written(workspace: Workspace, src: Path) -> None:
    line = "python train.py --quality ${{search_space.quality}}"
    cases = [
        (_sweep(src, {"quality": Uniform(min_value=0, max_value=1), "lr": Choice([1])}, line),
         "'lr' is not used by the trial's command"),
        (_sweep(src, {"q": Uniform(min_value=0, max_value=1)}, line), "has no search space 'quality'"),
        (_sweep(src, {"quality": Uniform(min_value=0, max_value=1)}, line, sampling_algorithm="grid"),
         "Grid sampling takes only Choice"),
        (_sweep(src, {"quality": LogUniform(min_value=-3, max_value=0)}, line, sampling_algorithm="bayesian"),
         "only Choice, Uniform and QUniform"),
        (_sweep(src, {"quality": Uniform(min_value=0, max_value=1)}, line, sampling_algorithm="bayesian",
                early_termination=BanditPolicy(slack_factor=0.1)), "does not support early termination"),
        (SweepJob(trial=command(code=str(src), command=line), search_space={"quality": Choice([1])},
                  limits=SweepJobLimits(max_total_trials=1)), "has no objective"),
    ]
    for job, message in cases:
        with pytest.raises(InvalidInput, match=message):
            workspace.jobs.create_or_update(job)
    assert workspace.jobs.list() == []
    assert not any((Path(workspace.path) / "jobs").glob("sweep_*"))


def test_azure_sweep_on_a_cluster_with_random_sampling_and_cancel(workspace: Workspace, src: Path) -> None:
    workspace.compute.begin_create_or_update(AmlCompute(name="aml-cluster", min_instances=0, max_instances=2)).result(180)
    (src / "data.csv").write_text("x\n1\n")
    job = azure_command(code=str(src), command="python train.py --quality ${{inputs.quality}} --label "
                        "${{inputs.data}} --epochs 3 --sleep 0.2",
                        inputs={"quality": 0.5, "data": AzureInput(type="uri_file", path=str(src / "data.csv"))},
                        environment="AzureML-sklearn-1.5@latest", compute="aml-cluster")
    sweep = job(quality=AzureChoice(values=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6])).sweep(
        compute="aml-cluster", sampling_algorithm=AzureRandom(seed=3),
        primary_metric="score", goal="Maximize")
    sweep.set_limits(max_total_trials=4, max_concurrent_trials=2)
    sweep.early_termination = AzureBandit(slack_factor=0.5, evaluation_interval=1, delay_evaluation=1)
    sweep.experiment_name = "sweep-example"
    submitted = workspace.jobs.create_or_update(sweep)
    done = _wait(workspace, submitted.name)
    assert done.status == JobStatus.COMPLETED, workspace.jobs.get_logs(submitted.name)
    trials = workspace.sweeps.trials(done.name)
    assert len(trials) == 4
    assert all(workspace.jobs.get(t["name"]).compute == "aml-cluster" for t in trials)
    assert done.experiment_name == "sweep-example" and done.best_child_run_id in {t["name"] for t in trials}
    assert json.loads(workspace.jobs.get(done.best_child_run_id).tags["hyperparameters"]) == done.best_hyperparameters


def test_timeout_ends_completed_and_cancel_cancels_every_trial(workspace: Workspace, src: Path) -> None:
    line = "python train.py --quality ${{search_space.quality}} --epochs 400 --sleep 0.1"
    job = _sweep(src, {"quality": Choice([0.1, 0.2])}, line, sampling_algorithm="grid")
    job.set_limits(timeout=8)
    done = _wait(workspace, workspace.jobs.create_or_update(job).name)
    assert done.status == JobStatus.COMPLETED and any("timeout of 8 s" in n for n in done.notes)
    for trial in workspace.sweeps.trials(done.name):
        assert workspace.jobs.get(trial["name"]).status == JobStatus.CANCELED

    running = workspace.jobs.create_or_update(_sweep(src, {"quality": Choice([0.1, 0.2])}, line,
                                                     sampling_algorithm="grid"))
    import time

    deadline = time.monotonic() + 120
    while len(workspace.sweeps.trials(running.name)) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
    canceled = workspace.jobs.begin_cancel(running.name).result(120)
    assert canceled.status == JobStatus.CANCELED
    children = workspace.jobs.list(parent_job_name=running.name)
    assert len(children) == 2 and all(c.status == JobStatus.CANCELED for c in children)


def test_a_primary_metric_no_trial_logs_is_said_at_the_first_completed_trial(workspace: Workspace, src: Path) -> None:
    (src / "quiet.py").write_text("import sys, time\ntime.sleep(float(sys.argv[1]))\n")
    job = _sweep(src, {"wait": Choice([0.1, 20])}, "python quiet.py ${{search_space.wait}}",
                 sampling_algorithm="grid")
    name = workspace.jobs.create_or_update(job).name
    import time

    deadline = time.monotonic() + 120
    while not workspace.jobs.get(name).notes and time.monotonic() < deadline:
        time.sleep(0.3)
    running = workspace.jobs.get(name)
    assert running.status == JobStatus.RUNNING  # said while the slow trial still runs
    assert any("without logging the primary metric 'score'" in n for n in running.notes)
    done = _wait(workspace, name)
    assert done.status == JobStatus.FAILED and "No trial logged the primary metric 'score'" in (done.error or "")


def test_bayesian_sweep_runs_through_optuna_ask_tell(workspace: Workspace, src: Path) -> None:
    job = _sweep(src, {"quality": Uniform(min_value=0.1, max_value=1.0)},
                 "python train.py --quality ${{search_space.quality}} --epochs 1 --sleep 0",
                 sampling_algorithm="bayesian", limits=SweepJobLimits(max_total_trials=4, max_concurrent_trials=2))
    done = _wait(workspace, workspace.jobs.create_or_update(job).name)
    assert done.status == JobStatus.COMPLETED and done.sampling_algorithm.type == "bayesian"  # type: ignore[union-attr]
    trials = workspace.sweeps.trials(done.name)
    assert len(trials) == 4 and len({t["params"]["quality"] for t in trials}) == 4
    assert done.best_metric == max(t["value"] for t in trials)


def test_the_sweep_goes_on_after_the_supervisor_restarts(workspace: Workspace, src: Path) -> None:
    import time

    job = _sweep(src, {"quality": Uniform(min_value=0.1, max_value=1.0)},
                 "python train.py --quality ${{search_space.quality}} --epochs 4 --sleep 0.5",
                 limits=SweepJobLimits(max_total_trials=4, max_concurrent_trials=1),
                 sampling_algorithm=RandomSamplingAlgorithm(seed=11))
    name = workspace.jobs.create_or_update(job).name
    deadline = time.monotonic() + 120
    while len(workspace.sweeps.trials(name)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert workspace.runtime.stop()  # the workspace's runtime goes away mid-sweep, as when the studio closes
    given = [t["params"] for t in workspace.sweeps.trials(name)]
    workspace.runtime.start()
    done = _wait(workspace, name)
    trials = workspace.sweeps.trials(name)
    assert done.status == JobStatus.COMPLETED and len(trials) == 4
    assert [t["params"] for t in trials][:len(given)] == given
    # the seeded sampler went on where it was: the same points as an uninterrupted run of the same seed
    from studio_ext.ml.sweep import samplers

    fresh = samplers.make(RandomSamplingAlgorithm(seed=11), {"quality": Uniform(min_value=0.1, max_value=1.0)}, seed=0)
    assert [t["params"] for t in trials] == [fresh.suggest() for _ in range(4)]


def test_more_concurrent_trials_than_nodes_is_allowed_with_a_note(workspace: Workspace, src: Path) -> None:
    workspace.compute.begin_create_or_update(AmlCompute(name="small", min_instances=0, max_instances=1)).result(180)
    job = _sweep(src, {"quality": Choice([0.1, 0.2])}, "python train.py --quality ${{search_space.quality}} --epochs 1",
                 sampling_algorithm="grid", limits=SweepJobLimits(max_concurrent_trials=2))
    job.compute = "small"
    submitted = workspace.jobs.create_or_update(job)
    assert any("at most 1 nodes: trials beyond that queue" in n for n in submitted.notes)
    assert _wait(workspace, submitted.name).status == JobStatus.COMPLETED
