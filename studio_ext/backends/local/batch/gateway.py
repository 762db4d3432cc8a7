"""The batch endpoints' REST gateway: invoke a batch endpoint over HTTP with a key, poll its job.

One uvicorn process per workspace (started and kept alive by :class:`~.duty.BatchGatewayDuty`)
listens on 127.0.0.1 at a port recorded once in the workspace (store setting ``batch_gateway``)
and kept for good, so every batch endpoint's ``scoring_uri`` is stable from its creation:

- ``POST /endpoints/NAME/jobs`` with ``Authorization: Bearer KEY`` (the endpoint's primary or
  secondary key) and Azure's batch invoke body starts a job through ``ws.batch_endpoints.invoke``
  and answers 202 with the job (``name``, ``properties.status``) and the URL to poll (``Location``
  header and ``properties.statusUri``);
- ``GET /endpoints/NAME/jobs/JOB`` answers the job's status, outputs and progress;
- ``GET /endpoints/NAME/jobs`` lists the endpoint's jobs (``{"value": [...]}``), as Azure's list.

The body is Azure's (``BatchJobResource``), in either spelling Azure uses: the REST docs'
PascalCase or the camelCase azure-ai-ml sends (field names are matched without case)::

    {"properties": {
        "InputData": {"input_data": {"JobInputType": "UriFolder", "Uri": "azureml:diabetes-files@latest"},
                      "threshold": {"JobInputType": "Literal", "Value": 0.5}},
        "OutputData": {"score": {"JobOutputType": "UriFolder", "Uri": "azureml://datastores/workspaceblobstore/paths/out"}},
        "OutputFileName": "predictions.csv", "MiniBatchSize": 20, "ErrorThreshold": 5,
        "RetrySettings": {"MaxRetries": 2, "Timeout": "PT60S"}, "Compute": {"InstanceCount": 2},
        "Properties": {"experimentName": "nightly"}}}

The deployment is the ``azureml-model-deployment`` header (or ``properties.deploymentName``),
else the endpoint's default. Whatever is wrong gets a 4xx with a JSON error that names it:
401 without a valid key, 404 for an unknown endpoint, deployment or job, 415 for a body that is
not sent as JSON, 400 for one that does not parse or names an unknown field, input type or input,
or an endpoint with no default deployment (the invocation's checks are the service's: its
``StudioError`` is answered with its ``http_status``).

Agreed with the batch service (``service.py``): it computes ``BatchEndpoint.scoring_uri`` with
:func:`scoring_uri` and keeps each endpoint's keys at :func:`keys_path` (``batch/NAME/keys.json``,
written with ``serving.endpoint_files.write_private_json``; the gateway re-reads it when it
changes, so a regenerated key takes effect at the next request). The gateway calls
``invoke(name, deployment_name=, input=, inputs=, outputs=, params_override=, experiment_name=,
job_name=)`` (Azure's keywords; ``params_override`` entries are ``{"mini_batch_size": n}``,
``{"error_threshold": n}``, ``{"output_file_name": s}``, ``{"retry_settings": {"max_retries": n,
"timeout": s}}``, ``{"compute.instance_count": n}``; literal inputs are ``Input(type="integer", default=5)``;
``job_name`` is how a schedule's slot names its job). The Consume tab's snippets are
:func:`endpoint_snippets` (``backend, name``), to expose as ``ws.batch_endpoints.consume_snippets(name)
-> dict[str, str]`` (keys "curl", "Python (requests)", "azure-ai-ml").
The gateway runs while the supervisor does: creating a batch endpoint should start it
(``backend.ensure_supervisor()``, as an online endpoint's create does), so its URI answers at once.

The same body is what a schedule stores to invoke an endpoint at each slot (Azure's
``InvokeBatchEndpoint`` schedule action), and the Consume tab's snippets are made here
(:func:`consume_snippets`).

``python -m studio_ext.backends.local.batch.gateway WORKSPACE --fd N`` serves the inherited
socket; it exits once the workspace's supervisor has been gone ``STUDIO_EXT_SERVER_ORPHAN_EXIT``
seconds (600) or the workspace folder is gone.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio_ext.entities import Input, Output
from studio_ext.errors import InvalidInput, NotFound, StudioError

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend
    from studio_ext.entities import BatchEndpoint, Job

log = logging.getLogger("studio_ext.batch.gateway")
HOST = "127.0.0.1"
SETTING = "batch_gateway"  # {"port": int, "pid": int, "pid_start": float}
DEPLOYMENT_HEADER = "azureml-model-deployment"
JOB_TYPE = "Microsoft.MachineLearningServices/workspaces/batchEndpoints/jobs"
ORPHAN_EXIT_SECONDS = float(os.environ.get("STUDIO_EXT_SERVER_ORPHAN_EXIT", "600"))
SUPERVISOR_CHECK_SECONDS = 5.0
TAG_ENDPOINT = "azureml.batch_endpoint"
TAG_DEPLOYMENT = "azureml.batch_deployment"

# -- where things are -----------------------------------------------------------------------------


def keys_path(workspace: Path, endpoint: str) -> Path:
    """Where a batch endpoint's keys are kept (mode 0600, in a 0700 folder)."""
    return Path(workspace) / "batch" / endpoint / "keys.json"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def gateway_port(backend: LocalBackend) -> int:
    """The workspace's gateway port: recorded on first call and kept (the duty binds it)."""
    record = backend.store.get_setting(SETTING) or {}
    if record.get("port"):
        return int(record["port"])
    backend.store.set_setting(SETTING, {**record, "port": _free_port()})
    return int((backend.store.get_setting(SETTING) or {})["port"])


def base_url(backend: LocalBackend) -> str:
    return f"http://{HOST}:{gateway_port(backend)}"


def scoring_uri(backend: LocalBackend, endpoint_name: str) -> str:
    """A batch endpoint's invocation URI: ``http://127.0.0.1:PORT/endpoints/NAME/jobs``."""
    return f"{base_url(backend)}/endpoints/{endpoint_name}/jobs"


# -- the body -------------------------------------------------------------------------------------

# Azure's jobInputType / jobOutputType names (and v2 YAML's) -> v2 types.
_DATA_TYPES = {"urifolder": "uri_folder", "urifile": "uri_file", "mltable": "mltable", "customodel": "custom_model",
               "custommodel": "custom_model", "mlflowmodel": "mlflow_model", "tritonmodel": "triton_model"}
_WIRE_TYPES = {"uri_folder": "UriFolder", "uri_file": "UriFile", "mltable": "MLTable", "custom_model": "CustomModel",
               "mlflow_model": "MLFlowModel", "triton_model": "TritonModel"}
_LITERAL_TYPES = ("string", "integer", "number", "boolean")
_PROPERTY_FIELDS = ("inputData", "outputData", "outputDataset", "outputFileName", "miniBatchSize", "errorThreshold",
                    "retrySettings", "compute", "name", "properties", "deploymentName")
_LEGACY_SINGLE = ("urifolder", "urifile")  # azure-ai-ml's invoke(input=...) sends {"UriFolder": {...}}
_ISO_SECONDS = re.compile(r"^P(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)$", re.I)


def _fold(name: str) -> str:
    return name.replace("_", "").lower()


def _fields(mapping: dict[str, Any], known: tuple[str, ...], where: str) -> dict[str, Any]:
    """``mapping``'s entries under their canonical names (matched without case or '_'); unknown ones refused."""
    canon = {_fold(k): k for k in known}
    out: dict[str, Any] = {}
    unknown = []
    for key, value in mapping.items():
        name = canon.get(_fold(str(key)))
        if name is None:
            unknown.append(str(key))
        else:
            out[name] = value
    if unknown:
        raise InvalidInput(f"{where} has no field {', '.join(repr(u) for u in unknown)}; it takes "
                           f"{', '.join(known)} (Azure's batch invoke body; names match in any case).")
    return out


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} must be a JSON object. Got {json.dumps(value)[:80]} instead.")
    return value


@dataclass(kw_only=True)
class Invocation:
    """What a batch invoke body asks for: the keyword arguments of ``ws.batch_endpoints.invoke``."""

    deployment_name: str | None = None
    input: Input | None = None
    inputs: dict[str, Input] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)
    params_override: list[dict[str, Any]] = field(default_factory=list)
    experiment_name: str | None = None
    job_name: str | None = None

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"deployment_name": self.deployment_name}
        if self.input is not None:
            out["input"] = self.input
        if self.inputs:
            out["inputs"] = dict(self.inputs)
        if self.outputs:
            out["outputs"] = dict(self.outputs)
        if self.params_override:
            out["params_override"] = list(self.params_override)
        if self.experiment_name:
            out["experiment_name"] = self.experiment_name
        if self.job_name:
            out["job_name"] = self.job_name
        return out


def _literal(value: Any) -> Input:
    kind = ("boolean" if isinstance(value, bool) else "integer" if isinstance(value, int)
            else "number" if isinstance(value, float) else "string")
    return Input(type=kind, default=value)


def _check_uri(uri: Any, where: str) -> str:
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidInput(f"{where} has no Uri: give a data asset ('azureml:NAME@latest'), a datastore path "
                           "('azureml://datastores/NAME/paths/PATH'), a job output, an http(s) URL or an absolute path.")
    uri = uri.strip()
    if "://" not in uri and not uri.startswith(("azureml:", "/", "file:")):
        raise InvalidInput(f"{where} has the relative path {uri!r}; over REST a local path must be absolute "
                           "(the gateway does not share the caller's working folder).")
    return uri


def _input(name: str, spec: Any) -> Input:
    where = f"properties.InputData[{name!r}]"
    spec = _fields(_object(spec, where), ("jobInputType", "uri", "value", "mode", "description"), where)
    kind = spec.get("jobInputType")
    if not isinstance(kind, str):
        raise InvalidInput(f"{where} has no JobInputType: give one of Literal, {', '.join(_WIRE_TYPES.values())}.")
    if _fold(kind) == "literal" or _fold(kind) in _LITERAL_TYPES:
        if "value" not in spec:
            raise InvalidInput(f"{where} is a Literal input with no Value.")
        value = spec["value"]
        return Input(type=_fold(kind), default=value) if _fold(kind) in _LITERAL_TYPES else _literal(value)
    v2 = _DATA_TYPES.get(_fold(kind))
    if v2 is None:
        raise InvalidInput(f"{where} has JobInputType {kind!r}, which is not one Azure knows; give one of Literal, "
                           f"{', '.join(_WIRE_TYPES.values())}.")
    made = Input(type=v2, path=_check_uri(spec.get("uri"), where))
    if spec.get("mode"):
        made.mode = str(spec["mode"])
    return made


def _output(name: str, spec: Any) -> Output:
    where = f"properties.OutputData[{name!r}]"
    spec = _fields(_object(spec, where), ("jobOutputType", "uri", "mode", "description"), where)
    kind = spec.get("jobOutputType") or "UriFolder"
    v2 = _DATA_TYPES.get(_fold(str(kind)))
    if v2 is None or v2 not in ("uri_folder", "uri_file"):
        raise InvalidInput(f"{where} has JobOutputType {kind!r}; a batch job's output is UriFolder or UriFile.")
    made = Output(type=v2, path=_check_uri(spec.get("uri"), where) if spec.get("uri") is not None else None)
    if spec.get("mode"):
        made.mode = str(spec["mode"])
    return made


def _seconds(value: Any, where: str) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    match = _ISO_SECONDS.match(str(value)) if isinstance(value, str) else None
    if not match or not any(match.groups()):
        raise InvalidInput(f"{where} must be seconds or an ISO 8601 duration such as 'PT30S'. Got {value!r}.")
    hours, minutes, seconds = (float(g or 0) for g in match.groups())
    return int(hours * 3600 + minutes * 60 + seconds)


def _whole(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{where} must be a whole number. Got {json.dumps(value)} instead.")
    return value


def parse_invocation(body: Any, *, deployment_header: str | None = None) -> Invocation:
    """The invocation an Azure batch invoke body asks for; ``InvalidInput`` naming what is wrong."""
    body = _object(body, "The request body")
    top = _fields(body, ("properties", "id", "name", "type"), "The request body")
    if "properties" not in top:
        raise InvalidInput("The request body has no 'properties': Azure's batch invoke body is "
                           '{"properties": {"InputData": {"NAME": {"JobInputType": "UriFolder", "Uri": "..."}}}}.')
    props = _fields(_object(top["properties"], "properties"), _PROPERTY_FIELDS, "properties")
    made = Invocation()
    for name, spec in _object(props.get("inputData") or {}, "properties.InputData").items():
        if _fold(name) in _LEGACY_SINGLE and len(props["inputData"]) == 1:
            made.input = _input(name, spec)
        else:
            made.inputs[name] = _input(name, spec)
    for name, spec in _object(props.get("outputData") or {}, "properties.OutputData").items():
        made.outputs[name] = _output(name, spec)
    if props.get("outputDataset") is not None:  # the older form: a datastore and a path for the scores
        dataset = _fields(_object(props["outputDataset"], "properties.OutputDataset"), ("datastoreId", "path"),
                          "properties.OutputDataset")
        store = str(dataset.get("datastoreId") or "workspaceblobstore").rstrip("/").rsplit("/", 1)[-1]
        path = str(dataset.get("path") or "").strip("/")
        made.outputs.setdefault("score", Output(type="uri_folder", path=f"azureml://datastores/{store}/paths/{path}"))
    if props.get("outputFileName") is not None:
        if not isinstance(props["outputFileName"], str) or not props["outputFileName"].strip():
            raise InvalidInput("properties.OutputFileName must be a file name such as 'predictions.csv'.")
        made.params_override.append({"output_file_name": props["outputFileName"].strip()})
    if props.get("miniBatchSize") is not None:
        made.params_override.append({"mini_batch_size": _whole(props["miniBatchSize"], "properties.MiniBatchSize")})
    if props.get("errorThreshold") is not None:
        made.params_override.append({"error_threshold": _whole(props["errorThreshold"], "properties.ErrorThreshold")})
    if props.get("retrySettings") is not None:
        retry = _fields(_object(props["retrySettings"], "properties.RetrySettings"), ("maxRetries", "timeout"),
                        "properties.RetrySettings")
        settings: dict[str, int] = {}
        if retry.get("maxRetries") is not None:
            settings["max_retries"] = _whole(retry["maxRetries"], "properties.RetrySettings.MaxRetries")
        if retry.get("timeout") is not None:
            settings["timeout"] = _seconds(retry["timeout"], "properties.RetrySettings.Timeout")
        made.params_override.append({"retry_settings": settings})
    if props.get("compute") is not None:
        compute = _fields(_object(props["compute"], "properties.Compute"), ("instanceCount", "target"),
                          "properties.Compute")
        if compute.get("instanceCount") is not None:
            made.params_override.append(
                {"compute.instance_count": _whole(compute["instanceCount"], "properties.Compute.InstanceCount")})
    if props.get("name") is not None:
        made.job_name = str(props["name"])
    extra = _object(props.get("properties") or {}, "properties.Properties")
    for key, value in extra.items():
        if _fold(str(key)) == "experimentname" and value:
            made.experiment_name = str(value)
    in_body = props.get("deploymentName")
    header = (deployment_header or "").strip() or None
    if in_body is not None and header is not None and str(in_body) != header:
        raise InvalidInput(f"The {DEPLOYMENT_HEADER} header names the deployment {header!r} and the body "
                           f"{in_body!r}; give one.")
    made.deployment_name = header or (str(in_body) if in_body else None)
    return made


def _input_wire(value: Any) -> dict[str, Any]:
    if not isinstance(value, Input):
        return {"JobInputType": "Literal", "Value": value}
    if value.type in _LITERAL_TYPES:
        return {"JobInputType": "Literal", "Value": value.default}
    wire = {"JobInputType": _WIRE_TYPES.get(value.type, value.type), "Uri": value.path}
    if value.mode and value.mode != "ro_mount":
        wire["Mode"] = value.mode
    return wire


def invocation_body(*, input: Input | None = None, inputs: dict[str, Any] | None = None,  # noqa: A002 (Azure's name)
                    outputs: dict[str, Output] | None = None, experiment_name: str | None = None,
                    deployment_name: str | None = None, job_name: str | None = None,
                    params_override: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Azure's batch invoke body (REST docs' spelling) for the arguments of ``ws.batch_endpoints.invoke``.

    A single ``input`` is written as azure-ai-ml writes it (keyed by its type), so
    :func:`parse_invocation` gives it back as ``input``.
    """
    props: dict[str, Any] = {}
    data: dict[str, Any] = {}
    if input is not None:
        data[_WIRE_TYPES.get(input.type, "UriFolder")] = _input_wire(input)
    for name, value in (inputs or {}).items():
        data[name] = _input_wire(value)
    if data:
        props["InputData"] = data
    if outputs:
        props["OutputData"] = {name: {"JobOutputType": _WIRE_TYPES.get(o.type, "UriFolder"),
                                      **({"Uri": o.path} if o.path else {})} for name, o in outputs.items()}
    wire_names = {"output_file_name": "OutputFileName", "mini_batch_size": "MiniBatchSize",
                  "error_threshold": "ErrorThreshold"}
    for override in params_override or []:
        for key, value in override.items():
            if key in wire_names:
                props[wire_names[key]] = value
            elif key == "retry_settings":
                props["RetrySettings"] = {{"max_retries": "MaxRetries", "timeout": "Timeout"}[k]: v
                                          for k, v in value.items()}
            elif key == "compute.instance_count":
                props["Compute"] = {"InstanceCount": value}
            else:
                raise InvalidInput(f"params_override key {key!r} has no place in a batch invoke body; it takes "
                                   f"{', '.join([*wire_names, 'retry_settings', 'compute.instance_count'])}.")
    if experiment_name:
        props["Properties"] = {"experimentName": experiment_name}
    if deployment_name:
        props["DeploymentName"] = deployment_name
    if job_name:
        props["Name"] = job_name
    return {"properties": props}


# -- the answer -----------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def job_resource(job: Job, endpoint: str, base: str) -> dict[str, Any]:
    """A batch job as Azure's ``BatchJobResource`` (azure-ai-ml's ``BatchJob._from_rest_object`` reads it)."""
    status_uri = f"{base.rstrip('/')}/endpoints/{endpoint}/jobs/{job.name}"
    outputs: dict[str, Any] = {}
    for name, out in (getattr(job, "outputs", None) or {}).items():
        path = getattr(out, "path", None)
        kind = getattr(out, "type", "uri_folder")
        outputs[name] = {"jobOutputType": _WIRE_TYPES.get(kind, "UriFolder"),
                         "uri": path if path and str(path).startswith("azureml:") else
                         f"azureml://jobs/{job.name}/outputs/{name}"}
    status = str(job.status.value if hasattr(job.status, "value") else job.status)
    props: dict[str, Any] = {
        "status": status, "endpointName": endpoint, "deploymentName": job.tags.get(TAG_DEPLOYMENT),
        "experimentName": job.experiment_name, "displayName": job.display_name,
        "creationTime": _iso(job.creation_time), "startTime": _iso(job.start_time), "endTime": _iso(job.end_time),
        "outputData": outputs, "metrics": dict(job.metrics), "statusUri": status_uri, "studioUrl": job.studio_url,
    }
    if job.error:
        props["error"] = {"message": job.error}
    return {"id": f"/endpoints/{endpoint}/jobs/{job.name}", "name": job.name, "type": JOB_TYPE, "properties": props}


# -- the snippets ---------------------------------------------------------------------------------


def sample_inputs(deployment: Any, component: Any = None) -> dict[str, Input]:
    """Placeholder inputs for a deployment's snippets: a folder for a model deployment, the inputs of
    ``component`` (the pipeline component deployment's, resolved; by default its ``component`` if that is
    not a reference) with their defaults for a pipeline one."""
    if component is None:
        component = getattr(deployment, "component", None)
    declared = getattr(component, "inputs", None) if getattr(deployment, "type", "model") == "pipeline" else None
    if declared is not None:
        out: dict[str, Input] = {}
        for name, spec in declared.items():
            kind = getattr(spec, "type", "uri_folder")
            if kind in _LITERAL_TYPES:
                default = getattr(spec, "default", None)
                out[name] = Input(type=kind, default=default if default is not None else
                                  {"string": "value", "integer": 1, "number": 1.0, "boolean": True}[kind])
            else:
                out[name] = Input(type=kind, path="azureml:YOUR-DATA@latest")
        return out
    return {"input_data": Input(type="uri_folder", path="azureml:YOUR-DATA@latest")}


def endpoint_snippets(backend: LocalBackend, name: str) -> dict[str, str]:
    """The Consume tab's snippets for batch endpoint ``name`` (``ws.batch_endpoints.consume_snippets``):
    its URI, and the inputs of its default deployment (a folder when it has none)."""
    endpoint = backend.service("batch_endpoints").get(name)
    deployment, component = None, None
    if endpoint.defaults.deployment_name:
        deployment = backend.service("batch_deployments").get(endpoint.defaults.deployment_name, name)
        ref = getattr(deployment, "component", None)
        if isinstance(ref, str):
            comp_name, _, version = ref.removeprefix("azureml:").partition(":")
            component = backend.service("components").get(comp_name, version or None)
        else:
            component = ref
    return consume_snippets(endpoint, inputs=sample_inputs(deployment, component), preamble=backend.sdk_preamble())


def _py_input(value: Input) -> str:
    if value.type in _LITERAL_TYPES:
        return f"Input(type={value.type!r}, default={value.default!r})"
    return f"Input(type={value.type!r}, path={value.path!r})"


def consume_snippets(endpoint: BatchEndpoint, *, inputs: dict[str, Input], preamble: str) -> dict[str, str]:
    """Client code that invokes ``endpoint`` with ``inputs``: curl, Python ``requests`` and azure-ai-ml.

    The key is read from ``$BATCH_ENDPOINT_KEY``; ``preamble`` (``ws.sdk_preamble()``) opens the
    workspace for the SDK snippet.
    """
    uri = endpoint.scoring_uri or f"http://{HOST}:PORT/endpoints/{endpoint.name}/jobs"
    body = invocation_body(inputs=inputs)
    pretty = json.dumps(body, indent=2)
    curl = (f"curl -s -X POST {uri} \\\n  -H \"Authorization: Bearer $BATCH_ENDPOINT_KEY\" \\\n"
            f"  -H 'Content-Type: application/json' \\\n  -d '{json.dumps(body)}'\n"
            "# The answer (202) names the job; poll the URL in its Location header with the same key:\n"
            f"curl -s {uri}/JOB_NAME -H \"Authorization: Bearer $BATCH_ENDPOINT_KEY\"\n")
    python = (
        "import os, time, requests\n\n"
        f"url = {uri!r}\n"
        "headers = {'Authorization': 'Bearer ' + os.environ['BATCH_ENDPOINT_KEY']}\n"
        f"body = {pretty}\n"
        "answer = requests.post(url, json=body, headers=headers, timeout=60)\n"
        "answer.raise_for_status()  # 202: the job was created\n"
        "job = answer.json()\n"
        "while job['properties']['status'] not in ('Completed', 'Failed', 'Canceled'):\n"
        "    time.sleep(5)\n"
        "    job = requests.get(answer.headers['Location'], headers=headers, timeout=30).json()\n"
        "print(job['name'], job['properties']['status'], job['properties']['outputData'])\n")
    args = ", ".join(f"{name!r}: {_py_input(value)}" for name, value in inputs.items())
    sdk = (
        "from azure.ai.ml import Input\n"
        "# On Azure: ml_client = MLClient.from_config(DefaultAzureCredential()), then the same calls on ml_client.\n"
        f"{preamble}\n"
        f"job = ws.batch_endpoints.invoke(endpoint_name={endpoint.name!r}, inputs={{{args}}})\n"
        "ws.jobs.stream(job.name)\n"
        "ws.jobs.download(job.name, output_name='score', download_path='.')\n")
    return {"curl": curl, "Python (requests)": python, "azure-ai-ml": sdk}


# -- the server -----------------------------------------------------------------------------------


def _error(status: int, exc: StudioError | str) -> Any:
    from starlette.responses import JSONResponse

    message = exc.message if isinstance(exc, StudioError) else exc
    code = type(exc).__name__ if isinstance(exc, StudioError) else {401: "Unauthorized", 415: "UnsupportedMediaType"}.get(
        status, "BadRequest")
    headers = {"WWW-Authenticate": 'Bearer realm="batch endpoint"'} if status == 401 else None
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


class Gateway:
    """The app: one per workspace, the batch service of its backend behind it."""

    def __init__(self, backend: LocalBackend) -> None:
        from studio_ext.serving.endpoint_files import KeyChecker

        self._b = backend
        self._keys: dict[str, KeyChecker] = {}
        self._invoke_lock = threading.Lock()  # one invocation at a time: job creation is quick, and serialized

    def warm(self) -> None:
        """Load the services (and MLflow) once, before requests can race to import them from threads."""
        from studio_ext.backends.local.core import tracking

        tracking.client(self._b.tracking_uri).search_experiments(max_results=1)
        self._b.service("batch_endpoints").list()
        self._b.service("jobs")

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.routing import Route

        return Starlette(routes=[
            Route("/health", self.health, methods=["GET"]),
            Route("/endpoints/{name}/jobs", self.invoke, methods=["POST"]),
            Route("/endpoints/{name}/jobs", self.list_jobs, methods=["GET"]),
            Route("/endpoints/{name}/jobs/{job}", self.get_job, methods=["GET"]),
        ])

    async def health(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse({"status": "ok", "pid": os.getpid()})

    def _authorize(self, name: str, request: Any) -> Any:
        """None if the endpoint exists and the key is one of its two; else the error answer."""
        from studio_ext.serving.endpoint_files import KeyChecker

        try:
            self._b.service("batch_endpoints").get(name)
        except StudioError as exc:
            return _error(exc.http_status, exc)
        checker = self._keys.get(name)
        if checker is None:
            checker = self._keys[name] = KeyChecker(keys_path(self._b.path, name))
        header = request.headers.get("authorization")
        if not checker.check(header.encode() if header else None):
            why = "no Authorization header" if not header else "a key that is not one of its keys"
            return _error(401, f"The request to batch endpoint {name!r} has {why}. Send 'Authorization: Bearer KEY' "
                               "with its primary or secondary key (ws.batch_endpoints.get_keys(name)).")
        return None

    async def _answer(self, request: Any, work: Any) -> Any:
        """Check the endpoint and the key, then ``await work(name)``; a StudioError becomes its JSON error."""
        from starlette.concurrency import run_in_threadpool

        name = request.path_params["name"]
        denied = await run_in_threadpool(self._authorize, name, request)
        if denied is not None:
            return denied
        try:
            return await work(name)
        except StudioError as exc:
            return _error(exc.http_status, exc)

    async def invoke(self, request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import JSONResponse

        async def start(name: str) -> Any:
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "application/json" and not kind.endswith("+json"):
                return _error(415, f"The request body must be sent as JSON (Content-Type: application/json). "
                                   f"Got {kind or 'no Content-Type'}.")
            try:
                body = json.loads(await request.body())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                return _error(400, f"The request body is not JSON ({exc}). Send Azure's batch invoke body: "
                                   '{"properties": {"InputData": {...}}}.')
            invocation = parse_invocation(body, deployment_header=request.headers.get(DEPLOYMENT_HEADER))
            job = await run_in_threadpool(self._invoke, name, invocation)
            resource = job_resource(job, name, str(request.base_url))
            return JSONResponse(resource, status_code=202, headers={"Location": resource["properties"]["statusUri"]})

        return await self._answer(request, start)

    def _invoke(self, name: str, invocation: Invocation) -> Job:
        with self._invoke_lock:
            return self._b.service("batch_endpoints").invoke(name, **invocation.kwargs())

    async def get_job(self, request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import JSONResponse

        async def read(name: str) -> Any:
            job = await run_in_threadpool(self._job, name, request.path_params["job"])
            return JSONResponse(job_resource(job, name, str(request.base_url)))

        return await self._answer(request, read)

    def _job(self, name: str, job_name: str) -> Job:
        try:
            job = self._b.service("jobs").get(job_name)
        except NotFound:
            job = None
        if job is None or job.tags.get(TAG_ENDPOINT) != name:
            raise NotFound(f"Batch endpoint {name!r} has no job named {job_name!r}; GET "
                           f"/endpoints/{name}/jobs lists its jobs.")
        return job

    async def list_jobs(self, request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import JSONResponse

        async def listed(name: str) -> Any:
            jobs = await run_in_threadpool(self._b.service("batch_endpoints").list_jobs, name)
            return JSONResponse({"value": [job_resource(j, name, str(request.base_url)) for j in jobs]})

        return await self._answer(request, listed)


def _watch_supervisor(workspace: Path, server: Any) -> None:
    """End the server once the supervisor has been gone ORPHAN_EXIT_SECONDS, or the workspace folder is gone."""
    from studio_ext.backends.local.runtime import supervisor
    from studio_ext.serving.endpoint_files import workspace_identity

    identity = workspace_identity(workspace)
    gone_since: float | None = None
    while True:
        time.sleep(min(SUPERVISOR_CHECK_SECONDS, ORPHAN_EXIT_SECONDS / 2))
        if identity is None or workspace_identity(workspace) != identity:
            log.info("the workspace folder %s is gone: exiting", workspace)
            break
        if supervisor.is_running(workspace):
            gone_since = None
        elif gone_since is None:
            gone_since = time.monotonic()
        elif time.monotonic() - gone_since > ORPHAN_EXIT_SECONDS:
            log.info("no supervisor for %.0f s: exiting", ORPHAN_EXIT_SECONDS)
            break
    server.should_exit = True


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from studio_ext.backends.local import LocalBackend

    argv = sys.argv[1:] if argv is None else argv
    workspace = Path(argv[0])
    fd = int(argv[argv.index("--fd") + 1])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sock = socket.socket(fileno=fd)
    gateway = Gateway(LocalBackend.from_folder(workspace))
    gateway.warm()
    server = uvicorn.Server(uvicorn.Config(gateway.app(), log_level="warning", access_log=False, lifespan="off",
                                           timeout_keep_alive=30))
    threading.Thread(target=_watch_supervisor, args=(workspace, server), name="orphan-watch", daemon=True).start()
    log.info("batch gateway for %s serving on port %s (pid %s)", workspace, sock.getsockname()[1], os.getpid())
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
