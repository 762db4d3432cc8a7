"""AutoML job builders named as ``azure.ai.ml.automl``'s.

Example::

    from studio_ext import Input, automl

    job = automl.classification(
        training_data=Input(type="mltable", path="azureml:adult:1"),
        target_column_name="income", primary_metric="AUC_weighted",
        compute="local", experiment_name="adult-automl")
    job.set_limits(timeout_minutes=5, max_concurrent_trials=2)
    job.set_training(blocked_training_algorithms=["KNN"])
    job = ws.jobs.create_or_update(job)

``training_data``, ``validation_data`` and ``test_data`` take the ``Data`` that
registration returned or an ``Input`` naming a registered dataset.
"""

from __future__ import annotations

from typing import Any

from studio_ext._automl_code import azure_code, azure_yaml, studio_code
from studio_ext.entities._automl import (
    AutoMLJob,
    ClassificationJob,
    ColumnTransformerParams,
    FeaturizationSettings,
    ForecastingJob,
    ForecastingSettings,
    LimitSettings,
    RegressionJob,
    TrainingSettings,
)

__all__ = [
    "AutoMLJob",
    "ClassificationJob",
    "ColumnTransformerParams",
    "FeaturizationSettings",
    "ForecastingJob",
    "ForecastingSettings",
    "LimitSettings",
    "RegressionJob",
    "TrainingSettings",
    "classification",
    "forecasting",
    "regression",
    "to_azure_code",
    "to_azure_yaml",
    "to_code",
]

to_azure_yaml = azure_yaml
to_azure_code = azure_code
to_code = studio_code


def _common(
    cls: type[AutoMLJob],
    *,
    training_data: Any,
    target_column_name: str,
    primary_metric: str | None,
    enable_model_explainability: bool | None,
    weight_column_name: str | None,
    validation_data: Any,
    validation_data_size: float | None,
    n_cross_validations: int | str | None,
    test_data: Any,
    test_data_size: float | None,
    kwargs: dict[str, Any],
) -> Any:
    job = cls(
        training_data=training_data,
        target_column_name=target_column_name,
        primary_metric=primary_metric,
        weight_column_name=weight_column_name,
        validation_data=validation_data,
        validation_data_size=validation_data_size,
        n_cross_validations=n_cross_validations,
        test_data=test_data,
        test_data_size=test_data_size,
        **kwargs,
    )
    if enable_model_explainability is not None:
        job.training.enable_model_explainability = enable_model_explainability
    return job


def classification(
    *,
    training_data: Any,
    target_column_name: str,
    primary_metric: str | None = None,
    enable_model_explainability: bool | None = None,
    weight_column_name: str | None = None,
    validation_data: Any = None,
    validation_data_size: float | None = None,
    n_cross_validations: int | str | None = None,
    test_data: Any = None,
    test_data_size: float | None = None,
    positive_label: Any = None,
    **kwargs: Any,
) -> ClassificationJob:
    """A classification job (``compute``, ``experiment_name``, ``name``, ``tags`` ... as keywords)."""
    return _common(ClassificationJob, training_data=training_data, target_column_name=target_column_name,
                   primary_metric=primary_metric, enable_model_explainability=enable_model_explainability,
                   weight_column_name=weight_column_name, validation_data=validation_data,
                   validation_data_size=validation_data_size, n_cross_validations=n_cross_validations,
                   test_data=test_data, test_data_size=test_data_size,
                   kwargs={**kwargs, "positive_label": positive_label})


def regression(
    *,
    training_data: Any,
    target_column_name: str,
    primary_metric: str | None = None,
    enable_model_explainability: bool | None = None,
    weight_column_name: str | None = None,
    validation_data: Any = None,
    validation_data_size: float | None = None,
    n_cross_validations: int | str | None = None,
    test_data: Any = None,
    test_data_size: float | None = None,
    **kwargs: Any,
) -> RegressionJob:
    """A regression job."""
    return _common(RegressionJob, training_data=training_data, target_column_name=target_column_name,
                   primary_metric=primary_metric, enable_model_explainability=enable_model_explainability,
                   weight_column_name=weight_column_name, validation_data=validation_data,
                   validation_data_size=validation_data_size, n_cross_validations=n_cross_validations,
                   test_data=test_data, test_data_size=test_data_size, kwargs=kwargs)


def forecasting(
    *,
    training_data: Any,
    target_column_name: str,
    primary_metric: str | None = None,
    enable_model_explainability: bool | None = None,
    weight_column_name: str | None = None,
    validation_data: Any = None,
    validation_data_size: float | None = None,
    n_cross_validations: int | str | None = None,
    test_data: Any = None,
    test_data_size: float | None = None,
    forecasting_settings: ForecastingSettings | None = None,
    **kwargs: Any,
) -> ForecastingJob:
    """A forecasting job; name the time column and horizon with ``set_forecast_settings``."""
    job = _common(ForecastingJob, training_data=training_data, target_column_name=target_column_name,
                  primary_metric=primary_metric, enable_model_explainability=enable_model_explainability,
                  weight_column_name=weight_column_name, validation_data=validation_data,
                  validation_data_size=validation_data_size, n_cross_validations=n_cross_validations,
                  test_data=test_data, test_data_size=test_data_size, kwargs=kwargs)
    if forecasting_settings is not None:
        job.forecasting_settings = forecasting_settings
    return job
