"""``studio-ext endpoint create | deploy | list | show | invoke | keys | traffic | logs | reload | stop | start | delete``."""

from __future__ import annotations

import argparse
import json
import sys

from tqdm import tqdm

from studio_ext.cli_groups import open_workspace, print_table
from studio_ext.cli_groups._actions import action_group
from studio_ext.cli_groups._files import add_output_argument
from studio_ext.entities import CodeConfiguration, ManagedOnlineDeployment, ManagedOnlineEndpoint, OnlineRequestSettings
from studio_ext.errors import InvalidInput


def register(sub: argparse._SubParsersAction) -> None:
    ep = action_group(sub, "endpoint", "real-time endpoints and deployments")

    p = ep.add_parser("create", help="create an endpoint (keys and a stable scoring URI)")
    p.add_argument("name")
    p.add_argument("--description")
    p.set_defaults(func=_create)

    p = ep.add_parser("deploy", help="deploy a model to an endpoint")
    p.add_argument("endpoint")
    p.add_argument("--name", default="blue", help="deployment name")
    p.add_argument("--model", required=True, help="azureml:NAME:VERSION or NAME:VERSION")
    p.add_argument("--code", help="folder with the scoring script (none: no-code MLflow deployment)")
    p.add_argument("--scoring-script", default="score.py")
    p.add_argument("--max-concurrent", type=int, default=1)
    p.add_argument("--timeout-ms", type=int, default=5000)
    p.set_defaults(func=_deploy)

    p = ep.add_parser("list", help="endpoints and their deployments")
    p.set_defaults(func=_list)

    p = ep.add_parser("show", help="an endpoint's URIs, traffic and deployments")
    p.add_argument("name")
    add_output_argument(p)
    p.set_defaults(func=_show)

    p = ep.add_parser("invoke", help="send a request file to the endpoint and print the answer")
    p.add_argument("name")
    p.add_argument("--request-file", required=True)
    p.add_argument("--deployment")
    p.set_defaults(func=_invoke)

    p = ep.add_parser("keys", help="print the keys, or regenerate one")
    p.add_argument("name")
    p.add_argument("--regenerate", choices=["primary", "secondary"])
    p.set_defaults(func=_keys)

    p = ep.add_parser("traffic", help="set the traffic split, e.g. blue=90 green=10")
    p.add_argument("name")
    p.add_argument("weights", nargs="+", metavar="DEPLOYMENT=PERCENT")
    p.set_defaults(func=_traffic)

    p = ep.add_parser("logs", help="the last lines of a deployment's server log")
    p.add_argument("name")
    p.add_argument("--deployment", default="blue")
    p.add_argument("--lines", type=int, default=100)
    p.set_defaults(func=_logs)

    p = ep.add_parser("reload", help="reload a deployment's scoring script without redeploying")
    p.add_argument("name")
    p.add_argument("--deployment", default="blue")
    p.set_defaults(func=_reload)

    p = ep.add_parser("stop", help="stop an endpoint's router and scoring servers (kept stopped until start)")
    p.add_argument("name")
    p.set_defaults(func=_stop)

    p = ep.add_parser("start", help="start a stopped endpoint's router and scoring servers again")
    p.add_argument("name")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for its deployments")
    p.set_defaults(func=_start)

    p = ep.add_parser("delete", help="delete an endpoint and its deployments")
    p.add_argument("name")
    p.set_defaults(func=_delete)


def _wait(poller, what: str):  # noqa: ANN001, ANN202 - a Poller
    with tqdm(desc=what, bar_format="{desc}: {elapsed}") as bar:
        while not poller.done():
            bar.update(0)
            import time

            time.sleep(0.2)
    return poller.result()


def _create(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    e = _wait(ws.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name=args.name, description=args.description)), f"creating {args.name}")
    print(f"Endpoint {e.name}: {e.provisioning_state}\n  scoring URI: {e.scoring_uri}\n  swagger: {e.openapi_uri}")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    code = CodeConfiguration(code=args.code, scoring_script=args.scoring_script) if args.code else None
    d = _wait(ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name=args.name, endpoint_name=args.endpoint, model=args.model, code_configuration=code,
        request_settings=OnlineRequestSettings(request_timeout_ms=args.timeout_ms,
                                               max_concurrent_requests_per_instance=args.max_concurrent))),
        f"deploying {args.endpoint}/{args.name}")
    print(f"Deployment {d.endpoint_name}/{d.name}: {d.state}")
    return 0


def _list(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    rows = []
    for e in ws.online_endpoints.list():
        deps = ws.online_deployments.list(e.name)
        rows.append({"name": e.name, "state": _state(ws, e), "scoring_uri": e.scoring_uri,
                     "deployments": ", ".join(f"{d.name}:{d.state}:{e.traffic.get(d.name, 0)}%" for d in deps)})
    print_table(rows, ["name", "state", "scoring_uri", "deployments"])
    return 0


def _state(ws, endpoint) -> str:  # noqa: ANN001 - a Workspace and its endpoint
    """The provisioning state, or "Stopped" while `endpoint stop` keeps its processes down."""
    from studio_ext.backends.local.endpoints.duty import is_stopped

    return "Stopped" if is_stopped(ws.path, endpoint.name) else str(endpoint.provisioning_state)


def _show(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    e = ws.online_endpoints.get(args.name)
    if args.output == "yaml":  # the endpoint's v2 YAML; each deployment's: studio-ext online-deployment show
        sys.stdout.write(ws.online_endpoints.to_yaml(e))
        return 0
    deps = [{"name": d.name, "model": d.model, "state": d.state, "reason": d.reason, "restarts": d.restarts,
             "instances_ready": f"{d.ready_instances}/{d.instance_count}", "port": d.port}
            for d in ws.online_deployments.list(args.name)]
    print(json.dumps({"name": e.name, "state": _state(ws, e), "scoring_uri": e.scoring_uri,
                      "openapi_uri": e.openapi_uri, "traffic": e.traffic, "mirror_traffic": e.mirror_traffic,
                      "deployments": deps}, default=str, indent=1))
    return 0


def _invoke(args: argparse.Namespace) -> int:
    print(open_workspace(args).online_endpoints.invoke(args.name, request_file=args.request_file,
                                                       deployment_name=args.deployment))
    return 0


def _keys(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    keys = (ws.online_endpoints.begin_regenerate_keys(args.name, key_type=args.regenerate).result()
            if args.regenerate else ws.online_endpoints.get_keys(args.name))
    print(f"primary:   {keys.primary_key}\nsecondary: {keys.secondary_key}")
    return 0


def _traffic(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    traffic = {}
    for item in args.weights:
        name, sep, value = item.partition("=")
        if not sep or not value.isdigit():
            raise InvalidInput(f"{item!r} must look like DEPLOYMENT=PERCENT, e.g. blue=90.")
        traffic[name] = int(value)
    e = ws.online_endpoints.get(args.name)
    e.traffic = traffic
    e = ws.online_endpoints.begin_create_or_update(e).result(timeout=60)
    print(f"Traffic of {e.name}: {e.traffic}")
    return 0


def _logs(args: argparse.Namespace) -> int:
    print(open_workspace(args).online_deployments.get_logs(args.deployment, args.name, lines=args.lines))
    return 0


def _reload(args: argparse.Namespace) -> int:
    d = open_workspace(args).online_deployments.begin_reload(args.deployment, args.name).result(timeout=120)
    print(f"Reloaded {d.endpoint_name}/{d.name} (code version {d.code_version}): {d.state}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    from studio_ext.backends.local.endpoints.duty import mark_stopped, stop_endpoint_processes

    ws = open_workspace(args)
    ws.online_endpoints.get(args.name)  # NotFound names the endpoints there are
    mark_stopped(ws.path, args.name, True)  # first, so a supervisor pass does not start them again
    ended = stop_endpoint_processes(ws.backend, args.name)  # type: ignore[arg-type]
    print("\n".join(f"stopped {line}" for line in ended) or f"{args.name} had no running processes")
    print(f"Endpoint {args.name} is stopped. Start it again with: studio-ext endpoint start {args.name}")
    return 0


def _start(args: argparse.Namespace) -> int:
    import time

    from studio_ext.backends.local.endpoints.duty import is_stopped, mark_stopped
    from studio_ext.errors import BackendUnavailable

    ws = open_workspace(args)
    endpoint = ws.online_endpoints.get(args.name)
    was_stopped = is_stopped(ws.path, args.name)
    mark_stopped(ws.path, args.name, False)
    ws.runtime.start()
    deadline = time.monotonic() + args.timeout
    while True:
        deps = ws.online_deployments.list(args.name)
        if all(str(d.state) == "Failed" or (str(d.state) == "Healthy" and d.ready_instances == d.instance_count)
               for d in deps):
            break
        if time.monotonic() > deadline:
            raise BackendUnavailable(f"Endpoint {args.name} did not become ready within {args.timeout:g} s. "
                                f"See studio-ext endpoint show {args.name} and endpoint logs {args.name}.")
        time.sleep(0.3)
    states = ", ".join(f"{d.name}: {d.state}" for d in deps) or "no deployments"
    print(f"Endpoint {args.name} {'started' if was_stopped else 'was not stopped; running'} ({states}): "
          f"{endpoint.scoring_uri}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    _wait(open_workspace(args).online_endpoints.begin_delete(args.name), f"deleting {args.name}")
    print(f"Deleted {args.name}")
    return 0
