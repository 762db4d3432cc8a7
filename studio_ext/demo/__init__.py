"""``studio-ext demo``: a headless walk through the lifecycle on a fresh workspace.

Each step is a function of the demo context that does one thing with the public
API and says what it did and where; :data:`STEPS` grows with every capability.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from studio_ext._builders import command
from studio_ext.entities import Input
from studio_ext.workspace import Workspace

ASSETS = Path(__file__).with_name("assets")  # the scripts and files the demo copies into a workspace


@dataclass
class DemoContext:
    ws: Workspace
    out: TextIO
    facts: dict[str, Any] = field(default_factory=dict)
    # Steps run at once (see run_demo): a line, or a block of lines, is printed whole (``printing``);
    # what several steps use and one makes (the demo's source folder, its registered model) is made
    # once, under ``making``, while the others wait for it.
    printing: threading.Lock = field(default_factory=threading.Lock, repr=False)
    making: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def say(self, text: str) -> None:
        with self.printing:
            print(text, file=self.out, flush=True)


def _demo_src(ctx: DemoContext) -> Path:
    """The folder of the demo's training and preparation scripts, written once before any job snapshots it."""
    src = ctx.ws.path / "demo-src"
    with ctx.making:
        if "src" not in ctx.facts:
            src.mkdir(exist_ok=True)
            shutil.copy(ASSETS / "train_diabetes.py", src / "train.py")
            shutil.copy(ASSETS / "prep_diabetes.py", src / "prep.py")
            ctx.facts["src"] = src
    return src


def step_register_dataset(ctx: DemoContext) -> None:
    """Write scikit-learn's diabetes table as a European-style CSV and register it with read options."""
    from sklearn.datasets import load_diabetes

    from studio_ext.entities import Data

    frame = load_diabetes(as_frame=True).frame
    csv = ctx.ws.path / "demo-data" / "diabetes.csv"
    csv.parent.mkdir(exist_ok=True)
    frame.to_csv(csv, sep=";", decimal=",", index=False)
    data = ctx.ws.data.create_or_update(Data(
        name="diabetes", path=str(csv), type="tabular", description="scikit-learn's diabetes data (442 patients)",
        read_options={"delimiter": ";", "decimal": ","}))
    ctx.facts["dataset"] = data.reference
    ctx.say(f"[data] registered {data.name} version {data.version}: {data.row_count} rows, {len(data.columns)} columns "
            f"(delimiter ';', decimal ',') -> {data.local_path}")


def step_training_job(ctx: DemoContext) -> None:
    """Submit a training script as a command job and wait for it."""
    src = _demo_src(ctx)
    dataset = ctx.facts.get("dataset")  # registered by step_register_dataset
    job = ctx.ws.jobs.create_or_update(command(
        code=str(src), command="python train.py --alpha ${{inputs.alpha}}" + (" --data ${{inputs.diabetes}}" if dataset else ""),
        inputs={"alpha": 0.5, **({"diabetes": Input(type="uri_file", path=dataset)} if dataset else {})},
        experiment_name="diabetes-demo", display_name="ridge alpha=0.5",
    ))
    ctx.say(f"[job] submitted {job.name} to compute 'local' (experiment diabetes-demo)")
    while not (job := ctx.ws.jobs.get(job.name)).status.is_terminal:
        time.sleep(0.2)
    if str(job.status) != "Completed":
        raise RuntimeError(f"the demo job ended {job.status}: {job.error}")
    ctx.facts["training_job"] = job.name
    metrics = ", ".join(f"{k}={v:.3f}" for k, v in sorted(job.metrics.items()))
    ctx.say(f"[job] {job.name} {job.status} in {job.duration_seconds:.1f}s: {metrics}")
    ctx.say(f"      log: {job.log_path}")


def step_azure_ml_v2(ctx: DemoContext) -> None:
    """Submit the training job as azure-ai-ml code (curated environment), then as v2 YAML read by Azure's loader."""
    from azure.ai.ml import command as azure_command

    from studio_ext.translation import from_yaml

    src = _demo_src(ctx)
    job = ctx.ws.jobs.create_or_update(azure_command(
        code=str(src), command="python train.py --alpha ${{inputs.alpha}}", inputs={"alpha": 0.25},
        environment="AzureML-sklearn-1.5@latest", compute="local", experiment_name="diabetes-demo",
        display_name="ridge alpha=0.25 (azure-ai-ml)"))
    ctx.say(f"[azure-ml] azure.ai.ml.command(...) submitted as {job.name} on the curated AzureML-sklearn-1.5; "
            f"studio_url: {job.studio_url}")
    submitted = ctx.ws.jobs.get(job.name)
    submitted.name = None  # the file describes a new job, as one written by hand would
    yaml_text = ctx.ws.jobs.to_yaml(submitted)
    job_file = src.parent / "demo-job.yml"
    job_file.write_text(yaml_text)
    # as `studio-ext job create --file demo-job.yml --set inputs.alpha=2.0 ...` does
    again = ctx.ws.jobs.create_or_update(from_yaml(job_file, params_override=[
        {"inputs.alpha": 2.0, "display_name": "ridge alpha=2.0 (v2 YAML)"}]).entity)
    for name in (job.name, again.name):
        while not (final := ctx.ws.jobs.get(name)).status.is_terminal:
            time.sleep(0.2)
        if str(final.status) != "Completed":
            raise RuntimeError(f"the azure-ai-ml demo job {name} ended {final.status}: {final.error}")
    ctx.say(f"[azure-ml] its v2 YAML ({len(yaml_text.splitlines())} lines) -> {job_file}; submitted again from "
            f"the file with alpha=2.0 as {again.name}: both Completed")


def step_compute_cluster(ctx: DemoContext) -> None:
    """Create a small Dask cluster, run the training script on one of its nodes, show the node counts."""
    from studio_ext.entities import AmlCompute

    cluster = ctx.ws.compute.begin_create_or_update(AmlCompute(
        name="demo-cluster", min_instances=0, max_instances=2, idle_time_before_scale_down=60)).result(timeout=300)
    ctx.say(f"[compute] demo-cluster {cluster.state}: {cluster.current_nodes} of {cluster.max_nodes} nodes "
            f"(scheduler {cluster.scheduler_address})")
    src = _demo_src(ctx)
    job = ctx.ws.jobs.create_or_update(command(
        code=str(src), command="python train.py --alpha ${{inputs.alpha}}", inputs={"alpha": 0.1},
        experiment_name="diabetes-demo", display_name="ridge alpha=0.1 on demo-cluster", compute="demo-cluster",
    ))
    peak = 0
    while not (job := ctx.ws.jobs.get(job.name)).status.is_terminal:
        peak = max(peak, ctx.ws.compute.get("demo-cluster").current_nodes)
        time.sleep(0.3)
    if str(job.status) != "Completed":
        raise RuntimeError(f"the job on demo-cluster ended {job.status}: {job.error}")
    now_nodes = ctx.ws.compute.get("demo-cluster").current_nodes
    ctx.facts["cluster"] = "demo-cluster"
    ctx.say(f"[compute] {job.name} {job.status} on demo-cluster in {job.duration_seconds:.1f}s; nodes: "
            f"{max(peak, now_nodes)} at peak, {now_nodes} now (back to 0 after 60 s idle)")


def step_sweep(ctx: DemoContext) -> None:
    """Sweep the ridge's alpha (random sampling, seeded) with 4 trials, 2 at a time, on the demo cluster."""
    from studio_ext.sweep import LogUniform, RandomSamplingAlgorithm

    src = _demo_src(ctx)
    compute = ctx.facts.get("cluster", "local")
    trial = command(code=str(src), command="python train.py --alpha ${{inputs.alpha}}", inputs={"alpha": 1.0},
                    experiment_name="diabetes-sweep", compute=compute)
    sweep = trial(alpha=LogUniform(min_value=-4.0, max_value=2.0)).sweep(
        sampling_algorithm=RandomSamplingAlgorithm(seed=1), primary_metric="r2", goal="Maximize")
    sweep.set_limits(max_total_trials=4, max_concurrent_trials=2)
    submitted = ctx.ws.jobs.create_or_update(sweep)
    ctx.say(f"[sweep] submitted {submitted.name}: alpha ~ exp(uniform(-4, 2)), 4 trials, 2 at a time on {compute!r}")
    while not (final := ctx.ws.jobs.get(submitted.name)).status.is_terminal:
        time.sleep(0.5)
    if str(final.status) != "Completed":
        raise RuntimeError(f"the sweep ended {final.status}: {final.error}")
    ctx.facts["sweep"] = final.name
    trials = sorted(ctx.ws.sweeps.trials(final.name), key=lambda t: -(t.get("value") or -1e9))
    lines = [f"         {t['name']:<22} alpha={t['params']['alpha']:<10.4g} r2={t.get('value') or float('nan'):.3f}"
             f" {t['status']}" for t in trials]
    lines.append(f"[sweep] {final.name} Completed in {final.duration_seconds:.1f}s; best trial {final.best_child_run_id} "
                 f"(alpha={final.best_hyperparameters['alpha']:.4g}, r2={final.best_metric:.3f}); open it on the "
                 "Sweeps page")
    ctx.say("\n".join(lines))


def step_pipeline(ctx: DemoContext) -> None:
    """A two-step pipeline (prepare, then train) built with studio_ext's dsl; the prepared folder goes between."""
    from studio_ext import dsl
    from studio_ext.entities import CommandComponent, Output

    src = _demo_src(ctx)
    dataset = ctx.facts.get("dataset")
    prep = CommandComponent(name="prep_diabetes", code=str(src),
                            command="python prep.py $[[--data ${{inputs.data}}]] --prepared ${{outputs.prepared}}",
                            inputs={"data": Input(type="uri_file", optional=True)},
                            outputs={"prepared": Output(type="uri_folder")})
    train = CommandComponent(name="train_ridge", code=str(src),
                             command="python train.py --alpha ${{inputs.alpha}} "
                                     "--data ${{inputs.prepared}}/diabetes.parquet",
                             inputs={"prepared": Input(type="uri_folder"), "alpha": Input(type="number", default=1.0)})

    @dsl.pipeline(experiment_name="diabetes-pipeline", description="prepare, then train")
    def diabetes_pipeline(data: Any, alpha: float = 0.5) -> None:
        prepare = prep(data=data)
        train(prepared=prepare.outputs.prepared, alpha=alpha)

    job = diabetes_pipeline(Input(type="uri_file", path=dataset) if dataset else None, alpha=0.3)
    submitted = ctx.ws.jobs.create_or_update(job)
    ctx.say(f"[pipeline] submitted {submitted.name}: steps {', '.join(submitted.jobs)} (prepare -> train, alpha=0.3)")
    while not (final := ctx.ws.jobs.get(submitted.name)).status.is_terminal:
        time.sleep(0.3)
    if str(final.status) != "Completed":
        raise RuntimeError(f"the pipeline ended {final.status}: {final.error}")
    lines = []
    for child in sorted(ctx.ws.jobs.list(parent_job_name=final.name), key=lambda j: j.creation_time or 0):
        figures = ", ".join(f"{k}={v:.3f}" for k, v in sorted(child.metrics.items()) if k in ("r2", "rmse"))
        lines.append(f"         step {child.display_name:<10} {child.status} {figures}")
    ctx.facts["pipeline"] = final.name
    ctx.say("\n".join(lines) + f"\n[pipeline] {final.name} Completed in {final.duration_seconds:.1f}s; open it on the Pipelines page")


def _demo_model(ctx: DemoContext) -> Any:
    """The training job's MLflow model, registered once (by the first step that needs it; the others wait for it)."""
    from studio_ext.entities import Model

    with ctx.making:
        if "model" not in ctx.facts:
            job = ctx.facts["training_job"]
            model = ctx.ws.models.create_or_update(Model(
                name="diabetes-ridge", path=f"azureml://jobs/{job}/outputs/artifacts/paths/model/",
                description="Ridge regression from the demo training job", tags={"Training context": "Demo job"}))
            ctx.say(f"[model] registered {model.name}:{model.version} ({model.type}, {len(model.files)} files "
                    f"hashed) from job {job}")
            ctx.facts["model"] = model
        return ctx.facts["model"]


def step_batch(ctx: DemoContext) -> None:
    """The registered MLflow model behind a batch endpoint (no scoring script: MLflow's own), one invocation
    scoring a folder of three small CSV files, and its predictions downloaded."""
    from sklearn.datasets import load_diabetes

    from studio_ext.entities import BatchEndpoint, ModelBatchDeployment, ModelBatchDeploymentSettings

    model = _demo_model(ctx)
    folder = ctx.ws.path / "demo-data" / "new-patients"
    folder.mkdir(parents=True, exist_ok=True)
    features = load_diabetes(as_frame=True).data
    for i in range(3):
        features.iloc[20 * i:20 * (i + 1)].to_csv(folder / f"patients-{i}.csv", index=False)
    ctx.ws.batch_endpoints.begin_create_or_update(BatchEndpoint(
        name="diabetes-batch", description="scores a folder of patient files")).result()
    ctx.ws.batch_deployments.begin_create_or_update(ModelBatchDeployment(
        name="ridge", endpoint_name="diabetes-batch", model=model,
        settings=ModelBatchDeploymentSettings(mini_batch_size=3, output_file_name="predictions.csv"))).result()
    job = ctx.ws.batch_endpoints.invoke("diabetes-batch", input=Input(type="uri_folder", path=str(folder)))
    ctx.say(f"[batch] invoked diabetes-batch/ridge on {folder.name}/ (3 files): batch job {job.name}")
    while not (final := ctx.ws.jobs.get(job.name)).status.is_terminal:
        time.sleep(0.3)
    if str(final.status) != "Completed":
        raise RuntimeError(f"the batch job ended {final.status}: {final.error}")
    where = ctx.ws.path / "demo-batch-output"
    ctx.ws.jobs.download(job.name, download_path=str(where), output_name="score")
    rows = (where / "predictions.csv").read_text().splitlines()
    endpoint = ctx.ws.batch_endpoints.get("diabetes-batch")
    ctx.say(f"[batch] {final.name} Completed in {final.duration_seconds:.1f}s: {len(rows)} predictions -> "
            f"{where / 'predictions.csv'}")
    ctx.say(f"        over REST: POST {endpoint.scoring_uri} with its key; open it on Endpoints > Batch endpoints")


def step_schedule(ctx: DemoContext) -> None:
    """A nightly schedule of the training job (a cron trigger in Berlin's time zone): its next fire times, then
    disabled, so the demo leaves nothing firing."""
    from studio_ext.entities import CronTrigger, JobSchedule

    src = _demo_src(ctx)
    job = command(code=str(src), command="python train.py --alpha 0.5", experiment_name="diabetes-nightly")
    schedule = ctx.ws.schedules.begin_create_or_update(JobSchedule(
        name="nightly-training", trigger=CronTrigger(expression="30 2 * * *", time_zone="W. Europe Standard Time"),
        create_job=job, description="retrain every night at 02:30 Berlin time")).result()
    times = ", ".join(f"{t:%a %d %b %H:%M %Z}" for t in schedule.next_fire_times[:3])
    ctx.say(f"[schedule] {schedule.name}: cron '30 2 * * *' (W. Europe Standard Time); next fires {times} ...")
    ctx.ws.schedules.begin_disable(schedule.name).result()
    ctx.say(f"[schedule] disabled {schedule.name} (enable it with studio-ext schedule enable {schedule.name})")


def step_model_endpoint(ctx: DemoContext) -> None:
    """Register the training job's model, deploy it to a real-time endpoint and call it with its key."""
    import httpx

    from studio_ext.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint

    model = _demo_model(ctx)
    ctx.ws.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="diabetes-demo")).result(timeout=120)
    deployment = ctx.ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="blue", endpoint_name="diabetes-demo", model=model.id)).result(timeout=300)
    endpoint = ctx.ws.online_endpoints.get("diabetes-demo")
    key = ctx.ws.online_endpoints.get_keys("diabetes-demo").primary_key
    answer = httpx.post(endpoint.scoring_uri, json=model.input_example,
                        headers={"Authorization": f"Bearer {key}"}, timeout=30)
    ctx.facts["endpoint"] = endpoint.name
    ctx.say(f"[endpoint] {endpoint.name}/{deployment.name} is {deployment.state}; scoring URI {endpoint.scoring_uri}")
    ctx.say(f"           POST with the key -> {answer.status_code} {answer.text}")


def step_run_explorer(ctx: DemoContext) -> None:
    """Find the demo's runs the way the Jobs page does: filtered, sorted, with a chart series."""
    job = ctx.facts["training_job"]
    page = ctx.ws.jobs.search(["diabetes-demo"], filter="metrics.r2 > 0", order_by=["metrics.r2 DESC"],
                              page_size=10)
    best = page.runs[0]
    curve = ctx.ws.jobs.get_metric_history(job, "r2_by_train_size", max_points=100)
    ctx.say(f"[runs] {page.total} run(s) in diabetes-demo with r2 > 0; best {best.name} r2={best.metrics['r2']:.3f}; "
            f"r2_by_train_size has {curve.total_points} points")
    ctx.say("       browse them with: from studio_ext.panels import RunExplorer; RunExplorer(ws)")


AUTOML_TRIALS = 10
AUTOML_MINUTES = 2.5


def step_automl(ctx: DemoContext) -> None:
    """Run an AutoML regression (AUTOML_TRIALS trials, at most AUTOML_MINUTES) on the registered dataset; show the
    leaderboard's top and the best model."""
    from studio_ext import automl

    job = automl.regression(training_data=Input(type="mltable", path=ctx.facts["dataset"]), target_column_name="target",
                            primary_metric="r2_score", experiment_name="diabetes-automl", test_data_size=0.2)
    # Bounded by trials first: a fast machine stops after AUTOML_TRIALS (seconds), a loaded one still makes
    # them within the time limit rather than the one or two a short time budget allowed.
    job.set_limits(max_trials=AUTOML_TRIALS, timeout_minutes=AUTOML_MINUTES)
    submitted = ctx.ws.jobs.create_or_update(job)
    ctx.say(f"[automl] submitted {submitted.name} (regression on {ctx.facts['dataset']}, {AUTOML_TRIALS} trials "
            f"or {AUTOML_MINUTES:g} minutes, whichever comes first)")
    while not (final := ctx.ws.jobs.get(submitted.name)).status.is_terminal:
        time.sleep(0.5)
    if str(final.status) != "Completed":
        raise RuntimeError(f"the AutoML job ended {final.status}: {final.error}")
    run = ctx.ws.automl.get(submitted.name)
    ctx.facts["automl_job"] = submitted.name
    lines = [f"[automl] {len(run.trials)} trials in {final.duration_seconds:.1f}s; top of the leaderboard:"]
    lines += [f"         {row.name:<28} {row.algorithm:<20} r2_score={row.r2_score:.3f}"
              for row in run.leaderboard.head(3).itertuples(index=False)]
    lines.append(f"[automl] best model: {run.best_algorithm} ({run.best_trial}), r2_score={run.best_metric:.3f}, "
                 f"on test data {run.test_metrics.get('r2_score', float('nan')):.3f}")
    top = run.leaderboard.head(1)
    if not top.empty and top["name"].iloc[0] != run.best_trial:
        # The best model is chosen on rows each way of choosing did not see (ties within noise go to the
        # simpler trial): say so, rather than leave a top row that scores higher unexplained.
        why = next((n for n in run.notes if " chosen" in n), "its score ties with the top row's within noise")
        lines.append(f"         not the top row ({top['name'].iloc[0]}, r2_score={top['r2_score'].iloc[0]:.3f}): {why}")
    ctx.say("\n".join(lines))


def step_explain_and_assess(ctx: DemoContext) -> None:
    """Explain the demo model on its dataset (a job under its training job) and assess fairness by sex."""
    model = _demo_model(ctx)
    dataset, features = _register_grouped_dataset(ctx)
    exp = ctx.ws.explanations.create(model, dataset, "target", features=features, timeout=600)
    top = ", ".join(f"{k} {v:.1f}" for k, v in list(exp.global_importance.items())[:4])
    ctx.facts["explanation"] = exp.name
    ctx.say(f"[explain] {exp.name}: {exp.method} on {exp.rows} rows of {dataset}; top features (mean |SHAP|): {top}")
    # The model sees the standardized features; the groups are the patients' ages in years.
    assessment = ctx.ws.fairness.assess(model, dataset, "target", [AGE_GROUP], features=features)
    groups = assessment.by_group(AGE_GROUP)
    per_group = ", ".join(f"{g}: {row['mean_absolute_error']:.1f}" for g, row in groups.iterrows())
    ctx.facts["assessment"] = assessment.name
    ctx.say(f"[fairness] {assessment.name}: mean absolute error by age group {per_group}; disparity (difference) "
            f"{assessment.disparity('mean_absolute_error', AGE_GROUP):.2f}")
    ctx.say("           open them with: ExplanationDashboard(ws, ...), FairnessDashboard(ws, ...) "
            "from studio_ext.panels")



AGE_GROUP = "age_group"
AGE_GROUPS = ((0, 40, "under 40"), (40, 50, "40 to 49"), (50, 60, "50 to 59"), (60, 200, "60 and over"))


def age_groups(ages: Any) -> list[str]:
    """Ages in years as the demo's named groups (``under 40`` ... ``60 and over``)."""
    return [next(label for low, high, label in AGE_GROUPS if low <= age < high) for age in ages]


def _register_grouped_dataset(ctx: DemoContext) -> tuple[str, list[str]]:
    """The diabetes table with each patient's age group in years, as ``diabetes-groups``; and the model's features.

    scikit-learn ships the same 442 patients unscaled (``scaled=False``): the age in years comes from there,
    row for row. The sensitive feature then names groups a person reads ("60 and over"), not a
    standardized number.
    """
    from sklearn.datasets import load_diabetes

    from studio_ext.entities import Data

    frame = load_diabetes(as_frame=True).frame
    raw = load_diabetes(as_frame=True, scaled=False).frame
    features = [c for c in frame.columns if c != "target"]
    frame[AGE_GROUP] = age_groups(raw["age"])
    csv = ctx.ws.path / "demo-data" / "diabetes-groups.csv"
    csv.parent.mkdir(exist_ok=True)
    frame.to_csv(csv, index=False)
    data = ctx.ws.data.create_or_update(Data(
        name="diabetes-groups", path=str(csv), type="tabular",
        description="scikit-learn's diabetes data with each patient's age group in years (for fairness)"))
    return data.reference, features


def step_private_query(ctx: DemoContext) -> None:
    """Answer one differentially private SQL query on the demo dataset, charging its privacy budget."""
    from studio_ext.errors import BudgetExceeded

    dataset = ctx.facts["dataset"]
    ctx.ws.privacy.set_metadata(dataset, columns={"target": {"lower": 0, "upper": 400}}, budget_epsilon=1.0)
    try:
        r = ctx.ws.privacy.query(dataset, "SELECT COUNT(*) AS patients, AVG(target) AS progression FROM diabetes",
                                 epsilon=0.5)
    except BudgetExceeded as exc:  # a rerun on the same workspace: the versions share rows, so the budget carries over
        ctx.say(f"[privacy] refused, as it should be: {exc}")
        return
    lower, upper = r.interval
    budget = ctx.ws.privacy.budget(dataset)
    ctx.say(f"[privacy] {dataset}: about {r.value['patients'][0]:.0f} patients, mean progression "
            f"{r.value['progression'][0]:.1f} (95 % interval {lower['progression'][0]:.1f} to "
            f"{upper['progression'][0]:.1f}), epsilon {r.epsilon:.2f} spent, {budget.epsilon_remaining:.2f} left "
            "(OpenDP; bounds 0..400 are public)")


def step_drift(ctx: DemoContext) -> None:
    """A dataset monitor on the diabetes table: two weeks of new visits (the second one older and heavier) as the
    target, both weeks backfilled by a monitor run job; each week's drift magnitude and most drifted feature."""
    import pandas as pd
    from sklearn.datasets import load_diabetes

    from studio_ext.entities import Data

    patients = load_diabetes(as_frame=True).data
    weeks = []
    for week, monday in enumerate(pd.date_range("2026-01-05", periods=2, freq="7D")):
        visits = patients.sample(80, replace=True, random_state=week).reset_index(drop=True)
        if week:  # one standard deviation older and heavier (the table's units are scaled)
            visits["age"] += patients["age"].std()
            visits["bmi"] += patients["bmi"].std()
        visits.insert(0, "date", monday + pd.to_timedelta(range(0, 80 * 120, 120), unit="min"))
        weeks.append(visits)
    csv = ctx.ws.path / "demo-data" / "visits.csv"
    pd.concat(weeks).to_csv(csv, index=False)
    target = ctx.ws.data.create_or_update(Data(name="diabetes-visits", path=str(csv), type="mltable",
                                               description="two weeks of new patients, one row per visit"))
    monitor = ctx.ws.data_drift.create("diabetes-drift", baseline=ctx.facts["dataset"], target=target.reference,
                                       timestamp_column="date", frequency="Week", features=["age", "bmi", "bp", "s5"],
                                       drift_threshold=30)
    job = ctx.ws.data_drift.backfill(monitor.name, "2026-01-05", "2026-01-19")
    ctx.say(f"[drift] monitor {monitor.name}: {target.reference} against the baseline {ctx.facts['dataset']}, weekly, "
            f"threshold {monitor.drift_threshold:g}; backfill job {job.name}")
    while not (final := ctx.ws.jobs.get(job.name)).status.is_terminal:
        time.sleep(0.3)
    if str(final.status) != "Completed":
        raise RuntimeError(f"the drift backfill ended {final.status}: {final.error}")
    for r in ctx.ws.data_drift.get_results(monitor.name):
        top = max(r.features, key=lambda f: r.features[f]["normalized_wasserstein_distance"])
        ctx.say(f"[drift] week of {r.start:%d %b %Y}: drift magnitude {r.drift_magnitude:.1f}; most drifted {top} "
                f"(normalized Wasserstein {r.features[top]['normalized_wasserstein_distance']:.2f})"
                + (" - over the threshold, alert raised" if r.alerts else ""))
    ctx.say(f"[drift] {ctx.ws.data_drift.alert_count(monitor.name)} alert(s) in {final.duration_seconds:.1f}s; "
            "open it on the Monitoring page")


STEPS: list[Callable[[DemoContext], None]] = [
    step_register_dataset,
    step_training_job,
    step_azure_ml_v2,
    step_compute_cluster,
    step_sweep,
    step_pipeline,
    step_batch,
    step_schedule,
    step_model_endpoint,
    step_run_explorer,
    step_automl,
    step_explain_and_assess,
    step_private_query,
    step_drift,
]

# The steps whose ``ctx.facts`` (or jobs) a step needs: it starts once they have ended. The others run
# at the same time (a step mostly waits on its jobs), so the demo takes about its longest chain of
# steps rather than their sum. A step that is not listed needs none.
NEEDS: dict[Callable[[DemoContext], None], tuple[Callable[[DemoContext], None], ...]] = {
    step_training_job: (step_register_dataset,),
    step_sweep: (step_compute_cluster,),
    step_pipeline: (step_register_dataset,),
    step_batch: (step_training_job,),
    step_model_endpoint: (step_training_job,),
    # it counts the runs of experiment diabetes-demo: every job of it has ended first
    step_run_explorer: (step_training_job, step_azure_ml_v2, step_compute_cluster),
    step_automl: (step_register_dataset,),
    step_explain_and_assess: (step_register_dataset, step_training_job),
    step_private_query: (step_register_dataset,),
    step_drift: (step_register_dataset,),
}


def run_demo(path: str | Path, out: TextIO | None = None) -> DemoContext:
    """Create (or reuse) the workspace at ``path`` and run every demo step, each once the steps it needs have ended.

    Each step says what it did as it ends, so lines of steps running at once come in the order they end. The
    first step that fails stops the demo: no further step starts, the running ones end, its error is raised.
    """
    out = out or sys.stdout
    ws = Workspace.create(path, exist_ok=True)
    ctx = DemoContext(ws=ws, out=out)
    ctx.say(f"[workspace] {ws.name} at {ws.path}")
    started = time.monotonic()
    done: set[Callable[[DemoContext], None]] = set()
    waiting = list(STEPS)
    running: dict[Future[None], Callable[[DemoContext], None]] = {}
    failed: BaseException | None = None
    with ThreadPoolExecutor(max_workers=len(STEPS), thread_name_prefix="demo-step") as pool:
        while waiting or running:
            if failed is None:
                for step in [s for s in waiting if all(n in done for n in NEEDS.get(s, ()))]:
                    waiting.remove(step)
                    running[pool.submit(step, ctx)] = step
            if not running:
                break
            ended, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in ended:
                step = running.pop(future)
                error = future.exception()
                if error is None:
                    done.add(step)
                elif failed is None:
                    failed = error
    if failed is not None:
        raise failed
    if waiting:  # a step needs one that is not in STEPS
        raise RuntimeError(f"demo steps {[s.__name__ for s in waiting]} need steps that are not in STEPS")
    ctx.say(f"[done] {len(done)} steps in {time.monotonic() - started:.0f} s; open the studio on it:  "
            f"studio-ext studio {ws.path}")
    return ctx


def prepare_demo_workspace(path: Path) -> Workspace:
    """For ``make studio``: a workspace that already holds the demo's assets (once)."""
    from studio_ext.backends.local import LocalBackend

    ws = Workspace.create(path, exist_ok=True)
    store = LocalBackend.of(ws).store
    if not store.get_setting("demo_prepared"):
        run_demo(path)
        store.set_setting("demo_prepared", True)
    return ws
