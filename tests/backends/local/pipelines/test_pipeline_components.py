"""Pipeline components: a pipeline registered with ws.components (studio_ext's @dsl.pipeline job's .component,
azure-ai-ml's PipelineComponent, v2 YAML of type pipeline), versioned, read back, refused when its steps are
wrong, refused as a step of another pipeline, and run as a pipeline job with inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from studio_ext import Workspace, dsl
from studio_ext.entities import CommandComponent, Input, Output, PipelineComponent, PipelineJob
from studio_ext.errors import InvalidInput, NotFound
from studio_ext.translation import from_yaml, pipeline_component, to_yaml

WRITE = """
import pathlib, sys
pathlib.Path(sys.argv[2], "n.txt").write_text(sys.argv[1])
"""
READ = """
import pathlib, sys
n = int(pathlib.Path(sys.argv[1], "n.txt").read_text())
pathlib.Path(sys.argv[2], "twice.txt").write_text(str(2 * n))
"""


@pytest.fixture(scope="module")
def ws(module_workspace: Workspace) -> Workspace:
    return module_workspace


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("src")
    (folder / "write.py").write_text(WRITE)
    (folder / "read.py").write_text(READ)
    return folder


def _pipeline(src: Path) -> PipelineJob:
    write = CommandComponent(name="write_n", code=str(src), command="python write.py ${{inputs.n}} ${{outputs.out}}",
                             inputs={"n": Input(type="integer")}, outputs={"out": Output(type="uri_folder")})
    read = CommandComponent(name="read_n", code=str(src), command="python read.py ${{inputs.data}} ${{outputs.out}}",
                            inputs={"data": Input(type="uri_folder")}, outputs={"out": Output(type="uri_folder")})

    @dsl.pipeline(description="write n, then twice n")
    def doubled(n=3):
        first = write(n=n)
        second = read(data=first.outputs.out)
        return {"result": second.outputs.out}

    return doubled()  # type: ignore[no-any-return]


def test_a_pipeline_registers_as_a_versioned_component_and_reads_back(ws: Workspace, src: Path) -> None:
    component = _pipeline(src).component
    assert isinstance(component, PipelineComponent) and component.inputs["n"].type == "integer"
    component.name = "doubled"
    first = ws.components.create_or_update(component)
    assert isinstance(first, PipelineComponent) and (first.name, first.version) == ("doubled", "1")
    assert set(first.jobs) == {"first", "second"} and first.inputs["n"].default == 3
    assert list(first.outputs) == ["result"] and first.id == "azureml:doubled:1"
    component.inputs["n"].default = 4
    assert ws.components.create_or_update(component).version == "2"
    assert ws.components.get("doubled", "1").inputs["n"].default == 3
    assert ws.components.get("azureml:doubled@latest").inputs["n"].default == 4
    # its v2 YAML is a pipeline component's, and reads back as one
    text = to_yaml(first)
    assert "pipelineComponent.schema.json" in text and "type: pipeline" in text
    again = pipeline_component.from_v2(yaml.safe_load(text)).entity
    assert isinstance(again, PipelineComponent) and set(again.jobs) == {"first", "second"}
    assert again.jobs["second"].inputs["data"] == "${{parent.jobs.first.outputs.out}}"
    # with an environment on its steps (Azure requires one), azure-ai-ml's own loader reads the YAML
    for step in first.jobs.values():
        step.component.environment = "azureml:AzureML-sklearn-1.5@latest"
    loaded = from_yaml(to_yaml(first))
    assert isinstance(loaded.entity, PipelineComponent) and set(loaded.entity.jobs) == {"first", "second"}


def test_azure_ai_ml_pipeline_component_is_taken(ws: Workspace, src: Path) -> None:
    from azure.ai.ml import Input as AzureInput
    from azure.ai.ml import Output as AzureOutput
    from azure.ai.ml import dsl as azure_dsl
    from azure.ai.ml.entities import CommandComponent as AzureCommandComponent

    write = AzureCommandComponent(name="write_n", code=str(src), command="python write.py ${{inputs.n}} ${{outputs.out}}",
                                  inputs={"n": AzureInput(type="integer")}, outputs={"out": AzureOutput(type="uri_folder")},
                                  environment="azureml:AzureML-sklearn-1.5@latest")

    @azure_dsl.pipeline(name="azure_written", description="one step")
    def written(n=5):
        step = write(n=n)
        return {"result": step.outputs.out}

    made = ws.components.create_or_update(written().component)
    assert isinstance(made, PipelineComponent) and made.name == "azure_written" and set(made.jobs) == {"step"}
    assert made.inputs["n"].type == "integer" and made.inputs["n"].default == 5


def test_bad_pipeline_components_are_refused_with_nothing_stored(ws: Workspace, src: Path) -> None:
    bad = _pipeline(src).component
    bad.name = "bad_binding"
    bad.jobs["second"].inputs["data"] = "${{parent.jobs.nowhere.outputs.out}}"
    with pytest.raises(InvalidInput, match="no step 'nowhere'"):
        ws.components.create_or_update(bad)
    with pytest.raises(NotFound):
        ws.components.get("bad_binding")


def test_a_pipeline_component_is_not_a_step_of_another_pipeline(ws: Workspace, src: Path) -> None:
    inner = _pipeline(src).component
    inner.name = "inner"

    @dsl.pipeline()
    def outer():
        inner(n=1)

    with pytest.raises(InvalidInput, match="cannot be a step of another pipeline"):
        outer()
    registered = ws.components.create_or_update(inner)
    from studio_ext.entities import Command

    with pytest.raises(InvalidInput, match="a pipeline component"):
        ws.jobs.create_or_update(PipelineJob(jobs={"nested": Command(component=registered.id)}))


@pytest.mark.slow
def test_a_registered_pipeline_component_runs_as_a_pipeline_job_with_inputs(ws: Workspace, src: Path) -> None:
    component = _pipeline(src).component
    component.name = "doubled_run"
    ws.components.create_or_update(component)
    job = ws.components.get("doubled_run")(n=21)
    assert isinstance(job, PipelineJob) and job.inputs["n"] == 21
    job.experiment_name = "pipeline-components"
    submitted = ws.jobs.create_or_update(job)
    from tests.helpers import wait_until

    done = wait_until(lambda: (j := ws.jobs.get(submitted.name)).status.is_terminal and j, timeout=120,
                      what="the pipeline component's run to end")
    assert str(done.status) == "Completed", (done.error, ws.jobs.get_logs(submitted.name)[-2000:])
    # the input given at the call reached the steps: the second step wrote twice n
    twice = Path(ws.path) / "datastore" / "azureml" / submitted.name / "second" / "out" / "twice.txt"
    assert twice.read_text() == "42"


def test_a_pipeline_component_yaml_loads_and_registers(ws: Workspace, src: Path) -> None:
    from studio_ext import load_component

    (src / "write.yml").write_text("""\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: write_n_file
type: command
inputs: {n: {type: integer}}
outputs: {out: {type: uri_folder}}
code: .
command: python write.py ${{inputs.n}} ${{outputs.out}}
""")
    (src / "pipe.yml").write_text("""\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json
name: from_yaml_pipe
type: pipeline
inputs:
  n: {type: integer, default: 7}
outputs:
  result: {type: uri_folder}
jobs:
  only:
    type: command
    component: ./write.yml
    inputs:
      n: ${{parent.inputs.n}}
    outputs:
      out: ${{parent.outputs.result}}
""")
    loaded = load_component(source=str(src / "pipe.yml"))
    assert isinstance(loaded, PipelineComponent) and loaded.inputs["n"].default == 7
    made = ws.components.create_or_update(loaded)
    assert (made.name, made.version) == ("from_yaml_pipe", "1")
    job = made(n=8)
    assert isinstance(job, PipelineJob) and job.inputs["n"] == 8 and set(job.jobs) == {"only"}
