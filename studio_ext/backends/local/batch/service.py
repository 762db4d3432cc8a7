"""``ws.batch_endpoints`` and ``ws.batch_deployments`` on the local backend.

An endpoint is a row (description, tags, default deployment) and a keys file
(``batch/NAME/keys.json``, 0600, as an online endpoint's). A deployment is checked and
frozen at create: its folder ``batch/ENDPOINT/DEPLOYMENT/`` holds ``deployment.json``, the
scoring spec the scoring driver reads (model files, scoring script, settings, compute),
and ``code/``, a snapshot of its code folder. Nothing runs until an invocation:

- a model deployment's invocation is a pipeline job (through ``ws.jobs``, so the pipeline
  duty runs it) whose one step ``batchscoring`` runs the scoring driver
  (``python -m studio_ext.backends.local.batch.driver``) on the deployment's compute, its
  output ``score`` the pipeline's output ``score``;
- a pipeline component deployment's invocation is a parent pipeline job of one step whose run,
  its child job, is the component run as a pipeline job with the request's inputs (its steps
  reused as any pipeline's).

Both carry the tags ``azureml.batch_endpoint`` and ``azureml.batch_deployment``, by which
``list_jobs`` finds them. Every check runs before anything is written.

A model deployment with an environment runs its scoring step with that environment's serving
venv (built at create). ``list_errors`` reads the failed mini-batches the driver wrote.
"""

from __future__ import annotations

import builtins
import copy
import json
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from studio_ext._poller import DonePoller, Poller
from studio_ext._validation import check_name
from studio_ext.backends.local.batch import gateway
from studio_ext.backends.local.batch import scoring as scoring_worker
from studio_ext.backends.local.batch.gateway import keys_path
from studio_ext.backends.local.core import code_snapshot
from studio_ext.backends.local.core.accepting import accepts
from studio_ext.backends.local.core.schema import batch_deployments as deployments_table
from studio_ext.backends.local.core.schema import batch_endpoints as endpoints_table
from studio_ext.backends.local.core.store import now, to_datetime
from studio_ext.backends.local.endpoints.service import _check_endpoint_name
from studio_ext.entities import (
    BatchDeployment,
    BatchDeploymentOutputAction,
    BatchEndpoint,
    BatchEndpointDefaults,
    BatchJobError,
    BatchRetrySettings,
    CodeConfiguration,
    CommandComponent,
    EndpointAuthKeys,
    Environment,
    Input,
    Job,
    KeyType,
    Model,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
    ModelType,
    Output,
    PipelineComponent,
    PipelineComponentBatchDeployment,
    PipelineJob,
    ProvisioningState,
)
from studio_ext.entities._pipeline import input_binding, pipeline_output_binding
from studio_ext.errors import Conflict, InvalidInput, NotFound
from studio_ext.services import BatchDeploymentOperations, BatchEndpointOperations
from studio_ext.serving import endpoint_files as files

if TYPE_CHECKING:  # pragma: no cover
    import azure.ai.ml.entities as aml

    from studio_ext.backends.local import LocalBackend

TAG_ENDPOINT = "azureml.batch_endpoint"
TAG_DEPLOYMENT = "azureml.batch_deployment"
TAG_INVOCATION = "azureml.batch_job"  # the child pipeline run of a pipeline deployment's invocation: its parent
SCORING_STEP = "batchscoring"
INPUT_NAME = "input_data"
OUTPUT_NAME = "score"
DRIVER = "studio_ext.backends.local.batch.driver"
SPEC_FILE = "deployment.json"
_DATA_INPUTS = ("uri_folder", "uri_file", "mltable")
_LOGGING_LEVELS = ("debug", "info", "warning", "error", "critical")


def batch_root(workspace: Path) -> Path:
    return workspace / "batch"


def deployment_dir(workspace: Path, endpoint: str, deployment: str) -> Path:
    return batch_root(workspace) / endpoint / deployment


def _json_default(value: Any) -> Any:
    return str(value)


class LocalBatchEndpoints(BatchEndpointOperations):
    """``ws.batch_endpoints``: batch endpoints, keys, invocations."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    # -- create / update / delete ---------------------------------------------------------------
    @accepts(BatchEndpoint, "ws.batch_endpoints.begin_create_or_update")
    def begin_create_or_update(self, endpoint: BatchEndpoint | aml.BatchEndpoint) -> Poller[BatchEndpoint]:
        """Create the endpoint (and its keys), or update its description, tags and default deployment."""
        if not isinstance(endpoint, BatchEndpoint):
            raise InvalidInput(f"begin_create_or_update takes a BatchEndpoint. Got {type(endpoint).__name__} instead.")
        name = _check_endpoint_name(endpoint.name, "batch endpoint name")
        if endpoint.auth_mode not in ("key", "aad_token"):
            raise InvalidInput(f"auth_mode {endpoint.auth_mode!r} is not known; a batch endpoint takes 'key' here "
                               "('aad_token', Azure's default, is taken as 'key').")
        row = self._row(name)
        from studio_ext.translation.batch_endpoint import default_deployment

        default = default_deployment(endpoint.defaults)  # a BatchEndpointDefaults, or a dict as azure-ai-ml keeps it
        if default is not None:
            known = [r.name for r in self._deployment_rows(name)] if row is not None else []
            if default not in known:
                raise InvalidInput(
                    f"defaults.deployment_name {default!r} is not a deployment of the batch endpoint {name!r} "
                    f"(its deployments: {', '.join(known) or 'none'}). Create the deployment first; the first one "
                    "becomes the default.")
        spec = {"description": endpoint.description, "tags": {str(k): str(v) for k, v in endpoint.tags.items()},
                "properties": {str(k): str(v) for k, v in endpoint.properties.items()}, "auth_mode": "key"}
        if row is None:
            path = keys_path(self._b.path, name)
            files.write_private_json(path, {"primary": files.new_key(), "secondary": files.new_key()})
            try:
                with self._b.store.engine.begin() as conn:
                    conn.execute(endpoints_table.insert().values(
                        name=name, spec=json.dumps(spec), default_deployment=None,
                        provisioning_state=ProvisioningState.SUCCEEDED.value, created_at=now(), updated_at=now()))
            except sa.exc.IntegrityError:
                raise Conflict(f"The batch endpoint {name!r} was created by someone else just now; get it "
                               "instead.") from None
            except BaseException:
                shutil.rmtree(path.parent, ignore_errors=True)
                raise
        else:
            values: dict[str, Any] = {"spec": json.dumps(spec), "updated_at": now()}
            if default is not None:
                values["default_deployment"] = default
            with self._b.store.engine.begin() as conn:
                conn.execute(endpoints_table.update().where(endpoints_table.c.name == name).values(**values))
        self._b.ensure_supervisor()  # its duty runs the gateway that scoring_uri names
        return DonePoller(self.get(name))

    def begin_delete(self, name: str) -> Poller[str]:
        """Delete the endpoint, its deployments and keys; its past jobs stay, as on Azure."""
        self._require(name)
        with self._b.store.engine.begin() as conn:
            conn.execute(deployments_table.delete().where(deployments_table.c.endpoint_name == name))
            conn.execute(endpoints_table.delete().where(endpoints_table.c.name == name))
        shutil.rmtree(batch_root(self._b.path) / name, ignore_errors=True)
        return DonePoller(name)

    # -- read ---------------------------------------------------------------------------------------
    def get(self, name: str) -> BatchEndpoint:
        return self._entity(self._require(name))

    def list(self) -> builtins.list[BatchEndpoint]:
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(endpoints_table).order_by(endpoints_table.c.name)).all()
        return [self._entity(r) for r in rows]

    # -- keys ---------------------------------------------------------------------------------------
    def get_keys(self, name: str) -> EndpointAuthKeys:
        self._require(name)
        keys = files.read_keys(keys_path(self._b.path, name))
        return EndpointAuthKeys(primary_key=keys["primary"], secondary_key=keys["secondary"])

    def begin_regenerate_keys(self, name: str, *, key_type: str | KeyType = KeyType.PRIMARY) -> Poller[EndpointAuthKeys]:
        """Replace one key; the gateway refuses the old one from the next request on."""
        self._require(name)
        try:
            which = KeyType(key_type)
        except ValueError:
            raise InvalidInput(f"key_type must be 'primary' or 'secondary'. Got {key_type!r} instead.") from None
        path = keys_path(self._b.path, name)
        keys = files.read_keys(path)
        keys[which.value] = files.new_key()
        files.write_private_json(path, keys)
        time.sleep(2 * files.KEY_RECHECK_SECONDS)  # the gateway has seen the new file by now
        return DonePoller(self.get_keys(name))

    def consume_snippets(self, name: str) -> dict[str, str]:
        """curl, Python (requests) and azure-ai-ml code invoking the endpoint's default deployment."""
        endpoint = self.get(name)
        deployment: Any = None
        if endpoint.defaults.deployment_name:
            deployment = self._b.service("batch_deployments").get(endpoint.defaults.deployment_name, name)
            if isinstance(deployment, PipelineComponentBatchDeployment) and isinstance(deployment.component, str):
                ref = deployment.component.removeprefix("azureml:")
                comp_name, _, version = ref.partition(":")
                deployment.component = self._b.service("components").get(comp_name, version)
        return gateway.consume_snippets(endpoint, inputs=gateway.sample_inputs(deployment),
                                        preamble=self._b.sdk_preamble())

    # -- invoke -------------------------------------------------------------------------------------
    def invoke(
        self,
        endpoint_name: str,
        *,
        deployment_name: str | None = None,
        input: Input | Any = None,  # noqa: A002  (azure-ai-ml's keyword)
        inputs: dict[str, Input | Any] | None = None,
        outputs: dict[str, Any] | None = None,
        params_override: builtins.list[dict[str, Any]] | None = None,
        experiment_name: str | None = None,
        **kwargs: Any,
    ) -> Job:
        """Start a batch job on ``deployment_name`` (the default deployment when None) and return it.

        A model deployment scores ``input`` (or one input under any name, ``inputs={"heart": ...}``,
        as Azure takes it; two are refused): a uri_folder,
        uri_file or mltable Input (a local path, ``azureml:NAME:VERSION``, a datastore URI);
        ``outputs={"score": Output(path=...)}`` places the predictions; ``params_override``
        changes settings for this job only (``[{"mini_batch_size": 5}]``,
        ``{"retry_settings.max_retries": 1}``, ``{"compute.instance_count": 2}`` ...). A pipeline
        component deployment runs its component with ``inputs`` (and ``outputs``).
        ``job_name=`` names the job.
        """
        job_name = kwargs.pop("job_name", None)
        kwargs.pop("deployment", None)
        if kwargs:
            raise InvalidInput(f"ws.batch_endpoints.invoke has no keyword {sorted(kwargs)[0]!r}. It takes "
                               "deployment_name, input, inputs, outputs, params_override, experiment_name, job_name.")
        row = self._require(endpoint_name)
        input = _local_port(input)  # noqa: A001
        inputs = {str(k): _local_port(v) for k, v in (inputs or {}).items()} or None
        outputs = {str(k): _local_port(v) for k, v in (outputs or {}).items()} or None
        name = deployment_name or row.default_deployment
        if not name:
            raise InvalidInput(
                f"The batch endpoint {endpoint_name!r} has no default deployment, and no deployment_name was given. "
                "Create a deployment (the first becomes the default), set defaults.deployment_name, or name one.")
        deployments = self._b.service("batch_deployments")
        deployment_row = deployments._require(endpoint_name, name)
        experiment = experiment_name or endpoint_name
        tags = {TAG_ENDPOINT: endpoint_name, TAG_DEPLOYMENT: name}
        written: Path | None = None
        if deployment_row.type == "pipeline":
            child = self._pipeline_job(deployment_row, input, inputs, outputs, params_override)
            return self._start_pipeline_invocation(
                deployment_row, child, job_name=job_name, experiment=experiment, tags=tags,
                display_name=f"{endpoint_name}-{name}")
        job, written = self._scoring_job(deployment_row, input, inputs, outputs, params_override, job_name)
        # named as Azure names a batch job (batchjob-...), not as a pipeline the user submitted
        job.name = job_name or f"batchjob_{uuid.uuid4().hex[:8]}"
        job.experiment_name = experiment
        job.display_name = job.display_name or f"{endpoint_name}-{name}"
        job.tags = {**dict(job.tags), **tags}
        try:
            return self._b.service("jobs").create_or_update(job)
        except BaseException:
            if written is not None:
                written.unlink(missing_ok=True)
            raise

    def _scoring_job(self, row: Any, input: Any, inputs: dict[str, Any] | None, outputs: dict[str, Any] | None,  # noqa: A002
                     params_override: builtins.list[dict[str, Any]] | None,
                     job_name: str | None) -> tuple[PipelineJob, Path | None]:
        """The pipeline job scoring ``input`` and, when ``params_override`` made one, its own scoring spec file."""
        given = dict(inputs or {})
        if input is not None:
            if given:
                raise InvalidInput(f"Give the data once: input= or inputs={{NAME: ...}}, not both (got input= and "
                                   f"inputs {', '.join(sorted(given))}).")
            given[INPUT_NAME] = input
        if len(given) > 1:
            raise InvalidInput(f"The model deployment {row.endpoint_name}/{row.name} takes one input (under any "
                               f"name); got {len(given)}: {', '.join(sorted(given))}. Send the data to score as one "
                               "uri_folder, uri_file or mltable input.")
        if not given:
            raise InvalidInput(f"Give the data to score: input=Input(type='uri_folder', path=...) (or inputs="
                               f"{{{INPUT_NAME!r}: ...}}) on ws.batch_endpoints.invoke({row.endpoint_name!r}).")
        [(input_name, data)] = given.items()
        input_name = check_name(str(input_name), "input name")
        if data is None:
            raise InvalidInput(f"The input {input_name!r} has no data: give Input(type='uri_folder', path=...).")
        ddir = deployment_dir(self._b.path, row.endpoint_name, row.name)
        spec_path = ddir / SPEC_FILE
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        data = self._check_data(data, columns=None if spec.get("scoring_script") else
                                (spec.get("model") or {}).get("input_columns"))
        unknown = sorted(set(outputs or {}) - {OUTPUT_NAME})
        if unknown:
            raise InvalidInput(f"The model deployment {row.endpoint_name}/{row.name} has one output, {OUTPUT_NAME!r}; "
                               f"got {unknown[0]!r}.")
        score = (outputs or {}).get(OUTPUT_NAME)
        if score is not None and not isinstance(score, Output):
            raise InvalidInput(f"outputs[{OUTPUT_NAME!r}] must be an Output(type='uri_folder', path=...). "
                               f"Got {type(score).__name__} instead.")
        written: Path | None = None
        if params_override:
            spec = _override(spec, params_override)
            runs = ddir / "invocations"
            runs.mkdir(exist_ok=True)
            written = spec_path = runs / f"{job_name or 'job'}-{uuid.uuid4().hex[:12]}.json"  # never an earlier job's
            spec_path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
        compute = spec["compute"]["name"]
        component = CommandComponent(
            name=SCORING_STEP, display_name=SCORING_STEP,
            command=(f"{json.dumps(spec['python']) if spec.get('python') else 'python'} -m {DRIVER} "
                     f"--deployment {json.dumps(str(spec_path))} "
                     "--input ${{inputs." + INPUT_NAME + "}} --output ${{outputs." + OUTPUT_NAME + "}}"),
            inputs={INPUT_NAME: Input(type=data.type)}, outputs={OUTPUT_NAME: Output(type="uri_folder")},
            environment_variables=dict(spec["settings"].get("environment_variables") or {}),
            is_deterministic=False)
        step = component(**{INPUT_NAME: input_binding(input_name)})
        step.outputs[OUTPUT_NAME] = pipeline_output_binding(OUTPUT_NAME)
        step.compute = compute
        out = copy.deepcopy(score) if score is not None else Output(type="uri_folder")
        job = PipelineJob(jobs={SCORING_STEP: step}, inputs={input_name: data}, outputs={OUTPUT_NAME: out},
                          compute=compute)
        return job, written

    def _check_data(self, data: Any, *, columns: builtins.list[str] | None = None) -> Input:
        """The input to score, checked now (exists, inside its datastore), so a bad path fails the call.

        ``columns``: those an MLflow model with no scoring script needs. Files lacking them would
        fail every mini-batch the same way, so the first file's header (or Parquet schema) is read
        and the invocation refused naming the file and the missing columns (a 400 over REST).
        """
        if isinstance(data, str):
            data = Input(type="uri_folder", path=data)
        if not isinstance(data, Input) or data.path is None:
            raise InvalidInput("The data to score must be an Input(type='uri_folder'|'uri_file'|'mltable', path=...). "
                               f"Got {type(data).__name__} instead.")
        if data.type not in _DATA_INPUTS:
            raise InvalidInput(f"A model batch deployment scores data of type {', '.join(_DATA_INPUTS)}; the input is "
                               f"of type {data.type!r}.")
        from studio_ext.backends.local.jobs import job_io

        with tempfile.TemporaryDirectory(prefix="batch-check-") as scratch:
            resolved = job_io.resolve_input(self._b, INPUT_NAME, replace(data, mode="ro_mount"), Path(scratch))
            local = Path(str(resolved.get("value") or ""))
            if columns and data.type != "mltable" and resolved.get("value") and local.exists():
                _check_columns(local, columns)
        return data

    def _pipeline_job(self, row: Any, input: Any, inputs: dict[str, Any] | None,  # noqa: A002
                      outputs: dict[str, Any] | None, params_override: builtins.list[dict[str, Any]] | None) -> PipelineJob:
        spec = json.loads(row.spec)
        component = self._b.service("components").get(spec["component"]["name"], spec["component"]["version"])
        if not isinstance(component, PipelineComponent):
            raise InvalidInput(f"The deployment {row.endpoint_name}/{row.name} names {spec['component']['name']}, "
                               "which is no longer a pipeline component.")
        given = dict(inputs or {})
        if input is not None:
            raise InvalidInput(f"The pipeline component deployment {row.endpoint_name}/{row.name} takes inputs="
                               f"{{NAME: ...}} by its component's input names ({', '.join(component.inputs) or 'none'}), "
                               "not input=.")
        for item in params_override or []:
            if not isinstance(item, dict):
                raise InvalidInput(f"params_override is a list of dicts; got {item!r}.")
            for key, value in item.items():
                if key.startswith("inputs."):
                    given[key.removeprefix("inputs.")] = value
                else:
                    raise InvalidInput(f"params_override {key!r} does not apply to a pipeline component deployment; "
                                       "give its inputs as inputs= (or 'inputs.NAME').")
        values = {k: (v.default if isinstance(v, Input) and v.path is None and v.type not in _DATA_INPUTS else v)
                  for k, v in given.items()}
        for key, value in values.items():
            if isinstance(value, Input) and value.type in _DATA_INPUTS and key in component.inputs:
                self._check_data(value)
        job = component(**values)
        unknown = sorted(set(outputs or {}) - set(job.outputs))
        if unknown:
            raise InvalidInput(f"The pipeline component {component.name} has no output {unknown[0]!r}. Its outputs: "
                               f"{', '.join(job.outputs) or 'none'}.")
        for key, value in (outputs or {}).items():
            job.outputs[key] = value
        settings = spec.get("settings") or {}
        job.settings.default_compute = settings.get("default_compute") or job.settings.default_compute
        job.settings.default_datastore = settings.get("default_datastore") or job.settings.default_datastore
        if "continue_on_step_failure" in settings:
            job.settings.continue_on_step_failure = _truthy(settings["continue_on_step_failure"])
        if "force_rerun" in settings:
            job.settings.force_rerun = _truthy(settings["force_rerun"])
        return job

    def _start_pipeline_invocation(self, row: Any, child: PipelineJob, *, job_name: str | None, experiment: str,
                                   tags: dict[str, str], display_name: str) -> Job:
        """The invocation of a pipeline component deployment: a parent job whose one child is the pipeline run.

        The parent is a pipeline job of one step, named after the component, whose run is the
        child pipeline ``PARENT_COMPONENT`` (its own steps reused as any pipeline's are); the
        supervisor's pipeline duty follows the child and ends the parent with it. The parent's
        inputs are the request's, its outputs the child's (``ws.jobs.download(parent,
        output_name=...)`` reaches the child's step through them). Everything is checked first.
        """
        from studio_ext.backends.local.core import parent_jobs
        from studio_ext.backends.local.pipelines.service import record_job
        from studio_ext.entities import JobStatus
        from studio_ext.translation import pipeline_job

        pipelines = self._b.service("pipelines")
        name = parent_jobs.new_job_name(self._b, job_name, "batchjob", None)
        step = str(json.loads(row.spec)["component"]["name"])
        component_ref = "azureml:{name}:{version}".format(**json.loads(row.spec)["component"])
        child.name = f"{name}_{step}"
        child.experiment_name = experiment
        child.display_name = step
        child.tags = {**dict(child.tags), TAG_INVOCATION: name}
        plan = pipelines.plan(child, child.name)  # every check of the child, nothing written
        settings = plan["settings"]
        child_v2 = pipeline_job.to_v2(child)
        outputs = {k: {"type": o["type"], "mode": o["mode"], "name": None, "version": None, "description": None,
                       "bound": [step, k]} for k, o in plan["outputs"].items()}
        v2 = {k: v for k, v in child_v2.items() if k in ("$schema", "type", "inputs", "settings")}
        v2.update(display_name=display_name, experiment_name=experiment, tags=dict(tags))
        v2["outputs"] = {k: {"type": o["type"]} for k, o in outputs.items()}
        v2["jobs"] = {step: {"component": component_ref,
                             "inputs": {k: f"${{{{parent.inputs.{k}}}}}" for k in plan["inputs"]},
                             "outputs": {k: f"${{{{parent.outputs.{k}}}}}" for k in outputs}}}
        step_plan = {"after": [], "inputs": {k: {"pipeline_input": k} for k in plan["inputs"]}, "outputs": {},
                     "compute": settings["default_compute"], "is_deterministic": False,
                     "component": {"name": step, "type": "pipeline", "ref": component_ref, "inputs": {}, "outputs": {}}}
        spec = {"display_name": display_name, "description": None, "tags": tags,
                "settings": {**settings, "continue_on_step_failure": False, "force_rerun": False},
                "inputs": plan["inputs"], "outputs": outputs, "steps": {step: step_plan}, "order": [step], "v2": v2}
        record_job(self._b, name, experiment=experiment, display_name=display_name, tags=dict(tags), spec=spec,
                   state={"steps": {step: {"status": JobStatus.NOT_STARTED.value, "job": child.name}}, "notes": []},
                   lines=[f"Batch job {name} of {row.endpoint_name}/{row.name}: runs the pipeline component "
                          f"{component_ref} as its child job {child.name}."],
                   then=lambda: pipelines.create_or_update(child, parent_job_name=name))
        self._b.ensure_supervisor()
        return pipelines.get(name)

    def list_jobs(self, endpoint_name: str) -> builtins.list[Job]:
        """The endpoint's invocations, newest first."""
        self._require(endpoint_name)
        return _jobs_tagged(self._b, endpoint_name, None)

    def list_errors(self, endpoint_name: str, job_name: str) -> builtins.list[BatchJobError]:
        """The failed mini-batches of ``job_name`` (one of the endpoint's jobs): items, last error, tries.

        Read from the ``batch_errors.json`` the scoring driver writes beside the job's scores
        (kept out of ``ws.jobs.download``'s files); empty while there is none.
        """
        self._require(endpoint_name)
        jobs = self._b.service("jobs")
        try:
            job = jobs.get(job_name)
        except NotFound:
            job = None
        if job is None or (job.tags or {}).get(TAG_ENDPOINT) != endpoint_name:
            raise NotFound(f"The batch endpoint {endpoint_name!r} has no job named {job_name!r}. Its jobs: "
                           "ws.batch_endpoints.list_jobs(endpoint_name).")
        step = (getattr(job, "step_jobs", None) or {}).get(SCORING_STEP)
        if not step:
            return []
        from studio_ext.backends.local.batch.minibatches import ERRORS_FILE
        from studio_ext.backends.local.jobs.job_io import job_output_path

        step_row = jobs._row(step)
        record = ((json.loads(step_row.spec).get("outputs") or {}).get(OUTPUT_NAME) or {}) if step_row else {}
        folders = [record["local"]] if record.get("local") else []  # where the step wrote (a failed step's stays)
        try:
            folders.append(str(job_output_path(self._b, f"azureml://jobs/{step}/outputs/{OUTPUT_NAME}")))
        except (NotFound, InvalidInput):
            pass
        doc: dict[str, Any] = {}
        for folder in folders:
            try:
                doc = json.loads((Path(folder) / ERRORS_FILE).read_text(encoding="utf-8"))
                break
            except (OSError, ValueError):
                continue
        found = []
        for batch in doc.get("mini_batches") or []:
            attempts = [dict(a) for a in batch.get("attempts") or []]
            last = attempts[-1] if attempts else {}
            found.append(BatchJobError(
                mini_batch=int(batch.get("index", 0)), items=[str(i) for i in batch.get("items") or []],
                error=str(last.get("error") or "unknown error"), tries=len(attempts),
                kind=str(last.get("kind") or "raised"), attempts=attempts))
        return sorted(found, key=lambda e: e.mini_batch)

    # -- helpers ------------------------------------------------------------------------------------
    def _row(self, name: str) -> Any:
        with self._b.store.engine.connect() as conn:
            return conn.execute(sa.select(endpoints_table).where(endpoints_table.c.name == name)).first()

    def _require(self, name: str) -> Any:
        row = self._row(name)
        if row is None:
            with self._b.store.engine.connect() as conn:
                known = [r.name for r in conn.execute(sa.select(endpoints_table.c.name)
                                                      .order_by(endpoints_table.c.name))]
            raise NotFound(f"There is no batch endpoint named {name!r}. Batch endpoints: {', '.join(known) or 'none'}. "
                           "Create one with ws.batch_endpoints.begin_create_or_update(BatchEndpoint(name=...)).")
        return row

    def _deployment_rows(self, endpoint: str) -> builtins.list[Any]:
        with self._b.store.engine.connect() as conn:
            return builtins.list(conn.execute(sa.select(deployments_table).where(
                deployments_table.c.endpoint_name == endpoint).order_by(deployments_table.c.created_at)).all())

    def _entity(self, row: Any) -> BatchEndpoint:
        spec = json.loads(row.spec)
        return BatchEndpoint(
            name=row.name, description=spec.get("description"), tags=spec.get("tags") or {},
            properties=spec.get("properties") or {},
            defaults=BatchEndpointDefaults(deployment_name=row.default_deployment), auth_mode="key",
            scoring_uri=gateway.scoring_uri(self._b, row.name),
            provisioning_state=ProvisioningState(row.provisioning_state), creation_time=to_datetime(row.created_at))


class LocalBatchDeployments(BatchDeploymentOperations):
    """``ws.batch_deployments``: model and pipeline component deployments behind batch endpoints."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    @property
    def _endpoints(self) -> LocalBatchEndpoints:
        return self._b.service("batch_endpoints")

    @accepts((ModelBatchDeployment, PipelineComponentBatchDeployment), "ws.batch_deployments.begin_create_or_update")
    def begin_create_or_update(
        self,
        deployment: ModelBatchDeployment | PipelineComponentBatchDeployment | aml.BatchDeployment
        | aml.ModelBatchDeployment | aml.PipelineComponentBatchDeployment,
    ) -> Poller[BatchDeployment]:
        """Check the deployment, then freeze it (scoring spec, code snapshot); the first becomes the default."""
        if not isinstance(deployment, (ModelBatchDeployment, PipelineComponentBatchDeployment)):
            raise InvalidInput("ws.batch_deployments.begin_create_or_update takes a ModelBatchDeployment or a "
                               f"PipelineComponentBatchDeployment. Got {type(deployment).__name__} instead.")
        name = _check_endpoint_name(deployment.name, "batch deployment name")
        endpoint = self._endpoints._require(deployment.endpoint_name).name
        base = {"description": deployment.description, "tags": {str(k): str(v) for k, v in deployment.tags.items()},
                "properties": {str(k): str(v) for k, v in deployment.properties.items()}}
        ddir = deployment_dir(self._b.path, endpoint, name)
        staging = ddir.with_name(f".{name}.{uuid.uuid4().hex[:8]}")
        try:
            if isinstance(deployment, ModelBatchDeployment):
                kind = "model"
                spec = {**base, **self._model_spec(deployment, endpoint, name, staging, ddir)}
            else:
                kind = "pipeline"
                spec = {**base, **self._pipeline_spec(deployment)}
            staging.mkdir(parents=True, exist_ok=True)
            if kind == "model":
                (staging / SPEC_FILE).write_text(json.dumps(spec["scoring"], indent=1), encoding="utf-8")
            _swap_in(staging, ddir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        with self._b.store.engine.begin() as conn:
            found = conn.execute(sa.select(deployments_table.c.name).where(
                deployments_table.c.endpoint_name == endpoint, deployments_table.c.name == name)).first()
            if found is None:
                conn.execute(deployments_table.insert().values(
                    endpoint_name=endpoint, name=name, type=kind, spec=json.dumps(spec, default=_json_default),
                    provisioning_state=ProvisioningState.SUCCEEDED.value, created_at=now(), updated_at=now()))
            else:
                conn.execute(deployments_table.update().where(
                    deployments_table.c.endpoint_name == endpoint, deployments_table.c.name == name).values(
                    type=kind, spec=json.dumps(spec, default=_json_default), updated_at=now()))
            # The first deployment of an endpoint becomes its default, as on Azure.
            conn.execute(endpoints_table.update().where(
                endpoints_table.c.name == endpoint, endpoints_table.c.default_deployment.is_(None)).values(
                default_deployment=name, updated_at=now()))
        return DonePoller(self.get(name, endpoint))

    def _model_spec(self, deployment: ModelBatchDeployment, endpoint: str, name: str, staging: Path,
                    final: Path) -> dict[str, Any]:
        model = self._resolve_model(deployment.model)
        settings = _check_settings(deployment.settings)
        script = _check_code(deployment.code_configuration)
        flavor = "mlflow" if ModelType(model.type) is ModelType.MLFLOW else "custom_model"
        if script is None and flavor != "mlflow":
            raise InvalidInput(
                f"Model {model.name}:{model.version} is a {model.type}: a custom model needs a scoring script. Give "
                "code_configuration=CodeConfiguration(code='./src', scoring_script='score.py') with init() and "
                "run(mini_batch). (An MLflow model needs none.)")
        environment = deployment.environment
        env_ref: str | None = None
        python: str | None = None
        if environment is not None:
            envs = self._b.service("environments")
            resolved = envs.resolve(environment)
            env_ref = f"azureml:{resolved.name}:{resolved.version}" if isinstance(resolved, Environment) and \
                resolved.version else (environment if isinstance(environment, str) else None)
            # The scoring step runs in the environment's venv, built now (as an online deployment's), so a
            # bad environment fails the create, not an invocation. The venv sees the studio's packages after
            # its own (the scoring driver and Dask); a curated environment runs in the studio's interpreter.
            found = envs.python_for(resolved, log=self._b.path / "logs" / "environment-builds.log", serving=True)
            python = None if found == sys.executable else found
        compute = self._compute(deployment.compute, settings["instance_count"])
        models = self._b.service("models")
        root = Path(models.local_path(model.name, model.version))
        path = root
        if flavor == "mlflow":
            found = self._b.store.get_asset("model", model.name, int(str(model.version)))
            sub = found[1].get("mlflow_subpath") if found else None
            path = root / sub if sub else root
        if script is not None:
            code_snapshot.snapshot_code(Path(script[0]), staging / "code", replace=True)
        scoring = {
            "endpoint": endpoint, "deployment": name, "kind": "model",
            "model": {"name": model.name, "version": str(model.version), "path": str(path), "flavor": flavor,
                      # the columns the files must have, checked against the first file's header at each invocation
                      "input_columns": scoring_worker.model_input_columns(str(path))
                      if flavor == "mlflow" and script is None else None},
            "code_dir": str(final / "code") if script else None, "scoring_script": script[1] if script else None,
            "settings": settings, "compute": compute, "environment": env_ref, "python": python,
        }
        return {"model": f"azureml:{model.name}:{model.version}",
                "code": script[0] if script else None, "scoring_script": script[1] if script else None,
                "environment": env_ref, "compute": deployment.compute, "settings": settings, "scoring": scoring}

    def _pipeline_spec(self, deployment: PipelineComponentBatchDeployment) -> dict[str, Any]:
        given = deployment.component
        components = self._b.service("components")
        if isinstance(given, PipelineComponent):
            component = given if given.name and given.version and _registered(components, given) else \
                components.create_or_update(given)
        elif isinstance(given, str):
            ref = given.removeprefix("azureml:")
            comp_name, _, version = ref.partition("@") if "@" in ref else ref.partition(":")
            component = components.get(comp_name, None if version in ("", "latest") else version)
        else:
            raise InvalidInput("A PipelineComponentBatchDeployment needs component=: a PipelineComponent (a "
                               "@dsl.pipeline job's .component) or 'azureml:NAME:VERSION' of a registered one.")
        if not isinstance(component, PipelineComponent):
            raise InvalidInput(f"The component {component.name}:{component.version} is a {component.type} component; a "
                               "pipeline component deployment runs a pipeline component. Use a ModelBatchDeployment "
                               "to score with a model.")
        settings = {str(k): str(v) for k, v in (deployment.settings or {}).items()}
        if settings.get("default_compute"):
            self._b.service("jobs")._check_compute(settings["default_compute"])
        if settings.get("default_datastore"):
            self._b.service("datastores").get(settings["default_datastore"])
        return {"component": {"name": component.name, "version": str(component.version)},
                "settings": settings}

    def get(self, name: str, endpoint_name: str) -> BatchDeployment:
        return self._entity(self._require(endpoint_name, name))

    def list(self, endpoint_name: str) -> builtins.list[BatchDeployment]:
        self._endpoints._require(endpoint_name)
        return [self._entity(r) for r in self._endpoints._deployment_rows(endpoint_name)]

    def begin_delete(self, name: str, endpoint_name: str) -> Poller[str]:
        """Delete a deployment; the default one cannot go while others remain (set another default first)."""
        self._require(endpoint_name, name)
        endpoint = self._endpoints._require(endpoint_name)
        others = [r.name for r in self._endpoints._deployment_rows(endpoint_name) if r.name != name]
        if endpoint.default_deployment == name and others:
            raise Conflict(f"The deployment {name!r} is the default of the batch endpoint {endpoint_name!r}. Make another "
                           f"the default first (defaults.deployment_name, one of {', '.join(others)}), then delete it.")
        with self._b.store.engine.begin() as conn:
            conn.execute(deployments_table.delete().where(
                deployments_table.c.endpoint_name == endpoint_name, deployments_table.c.name == name))
            conn.execute(endpoints_table.update().where(
                endpoints_table.c.name == endpoint_name, endpoints_table.c.default_deployment == name).values(
                default_deployment=None, updated_at=now()))
        shutil.rmtree(deployment_dir(self._b.path, endpoint_name, name), ignore_errors=True)
        return DonePoller(name)

    def list_jobs(self, endpoint_name: str, *, name: str | None = None) -> builtins.list[Job]:
        """The jobs of deployment ``name`` (all the endpoint's when None), newest first."""
        if name is not None:
            self._require(endpoint_name, name)
        else:
            self._endpoints._require(endpoint_name)
        return _jobs_tagged(self._b, endpoint_name, name)

    # -- helpers ------------------------------------------------------------------------------------
    def _resolve_model(self, model: Model | str | None) -> Model:
        if model is None:
            raise InvalidInput("A ModelBatchDeployment needs model=: a Model or 'azureml:NAME:VERSION'.")
        found = self._b.service("online_deployments")._resolve_model(model)  # the same references as online
        assert found is not None
        return found


    def _compute(self, compute: str | None, instance_count: int) -> dict[str, Any]:
        name = self._b.service("jobs")._check_compute(compute or "local")
        if name == "local":
            return {"name": "local", "kind": "local", "scheduler_address": None, "max_instances": 1}
        target = self._b.service("compute").get(name)
        kind = {"amlcompute": "cluster", "attached": "attached"}.get(str(target.type), "local")
        max_instances = target.max_nodes or instance_count
        if kind == "cluster" and instance_count > max_instances:
            raise InvalidInput(f"settings.instance_count {instance_count} is more than the compute {name!r} has "
                               f"(max_instances {max_instances}). Lower it, or scale the cluster up.")
        return {"name": name, "kind": kind, "scheduler_address": target.scheduler_address,
                "max_instances": max_instances}

    def _row(self, endpoint: str, name: str) -> Any:
        with self._b.store.engine.connect() as conn:
            return conn.execute(sa.select(deployments_table).where(
                deployments_table.c.endpoint_name == endpoint, deployments_table.c.name == name)).first()

    def _require(self, endpoint: str, name: str) -> Any:
        row = self._row(endpoint, name)
        if row is None:
            self._endpoints._require(endpoint)
            known = [r.name for r in self._endpoints._deployment_rows(endpoint)]
            raise NotFound(f"The batch endpoint {endpoint!r} has no deployment {name!r}. Its deployments: "
                           f"{', '.join(known) or 'none'}.")
        return row

    def _entity(self, row: Any) -> BatchDeployment:
        spec = json.loads(row.spec)
        common: dict[str, Any] = {
            "name": row.name, "endpoint_name": row.endpoint_name, "description": spec.get("description"),
            "tags": spec.get("tags") or {}, "properties": spec.get("properties") or {},
            "provisioning_state": ProvisioningState(row.provisioning_state),
            "creation_time": to_datetime(row.created_at)}
        if row.type == "pipeline":
            comp = spec["component"]
            return PipelineComponentBatchDeployment(component=f"azureml:{comp['name']}:{comp['version']}",
                                                    settings=dict(spec.get("settings") or {}), **common)
        s = dict(spec["settings"])
        settings = ModelBatchDeploymentSettings(
            instance_count=s["instance_count"], max_concurrency_per_instance=s["max_concurrency_per_instance"],
            mini_batch_size=s["mini_batch_size"], output_action=BatchDeploymentOutputAction(s["output_action"]),
            output_file_name=s["output_file_name"],
            retry_settings=BatchRetrySettings(max_retries=s["max_retries"], timeout=s["timeout"]),
            error_threshold=s["error_threshold"], logging_level=s["logging_level"],
            environment_variables=dict(s["environment_variables"]))
        code = CodeConfiguration(code=spec["code"], scoring_script=spec["scoring_script"]) \
            if spec.get("scoring_script") else None
        return ModelBatchDeployment(model=spec["model"], code_configuration=code, environment=spec.get("environment"),
                                    compute=spec.get("compute"), settings=settings, **common)


# -- checks ---------------------------------------------------------------------------------------------
def _check_columns(path: Path, columns: builtins.list[str]) -> None:
    """Refuse input whose first file lacks ``columns`` (read from its header row or Parquet schema)."""
    try:
        found = scoring_worker.first_file_columns(path)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"The input {path} cannot be read as CSV or Parquet: {exc}") from exc
    if found is None:
        return  # no CSV or Parquet file: the driver says what it cannot read
    first, have = found
    missing = [c for c in columns if c not in have]
    if missing:
        raise InvalidInput(f"The input file {first} lacks the model's input columns {missing}: the model needs "
                           f"{columns} and the file has {have}. Give files with these columns, or deploy the model "
                           "with a scoring script that prepares them.")


def _whole(value: Any, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidInput(f"{what} must be a whole number of at least {low}. Got {value!r} instead.")
    return value


def _check_settings(settings: ModelBatchDeploymentSettings | None) -> dict[str, Any]:
    """The settings as the scoring spec keeps them (flat), each checked."""
    s = settings or ModelBatchDeploymentSettings()
    retry = s.retry_settings or BatchRetrySettings()
    try:
        action = BatchDeploymentOutputAction(str(s.output_action).lower())
    except ValueError:
        raise InvalidInput(f"settings.output_action must be 'append_row' or 'summary_only'. Got {s.output_action!r} "
                           "instead.") from None
    file_name = str(s.output_file_name or "predictions.csv")
    if "/" in file_name or "\\" in file_name or file_name in (".", "..") or not file_name.strip():
        raise InvalidInput(f"settings.output_file_name must be a file name, not a path. Got {file_name!r} instead.")
    level = str(s.logging_level or "info").lower()
    if level not in _LOGGING_LEVELS:
        raise InvalidInput(f"settings.logging_level must be one of {', '.join(_LOGGING_LEVELS)}. Got "
                           f"{s.logging_level!r} instead.")
    threshold = s.error_threshold
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < -1:
        raise InvalidInput(f"settings.error_threshold must be -1 (never fail) or a whole number of failed items "
                           f"(0 or more). Got {threshold!r} instead.")
    env = {}
    for key, value in (s.environment_variables or {}).items():
        if not isinstance(key, str) or not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise InvalidInput(f"The environment variable name {key!r} is not valid.")
        env[key] = str(value)
    return {
        "instance_count": _whole(s.instance_count, "settings.instance_count", 1),
        "max_concurrency_per_instance": _whole(s.max_concurrency_per_instance,
                                               "settings.max_concurrency_per_instance", 1),
        "mini_batch_size": _whole(s.mini_batch_size, "settings.mini_batch_size (files or rows per run() call)", 1),
        "output_action": action.value, "output_file_name": file_name,
        "max_retries": _whole(retry.max_retries, "settings.retry_settings.max_retries", 0),
        "timeout": _whole(retry.timeout, "settings.retry_settings.timeout (seconds)", 1),
        "error_threshold": threshold, "logging_level": level, "environment_variables": env,
    }


def _check_code(code: CodeConfiguration | None) -> tuple[str, str] | None:
    """(code folder, scoring script) once the folder holds the script and the script defines ``init()`` and
    ``run(mini_batch)`` (read with ``ast``: nothing of the user's runs here)."""
    if code is None:
        return None
    from studio_ext.backends.local.batch.scoring import ScoringScriptError, check_scoring_script
    from studio_ext.backends.local.endpoints.service import LocalOnlineDeployments

    found = LocalOnlineDeployments._check_code(code)  # the folder exists and holds the script
    assert found is not None
    try:
        check_scoring_script(Path(found[0]) / found[1])
    except ScoringScriptError as exc:
        raise InvalidInput(str(exc)) from None
    return found


_OVERRIDABLE = {
    "mini_batch_size": ("mini_batch_size", 1), "error_threshold": ("error_threshold", -1),
    "output_file_name": ("output_file_name", None), "logging_level": ("logging_level", None),
    "max_concurrency_per_instance": ("max_concurrency_per_instance", 1),
    "retry_settings.max_retries": ("max_retries", 0), "retry_settings.timeout": ("timeout", 1),
    "compute.instance_count": ("instance_count", 1), "resources.instance_count": ("instance_count", 1),
    "instance_count": ("instance_count", 1),
}


def _override(spec: dict[str, Any], params_override: builtins.list[dict[str, Any]]) -> dict[str, Any]:
    """The scoring spec with ``params_override`` (Azure's list of one-key dicts) applied, each checked."""
    spec = copy.deepcopy(spec)
    flat: dict[str, Any] = {}
    for item in params_override:
        if not isinstance(item, dict):
            raise InvalidInput(f"params_override is a list of dicts, as [{{'mini_batch_size': 5}}]; got {item!r}.")
        for key, value in item.items():
            if key == "retry_settings" and isinstance(value, dict):
                flat.update({f"retry_settings.{k}": v for k, v in value.items()})
            else:
                flat[key] = value
    for key, value in flat.items():
        if key not in _OVERRIDABLE:
            raise InvalidInput(f"params_override {key!r} is not a setting an invocation can change. It can change: "
                               f"{', '.join(sorted(_OVERRIDABLE))}.")
        field, low = _OVERRIDABLE[key]
        if low is not None:
            if isinstance(value, str) and value.lstrip("-").isdigit():
                value = int(value)
            value = _whole(value, f"params_override {key}", low)
        elif field == "output_file_name" and ("/" in str(value) or "\\" in str(value)):
            raise InvalidInput(f"params_override output_file_name must be a file name. Got {value!r} instead.")
        spec["settings"][field] = value
    if spec["compute"]["kind"] == "cluster" and spec["settings"]["instance_count"] > spec["compute"]["max_instances"]:
        raise InvalidInput(f"instance_count {spec['settings']['instance_count']} is more than the compute "
                           f"{spec['compute']['name']!r} has (max_instances {spec['compute']['max_instances']}).")
    return spec


def _local_port(value: Any) -> Any:
    """azure-ai-ml's ``Input`` / ``Output`` as studio_ext's (same fields); anything else as it is."""
    from studio_ext.translation import is_azure

    if not is_azure(value):
        return value
    kind = str(getattr(value, "type", None) or "uri_folder")
    path = getattr(value, "path", None)
    path = str(path) if path is not None else None
    if type(value).__name__ == "Input":
        return Input(type=kind, path=path, default=getattr(value, "default", None),
                     optional=bool(getattr(value, "optional", False)), mode=getattr(value, "mode", None) or "ro_mount")
    if type(value).__name__ == "Output":
        version = getattr(value, "version", None)
        return Output(type=kind, path=path, mode=getattr(value, "mode", None) or "rw_mount",
                      name=getattr(value, "name", None), version=None if version is None else str(version))
    return value


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def _registered(components: Any, component: PipelineComponent) -> bool:
    try:
        components.get(component.name, component.version)
        return True
    except NotFound:
        return False


def _swap_in(staging: Path, final: Path) -> None:
    """Put the staged deployment folder in place of ``final`` (the old one removed after)."""
    old = final.with_name(f".{final.name}.old.{uuid.uuid4().hex[:8]}") if final.exists() else None
    if old is not None:
        final.rename(old)
    staging.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _jobs_tagged(backend: LocalBackend, endpoint: str, deployment: str | None) -> builtins.list[Job]:
    found = []
    for job in backend.service("jobs").list(include_interactive=False):
        tags = job.tags or {}
        if tags.get(TAG_ENDPOINT) == endpoint and (deployment is None or tags.get(TAG_DEPLOYMENT) == deployment):
            found.append(job)
    return sorted(found, key=lambda j: j.creation_time.timestamp() if j.creation_time else 0.0, reverse=True)




