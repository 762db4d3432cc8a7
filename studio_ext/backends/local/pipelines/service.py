"""``ws.jobs.create_or_update(pipeline_job)`` on the local backend: check a pipeline, record it, read it back.

A pipeline is a row of type ``pipeline`` in the jobs table with no process of its own: the
supervisor's :class:`~.duty.PipelineDuty` starts each step as a child command job once its
inputs exist, reuses unchanged steps, and ends the pipeline. Its row's ``compute`` column
holds ``pipeline:COMPUTE`` so no job runner or compute scheduler takes it for a process to
start. Its spec holds the checked plan (each step's component, compute, inputs and outputs,
the steps it waits for); what the duty decided (each step's job, status, reuse, skip reason)
is in ``pipeline.json`` in its job folder.

Everything is checked before anything is written, each error naming the step and what to
do: components (a file, ``azureml:NAME:VERSION`` registered, or inline), the bindings
(``${{parent.inputs.X}}`` to a pipeline input, ``${{parent.jobs.A.outputs.Y}}`` to a step's
declared output, ``${{parent.outputs.Z}}`` to a pipeline output), cycles, required inputs,
input types (a literal where data is wanted, or a value that is not of the declared type),
computes, code folders, environments and the datastore.

A step's outputs are folders in the pipeline's datastore (``settings.default_datastore``, by
default the workspace's ``workspaceblobstore``) under ``azureml/PIPELINE/STEP/OUTPUT``, so one
step's output is the next step's input.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio_ext._studio_link import studio_url
from studio_ext._validation import check_name
from studio_ext.backends.local.core import parent_jobs, tracking
from studio_ext.backends.local.core.schema import jobs as jobs_table
from studio_ext.backends.local.core.store import now, to_datetime
from studio_ext.entities._component import CommandComponent
from studio_ext.entities._job import LITERAL_TYPES, CommandJob, Input, JobStatus, Output
from studio_ext.entities._pipeline import ANY_BINDING, Command, PipelineJob, component_from_job, parse_binding
from studio_ext.errors import InvalidInput, NotFound
from studio_ext.services import PipelineOperations

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from studio_ext.backends.local import LocalBackend

JOB_TYPE = "pipeline"
COMPUTE_PREFIX = "pipeline:"
STATE_FILE = "pipeline.json"
STEP_TAG = "azureml.pipeline_step"  # a step run's tag: its step name (as Azure's child runs carry their node)
REUSED_TAG = "azureml.reused_from"  # a reused step run's tag: the job whose results it reuses
SKIPPED = "Skipped"  # a step's state in pipeline.json when it never ran (not a job state)
DEFAULT_DATASTORE = "workspaceblobstore"
# Where this service puts a run's outputs: datastore folders azureml/RUN/..., and job output URIs.
_RUN_FOLDER = re.compile(r"(?:^|/)azureml/([A-Za-z0-9_-]+)/")
_JOB_OUTPUT = re.compile(r"^azureml://jobs/([A-Za-z0-9_-]+)/outputs/")
_DATA_TYPES = ("uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model")


def state_path(backend: LocalBackend, name: str) -> Path:
    return parent_jobs.state_path(backend, name, STATE_FILE)


def read_state(backend: LocalBackend, name: str) -> dict[str, Any]:
    return parent_jobs.read_state(backend, name, STATE_FILE, {"steps": {}, "notes": []})


def write_state(backend: LocalBackend, name: str, state: dict[str, Any]) -> None:
    parent_jobs.write_state(backend, name, STATE_FILE, state)


log_line = parent_jobs.log_line


def record_job(backend: LocalBackend, name: str, *, experiment: str, display_name: str, tags: dict[str, str],
               spec: dict[str, Any], state: dict[str, Any], lines: list[str], parent_job_name: str | None = None,
               then: Callable[[], Any] | None = None) -> None:
    """Record a checked pipeline job ``name`` for the supervisor to run: its MLflow run, folder, state, log and row.

    ``spec`` is the job's plan (``inputs``, ``settings`` with its ``default_compute``, ...); its
    literal inputs become the run's parameters. ``then`` runs once the row is in (a batch
    invocation submits its child pipeline there); if it raises, the row goes. On any failure
    nothing is left: no run, no folder, no row.
    """
    exp_id = tracking.ensure_experiment(backend.tracking_uri, backend.artifacts_uri, experiment)
    spec["experiment_id"] = exp_id
    compute = spec["settings"]["default_compute"]
    client = tracking.client(backend.tracking_uri)
    run = client.create_run(exp_id, run_name=display_name, tags={
        **tags, "studio.job_name": name, "studio.job_type": JOB_TYPE, "studio.compute": compute,
        "mlflow.source.type": "JOB"})
    job_dir = backend.jobs_dir / name
    try:
        (job_dir / "user_logs").mkdir(parents=True)
        write_state(backend, name, state)
        for line in lines:
            log_line(backend, name, line)
        params = {k: v for k, v in spec["inputs"].items() if not isinstance(v, dict)}
        if params:
            from mlflow.entities import Param

            client.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        with backend.store.engine.begin() as conn:
            conn.execute(jobs_table.insert().values(
                name=name, run_id=run.info.run_id, experiment_name=experiment, type=JOB_TYPE,
                status=JobStatus.RUNNING.value, compute=COMPUTE_PREFIX + compute, parent_job_name=parent_job_name,
                created_at=now(), start_time=now(), spec=json.dumps(spec, default=str)))
        if then is not None:
            try:
                then()
            except BaseException:
                with backend.store.engine.begin() as conn:
                    conn.execute(jobs_table.delete().where(jobs_table.c.name == name))
                raise
    except BaseException:
        client.delete_run(run.info.run_id)
        shutil.rmtree(job_dir, ignore_errors=True)
        raise


class LocalPipelines(PipelineOperations):
    """Pipeline jobs on the local backend (reached through ``ws.jobs``)."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    # -- submit ----------------------------------------------------------------------------
    def create_or_update(self, job: PipelineJob, *, parent_job_name: str | None = None) -> PipelineJob:
        """Check the whole pipeline and record it; the supervisor runs its steps. Nothing is written on bad input."""
        from studio_ext.translation import pipeline_job

        name = parent_jobs.new_job_name(self._b, job.name, "pipeline", None)
        if parent_job_name is not None and self._b.service("jobs")._row(parent_job_name) is None:
            raise NotFound(f"The parent job {parent_job_name!r} does not exist.")
        experiment = check_name(job.experiment_name or "Default", "experiment name")
        job = self._without_filled_paths(job)
        plan = self.plan(job, name)
        v2 = pipeline_job.to_v2(_with_resolved(job, plan))
        spec = {"display_name": job.display_name or name, "description": job.description, "tags": dict(job.tags),
                "settings": plan["settings"], "inputs": plan["inputs"], "outputs": plan["outputs"],
                "steps": plan["steps"], "order": plan["order"], "v2": v2}
        steps_state = {step: {"status": JobStatus.NOT_STARTED.value} for step in plan["order"]}
        lines = [f"Pipeline {name}: {len(plan['order'])} steps ({', '.join(plan['order'])}); default compute "
                 f"{plan['settings']['default_compute']!r}, datastore {plan['settings']['default_datastore']!r}.",
                 *plan["notes"]]
        record_job(self._b, name, experiment=experiment, display_name=job.display_name or name,
                   tags={str(k): str(v) for k, v in job.tags.items()}, spec=spec,
                   state={"steps": steps_state, "notes": plan["notes"]}, lines=lines,
                   parent_job_name=parent_job_name)
        self._b.ensure_supervisor()
        return self.get(name)

    def resubmit(self, name: str, *, inputs: dict[str, Any] | None = None, tags: dict[str, str] | None = None,
                 new_name: str | None = None) -> PipelineJob:
        """Submit pipeline ``name`` again (its v2 definition), some parameters changed; its steps run anew or reused.

        Outputs the service placed under the original run's folder get the new run's folder
        (:meth:`_without_filled_paths`).
        """
        from studio_ext.translation import pipeline_job

        with self._b.store.engine.connect() as conn:
            row = conn.execute(jobs_table.select().where(jobs_table.c.name == name)).first()
        if row is None or row.type != JOB_TYPE:
            raise NotFound(f"There is no pipeline job named {name!r}. List jobs with ws.jobs.list().")
        job = pipeline_job.from_v2(json.loads(row.spec)["v2"]).entity
        unknown = sorted(set(inputs or {}) - set(job.inputs))
        if unknown:
            raise InvalidInput(f"Pipeline {name!r} has no input {unknown[0]!r}. Its inputs: "
                               f"{', '.join(sorted(job.inputs)) or 'none'}.")
        job.inputs.update(inputs or {})
        job.name = new_name
        job.experiment_name = row.experiment_name
        job.tags = {**dict(job.tags), **{str(k): str(v) for k, v in (tags or {}).items()}, "resubmitted_from": name}
        return self.create_or_update(job)

    def _without_filled_paths(self, job: PipelineJob) -> PipelineJob:
        """``job`` with the output paths this service filled in for another run cleared (a copy when any is).

        ``ws.jobs.get`` shows where a run's outputs went (``datastore/azureml/RUN/STEP/OUTPUT``, or
        ``azureml://jobs/RUN/outputs/NAME``); a job read back and submitted again, as
        ``ws.jobs.create_or_update(ws.jobs.get(name))`` does, carries those paths. Azure places a new
        run's outputs under the new run unless the user set a path, so a path under an existing
        run's own folder is taken as filled in, not chosen, and the new run gets its own folders.
        """
        ports: list[tuple[str | None, str, Any]] = [(None, key, out) for key, out in (job.outputs or {}).items()]
        ports += [(step, key, out) for step, node in (job.jobs or {}).items()
                  for key, out in (getattr(node, "outputs", None) or {}).items()]
        runs: dict[tuple[str | None, str], str] = {}
        for step, key, out in ports:
            text = str(getattr(out, "path", None) or "").replace("\\", "/") if isinstance(out, Output) else ""
            found = _RUN_FOLDER.search(text) or _JOB_OUTPUT.match(text)
            if found:
                runs[(step, key)] = found.group(1)
        if not runs:
            return job
        with self._b.store.engine.connect() as conn:
            known = {r.name for r in conn.execute(
                jobs_table.select().with_only_columns(jobs_table.c.name)
                .where(jobs_table.c.name.in_(set(runs.values()))))}
        filled = {port for port, run in runs.items() if run in known}
        if not filled:
            return job
        import copy

        fresh = copy.deepcopy(job)
        for step, key in filled:
            holder = fresh.outputs if step is None else fresh.jobs[step].outputs
            holder[key].path = None
        return fresh

    # -- the checks ---------------------------------------------------------------------------
    def check(self, job: PipelineJob) -> None:
        """Every check ``create_or_update`` makes, writing nothing (a schedule's job is checked when it is created)."""
        self.plan(job, "pipeline_check")

    def plan(self, job: PipelineJob, name: str) -> dict[str, Any]:
        """The checked plan of ``job`` (see the module docstring); InvalidInput/NotFound naming the step."""
        if not job.jobs:
            raise InvalidInput("The pipeline has no steps (jobs is empty). Add a step: a component called with its "
                               "inputs in a @dsl.pipeline function, or jobs: in the YAML.")
        jobs_service = self._b.service("jobs")
        settings = job.settings
        default_compute = jobs_service._check_compute(settings.default_compute or job.compute or "local")
        datastore = settings.default_datastore or DEFAULT_DATASTORE
        try:
            self._b.service("datastores").get(datastore)
        except NotFound as exc:
            raise NotFound(f"The pipeline's default_datastore {datastore!r} does not exist: {exc.message} Leave it "
                           f"out for {DEFAULT_DATASTORE!r}.") from None
        notes: list[str] = []
        inputs = {k: self._pipeline_input(k, v) for k, v in job.inputs.items()}
        outputs: dict[str, dict[str, Any]] = {}
        for key, value in job.outputs.items():
            check_name(key, "pipeline output name")
            out = value if isinstance(value, Output) else Output()
            if out.name is not None:
                from studio_ext.backends.local.jobs.job_io import _check_registration

                _check_registration(self._b, key, out.type, out)
            outputs[key] = {"type": out.type, "mode": out.mode, "name": out.name,
                            "version": None if out.version is None else str(out.version),
                            "description": out.description, "bound": None}
        steps: dict[str, dict[str, Any]] = {}
        components: dict[str, CommandComponent] = {}
        for step_name, step in job.jobs.items():
            check_name(step_name, "step name")
            components[step_name] = self._component(step_name, step, job.inputs)
        for step_name, step in job.jobs.items():
            steps[step_name] = self._step(step_name, step, components[step_name], components, inputs, outputs,
                                          default_compute, settings.default_environment, notes)
        order = _order(steps)
        for key, record in outputs.items():
            if record["bound"] is None:
                raise InvalidInput(f"The pipeline output {key!r} is bound to no step's output. Bind one: a step's "
                                   f"outputs: {{NAME: ${{{{parent.outputs.{key}}}}}}}, or return it from the "
                                   "@dsl.pipeline function.")
        return {"settings": {"default_compute": default_compute, "default_datastore": datastore,
                             "continue_on_step_failure": bool(settings.continue_on_step_failure),
                             "force_rerun": bool(settings.force_rerun),
                             "default_environment": settings.default_environment},
                "inputs": inputs, "outputs": outputs, "steps": steps, "order": order, "notes": notes}

    def _pipeline_input(self, key: str, value: Any) -> Any:
        check_name(key, "pipeline input name")
        if isinstance(value, Input):
            if value.path is None:
                return value.default
            if parse_binding(value.path) is not None:
                raise InvalidInput(f"The pipeline input {key!r} is a binding ({value.path}); a pipeline input is a "
                                   "value or data (a path, azureml:NAME:VERSION or a datastore URI).")
            return {"type": value.type, "path": value.path, "mode": value.mode, "optional": value.optional}
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise InvalidInput(f"The pipeline input {key!r} is a {type(value).__name__}; give a number, string, "
                               "boolean or Input(type=..., path=...).")
        return value

    def _component(self, step_name: str, step: Any, pipeline_inputs: dict[str, Any]) -> CommandComponent:
        if not isinstance(step, CommandJob):
            raise InvalidInput(f"Step {step_name!r} is a {type(step).__name__}; pipeline steps here are command "
                               "steps (a component called with its inputs, or command(...)).")
        component = step.component if isinstance(step, Command) else None
        if isinstance(component, str):
            try:
                found = self._b.service("components").get(component)
            except NotFound as exc:
                raise NotFound(f"Step {step_name!r} uses the component {component!r}, which is not registered "
                               f"({exc.message}) Register it first, or give the file: component: ./x.yml.") from None
            if not isinstance(found, CommandComponent):
                raise InvalidInput(f"Step {step_name!r} uses {component!r}, a pipeline component: a pipeline as a "
                                   "step of another pipeline is not run here. Submit it on its own "
                                   "(ws.jobs.create_or_update(ws.components.get(...)(inputs...))), or use its steps.")
            return found
        if isinstance(component, CommandComponent):
            return component
        made = component_from_job(step)
        made.name = made.name or step_name
        for key, value in step.inputs.items():  # an inline command's inputs take the type of what they are given
            ref = parse_binding(value)
            if ref is not None and "input" in ref:
                source = pipeline_inputs.get(ref["input"])
                if isinstance(source, Input) and source.path is not None:
                    made.inputs[key] = Input(type=source.type)
                else:
                    literal = source.default if isinstance(source, Input) else source
                    made.inputs[key] = component_from_job(CommandJob(inputs={key: literal})).inputs[key]
                    made.inputs[key].default = None
            elif ref is not None:
                made.inputs[key] = Input(type="uri_folder")
            elif isinstance(value, Input) and value.path is not None:
                made.inputs[key] = Input(type=value.type)
        return made

    def _step(self, step_name: str, step: CommandJob, component: CommandComponent,
              components: dict[str, CommandComponent], inputs: dict[str, Any], outputs: dict[str, dict[str, Any]],
              default_compute: str, default_environment: str | None, notes: list[str]) -> dict[str, Any]:
        from studio_ext.backends.local.pipelines.components import check_interface

        jobs_service = self._b.service("jobs")
        try:
            check_interface(component)
        except InvalidInput as exc:
            raise InvalidInput(f"Step {step_name!r}: {exc.message}") from None
        compute = jobs_service._check_compute(step.compute or default_compute) if step.compute else default_compute
        code = component.code
        if code is not None:
            try:
                code = str(jobs_service._check_code(code))
            except (NotFound, InvalidInput) as exc:
                raise type(exc)(f"Step {step_name!r}: {exc.message}") from None
        environment = component.environment or default_environment
        try:
            self._b.service("environments").resolve(environment)
        except (NotFound, InvalidInput) as exc:
            raise type(exc)(f"Step {step_name!r}: {exc.message}") from None
        bound: dict[str, Any] = {}
        after: set[str] = set()
        for key, value in step.inputs.items():
            if key not in component.inputs:
                raise InvalidInput(f"Step {step_name!r} gives the input {key!r}, which its component "
                                   f"{component.name!r} does not declare. Its inputs: "
                                   f"{', '.join(component.inputs) or 'none'}.")
            if value is None:
                continue
            bound[key] = self._bind(step_name, key, value, component.inputs[key], components, inputs, after)
        for key, declared in component.inputs.items():
            if key in bound:
                continue
            if declared.default is not None:
                bound[key] = {"literal": declared.default}
            elif not declared.optional:
                raise InvalidInput(f"Step {step_name!r} does not give the required input {key!r} of component "
                                   f"{component.name!r} ({declared.type}). Give it a value, a pipeline input "
                                   f"(${{{{parent.inputs.NAME}}}}) or another step's output.")
        step_outputs: dict[str, dict[str, Any]] = {}
        for key, declared_output in component.outputs.items():
            given = step.outputs.get(key)
            mode = declared_output.mode
            pipeline_output = None
            if isinstance(given, str):
                ref = parse_binding(given)
                if ref is None or "pipeline_output" not in ref:
                    raise InvalidInput(f"Step {step_name!r} binds its output {key!r} to {given!r}; an output binds "
                                       "only to a pipeline output, ${{parent.outputs.NAME}}.")
                pipeline_output = ref["pipeline_output"]
                if pipeline_output not in outputs:
                    raise InvalidInput(f"Step {step_name!r} binds its output {key!r} to the pipeline output "
                                       f"{pipeline_output!r}, which the pipeline does not declare. Its outputs: "
                                       f"{', '.join(outputs) or 'none'}.")
                if outputs[pipeline_output]["bound"] is not None:
                    raise InvalidInput(f"The pipeline output {pipeline_output!r} is bound twice (steps "
                                       f"{outputs[pipeline_output]['bound'][0]!r} and {step_name!r}); bind it once.")
                outputs[pipeline_output]["bound"] = [step_name, key]
                mode = outputs[pipeline_output]["mode"] or mode
            elif isinstance(given, Output):
                mode = given.mode or mode
            step_outputs[key] = {"type": declared_output.type, "mode": mode, "pipeline_output": pipeline_output}
        for key in step.outputs:
            if key not in component.outputs:
                raise InvalidInput(f"Step {step_name!r} sets the output {key!r}, which its component "
                                   f"{component.name!r} does not declare. Its outputs: "
                                   f"{', '.join(component.outputs) or 'none'}.")
        from studio_ext.translation import component as component_kind

        deterministic = component.is_deterministic if not isinstance(step, Command) or step.is_deterministic is None \
            else bool(step.is_deterministic)
        return {"component": component_kind.to_v2(component), "component_id": component.id,
                "code_hash": component.code_hash, "code": code, "environment": environment, "compute": compute,
                "inputs": bound, "outputs": step_outputs, "after": sorted(after), "is_deterministic": deterministic,
                "environment_variables": dict(step.environment_variables or component.environment_variables)}

    def _bind(self, step_name: str, key: str, value: Any, declared: Input, components: dict[str, CommandComponent],
              inputs: dict[str, Any], after: set[str]) -> dict[str, Any]:
        from studio_ext.translation.component import coerce

        kind = declared.type
        ref = parse_binding(value)
        if ref is None and isinstance(value, str) and ANY_BINDING.search(value):
            raise InvalidInput(f"Step {step_name!r} gives its input {key!r} the binding {value!r}, which is not one "
                               "this studio knows. Write ${{parent.inputs.NAME}} or "
                               "${{parent.jobs.STEP.outputs.NAME}}.")
        if ref is not None and "input" in ref:
            source = ref["input"]
            if source not in inputs:
                raise InvalidInput(f"Step {step_name!r} binds its input {key!r} to ${{{{parent.inputs.{source}}}}}, "
                                   f"but the pipeline has no input {source!r}. Its inputs: "
                                   f"{', '.join(inputs) or 'none'}. Add it to the pipeline's inputs.")
            given = inputs[source]
            if isinstance(given, dict):  # data
                if kind in LITERAL_TYPES:
                    raise InvalidInput(f"Type mismatch at step {step_name!r}: its input {key!r} takes type {kind}, but the "
                                       f"pipeline input {source!r} is data ({given['type']}). Give a {kind} value.")
            elif given is not None and kind in _DATA_TYPES:
                raise InvalidInput(f"Type mismatch at step {step_name!r}: its input {key!r} is data ({kind}), but the "
                                   f"pipeline input {source!r} is the value {given!r}. Give "
                                   f"Input(type={kind!r}, path=...).")
            elif given is not None and kind in LITERAL_TYPES:
                coerce(kind, given, f"the pipeline input {source!r} (used by step {step_name!r} as {key!r})")
            return {"pipeline_input": source}
        if ref is not None and "job" in ref:
            source, output = ref["job"], ref["output"]
            if source == step_name:
                raise InvalidInput(f"Step {step_name!r} takes its own output {output!r} as its input {key!r}: a step "
                                   "cannot wait for itself. Take another step's output.")
            if source not in components:
                raise InvalidInput(f"Step {step_name!r} binds its input {key!r} to "
                                   f"${{{{parent.jobs.{source}.outputs.{output}}}}}, but the pipeline has no step "
                                   f"{source!r}. Its steps: {', '.join(components)}.")
            declared_out = components[source].outputs.get(output)
            if declared_out is None:
                raise InvalidInput(f"Step {step_name!r} binds its input {key!r} to the output {output!r} of step "
                                   f"{source!r}, which declares no such output. Its outputs: "
                                   f"{', '.join(components[source].outputs) or 'none'}.")
            if kind in LITERAL_TYPES:
                raise InvalidInput(f"Type mismatch at step {step_name!r}: its input {key!r} takes type {kind}, but it is "
                                   f"bound to the output {output!r} of step {source!r}, which is data "
                                   f"({declared_out.type}). Bind it to a pipeline input or give a value.")
            after.add(source)
            return {"job": source, "output": output, "type": declared_out.type}
        if ref is not None:
            raise InvalidInput(f"Step {step_name!r} binds its input {key!r} to a pipeline output ({value}); an input "
                               "takes ${{parent.inputs.NAME}} or ${{parent.jobs.STEP.outputs.NAME}}.")
        if isinstance(value, Input):
            if value.path is None:
                return {"literal": value.default}
            if kind in LITERAL_TYPES:
                raise InvalidInput(f"Type mismatch at step {step_name!r}: its input {key!r} takes type {kind}, but it is "
                                   f"given data ({value.path}). Give a {kind} value.")
            return {"data": {"type": value.type, "path": value.path, "mode": value.mode}}
        if kind in _DATA_TYPES:
            if isinstance(value, str):
                return {"data": {"type": kind, "path": value, "mode": declared.mode or "ro_mount"}}
            raise InvalidInput(f"Type mismatch at step {step_name!r}: its input {key!r} is data ({kind}), but it is "
                               f"given the value {value!r}. Give Input(type={kind!r}, path=...).")
        if kind in LITERAL_TYPES:
            value = coerce(kind, value, f"the input {key!r} of step {step_name!r}")
        return {"literal": value}

    # -- read --------------------------------------------------------------------------------
    def get(self, name: str) -> PipelineJob:
        """The pipeline with its status, steps (each with its run's status) and its step runs' names."""
        from studio_ext.translation import pipeline_job

        with self._b.store.engine.connect() as conn:
            row = conn.execute(jobs_table.select().where(jobs_table.c.name == name)).first()
            children = conn.execute(jobs_table.select().where(jobs_table.c.parent_job_name == name)).all()
        if row is None or row.type != JOB_TYPE:
            raise NotFound(f"There is no pipeline job named {name!r}. List jobs with ws.jobs.list().")
        spec = json.loads(row.spec)
        state = read_state(self._b, name)
        try:
            run = tracking.client(self._b.tracking_uri).get_run(row.run_id)
        except Exception:  # noqa: BLE001 - a run deleted under us: the row still answers
            run = None
        job = pipeline_job.from_v2(spec["v2"]).entity
        by_child = {c.name: c for c in children}
        step_jobs: dict[str, str] = {}
        step_status: dict[str, str] = {}
        for step_name in spec["order"]:
            info = state.get("steps", {}).get(step_name, {})
            child = by_child.get(info.get("job") or "")
            status = child.status if child is not None else info.get("status", JobStatus.NOT_STARTED.value)
            if child is None and row.status in (JobStatus.CANCELED.value, JobStatus.FAILED.value) and \
                    status == JobStatus.NOT_STARTED.value:
                status = SKIPPED
            step_status[step_name] = status
            if info.get("job"):
                step_jobs[step_name] = info["job"]
            step = job.jobs.get(step_name)
            if step is not None:
                step.status = JobStatus(status) if status in JobStatus._value2member_map_ else step.status
                step.properties = {k: str(v) for k, v in (("azureml.nodeid", step_name),
                                                           ("azureml.job_name", info.get("job")),
                                                           ("azureml.reused_from", info.get("reused_from")),
                                                           ("azureml.skip_reason", info.get("reason")))
                                   if v}
                if status == SKIPPED:
                    step.error = info.get("reason")
        job.name = row.name
        job.experiment_name = row.experiment_name
        job.status = JobStatus(row.status)
        job.run_id = row.run_id
        job.creation_time = to_datetime(row.created_at)
        job.start_time = to_datetime(row.start_time)
        job.end_time = to_datetime(row.end_time)
        job.error = row.error
        job.compute = spec["settings"]["default_compute"]
        job.metrics = dict(run.data.metrics) if run else {}
        job.params = dict(run.data.params) if run else {}
        job.children = [c.name for c in sorted(children, key=lambda c: c.created_at)]
        job.step_jobs = step_jobs
        job.step_status = step_status
        job.notes = list(state.get("notes", []))
        job.studio_url = studio_url(self._b.path, row.name)
        job.properties = {"azureml.pipeline_steps": json.dumps(state.get("steps", {}), default=str)}
        for key, record in (state.get("outputs") or {}).items():
            if key in job.outputs and isinstance(job.outputs[key], Output):
                job.outputs[key].path = record.get("path")
        return job


def _order(steps: dict[str, dict[str, Any]]) -> list[str]:
    """The steps in an order where each comes after the steps it waits for; InvalidInput naming a cycle."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = trail[trail.index(name):] + [name]
            raise InvalidInput(f"The pipeline's steps wait for each other in a cycle: {' -> '.join(cycle)}. A step "
                               f"cannot take an output of a step that (through others) takes its own; break the "
                               f"cycle at step {cycle[0]!r}.")
        state[name] = 1
        for dep in steps[name]["after"]:
            visit(dep, trail + [name])
        state[name] = 2
        order.append(name)

    for name in steps:
        visit(name, [])
    return order


def _with_resolved(job: PipelineJob, plan: dict[str, Any]) -> PipelineJob:
    """The job as it is kept: each step's component inline (a registered one as it was resolved)."""
    import copy

    from studio_ext.translation import component as component_kind

    kept = copy.deepcopy(job)
    for step_name, step in kept.jobs.items():
        made = component_kind.from_v2(plan["steps"][step_name]["component"]).entity
        if isinstance(step, Command):
            step.component = made
        else:
            kept.jobs[step_name] = Command(name=step_name, inputs=dict(step.inputs), outputs=dict(step.outputs),
                                           compute=step.compute, component=made, command=made.command,
                                           code=made.code, environment=made.environment)
    return kept
