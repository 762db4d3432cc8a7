"""``studio-ext batch-endpoint create | list | show | delete | invoke`` and
``batch-deployment create | list | show | delete``: ``az ml``'s batch groups, driven by Azure ML v2 YAML.

``batch-endpoint invoke`` starts a batch job as ``az ml batch-endpoint invoke`` does: ``--input``
(a folder, file, ``azureml:NAME:VERSION`` or datastore URI) for a model deployment, ``--inputs
NAME=VALUE`` for a pipeline component deployment, ``--mini-batch-size`` / ``--instance-count`` /
``--set FIELD=VALUE`` for this job only.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from studio_ext.cli_groups import open_workspace, print_table
from studio_ext.cli_groups._actions import action_group, add_create_action, add_endpoint_argument, add_named_action
from studio_ext.cli_groups._files import load, output_of, show, split_pairs


def register(sub: argparse._SubParsersAction) -> None:
    actions = action_group(sub, "batch-endpoint", "batch endpoints from Azure ML v2 YAML (az ml batch-endpoint)")
    add_create_action(actions, "create or update a batch endpoint from a YAML file", _endpoint_create)
    actions.add_parser("list", help="batch endpoints").set_defaults(func=_endpoint_list)
    add_named_action(actions, "show", "a batch endpoint", _endpoint_show, output=True)
    add_named_action(actions, "delete", "delete a batch endpoint and its deployments (its jobs stay)", _endpoint_delete)
    p = add_named_action(actions, "invoke", "start a batch job on the endpoint (its default deployment unless named)",
                         _endpoint_invoke)
    p.add_argument("-d", "--deployment-name", dest="deployment_name")
    p.add_argument("--input", help="the data to score: a local folder or file, azureml:NAME:VERSION or a datastore URI")
    p.add_argument("--input-type", dest="input_type", default=None,
                   choices=("uri_folder", "uri_file", "mltable"), help="the input's type (default: uri_folder, or "
                   "uri_file for a file)")
    p.add_argument("--inputs", action="append", nargs="+", default=[], metavar="NAME=VALUE",
                   help="a pipeline component deployment's inputs (a path for data, else a value)")
    p.add_argument("--mini-batch-size", dest="mini_batch_size", type=int)
    p.add_argument("--instance-count", dest="instance_count", type=int)
    p.add_argument("--set", dest="set_values", action="append", nargs="+", default=[], metavar="FIELD=VALUE",
                   help="another setting for this job only: --set error_threshold=5 retry_settings.max_retries=1")
    p.add_argument("--experiment-name", dest="experiment_name")
    p.add_argument("--job-name", dest="job_name")
    p.add_argument("--stream", action="store_true", help="follow the job's log until it ends")

    actions = action_group(sub, "batch-deployment",
                           "batch deployments from Azure ML v2 YAML (az ml batch-deployment)")
    p = add_create_action(actions, "create or update a model or pipeline component deployment from a YAML file",
                          _deployment_create, endpoint=True)
    p.add_argument("--set-default", action="store_true", help="make it the endpoint's default deployment")
    p = actions.add_parser("list", help="a batch endpoint's deployments")
    add_endpoint_argument(p, required=True)
    p.set_defaults(func=_deployment_list)
    add_named_action(actions, "show", "a batch deployment", _deployment_show, endpoint=True, output=True)
    add_named_action(actions, "delete", "delete a batch deployment", _deployment_delete, endpoint=True)


def _to_yaml(entity: Any) -> str:
    from studio_ext.translation import to_yaml

    return to_yaml(entity)


# -- endpoints ------------------------------------------------------------------------------------------
def _endpoint_create(args: argparse.Namespace) -> int:
    from studio_ext.entities import BatchEndpoint

    ws = open_workspace(args)
    endpoint = load(args, BatchEndpoint, "batch-endpoint", name=args.name).entity
    e = ws.batch_endpoints.begin_create_or_update(endpoint).result()
    print(f"Batch endpoint {e.name}: {e.provisioning_state}\n  invocation URI: {e.scoring_uri}")
    return 0


def _endpoint_info(e: Any) -> dict[str, Any]:
    return {"name": e.name, "provisioning_state": e.provisioning_state, "default_deployment": e.defaults.deployment_name,
            "scoring_uri": e.scoring_uri, "description": e.description, "tags": e.tags}


def _endpoint_list(args: argparse.Namespace) -> int:
    rows = [_endpoint_info(e) for e in open_workspace(args).batch_endpoints.list()]
    print_table(rows, ["name", "default_deployment", "provisioning_state", "scoring_uri"])
    return 0


def _endpoint_show(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    e = ws.batch_endpoints.get(args.name)
    info = _endpoint_info(e)
    info["deployments"] = [d.name for d in ws.batch_deployments.list(e.name)]
    show(e, info, output_of(args), _to_yaml)
    return 0


def _endpoint_delete(args: argparse.Namespace) -> int:
    name = open_workspace(args).batch_endpoints.begin_delete(args.name).result()
    print(f"Deleted batch endpoint {name}")
    return 0


def _pairs(groups: list[list[str]], flag: str) -> dict[str, str]:
    return dict(split_pairs(groups, flag, "NAME=VALUE"))


def _endpoint_invoke(args: argparse.Namespace) -> int:
    from pathlib import Path

    from studio_ext.entities import Input

    ws = open_workspace(args)
    data = None
    if args.input is not None:
        local = Path(args.input).expanduser()
        kind = args.input_type or ("uri_file" if local.is_file() else "uri_folder")
        data = Input(type=kind, path=str(local.resolve()) if local.exists() else args.input)
    inputs: dict[str, Any] = {}
    for key, value in _pairs(args.inputs, "--inputs").items():
        local = Path(value).expanduser()
        if "://" in value or value.startswith("azureml:") or local.exists():
            inputs[key] = Input(type="uri_file" if local.is_file() else "uri_folder",
                                path=str(local.resolve()) if local.exists() else value)
        else:
            inputs[key] = value
    override: list[dict[str, Any]] = [{k: v} for k, v in _pairs(args.set_values, "--set").items()]
    if args.mini_batch_size is not None:
        override.append({"mini_batch_size": args.mini_batch_size})
    if args.instance_count is not None:
        override.append({"compute.instance_count": args.instance_count})
    job = ws.batch_endpoints.invoke(args.name, deployment_name=args.deployment_name, input=data,
                                    inputs=inputs or None, params_override=override or None,
                                    experiment_name=args.experiment_name, job_name=args.job_name)
    print(f"Started batch job {job.name} on {job.tags.get('azureml.batch_endpoint')}/"
          f"{job.tags.get('azureml.batch_deployment')} (experiment {job.experiment_name})")
    if not args.stream:
        print(f"Follow it: studio-ext job logs {job.name} --follow; its predictions: the output 'score'.")
        return 0
    done = ws.jobs.stream(str(job.name), out=sys.stdout)
    print(f"Job {done.name}: {done.status}")
    return 0 if str(done.status) == "Completed" else 1


# -- deployments ----------------------------------------------------------------------------------------
def _deployment_create(args: argparse.Namespace) -> int:
    from studio_ext.cli_groups._files import register_requires
    from studio_ext.entities import ModelBatchDeployment, PipelineComponentBatchDeployment

    ws = open_workspace(args)
    result = load(args, (ModelBatchDeployment, PipelineComponentBatchDeployment), "batch-deployment",
                  name=args.name, endpoint_name=args.endpoint_name)
    register_requires(ws, result)
    d = ws.batch_deployments.begin_create_or_update(result.entity).result()
    print(f"Batch deployment {d.endpoint_name}/{d.name} ({d.type}): {d.provisioning_state}")
    endpoint = ws.batch_endpoints.get(d.endpoint_name)
    if args.set_default and endpoint.defaults.deployment_name != d.name:
        endpoint.defaults.deployment_name = d.name
        endpoint = ws.batch_endpoints.begin_create_or_update(endpoint).result()
    print(f"  default deployment of {endpoint.name}: {endpoint.defaults.deployment_name}")
    return 0


def _deployment_info(d: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"name": d.name, "endpoint_name": d.endpoint_name, "type": d.type,
                            "provisioning_state": d.provisioning_state, "description": d.description}
    if d.type == "model":
        s = d.settings
        info.update({"model": d.model, "compute": d.compute or "local",
                     "scoring_script": d.code_configuration.scoring_script if d.code_configuration else None,
                     "settings": {"instance_count": s.instance_count,
                                  "max_concurrency_per_instance": s.max_concurrency_per_instance,
                                  "mini_batch_size": s.mini_batch_size, "output_action": str(s.output_action),
                                  "output_file_name": s.output_file_name,
                                  "max_retries": s.retry_settings.max_retries, "timeout": s.retry_settings.timeout,
                                  "error_threshold": s.error_threshold}})
    else:
        info.update({"component": d.component, "settings": d.settings})
    return info


def _deployment_list(args: argparse.Namespace) -> int:
    rows = []
    for d in open_workspace(args).batch_deployments.list(args.endpoint_name):
        info = _deployment_info(d)
        info["what"] = info.get("model") or info.get("component")
        rows.append(info)
    print_table(rows, ["name", "type", "what", "provisioning_state"])
    return 0


def _deployment_show(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    d = ws.batch_deployments.get(args.name, args.endpoint_name)
    show(d, _deployment_info(d), output_of(args), _to_yaml)
    return 0


def _deployment_delete(args: argparse.Namespace) -> int:
    name = open_workspace(args).batch_deployments.begin_delete(args.name, args.endpoint_name).result()
    print(f"Deleted batch deployment {args.endpoint_name}/{name}")
    return 0
