"""An AutoML job written three ways: Azure ML v2 YAML, azure-ai-ml code, and studio_ext code.

The YAML follows the ``autoMLJob`` schema and loads with ``azure.ai.ml.load_job``;
the code forms are what the wizard shows before a submit, so the same job can be
rebuilt in a notebook here or sent to an Azure ML workspace.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from studio_ext.entities._automl import AutoMLJob, FeaturizationMode, ForecastingJob, data_reference

__all__ = ["azure_code", "azure_dict", "azure_yaml", "studio_code"]

SCHEMA = "https://azuremlschemas.azureedge.net/latest/autoMLJob.schema.json"


def _minutes(value: float | None) -> int | None:
    """Azure takes whole minutes; a fraction rounds up so the budget is never cut."""
    return None if value is None else max(1, int(math.ceil(value)))


def _input(ref: str | None) -> dict[str, str] | None:
    return None if ref is None else {"type": "mltable", "path": ref}


def _transformer_params(params: dict[str, list[Any]] | None) -> dict[str, list[dict[str, Any]]] | None:
    if not params:
        return None
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, entries in params.items():
        out[kind] = [{"fields": list(e.get("fields") if isinstance(e, dict) else e.fields),
                      "parameters": dict(e.get("parameters") if isinstance(e, dict) else e.parameters)}
                     for e in entries]
    return out


def azure_dict(job: AutoMLJob) -> dict[str, Any]:
    """The job as Azure ML v2 YAML's mapping (keys left out where the job keeps Azure's default)."""
    limits, training, featurization = job.limits, job.training, job.featurization
    out: dict[str, Any] = {
        "$schema": SCHEMA,
        "type": "automl",
        "task": job.task,
        "experiment_name": job.experiment_name or "Default",
        "compute": f"azureml:{job.compute}" if job.compute and job.compute != "local" else "azureml:cpu-cluster",
        "target_column_name": job.target_column_name,
        "training_data": _input(data_reference(job.training_data)),
    }
    if job.name:
        out["name"] = job.name
    if job.display_name:
        out["display_name"] = job.display_name
    if job.description:
        out["description"] = job.description
    if job.tags:
        out["tags"] = dict(job.tags)
    if job.primary_metric:
        out["primary_metric"] = str(job.primary_metric)
    if job.validation_data is not None:
        out["validation_data"] = _input(data_reference(job.validation_data))
    if job.test_data is not None:
        out["test_data"] = _input(data_reference(job.test_data))
    for key in ("validation_data_size", "n_cross_validations", "test_data_size", "weight_column_name"):
        value = getattr(job, key)
        if value is not None:
            out[key] = value
    if job.positive_label is not None:
        out["positive_label"] = str(job.positive_label)  # Azure's schema takes the label as text
    out["limits"] = {k: v for k, v in {
        "timeout_minutes": _minutes(limits.timeout_minutes),
        "trial_timeout_minutes": _minutes(limits.trial_timeout_minutes),
        "max_trials": limits.max_trials,
        "max_concurrent_trials": limits.max_concurrent_trials,
        "max_cores_per_trial": limits.max_cores_per_trial,
        "max_nodes": limits.max_nodes,
        "enable_early_termination": limits.enable_early_termination,
        "exit_score": limits.exit_score,
    }.items() if v is not None}
    out["training"] = {k: v for k, v in {
        "allowed_training_algorithms": training.allowed_training_algorithms,
        "blocked_training_algorithms": training.blocked_training_algorithms,
        "enable_model_explainability": training.enable_model_explainability,
        "enable_stack_ensemble": training.enable_stack_ensemble,
        "enable_vote_ensemble": training.enable_vote_ensemble,
        "enable_onnx_compatible_models": training.enable_onnx_compatible_models or None,
    }.items() if v is not None}
    mode = FeaturizationMode(getattr(featurization.mode, "value", featurization.mode))
    feat: dict[str, Any] = {"mode": mode.value}
    if featurization.blocked_transformers:
        feat["blocked_transformers"] = list(featurization.blocked_transformers)
    if featurization.column_name_and_types:
        feat["column_name_and_types"] = dict(featurization.column_name_and_types)
    params = _transformer_params(featurization.transformer_params)
    if params:
        feat["transformer_params"] = params
    if featurization.dataset_language:
        feat["dataset_language"] = featurization.dataset_language
    out["featurization"] = feat
    if isinstance(job, ForecastingJob):
        fs = job.forecasting_settings
        out["forecasting"] = {k: v for k, v in {
            "time_column_name": fs.time_column_name,
            "forecast_horizon": fs.forecast_horizon,
            "time_series_id_column_names": fs.time_series_id_column_names,
            "target_lags": fs.target_lags,
            "target_rolling_window_size": fs.target_rolling_window_size,
            "frequency": fs.frequency,
        }.items() if v is not None}
    return out


def azure_yaml(job: AutoMLJob) -> str:
    """Azure ML v2 YAML for ``job`` (``az ml job create --file job.yml``)."""
    return yaml.safe_dump(azure_dict(job), sort_keys=False, default_flow_style=False)


def _args(values: dict[str, Any], indent: str) -> str:
    return "".join(f"{indent}{k}={v!r},\n" for k, v in values.items() if v is not None)


def _common_args(job: AutoMLJob, data: str) -> dict[str, Any]:
    return {
        "compute": job.compute or "local",
        "experiment_name": job.experiment_name,
        "training_data": _Raw(data.format(ref=data_reference(job.training_data))),
        "target_column_name": job.target_column_name,
        "primary_metric": str(job.primary_metric) if job.primary_metric else None,
        "validation_data": _Raw(data.format(ref=data_reference(job.validation_data)))
        if job.validation_data is not None else None,
        "validation_data_size": job.validation_data_size,
        "n_cross_validations": job.n_cross_validations,
        "test_data": _Raw(data.format(ref=data_reference(job.test_data))) if job.test_data is not None else None,
        "test_data_size": job.test_data_size,
        "weight_column_name": job.weight_column_name,
        "positive_label": job.positive_label if job.task == "classification" else None,
        "enable_model_explainability": job.training.enable_model_explainability,
        "name": job.name,
        "display_name": job.display_name,
        "description": job.description,
        "tags": dict(job.tags) if job.tags else None,
    }


class _Raw(str):
    """Code that ``repr`` leaves as it is."""

    def __repr__(self) -> str:
        return str(self)


def _setters(job: AutoMLJob, whole_minutes: bool) -> str:
    limits, training, featurization = job.limits, job.training, job.featurization
    minutes = _minutes if whole_minutes else (lambda v: v)
    text = "job.set_limits(\n" + _args({
        "timeout_minutes": minutes(limits.timeout_minutes),
        "trial_timeout_minutes": minutes(limits.trial_timeout_minutes),
        "max_trials": limits.max_trials, "max_concurrent_trials": limits.max_concurrent_trials,
        "enable_early_termination": limits.enable_early_termination, "exit_score": limits.exit_score,
    }, "    ") + ")\n"
    text += "job.set_training(\n" + _args({
        "allowed_training_algorithms": training.allowed_training_algorithms,
        "blocked_training_algorithms": training.blocked_training_algorithms,
        "enable_stack_ensemble": training.enable_stack_ensemble,
        "enable_vote_ensemble": training.enable_vote_ensemble,
    }, "    ") + ")\n"
    mode = FeaturizationMode(getattr(featurization.mode, "value", featurization.mode))
    feat = {"mode": mode.value, "blocked_transformers": featurization.blocked_transformers,
            "column_name_and_types": featurization.column_name_and_types,
            "transformer_params": _transformer_params(featurization.transformer_params)}
    text += "job.set_featurization(\n" + _args(feat, "    ") + ")\n"
    if isinstance(job, ForecastingJob):
        fs = job.forecasting_settings
        text += "job.set_forecast_settings(\n" + _args({
            "time_column_name": fs.time_column_name, "forecast_horizon": fs.forecast_horizon,
            "time_series_id_column_names": fs.time_series_id_column_names, "target_lags": fs.target_lags,
            "target_rolling_window_size": fs.target_rolling_window_size, "frequency": fs.frequency,
        }, "    ") + ")\n"
    return text


def studio_code(job: AutoMLJob) -> str:
    """The studio_ext code that builds and submits ``job``."""
    return (
        "from studio_ext import Input, Workspace, automl\n\n"
        "ws = Workspace.from_config()\n"
        f"job = automl.{job.task}(\n"
        + _args(_common_args(job, 'Input(type="mltable", path="{ref}")'), "    ")
        + ")\n" + _setters(job, whole_minutes=False)
        + "job = ws.jobs.create_or_update(job)\n"
    )


def azure_code(job: AutoMLJob) -> str:
    """The azure-ai-ml code that builds and submits ``job`` to an Azure ML workspace."""
    common = _common_args(job, 'Input(type="mltable", path="{ref}")')
    common["compute"] = job.compute if job.compute and job.compute != "local" else "cpu-cluster"
    return (
        "from azure.ai.ml import Input, MLClient, automl\n"
        "from azure.identity import DefaultAzureCredential\n\n"
        "ml_client = MLClient.from_config(DefaultAzureCredential())\n"
        f"job = automl.{job.task}(\n" + _args(common, "    ") + ")\n"
        + _setters(job, whole_minutes=True)
        + "returned_job = ml_client.jobs.create_or_update(job)\n"
    )
