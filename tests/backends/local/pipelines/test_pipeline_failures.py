"""Pipelines that go wrong: a failed step (with and without continue_on_step_failure), a canceled pipeline,
and bad input refused before anything is written (unknown binding, cycle, missing component, type mismatch).
Steps are inline shell commands, so no step imports anything."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio_ext import Input, Workspace
from studio_ext.entities import Command, CommandComponent, JobStatus, Output, PipelineJob, PipelineJobSettings
from studio_ext.errors import InvalidInput, NotFound


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    workspace = Workspace.create(tmp_path_factory.mktemp("pipeline-failures") / "ws")
    try:
        yield workspace
    finally:
        workspace.runtime.stop()
        workspace.close()


def shell(name: str, line: str, *, inputs: dict[str, Input] | None = None, outputs: tuple[str, ...] = ()) -> CommandComponent:
    return CommandComponent(name=name, command=line, inputs=dict(inputs or {}),
                            outputs={o: Output(type="uri_folder") for o in outputs})


def pipeline(steps: dict[str, Command], **settings: object) -> PipelineJob:
    return PipelineJob(jobs=steps, experiment_name="failures", settings=PipelineJobSettings(**settings))  # type: ignore[arg-type]


def wait(ws: Workspace, name: str, timeout: float = 120) -> PipelineJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = ws.jobs.get(name)
        if job.status.is_terminal:
            assert isinstance(job, PipelineJob)
            return job
        time.sleep(0.1)
    raise AssertionError(f"pipeline {name} did not end: {ws.jobs.get_logs(name)}")


WRITE = shell("write", "echo data > ${{outputs.out}}/x.txt", outputs=("out",))
READ = shell("read", "cat ${{inputs.data}}/x.txt", inputs={"data": Input(type="uri_folder")})
FAIL = shell("fail", "echo broken >&2; exit 3", outputs=("out",))


def diamond_with_a_failure() -> dict[str, Command]:
    return {"bad": FAIL(), "after_bad": READ(data="${{parent.jobs.bad.outputs.out}}"),
            "good": WRITE(), "after_good": READ(data="${{parent.jobs.good.outputs.out}}")}


def test_a_failed_step_fails_the_pipeline_naming_it_and_skips_the_rest(ws: Workspace) -> None:
    done = wait(ws, ws.jobs.create_or_update(pipeline(diamond_with_a_failure())).name)
    assert done.status == JobStatus.FAILED
    assert done.error and done.error.startswith("Step 'bad' failed")
    assert done.step_status["bad"] == "Failed" and done.step_status["after_bad"] == "Skipped"
    assert "Not run: step 'bad' failed" in (done.jobs["after_bad"].error or "")
    assert done.jobs["after_bad"].properties["azureml.skip_reason"].startswith("Not run: step 'bad' failed")


def test_continue_on_step_failure_runs_what_does_not_depend_on_the_failed_step(ws: Workspace) -> None:
    done = wait(ws, ws.jobs.create_or_update(pipeline(diamond_with_a_failure(), continue_on_step_failure=True)).name)
    assert done.status == JobStatus.FAILED and "'bad'" in (done.error or "")
    assert done.step_status == {"bad": "Failed", "after_bad": "Skipped", "good": "Completed",
                                "after_good": "Completed"}
    names = {c.display_name for c in ws.jobs.list(parent_job_name=done.name)}
    assert names == {"bad", "good", "after_good"}  # the skipped step never ran


def test_canceling_a_pipeline_cancels_its_running_step_and_starts_no_other(ws: Workspace) -> None:
    slow = shell("slow", "sleep 60; mkdir -p ${{outputs.out}}", outputs=("out",))
    job = ws.jobs.create_or_update(pipeline({"slow": slow(), "next": READ(data="${{parent.jobs.slow.outputs.out}}")}))
    deadline = time.monotonic() + 60
    while ws.jobs.get(job.name).step_status.get("slow") != "Running" and time.monotonic() < deadline:
        time.sleep(0.1)
    ws.jobs.begin_cancel(job.name).result(timeout=60)
    time.sleep(1.0)  # a tick of the duty: it must not start the next step
    done = ws.jobs.get(job.name)
    assert isinstance(done, PipelineJob) and done.status == JobStatus.CANCELED
    children = ws.jobs.list(parent_job_name=job.name)
    assert [(c.display_name, c.status) for c in children] == [("slow", JobStatus.CANCELED)]
    assert done.step_status["next"] == "Skipped"


def _count(ws: Workspace) -> int:
    return len(ws.jobs.list(include_interactive=False))


@pytest.mark.parametrize(("steps", "error", "words"), [
    ({"a": READ(data="${{parent.jobs.nowhere.outputs.out}}")}, InvalidInput,
     ["Step 'a'", "no step 'nowhere'"]),
    ({"a": READ(data="${{parent.inputs.missing}}")}, InvalidInput,
     ["Step 'a'", "no input 'missing'", "Add it to the pipeline's inputs"]),
    ({"a": READ(data="${{parent.jobs.a.outputs.out}}")}, InvalidInput, ["Step 'a'", "cannot wait for itself"]),
    ({"a": shell("ab", "cat ${{inputs.d}}/x > ${{outputs.out}}/x", inputs={"d": Input(type="uri_folder")},
                 outputs=("out",))(d="${{parent.jobs.b.outputs.out}}"),
      "b": shell("ba", "cat ${{inputs.d}}/x > ${{outputs.out}}/x", inputs={"d": Input(type="uri_folder")},
                 outputs=("out",))(d="${{parent.jobs.a.outputs.out}}")},
     InvalidInput, ["cycle", "a -> b -> a"]),
    ({"a": Command(component="azureml:never_registered:1")}, NotFound,
     ["Step 'a'", "never_registered", "Register it first"]),
    ({"w": WRITE(), "n": shell("num", "echo ${{inputs.n}}", inputs={"n": Input(type="integer")})(
        n="${{parent.jobs.w.outputs.out}}")}, InvalidInput, ["Type mismatch at step 'n'", "takes type integer"]),
    ({"n": shell("num2", "echo ${{inputs.n}}", inputs={"n": Input(type="integer")})(n="ten")}, InvalidInput,
     ["step 'n'", "must be of type integer"]),
    ({"r": READ()}, InvalidInput, ["Step 'r' does not give the required input 'data'"]),
    ({"r": READ(data="${{parent.jobs.x.output.out}}")}, InvalidInput, ["not one this studio knows"]),
])
def test_bad_pipelines_are_refused_naming_the_step_and_nothing_is_written(
        ws: Workspace, steps: dict[str, Command], error: type[Exception], words: list[str]) -> None:
    before = _count(ws)
    jobs_dir = Path(ws.path) / "jobs"
    folders = set(jobs_dir.iterdir()) if jobs_dir.exists() else set()
    with pytest.raises(error) as caught:
        ws.jobs.create_or_update(pipeline(steps))
    for word in words:
        assert word in str(caught.value), str(caught.value)
    assert _count(ws) == before
    assert (set(jobs_dir.iterdir()) if jobs_dir.exists() else set()) == folders


COMPONENT_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: echo_value
version: 3
type: command
inputs:
  value:
    type: integer
    default: 4
  note:
    type: string
    optional: true
outputs:
  out:
    type: uri_folder
environment: azureml:AzureML-sklearn-1.5@latest
command: echo ${{inputs.value}} $[[${{inputs.note}}]] > ${{outputs.out}}/v.txt
"""


def test_azure_ai_ml_components_are_registered_through_the_translation(ws: Workspace, tmp_path: Path) -> None:
    from azure.ai.ml import load_component as azure_load_component

    source = tmp_path / "echo.yml"
    source.write_text(COMPONENT_YML)
    registered = ws.create_or_update(azure_load_component(source=str(source)))  # MLClient's dispatch
    assert isinstance(registered, CommandComponent)
    assert (registered.name, registered.version) == ("echo_value", "3")
    assert registered.inputs["value"].type == "integer" and registered.inputs["value"].default == 4
    assert registered.inputs["note"].optional and registered.outputs["out"].type == "uri_folder"
    assert ws.components.get("echo_value", "3").command == registered.command


def test_a_pipeline_round_trips_through_v2_yaml(tmp_path: Path) -> None:
    from studio_ext.translation import from_yaml, to_yaml

    job = pipeline({"w": WRITE(), "r": READ(data="${{parent.jobs.w.outputs.out}}")}, continue_on_step_failure=True)
    job.inputs = {"rate": 0.5}
    text = to_yaml(job)
    assert "type: pipeline" in text and "${{parent.jobs.w.outputs.out}}" in text
    (tmp_path / "p.yml").write_text(text)
    back = from_yaml(tmp_path / "p.yml").entity
    assert isinstance(back, PipelineJob) and set(back.jobs) == {"w", "r"}
    assert back.jobs["r"].inputs["data"] == "${{parent.jobs.w.outputs.out}}"
    assert back.settings.continue_on_step_failure and back.inputs["rate"] == 0.5
    assert isinstance(back.jobs["w"].component, CommandComponent) and back.jobs["w"].component.name == "write"
