"""``studio-ext online-endpoint create | list | show`` and ``online-deployment create | list | show``.

``az ml``'s groups for real-time endpoints, driven by Azure ML v2 YAML files. The older
``studio-ext endpoint`` group (deploy, invoke, keys, traffic, logs, reload) stays.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from studio_ext.cli_groups import open_workspace, print_table
from studio_ext.cli_groups._actions import action_group, add_create_action, add_endpoint_argument, add_named_action
from studio_ext.cli_groups._files import load, output_of, show


def register(sub: argparse._SubParsersAction) -> None:
    actions = action_group(sub, "online-endpoint", "online endpoints from Azure ML v2 YAML (az ml online-endpoint)")
    p = add_create_action(actions, "create or update an endpoint from a YAML file", _endpoint_create)
    p.add_argument("--no-wait", action="store_true", help="return once the request is recorded")
    actions.add_parser("list", help="endpoints").set_defaults(func=_endpoint_list)
    add_named_action(actions, "show", "an endpoint", _endpoint_show, output=True)

    actions = action_group(sub, "online-deployment", "deployments from Azure ML v2 YAML (az ml online-deployment)")
    p = add_create_action(actions, "create or update a deployment from a YAML file", _deployment_create,
                          endpoint=True)
    p.add_argument("--all-traffic", action="store_true", help="send all of the endpoint's traffic to it once ready")
    p.add_argument("--no-wait", action="store_true", help="return once the request is recorded")
    p = actions.add_parser("list", help="an endpoint's deployments")
    add_endpoint_argument(p, required=True)
    p.set_defaults(func=_deployment_list)
    add_named_action(actions, "show", "a deployment", _deployment_show, endpoint=True, output=True)


def _wait(poller: Any, what: str) -> Any:
    print(f"{what} ...", flush=True)
    while not poller.done():
        time.sleep(0.2)
    return poller.result()


def _endpoint_create(args: argparse.Namespace) -> int:
    from studio_ext.entities import ManagedOnlineEndpoint

    ws = open_workspace(args)
    endpoint = load(args, ManagedOnlineEndpoint, "online-endpoint", name=args.name).entity
    poller = ws.online_endpoints.begin_create_or_update(endpoint)
    if args.no_wait:
        print(f"Requested endpoint {endpoint.name}")
        return 0
    e = _wait(poller, f"Creating endpoint {endpoint.name}")
    print(f"Endpoint {e.name}: {e.provisioning_state}\n  scoring URI: {e.scoring_uri}")
    return 0


def _endpoint_info(e: Any) -> dict[str, Any]:
    return {"name": e.name, "provisioning_state": e.provisioning_state, "scoring_uri": e.scoring_uri,
            "openapi_uri": e.openapi_uri, "auth_mode": getattr(e, "auth_mode", None), "traffic": e.traffic,
            "mirror_traffic": e.mirror_traffic, "description": e.description, "tags": e.tags}


def _endpoint_list(args: argparse.Namespace) -> int:
    rows = [_endpoint_info(e) for e in open_workspace(args).online_endpoints.list()]
    print_table(rows, ["name", "provisioning_state", "scoring_uri", "traffic"])
    return 0


def _endpoint_show(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    e = ws.online_endpoints.get(args.name)
    show(e, _endpoint_info(e), output_of(args), ws.online_endpoints.to_yaml)
    return 0


def _deployment_create(args: argparse.Namespace) -> int:
    from studio_ext.cli_groups._files import register_requires
    from studio_ext.entities import ManagedOnlineDeployment

    ws = open_workspace(args)
    result = load(args, ManagedOnlineDeployment, "online-deployment", name=args.name,
                  endpoint_name=args.endpoint_name)
    register_requires(ws, result)
    deployment = result.entity
    poller = ws.online_deployments.begin_create_or_update(deployment)
    if args.no_wait and not args.all_traffic:
        print(f"Requested deployment {deployment.endpoint_name}/{deployment.name}")
        return 0
    d = _wait(poller, f"Creating deployment {deployment.endpoint_name}/{deployment.name}")
    print(f"Deployment {d.endpoint_name}/{d.name}: {d.state}")
    if args.all_traffic:
        endpoint = ws.online_endpoints.get(d.endpoint_name)
        endpoint.traffic = {d.name: 100}
        endpoint = ws.online_endpoints.begin_create_or_update(endpoint).result(timeout=120)
        print(f"Traffic of {endpoint.name}: {endpoint.traffic}")
    return 1 if str(getattr(d.state, "value", d.state)) in ("Failed", "Unhealthy") else 0


def _deployment_info(d: Any) -> dict[str, Any]:
    return {"name": d.name, "endpoint_name": d.endpoint_name, "model": d.model, "environment": d.environment,
            "state": d.state, "reason": d.reason, "instance_type": d.instance_type,
            "instance_count": d.instance_count, "description": d.description}


def _deployment_list(args: argparse.Namespace) -> int:
    rows = [_deployment_info(d) for d in open_workspace(args).online_deployments.list(args.endpoint_name)]
    print_table(rows, ["name", "endpoint_name", "model", "state", "instance_count"])
    return 0


def _deployment_show(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    d = ws.online_deployments.get(args.name, args.endpoint_name)
    show(d, _deployment_info(d), output_of(args), ws.online_deployments.to_yaml)
    return 0
