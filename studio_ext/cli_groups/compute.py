"""``studio-ext compute list | show | create | start | stop | restart | delete``."""

from __future__ import annotations

import argparse
import json
import time
import warnings
from typing import Any

from studio_ext._poller import Poller
from studio_ext.cli_groups import open_workspace, print_table
from studio_ext.cli_groups._actions import action_group
from studio_ext.cli_groups._files import add_file_arguments, add_output_argument, load, output_of, show
from studio_ext.entities import AmlCompute, AttachedCompute, Compute, ComputeInstance
from studio_ext.errors import InvalidInput

_KINDS = {"instance": "ComputeInstance", "cluster": "AmlCompute", "attached": "AttachedCompute"}


def register(sub: argparse._SubParsersAction) -> None:
    actions = action_group(sub, "compute", "compute instances, Dask clusters and attached schedulers")

    p = actions.add_parser("list", help="list compute targets with their state and nodes")
    p.add_argument("--type", dest="compute_type", choices=["computeinstance", "amlcompute", "attached"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_list)

    p = actions.add_parser("show", help="a target's state, nodes and jobs")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    add_output_argument(p)
    p.set_defaults(func=_show)

    p = actions.add_parser("create", help="create (or resize) a compute target, from options or an Azure ML v2 "
                                          "YAML file (--file, as az ml compute create)")
    p.add_argument("name", nargs="?", help="the target's name (with --file: over the file's)")
    p.add_argument("-n", "--name", dest="name_option", metavar="NAME", help="the same, as az ml names it")
    add_file_arguments(p, required=False)
    p.add_argument("--type", dest="kind", choices=sorted(_KINDS), default="cluster",
                   help="instance: this machine; cluster: a Dask LocalCluster; attached: a Dask scheduler")
    p.add_argument("--min-instances", type=int, default=0, help="cluster: nodes kept when idle")
    p.add_argument("--max-instances", type=int, default=4, help="cluster: most nodes")
    p.add_argument("--idle-seconds", type=float, default=120, help="cluster: idle time before a node leaves")
    p.add_argument("--idle-shutdown-minutes", type=float, help="instance: stop after this long without jobs")
    p.add_argument("--max-concurrent-jobs", type=int, help="instance: jobs at once (default: one per core)")
    p.add_argument("--address", help="attached: the scheduler, e.g. tcp://host:8786")
    p.add_argument("--connect-timeout", type=float, default=5.0, help="attached: seconds to wait for the scheduler")
    p.add_argument("--description")
    p.add_argument("--no-wait", action="store_true", help="return once the request is recorded")
    p.set_defaults(func=_create)

    for action, text in (("start", "start a stopped target"), ("stop", "stop a target"),
                         ("restart", "stop and start a target again"), ("delete", "delete a target")):
        p = actions.add_parser(action, help=text)
        p.add_argument("name")
        if action != "start":
            p.add_argument("--force", action="store_true", help="cancel the jobs that would block it")
        p.add_argument("--no-wait", action="store_true")
        p.set_defaults(func=_change, action=action)


def build_compute(args: argparse.Namespace) -> Compute:
    common: dict[str, Any] = {"name": args.name, "description": args.description}
    if args.kind == "instance":
        return ComputeInstance(**common, idle_time_before_shutdown_minutes=args.idle_shutdown_minutes,
                               max_concurrent_jobs=args.max_concurrent_jobs)
    if args.kind == "attached":
        return AttachedCompute(**common, address=args.address or "", connect_timeout=args.connect_timeout)
    return AmlCompute(**common, min_instances=args.min_instances, max_instances=args.max_instances,
                      idle_time_before_scale_down=args.idle_seconds)


def _row(c: Compute) -> dict[str, object]:
    return {
        "name": c.name, "type": c.type.label, "state": c.state,
        "nodes": f"{c.current_nodes}/{c.min_nodes}-{'?' if c.max_nodes is None else c.max_nodes}",
        "busy": c.busy_nodes, "queued": len(c.queued_jobs), "running": len(c.running_jobs),
        "address": c.scheduler_address,
    }


def _list(args: argparse.Namespace) -> int:
    computes = open_workspace(args).compute.list(args.compute_type)
    if args.json:
        print(json.dumps([_row(c) for c in computes], default=str, indent=1))
    else:
        print_table([_row(c) for c in computes], ["name", "type", "state", "nodes", "busy", "queued", "running", "address"])
    return 0


def _show(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    c = ws.compute.get(args.name)
    info = {**_row(c), "dashboard": c.dashboard_link, "error": c.error, "last_operation": c.last_operation,
            "queued_jobs": c.queued_jobs, "running_jobs": c.running_jobs,
            "nodes_detail": [f"{n.name} {n.address} {'busy: ' + (n.job_name or '') if n.busy else 'idle'}"
                             for n in ws.compute.list_nodes(args.name)]}
    show(c, info, output_of(args), ws.compute.to_yaml)
    return 0


def _create(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    args.name = args.name_option or args.name
    if args.file:
        target = load(args, (AmlCompute, ComputeInstance), "compute", name=args.name).entity
    elif args.name:
        target = build_compute(args)
    else:
        raise InvalidInput("studio-ext compute create takes a NAME (with --type and its options), "
                           "or --file compute.yml (Azure ML v2 YAML).")
    args.name = target.name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        poller = ws.compute.begin_create_or_update(target)
    for warning in caught:
        print(f"warning: {warning.message}")
    if args.no_wait:
        print(f"Requested compute {args.name}; follow it with: studio-ext compute show {args.name}")
        return 0
    compute = _wait(poller, ws, args.name, f"creating {args.name}")
    print(f"Compute {compute.name}: {compute.state}, {compute.current_nodes} node(s)"
          + (f", scheduler {compute.scheduler_address}" if compute.scheduler_address else "")
          + (f", dashboard {compute.dashboard_link}" if compute.dashboard_link else ""))
    return 0


def _change(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    method = getattr(ws.compute, f"begin_{args.action}")
    poller = method(args.name, force=args.force) if args.action != "start" else method(args.name)
    if args.no_wait:
        print(f"Requested {args.action} of {args.name}")
        return 0
    if args.action == "delete":
        _wait(poller, ws, args.name, f"deleting {args.name}")
        print(f"Compute {args.name} deleted")
        return 0
    compute = _wait(poller, ws, args.name, f"{args.action.rstrip('e')}ing {args.name}")
    print(f"Compute {compute.name}: {compute.state}, {compute.current_nodes} node(s)")
    return 0


def _wait(poller: Poller[Any], ws: Any, name: str, description: str) -> Any:
    """Wait for a poller with a tqdm line showing the target's state as it changes."""
    from tqdm import tqdm

    with tqdm(total=None, desc=description, bar_format="{desc} [{elapsed}] {postfix}") as bar:
        while not poller.done():
            try:
                current = ws.compute.get(name)
                bar.set_postfix_str(f"{current.state}, {current.current_nodes} node(s)")
            except Exception:  # noqa: BLE001 - the target may vanish while deleting
                bar.set_postfix_str("gone")
            time.sleep(0.3)
    return poller.result()
