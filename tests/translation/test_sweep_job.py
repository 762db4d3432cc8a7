"""Sweep jobs through the translation: azure-ai-ml's command(...).sweep(...), studio_ext's builders, v2 YAML
(read by azure-ai-ml's own loader), and ``studio-ext job create --file`` running a sweep YAML to Completed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from azure.ai.ml import Input as AzureInput
from azure.ai.ml import command as azure_command
from azure.ai.ml.sweep import BanditPolicy as AzureBandit
from azure.ai.ml.sweep import Choice as AzureChoice
from azure.ai.ml.sweep import RandomSamplingAlgorithm as AzureRandom
from azure.ai.ml.sweep import Uniform as AzureUniform

from studio_ext import command
from studio_ext.sweep import BanditPolicy, Choice, QUniform, RandomSamplingAlgorithm, SweepJob, Uniform
from studio_ext.translation import from_azure_any, from_yaml, to_azure, to_yaml


def test_azure_sweep_node_translates_with_every_field(tmp_path: Path) -> None:
    job = azure_command(code=str(tmp_path), command="python train.py --data ${{inputs.data}} --reg ${{inputs.reg}} "
                        "--C ${{inputs.C}}", inputs={"data": AzureInput(type="uri_file", path=str(tmp_path / "d.csv")),
                                                     "reg": 0.01, "C": 1.0},
                        environment="AzureML-sklearn-1.5@latest", compute="aml-cluster")
    sweep = job(reg=AzureChoice(values=[0.01, 0.1, 1]), C=AzureUniform(min_value=0.1, max_value=1.0)).sweep(
        compute="aml-cluster", sampling_algorithm=AzureRandom(seed=7, rule="sobol"),
        primary_metric="AUC", goal="Maximize")
    sweep.set_limits(max_total_trials=6, max_concurrent_trials=2, timeout=600, trial_timeout=120)
    sweep.early_termination = AzureBandit(slack_amount=0.05, evaluation_interval=2, delay_evaluation=4)
    sweep.experiment_name = "sweep-example"
    got = from_azure_any(sweep).entity
    assert isinstance(got, SweepJob) and got.compute == "aml-cluster" and got.experiment_name == "sweep-example"
    assert got.trial is not None and "--reg ${{search_space.reg}}" in got.trial.command
    assert got.trial.code == str(tmp_path) and got.trial.environment == "AzureML-sklearn-1.5@latest"
    assert got.trial.inputs["data"].path == str(tmp_path / "d.csv")
    assert got.search_space == {"reg": Choice([0.01, 0.1, 1]), "C": Uniform(min_value=0.1, max_value=1.0)}
    assert got.sampling_algorithm == RandomSamplingAlgorithm(seed=7, rule="sobol")
    assert (got.objective.goal, got.objective.primary_metric) == ("maximize", "AUC")  # type: ignore[union-attr]
    assert (got.limits.max_total_trials, got.limits.max_concurrent_trials, got.limits.timeout,
            got.limits.trial_timeout) == (6, 2, 600, 120)
    assert got.early_termination == BanditPolicy(slack_amount=0.05, evaluation_interval=2, delay_evaluation=4)
    back = to_azure(got)  # azure-ai-ml's own loader takes our YAML
    assert type(back).__name__ == "SweepJob" and back.objective.primary_metric == "AUC"
    again = from_yaml(to_yaml(got)).entity
    assert again.search_space == got.search_space and again.early_termination == got.early_termination
    assert again.limits == got.limits and again.trial.command == got.trial.command  # type: ignore[union-attr]


def test_studio_ext_builders_have_the_same_shape(tmp_path: Path) -> None:
    job = command(code=str(tmp_path), command="python t.py --lr ${{inputs.lr}} --n ${{inputs.n}} --x ${{inputs.x}}",
                  inputs={"lr": 0.1, "n": 3, "x": "a"}, compute="local",
                  environment="AzureML-sklearn-1.5@latest")
    sweep = job(lr=Uniform(min_value=0.01, max_value=0.5), n=QUniform(min_value=2, max_value=10, q=2)).sweep(
        sampling_algorithm="bayesian", primary_metric="loss", goal="Minimize")
    sweep.set_limits(max_total_trials=5)
    assert sweep.trial.command == "python t.py --lr ${{search_space.lr}} --n ${{search_space.n}} --x ${{inputs.x}}"
    assert sweep.trial.inputs == {"x": "a"} and set(sweep.search_space) == {"lr", "n"}
    azure = to_azure(sweep)
    assert azure.sampling_algorithm == "bayesian" and azure.limits.max_total_trials == 5


SWEEP_YAML = """
$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json
type: sweep
experiment_name: sweep-yaml
compute: local
trial:
  code: src
  environment: azureml:AzureML-sklearn-1.5@latest
  command: python train.py --quality ${{search_space.quality}}
sampling_algorithm: grid
search_space:
  quality:
    type: choice
    values: [0.2, 0.7]
objective:
  goal: maximize
  primary_metric: score
limits:
  max_total_trials: 2
  max_concurrent_trials: 2
"""


def test_studio_ext_job_create_runs_a_sweep_yaml(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "train.py").write_text("import sys, mlflow\nmlflow.log_metric('score', float(sys.argv[2]))\n")
    (folder / "sweep.yml").write_text(SWEEP_YAML)
    ws = tmp_path / "ws"
    cli = [sys.executable, "-m", "studio_ext.cli"]
    try:
        subprocess.run([*cli, "init", str(ws)], check=True, capture_output=True, text=True)
        out = subprocess.run([*cli, "-w", str(ws), "job", "create", "--file", "sweep.yml", "--stream"], cwd=folder,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        assert "Completed" in out.stdout
        from studio_ext.workspace import Workspace

        opened = Workspace(ws)
        name = next(j.name for j in opened.jobs.list() if j.type == "sweep")
        done = opened.jobs.get(name)
        assert done.best_hyperparameters == {"quality": 0.7} and done.experiment_name == "sweep-yaml"  # type: ignore[attr-defined]
    finally:
        subprocess.run([*cli, "-w", str(ws), "server", "stop"], capture_output=True)
