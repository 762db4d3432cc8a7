"""Pipelines run for real: components, steps as child command jobs started by the supervisor's pipeline duty,
intermediate folders in the workspace's datastore, outputs registered with lineage, and v2 pipeline YAML
through the studio-ext command. One workspace for the module; each step is a tiny script."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio_ext import Input, Workspace, command, dsl, load_component
from studio_ext.entities import CommandComponent, JobStatus, PipelineJob
from studio_ext.errors import Conflict

PREP = """
import argparse, pathlib
p = argparse.ArgumentParser()
p.add_argument("--input_data"); p.add_argument("--output_data"); p.add_argument("--scale", type=float, default=1)
a = p.parse_args()
rows = [float(x) * a.scale for x in pathlib.Path(a.input_data).read_text().split()]
pathlib.Path(a.output_data, "rows.txt").write_text(" ".join(str(r) for r in rows))
print("prepared", len(rows), "rows")
"""
TRAIN = """
import argparse, pathlib, mlflow
p = argparse.ArgumentParser()
p.add_argument("--training_data"); p.add_argument("--reg_rate", type=float); p.add_argument("--model_output")
a = p.parse_args()
rows = [float(x) for x in pathlib.Path(a.training_data, "rows.txt").read_text().split()]
mlflow.log_metric("total", sum(rows))
mlflow.log_param("Regularization rate", a.reg_rate)
pathlib.Path(a.model_output, "model.txt").write_text(str(sum(rows) * a.reg_rate))
"""
PREP_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: prep_rows
display_name: Prepare rows
version: 1
type: command
inputs:
  input_data:
    type: uri_file
  scale:
    type: number
    default: 1
    optional: true
outputs:
  output_data:
    type: uri_folder
code: ./src
command: >-
  python prep.py --input_data ${{inputs.input_data}} $[[--scale ${{inputs.scale}}]]
  --output_data ${{outputs.output_data}}
"""
TRAIN_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: train_rows
version: 1
type: command
inputs:
  training_data:
    type: uri_folder
  reg_rate:
    type: number
    default: 0.5
outputs:
  model_output:
    type: custom_model
code: ./src
command: >-
  python train.py --training_data ${{inputs.training_data}} --reg_rate ${{inputs.reg_rate}}
  --model_output ${{outputs.model_output}}
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipelines")
    (root / "src").mkdir()
    (root / "src" / "prep.py").write_text(PREP)
    (root / "src" / "train.py").write_text(TRAIN)
    (root / "prep.yml").write_text(PREP_YML)
    (root / "train.yml").write_text(TRAIN_YML)
    (root / "rows.txt").write_text("1 2 3 4")
    return root


@pytest.fixture(scope="module")
def ws(folder: Path) -> Iterator[Workspace]:
    workspace = Workspace.create(folder / "ws")
    try:
        yield workspace
    finally:
        workspace.runtime.stop()
        workspace.close()


def wait(ws: Workspace, name: str, timeout: float = 180) -> PipelineJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = ws.jobs.get(name)
        if job.status.is_terminal:
            assert isinstance(job, PipelineJob)
            return job
        time.sleep(0.2)
    raise AssertionError(f"pipeline {name} did not end in {timeout} s: {ws.jobs.get_logs(name)}")


def test_components_are_registered_and_versioned(ws: Workspace, folder: Path) -> None:
    prep = load_component(source=str(folder / "prep.yml"))
    assert isinstance(prep, CommandComponent) and prep.inputs["scale"].optional and prep.inputs["scale"].default == 1.0
    first = ws.components.create_or_update(prep)
    assert (first.name, first.version) == ("prep_rows", "1") and first.code_hash
    assert Path(first.code or "").is_dir() and Path(first.code or "").parent.name == "1"
    assert ws.components.create_or_update(prep).version == "1"  # the same again: nothing new
    changed = load_component(source=str(folder / "prep.yml"))
    changed.command += " --verbose"
    with pytest.raises(Conflict, match="version 1 exists already"):
        ws.components.create_or_update(changed)
    second = ws.components.create_or_update(changed, version="2")
    assert second.version == "2"
    assert ws.components.get("prep_rows").version == "2"
    assert ws.components.get("azureml:prep_rows:1").command == prep.command
    assert [c.version for c in ws.components.list("prep_rows")] == ["1", "2"]
    assert "prep_rows" in {c.name for c in ws.components.list()}


@pytest.mark.slow  # real step processes with MLflow, a few minutes on a shared machine
def test_a_dsl_pipeline_runs_its_steps_passing_folders_and_registers_its_outputs(ws: Workspace, folder: Path) -> None:
    prep = load_component(source=str(folder / "prep.yml"))
    train = load_component(source=str(folder / "train.yml"))
    summary = command(code=str(folder / "src"), command="python -c \"import sys,pathlib; "
                      "print('model says', pathlib.Path(sys.argv[1], 'model.txt').read_text())\" ${{inputs.model}}",
                      inputs={"model": Input(type="custom_model")})

    @dsl.pipeline(description="prep then train")
    def rows_pipeline(pipeline_job_input, rate=0.5):
        clean_data = prep(input_data=pipeline_job_input, scale=2)
        train_model = train(training_data=clean_data.outputs.output_data, reg_rate=rate)
        summary(model=train_model.outputs.model_output)
        return {"prepared": clean_data.outputs.output_data, "trained_model": train_model.outputs.model_output}

    pipeline_job = rows_pipeline(Input(type="uri_file", path=str(folder / "rows.txt")), rate=0.25)
    assert len(pipeline_job.jobs) == 3 and {"clean_data", "train_model"} <= set(pipeline_job.jobs)
    assert pipeline_job.jobs["train_model"].inputs["training_data"] == "${{parent.jobs.clean_data.outputs.output_data}}"
    assert pipeline_job.jobs["train_model"].inputs["reg_rate"] == "${{parent.inputs.rate}}"
    assert pipeline_job.jobs["clean_data"].outputs["output_data"] == "${{parent.outputs.prepared}}"
    pipeline_job.outputs.prepared.name = "prepared-rows"
    pipeline_job.outputs.prepared.mode = "upload"
    pipeline_job.outputs.trained_model.name = "rows-model"
    pipeline_job.settings.default_datastore = "workspaceblobstore"

    submitted = ws.jobs.create_or_update(pipeline_job, experiment_name="pipelines")
    assert submitted.type == "pipeline" and submitted.status == JobStatus.RUNNING
    done = wait(ws, submitted.name)
    assert done.status == JobStatus.COMPLETED, ws.jobs.get_logs(submitted.name)
    assert set(done.step_status.values()) == {"Completed"}
    children = ws.jobs.list(parent_job_name=submitted.name)
    by_step = {c.display_name: c for c in children}
    assert set(by_step) == set(done.jobs)
    assert by_step["train_model"].metrics["total"] == 20.0  # (1+2+3+4) * 2
    assert done.metrics["train_model/total"] == 20.0  # the steps' metrics summarised on the pipeline's run
    assert by_step["train_model"].params["Regularization rate"] == "0.25"
    assert by_step["train_model"].tags["azureml.pipeline_step"] == "train_model"
    # the intermediate folder is in the datastore, under the pipeline run
    where = ws.datastores.get("workspaceblobstore")
    assert where is not None
    folder_out = Path(ws.path) / "datastore" / "azureml" / submitted.name / "clean_data" / "output_data" / "rows.txt"
    assert folder_out.read_text().startswith("2.0 4.0")
    summary_step = next(n for n in done.jobs if n not in ("clean_data", "train_model"))
    assert "model says 5.0" in ws.jobs.get_logs(by_step[summary_step].name)
    data = ws.data.get("prepared-rows", version="1")
    assert data.tags["azureml.pipeline_job"] == submitted.name and data.tags["azureml.pipeline_step"] == "clean_data"
    model = ws.models.get("rows-model", version="1")
    assert model.tags["Training context"] == "Pipeline"
    assert model.properties["azureml.pipeline_job"] == submitted.name
    assert model.properties["azureml.pipeline_step"] == "train_model"


@pytest.mark.slow  # real step processes with MLflow, a few minutes on a shared machine
def test_a_pipeline_from_v2_yaml_runs_through_the_cli(ws: Workspace, folder: Path) -> None:
    ws.components.create_or_update(load_component(source=str(folder / "train.yml")))
    (folder / "pipe.yml").write_text("""\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: yaml-rows
experiment_name: yaml-pipelines
settings:
  default_compute: azureml:local
inputs:
  raw:
    type: uri_file
    path: ./rows.txt
  factor: 3
jobs:
  prep:
    type: command
    component: ./prep.yml
    inputs:
      input_data: ${{parent.inputs.raw}}
      scale: ${{parent.inputs.factor}}
  train:
    type: command
    component: azureml:train_rows:1
    inputs:
      training_data: ${{parent.jobs.prep.outputs.output_data}}
  echo:
    type: command
    command: echo factor ${{inputs.factor}}
    inputs:
      factor: ${{parent.inputs.factor}}
""")
    out = subprocess.run([sys.executable, "-m", "studio_ext.cli", "-w", str(ws.path), "job", "create", "--file",
                          str(folder / "pipe.yml"), "--set", "inputs.factor=10"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    name = out.stdout.split("Submitted job ", 1)[1].split()[0]
    done = wait(ws, name)
    assert done.status == JobStatus.COMPLETED, ws.jobs.get_logs(name)
    children = {c.display_name: c for c in ws.jobs.list(parent_job_name=name)}
    assert children["train"].metrics["total"] == 100.0  # (1+2+3+4) * 10
    assert "factor 10" in ws.jobs.get_logs(children["echo"].name)


@pytest.mark.slow  # real step processes with MLflow, a few minutes on a shared machine
def test_an_unchanged_step_is_reused_unless_turned_off(ws: Workspace, folder: Path) -> None:
    prep = load_component(source=str(folder / "prep.yml"))
    train = load_component(source=str(folder / "train.yml"))

    @dsl.pipeline()
    def twice(data):
        first = prep(input_data=data)
        train(training_data=first.outputs.output_data)

    def submit(**settings: bool) -> PipelineJob:
        job = twice(Input(type="uri_file", path=str(folder / "rows.txt")))
        for key, value in settings.items():
            setattr(job.settings, key, value)
        return wait(ws, ws.jobs.create_or_update(job, experiment_name="reuse").name)

    original = submit()
    assert original.status == JobStatus.COMPLETED
    again = submit()
    assert again.status == JobStatus.COMPLETED
    for step, info in again.jobs.items():
        assert info.properties["azureml.reused_from"] == original.step_jobs[step]
        child = ws.jobs.get(again.step_jobs[step])
        assert child.status == JobStatus.COMPLETED and child.tags["azureml.reused_from"] == original.step_jobs[step]
    assert ws.jobs.get(again.step_jobs["train_rows"]).metrics["total"] == 10.0  # the original's figures
    rerun = submit(force_rerun=True)
    assert rerun.status == JobStatus.COMPLETED
    assert not any("azureml.reused_from" in s.properties for s in rerun.jobs.values())

    @dsl.pipeline()
    def not_deterministic(data):
        first = prep(input_data=data)
        first.is_deterministic = False
        train(training_data=first.outputs.output_data)

    mixed = wait(ws, ws.jobs.create_or_update(not_deterministic(Input(type="uri_file", path=str(folder / "rows.txt"))),
                                              experiment_name="reuse").name)
    assert "azureml.reused_from" not in mixed.jobs["first"].properties
    assert "azureml.reused_from" in mixed.jobs["train_rows"].properties  # same input content: reused


@pytest.mark.slow  # two real pipeline runs
def test_get_and_resubmit_writes_new_folders_and_keeps_the_first_runs(ws: Workspace, folder: Path) -> None:
    """``ws.jobs.create_or_update(ws.jobs.get(name))`` (copy and resubmit, as azure-ai-ml users do): the output
    paths the service filled in for the first run are not the user's, so the new run gets folders of its own."""
    prep = load_component(source=str(folder / "prep.yml"))

    @dsl.pipeline()
    def scaled(data, scale=5):
        step = prep(input_data=data, scale=scale)
        return {"prepared": step.outputs.output_data}

    job = scaled(Input(type="uri_file", path=str(folder / "rows.txt")))
    job.settings.force_rerun = True
    first = wait(ws, ws.jobs.create_or_update(job, experiment_name="resubmit").name)
    assert first.status == JobStatus.COMPLETED, ws.jobs.get_logs(first.name)
    first_out = Path(str(first.outputs["prepared"].path))
    assert first.name in first_out.parts and (first_out / "rows.txt").read_text() == "5.0 10.0 15.0 20.0"

    again = ws.jobs.get(first.name)
    assert isinstance(again, PipelineJob)
    again.name = None
    again.inputs["scale"] = 3
    submitted = ws.jobs.create_or_update(again)  # force_rerun came with the copy: the step runs
    assert submitted.outputs["prepared"].path is None  # not the first run's folder
    second = wait(ws, submitted.name)
    assert second.status == JobStatus.COMPLETED, ws.jobs.get_logs(second.name)
    assert "azureml.reused_from" not in second.jobs["step"].properties
    second_out = Path(str(second.outputs["prepared"].path))
    assert second.name in second_out.parts and first.name not in second_out.parts
    assert (second_out / "rows.txt").read_text() == "3.0 6.0 9.0 12.0"
    assert (first_out / "rows.txt").read_text() == "5.0 10.0 15.0 20.0"  # the first run's output intact
    assert ws.jobs.get(first.name).outputs["prepared"].path == str(first_out)

    mine = ws.jobs.get(first.name)  # a path the user sets stays theirs
    mine.name = None
    mine.outputs["prepared"].path = "azureml://datastores/workspaceblobstore/paths/mine/prepared"
    kept = ws.jobs.create_or_update(mine)
    assert kept.outputs["prepared"].path == "azureml://datastores/workspaceblobstore/paths/mine/prepared"
    ws.jobs.begin_cancel(kept.name)
