"""The supervisor's pipeline duty: runs every active pipeline's steps, so a pipeline outlives the kernel.

Each tick, for each pipeline (a jobs row of type ``pipeline`` in state Running):

1. step runs that ended are recorded; a step that completed adds its recipe to the reuse index;
2. a failed (or canceled) step fails the pipeline, naming the step: the steps still running are
   canceled and the rest never start, each skipped with the reason; with
   ``continue_on_step_failure`` only the steps downstream of it are skipped and the others go on;
3. every step whose upstream steps have completed starts now, all of them at once (the
   compute queues what is beyond its capacity), as a child command job of the pipeline: its
   inputs are the pipeline's inputs and its upstream steps' outputs
   (``azureml://jobs/JOB/outputs/NAME``), its outputs folders in the pipeline's datastore
   under ``azureml/PIPELINE/STEP/OUTPUT``. A deterministic step whose recipe (component,
   code snapshot hash, environment, input content hashes, parameters) matches a completed
   step's is reused instead: a completed run that points at the original's outputs and
   metrics, tagged ``azureml.reused_from`` (off with ``is_deterministic=False`` or
   ``settings.force_rerun``);
4. when every step has ended the pipeline ends: Completed, its outputs registered (data
   assets or models with ``name``/``version``, with lineage to the pipeline and step), or
   Failed naming the steps that failed.

A pipeline canceled with ``ws.jobs.begin_cancel`` has its running steps canceled by the jobs
service (they are its children); the duty sees it is no longer Running and starts nothing.
What the duty decided is in ``pipeline.json``, so a restarted supervisor goes on from there.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from studio_ext.backends.local.core import parent_jobs, tracking
from studio_ext.backends.local.core.schema import jobs as jobs_table
from studio_ext.backends.local.core.schema import pipeline_step_reuse
from studio_ext.backends.local.core.store import now
from studio_ext.backends.local.pipelines.fingerprint import content_hash, recipe_hash
from studio_ext.backends.local.pipelines.service import (
    JOB_TYPE,
    REUSED_TAG,
    SKIPPED,
    STEP_TAG,
    log_line,
    read_state,
    write_state,
)
from studio_ext.entities import TERMINAL_STATES, CommandJob, Input, JobStatus, Output

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

log = logging.getLogger("studio_ext.supervisor.pipelines")
_TERMINAL = {s.value for s in TERMINAL_STATES}
_ENDED = _TERMINAL | {SKIPPED}


class PipelineDuty:
    """Drives the workspace's running pipelines (see the module docstring)."""

    busy_tick_seconds = 0.05

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend
        self._active = False
        self._summariser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-metrics")
        self._summaries: dict[str, list[Future[None]]] = {}

    def recover(self) -> None:
        """Nothing to do: each pipeline goes on from its pipeline.json on its first tick."""

    def busy(self) -> bool:
        return self._active

    def shutdown(self) -> None:
        """Let the metric summaries under way finish (everything else is in the store)."""
        self._summariser.shutdown(wait=True)

    def tick(self) -> None:
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs_table).where(
                jobs_table.c.type == JOB_TYPE, jobs_table.c.status == JobStatus.RUNNING.value)).all()
        self._active = bool(rows)
        for row in rows:
            try:
                self._step(row)
            except Exception as exc:  # one pipeline failing must not stop the others
                log.exception("pipeline %s failed", row.name)
                self._finish(row, JobStatus.FAILED, f"The pipeline stopped on an internal error: {exc}")

    # -- one pipeline ---------------------------------------------------------------------------
    def _step(self, row: Any) -> None:
        spec = json.loads(row.spec)
        state = read_state(self._b, row.name)
        steps = state["steps"]
        children = self._children(row.name)
        changed = False
        continue_on_failure = bool(spec["settings"].get("continue_on_step_failure"))
        # 1. step runs that ended
        for step_name, info in steps.items():
            child = children.get(info.get("job") or "")
            if child is None or info.get("status") in _ENDED:
                continue
            if child.status != info.get("status"):
                info["status"] = child.status
                changed = True
            if child.status == JobStatus.COMPLETED.value and info.get("fingerprint") and not info.get("reused_from"):
                self._remember(info["fingerprint"], child.name, step_name, spec["steps"][step_name])
            if child.status in (JobStatus.FAILED.value, JobStatus.CANCELED.value):
                info["error"] = (child.error or child.status)[:2000]
                log_line(self._b, row.name, f"Step {step_name} {child.status}: {info['error'][:300]}")
            elif child.status == JobStatus.COMPLETED.value:
                log_line(self._b, row.name, f"Step {step_name} Completed ({child.name}).")
        # 2. failures
        failed = [s for s, i in steps.items() if i.get("status") in (JobStatus.FAILED.value, JobStatus.CANCELED.value)]
        if failed:
            blocked = _downstream(spec, failed)
            for step_name, info in steps.items():
                if info.get("status") in _ENDED or info.get("job"):
                    if not continue_on_failure and info.get("status") not in _ENDED and info.get("job"):
                        self._cancel(info["job"], f"Canceled: step {failed[0]!r} failed and the pipeline stops "
                                                  "(continue_on_step_failure is off).")
                        changed = True
                    continue
                if continue_on_failure and step_name not in blocked:
                    continue
                upstream = sorted(set(_upstream(spec, step_name)) & set(failed)) or failed
                info["status"] = SKIPPED
                info["reason"] = (f"Not run: step {upstream[0]!r} {steps[upstream[0]]['status'].lower()}"
                                  + ("" if continue_on_failure or step_name in blocked else
                                     " and the pipeline stops (continue_on_step_failure is off)") + ".")
                log_line(self._b, row.name, f"Step {step_name} skipped. {info['reason']}")
                changed = True
        # 3. steps ready to start
        for step_name in spec["order"]:
            info = steps[step_name]
            if info.get("status") != JobStatus.NOT_STARTED.value or info.get("job"):
                continue
            after = spec["steps"][step_name]["after"]
            if all(steps[a].get("status") == JobStatus.COMPLETED.value for a in after):
                self._start(row, spec, state, step_name)
                changed = True
        # after the ready steps started (off the critical path): the completed steps' metrics on the pipeline's run
        changed = self._collect_metrics(row, spec, state) or changed
        if changed:
            write_state(self._b, row.name, state)
        # 4. the end
        if all(i.get("status") in _ENDED for i in steps.values()):
            self._conclude(row, spec, state)

    def _start(self, row: Any, spec: dict[str, Any], state: dict[str, Any], step_name: str) -> None:
        plan = spec["steps"][step_name]
        steps = state["steps"]
        info = steps[step_name]
        settings = spec["settings"]
        inputs: dict[str, Any] = {}
        hashes: dict[str, Any] = {}
        for key, bound in plan["inputs"].items():
            value, digest = self._input_value(spec, steps, bound, plan["component"]["inputs"].get(key, {}))
            if value is None:
                continue
            inputs[key] = value
            hashes[key] = digest
        for key, declared in (plan["component"].get("inputs") or {}).items():
            if key not in inputs and declared.get("optional"):
                inputs[key] = Input(type=declared.get("type") or "uri_folder", optional=True)
        datastore = settings["default_datastore"]
        outputs = {key: Output(type=out["type"], mode=out.get("mode") or "rw_mount",
                               path=f"azureml://datastores/{datastore}/paths/azureml/{row.name}/{step_name}/{key}")
                   for key, out in plan["outputs"].items()}
        recipe = {"component": {k: v for k, v in plan["component"].items()
                                if k not in ("name", "version", "display_name", "description", "tags", "code")},
                  "code_hash": plan.get("code_hash") or (content_hash(plan["code"]) if plan.get("code") else ""),
                  "environment": plan.get("environment"), "inputs": hashes,
                  "outputs": {k: o["type"] for k, o in plan["outputs"].items()}}
        fingerprint = recipe_hash(recipe)
        info["fingerprint"] = fingerprint
        reuse = plan.get("is_deterministic", True) and not settings.get("force_rerun")
        original = self._reusable(fingerprint) if reuse else None
        child_name = f"{row.name}_{step_name}"
        if original is not None:
            self._reuse(row, step_name, child_name, original, plan)
            info.update(job=child_name, status=JobStatus.COMPLETED.value, reused_from=original)
            log_line(self._b, row.name, f"Step {step_name} reused: {original} ran it with the same component, code, "
                     "environment, inputs and parameters.")
            return
        job = CommandJob(name=child_name, display_name=step_name, experiment_name=row.experiment_name,
                         command=plan["component"]["command"], code=plan.get("code"),
                         environment=plan.get("environment"), inputs=inputs, outputs=outputs,
                         environment_variables=dict(plan.get("environment_variables") or {}),
                         compute=plan["compute"], tags={STEP_TAG: step_name, "azureml.pipeline": row.name})
        jobs = self._b.service("jobs")
        try:
            jobs.create_or_update(job, parent_job_name=row.name)
        except Exception as exc:  # noqa: BLE001 - the step is refused: it fails, and the pipeline says why
            info.update(status=JobStatus.FAILED.value, error=f"{type(exc).__name__}: {exc}"[:2000])
            log_line(self._b, row.name, f"Step {step_name} could not start: {info['error']}")
            return
        info.update(job=child_name, status=JobStatus.NOT_STARTED.value, started=now())
        log_line(self._b, row.name, f"Step {step_name} started as {child_name} on {plan['compute']!r}.")
        with self._b.store.engine.connect() as conn:
            status = conn.execute(sa.select(jobs_table.c.status).where(jobs_table.c.name == row.name)).scalar()
        if status != JobStatus.RUNNING.value:  # canceled while the step was being submitted
            self._cancel(child_name, "Canceled: the pipeline was canceled.")

    def _input_value(self, spec: dict[str, Any], steps: dict[str, Any], bound: dict[str, Any],
                     declared: dict[str, Any]) -> tuple[Any, Any]:
        """The child's input for a planned binding, and what the reuse recipe keeps of it (a content hash)."""
        if "literal" in bound:
            return bound["literal"], ["value", bound["literal"]]
        if "pipeline_input" in bound:
            given = spec["inputs"].get(bound["pipeline_input"])
            if given is None:
                return None, None
            if isinstance(given, dict):
                bound = {"data": given}
            else:
                return given, ["value", given]
        if "data" in bound:
            data = bound["data"]
            value = Input(type=data["type"], path=data["path"], mode=data.get("mode") or "ro_mount")
            return value, ["data", self._data_hash(data["type"], data["path"])]
        job_name = steps[bound["job"]]["job"]
        ref = f"azureml://jobs/{job_name}/outputs/{bound['output']}"
        value = Input(type=declared.get("type") or bound.get("type") or "uri_folder", path=ref)
        try:
            digest = content_hash(self._output_path(job_name, bound["output"]))
        except Exception:  # noqa: BLE001 - unreadable: never reused
            digest = f"unreadable:{ref}"
        return value, ["data", digest]

    def _output_path(self, job_name: str, output: str) -> Path:
        """Where a step run's output is on this machine, read from its row (no MLflow call)."""
        with self._b.store.engine.connect() as conn:
            spec = conn.execute(sa.select(jobs_table.c.spec).where(jobs_table.c.name == job_name)).scalar()
        record = (json.loads(spec or "{}").get("outputs") or {}).get(output) or {}
        where = str(record.get("where") or self._b.jobs_dir / job_name / "outputs" / output)
        if where.startswith("azureml://datastores/"):
            return Path(self._b.service("data").resolve_input_path(where))
        return Path(where)

    def _data_hash(self, kind: str, path: str) -> str:
        try:
            if path.startswith("azureml:") and not path.startswith("azureml://"):
                where = self._b.service("data").resolve_input_path(path, type=kind)
            elif path.startswith("azureml://datastores/"):
                where = self._b.service("data").resolve_input_path(path)
            elif "://" in path:
                return f"url:{path}"
            else:
                where = path
            return content_hash(where)
        except Exception:  # noqa: BLE001 - the job's own submit says what is wrong with it
            return f"unresolved:{path}"

    # -- reuse ------------------------------------------------------------------------------------
    def _reusable(self, fingerprint: str) -> str | None:
        with self._b.store.engine.connect() as conn:
            row = conn.execute(sa.select(pipeline_step_reuse.c.job_name).where(
                pipeline_step_reuse.c.fingerprint == fingerprint)).first()
            if row is None:
                return None
            status = conn.execute(sa.select(jobs_table.c.status).where(jobs_table.c.name == row.job_name)).scalar()
        if status != JobStatus.COMPLETED.value:
            return None
        return str(row.job_name)

    def _remember(self, fingerprint: str, job_name: str, step: str, plan: dict[str, Any]) -> None:
        component = plan.get("component_id") or plan["component"].get("name") or step
        with self._b.store.engine.begin() as conn:
            conn.execute(pipeline_step_reuse.delete().where(pipeline_step_reuse.c.fingerprint == fingerprint))
            conn.execute(pipeline_step_reuse.insert().values(fingerprint=fingerprint, job_name=job_name, step=step,
                                                             component=str(component), created_at=now()))

    def _reuse(self, row: Any, step_name: str, child_name: str, original: str, plan: dict[str, Any]) -> None:
        """A completed step run standing for ``original``: its outputs are the original's, its metrics copied."""
        client = tracking.client(self._b.tracking_uri)
        with self._b.store.engine.connect() as conn:
            source = conn.execute(sa.select(jobs_table).where(jobs_table.c.name == original)).first()
        assert source is not None  # _reusable found it Completed
        source_spec = json.loads(source.spec)
        outputs = {}
        for key, record in (source_spec.get("outputs") or {}).items():
            kept = dict(record)
            kept["upload"] = None  # already delivered by the original
            kept["name"] = None  # registered (if at all) by the original
            kept["where"] = record.get("where") or str(self._b.jobs_dir / original / "outputs" / key)
            outputs[key] = kept
        spec = {**source_spec, "outputs": outputs, "display_name": step_name, "reused_from": original,
                "tags": {STEP_TAG: step_name, "azureml.pipeline": row.name, REUSED_TAG: original}}
        exp_id = tracking.ensure_experiment(self._b.tracking_uri, self._b.artifacts_uri, row.experiment_name)
        spec["experiment_id"] = exp_id
        run = client.create_run(exp_id, run_name=step_name, tags={
            STEP_TAG: step_name, "azureml.pipeline": row.name, REUSED_TAG: original,
            "studio.job_name": child_name, "studio.compute": plan["compute"], "studio.job_type": "command",
            "mlflow.parentRunId": row.run_id, "mlflow.source.type": "JOB"})
        try:
            from mlflow.entities import Metric, Param

            data = client.get_run(source.run_id).data
            millis = int(now() * 1000)
            client.log_batch(run.info.run_id, metrics=[Metric(k, float(v), millis, 0) for k, v in data.metrics.items()],
                             params=[Param(k, v) for k, v in data.params.items()])
        except Exception:
            log.debug("could not copy the figures of %s", original, exc_info=True)
        client.set_terminated(run.info.run_id, JobStatus.COMPLETED.mlflow_status)
        job_dir = self._b.jobs_dir / child_name
        (job_dir / "user_logs").mkdir(parents=True, exist_ok=True)
        (job_dir / "user_logs" / "std_log.txt").write_text(
            f"Reused: the job {original} ran this step with the same component, code, environment, inputs and "
            f"parameters; its outputs and metrics stand for this run.\n", encoding="utf-8")
        stamp = now()
        with self._b.store.engine.begin() as conn:
            conn.execute(jobs_table.insert().values(
                name=child_name, run_id=run.info.run_id, experiment_name=row.experiment_name, type="command",
                status=JobStatus.COMPLETED.value, compute=plan["compute"], parent_job_name=row.name,
                created_at=stamp, start_time=stamp, end_time=stamp, exit_code=0, finalized_at=stamp,
                spec=json.dumps(spec, default=str)))

    # -- cancel and end ------------------------------------------------------------------------------
    def _cancel(self, job_name: str, reason: str) -> None:
        jobs = self._b.service("jobs")
        try:
            jobs.begin_cancel(job_name)
        except Exception:
            log.debug("step %s had already ended", job_name, exc_info=True)
            return
        with self._b.store.engine.begin() as conn:
            conn.execute(jobs_table.update().where(jobs_table.c.name == job_name,
                                                   jobs_table.c.status == JobStatus.CANCELED.value).values(error=reason))

    def _conclude(self, row: Any, spec: dict[str, Any], state: dict[str, Any]) -> None:
        steps = state["steps"]
        failed = [s for s in spec["order"] if steps[s].get("status") in (JobStatus.FAILED.value,
                                                                          JobStatus.CANCELED.value)]
        self._summaries_done(row.name)
        if failed:
            first = steps[failed[0]]
            skipped = [s for s in spec["order"] if steps[s].get("status") == SKIPPED]
            why = (f"Step {failed[0]!r} {first['status'].lower()}: {_shortened(first.get('error') or '')}"
                   + (f" (also failed: {', '.join(failed[1:])})" if failed[1:] else "")
                   + (f". Skipped: {', '.join(skipped)}." if skipped else ""))
            self._finish(row, JobStatus.FAILED, why)
            return
        try:
            lines = self._deliver_outputs(row, spec, state)
        except Exception as exc:  # noqa: BLE001 - a registration that fails fails the pipeline, saying why
            self._finish(row, JobStatus.FAILED, f"The steps completed but registering the pipeline's outputs "
                                                f"failed: {exc}")
            return
        for line in lines:
            log_line(self._b, row.name, line)
        self._finish(row, JobStatus.COMPLETED, None)

    def _collect_metrics(self, row: Any, spec: dict[str, Any], state: dict[str, Any]) -> bool:
        """Each completed step's metrics, summarised on the pipeline's own run as ``STEP/METRIC`` (latest value).

        The step runs keep theirs (``ws.jobs.list(parent_job_name=...)``); the copy lets the pipeline's
        record and the Jobs page show them under the parent, as Azure ML studio does. Once per step.
        """
        todo = [s for s in spec["order"] if state["steps"][s].get("status") == JobStatus.COMPLETED.value
                and state["steps"][s].get("job") and not state["steps"][s].get("metrics_on_parent")]
        if not todo:
            return False
        # In a thread of its own (MLflow reads and a write per step): the loop goes on noticing steps that end.
        pending = self._summaries.setdefault(row.name, [])
        for step_name in todo:
            info = state["steps"][step_name]
            pending.append(self._summariser.submit(self._summarise, row.run_id, step_name, info["job"]))
            info["metrics_on_parent"] = True
        return True

    def _summarise(self, parent_run_id: str, step_name: str, job_name: str) -> None:
        from mlflow.entities import Metric

        try:
            with self._b.store.engine.connect() as conn:
                run_id = conn.execute(sa.select(jobs_table.c.run_id).where(jobs_table.c.name == job_name)).scalar()
            client = tracking.client(self._b.tracking_uri)
            metrics = client.get_run(run_id).data.metrics if run_id else {}
            if metrics:
                millis = int(now() * 1000)
                client.log_batch(parent_run_id, metrics=[Metric(f"{step_name}/{k}", float(v), millis, 0)
                                                         for k, v in sorted(metrics.items())])
        except Exception:  # a summary only: the step's run has the figures
            log.debug("could not summarise the metrics of step %s", step_name, exc_info=True)

    def _summaries_done(self, name: str) -> None:
        """Wait for the pipeline's metric summaries before it is said to have ended."""
        for future in self._summaries.pop(name, []):
            try:
                future.result(timeout=30)
            except Exception:  # logged by _summarise; never blocks the end
                log.debug("a metric summary of %s did not finish", name, exc_info=True)

    def _deliver_outputs(self, row: Any, spec: dict[str, Any], state: dict[str, Any]) -> list[str]:
        lines: list[str] = []
        records = state.setdefault("outputs", {})
        for key, out in spec["outputs"].items():
            if not out.get("bound") or key in records and records[key].get("registered"):
                continue
            step_name, step_output = out["bound"]
            job_name = state["steps"][step_name].get("job")
            if not job_name:
                continue
            from studio_ext.backends.local.jobs.job_io import job_output_path

            ref = f"azureml://jobs/{job_name}/outputs/{step_output}"
            try:
                path = job_output_path(self._b, ref)
            except Exception:  # noqa: BLE001 - an output the step never wrote
                path = None
            record = {"path": str(path) if path else None, "job": job_name, "step": step_name, "uri": ref}
            records[key] = record
            if out.get("name") and path is not None:
                lines.append(self._register(row, key, out, record, Path(path)))
                record["registered"] = lines[-1]
            write_state(self._b, row.name, state)
        return lines

    def _register(self, row: Any, key: str, out: dict[str, Any], record: dict[str, Any], path: Path) -> str:
        lineage = {"azureml.pipeline_job": row.name, "azureml.pipeline_step": record["step"],
                   "azureml.job_name": record["job"], "azureml.output_name": key}
        description = out.get("description") or f"Output {key!r} of pipeline {row.name} (step {record['step']})."
        if out["type"] in ("mlflow_model", "custom_model"):
            from studio_ext.entities import Model

            with self._b.store.engine.connect() as conn:
                run_id = conn.execute(sa.select(jobs_table.c.run_id).where(
                    jobs_table.c.name == record["job"])).scalar()
            model = self._b.service("models").create_or_update(Model(
                name=out["name"], version=out.get("version"), type=out["type"], description=description,
                path=str(path), tags={"Training context": "Pipeline"},
                properties={**lineage, "azureml.run_id": str(run_id)}))
            return f"Registered pipeline output {key!r} as model azureml:{model.name}:{model.version}."
        from studio_ext.entities._data import Data, DataType

        data_type = DataType.TABULAR if out["type"] == "mltable" else DataType.parse(out["type"])
        data = self._b.service("data").create_or_update(Data(
            name=out["name"], version=out.get("version"), type=data_type, path=str(path), description=description,
            tags={k: str(v) for k, v in lineage.items()}))
        return f"Registered pipeline output {key!r} as data asset azureml:{data.name}:{data.version}."

    def _finish(self, row: Any, status: JobStatus, error: str | None) -> None:
        parent_jobs.finish(self._b, row, status, error, "Pipeline")

    def _children(self, name: str) -> dict[str, Any]:
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs_table).where(jobs_table.c.parent_job_name == name)).all()
        return {r.name: r for r in rows}


def _upstream(spec: dict[str, Any], step: str) -> list[str]:
    seen: list[str] = []
    pending = list(spec["steps"][step]["after"])
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.append(name)
            pending.extend(spec["steps"][name]["after"])
    return seen


def _downstream(spec: dict[str, Any], failed: list[str]) -> set[str]:
    return {s for s in spec["steps"] if set(_upstream(spec, s)) & set(failed)}


def _shortened(error: str, limit: int = 500) -> str:
    """A step's error cut to ``limit`` characters, keeping its first line and its end.

    A step's error is "The script exited with code N." and its log's tail: the reason is the
    log's last lines (a script's final message), so a cut from the start alone lost it.
    """
    error = error.strip()
    if len(error) <= limit:
        return error
    head = error.splitlines()[0][:limit // 4]
    return f"{head} ... {error[-(limit - len(head) - 5):]}"
