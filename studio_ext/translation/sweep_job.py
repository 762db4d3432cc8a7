"""Sweep jobs: studio_ext ``SweepJob`` <-> v2 ``sweepJob`` <-> azure-ai-ml ``SweepJob`` / ``command(...).sweep(...)``.

The trial is a studio_ext ``CommandJob`` (its command, code, environment and the sweep's
inputs and outputs), translated by :mod:`.command_job`. azure-ai-ml's ``Sweep`` node (what
``command(...)(x=Choice(...)).sweep(...)`` returns) is turned into its ``SweepJob`` first;
its ``_to_dict()`` prefixes a local code folder and local input paths with ``azureml:``,
so those are read from the object, as for command jobs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from studio_ext.entities import CommandJob, Input
from studio_ext.entities._sweep import (
    EarlyTerminationPolicy,
    Objective,
    RandomSamplingAlgorithm,
    SamplingAlgorithm,
    SweepDistribution,
    SweepJob,
    SweepJobLimits,
    distribution_from_dict,
    policy_from_dict,
    sampling_from,
)
from studio_ext.errors import InvalidInput
from studio_ext.translation import command_job
from studio_ext.translation._common import SCHEMA_ROOT, Translated, arm, azure_load, dump, plain, put

SCHEMA = SCHEMA_ROOT + "sweepJob.schema.json"
_TRIAL_FIELDS = ("command", "code", "environment", "environment_variables", "resources", "distribution")


def to_v2(job: SweepJob) -> dict[str, Any]:
    """The sweep as v2 ``sweepJob`` YAML's mapping."""
    if job.trial is None:
        raise InvalidInput("The sweep job has no trial: build it with command_job(...).sweep(...).")
    trial = command_job.to_v2(job.trial)
    out: dict[str, Any] = {"$schema": SCHEMA, "type": "sweep"}
    put(out, name=job.name, display_name=job.display_name, experiment_name=job.experiment_name or
        job.trial.experiment_name, description=job.description, tags=dict(job.tags))
    compute = job.compute or job.trial.compute
    if compute:
        out["compute"] = compute if compute == "local" else arm(compute)
    out["trial"] = {k: trial[k] for k in _TRIAL_FIELDS if k in trial}
    put(out, inputs=trial.get("inputs"), outputs=trial.get("outputs"))
    out["search_space"] = {k: v.to_dict() for k, v in job.search_space.items()}
    out["sampling_algorithm"] = _sampling_to_v2(sampling_from(job.sampling_algorithm))
    if job.objective is not None:
        out["objective"] = {"goal": job.objective.goal.lower(), "primary_metric": job.objective.primary_metric}
    limits = {k: v for k, v in vars(job.limits).items() if v is not None}
    put(out, limits=limits or None)
    if job.early_termination is not None:
        out["early_termination"] = {k: v for k, v in vars(job.early_termination).items() if v is not None}
    return out


def _sampling_to_v2(algorithm: SamplingAlgorithm) -> Any:
    if isinstance(algorithm, RandomSamplingAlgorithm) and (algorithm.seed is not None or algorithm.rule):
        return put({"type": "random"}, seed=algorithm.seed, rule=algorithm.rule)
    return algorithm.type


def from_v2(mapping: Mapping[str, Any], base_path: str | os.PathLike[str] | None = None) -> Translated[SweepJob]:
    """A studio_ext ``SweepJob`` from v2 ``sweepJob`` YAML's mapping."""
    mapping = plain(mapping)
    if mapping.get("type") != "sweep":
        raise InvalidInput(f"This translation takes a sweep job (type: sweep). Got type {mapping.get('type')!r}.")
    trial_map = dict(mapping.get("trial") or {})
    if not trial_map.get("command"):
        raise InvalidInput("A v2 sweep job needs a trial with a 'command', as in "
                           "trial: {command: python train.py --lr ${{search_space.lr}}}.")
    command_map = {"type": "command", **trial_map}
    for key in ("name", "display_name", "experiment_name", "description", "tags", "compute", "inputs", "outputs"):
        if key in mapping:
            command_map[key] = mapping[key]
    inner = command_job.from_v2(command_map, base_path)
    trial = inner.entity
    result: Translated[SweepJob] = Translated(SweepJob(trial=trial), notes=inner.notes, requires=inner.requires)
    space = {str(k): _distribution(str(k), v) for k, v in (mapping.get("search_space") or {}).items()}
    objective = mapping.get("objective") or {}
    sampling = mapping.get("sampling_algorithm") or "random"
    if isinstance(sampling, Mapping):
        kind = str(sampling.get("type", "random")).lower()
        algorithm = (RandomSamplingAlgorithm(seed=sampling.get("seed"), rule=sampling.get("rule"))
                     if kind == "random" else sampling_from(kind))
    else:
        algorithm = sampling_from(str(sampling))
    limits = mapping.get("limits") or {}
    result.entity = SweepJob(
        name=trial.name, display_name=trial.display_name, experiment_name=trial.experiment_name,
        description=trial.description, tags=dict(trial.tags), compute=trial.compute,
        trial=CommandJob(command=trial.command, code=trial.code, environment=trial.environment,
                         environment_variables=dict(trial.environment_variables), inputs=dict(trial.inputs),
                         outputs=dict(trial.outputs), compute=trial.compute, experiment_name=trial.experiment_name,
                         properties=dict(trial.properties)),
        inputs=dict(trial.inputs), outputs=dict(trial.outputs), search_space=space, sampling_algorithm=algorithm,
        objective=Objective(goal=str(objective.get("goal", "maximize")).lower(),
                            primary_metric=str(objective.get("primary_metric") or "")) if objective else None,
        limits=SweepJobLimits(**{k: limits.get(k) for k in ("max_concurrent_trials", "max_total_trials", "timeout",
                                                             "trial_timeout")}),
        early_termination=_policy(mapping.get("early_termination")),
    )
    return result


def _distribution(name: str, value: Any) -> SweepDistribution:
    if not isinstance(value, Mapping) or "type" not in value:
        raise InvalidInput(f"The search space {name!r} must be a distribution with a type (choice, uniform, ...). "
                           f"Got {value!r}.")
    return distribution_from_dict(dict(value))


def _policy(value: Any) -> EarlyTerminationPolicy | None:
    if not value:
        return None
    data = {k: v for k, v in dict(value).items()}
    data["type"] = str(data.get("type", "")).lower().replace("medianstopping", "median_stopping").replace(
        "truncationselection", "truncation_selection")
    return policy_from_dict(data)


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[SweepJob]:
    """A studio_ext ``SweepJob`` from azure-ai-ml's ``SweepJob`` or a ``command(...).sweep(...)`` node."""
    from azure.ai.ml.entities import Sweep
    from azure.ai.ml.sweep import SweepJob as AzureSweepJob

    job = obj._to_job() if isinstance(obj, Sweep) else obj
    if not isinstance(job, AzureSweepJob):
        raise InvalidInput(f"This translation takes azure.ai.ml.sweep.SweepJob or a command(...).sweep(...) node. "
                           f"Got {type(obj).__module__}.{type(obj).__name__}.")
    mapping = plain(job._to_dict())
    trial = getattr(job, "trial", None)
    code = getattr(trial, "code", None)
    if isinstance(code, (str, os.PathLike)) and mapping.get("trial", {}).get("code") == "azureml:" + os.fspath(code):
        mapping["trial"]["code"] = os.fspath(code)
    for name, value in (mapping.get("inputs") or {}).items():
        given = getattr((job.inputs or {}).get(name), "path", None)
        if isinstance(value, dict) and isinstance(given, str) and command_job._prefixed_path(value.get("path"), given):
            value["path"] = given
    return from_v2(mapping, base_path)


def to_azure(job: SweepJob) -> Any:
    """azure-ai-ml's ``SweepJob`` for ``job``, loaded from its v2 YAML by ``azure.ai.ml.load_job``."""
    return azure_load("load_job", to_v2(job), "sweep job")


def to_yaml(job: SweepJob) -> str:
    return dump(to_v2(job))


def literal_inputs(job: SweepJob) -> dict[str, Any]:
    """The trial's inputs that are plain values (not data): what a ``${{inputs.X}}`` search space may replace."""
    return {k: v for k, v in (job.trial.inputs if job.trial else {}).items() if not isinstance(v, Input)}
