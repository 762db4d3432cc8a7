"""AutoML jobs: studio_ext ``ClassificationJob`` / ``RegressionJob`` / ``ForecastingJob`` <-> v2 ``autoMLJob``.

The tabular tasks (classification, regression, forecasting) run locally; image and
NLP tasks have no local form and are refused. Fields the local engine has no use for
(``log_verbosity``, stack-ensemble settings, holiday features ...) are kept in the
job's properties and noted.

azure-ai-ml quirks handled here: ``_to_dict()`` writes a local ``training_data`` path
with an ``azureml:`` prefix (``azureml:./data``), algorithm names in snake case
(``logistic_regression``) and ``time_series_id_column_names`` as the text of a list;
those are read from the object.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from studio_ext.entities import Input
from studio_ext.entities._automl import (
    AutoMLJob,
    ClassificationJob,
    FeaturizationSettings,
    ForecastingJob,
    ForecastingSettings,
    LimitSettings,
    RegressionJob,
    TrainingSettings,
)
from studio_ext.errors import InvalidInput
from studio_ext.translation._common import (
    Translated,
    arm,
    azure_load,
    check_type,
    dump,
    keep,
    keep_rest,
    local_path,
    plain,
    restore,
    str_map,
    strip_arm,
)
from studio_ext.translation.command_job import _prefixed_path

_CLASSES: dict[str, type[AutoMLJob]] = {
    "classification": ClassificationJob, "regression": RegressionJob, "forecasting": ForecastingJob}
_HANDLED = {"type", "task", "name", "display_name", "experiment_name", "description", "tags", "properties",
            "compute", "training_data", "validation_data", "test_data", "target_column_name", "primary_metric",
            "n_cross_validations", "validation_data_size", "test_data_size", "weight_column_name",
            "positive_label", "limits", "training", "featurization", "forecasting", "status", "creation_context",
            "id", "services", "outputs"}
_DEFAULTS = {"log_verbosity": "info"}
_REASONS = {
    "log_verbosity": "the local AutoML job logs at its own level",
    "resources": "instance_type and the rest choose Azure VMs; locally trials run on the job's compute",
    "identity": "locally the job runs as the user who started the studio",
    "queue_settings": "Azure's job tiers and priorities do not apply locally",
}
_SECTIONS: dict[str, tuple[type, str]] = {
    "limits": (LimitSettings, "the local AutoML engine has no such limit"),
    "training": (TrainingSettings, "the local AutoML engine has no such training setting"),
    "featurization": (FeaturizationSettings, "the local featurizer has no such setting"),
    "forecasting": (ForecastingSettings, "the local forecaster has no such setting"),
}
# Azure's primary metric names as its docs write them; v2 YAML from _to_dict() has them in snake case
_METRICS = {m.lower(): m for m in (
    "accuracy", "AUC_weighted", "average_precision_score_weighted", "norm_macro_recall", "precision_score_weighted",
    "normalized_root_mean_squared_error", "r2_score", "spearman_correlation", "normalized_mean_absolute_error")}
ONNX_NOTE = ("True is kept for Azure; locally the AutoML models are scikit-learn pipelines logged with MLflow "
             "and no ONNX copy is made")


def to_v2(job: AutoMLJob) -> dict[str, Any]:
    """The job as v2 ``autoMLJob`` YAML's mapping."""
    from studio_ext._automl_code import azure_dict

    out = azure_dict(job)  # the wizard's form, which names a cluster and an experiment Azure needs
    out.pop("compute")
    out.pop("experiment_name")
    if job.compute:
        out["compute"] = job.compute if job.compute == "local" else arm(job.compute)
    if job.experiment_name:
        out["experiment_name"] = job.experiment_name
    props: dict[str, Any] = {}
    restore(props, job.properties, "properties")
    for key, value in props.items():
        if key == "properties":
            out["properties"] = value
        elif "." in key:  # a kept field of a section: limits.max_nodes, training.stack_ensemble_settings ...
            section, _, name = key.partition(".")
            out.setdefault(section, {})[name] = value
        else:
            out[key] = value
    return out


def from_v2(mapping: Mapping[str, Any], base_path: str | os.PathLike[str] | None = None) -> Translated[AutoMLJob]:
    """A studio_ext AutoML job from v2 ``autoMLJob`` YAML's mapping (paths relative to ``base_path``)."""
    mapping = plain(mapping)
    task = str(mapping.get("task") or "")
    cls = _CLASSES.get(task)
    if cls is None:
        raise InvalidInput(
            f"This AutoML job's task is {task or 'missing'!r}: locally AutoML runs the tabular tasks "
            "('classification', 'regression', 'forecasting'). Image and NLP AutoML run on Azure only.")
    if not mapping.get("target_column_name"):
        raise InvalidInput("An AutoML job needs a target_column_name (the column it learns to predict).")
    result: Translated[AutoMLJob] = Translated(cls())
    properties = str_map(mapping.get("properties"))
    keep_rest(mapping, _HANDLED, properties, result, _REASONS, _DEFAULTS)
    sections = {name: _section(name, mapping.get(name), properties, result) for name in _SECTIONS}
    training = sections["training"]
    for key in ("allowed_training_algorithms", "blocked_training_algorithms"):
        if training.get(key) is not None:
            training[key] = [_algorithm(v, task) for v in training[key]]
    if training.get("enable_onnx_compatible_models"):
        result.note("training.enable_onnx_compatible_models", ONNX_NOTE)
    job = cls(
        name=mapping.get("name"), display_name=mapping.get("display_name"),
        experiment_name=mapping.get("experiment_name"), description=mapping.get("description"),
        tags=str_map(mapping.get("tags")), properties=properties,
        compute=strip_arm(mapping.get("compute")),
        training_data=_data(mapping.get("training_data"), base_path),
        validation_data=_data(mapping.get("validation_data"), base_path),
        test_data=_data(mapping.get("test_data"), base_path),
        target_column_name=str(mapping["target_column_name"]), primary_metric=_metric(mapping.get("primary_metric")),
        n_cross_validations=mapping.get("n_cross_validations"),
        validation_data_size=mapping.get("validation_data_size"), test_data_size=mapping.get("test_data_size"),
        weight_column_name=mapping.get("weight_column_name"), positive_label=mapping.get("positive_label"),
        limits=LimitSettings(**sections["limits"]), training=TrainingSettings(**training),
        featurization=FeaturizationSettings(**sections["featurization"]),
    )
    if isinstance(job, ForecastingJob):
        job.forecasting_settings = ForecastingSettings(**sections["forecasting"])
    elif mapping.get("forecasting"):
        keep(properties, result, "forecasting", mapping["forecasting"], f"a {task} job has no forecast settings")
    result.entity = job
    return result


def _section(name: str, value: Any, properties: dict[str, str], result: Translated[AutoMLJob]) -> dict[str, Any]:
    """The fields of a v2 section the studio_ext settings class has; the rest kept as ``NAME.FIELD`` and noted."""
    cls, reason = _SECTIONS[name]
    known = {f.name for f in fields(cls)}
    out: dict[str, Any] = {}
    for key, item in (value or {}).items():
        if item is None:
            continue
        if key in known:
            out[key] = item
        else:
            keep(properties, result, f"{name}.{key}", item, reason)
    return out


def _metric(value: Any) -> str | None:
    if value is None:
        return None
    text = str(getattr(value, "value", value))
    return _METRICS.get(text.lower(), text)


def _algorithm(value: Any, task: str) -> str:
    """Azure's algorithm name (``LogisticRegression``) for a v2 snake-case one (``logistic_regression``)."""
    text = str(getattr(value, "value", value))
    if "_" not in text and not text.islower():
        return text
    from azure.ai.ml import automl as aml_automl

    enums: dict[str, Any] = {"classification": aml_automl.ClassificationModels, "regression": aml_automl.RegressionModels,
             "forecasting": aml_automl.ForecastingModels}
    wanted = text.replace("_", "").lower()
    for member in enums[task]:
        if str(member.value).replace("_", "").lower() == wanted:
            return str(member.value)
    return text  # an unknown name: the engine's check names the ones it has


def _data(value: Any, base_path: str | os.PathLike[str] | None) -> Input | None:
    if value is None:
        return None
    if isinstance(value, str):
        return Input(type="mltable", path=local_path(value, base_path))
    path = value.get("path")
    return Input(type=str(value.get("type") or "mltable"),
                 path=local_path(path, base_path) if isinstance(path, str) else path)


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[AutoMLJob]:
    """A studio_ext AutoML job from azure-ai-ml's ``azure.ai.ml.automl`` ``ClassificationJob`` and the others."""
    from azure.ai.ml.entities._job.automl.automl_job import AutoMLJob as AzureAutoMLJob

    check_type(obj, (AzureAutoMLJob,), "AutoML job")
    mapping: dict[str, Any] = plain(obj._to_dict())
    for key in ("training_data", "validation_data", "test_data"):
        given = getattr(getattr(obj, key, None), "path", None)
        dumped = mapping.get(key)
        if isinstance(given, str) and isinstance(dumped, dict) and _prefixed_path(dumped.get("path"), given):
            dumped["path"] = given  # a local folder, written with an azureml: prefix by _to_dict()
    training = getattr(obj, "training", None)
    for key in ("allowed_training_algorithms", "blocked_training_algorithms"):
        names = getattr(training, key, None)
        if names is not None and isinstance(mapping.get("training"), dict):
            mapping["training"][key] = [str(getattr(n, "value", n)) for n in names]
    series = getattr(getattr(obj, "forecasting_settings", None), "time_series_id_column_names", None)
    if series is not None and isinstance(mapping.get("forecasting"), dict):
        mapping["forecasting"]["time_series_id_column_names"] = [series] if isinstance(series, str) else list(series)
    return from_v2(mapping, base_path)


def to_azure(job: AutoMLJob) -> Any:
    """azure-ai-ml's AutoML job for ``job``, loaded from its v2 YAML by ``azure.ai.ml.load_job``."""
    return azure_load("load_job", to_v2(job), "AutoML job")


def to_yaml(job: AutoMLJob) -> str:
    return dump(to_v2(job))
