"""Pipeline jobs, as ``azure.ai.ml.entities.PipelineJob``: steps joined by data bindings.

A :class:`PipelineJob` has ``jobs`` (step name -> :class:`Command`, a command job made from a
component), ``inputs`` (its parameters), ``outputs`` and ``settings``. A step's inputs hold
values or binding strings, as in v2 YAML:

- ``${{parent.inputs.X}}``: the pipeline's input ``X``;
- ``${{parent.jobs.A.outputs.Y}}``: step ``A``'s output ``Y`` (so the step runs after ``A``);

and a step's output may be ``${{parent.outputs.Z}}``: it is the pipeline's output ``Z``.

Inside a ``@dsl.pipeline`` function (``studio_ext.dsl``), calling a component returns a
:class:`Command` whose ``.outputs.Y`` can be given to the next step; the bindings are written
when the function returns, named by the steps' variable names, as azure-ai-ml does.
"""

from __future__ import annotations

import contextvars
import copy
import re
from dataclasses import dataclass, field
from typing import Any

from studio_ext.entities._component import CommandComponent, declared_by_value
from studio_ext.entities._job import CommandJob, Input, Job, Output

BINDING = re.compile(r"^\$\{\{\s*parent\.(inputs\.(?P<input>[A-Za-z_][\w]*)"
                     r"|jobs\.(?P<job>[A-Za-z_][\w-]*)\.outputs\.(?P<output>[A-Za-z_][\w]*)"
                     r"|outputs\.(?P<pout>[A-Za-z_][\w]*))\s*\}\}$")
ANY_BINDING = re.compile(r"\$\{\{\s*parent\.[^}]*\}\}")


def input_binding(name: str) -> str:
    return "${{parent.inputs." + name + "}}"


def output_binding(step: str, output: str) -> str:
    return "${{parent.jobs." + step + ".outputs." + output + "}}"


def pipeline_output_binding(name: str) -> str:
    return "${{parent.outputs." + name + "}}"


def parse_binding(value: Any) -> dict[str, str] | None:
    """``{"input": X}``, ``{"job": A, "output": Y}`` or ``{"pipeline_output": Z}`` for a binding string, else None."""
    text = value.path if isinstance(value, Input) and isinstance(value.path, str) else value
    if not isinstance(text, str):
        return None
    match = BINDING.match(text.strip())
    if not match:
        return None
    if match.group("input"):
        return {"input": match.group("input")}
    if match.group("job"):
        return {"job": match.group("job"), "output": match.group("output")}
    return {"pipeline_output": match.group("pout")}


class Ports(dict):  # type: ignore[type-arg]
    """A step's inputs or outputs: a dict that also reads by attribute (``step.outputs.model_output``)."""

    _owner: Any = None

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        if key not in self:
            owner = getattr(self, "_owner", None)
            raise AttributeError(f"The step {getattr(owner, 'name', None) or ''} has no port {key!r}. "
                                 f"Its ports: {', '.join(self) or 'none'}.")
        value = self[key]
        owner = getattr(self, "_owner", None)
        if owner is not None and self is owner.outputs:
            return StepOutput(owner, key)
        return value

    def __setattr__(self, key: str, value: Any) -> None:
        if key.startswith("_"):
            object.__setattr__(self, key, value)
        else:
            self[key] = value

    def __deepcopy__(self, memo: dict[int, Any]) -> Ports:
        made = Ports({k: copy.deepcopy(v, memo) for k, v in self.items()})
        return made


@dataclass(eq=False)
class StepOutput:
    """One step's output inside a ``@dsl.pipeline`` function: what the next step takes as an input."""

    step: Any
    name: str

    @property
    def mode(self) -> str:
        out = self.step.outputs.get(self.name)
        return out.mode if isinstance(out, Output) else "rw_mount"

    @property
    def type(self) -> str:
        declared = self.step.component.outputs.get(self.name) if isinstance(self.step.component,
                                                                            CommandComponent) else None
        return declared.type if declared is not None else "uri_folder"


@dataclass(eq=False)
class PipelineInput:
    """A pipeline parameter inside a ``@dsl.pipeline`` function (its argument)."""

    name: str
    value: Any = None

    def __str__(self) -> str:
        return input_binding(self.name)


@dataclass(kw_only=True, repr=False)
class Command(CommandJob):
    """A pipeline step: a command job made from a component (``component(input=...)`` or v2 YAML ``jobs:``).

    ``component`` is the :class:`CommandComponent` (or ``azureml:NAME:VERSION`` before it is
    resolved); ``inputs`` and ``outputs`` hold values, :class:`Input`/:class:`Output` or binding
    strings. ``is_deterministic=False`` turns reuse off for this step (None: the component's).
    """

    component: CommandComponent | str | None = None
    is_deterministic: bool | None = None
    outputs: dict[str, Any] = field(default_factory=dict)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.inputs = Ports(self.inputs)
        self.outputs = Ports(self.outputs)
        self.outputs._owner = self
        self.inputs._owner = self

    def __deepcopy__(self, memo: dict[int, Any]) -> Command:
        cls = type(self)
        made = cls.__new__(cls)
        memo[id(self)] = made
        for key, value in self.__dict__.items():
            setattr(made, key, copy.deepcopy(value, memo))
        made.__post_init__()
        return made


@dataclass(kw_only=True)
class PipelineJobSettings:
    """``pipeline_job.settings``, as azure-ai-ml's: where steps run and how failures and reuse are handled."""

    default_compute: str | None = None
    default_datastore: str | None = None
    continue_on_step_failure: bool = False
    force_rerun: bool = False
    default_environment: str | None = None


@dataclass(kw_only=True, repr=False)
class PipelineJob(Job):
    """A pipeline: steps (``jobs``) run as child jobs when their inputs exist, in a parent job of type pipeline.

    After submission, ``ws.jobs.list(parent_job_name=pipeline.name)`` lists its step runs (each
    with its step name as ``display_name`` and in ``properties["azureml.nodeid"]``), and
    ``step_jobs`` maps each step to its run's name once it has one.
    """

    jobs: dict[str, Command] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)
    settings: PipelineJobSettings = field(default_factory=PipelineJobSettings)
    type: str = "pipeline"
    # Filled in by the service.
    step_jobs: dict[str, str] = field(default_factory=dict)
    step_status: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.inputs = Ports(self.inputs)
        self.outputs = Ports(self.outputs)

    @property
    def component(self) -> Any:
        """This pipeline as a :class:`~studio_ext.entities._component.PipelineComponent` (to register with
        ``ws.components.create_or_update``), its inputs declared by their values' types, as azure-ai-ml's."""
        from studio_ext.entities._component import pipeline_component_from_job

        return pipeline_component_from_job(self)


# -- building inside @dsl.pipeline ------------------------------------------------------------
_BUILDING: contextvars.ContextVar[list[Command] | None] = contextvars.ContextVar("studio_ext_pipeline", default=None)


def building() -> list[Command] | None:
    """The steps of the pipeline being built by a ``@dsl.pipeline`` function in this context, or None."""
    return _BUILDING.get()


def start_building() -> contextvars.Token[list[Command] | None]:
    return _BUILDING.set([])


def stop_building(token: contextvars.Token[list[Command] | None]) -> None:
    _BUILDING.reset(token)


def step_from_component(component: CommandComponent, inputs: dict[str, Any]) -> Command:
    """A step running ``component`` with ``inputs``; recorded in the pipeline being built, if any."""
    from studio_ext.errors import InvalidInput

    unknown = sorted(set(inputs) - set(component.inputs))
    if unknown:
        raise InvalidInput(f"Component {component.name!r} has no input {unknown[0]!r}. Its inputs: "
                           f"{', '.join(component.inputs) or 'none'}.")
    step = Command(command=component.command, code=component.code, environment=component.environment,
                   environment_variables=dict(component.environment_variables),
                   display_name=component.display_name, description=component.description,
                   inputs={k: v for k, v in inputs.items() if v is not None},
                   outputs={k: Output(type=o.type, mode=o.mode, description=o.description)
                            for k, o in component.outputs.items()},
                   component=component)
    steps = _BUILDING.get()
    if steps is not None:
        steps.append(step)
    return step


def component_from_job(job: CommandJob) -> CommandComponent:
    """The component a ``command(...)`` job stands for when it is used as one (its inputs typed by value)."""
    inputs: dict[str, Input] = {}
    for key, value in job.inputs.items():
        if isinstance(value, Input):
            inputs[key] = Input(type=value.type, default=value.default, optional=value.optional,
                                description=value.description, mode=value.mode)
        elif isinstance(value, (bool, int, float)):
            inputs[key] = declared_by_value(value)  # type: ignore[assignment]
        elif isinstance(value, (PipelineInput, StepOutput)):
            inputs[key] = Input(type="uri_folder" if isinstance(value, StepOutput) else "string")
        else:
            inputs[key] = Input(type="string", default=None if value is None else str(value))
    return CommandComponent(name=job.name or job.display_name, display_name=job.display_name,
                            description=job.description, command=job.command, code=job.code,
                            environment=job.environment, environment_variables=dict(job.environment_variables),
                            inputs=inputs, outputs={k: (v if isinstance(v, Output) else Output())
                                                    for k, v in job.outputs.items()})
