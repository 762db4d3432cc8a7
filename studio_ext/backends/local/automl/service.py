"""``ws.automl`` on the local backend: submit AutoML jobs and read what they produced.

An AutoML job is a job of type ``automl`` in the jobs service: its command runs
:mod:`.automl_run` on the chosen compute, so it outlives the kernel like any job.
Bad input is refused here, before anything is written (the data is loaded and
checked by the same engine the job runs). Each trial becomes a child job; the
parent's run holds the guardrails, featurization summary, best model, its report,
test predictions and explanation as artifacts, which this class reads back.
"""

from __future__ import annotations

import builtins
import json
import re
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio_ext._automl_code import azure_code, azure_yaml, studio_code
from studio_ext.backends.local.automl.trials import BEST_CHILD_TAG, TRIAL_JOB_TYPE
from studio_ext.backends.local.core import tracking
from studio_ext.backends.local.core.accepting import accepts
from studio_ext.entities import CommandJob, Input, InsightRecord, Job, ManagedOnlineEndpoint, Model
from studio_ext.entities._automl import (
    AutoMLJob,
    AutoMLRun,
    AutoMLTrial,
    FeaturizationSettings,
    ForecastingJob,
    ForecastingSettings,
    data_reference,
)
from studio_ext.errors import Conflict, InvalidInput, NotFound
from studio_ext.services import AutoMLOperations

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from studio_ext.backends.local import LocalBackend
    from studio_ext.ml.automl import Task
    from studio_ext.ml.automl.engine import AutoMLSettings, Prepared
    from studio_ext.ml.automl.report import ClassificationReport, RegressionReport
    from studio_ext.ml.explain import Explanation

JOB_TYPE = "automl"
SETTINGS_FILE = "automl_settings.json"
ARTIFACTS = "automl"  # folder of the parent run's artifacts: guardrails.json, summary.json ...
MODEL_ARTIFACT = "model"
PREDICTIONS_ARTIFACT = "outputs/predictions.csv"
_REFERENCE = re.compile(r"^azureml:([A-Za-z0-9][A-Za-z0-9_.-]*)(?::(\d+)|@(latest))?$")

MSG_NOT_AUTOML = "ws.automl takes a job built with studio_ext.automl.classification/regression/forecasting. Got {kind}."
MSG_NO_TRAINING = ("The AutoML job has no training_data. Give the Data returned by ws.data.create_or_update, or "
                   "Input(type='mltable', path='azureml:NAME:VERSION').")
MSG_BAD_DATA = ("{what} must be a registered dataset: the Data returned by ws.data.create_or_update, or "
                "Input(type='mltable', path='azureml:NAME:VERSION'). Got {value!r} instead.")
MSG_NO_TARGET = "The AutoML job has no target_column_name. Name the column to predict."
MSG_WEIGHT_NAME = "weight_column_name must name a column of the training data. Got {value!r} instead."
MSG_TEST_SIZE = "The 'test_data_size' must be a fraction in (0, 1). Got {value!r} instead."
MSG_TEST_BOTH = "Give test_data or test_data_size, not both."
MSG_NOT_AUTOML_JOB = "The job {name!r} is a {kind} job, not an AutoML job."
MSG_NO_MODEL = ("The AutoML job {name!r} has no best model yet ({status}). Wait for it to complete: "
                "ws.jobs.stream({name!r}).")


def parse_reference(ref: str) -> tuple[str, str | None]:
    match = _REFERENCE.match(ref or "")
    if not match:
        raise InvalidInput(MSG_BAD_DATA.format(what="The dataset reference", value=ref))
    return match.group(1), match.group(2)


def spec_of(job: AutoMLJob) -> dict[str, Any]:
    """The job's settings as JSON-able data: what the AutoML job's process reads."""
    spec = {
        "task": job.task,
        "target_column_name": job.target_column_name,
        "primary_metric": str(job.primary_metric) if job.primary_metric is not None else None,
        "n_cross_validations": job.n_cross_validations,
        "validation_data_size": job.validation_data_size,
        "test_data_size": job.test_data_size,
        "positive_label": job.positive_label,
        "weight_column_name": job.weight_column_name,
        "limits": asdict(job.limits),
        "training": asdict(job.training),
        "featurization": _featurization_dict(job.featurization),
        "forecasting": asdict(job.forecasting_settings) if isinstance(job, ForecastingJob) else None,
        "training_data": data_reference(job.training_data),
        "validation_data": data_reference(job.validation_data),
        "test_data": data_reference(job.test_data),
        "compute": job.compute or "local",
    }
    return json.loads(json.dumps(spec, default=str))


def _featurization_dict(settings: FeaturizationSettings) -> dict[str, Any]:
    out = asdict(settings)
    out["mode"] = str(getattr(settings.mode, "value", settings.mode))
    params = {}
    for kind, entries in (settings.transformer_params or {}).items():
        params[kind] = [{"fields": list(e["fields"] if isinstance(e, dict) else e.fields),
                         "parameters": dict(e["parameters"] if isinstance(e, dict) else e.parameters)}
                        for e in entries]
    out["transformer_params"] = params or None
    return out


def settings_of(spec: dict[str, Any]) -> AutoMLSettings:
    """Engine settings from a job's spec (minutes become seconds; Azure's names map to the engine's)."""
    from studio_ext.ml.automl import AutoMLSettings, Task

    limits, training = spec["limits"], spec["training"]
    trial_timeout = limits.get("trial_timeout_minutes")
    forecasting = spec.get("forecasting")
    timeout = limits.get("timeout_minutes")
    return AutoMLSettings(
        task=Task(spec["task"]),
        target=spec["target_column_name"],
        primary_metric=spec.get("primary_metric"),
        n_cross_validations=spec.get("n_cross_validations"),
        validation_data_size=spec.get("validation_data_size"),
        timeout_seconds=timeout * 60 if isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
        else timeout,
        trial_timeout_seconds=trial_timeout * 60 if isinstance(trial_timeout, (int, float)) else trial_timeout,
        max_trials=limits.get("max_trials"),
        max_concurrent_trials=limits.get("max_concurrent_trials"),
        enable_early_termination=bool(limits.get("enable_early_termination", True)),
        exit_score=limits.get("exit_score"),
        allowed_training_algorithms=training.get("allowed_training_algorithms"),
        blocked_training_algorithms=training.get("blocked_training_algorithms"),
        enable_vote_ensemble=bool(training.get("enable_vote_ensemble", True)),
        enable_stack_ensemble=bool(training.get("enable_stack_ensemble", True)),
        enable_model_explainability=bool(training.get("enable_model_explainability", True)),
        featurization=FeaturizationSettings(**spec["featurization"]),
        forecasting=ForecastingSettings(**forecasting) if forecasting else None,
        positive_label=spec.get("positive_label"),
        weight_column=spec.get("weight_column_name"),
        n_jobs=limits.get("max_cores_per_trial") or free_cores(),
    )


def free_cores() -> int:
    """Cores nobody else is using now (by the load average): threads a trial may take without
    oversubscribing, which makes OpenMP libraries spin instead of work."""
    import os

    cores = os.cpu_count() or 1
    try:
        busy = int(os.getloadavg()[0])
    except OSError:
        busy = 0
    return max(1, cores - busy)


def split_test(frame: pd.DataFrame, spec: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Hold out ``test_data_size`` of the training rows (stratified for classification, last rows in time
    for forecasting)."""
    size = spec.get("test_data_size")
    if not size:
        return frame, None
    from sklearn.model_selection import train_test_split

    if spec["task"] == "forecasting":
        time_column = (spec.get("forecasting") or {}).get("time_column_name")
        ordered = frame.sort_values(time_column, kind="stable") if time_column in frame.columns else frame
        cut = int(round(len(ordered) * (1 - size)))
        return ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)
    target = spec["target_column_name"]
    stratify = frame[target] if spec["task"] == "classification" and target in frame.columns else None
    try:
        train, test = train_test_split(frame, test_size=size, random_state=0, stratify=stratify)
    except ValueError:  # a class too small to stratify
        train, test = train_test_split(frame, test_size=size, random_state=0)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _task(task: str) -> Task:
    from studio_ext.ml.automl import Task

    try:
        return Task(task)
    except ValueError:
        raise InvalidInput(f"The 'task' must be one of {', '.join(t.value for t in Task)}. "
                           f"Got {task!r} instead.") from None


def _minutes_to_seconds(minutes: float | None) -> float | None:
    return float(minutes) * 60 if minutes else None


class LocalAutoML(AutoMLOperations):
    """``ws.automl``: AutoML jobs (submit, check before, read after) on the local backend."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- before a run -----------------------------------------------------------------------
    def supported_algorithms(self, task: str) -> builtins.list[str]:
        """The learners the local engine (FLAML) has for ``task``, in its order of preference."""
        from studio_ext.ml.automl import learners_for

        return [learner.name for learner in learners_for(_task(task))]

    def supported_primary_metrics(self, task: str) -> builtins.list[str]:
        """Azure ML's primary metrics for ``task`` (forecasting takes the regression ones)."""
        from studio_ext.ml.automl import CLASSIFICATION_METRICS, REGRESSION_METRICS, Task

        parsed = _task(task)
        return [m.value for m in (CLASSIFICATION_METRICS if parsed is Task.CLASSIFICATION else REGRESSION_METRICS)]

    def warm_up(self, wait: float = 0.0) -> bool:
        """Have the workspace's supervisor keep an AutoML process ready, its libraries already imported.

        Importing pandas, scikit-learn, LightGBM, MLflow and FLAML takes seconds of a job's budget;
        a job started from the ready process skips them. Submitting an AutoML job asks for one too
        (for the next job). ``wait``: seconds to wait for it to be ready. Returns whether it is.
        """
        from studio_ext.backends.local.automl.warm_start import WARM_SETTING

        store = self._b.store
        self._want_warm()
        self._b.ensure_supervisor()
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            if (store.get_setting(WARM_SETTING) or {}).get("ready"):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def check(self, job: AutoMLJob, *, guardrails: bool = True) -> Prepared:
        """Load the job's data and check it as the run will: raises on bad input, returns the
        featurization, validation and guardrails decided (what the wizard shows before a submit)."""
        spec = self._spec(job)
        train = self._load(spec["training_data"], "training_data")
        validation = self._load(spec["validation_data"], "validation_data") if spec["validation_data"] else None
        from studio_ext.ml.automl import prepare
        from studio_ext.ml.automl.engine import test_weights

        settings = settings_of(spec)
        if spec["test_data"]:
            test_weights(self._load(spec["test_data"], "test_data"), settings)  # bad weights refused now
        train, _ = split_test(train, spec)
        return prepare(train, settings, validation, guardrails=guardrails)

    def _want_warm(self) -> None:
        """From now on the supervisor keeps a warm AutoML process for this workspace's next jobs."""
        from studio_ext.backends.local.automl.warm_start import WARM_SETTING

        if not (self._b.store.get_setting(WARM_SETTING) or {}).get("wanted"):
            self._b.store.set_setting(WARM_SETTING, {"wanted": True, "ready": False})

    def _spec(self, job: AutoMLJob) -> dict[str, Any]:
        if not isinstance(job, AutoMLJob):
            raise InvalidInput(MSG_NOT_AUTOML.format(kind=type(job).__name__))
        for what in ("training_data", "validation_data", "test_data"):
            value = getattr(job, what)
            if value is not None and data_reference(value) is None:
                raise InvalidInput(MSG_BAD_DATA.format(what=what, value=value))
        if job.training_data is None:
            raise InvalidInput(MSG_NO_TRAINING)
        if not isinstance(job.target_column_name, str) or not job.target_column_name:
            raise InvalidInput(MSG_NO_TARGET)
        if job.weight_column_name is not None and (not isinstance(job.weight_column_name, str)
                                                   or not job.weight_column_name):
            raise InvalidInput(MSG_WEIGHT_NAME.format(value=job.weight_column_name))
        if job.test_data_size is not None:
            if job.test_data is not None:
                raise InvalidInput(MSG_TEST_BOTH)
            size = job.test_data_size
            if not isinstance(size, (int, float)) or isinstance(size, bool) or not 0 < size < 1:
                raise InvalidInput(MSG_TEST_SIZE.format(value=size))
        return spec_of(job)

    def _load(self, ref: str, what: str) -> pd.DataFrame:
        if not isinstance(ref, str) or not ref.startswith("azureml:") or ref.startswith("azureml://"):
            raise InvalidInput(MSG_BAD_DATA.format(what=what, value=ref))
        name, version = parse_reference(ref)
        return self._b.service("data").load(name, version)

    # -- submit -------------------------------------------------------------------------------
    @accepts(AutoMLJob, "ws.automl.create_or_update")  # an azure.ai.ml.automl job is translated too
    def create_or_update(self, job: AutoMLJob, *, parent_job_name: str | None = None) -> AutoMLJob:
        """Check the job and its data, then submit it to the jobs service as a job of type ``automl``.

        The budget counts from here: the job process reads ``submitted_at`` from its settings.
        """
        submitted_at = time.time()
        self.check(job, guardrails=False)
        self._want_warm()
        spec = {**spec_of(job), "submitted_at": submitted_at}
        inputs = {"training_data": Input(type="mltable", path=spec["training_data"])}
        argv = (f"python -m studio_ext.backends.local.automl.run --workspace {_quote(self._b.path)} "
                f"--settings {SETTINGS_FILE} --training ${{{{inputs.training_data}}}}")
        for key, flag in (("validation_data", "--validation"), ("test_data", "--test")):
            if spec[key]:
                inputs[key] = Input(type="mltable", path=spec[key])
                argv += f" {flag} ${{{{inputs.{key}}}}}"
        tags = {**job.tags, "task": job.task, "primary_metric": str(
            job.primary_metric or settings_of(spec).primary_metric or "")}
        if spec["compute"] != "local":  # a cluster scales to the trials that run at once, not to one node
            from studio_ext.backends.local.compute.job_scheduler import NODES_TAG

            tags[NODES_TAG] = str(job.limits.max_concurrent_trials)
        with tempfile.TemporaryDirectory(prefix="studio-automl-") as code:
            Path(code, SETTINGS_FILE).write_text(json.dumps(spec, indent=2), encoding="utf-8")
            command = CommandJob(
                command=argv, code=code, inputs=inputs, compute=job.compute or "local",
                experiment_name=job.experiment_name, display_name=job.display_name, description=job.description,
                name=job.name, tags=tags, type=JOB_TYPE,
            )
            submitted = self._b.service("jobs").create_or_update(command, parent_job_name=parent_job_name)
        return self._as_automl(job, submitted)

    @staticmethod
    def _as_automl(job: AutoMLJob, submitted: Job) -> AutoMLJob:
        return replace(job, name=submitted.name, status=submitted.status, run_id=submitted.run_id,
                       creation_time=submitted.creation_time, start_time=submitted.start_time,
                       end_time=submitted.end_time, experiment_name=submitted.experiment_name,
                       compute=submitted.compute, tags=dict(submitted.tags), metrics=dict(submitted.metrics),
                       children=list(submitted.children), error=submitted.error,
                       studio_url=submitted.studio_url)

    # -- after (and while) a run ------------------------------------------------------------------
    def get(self, name: str) -> AutoMLRun:
        """The AutoML job with its leaderboard, guardrails and best-model facts (so far)."""
        job = self._require(name)
        spec = self._settings(name)
        from studio_ext.ml.automl import Task, parse_metric

        task = Task(spec["task"])
        metric = parse_metric(spec.get("primary_metric"), task)
        summary = self._artifact_json(job, "summary.json") or {}
        guardrails = self._artifact_json(job, "guardrails.json") or []
        featurization = self._artifact_json(job, "featurization.json") or {}
        explanation = self._artifact_json(job, "explanation.json") or []
        trials = self.list_trials(name, metric=metric.value)
        from studio_ext.ml.automl.guardrails import Guardrail

        best = summary.get("best_trial") or job.tags.get(BEST_CHILD_TAG)
        best_trial = next((t for t in trials if t.name == best), None)
        return AutoMLRun(
            job=job, task=task.value, primary_metric=metric.value, target_column_name=spec["target_column_name"],
            higher_is_better=metric.higher_is_better, trials=trials, best_trial=best,
            best_algorithm=best_trial.algorithm if best_trial else None,
            best_metric=best_trial.metric if best_trial else job.metrics.get(metric.value),
            guardrails=[Guardrail.from_dict(g) for g in guardrails],
            featurization=featurization.get("columns", []), validation=featurization.get("validation"),
            stop_reason=summary.get("stop_reason"), notes=summary.get("notes", []),
            timings=summary.get("timings", {}), test_metrics=summary.get("test_metrics", {}),
            explanation=explanation, has_model=bool(summary.get("model")),
            timeout_seconds=_minutes_to_seconds(spec["limits"].get("timeout_minutes")),
        )

    def list_trials(self, name: str, *, metric: str | None = None) -> list[AutoMLTrial]:
        """The job's trials (child jobs) in the order they ended, with their metrics and settings."""
        job = self._require(name)
        if metric is None:
            from studio_ext.ml.automl import Task, parse_metric

            spec = self._settings(name)
            metric = parse_metric(spec.get("primary_metric"), Task(spec["task"])).value
        children = self._b.service("jobs").list(job.experiment_name, parent_job_name=name, include_interactive=False)
        out = []
        for child in children:
            if child.type != TRIAL_JOB_TYPE:
                continue
            params = dict(child.params)
            algorithm = params.pop("algorithm", child.tags.get("algorithm", "?"))
            trial = int(child.name.rsplit("_", 1)[-1]) if child.name.rsplit("_", 1)[-1].isdigit() else 0
            members = child.tags.get("ensemble_members", "")
            out.append(AutoMLTrial(
                name=child.name, trial=trial, algorithm=algorithm, status=str(child.status),
                metric=child.metrics.get(metric), metrics=dict(child.metrics), hyperparameters=params,
                duration_seconds=child.duration_seconds, error=child.error or child.tags.get("error"),
                members=[m for m in members.split(",") if m],
                start_time=child.start_time.timestamp() if child.start_time else None,
                end_time=child.end_time.timestamp() if child.end_time else None))
        return sorted(out, key=lambda t: (t.end_time or 0, t.trial))

    def get_report(self, name: str, *, data: str = "validation") -> ClassificationReport | RegressionReport:
        """The best model's charts as a report object: on held-out rows (``validation``) or ``test`` data."""
        if data not in ("validation", "test"):
            raise InvalidInput(f"data must be 'validation' or 'test'. Got {data!r} instead.")
        job = self._require(name)
        found = self._artifact_json(job, "report.json" if data == "validation" else "test_report.json")
        if found is None:
            if data == "test" and self._artifact_json(job, "summary.json"):
                raise NotFound(f"The AutoML job {name!r} had no test data, so it has no test report.")
            raise NotFound(MSG_NO_MODEL.format(name=name, status=job.status))
        from studio_ext.ml.automl import report_from_dict

        return report_from_dict(found)

    def get_explanation(self, name: str) -> pd.DataFrame:
        """Raw feature importance of the best model (permutation importance), most important first."""
        import pandas as pd

        run = self.get(name)
        if not run.explanation:
            raise NotFound(f"The AutoML job {name!r} has no explanation: it is {run.status}, or "
                           "enable_model_explainability was off.")
        return pd.DataFrame(run.explanation)

    def get_predictions(self, name: str) -> pd.DataFrame:
        """The best model's predictions on the job's test data (``outputs/predictions.csv``)."""
        import pandas as pd

        job = self._require(name)
        path = self._artifact_path(job, PREDICTIONS_ARTIFACT)
        if path is None:
            raise NotFound(f"The AutoML job {name!r} has no predictions.csv: it had no test data, or it has "
                           f"not finished ({job.status}).")
        return pd.read_csv(path)

    def test_model(self, name: str, data: Any) -> pd.DataFrame:
        """Score new rows with the job's best model ("Test this model"): a DataFrame, a list of dicts,
        or a registered dataset. Returns the rows with ``prediction`` (and class probabilities)."""
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            frame = data
        elif isinstance(data, list) and all(isinstance(r, dict) for r in data):
            frame = pd.DataFrame(data)
        elif data_reference(data) is not None:
            frame = self._load(data_reference(data), "data")
        else:
            raise InvalidInput("test_model takes a DataFrame, a list of row dicts or a registered dataset. "
                               f"Got {type(data).__name__} instead.")
        if frame.empty:
            raise InvalidInput("There are no rows to score.")
        model = self._best_model(name)
        spec = self._settings(name)
        features = frame.drop(columns=[spec["target_column_name"]], errors="ignore")
        if spec["task"] == "forecasting":
            features = frame
        try:
            out = frame.reset_index(drop=True).copy()
            out["prediction"] = model.predict(features)
            if spec["task"] == "classification":
                proba = model.predict_proba(features)
                classes = model.steps[-1][1].classes_
                for i, label in enumerate(classes):
                    out[f"probability_{label}"] = proba[:, i]
        except (KeyError, ValueError) as exc:
            raise InvalidInput(f"The rows do not fit the model's input ({exc}). Give the training data's "
                               "columns (the target may be left out).") from exc
        return out

    def _best_model(self, name: str) -> Any:
        with self._lock:
            if name in self._models:
                return self._models[name]
        job = self._require(name)
        path = self._artifact_path(job, MODEL_ARTIFACT)
        if path is None:
            raise NotFound(MSG_NO_MODEL.format(name=name, status=job.status))
        import mlflow.sklearn

        # The model was pickled by this workspace's own AutoML job: trusted by construction.
        model = mlflow.sklearn.load_model(str(path))
        with self._lock:
            self._models[name] = model
        return model

    def explain_best_model(self, name: str, *, explainer: str = "auto", sample: int | None = None,
                           wait: bool = False, timeout: float | None = None) -> Explanation | InsightRecord:
        """Explain the best model on the job's training data through ``ws.explanations``.

        The explanation runs as a child job of this one and opens in the explanation
        dashboard; the job's own permutation importance is the quick view of the same
        question. Without ``wait`` the queued record is returned.
        """
        run = self.get(name)
        if not run.has_model:
            raise Conflict(MSG_NO_MODEL.format(name=name, status=run.status))
        spec = self._settings(name)
        target, weight = spec["target_column_name"], spec.get("weight_column_name")
        explanations = self._b.service("explanations")
        columns = _dataset_columns(self._b, spec["training_data"])
        features = [c for c in columns if c not in (target, weight)]
        # The model was pickled by this workspace's own AutoML job: trusted by construction.
        return explanations.create(f"runs:/{name}/{MODEL_ARTIFACT}", spec["training_data"], target,
                                   explainer=explainer, features=features, sample=sample, wait=wait,
                                   timeout=timeout, allow_pickle=True)

    def list_explanations(self, name: str) -> builtins.list[InsightRecord]:
        """Explanations of this job's best model, newest first (what its report links to)."""
        self._require(name)
        return self._b.service("explanations").for_run(name)

    def register_best_model(self, name: str, model_name: str, *, description: str | None = None,
                            tags: dict[str, str] | None = None) -> Model:
        """Register the best model through ``ws.models`` (an MLflow model, lineage to this job)."""
        run = self.get(name)
        if not run.has_model:
            raise Conflict(MSG_NO_MODEL.format(name=name, status=run.status))
        model = Model(
            name=model_name, path=f"runs:/{name}/{MODEL_ARTIFACT}", type="mlflow_model",
            description=description or f"Best model of AutoML job {name}: {run.best_algorithm} "
                                       f"({run.primary_metric} = {run.best_metric:.4f})",
            tags={**(tags or {}), "automl_job": name, "algorithm": str(run.best_algorithm)},
            properties={"primary_metric": run.primary_metric, "score": str(run.best_metric),
                        "best_trial": str(run.best_trial)},
            allow_pickle=True,  # written by this workspace's AutoML job, so loading it is trusted
        )
        return self._b.service("models").create_or_update(model)

    def deploy_best_model(self, name: str, endpoint_name: str, *, model_name: str | None = None,
                          deployment_name: str = "blue") -> ManagedOnlineEndpoint:
        """Register the best model (unless ``model_name`` names one registered already) and deploy it to a
        real-time endpoint (created if needed) taking all traffic; returns the endpoint."""
        from studio_ext.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint

        models = self._b.service("models")
        registered = None
        if model_name:
            try:
                registered = models.get(model_name)
            except NotFound:
                registered = None
        if registered is None:
            registered = self.register_best_model(name, model_name or f"{name}-best".replace("_", "-"))
        endpoints = self._b.service("online_endpoints")
        try:
            endpoints.get(endpoint_name)
        except NotFound:
            endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=endpoint_name)).result(timeout=120)
        deployments = self._b.service("online_deployments")
        deployments.begin_create_or_update(ManagedOnlineDeployment(
            name=deployment_name, endpoint_name=endpoint_name, model=registered)).result(timeout=300)
        endpoint = endpoints.get(endpoint_name)
        endpoint.traffic = {deployment_name: 100}
        return endpoints.begin_create_or_update(endpoint).result(timeout=120)

    # -- code ---------------------------------------------------------------------------------
    @staticmethod
    def to_yaml(job: AutoMLJob) -> str:
        """Azure ML v2 YAML of the job (``azure.ai.ml.load_job`` reads it)."""
        return azure_yaml(job)

    @staticmethod
    def to_code(job: AutoMLJob, *, azure: bool = False) -> str:
        """The SDK code that builds and submits the job: studio_ext's, or azure-ai-ml's."""
        return azure_code(job) if azure else studio_code(job)

    # -- helpers -----------------------------------------------------------------------------------
    def _require(self, name: str) -> Job:
        job = self._b.service("jobs").get(name)
        if job.type != JOB_TYPE:
            raise InvalidInput(MSG_NOT_AUTOML_JOB.format(name=name, kind=job.type))
        return job

    def _settings(self, name: str) -> dict[str, Any]:
        path = self._b.jobs_dir / name / "code" / SETTINGS_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise NotFound(f"The AutoML job {name!r} lost its settings file ({exc}).") from exc

    def _artifact_path(self, job: Job, relative: str) -> Path | None:
        """Where a parent-run artifact is on this machine (the workspace's artifact store is local)."""
        client = tracking.client(self._b.tracking_uri)
        root = client.get_run(job.run_id).info.artifact_uri
        local = _local(root)
        if local is not None:
            path = local / relative
            return path if path.exists() else None
        from mlflow.artifacts import download_artifacts
        from mlflow.exceptions import MlflowException

        target = Path(tempfile.mkdtemp(prefix="studio-automl-"))
        try:
            return Path(download_artifacts(run_id=job.run_id, artifact_path=relative, dst_path=str(target),
                                           tracking_uri=self._b.tracking_uri))
        except (MlflowException, OSError):
            shutil.rmtree(target, ignore_errors=True)
            return None

    def _artifact_json(self, job: Job, name: str) -> Any:
        path = self._artifact_path(job, f"{ARTIFACTS}/{name}")
        if path is None:
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None


def _dataset_columns(backend: LocalBackend, reference: str) -> list[str]:
    from studio_ext.backends.local.insights.inputs import resolve_dataset

    return list(resolve_dataset(backend, reference).columns)


def _local(uri: str) -> Path | None:
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(uri).path))
    if "://" not in uri:
        return Path(uri)
    return None


def _quote(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))
