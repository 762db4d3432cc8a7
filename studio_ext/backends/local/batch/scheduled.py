"""A schedule that invokes a batch endpoint (Azure's ``InvokeBatchEndpoint`` schedule action).

``JobSchedule(create_job=BatchEndpointInvocation(...))`` is checked when the schedule is made
(the endpoint exists; the deployment named exists, or the endpoint has a default; the inputs
and outputs make a valid invoke body) and stored as the action ``invoke_batch_endpoint`` whose
``definition`` is Azure's batch invoke body, the one the REST gateway takes. Each slot the
schedules duty reaches parses it with the gateway's parser and calls
``ws.batch_endpoints.invoke`` with the slot's job name, so a slot has one job and a restart
finds it by name.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio_ext.backends.local.batch import gateway
from studio_ext.entities import BatchEndpointInvocation, Input, Output
from studio_ext.errors import Conflict, InvalidInput, NotFound

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

KIND = "invoke_batch_endpoint"


def _absolute(value: Any) -> Any:
    """A local relative path made absolute now (the schedule fires from the supervisor's folder)."""
    if isinstance(value, (Input, Output)) and value.path and "://" not in value.path and \
            not value.path.startswith(("azureml:", "/", "file:")):
        return replace(value, path=str(Path(value.path).expanduser().resolve()))
    return value


def action(backend: LocalBackend, schedule: str, invocation: BatchEndpointInvocation) -> dict[str, Any]:
    """The stored action for ``invocation``, checked; ``InvalidInput`` naming what is wrong."""
    endpoint = invocation.endpoint_name
    try:
        found = backend.service("batch_endpoints").get(endpoint)
    except NotFound:
        raise InvalidInput(f"The schedule {schedule!r} invokes the batch endpoint {endpoint!r}, which does not exist. "
                           "Create it first (ws.batch_endpoints.begin_create_or_update).") from None
    deployment = invocation.deployment_name or found.defaults.deployment_name
    if deployment is None:
        raise InvalidInput(f"The schedule {schedule!r} invokes the batch endpoint {endpoint!r}, which has no default "
                           "deployment; name one (deployment_name=) or create a deployment first.")
    try:
        backend.service("batch_deployments").get(deployment, endpoint)
    except NotFound:
        raise InvalidInput(f"The schedule {schedule!r} invokes deployment {deployment!r} of the batch endpoint "
                           f"{endpoint!r}, which has no such deployment.") from None
    single = _absolute(invocation.input)
    if single is not None and not isinstance(single, Input):
        single = Input(type="uri_folder", path=str(single))
    body = gateway.invocation_body(
        input=single, inputs={k: _absolute(v) for k, v in invocation.inputs.items()},
        outputs={k: _absolute(v) for k, v in invocation.outputs.items()}, experiment_name=invocation.experiment_name,
        deployment_name=invocation.deployment_name, params_override=list(invocation.params_override))
    gateway.parse_invocation(body)  # what the fire will read back
    return {"kind": KIND, "endpoint_name": endpoint, "definition": body}


def invocation(action: dict[str, Any]) -> BatchEndpointInvocation:
    """The invocation a stored action makes (what ``ws.schedules.get`` shows as ``create_job``)."""
    parsed = gateway.parse_invocation(action["definition"])
    return BatchEndpointInvocation(
        endpoint_name=action["endpoint_name"], deployment_name=parsed.deployment_name, input=parsed.input,
        inputs=dict(parsed.inputs), outputs=dict(parsed.outputs), params_override=list(parsed.params_override),
        experiment_name=parsed.experiment_name)


def fire(backend: LocalBackend, action: dict[str, Any], job_name: str) -> str:
    """Invoke the endpoint for one slot; the job's name (``job_name``; an existing one after a restart)."""
    parsed = gateway.parse_invocation(action["definition"])
    parsed.job_name = job_name
    try:
        return str(backend.service("batch_endpoints").invoke(action["endpoint_name"], **parsed.kwargs()).name)
    except Conflict:
        try:
            backend.service("jobs").get(job_name)
        except NotFound:
            raise
        return job_name

