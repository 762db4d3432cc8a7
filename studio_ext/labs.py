"""Check cells for the guided labs: verify a learner's result and say what to do if it is off.

Each check prints a short confirmation when the result is right, and raises
:class:`LabCheckError` with a hint (never a bare assert) when it is not.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio_ext.errors import NotFound, StudioError
from studio_ext.workspace import Workspace


class LabCheckError(StudioError):
    """The lab's result is not what the step asked for; the message says what to fix."""


def lab_workspace(default: str = "lab-workspace") -> Workspace:
    """The workspace a lab works in: ``$STUDIO_EXT_WORKSPACE`` if set, else ``./lab-workspace``."""
    path = os.environ.get("STUDIO_EXT_WORKSPACE") or str(Path.cwd() / default)
    return Workspace.create(path, exist_ok=True)


def passed(message: str) -> None:
    print(f"✔ {message}")


def check_job_completed(ws: Workspace, name: str | None, *, metric: str | None = None) -> Any:
    """The job ``name`` exists, ended Completed, and (optionally) logged ``metric``."""
    if not name:
        raise LabCheckError("No job name to check: run the cell that submits the job first.")
    try:
        job = ws.jobs.get(name)
    except NotFound as exc:
        raise LabCheckError(f"The job {name!r} is not in this workspace. Did you submit it to {ws.path}?") from exc
    if not job.status.is_terminal:
        raise LabCheckError(f"The job {name} is still {job.status}. Wait for it (ws.jobs.stream(name)) and run this cell again.")
    if str(job.status) != "Completed":
        raise LabCheckError(f"The job {name} ended {job.status}: {job.error}. Fix the script and submit it again.")
    if metric and metric not in job.metrics:
        raise LabCheckError(
            f"The job {name} completed but logged no {metric!r} metric (it logged: "
            f"{', '.join(job.metrics) or 'none'}). Add mlflow.log_metric({metric!r}, value) to the script."
        )
    passed(f"job {name} completed" + (f" with {metric} = {job.metrics[metric]:.4g}" if metric else ""))
    return job


def check_experiment_has_runs(ws: Workspace, experiment: str, *, at_least: int = 1, interactive: bool | None = None) -> list[Any]:
    """The experiment holds at least ``at_least`` runs (of the kind asked for)."""
    runs = ws.jobs.list(experiment)
    if interactive is not None:
        runs = [r for r in runs if r.interactive == interactive]
    if len(runs) < at_least:
        kind = {True: "interactive ", False: "job ", None: ""}[interactive]
        raise LabCheckError(
            f"The experiment {experiment!r} has {len(runs)} {kind}run(s); the lab expects at least {at_least}. "
            "Run the logging cells above (with the same experiment name) and check again."
        )
    passed(f"experiment {experiment!r} has {len(runs)} run(s)")
    return runs


def check_model_registered(
    ws: Workspace, name: str, *, versions: int = 1, properties: list[str] | tuple[str, ...] = (), from_job: bool = True
) -> list[Any]:
    """The model ``name`` has at least ``versions`` versions, made by jobs, carrying ``properties``."""
    try:
        found = ws.models.list(name)
    except NotFound:
        found = []
    if len(found) < versions:
        raise LabCheckError(
            f"The model {name!r} has {len(found)} version(s); the lab expects at least {versions}. "
            "Run the ws.models.create_or_update(Model(name=..., path='runs:/<job>/model')) cells above."
        )
    for model in found:
        if from_job and not model.job_name:
            raise LabCheckError(
                f"Version {model.version} of {name!r} was registered from files, not from a job, so it has no "
                "lineage. Register it with path='runs:/<job name>/model'."
            )
        missing = [p for p in properties if p not in model.properties]
        if missing:
            raise LabCheckError(
                f"Version {model.version} of {name!r} lacks the propert{'y' if len(missing) == 1 else 'ies'} "
                f"{', '.join(missing)}. Pass properties={{...}} when you register it."
            )
    passed(f"model {name!r} has {len(found)} version(s)" + (", each from a job" if from_job else ""))
    return found


def _column_kind(arrow_type: str) -> str:
    """Arrow's type name as the read options call it ('large_string' → 'string', 'double' → 'float')."""
    kinds = (("timestamp", "datetime"), ("date", "date"), ("bool", "boolean"), ("int", "integer"),
             ("uint", "integer"), ("double", "float"), ("float", "float"), ("string", "string"),
             ("large_string", "string"), ("utf8", "string"))
    for prefix, kind in kinds:
        if arrow_type.startswith(prefix):
            return kind
    return arrow_type


def check_dataset_registered(
    ws: Workspace, name: str, *, versions: int = 1, column_types: dict[str, str] | None = None,
    used_by_job: bool = False,
) -> Any:
    """The tabular dataset ``name`` has ``versions`` versions, the latest typed as asked and (optionally) read by a job."""
    found = ws.data.list(name)
    if len(found) < versions:
        raise LabCheckError(
            f"The dataset {name!r} has {len(found)} version(s); the lab expects at least {versions}. "
            "Run the ws.data.create_or_update(Data(...)) cells above."
        )
    latest = ws.data.get(name)
    kinds = {c.name: _column_kind(c.type) for c in latest.columns}
    for column, wanted in (column_types or {}).items():
        if column not in kinds:
            raise LabCheckError(
                f"Version {latest.version} of {name!r} has no column {column!r} (it has {', '.join(kinds)}). "
                "Check the 'exclude'/'include' read options."
            )
        if kinds[column] != wanted:
            raise LabCheckError(
                f"In version {latest.version} of {name!r} the column {column!r} is {kinds[column]}, not {wanted}. "
                f"Register a new version with read_options={{'column_types': {{{column!r}: {wanted!r}}}}}."
            )
    if used_by_job:
        consumers = [c for v in found for c in ws.data.list_consumers(name, v.version) if c.status == "Completed"]
        if not consumers:
            raise LabCheckError(
                f"No completed job has read {name!r} yet. Submit the job with "
                f"inputs={{'...': Input(type='uri_file', path={latest.reference!r})}} and wait for it."
            )
    passed(f"dataset {name!r} has {len(found)} version(s), latest with {latest.row_count} rows"
           + (", read by a job" if used_by_job else ""))
    return latest


def check_jobs_ran_on(ws: Workspace, names: list[str], compute: str, *, deleted_after: bool = False) -> list[Any]:
    """Every job in ``names`` completed on ``compute``; (optionally) the compute is gone since."""
    if not names:
        raise LabCheckError("No jobs to check: run the cell that submits them first.")
    finished = []
    for name in names:
        job = check_job_completed(ws, name)
        if job.compute != compute:
            raise LabCheckError(
                f"The job {name} ran on {job.compute!r}, not on {compute!r}. Submit it with compute={compute!r}."
            )
        finished.append(job)
    if deleted_after:
        left = [c.name for c in ws.compute.list() if c.name == compute]
        if left:
            raise LabCheckError(
                f"The compute {compute!r} still exists and keeps its scheduler running. "
                f"Delete it with ws.compute.begin_delete({compute!r}).result()."
            )
    passed(f"{len(finished)} job(s) completed on {compute}" + (", which is deleted now" if deleted_after else ""))
    return finished


def _telemetry(ws: Workspace, endpoint: str, enough: Callable[[Any], bool], *, deployment: str | None = None,
               minutes: float = 120, wait: float = 15.0) -> Any:
    """The endpoint's request metrics, re-read until ``enough(metrics)`` or ``wait`` seconds passed
    (telemetry lands within a second or so of each request)."""
    deadline = time.monotonic() + wait
    while True:
        metrics = ws.online_endpoints.get_metrics(endpoint, deployment_name=deployment, minutes=minutes)
        if enough(metrics) or time.monotonic() > deadline:
            return metrics
        time.sleep(0.5)


def _successes(metrics: Any) -> int:
    return metrics.total_requests - metrics.total_failures


def check_endpoint_serves(ws: Workspace, endpoint: str, *, deployments: list[str], wait: float = 15.0) -> Any:
    """``endpoint`` has ``deployments`` healthy and each answered a request; it refuses callers without a key."""
    import httpx

    try:
        found = ws.online_endpoints.get(endpoint)
    except NotFound as exc:
        raise LabCheckError(f"There is no endpoint {endpoint!r}. Run the cell that creates it.") from exc
    states = {d.name: d for d in ws.online_deployments.list(endpoint)}
    for name in deployments:
        if name not in states:
            raise LabCheckError(f"The endpoint {endpoint!r} has no deployment {name!r} (it has: "
                                f"{', '.join(states) or 'none'}). Run the cell that deploys it.")
        if str(states[name].state) != "Healthy":
            raise LabCheckError(
                f"The deployment {name!r} is {states[name].state}: {states[name].reason or 'no reason given'}. "
                f"Read ws.online_deployments.get_logs({name!r}, {endpoint!r}), fix it and deploy again."
            )
        if not _successes(_telemetry(ws, endpoint, lambda m: _successes(m) > 0, deployment=name, wait=wait)):
            raise LabCheckError(
                f"The deployment {name!r} has not answered a request successfully yet. Call it with "
                f"ws.online_endpoints.invoke({endpoint!r}, request_data=..., deployment_name={name!r})."
            )
    refused = httpx.post(found.scoring_uri, json={}, timeout=30)
    if refused.status_code != 401:
        raise LabCheckError(f"A request without a key got {refused.status_code}, not 401: the endpoint must "
                            "use key authentication (auth_mode='key').")
    passed(f"endpoint {endpoint!r}: {', '.join(deployments)} healthy and answering; callers without a key are refused")
    return found


def check_endpoint_monitored(ws: Workspace, endpoint: str, *, min_requests: int = 1, min_failures: int = 0,
                             minutes: float = 120, wait: float = 15.0) -> Any:
    """The telemetry of ``endpoint`` holds ``min_requests`` successful and ``min_failures`` failed requests."""
    try:
        ws.online_endpoints.get(endpoint)
    except NotFound as exc:
        raise LabCheckError(f"There is no endpoint {endpoint!r}. Run the cells that create and deploy it.") from exc
    m = _telemetry(ws, endpoint, lambda m: _successes(m) >= min_requests and m.total_failures >= min_failures,
                   minutes=minutes, wait=wait)
    ok = _successes(m)
    if ok < min_requests:
        raise LabCheckError(
            f"The telemetry of {endpoint!r} shows {ok} successful request(s) in the last {minutes:g} minutes; "
            f"the lab expects at least {min_requests}. Run the cell that sends traffic."
        )
    if m.total_failures < min_failures:
        raise LabCheckError(
            f"The telemetry of {endpoint!r} shows {m.total_failures} failed request(s); the lab expects at least "
            f"{min_failures}. Run the cell that sends requests lacking a measurement."
        )
    passed(f"telemetry of {endpoint!r}: {ok} successful and {m.total_failures} failed request(s), p95 {m.p95_ms:.0f} ms")
    return m


def check_automl_job(ws: Workspace, name: str | None, *, task: str, primary_metric: str,
                     registered_as: str | None = None) -> Any:
    """The AutoML job ``name`` completed a ``task`` search judged by ``primary_metric`` (and its best model is registered)."""
    check_job_completed(ws, name)
    run = ws.automl.get(name)
    if run.task != task:
        raise LabCheckError(f"The AutoML job {name} is a {run.task} job; the lab asks for {task}. "
                            f"Choose the {task} task and submit again.")
    if run.primary_metric != primary_metric:
        raise LabCheckError(f"The AutoML job {name} was judged by {run.primary_metric}; the lab asks for "
                            f"{primary_metric}. Pick that primary metric and submit again.")
    done = [t for t in run.trials if t.status == "Completed"]
    if not done or not run.has_model:
        raise LabCheckError(f"The AutoML job {name} finished no trial, so it has no best model. "
                            "Give it a longer timeout (set_limits(timeout_minutes=...)) and submit again.")
    if registered_as:
        mine = [m for m in ws.models.list(registered_as) if m.tags.get("automl_job") == name] \
            if registered_as in {m.name for m in ws.models.list()} else []
        if not mine:
            raise LabCheckError(f"No version of the model {registered_as!r} comes from the AutoML job {name}. "
                                f"Register it with ws.automl.register_best_model({name!r}, {registered_as!r}).")
    passed(f"AutoML job {name}: {len(done)} trial(s), best {run.best_algorithm} with {primary_metric} = {run.best_metric:.4g}"
           + (f", registered as {registered_as}" if registered_as else ""))
    return run


def check_model_explained(ws: Workspace, model: Any, *, explainers: list[str]) -> list[Any]:
    """``model`` has a finished explanation by each of ``explainers`` ('tabular', 'mimic', 'pfi')."""
    try:
        records = [r for r in ws.explanations.list(model=model) if str(r.status) == "Completed"]
    except NotFound as exc:
        raise LabCheckError(f"{exc.message} Run the cell that registers the model first.") from exc
    done = {str(r.options.get("explainer")) for r in records}
    missing = [e for e in explainers if e not in done]
    if missing:
        raise LabCheckError(
            f"The model has no finished {', '.join(missing)} explanation (finished: {', '.join(sorted(done)) or 'none'}). "
            f"Run ws.explanations.create(model, dataset, target, explainer={missing[0]!r}) and wait for it."
        )
    passed(f"model explained with {', '.join(explainers)} ({len(records)} finished explanation(s))")
    return records


def check_unfairness_mitigated(ws: Workspace, model: Any, mitigated: str, *, sensitive_feature: str) -> Any:
    """``model`` was assessed by ``sensitive_feature``; ``mitigated`` is a registered candidate with a smaller
    demographic parity difference than the original model's."""
    try:
        assessed = [r for r in ws.fairness.list(kind="fairness_assessment", model=model)
                    if sensitive_feature in (r.options.get("sensitive_features") or [])]
    except NotFound as exc:
        raise LabCheckError(f"{exc.message} Run the cell that registers the model first.") from exc
    if not assessed:
        raise LabCheckError(f"The model has no fairness assessment by {sensitive_feature!r}. Run "
                            f"ws.fairness.assess(model, dataset, target, [{sensitive_feature!r}]).")
    if mitigated not in {m.name for m in ws.models.list()}:
        raise LabCheckError(f"There is no model {mitigated!r}. Register a candidate with "
                            f"ws.fairness.register_candidate(mitigation_name, candidate_name, name={mitigated!r}).")
    fair = ws.models.get(mitigated)
    key = "fairness.demographic_parity_difference"
    if fair.tags.get("fairness.sensitive_features") != sensitive_feature or key not in fair.tags:
        raise LabCheckError(f"The model {mitigated!r} was not mitigated under demographic parity by "
                            f"{sensitive_feature!r}. Mitigate with constraint='demographic_parity' and register a candidate.")
    result = ws.fairness.get(fair.tags["fairness.mitigation"])
    before = result.original.disparity["demographic_parity_difference"]
    after = float(fair.tags[key])
    if after >= before:
        raise LabCheckError(f"The registered candidate's demographic parity difference ({after:.3f}) is not below the "
                            f"original model's ({before:.3f}). Choose a candidate with mitigation.best(max_disparity=...).")
    passed(f"{mitigated}: demographic parity difference by {sensitive_feature} {before:.3f} → {after:.3f}")
    return fair


def check_private_statistics(ws: Workspace, dataset: str, *, statistics: tuple[str, ...] = ("mean", "histogram",
                                                                                            "covariance", "sql")) -> Any:
    """``dataset`` has privacy metadata with bounds, each of ``statistics`` was answered privately (charged to its
    budget), and the budget was never passed."""
    try:
        metadata = ws.privacy.describe(dataset)
        budget = ws.privacy.budget(dataset)
        history = ws.privacy.history(dataset)
    except NotFound as exc:
        raise LabCheckError(f"{exc.message} Run the cell that sets the privacy metadata first.") from exc
    bounded = [n for n, c in metadata.columns.items() if c.lower is not None]
    if not bounded:
        raise LabCheckError(f"{dataset} has no public bounds. Set them with ws.privacy.set_metadata({dataset!r}, "
                            "columns={'age': {'lower': 0, 'upper': 100}}, budget_epsilon=...).")
    asked = {h.statistic for h in history}
    missing = [s for s in statistics if s not in asked]
    if missing:
        raise LabCheckError(f"No private {', '.join(missing)} was answered on {dataset}. Run the lab's "
                            f"ws.privacy.{missing[0] if missing[0] != 'sql' else 'query'}(...) cell.")
    if budget.epsilon_spent > budget.epsilon + 1e-9 or budget.delta_spent > budget.delta + 1e-12:
        raise LabCheckError(f"{dataset} spent more than its budget ({budget.epsilon_spent} of {budget.epsilon}).")
    passed(f"{dataset}: {len(history)} private queries ({', '.join(sorted(asked))}), epsilon "
           f"{budget.epsilon_spent:.2f} of {budget.epsilon:g} spent, {budget.epsilon_remaining:.2f} left")
    return budget


def check_sweep_tuned(ws: Workspace, name: str | None, *, min_trials: int = 2, compute: str | None = None) -> Any:
    """The sweep job ``name`` completed with at least ``min_trials`` trials (on ``compute``), and its best trial is
    the completed trial with the best primary metric."""
    if not name:
        raise LabCheckError("No sweep to check: run the cell that submits the sweep job first.")
    try:
        job = ws.jobs.get(name)
        trials = ws.sweeps.trials(name)
    except NotFound as exc:
        raise LabCheckError(f"{exc.message} Did you submit it to {ws.path}?") from exc
    if getattr(job, "type", None) != "sweep":
        raise LabCheckError(f"The job {name} is a {job.type} job, not a sweep. Build it with command(...)(x=Choice("
                            "[...])).sweep(...).")
    if not job.status.is_terminal:
        raise LabCheckError(f"The sweep {name} is still {job.status}. Wait for it (ws.jobs.stream(name)) and run this "
                            "cell again.")
    if str(job.status) != "Completed":
        raise LabCheckError(f"The sweep {name} ended {job.status}: {job.error}")
    if len(trials) < min_trials:
        raise LabCheckError(f"The sweep ran {len(trials)} trials; the lab asks for at least {min_trials} "
                            "(set_limits(max_total_trials=...)).")
    if compute and job.compute != compute:
        raise LabCheckError(f"The sweep ran on {job.compute!r}, not on {compute!r}: pass compute={compute!r} to "
                            ".sweep(...).")
    done = [t for t in trials if t.get("status") == "Completed" and t.get("value") is not None]
    if not done or not job.best_child_run_id:
        raise LabCheckError(f"The sweep {name} has no completed trial with its primary metric, so no best trial.")
    maximize = job.objective.goal == "maximize"
    best = (max if maximize else min)(done, key=lambda t: t["value"])
    if best["name"] != job.best_child_run_id and best["value"] != job.best_metric:
        raise LabCheckError(f"The sweep's best trial {job.best_child_run_id} is not its best completed trial "
                            f"{best['name']}.")
    stopped = sum(1 for t in trials if t.get("stopped"))
    passed(f"sweep {name} completed: {len(trials)} trials ({stopped} stopped early), best {job.best_child_run_id} "
           f"with {job.objective.primary_metric} = {job.best_metric:.4g}")
    return job


def check_pipeline_ran(ws: Workspace, name: str | None, *, steps: int = 2, model: str | None = None) -> Any:
    """The pipeline job ``name`` completed with at least ``steps`` steps, each a completed child run, one step
    taking another's output; and (optionally) ``model`` was registered from it with "Training context: Pipeline"."""
    if not name:
        raise LabCheckError("No pipeline to check: run the cell that submits the pipeline job first.")
    try:
        job = ws.jobs.get(name)
    except NotFound as exc:
        raise LabCheckError(f"{exc.message} Submit the pipeline with ws.jobs.create_or_update(pipeline_job).") from exc
    if job.type != "pipeline":
        raise LabCheckError(f"{name} is a {job.type} job, not a pipeline. Check the pipeline job's name.")
    if str(job.status) != "Completed":
        raise LabCheckError(f"The pipeline {name} is {job.status}{': ' + job.error if job.error else ''}. Wait for it "
                            "(ws.jobs.stream(name)) or fix the step it names and submit again.")
    children = ws.jobs.list(parent_job_name=name)
    if len(children) < steps or any(str(c.status) != "Completed" for c in children):
        raise LabCheckError(f"The pipeline {name} has {len(children)} step runs "
                            f"({', '.join(f'{c.display_name}: {c.status}' for c in children)}); {steps} completed "
                            "ones were expected.")
    bound = [s for s, step in job.jobs.items()
             if any(isinstance(v, str) and ".outputs." in v for v in step.inputs.values())]
    if not bound:
        raise LabCheckError("No step of the pipeline takes another step's output; join them with "
                            "step.outputs.NAME as the next step's input.")
    if model is not None:
        registered = ws.models.get(model)
        if registered.tags.get("Training context") != "Pipeline":
            raise LabCheckError(f"The model {model} has no tag 'Training context: Pipeline'; register it from the "
                                "pipeline's output (pipeline_job.outputs.NAME.name = ...).")
    passed(f"{name}: {len(children)} steps completed ({', '.join(c.display_name or '' for c in children)}); "
           f"{', '.join(bound)} took an upstream step's output" + (f"; model {model} registered" if model else ""))
    return job


def check_pipeline_scheduled(ws: Workspace, name: str, *, enabled: bool | None = None) -> Any:
    """The schedule ``name`` exists, runs a pipeline job, and has fire times ahead (when enabled)."""
    try:
        schedule = ws.schedules.get(name)
    except NotFound as exc:
        raise LabCheckError(f"{exc.message} Create it with ws.schedules.begin_create_or_update(JobSchedule(...)).") \
            from exc
    job = schedule.create_job
    kind = getattr(job, "type", None) or type(job).__name__
    if kind != "pipeline":
        raise LabCheckError(f"The schedule {name} runs a {kind} job; give it the pipeline job "
                            "(JobSchedule(create_job=pipeline_job, ...)).")
    if enabled is not None and schedule.is_enabled != enabled:
        state = "enabled" if schedule.is_enabled else "disabled"
        action = "begin_disable" if schedule.is_enabled else "begin_enable"
        raise LabCheckError(f"The schedule {name} is {state}; the lab leaves it "
                            f"{'enabled' if enabled else 'disabled'} (ws.schedules.{action}({name!r})).")
    upcoming = schedule.next_fire_times
    trigger = type(schedule.trigger).__name__
    passed(f"schedule {name}: a {trigger} on the pipeline, {'enabled' if schedule.is_enabled else 'disabled'}"
           + (f", next fire {upcoming[0]:%a %d %b %H:%M %Z}" if upcoming else ""))
    return schedule


def check_batch_scored(ws: Workspace, endpoint: str, job: str | None, *, rows: int) -> Any:
    """The batch endpoint ``endpoint`` has a default deployment, and its invocation ``job`` completed with one
    prediction per input row (``rows``), each row once."""
    import tempfile

    if not job:
        raise LabCheckError("No batch job to check: run the cell that invokes the endpoint first.")
    try:
        found = ws.batch_endpoints.get(endpoint)
    except NotFound as exc:
        raise LabCheckError(f"{exc.message} Create it with ws.batch_endpoints.begin_create_or_update("
                            "BatchEndpoint(name=...)).") from exc
    if not found.defaults.deployment_name:
        raise LabCheckError(f"The batch endpoint {endpoint} has no default deployment; create a "
                            "ModelBatchDeployment on it (the first one becomes the default).")
    try:
        run = ws.jobs.get(job)
    except NotFound as exc:
        raise LabCheckError(f"{exc.message} Use the name ws.batch_endpoints.invoke(...) returned.") from exc
    if run.tags.get("azureml.batch_endpoint") != endpoint:
        raise LabCheckError(f"The job {job} is not an invocation of {endpoint}; invoke it with "
                            f"ws.batch_endpoints.invoke({endpoint!r}, input=...).")
    if str(run.status) != "Completed":
        raise LabCheckError(f"The batch job {job} is {run.status}{': ' + run.error if run.error else ''}. Wait for it "
                            "(ws.jobs.stream(name)) or fix what its log names and invoke again.")
    with tempfile.TemporaryDirectory() as where:
        ws.jobs.download(job, download_path=where, output_name="score")
        written = sorted(Path(where).rglob("*.csv"))
        lines = [line for path in written for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(lines) != rows:
        raise LabCheckError(f"The batch job {job} wrote {len(lines)} prediction rows; the {rows} input rows should each "
                            "give one. Does run(mini_batch) return one row per patient of every file it is given?")
    if len(set(lines)) != len(lines):
        raise LabCheckError(f"The batch job {job} wrote some rows twice; each row of run()'s result is written once, "
                            "so return each patient once.")
    passed(f"batch job {job} on {endpoint}/{run.tags.get('azureml.batch_deployment')} completed: {rows} predictions")
    return run


def check_batch_scheduled(ws: Workspace, name: str, *, endpoint: str, enabled: bool | None = None) -> Any:
    """The schedule ``name`` invokes the batch endpoint ``endpoint`` (and is enabled or not, as asked)."""
    try:
        schedule = ws.schedules.get(name)
    except NotFound as exc:
        raise LabCheckError(f"{exc.message} Create it with ws.schedules.begin_create_or_update(JobSchedule("
                            "create_job=BatchEndpointInvocation(...), ...)).") from exc
    action = schedule.create_job
    if getattr(action, "type", None) != "batch_endpoint" or getattr(action, "endpoint_name", None) != endpoint:
        raise LabCheckError(f"The schedule {name} does not invoke the batch endpoint {endpoint}; give it "
                            f"create_job=BatchEndpointInvocation(endpoint_name={endpoint!r}, input=...).")
    if enabled is not None and schedule.is_enabled != enabled:
        verb = "begin_disable" if schedule.is_enabled else "begin_enable"
        raise LabCheckError(f"The schedule {name} is {'enabled' if schedule.is_enabled else 'disabled'}; the lab "
                            f"leaves it {'enabled' if enabled else 'disabled'} (ws.schedules.{verb}({name!r})).")
    passed(f"schedule {name} invokes {action.display_name}, {'enabled' if schedule.is_enabled else 'disabled'}")
    return schedule


def check_drift_monitored(ws: Workspace, name: str, *, min_windows: int = 2, scheduled: bool = True) -> Any:
    """The dataset monitor ``name`` has backfilled windows with a drift magnitude, one of them over its threshold
    and alerted, and (when ``scheduled``) a schedule of its own."""
    try:
        monitor = ws.data_drift.get(name)
    except NotFound as exc:
        raise LabCheckError(f"{exc.message} Create it with ws.data_drift.create({name!r}, baseline=..., target=..., "
                            "timestamp_column=..., frequency='Week').") from exc
    results = [r for r in ws.data_drift.get_results(name) if r.drift_magnitude is not None]
    if len(results) < min_windows:
        raise LabCheckError(
            f"The monitor {name} has {len(results)} window(s) with a drift magnitude; the lab expects at least "
            f"{min_windows}. Run the backfill cell (ws.data_drift.backfill({name!r}, start, end)), wait for its job "
            "to complete, and check again.")
    worst = max(results, key=lambda r: r.drift_magnitude or 0.0)
    magnitude = worst.drift_magnitude or 0.0
    if magnitude <= monitor.drift_threshold:
        raise LabCheckError(
            f"No window of {name} drifted past its threshold ({monitor.drift_threshold:g}; the largest magnitude is "
            f"{magnitude:.1f}, week of {worst.start:%d %b %Y}). Did the target data get its later weeks shifted?")
    alerts = ws.data_drift.list_alerts(name)
    if not alerts:
        raise LabCheckError(f"The window of {worst.start:%d %b %Y} drifted ({magnitude:.1f}) but {name} has no "
                            "alert: run the backfill again so the monitor run records it.")
    if scheduled and not monitor.schedule_name:
        raise LabCheckError(f"The monitor {name} has no schedule. Give it one with "
                            f"ws.data_drift.enable_schedule({name!r}).")
    passed(f"monitor {name}: {len(results)} window(s), largest drift magnitude {magnitude:.1f} in the week of "
           f"{worst.start:%d %b %Y} (threshold {monitor.drift_threshold:g}), {len(alerts)} alert(s)"
           + (f", schedule {monitor.schedule_name} {monitor.state.lower()}" if monitor.schedule_name else ""))
    return results
