"""``studio-ext job create | submit | list | show | logs | cancel``."""

from __future__ import annotations

import argparse
import json
import sys

from studio_ext._builders import command
from studio_ext.cli_groups import open_workspace, print_table
from studio_ext.cli_groups._actions import action_group
from studio_ext.cli_groups._files import (
    add_file_arguments,
    add_output_argument,
    load,
    output_of,
    register_requires,
    show,
)
from studio_ext.entities import Input
from studio_ext.errors import InvalidInput


def register(sub: argparse._SubParsersAction) -> None:
    job = action_group(sub, "job", "submit and watch jobs")

    p = job.add_parser("create", help="submit a job from an Azure ML v2 YAML file (az ml job create)")
    add_file_arguments(p)
    p.add_argument("-n", "--name", help="the job's name (default: a new unique one)")
    p.add_argument("--experiment-name", help="the experiment (default: the file's, else the code folder's name)")
    p.add_argument("-s", "--stream", action="store_true",
                   help="print the log until the job ends; exit 1 unless it Completed")
    p.set_defaults(func=_create)

    p = job.add_parser("submit", help="submit a command job")
    p.add_argument("--command", required=True, help="e.g. 'python train.py --lr ${{inputs.lr}}'")
    p.add_argument("--code", help="the folder holding the script")
    p.add_argument("--input", action="append", default=[], metavar="NAME=VALUE",
                   help="a literal, or NAME=uri_file:PATH / uri_folder:PATH / mltable:azureml:NAME:VERSION")
    p.add_argument("--output", action="append", default=[], metavar="NAME")
    p.add_argument("--environment")
    p.add_argument("--compute", default="local")
    p.add_argument("--experiment", dest="experiment_name")
    p.add_argument("--display-name")
    p.add_argument("--name")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--env-var", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--stream", action="store_true", help="print the log until the job ends")
    p.set_defaults(func=_submit)

    p = job.add_parser("list", help="list jobs")
    p.add_argument("--experiment", dest="experiment_name")
    p.add_argument("--parent")
    p.add_argument("--status")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_list)

    p = job.add_parser("show", help="a job's status, metrics, params and children")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    add_output_argument(p)
    p.set_defaults(func=_show)

    p = job.add_parser("logs", help="print a job's log (follow it with --follow)")
    p.add_argument("name")
    p.add_argument("--follow", "-f", action="store_true")
    p.add_argument("--tail", type=int)
    p.set_defaults(func=_logs)

    p = job.add_parser("cancel", help="cancel a job and its children")
    p.add_argument("name")
    p.set_defaults(func=_cancel)


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--{what} {item!r} must look like KEY=VALUE.")
        out[key] = value
    return out


def _parse_input(value: str) -> object:
    kind, sep, rest = value.partition(":")
    if sep and kind in ("uri_file", "uri_folder", "mltable"):
        return Input(type=kind, path=rest)
    return value


def _submit(args: argparse.Namespace) -> int:
    from studio_ext.entities import Output

    ws = open_workspace(args)
    job = command(
        command=args.command, code=args.code,
        inputs={k: _parse_input(v) for k, v in _pairs(args.input, "input").items()},
        outputs={name: Output(type="uri_folder") for name in args.output},
        environment=args.environment, compute=args.compute, experiment_name=args.experiment_name,
        display_name=args.display_name, name=args.name, tags=_pairs(args.tag, "tag"),
        environment_variables=_pairs(args.env_var, "env-var"),
    )
    submitted = ws.jobs.create_or_update(job)
    print(f"Submitted job {submitted.name} (experiment {submitted.experiment_name}, compute {submitted.compute})")
    if args.stream:
        final = ws.jobs.stream(str(submitted.name))
        return 0 if str(final.status) == "Completed" else 1
    return 0


def _create(args: argparse.Namespace) -> int:
    from studio_ext.entities import Job

    ws = open_workspace(args)
    result = load(args, Job, "job", name=args.name, experiment_name=args.experiment_name)
    register_requires(ws, result)
    submitted = ws.jobs.create_or_update(result.entity)
    print(f"Submitted job {submitted.name} (experiment {submitted.experiment_name}, compute {submitted.compute})")
    print(f"studio_url: {submitted.studio_url}")
    if args.stream:
        final = ws.jobs.stream(str(submitted.name))
        return 0 if str(final.status) == "Completed" else 1
    return 0


def _row(job) -> dict[str, object]:  # noqa: ANN001 - a Job
    return {
        "name": job.name, "display_name": job.display_name, "experiment": job.experiment_name,
        "status": job.status, "compute": job.compute,
        "created": job.creation_time.strftime("%Y-%m-%d %H:%M:%S") if job.creation_time else None,
        "duration": f"{job.duration_seconds:.1f}s" if job.duration_seconds is not None else None,
    }


def _list(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    jobs = ws.jobs.list(args.experiment_name, parent_job_name=args.parent, status=args.status)
    if args.json:
        print(json.dumps([_row(j) for j in jobs], default=str, indent=1))
    else:
        print_table([_row(j) for j in jobs], ["name", "display_name", "experiment", "status", "compute", "created", "duration"])
    return 0


def _show(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    job = ws.jobs.get(args.name)
    info = {**_row(job), "type": job.type, "exit_code": job.exit_code, "error": job.error,
            "parent": job.parent_job_name, "run_id": job.run_id, "metrics": job.metrics,
            "params": job.params, "tags": job.tags, "children": job.children,
            "command": getattr(job, "command", None), "log": getattr(job, "log_path", None),
            "studio_url": job.studio_url}
    show(job, info, output_of(args), ws.jobs.to_yaml)
    return 0


def _logs(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    if args.follow:
        ws.jobs.stream(args.name)
    else:
        ws.jobs.write_logs(args.name, sys.stdout, tail=args.tail)
    return 0


def _cancel(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    job = ws.jobs.begin_cancel(args.name).result(timeout=60)
    print(f"Job {job.name}: {job.status}")
    return 0
