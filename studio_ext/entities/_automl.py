"""AutoML jobs and their settings, named as ``azure.ai.ml.automl``'s.

Build them with :mod:`studio_ext.automl` (``automl.classification(...)``), adjust
them with ``set_limits``, ``set_training``, ``set_featurization`` (and
``set_forecast_settings`` for forecasting), submit with ``ws.jobs.create_or_update``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from studio_ext.entities._enum import ValueEnum
from studio_ext.entities._job import Input, Job


class FeaturizationMode(ValueEnum):
    """``auto``: the studio's featurization; ``off``: numeric columns as they are; ``custom``: with overrides."""

    AUTO = "auto"
    OFF = "off"
    CUSTOM = "custom"


class ColumnPurpose(ValueEnum):
    """What a column is used as, with the names ``column_name_and_types`` takes."""

    NUMERIC = "Numeric"
    CATEGORICAL = "Categorical"
    CATEGORICAL_HASH = "CategoricalHash"
    DATETIME = "DateTime"
    TEXT = "Text"
    IGNORE = "Ignore"


class BlockedTransformer(ValueEnum):
    """Transformers ``blocked_transformers`` can name (Azure's names)."""

    ONE_HOT_ENCODER = "OneHotEncoder"
    HASH_ONE_HOT_ENCODER = "HashOneHotEncoder"
    CAT_TARGET_ENCODER = "CatTargetEncoder"
    LABEL_ENCODER = "LabelEncoder"
    TF_IDF = "TfIdf"
    COUNT_VECTORIZER = "CountVectorizer"
    TEXT_TARGET_ENCODER = "TextTargetEncoder"
    WOE_TARGET_ENCODER = "WoETargetEncoder"
    WORD_EMBEDDING = "WordEmbedding"
    NAIVE_BAYES = "NaiveBayes"


@dataclass(kw_only=True)
class ColumnTransformerParams:
    """Parameters for one transformer on some columns, as azure-ai-ml's ``ColumnTransformer``.

    Example: ``ColumnTransformerParams(fields=["age"], parameters={"strategy": "median"})``
    under ``transformer_params={"imputer": [...]}``.
    """

    fields: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class LimitSettings:
    """Exit criteria and concurrency (``set_limits``).

    ``timeout_minutes`` is the whole job's budget (fractions allowed locally);
    ``trial_timeout_minutes`` bounds one trial; ``max_concurrent_trials`` trials run
    at once on a cluster compute.
    """

    timeout_minutes: float = 60.0
    trial_timeout_minutes: float | None = None
    max_trials: int = 1000
    max_concurrent_trials: int = 1
    max_cores_per_trial: int | None = None
    max_nodes: int | None = None
    enable_early_termination: bool = True
    exit_score: float | None = None


@dataclass(kw_only=True)
class TrainingSettings:
    """Which algorithms to try, ensembles and explanation (``set_training``)."""

    allowed_training_algorithms: list[str] | None = None
    blocked_training_algorithms: list[str] | None = None
    enable_model_explainability: bool = True
    enable_stack_ensemble: bool = True
    enable_vote_ensemble: bool = True
    enable_onnx_compatible_models: bool = False  # kept for Azure; no ONNX copy is made locally


@dataclass(kw_only=True)
class FeaturizationSettings:
    """How columns become features (``set_featurization``)."""

    mode: FeaturizationMode | str = FeaturizationMode.AUTO
    blocked_transformers: list[str] | None = None
    column_name_and_types: dict[str, str] | None = None
    transformer_params: dict[str, list[Any]] | None = None
    dataset_language: str | None = None


@dataclass(kw_only=True)
class ForecastingSettings:
    """The time axis of a forecasting job (``set_forecast_settings``).

    ``target_lags`` and ``target_rolling_window_size`` default to the horizon's
    needs: lags from the horizon on (so every future period has them) and a
    rolling mean over as many periods.
    """

    time_column_name: str | None = None
    forecast_horizon: int = 1
    time_series_id_column_names: list[str] | None = None
    target_lags: list[int] | int | str | None = None
    target_rolling_window_size: int | str | None = None
    frequency: str | None = None


@dataclass(kw_only=True)
class AutoMLJob(Job):
    """An AutoML job: a dataset, a target, a task, and how to search.

    ``training_data``, ``validation_data`` and ``test_data`` take a registered
    dataset (the ``Data`` returned by registration) or
    ``Input(type="mltable", path="azureml:NAME:VERSION")``.
    """

    type: str = "automl"
    task: str = ""
    training_data: Any = None
    target_column_name: str | None = None
    primary_metric: str | None = None
    validation_data: Any = None
    validation_data_size: float | None = None
    n_cross_validations: int | str | None = None
    test_data: Any = None
    test_data_size: float | None = None
    positive_label: Any = None
    weight_column_name: str | None = None
    limits: LimitSettings = field(default_factory=LimitSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    featurization: FeaturizationSettings = field(default_factory=FeaturizationSettings)

    def set_limits(
        self,
        *,
        timeout_minutes: float | None = None,
        trial_timeout_minutes: float | None = None,
        max_trials: int | None = None,
        max_concurrent_trials: int | None = None,
        max_cores_per_trial: int | None = None,
        max_nodes: int | None = None,
        enable_early_termination: bool | None = None,
        exit_score: float | None = None,
    ) -> None:
        """Set exit criteria and concurrency; arguments left out keep their values."""
        _update(self.limits, timeout_minutes=timeout_minutes, trial_timeout_minutes=trial_timeout_minutes,
                max_trials=max_trials, max_concurrent_trials=max_concurrent_trials,
                max_cores_per_trial=max_cores_per_trial, max_nodes=max_nodes,
                enable_early_termination=enable_early_termination, exit_score=exit_score)

    def set_training(
        self,
        *,
        allowed_training_algorithms: list[str] | None = None,
        blocked_training_algorithms: list[str] | None = None,
        enable_model_explainability: bool | None = None,
        enable_stack_ensemble: bool | None = None,
        enable_vote_ensemble: bool | None = None,
        enable_onnx_compatible_models: bool | None = None,
    ) -> None:
        """Choose algorithms, ensembles and explanation; arguments left out keep their values.

        ``enable_onnx_compatible_models`` is kept for Azure (which then trains only models it
        can convert to ONNX); locally the models are scikit-learn pipelines logged with MLflow
        and no ONNX copy is made.
        """
        _update(self.training,
                allowed_training_algorithms=_list(allowed_training_algorithms),
                blocked_training_algorithms=_list(blocked_training_algorithms),
                enable_model_explainability=enable_model_explainability,
                enable_stack_ensemble=enable_stack_ensemble, enable_vote_ensemble=enable_vote_ensemble,
                enable_onnx_compatible_models=enable_onnx_compatible_models)

    def set_featurization(
        self,
        *,
        mode: FeaturizationMode | str | None = None,
        blocked_transformers: list[str] | None = None,
        column_name_and_types: dict[str, str] | None = None,
        transformer_params: dict[str, list[Any]] | None = None,
        dataset_language: str | None = None,
    ) -> None:
        """Set the featurization; giving overrides without a mode switches it to ``custom``."""
        if mode is None and (blocked_transformers or column_name_and_types or transformer_params):
            mode = FeaturizationMode.CUSTOM
        _update(self.featurization, mode=mode, blocked_transformers=_list(blocked_transformers),
                column_name_and_types=dict(column_name_and_types) if column_name_and_types is not None else None,
                transformer_params=dict(transformer_params) if transformer_params is not None else None,
                dataset_language=dataset_language)


@dataclass(kw_only=True)
class ClassificationJob(AutoMLJob):
    task: str = "classification"


@dataclass(kw_only=True)
class RegressionJob(AutoMLJob):
    task: str = "regression"


@dataclass(kw_only=True)
class ForecastingJob(AutoMLJob):
    task: str = "forecasting"
    forecasting_settings: ForecastingSettings = field(default_factory=ForecastingSettings)

    def set_forecast_settings(
        self,
        *,
        time_column_name: str | None = None,
        forecast_horizon: int | None = None,
        time_series_id_column_names: str | list[str] | None = None,
        target_lags: list[int] | int | str | None = None,
        target_rolling_window_size: int | str | None = None,
        frequency: str | None = None,
    ) -> None:
        """Name the time column, the horizon (periods ahead) and the series id columns."""
        if isinstance(time_series_id_column_names, str):
            time_series_id_column_names = [time_series_id_column_names]
        _update(self.forecasting_settings, time_column_name=time_column_name, forecast_horizon=forecast_horizon,
                time_series_id_column_names=_list(time_series_id_column_names), target_lags=target_lags,
                target_rolling_window_size=target_rolling_window_size, frequency=frequency)


def data_reference(value: Any) -> str | None:
    """``azureml:NAME:VERSION`` for a registered dataset given as ``Data``, ``Input`` or a string."""
    if value is None:
        return None
    if isinstance(value, Input):
        return value.path
    reference = getattr(value, "reference", None)  # a Data entity
    if isinstance(reference, str):
        return reference
    return value if isinstance(value, str) else None


def _update(target: Any, **values: Any) -> None:
    for key, value in values.items():
        if value is not None:
            setattr(target, key, value)


def _list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


@dataclass(kw_only=True)
class AutoMLTrial:
    """One row of the leaderboard: a trial (child job) or an ensemble of trials."""

    name: str
    trial: int
    algorithm: str
    status: str
    metric: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    hyperparameters: dict[str, str] = field(default_factory=dict)
    duration_seconds: float | None = None
    error: str | None = None
    members: list[str] = field(default_factory=list)
    start_time: float | None = None
    end_time: float | None = None


@dataclass(kw_only=True)
class AutoMLRun:
    """An AutoML job with everything it produced so far: leaderboard, guardrails, best model facts.

    ``trials`` grows while the job runs; ``best_trial`` names the child job whose model
    is the job's best model (a ``VotingEnsemble``/``StackEnsemble`` trial when one won).
    """

    job: Job
    task: str
    primary_metric: str
    target_column_name: str
    higher_is_better: bool = True
    trials: list[AutoMLTrial] = field(default_factory=list)
    best_trial: str | None = None
    best_algorithm: str | None = None
    best_metric: float | None = None
    guardrails: list[Any] = field(default_factory=list)
    featurization: list[dict[str, Any]] = field(default_factory=list)
    validation: str | None = None
    stop_reason: str | None = None
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    explanation: list[dict[str, Any]] = field(default_factory=list)
    has_model: bool = False
    timeout_seconds: float | None = None  # the job's time budget (limits.timeout_minutes)

    @property
    def name(self) -> str:
        return str(self.job.name)

    @property
    def status(self) -> Any:
        return self.job.status

    @property
    def leaderboard(self) -> Any:
        """A DataFrame, best first: trial, algorithm, metric, duration, status."""
        import pandas as pd

        rows = [{"trial": t.trial, "name": t.name, "algorithm": t.algorithm, self.primary_metric: t.metric,
                 "duration_s": t.duration_seconds, "status": t.status} for t in self.trials]
        frame = pd.DataFrame(rows, columns=["trial", "name", "algorithm", self.primary_metric, "duration_s", "status"])
        if frame.empty:
            return frame
        return frame.sort_values(self.primary_metric, ascending=not self.higher_is_better,
                                 na_position="last", kind="stable").reset_index(drop=True)
