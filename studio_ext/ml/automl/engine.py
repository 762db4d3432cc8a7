"""AutoML from a DataFrame to a fitted model: checks, featurization, search, ensembles, refit.

:func:`prepare` checks the data and settings (refusing bad input before anything
runs) and decides featurization, validation and guardrails; :func:`run` searches
within a hard deadline, builds the ensembles, refits the winner on all rows and
returns an :class:`AutoMLResult` whose model is one scikit-learn pipeline
(featurization included). Pure: no storage, no MLflow; the caller records trials
through ``on_trial``.

Example::

    prepared = prepare(frame, AutoMLSettings(task=Task.CLASSIFICATION, target="y", timeout_seconds=30))
    result = run(prepared)
    result.model.predict(new_rows)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from studio_ext.entities._automl import FeaturizationSettings, ForecastingSettings
from studio_ext.errors import InvalidInput
from studio_ext.ml.automl import ensemble as ens
from studio_ext.ml.automl.featurization import FeaturizationPlan, NamedColumns, plan_featurization
from studio_ext.ml.automl.forecasting import (
    Forecaster,
    ForecastSpec,
    add_lag_features,
    check_series,
    history_of,
    plan_forecast,
)
from studio_ext.ml.automl.guardrails import Guardrail, check_guardrails
from studio_ext.ml.automl.learners import LEARNERS, LabelDecoder, Learner, fit_within, resolve_learners
from studio_ext.ml.automl.metrics import PrimaryMetric, Task, parse_metric
from studio_ext.ml.automl.report import report_for
from studio_ext.ml.automl.search import InProcessRunner, Search, SearchLimits, TrialRunner
from studio_ext.ml.automl.selection import choose_final
from studio_ext.ml.automl.trial import TrialData, TrialResult, thread_limits
from studio_ext.ml.automl.validation import ValidationPlan, check_plan, forecast_splits, make_splits, plan_validation

__all__ = ["AutoMLResult", "AutoMLSettings", "Prepared", "prepare", "run", "test_weights", "validate_settings"]

MSG_TARGET_MISSING = "The target column {target!r} is not in the training data. Columns: {columns}."
MSG_TARGET_EMPTY = "Every row's target ({target!r}) is missing: there is nothing to learn from."
MSG_ONE_CLASS = ("The target {target!r} has a single class ({label!r}); classification needs at least two. "
                 "Check the target column, or the rows selected.")
MSG_NOT_NUMERIC = ("The target {target!r} is not numeric (values such as {example!r}); {task} needs numbers. "
                   "Use classification for categories, or convert the column.")
MSG_TIMEOUT = "The 'timeout_minutes' limit must be a number > 0. Got {value!r} instead."
MSG_TRIAL_TIMEOUT = "The 'trial_timeout_minutes' limit must be a number > 0 or None. Got {value!r} instead."
MSG_POSITIVE_INT = "The {param!r} limit must be an int >= 1. Got {value!r} instead."
MSG_EXIT_SCORE = "The 'exit_score' must be a number or None. Got {value!r} instead."
MSG_POSITIVE_LABEL = ("The positive_label {label!r} is not a class of the target {target!r}. Classes: {classes}.")
MSG_NO_FEATURES = "The training data has no column besides the target {target!r}: there is nothing to learn from."
MSG_VALIDATION_COLUMNS = ("The validation data lacks the column(s) {missing} that the training data has. "
                          "Give validation data with the same columns.")
MSG_TOO_FEW_ROWS = ("The training data has {rows} rows with a target; AutoML needs at least {need}. "
                    "Give more data.")
MSG_WEIGHT_MISSING = ("The weight column {column!r} is not in the training data. Columns: {columns}. "
                      "Name a column that holds each row's sample weight, or leave weight_column_name out.")
MSG_WEIGHT_IS_TARGET = "The weight column {column!r} is the target column; name a separate column of sample weights."
MSG_WEIGHT_VALUES = ("The weight column {column!r} must hold numbers >= 0 on every row that has a target, and not "
                     "only zeros; {problem}. Fix those rows or leave weight_column_name out.")
MSG_WEIGHT_LEARNERS = ("No algorithm left can fit with sample weights ({blocked} cannot); allow others, or leave "
                       "weight_column_name out.")
MIN_ROWS = 10
FINAL_OVERHEAD_SECONDS = 1.0  # report, packaging: reserved on top of the refit estimate
REFIT_FACTOR = 1.5  # a refit on all rows costs about this much more than one fold's fit
ENSEMBLE_SECONDS = 1.0
MAX_TRIAL_SHARE = 0.2  # one trial may use a fifth of the budget; boosting and forests stop growing there


@dataclass
class AutoMLSettings:
    """Everything a run needs besides the data (the service builds it from an AutoML job)."""

    task: Task
    target: str
    primary_metric: PrimaryMetric | str | None = None
    n_cross_validations: int | str | None = None
    validation_data_size: float | None = None
    timeout_seconds: float = 3600.0
    trial_timeout_seconds: float | None = None
    max_trials: int = 1000
    max_concurrent_trials: int = 1
    enable_early_termination: bool = True
    exit_score: float | None = None
    allowed_training_algorithms: list[str] | None = None
    blocked_training_algorithms: list[str] | None = None
    enable_vote_ensemble: bool = True
    enable_stack_ensemble: bool = True
    enable_model_explainability: bool = True
    featurization: FeaturizationSettings = field(default_factory=FeaturizationSettings)
    forecasting: ForecastingSettings | None = None
    positive_label: Any = None
    weight_column: str | None = None  # weight_column_name: each row's sample weight, not a feature
    n_jobs: int = 1  # threads per trial (max_cores_per_trial); more only pays on an idle machine
    seed: int = 0


def validate_settings(settings: AutoMLSettings) -> tuple[PrimaryMetric, list[Learner]]:
    """Refuse limits and algorithm lists that cannot run; return the metric and learners."""
    t = settings.timeout_seconds
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t) or t <= 0:
        raise InvalidInput(MSG_TIMEOUT.format(value=t / 60 if isinstance(t, (int, float)) else t))
    tt = settings.trial_timeout_seconds
    if tt is not None and (not isinstance(tt, (int, float)) or isinstance(tt, bool) or tt <= 0):
        raise InvalidInput(MSG_TRIAL_TIMEOUT.format(value=tt / 60 if isinstance(tt, (int, float)) else tt))
    for param in ("max_trials", "max_concurrent_trials"):
        value = getattr(settings, param)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidInput(MSG_POSITIVE_INT.format(param=param, value=value))
    es = settings.exit_score
    if es is not None and (not isinstance(es, (int, float)) or isinstance(es, bool)):
        raise InvalidInput(MSG_EXIT_SCORE.format(value=es))
    metric = parse_metric(settings.primary_metric, settings.task)
    learners = resolve_learners(settings.task, settings.allowed_training_algorithms,
                                settings.blocked_training_algorithms)
    return metric, learners


@dataclass
class Prepared:
    """Checked data and the decisions taken before any trial: shown by the wizard before a run."""

    settings: AutoMLSettings
    metric: PrimaryMetric
    learners: list[Learner]
    features: pd.DataFrame
    y: pd.Series
    featurization: FeaturizationPlan
    validation: ValidationPlan
    guardrails: list[Guardrail]
    classes: np.ndarray | None
    forecast: ForecastSpec | None = None
    n_train: int | None = None  # rows of training data when validation data was given after them
    dropped_target_rows: int = 0
    weights: np.ndarray | None = None  # per-row sample weights (aligned with ``features``), or None

    @property
    def task(self) -> Task:
        return self.settings.task

    @cached_property
    def y_codes(self) -> np.ndarray:
        if self.classes is None:
            return self.y.to_numpy(dtype=float)
        index = {c: i for i, c in enumerate(self.classes.tolist())}
        return np.asarray([index[v] for v in self.y.tolist()])

    @property
    def y_range(self) -> float | None:
        if self.classes is not None:
            return None
        span = float(np.ptp(self.y.to_numpy(dtype=float)))
        return span or 1.0


def prepare(
    train: pd.DataFrame,
    settings: AutoMLSettings,
    validation: pd.DataFrame | None = None,
    *,
    guardrails: bool = True,
) -> Prepared:
    """Check ``train`` (and ``validation``) against ``settings``; decide featurization and validation."""
    metric, learners = validate_settings(settings)
    task = settings.task
    columns = [str(c) for c in train.columns]
    if settings.target not in columns:
        raise InvalidInput(MSG_TARGET_MISSING.format(target=settings.target, columns=", ".join(columns)))
    weight_column = settings.weight_column
    if weight_column is not None:
        if weight_column == settings.target:
            raise InvalidInput(MSG_WEIGHT_IS_TARGET.format(column=weight_column))
        if weight_column not in columns:
            raise InvalidInput(MSG_WEIGHT_MISSING.format(column=weight_column, columns=", ".join(columns)))
        learners = _weighted_learners(learners)
    if len(columns) < (3 if weight_column else 2):
        raise InvalidInput(MSG_NO_FEATURES.format(target=settings.target))
    if validation is not None:
        missing = [c for c in columns if c not in {str(v) for v in validation.columns}]
        if missing:
            raise InvalidInput(MSG_VALIDATION_COLUMNS.format(missing=", ".join(repr(m) for m in missing)))
        validation = validation[train.columns]
    target = train[settings.target]
    if target.isna().all():
        raise InvalidInput(MSG_TARGET_EMPTY.format(target=settings.target))
    keep = target.notna()
    frame = train.loc[keep].reset_index(drop=True)
    dropped = int((~keep).sum())
    n_train = None
    if validation is not None:
        valid = validation.loc[validation[settings.target].notna()].reset_index(drop=True)
        n_train = len(frame)
        frame = pd.concat([frame, valid], ignore_index=True)
    y = frame[settings.target]
    if len(y) < MIN_ROWS:
        raise InvalidInput(MSG_TOO_FEW_ROWS.format(rows=len(y), need=MIN_ROWS))
    classes = None
    if task is Task.CLASSIFICATION:
        y = y.map(lambda v: v.item() if hasattr(v, "item") else v)
        labels = pd.unique(y)
        if len(labels) < 2:
            raise InvalidInput(MSG_ONE_CLASS.format(target=settings.target, label=labels[0]))
        ordered = sorted(labels.tolist(), key=lambda v: (str(type(v)), v))
        if settings.positive_label is not None:
            positive = _match_label(settings.positive_label, ordered)
            if positive is None:
                raise InvalidInput(MSG_POSITIVE_LABEL.format(label=settings.positive_label, target=settings.target,
                                                             classes=", ".join(repr(c) for c in ordered)))
            ordered = [c for c in ordered if c != positive] + [positive]
        classes = np.asarray(ordered, dtype=object)
    else:
        numeric = pd.to_numeric(y, errors="coerce")
        if pd.api.types.is_bool_dtype(y) or numeric.isna().any():
            example = y[numeric.isna()].iloc[0] if numeric.isna().any() else y.iloc[0]
            raise InvalidInput(MSG_NOT_NUMERIC.format(target=settings.target, example=example, task=task.value))
        y = numeric.astype(float)
    weights = _sample_weights(frame[weight_column], weight_column) if weight_column else None
    features = frame.drop(columns=[settings.target] + ([weight_column] if weight_column else []))
    forecast = None
    if task is Task.FORECASTING:
        forecast = plan_forecast(frame, settings.target, settings.forecasting)
    plan = plan_validation(n_train or len(y), task, has_validation_data=validation is not None,
                           n_cross_validations=settings.n_cross_validations,
                           validation_data_size=settings.validation_data_size)
    if forecast is not None:
        check_series(frame, forecast, plan.folds)
        features = add_lag_features(features, y, forecast)
    else:
        check_plan(plan, y if n_train is None else y.iloc[:n_train], task)
    featurization = plan_featurization(features, task, settings.featurization)
    checks = check_guardrails(features, y, task, featurization, plan, leakage=guardrails) if guardrails else []
    if dropped:
        checks.insert(0, Guardrail(name="Missing target values", status=_done(),
                                   description=f"{dropped} row(s) without a target were left out of training."))
    return Prepared(settings=settings, metric=metric, learners=learners, features=features, y=y,
                    featurization=featurization, validation=plan, guardrails=checks, classes=classes,
                    forecast=forecast, n_train=n_train, dropped_target_rows=dropped, weights=weights)


def _weighted_learners(learners: list[Learner]) -> list[Learner]:
    """The learners that take sample weights; refuses when none is left."""
    kept = [lr for lr in learners if lr.weighted]
    if not kept:
        raise InvalidInput(MSG_WEIGHT_LEARNERS.format(blocked=", ".join(lr.name for lr in learners)))
    return kept


def _sample_weights(column: pd.Series, name: str) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() | (values < 0)
    if bad.any():
        example = column[bad].iloc[0]
        example = example.item() if hasattr(example, "item") else example
        raise InvalidInput(MSG_WEIGHT_VALUES.format(column=name, problem=f"{int(bad.sum())} row(s) do not, "
                                                    f"such as {example!r}"))
    if not (values > 0).any():
        raise InvalidInput(MSG_WEIGHT_VALUES.format(column=name, problem="every weight is 0"))
    return values.to_numpy(dtype=float)


def _done() -> Any:
    from studio_ext.ml.automl.guardrails import GuardrailStatus

    return GuardrailStatus.DONE


def _match_label(wanted: Any, labels: list[Any]) -> Any:
    for label in labels:
        if label == wanted or str(label) == str(wanted):
            return label
    return None


@dataclass
class AutoMLResult:
    """What a run produced: the fitted best model, every trial, and the best model's report."""

    prepared: Prepared
    model: Any
    trials: list[TrialResult]
    best: TrialResult
    stop_reason: str
    timings: dict[str, float]
    notes: list[str] = field(default_factory=list)

    @property
    def task(self) -> Task:
        return self.prepared.task

    @property
    def metric(self) -> PrimaryMetric:
        return self.prepared.metric

    @cached_property
    def leaderboard(self) -> pd.DataFrame:
        """One row per trial, best first (ensembles included), as the studio's Models tab."""
        rows = []
        for r in self.trials:
            rows.append({"trial": r.trial_id, "algorithm": r.learner, "status": r.status,
                         self.metric.value: r.metrics.get(self.metric.value, math.nan),
                         "duration_s": round(r.duration, 3), "hyperparameters": r.config, "error": r.error})
        frame = pd.DataFrame(rows)
        if frame.empty:
            return frame
        order = sorted(range(len(self.trials)), key=lambda i: rank_key(self.trials[i]) if self.trials[i].ok
                       else (True, math.inf, self.trials[i].trial_id))
        return frame.iloc[order].reset_index(drop=True)

    @cached_property
    def report(self) -> Any:
        """Charts of the best model on held-out rows (out-of-fold for cross-validation)."""
        prepared = self.prepared
        rows = _oof_rows(prepared) if self.best.rows is None else self.best.rows
        truth = prepared.y.iloc[rows].tolist() if prepared.classes is not None else prepared.y.iloc[rows]
        weights = None if prepared.weights is None else prepared.weights[rows]
        return report_for(self.task, truth, self.best.predictions, prepared.classes,
                          prepared.settings.positive_label, prepared.y_range, weights=weights)


def _oof_rows(prepared: Prepared) -> np.ndarray:
    return np.unique(np.concatenate([v for _, v in _splits(prepared)]))


def _splits(prepared: Prepared) -> list[tuple[np.ndarray, np.ndarray]]:
    plan = prepared.validation
    if prepared.forecast is not None:
        from studio_ext.ml.automl.forecasting import parse_times, series_keys

        frame = prepared.features
        return forecast_splits(parse_times(frame, prepared.forecast), series_keys(frame, prepared.forecast),
                               prepared.forecast.horizon, plan.folds)
    return make_splits(plan, prepared.y_codes, prepared.task, seed=prepared.settings.seed, n_train=prepared.n_train)


def featurize(prepared: Prepared) -> tuple[Any, np.ndarray]:
    """Fit the featurizer (on the training part when validation data was given) and transform every row."""
    featurizer = prepared.featurization.build()
    y = prepared.y_codes
    if prepared.n_train is not None:
        n = prepared.n_train
        train_x = featurizer.fit_transform(prepared.features.iloc[:n], y[:n])
        valid_x = featurizer.transform(prepared.features.iloc[n:])
        return featurizer, np.vstack([train_x, valid_x]).astype(float)
    return featurizer, np.asarray(featurizer.fit_transform(prepared.features, y), dtype=float)


def run(
    prepared: Prepared,
    *,
    runner_factory: Callable[[TrialData], TrialRunner] | None = None,
    on_trial: Callable[[TrialResult], None] | None = None,
    on_event: Callable[[str], None] | None = None,
    deadline: float | None = None,
    after_seconds: float = 0.0,
) -> AutoMLResult:
    """Search until the deadline (``timeout_seconds`` from now unless given), then build the best model.

    ``after_seconds`` is time the caller needs once this returns (saving the model,
    explaining it): the search ends early enough to leave it.
    """
    settings = prepared.settings
    started = time.time()
    deadline = (deadline or started + settings.timeout_seconds) - after_seconds
    say = on_event or (lambda _msg: None)
    featurizer, X = featurize(prepared)
    splits = _splits(prepared)
    data = TrialData(X=X, y=prepared.y_codes, splits=splits, task=prepared.task, metric=prepared.metric,
                     classes=np.arange(len(prepared.classes)) if prepared.classes is not None else None,
                     y_range=prepared.y_range, weights=prepared.weights)
    featurized_at = time.time()
    say(f"Featurized {X.shape[0]:,} rows into {X.shape[1]:,} features in {featurized_at - started:.1f} s; "
        f"validating with {prepared.validation.description}.")
    runner = runner_factory(data) if runner_factory else InProcessRunner(data)
    limits = SearchLimits(deadline=deadline - FINAL_OVERHEAD_SECONDS, max_trials=settings.max_trials,
                          max_concurrent_trials=settings.max_concurrent_trials,
                          trial_timeout=settings.trial_timeout_seconds, exit_score=settings.exit_score,
                          early_termination=settings.enable_early_termination,
                          n_jobs=settings.n_jobs if isinstance(runner, InProcessRunner) else 1,
                          first_trial_seconds=max(2.0, 0.1 * settings.timeout_seconds),
                          max_trial_seconds=max(2.0, MAX_TRIAL_SHARE * settings.timeout_seconds))
    folds = len(splits)

    ensembles = settings.enable_vote_ensemble or settings.enable_stack_ensemble

    def tell(result: TrialResult) -> None:
        # Keep time for the final refit: of the best trial, or of the members an ensemble would take.
        done = sorted((r for r in search.results if r.complete), key=rank_key)
        if done:
            refit = done[:ens.MAX_MEMBERS // 2] if ensembles else done[:1]
            reserve = FINAL_OVERHEAD_SECONDS + REFIT_FACTOR * sum(r.fold_seconds(folds) for r in refit)
            if ensembles:  # selecting and scoring the ensembles takes about one round of scoring per member
                reserve += ENSEMBLE_SECONDS
            search.limits.deadline = deadline - max(reserve, FINAL_OVERHEAD_SECONDS)
        if on_trial is not None:
            on_trial(result)

    search = Search(data=data, learners=prepared.learners, limits=limits, runner=runner, on_trial=tell,
                    seed=settings.seed)
    try:
        results = search.run()
    finally:
        runner.close()
    search_ended = time.time()
    say(f"Search stopped after {len(results)} trials: {search.stop_reason}.")
    single_best = search.best
    if single_best is None:
        errors = "; ".join(sorted({(r.error or r.status).splitlines()[0] for r in results})[:3])
        raise RuntimeError(f"No trial completed ({len(results)} tried): {errors or 'the budget was too short'}.")
    # BLAS and OpenMP capped as in the trials: spinning threads on a busy machine made these steps 5x slower.
    with thread_limits(settings.n_jobs if settings.n_jobs > 0 else None):
        model, trials, chosen, notes = _finish_search(prepared, featurizer, X, data, results, single_best, deadline,
                                                      folds, on_trial, say)
    notes = [*search.plateaued.values(), *notes]
    if search.duplicates_skipped:
        notes.append(f"{search.duplicates_skipped} configurations the search proposed again were not re-run "
                     "(each had run already; its searcher was told the earlier result).")
    ended = time.time()
    say(f"Best: {chosen.learner} (trial {chosen.trial_id}), {prepared.metric.value} = "
        f"{chosen.metrics.get(prepared.metric.value, math.nan):.4f}; refit in {ended - search_ended:.1f} s.")
    trial_seconds = sum(r.duration for r in results)
    timings = {"started": started, "featurize_s": featurized_at - started,
               "search_s": search_ended - featurized_at, "final_s": ended - search_ended,
               "total_s": ended - started, "trial_s": trial_seconds}
    return AutoMLResult(prepared=prepared, model=model, trials=trials, best=chosen, stop_reason=search.stop_reason,
                        timings=timings, notes=notes)


def _finish_search(prepared: Prepared, featurizer: Any, X: np.ndarray, data: TrialData, results: list[TrialResult],
                   single_best: TrialResult, deadline: float, folds: int,
                   on_trial: Callable[[TrialResult], None] | None, say: Callable[[str], None],
                   ) -> tuple[Any, list[TrialResult], TrialResult, list[str]]:
    """The ensembles, the final choice between them and the best single trial, and its refit on all rows."""
    settings = prepared.settings
    notes: list[str] = []
    trials = list(results)
    next_id = max(r.trial_id for r in trials) + 1
    members = ens.candidates(trials, refit_seconds=deadline - time.time() - FINAL_OVERHEAD_SECONDS - ENSEMBLE_SECONDS,
                             cost=lambda r: REFIT_FACTOR * r.fold_seconds(folds))
    for enabled, build in ((settings.enable_vote_ensemble, ens.vote), (settings.enable_stack_ensemble, ens.stack)):
        if not enabled:
            continue
        built = build(members, data, next_id)
        if built is not None:
            built.started = built.ended = time.time()
            trials.append(built)
            next_id += 1
            if on_trial is not None:
                on_trial(built)
    by_id = {r.trial_id: r for r in trials}
    built = [r for r in trials if r.components and r.ok]
    choice = choose_final(single_best, built, trials, data, vote_pool=members, seed=settings.seed)
    if choice.losses or choice.chosen is not single_best:
        say(choice.describe(prepared.metric))
        if choice.chosen is not min((r for r in trials if r.ok), key=rank_key):
            notes.append(choice.describe(prepared.metric))
    # The choice first, then its single trial (always refittable): an ensemble only if its refit fits in time.
    chosen = single = choice.single
    for candidate in [choice.chosen] + ([single] if choice.chosen is not single else []):
        members_of = [by_id[c] for c in candidate.components] or [candidate]
        cost = REFIT_FACTOR * sum(m.fold_seconds(folds) for m in members_of)
        if candidate is single or time.time() + cost <= deadline:
            chosen = candidate
            break
        notes.append(f"{candidate.learner} (trial {candidate.trial_id}) was chosen but refitting it would "
                     f"overrun the budget; the single trial {single.learner} (trial {single.trial_id}) was refit "
                     "instead.")
    model = _final_model(prepared, featurizer, X, data, chosen, by_id)
    return model, trials, chosen, notes


def rank_key(result: TrialResult) -> tuple[bool, float, int]:
    """Best first: trials validated on every fold before those a deadline cut short, then by loss."""
    return (not result.complete, result.loss, result.trial_id)


def _final_model(prepared: Prepared, featurizer: Any, X: np.ndarray, data: TrialData, chosen: TrialResult,
                 by_id: dict[int, TrialResult]) -> Any:
    """Refit the chosen trial (or each ensemble member) on every training row; wrap with featurization."""
    from sklearn.pipeline import Pipeline

    rows = np.arange(len(X)) if prepared.n_train is None else np.arange(prepared.n_train)
    y = data.y[rows]
    task = prepared.task

    def refit(trial: TrialResult) -> Any:
        learner = LEARNERS[trial.learner]
        config = {**trial.config, **{k: v for k, v in trial.trained.items() if k in trial.config}}
        estimator = learner.estimator(config, task, n_jobs=prepared.settings.n_jobs)
        return fit_within(estimator, X[rows], y, math.inf, sample_weight=data.weights_at(rows))

    if chosen.learner == "VotingEnsemble":
        fitted = [refit(by_id[c]) for c in chosen.components]
        inner: Any = ens.VotingModel(members=fitted, weights=chosen.weights,
                                     classification=task is Task.CLASSIFICATION)
    elif chosen.learner == "StackEnsemble":
        fitted = [refit(by_id[c]) for c in chosen.components]
        meta = ens.fit_meta([by_id[c].predictions for c in chosen.components], data.y[data.oof_rows], task,
                            weights=data.weights_at(data.oof_rows))
        inner = ens.StackingModel(members=fitted, meta=meta, n_classes=data.n_classes)
    else:
        inner = refit(chosen)
    if task is Task.CLASSIFICATION:
        inner = LabelDecoder.wrap(inner, prepared.classes)
    columns = NamedColumns().fit(prepared.features.iloc[:0])
    pipeline = Pipeline([("columns", columns), ("featurize", featurizer), ("model", inner)])
    if prepared.forecast is not None:
        n = len(prepared.features) if prepared.n_train is None else prepared.n_train
        raw = prepared.features.iloc[:n].drop(columns=[c for c in prepared.features.columns
                                                       if c.startswith(f"{prepared.forecast.target}_")
                                                       or c == "_series"])
        history = history_of(raw, prepared.y.iloc[:n], prepared.forecast)
        return Forecaster(pipeline=pipeline, spec=prepared.forecast, history=history)
    return pipeline


def predictions_frame(result: AutoMLResult, frame: pd.DataFrame) -> pd.DataFrame:
    """The test data's rows with the model's prediction (and class probabilities) appended."""
    out = frame.reset_index(drop=True).copy()
    features = out.drop(columns=[result.prepared.settings.target], errors="ignore")
    if result.task is Task.FORECASTING:
        out["prediction"] = result.model.predict(out)
        return out
    if result.task is Task.CLASSIFICATION:  # one pass: the predicted class is the most probable one
        proba = np.asarray(result.model.predict_proba(features))
        out["prediction"] = result.prepared.classes[proba.argmax(axis=1)]
        for i, c in enumerate(result.prepared.classes):
            out[f"probability_{c}"] = proba[:, i]
        return out
    out["prediction"] = result.model.predict(features)
    return out


def score_test_data(result: AutoMLResult, frame: pd.DataFrame,
                    predicted: pd.DataFrame | None = None) -> tuple[dict[str, float], Any]:
    """Metrics and the report of the best model on test rows (which carry the target).

    With ``weight_column_name``, the test rows' own weights weight the metrics and charts.
    ``predicted``: :func:`predictions_frame` of the same rows, so the model does not predict them again.
    """
    if predicted is not None:
        keep = frame[result.prepared.settings.target].notna().to_numpy()
        predicted = predicted.loc[keep].reset_index(drop=True)
    target = result.prepared.settings.target
    if target not in frame.columns:
        raise InvalidInput(f"The test data lacks the target column {target!r}; it is needed to score the model.")
    frame = frame.loc[frame[target].notna()].reset_index(drop=True)
    prepared = result.prepared
    weights = test_weights(frame, prepared.settings)
    if result.task is Task.FORECASTING:
        truth = frame[target].astype(float)
        prediction = result.model.predict(frame)  # from these rows' own history (not reused: rows were dropped)
        report = report_for(result.task, truth, prediction, y_range=prepared.y_range, weights=weights)
        return report.metrics, report
    features = frame.drop(columns=[target] + ([prepared.settings.weight_column] if weights is not None else []))
    if result.task is Task.CLASSIFICATION:
        proba = (result.model.predict_proba(features) if predicted is None else
                 predicted[[f"probability_{c}" for c in prepared.classes]].to_numpy())
        known = frame[target].map(lambda v: _match_label(v, prepared.classes.tolist()))
        if known.isna().any():
            unseen = frame[target][known.isna()].iloc[0]
            raise InvalidInput(f"The test data has the class {unseen!r}, which the training data never had. "
                               f"Classes: {', '.join(repr(c) for c in prepared.classes)}.")
        report = report_for(result.task, known.tolist(), proba, prepared.classes, prepared.settings.positive_label,
                            weights=weights)
        return report.metrics, report
    prediction = result.model.predict(features) if predicted is None else predicted["prediction"].to_numpy()
    report = report_for(result.task, frame[target].astype(float), prediction, y_range=prepared.y_range,
                        weights=weights)
    return report.metrics, report


def test_weights(frame: pd.DataFrame, settings: AutoMLSettings) -> np.ndarray | None:
    """The test rows' sample weights (rows with a target), when the job has a weight column and the test data
    carries it; refuses weights that are not numbers >= 0 (checked at submit too)."""
    column = settings.weight_column
    if column is None or column not in frame.columns:
        return None
    rows = frame.loc[frame[settings.target].notna()] if settings.target in frame.columns else frame
    try:
        return _sample_weights(rows[column].reset_index(drop=True), column)
    except InvalidInput as exc:
        raise InvalidInput(f"In the test data: {exc.message}") from None
