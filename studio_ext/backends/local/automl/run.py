"""The process of an AutoML job: ``python -m studio_ext.backends.local.automl.run ...``.

Started by the jobs service like any job (so it survives the kernel), with MLflow
pointed at the job's run. It loads the datasets, checks them, runs the engine
(trials in this process, or on the compute's Dask cluster several at once),
records each trial as a child job, and stores the best model and its report,
test predictions and explanation on the job's run. The budget counts from the
submit (the data check there, the launch and this process's imports are part of
it; time spent waiting in a queue for a free node is not), and the job ends within it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STARTED = time.time()  # this process's start, before the heavy imports


def say(text: str) -> None:
    """A log line stamped with the seconds since the job's process started."""
    print(f"[{time.time() - STARTED:6.1f}s] {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="automl_run")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--settings", required=True)
    parser.add_argument("--training", required=True)
    parser.add_argument("--validation")
    parser.add_argument("--test")
    args = parser.parse_args(argv)

    import pandas as pd

    from studio_ext.backends.local import LocalBackend
    from studio_ext.backends.local.automl.service import parse_reference, settings_of, split_test
    from studio_ext.backends.local.automl.trials import TrialRecorder
    from studio_ext.errors import StudioError
    from studio_ext.ml.automl import prepare
    from studio_ext.workspace import Workspace

    spec = json.loads(Path(args.settings).read_text(encoding="utf-8"))
    settings = settings_of(spec)
    name = os.environ["AZUREML_RUN_ID"]
    run_id = os.environ["MLFLOW_RUN_ID"]
    ws = Workspace(args.workspace)
    backend = LocalBackend.of(ws)
    origin = budget_origin(backend, name, spec.get("submitted_at"))
    # The job ends when the supervisor has recorded it: keep time for this process's exit and that.
    deadline = origin + settings.timeout_seconds - EXIT_SECONDS

    def table(path: str, key: str) -> pd.DataFrame:
        """A dataset input: its Parquet file, or for an MLTable folder (an ``mltable`` asset registered
        from one, as Azure's AutoML takes it) the table the data service reads from that folder."""
        if Path(path).is_dir():
            return backend.service("data").load(*parse_reference(spec[key]))
        return pd.read_parquet(path)

    train = table(args.training, "training_data")
    validation = table(args.validation, "validation_data") if args.validation else None
    test = table(args.test, "test_data") if args.test else None
    train, held_out = split_test(train, spec)
    test = held_out if held_out is not None else test
    say(f"AutoML {spec['task']} on {len(train):,} rows x {train.shape[1]} columns, target "
        f"{settings.target!r}, budget {settings.timeout_seconds:.0f} s from the submit "
        f"({time.time() - origin:.1f} s ago).")
    try:
        prepared = prepare(train, settings, validation, guardrails=False)
    except StudioError as exc:
        say(f"Refused: {exc.message}")
        return 2
    # The guardrails' checks (and the first MLflow writes) run beside the search: trials use one core.
    describe = threading.Thread(target=describe_data, args=(backend.tracking_uri, run_id, prepared, spec),
                                name="automl-guardrails", daemon=True)
    describe.start()

    recorder = TrialRecorder(backend, name, prepared.metric.value, prepared.metric.higher_is_better)
    best_so_far: list[float] = []

    def on_trial(result: Any) -> None:
        recorder.record(result)
        value = result.metrics.get(prepared.metric.value, math.nan)
        if result.ok and math.isfinite(value):
            if not best_so_far or (value > best_so_far[0] if prepared.metric.higher_is_better
                                   else value < best_so_far[0]):
                best_so_far[:] = [value]
        best = f"{best_so_far[0]:.4f}" if best_so_far else "-"
        shown = f"{value:.4f}" if math.isfinite(value) else result.status
        say(f"[trial {result.trial_id}] {result.learner}: {prepared.metric.value}={shown} "
            f"({result.duration:.2f} s), best {best}")

    search_from = time.time()
    runner_factory, closer = cluster_runner(ws, spec, settings.max_concurrent_trials)
    from studio_ext.ml.automl import run

    try:
        result = run(prepared, runner_factory=runner_factory, on_trial=on_trial,
                     on_event=say, deadline=deadline,
                     after_seconds=finish_seconds(settings, started_in=search_from - STARTED))
    finally:
        closer()
        recorder.close()
        describe.join()
    from studio_ext.ml.automl.trial import thread_limits

    with thread_limits(max(settings.n_jobs, 1)):  # as the trials: spinning BLAS threads slow a busy machine
        finish(ws, name, run_id, result, test, spec, deadline)
    took = time.time() - origin
    say(f"Done {took:.1f} s after the submit (budget {settings.timeout_seconds:.0f} s): best "
        f"{result.best.learner}, {prepared.metric.value} = "
        f"{result.best.metrics.get(prepared.metric.value, math.nan):.4f}.")
    return 0


EXIT_SECONDS = 1.0  # this process's exit and the supervisor recording the job's end


def budget_origin(backend: Any, name: str, submitted_at: float | None) -> float:
    """When the budget started: the submit, plus any time the job waited for a free slot or node."""
    if not isinstance(submitted_at, (int, float)):
        return STARTED
    from studio_ext.backends.local.core.schema import jobs as jobs_table

    with backend.store.engine.connect() as conn:
        row = conn.execute(jobs_table.select().where(jobs_table.c.name == name)).first()
    if row is None:
        return STARTED
    launched = min(row.start_time or STARTED, STARTED)
    return min(submitted_at + max(launched - row.created_at, 0.0), STARTED)


def describe_data(tracking_uri: str, run_id: str, prepared: Any, spec: dict[str, Any]) -> None:
    """Check the guardrails and store them with the featurization summary on the job's run."""
    from studio_ext.backends.local.automl.service import ARTIFACTS
    from studio_ext.ml.automl import check_guardrails

    client = _client(tracking_uri)  # built here, off the search's path (a cold MLflow client takes seconds)

    try:
        found = check_guardrails(prepared.features, prepared.y, prepared.task, prepared.featurization,
                                 prepared.validation)
    except Exception as exc:  # noqa: BLE001 - the checks inform; they must never stop the run
        say(f"The data guardrails could not be checked: {type(exc).__name__}: {exc}")
        found = []
    prepared.guardrails[:0] = found
    for g in prepared.guardrails:
        say(f"[guardrail] {g.name}: {g.status.value}. {g.description}")
    with tempfile.TemporaryDirectory(prefix="automl-") as tmp:
        folder = Path(tmp) / ARTIFACTS
        folder.mkdir()
        _dump(folder / "guardrails.json", [g.to_dict() for g in prepared.guardrails])
        _dump(folder / "featurization.json", {**prepared.featurization.to_dict(),
                                              "validation": prepared.validation.description})
        client.log_artifacts(run_id, str(folder), ARTIFACTS)
    _log_params(client, run_id, {
        "task": spec["task"], "primary_metric": prepared.metric.value,
        "target_column_name": prepared.settings.target, "validation": prepared.validation.kind.value,
        "algorithms": ",".join(lr.name for lr in prepared.learners)})


def finish(ws: Any, name: str, run_id: str, result: Any, test: Any, spec: dict[str, Any], deadline: float) -> None:
    """Store the best model, its report, the test predictions and the explanation on the job's run."""
    from studio_ext.backends.local import LocalBackend
    from studio_ext.backends.local.automl.service import ARTIFACTS, MODEL_ARTIFACT
    from studio_ext.backends.local.automl.trials import BEST_CHILD_TAG, trial_job_name
    from studio_ext.ml.automl import predictions_frame, score_test_data

    backend = LocalBackend.of(ws)
    client = _client(backend.tracking_uri)
    metric = result.metric.value
    best_name = trial_job_name(name, result.best.trial_id)
    summary: dict[str, Any] = {
        "best_trial": best_name, "best_algorithm": result.best.learner,
        "best_metric": result.best.metrics.get(metric), "stop_reason": result.stop_reason, "notes": result.notes,
        "timings": {**result.timings, "process_started": STARTED}, "trials": len(result.trials),
    }
    with tempfile.TemporaryDirectory(prefix="automl-") as tmp:
        root = Path(tmp)
        folder = root / ARTIFACTS
        folder.mkdir()
        _dump(folder / "report.json", result.report.to_dict())
        if test is not None and len(test):
            predicted = predictions_frame(result, test)
            metrics, report = score_test_data(result, test, predicted)
            summary["test_metrics"] = metrics
            _dump(folder / "test_report.json", report.to_dict())
            (root / "outputs").mkdir()
            predicted.to_csv(root / "outputs" / "predictions.csv", index=False)
            say(f"Test data: {metric} = {metrics.get(metric, math.nan):.4f} on {len(test):,} rows.")
        if result.prepared.settings.enable_model_explainability:
            explanation = explain(result, deadline)
            if explanation is not None:
                _dump(folder / "explanation.json", explanation.to_dict(orient="records"))
                say(f"Explained the model ({len(explanation)} columns).")
        save_model(result, root / MODEL_ARTIFACT)
        summary["model"] = MODEL_ARTIFACT
        _dump(folder / "summary.json", summary)
        say("Saved the model.")
        client.log_artifacts(run_id, str(root))
        say("Stored the model, its report and the predictions on the job's run.")
    from mlflow.entities import Metric

    stamp = int(time.time() * 1000)
    metrics = [Metric(metric, float(v), stamp, len(result.trials)) for v in [result.best.metrics.get(metric)]
               if v is not None and math.isfinite(v)]
    metrics += [Metric(f"test_{k}", float(v), stamp, 0) for k, v in summary.get("test_metrics", {}).items()
                if isinstance(v, (int, float)) and math.isfinite(v)]
    client.log_batch(run_id, metrics=metrics)
    client.set_tag(run_id, BEST_CHILD_TAG, best_name)
    client.set_tag(run_id, "best_algorithm", result.best.learner)


SAVE_SECONDS = 1.0  # scoring the test data, saving and logging the model and the report (MLflow warmed up)


EXPLAIN_SHARE = 0.015  # of the budget: what the explanation may take (the search gets the rest)


def explain_seconds(settings: Any) -> float:
    """Time given to the explanation: a small share of the budget, within [0.5, 20] s."""
    if not settings.enable_model_explainability:
        return 0.0
    return min(max(EXPLAIN_SHARE * settings.timeout_seconds, 0.5), 20.0)


NOMINAL_START_SECONDS = 4.0  # this process's imports and setup on an idle two-core machine


def finish_seconds(settings: Any, started_in: float = NOMINAL_START_SECONDS) -> float:
    """What :func:`finish` needs after the search, kept out of the search's time.

    Scaled by how slow this machine is right now, judged by how long the process
    took to start (``started_in``): on a busy machine saving takes longer too.
    """
    slowness = min(max(started_in / NOMINAL_START_SECONDS, 1.0), 3.0)
    return SAVE_SECONDS * slowness + explain_seconds(settings)


# The explanation engine's score for each primary metric (its scores are higher-is-better).
PFI_METRICS = {"AUC_weighted": "roc_auc", "accuracy": "accuracy", "average_precision_score_weighted": "roc_auc",
               "norm_macro_recall": "balanced_accuracy", "precision_score_weighted": "balanced_accuracy",
               "r2_score": "r2", "spearman_correlation": "r2",
               "normalized_root_mean_squared_error": "neg_root_mean_squared_error",
               "normalized_mean_absolute_error": "neg_mean_absolute_error"}
EXPLAIN_ROWS = 1000
MAX_REPEATS = 5


def explain(result: Any, deadline: float) -> Any:
    """Permutation importance of the raw columns (the explanation engine's), sized to the time left."""
    import pandas as pd

    from studio_ext.ml.automl.forecasting import Forecaster
    from studio_ext.ml.explain import explain as explain_model

    prepared = result.prepared
    model = result.model.pipeline if isinstance(result.model, Forecaster) else result.model
    budget = min(max(deadline - time.time() - SAVE_SECONDS, 0.5), explain_seconds(prepared.settings))
    target = prepared.settings.target
    frame = prepared.features.assign(**{target: prepared.y.to_numpy()})
    rows = min(len(frame), EXPLAIN_ROWS)
    try:
        started = time.time()
        model.predict(prepared.features.head(rows))  # one pass: what a shuffle of one column costs
        one_pass = max(time.time() - started, 1e-3)
        affordable = budget / (one_pass * max(prepared.features.shape[1], 1))
        if affordable < 1:  # not even one shuffle per column: fewer rows
            rows = max(100, int(rows * affordable))
        repeats = int(min(MAX_REPEATS, max(1, affordable)))
        found = explain_model(model, frame, target, explainer="pfi", metric=PFI_METRICS[prepared.metric.value],
                              repeats=repeats, sample=rows, task=prepared.task.value
                              if prepared.task.value != "forecasting" else "regression")
    except Exception as exc:  # noqa: BLE001 - an explanation is a bonus; the model and its report are what the job owes
        say(f"The explanation could not be computed: {type(exc).__name__}: {exc}")
        return None
    std = found.importance_std or {}
    return pd.DataFrame([{"feature": k, "importance": v, "std": std.get(k, 0.0)}
                         for k, v in found.global_importance.items()])


def save_model(result: Any, path: Path) -> None:
    """The best pipeline as an MLflow model, pickled with cloudpickle (our own code by value)."""
    import cloudpickle
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from studio_ext.ml.automl import ensemble, featurization, forecasting, learners

    for module in (featurization, learners, ensemble, forecasting):
        cloudpickle.register_pickle_by_value(module)
    try:
        prepared = result.prepared
        if prepared.forecast is not None:
            sample = result.model.history.drop(columns=[prepared.settings.target]).tail(5)
        else:
            sample = prepared.features.head(5)
        signature = infer_signature(sample, result.model.predict(sample))
        mlflow.sklearn.save_model(result.model, str(path), serialization_format="cloudpickle",
                                  signature=signature, input_example=sample, pip_requirements=_requirements())
    finally:
        for module in (featurization, learners, ensemble, forecasting):
            cloudpickle.unregister_pickle_by_value(module)


def _requirements() -> list[str]:
    """Pinned versions of what the pipeline needs to load (no slow inference of requirements)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for package in ("scikit-learn", "numpy", "pandas", "scipy", "cloudpickle", "lightgbm", "xgboost"):
        try:
            out.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return out


def cluster_runner(ws: Any, spec: dict[str, Any], slots: int) -> tuple[Callable | None, Callable[[], None]]:
    """A Dask runner on the job's compute when it is a cluster; (None, no-op) to run trials here.

    This job's own node takes trials too (the job gave its Dask thread back, see
    ``compute_node.run_on_dask_worker``). A cluster that scales (AmlCompute) grows to
    ``max_concurrent_trials`` nodes for the job, so its trials may go to nodes still starting.
    """
    compute = spec.get("compute") or "local"
    if compute == "local":
        return None, lambda: None
    from studio_ext.entities import AmlCompute, ComputeInstance

    target = ws.compute.get(compute)
    if isinstance(target, ComputeInstance) or not target.scheduler_address:
        return None, lambda: None
    from distributed import Client

    from studio_ext.ml.automl import DaskRunner

    client = Client(target.scheduler_address, timeout=30, set_as_default=False)
    workers = list(client.scheduler_info(n_workers=-1)["workers"])
    nodes = max(target.max_instances, len(workers)) if isinstance(target, AmlCompute) else len(workers)
    if nodes <= 1 and workers in ([], [_own_worker()]):
        say(f"The cluster {compute!r} has no node besides this job's: trials run here, one at a time. "
            "Give the cluster more nodes to run trials in parallel.")
        client.close()
        return None, lambda: None
    width = min(max(slots, 1), nodes)
    say(f"Trials run on {compute!r}: {width} at a time on {nodes} node(s) ({len(workers)} up now).")
    return (lambda data: DaskRunner(client, data, slots=width)), client.close


def _own_worker() -> str | None:
    """The Dask worker running this job (compute nodes record it in node.json beside the job)."""
    try:
        return json.loads((Path.cwd().parent / "node.json").read_text()).get("worker")
    except (OSError, json.JSONDecodeError):
        return None


def _client(uri: str) -> Any:
    from studio_ext.backends.local.core import tracking
    return tracking.client(uri)


def _log_params(client: Any, run_id: str, params: dict[str, str]) -> None:
    from mlflow.entities import Param

    client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])


def _dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, default=_plain, indent=1), encoding="utf-8")


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is written; skip the interpreter's teardown of hundreds of modules (seconds on a busy machine).
    os._exit(code)
