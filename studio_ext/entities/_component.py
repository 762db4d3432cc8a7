"""Command components, as ``azure.ai.ml.entities.CommandComponent``: a versioned, typed command to run as a step.

A component is the reusable half of a command job: its command, code, environment and
its typed interface (``inputs`` as :class:`Input` with ``type``, ``default``, ``optional``;
``outputs`` as :class:`Output` with ``type``). Calling it with input values makes a
pipeline step (:class:`~studio_ext.entities._pipeline.Command`), as azure-ai-ml's
components do inside ``@dsl.pipeline``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from studio_ext.entities._job import LITERAL_TYPES, Input, Output

COMPONENT_INPUT_TYPES = (*LITERAL_TYPES, "uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model")


@dataclass(kw_only=True, repr=False)
class CommandComponent:
    """A command with a typed interface, registered and versioned with ``ws.components``.

    ``is_deterministic`` (True by default, as on Azure) lets a pipeline reuse an earlier
    completed step whose component, code, environment, inputs and parameters are the same.
    """

    name: str | None = None
    version: str | None = None
    display_name: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    command: str = ""
    code: str | None = None
    environment: str | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, Input] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)
    is_deterministic: bool = True
    type: str = "command"
    # Filled in by the service.
    creation_time: datetime | None = None
    code_hash: str | None = None  # the content hash of the code snapshot registered with it
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"CommandComponent(name={self.name!r}, version={self.version!r}, "
                f"inputs={list(self.inputs)!r}, outputs={list(self.outputs)!r})")

    @property
    def id(self) -> str | None:
        """``azureml:NAME:VERSION`` once it has both (the reference a pipeline YAML's ``component:`` takes)."""
        return f"azureml:{self.name}:{self.version}" if self.name and self.version else None

    def __call__(self, *args: Any, **inputs: Any) -> Any:
        """A pipeline step running this component with ``inputs`` (values, pipeline inputs or other steps'
        outputs), as azure-ai-ml's ``component(input_data=...)``."""
        from studio_ext.entities._pipeline import step_from_component

        if args:
            from studio_ext.errors import InvalidInput

            raise InvalidInput(f"Component {self.name!r} takes its inputs by name, as in "
                               f"{self.name or 'component'}({', '.join(f'{k}=...' for k in self.inputs)}).")
        return step_from_component(self, inputs)


@dataclass(kw_only=True, repr=False)
class PipelineComponent:
    """A pipeline with a typed interface, registered and versioned with ``ws.components``, as
    ``azure.ai.ml.entities.PipelineComponent``: its steps (``jobs``, bound with ``${{parent.inputs.X}}`` and
    ``${{parent.jobs.A.outputs.Y}}``), its ``inputs`` (declared with type, default, optional) and ``outputs``.

    Calling it with input values makes a :class:`~studio_ext.entities._pipeline.PipelineJob` to submit
    (``ws.jobs.create_or_update(component(x=1))``); a pipeline job's ``.component`` is its component, as
    in azure-ai-ml. It is what a batch endpoint's pipeline component deployment runs.
    """

    name: str | None = None
    version: str | None = None
    display_name: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Input] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)
    type: str = "pipeline"
    creation_time: datetime | None = None
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"PipelineComponent(name={self.name!r}, version={self.version!r}, jobs={list(self.jobs)!r}, "
                f"inputs={list(self.inputs)!r}, outputs={list(self.outputs)!r})")

    @property
    def id(self) -> str | None:
        return f"azureml:{self.name}:{self.version}" if self.name and self.version else None

    def __call__(self, *args: Any, **inputs: Any) -> Any:
        """A pipeline job running this component with ``inputs`` (the declared defaults for the rest)."""
        import copy

        from studio_ext.entities._pipeline import PipelineJob, building
        from studio_ext.errors import InvalidInput

        what = self.name or "the pipeline component"
        if building() is not None:
            raise InvalidInput(f"A pipeline component ({what}) cannot be a step of another pipeline here (nested "
                               "pipelines are not run locally). Use its steps in the outer pipeline, or submit it "
                               "on its own: ws.jobs.create_or_update(component(...)).")
        if args:
            raise InvalidInput(f"Pipeline component {what!r} takes its inputs by name, as in "
                               f"{self.name or 'component'}({', '.join(f'{k}=...' for k in self.inputs)}).")
        unknown = sorted(set(inputs) - set(self.inputs))
        if unknown:
            raise InvalidInput(f"Pipeline component {what!r} has no input {unknown[0]!r}. Its inputs: "
                               f"{', '.join(self.inputs) or 'none'}.")
        values: dict[str, Any] = {}
        for key, declared in self.inputs.items():
            if key in inputs:
                values[key] = inputs[key]
            elif declared.default is not None:
                values[key] = declared.default if declared.type in LITERAL_TYPES else \
                    Input(type=declared.type, path=str(declared.default))
        return PipelineJob(display_name=self.display_name or self.name, description=self.description,
                           tags=dict(self.tags), jobs=copy.deepcopy(self.jobs), inputs=values,
                           outputs={k: copy.deepcopy(v) for k, v in self.outputs.items()})


def declared_by_value(value: Any) -> Input | None:
    """The input a literal value declares (boolean, integer, number or string, the value its default), else None."""
    for kind, types in (("boolean", (bool,)), ("integer", (int,)), ("number", (float,)), ("string", (str,))):
        if isinstance(value, types):
            return Input(type=kind, default=value)
    return None


def pipeline_component_from_job(job: Any) -> PipelineComponent:
    """The component of a pipeline job: its steps, its inputs declared by the type of their values, its outputs."""
    import copy

    inputs: dict[str, Input] = {}
    for key, value in (job.inputs or {}).items():
        if isinstance(value, Input):
            inputs[key] = Input(type=value.type, default=value.path if value.path is not None else value.default,
                                optional=value.optional)
        elif value is None:
            inputs[key] = Input(type="string", optional=True)
        else:
            inputs[key] = declared_by_value(value) or Input(type="string", default=str(value))
    return PipelineComponent(name=job.name if job.name and not str(job.name).startswith("pipeline_") else None,
                             display_name=job.display_name, description=job.description, tags=dict(job.tags),
                             jobs=copy.deepcopy(job.jobs), inputs=inputs,
                             outputs={k: Output(type=v.type, description=getattr(v, "description", None))
                                      for k, v in (job.outputs or {}).items()})
