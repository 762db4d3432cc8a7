"""Pipelines from Python, as ``azure.ai.ml.dsl``: ``@dsl.pipeline`` and ``load_component``.

Example::

    from studio_ext import Input, dsl, load_component

    prep = load_component(source="prep-data.yml")
    train = load_component(source="train-model.yml")

    @dsl.pipeline()
    def diabetes_classification(pipeline_job_input):
        clean_data = prep(input_data=pipeline_job_input)
        train_model = train(training_data=clean_data.outputs.output_data)
        return {"pipeline_job_trained_model": train_model.outputs.model_output}

    pipeline_job = diabetes_classification(Input(type="uri_file", path="azureml:diabetes-data:1"))
    pipeline_job.settings.default_compute = "aml-cluster"
    ws.jobs.create_or_update(pipeline_job, experiment_name="pipeline_diabetes")

The steps are named by the variables they are assigned to in the function (``clean_data``,
``train_model``), as azure-ai-ml names them; a step assigned to no variable is named by its
component. Calling the decorated function builds a :class:`~studio_ext.entities.PipelineJob`;
nothing runs until it is submitted.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from studio_ext.entities._component import CommandComponent
from studio_ext.entities._job import Input, Output
from studio_ext.entities._pipeline import (
    Command,
    PipelineInput,
    PipelineJob,
    PipelineJobSettings,
    StepOutput,
    input_binding,
    output_binding,
    pipeline_output_binding,
    start_building,
    stop_building,
)
from studio_ext.errors import InvalidInput

__all__ = ["load_component", "pipeline"]


def load_component(source: str | os.PathLike[str] | None = None, *, client: Any = None,
                   name: str | None = None, version: str | None = None, **kwargs: Any) -> CommandComponent:
    """A component from v2 component YAML (``source``, a path or the text), as ``azure.ai.ml.load_component``:
    a command component, or a pipeline component for ``type: pipeline``.

    ``client`` with ``name`` (and ``version``) gets a registered one instead: ``ws.components.get``.
    """
    del kwargs
    if source is None:
        if client is None or not name:
            raise InvalidInput("load_component needs source='component.yml', or client=ws with name= (and version=).")
        component: CommandComponent = client.components.get(name, version)
        return component
    from pathlib import Path

    import yaml

    from studio_ext.translation import component as component_kind

    text = os.fspath(source)
    is_text = "\n" in text and not Path(text).is_file()
    path = None if is_text else Path(text)
    if path is not None and not path.is_file():
        from studio_ext.errors import NotFound

        raise NotFound(f"The component file {text!r} does not exist (looked in {path.resolve()}).")
    try:
        mapping = yaml.safe_load(text if path is None else path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{text if path is not None else 'The component text'} is not valid YAML: {exc}") from exc
    if not isinstance(mapping, dict):
        raise InvalidInput(f"{text if path is not None else 'The component text'} holds no YAML mapping.")
    base = path.parent.resolve() if path is not None else Path.cwd()
    if str(mapping.get("type") or "command") == "pipeline":  # a pipeline component (jobs:, typed inputs)
        from studio_ext.translation import pipeline_component

        loaded: Any = pipeline_component.from_v2(mapping, base).entity
        return loaded
    made = component_kind.from_v2(mapping, base)
    return made.entity


def pipeline(func: Callable[..., Any] | None = None, *, name: str | None = None, display_name: str | None = None,
             description: str | None = None, experiment_name: str | None = None, compute: str | None = None,
             default_compute: str | None = None, default_datastore: str | None = None,
             continue_on_step_failure: bool | None = None, force_rerun: bool | None = None,
             tags: dict[str, str] | None = None, **kwargs: Any) -> Any:
    """Make a function that builds a pipeline job from the steps it calls, as ``azure.ai.ml.dsl.pipeline``."""
    del kwargs  # azure-ai-ml's other keywords (default_compute_target ...) have no local meaning

    def decorate(fn: Callable[..., Any]) -> Callable[..., PipelineJob]:
        @functools.wraps(fn)
        def build(*args: Any, **given: Any) -> PipelineJob:
            bound = inspect.signature(fn).bind(*args, **given)
            bound.apply_defaults()
            params = {key: PipelineInput(key, value) for key, value in bound.arguments.items()}
            captured: dict[str, Any] = {}

            def watch(frame: Any, event: str, arg: Any) -> None:
                if event == "return" and frame.f_code is fn.__code__:
                    captured.update(frame.f_locals)

            token = start_building()
            previous = sys.getprofile()
            sys.setprofile(watch)
            try:
                result = fn(**params)
            finally:
                sys.setprofile(previous)
                from studio_ext.entities._pipeline import building

                steps = list(building() or [])
                stop_building(token)
            settings = PipelineJobSettings(default_compute=default_compute or compute,
                                           default_datastore=default_datastore,
                                           continue_on_step_failure=bool(continue_on_step_failure),
                                           force_rerun=bool(force_rerun))
            job = assemble(fn.__name__, steps, captured, params, result, settings)
            job.name = name
            job.display_name = display_name or fn.__name__
            job.description = description or inspect.getdoc(fn)
            job.experiment_name = experiment_name
            job.tags = dict(tags or {})
            return job

        return build

    return decorate(func) if func is not None else decorate


def assemble(function: str, steps: list[Command], local_names: dict[str, Any], params: dict[str, PipelineInput],
             result: Any, settings: PipelineJobSettings) -> PipelineJob:
    """The pipeline job from the steps a function made: names from its variables, objects turned into bindings."""
    if not steps:
        raise InvalidInput(f"The pipeline function {function!r} made no step. Call a component in it, as "
                           "prep(input_data=pipeline_job_input).")
    named: dict[int, str] = {}
    for var, value in local_names.items():
        if isinstance(value, Command) and id(value) not in named:
            named[id(value)] = var
    taken: set[str] = set(named.values())
    for step in steps:
        if id(step) in named:
            continue
        base = _identifier(getattr(step.component, "name", None) or "step")
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        named[id(step)] = candidate
        taken.add(candidate)
    used: set[str] = set()

    def bind(value: Any, step_name: str, key: str) -> Any:
        if isinstance(value, PipelineInput):
            used.add(value.name)
            return input_binding(value.name)
        if isinstance(value, StepOutput):
            if id(value.step) not in named:
                raise InvalidInput(f"The input {key!r} of step {step_name!r} takes an output of a step that is not "
                                   "in this pipeline. Make that step inside the pipeline function.")
            return output_binding(named[id(value.step)], value.name)
        if isinstance(value, Input) and isinstance(value.path, (PipelineInput, StepOutput)):
            return bind(value.path, step_name, key)
        if isinstance(value, Command):
            raise InvalidInput(f"The input {key!r} of step {step_name!r} is a whole step; give one of its outputs, "
                               f"as step.outputs.{next(iter(value.outputs), 'NAME')}.")
        return value

    jobs: dict[str, Command] = {}
    for step in steps:
        step_name = named[id(step)]
        step.name = step_name
        step.display_name = step.display_name or step_name
        for key in list(step.inputs):
            step.inputs[key] = bind(step.inputs[key], step_name, key)
        jobs[step_name] = step
    outputs: dict[str, Output] = {}
    if isinstance(result, dict):
        for out_name, ref in result.items():
            if not isinstance(ref, StepOutput):
                raise InvalidInput(f"The pipeline function {function!r} returns {out_name!r} = {ref!r}; a pipeline "
                                   "output is a step's output, as {'model': train.outputs.model_output}.")
            declared = ref.step.outputs.get(ref.name)
            kind = declared.type if isinstance(declared, Output) else ref.type
            mode = declared.mode if isinstance(declared, Output) else "rw_mount"
            outputs[str(out_name)] = Output(type=kind, mode=mode)
            ref.step.outputs[ref.name] = pipeline_output_binding(str(out_name))
    elif result is not None:
        raise InvalidInput(f"The pipeline function {function!r} returns a {type(result).__name__}; return None or a "
                           "dict of pipeline output name -> step output.")
    inputs: dict[str, Any] = {}
    for key, param in params.items():
        value = param.value
        if isinstance(value, PipelineInput):
            value = value.value
        inputs[key] = value
    return PipelineJob(jobs=jobs, inputs=inputs, outputs=outputs, settings=settings)


def _identifier(text: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in text)
    return out if out and not out[0].isdigit() else f"step_{out}"
