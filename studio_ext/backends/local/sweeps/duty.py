"""The supervisor's sweep duty: runs every active sweep's loop, so a sweep outlives the kernel.

Each tick, for each sweep (a jobs row of type ``sweep`` in state Running):

1. trials that ended are told to the sampler; the first one to complete without the
   primary metric makes the sweep say so in its log (not at the end);
2. the early termination policy looks at the primary metric's history of every trial (as
   the trials log it with plain MLflow) at each evaluation interval, and a trial it stops
   is canceled, its error naming the policy and the figures; ``trial_timeout`` cancels a
   trial that runs too long;
3. new trials are submitted as child command jobs of the sweep (``${{search_space.X}}``
   put in shell-quoted) up to ``max_concurrent_trials`` at once and ``max_total_trials``
   in all;
4. ``timeout`` cancels the trials still running and ends the sweep Completed with what it
   has; when every trial has ended the sweep ends Completed with its best trial, or Failed
   (saying why) when no trial completed.

A sweep canceled with ``ws.jobs.begin_cancel`` has its trials canceled by the jobs service
(they are its children); the duty lets it go. What the duty decided is in ``sweep.json``
(see :mod:`.service`), so a restarted supervisor rebuilds the sampler from it and goes on.
"""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from studio_ext.backends.local.core import parent_jobs, tracking
from studio_ext.backends.local.core.schema import jobs as jobs_table
from studio_ext.backends.local.core.store import now
from studio_ext.backends.local.sweeps.service import (
    BEST_CHILD_TAG,
    JOB_TYPE,
    log_line,
    read_state,
    trial_inputs,
    write_state,
)
from studio_ext.entities import TERMINAL_STATES, JobStatus
from studio_ext.entities._sweep import distribution_from_dict, policy_from_dict, sampling_from

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

log = logging.getLogger("studio_ext.supervisor.sweeps")
_TERMINAL = {s.value for s in TERMINAL_STATES}


class SweepDuty:
    """Drives the workspace's running sweeps (see the module docstring)."""

    busy_tick_seconds = 0.25

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend
        self._samplers: dict[str, Any] = {}
        self._histories: dict[str, list[float]] = {}  # finished trials' metric histories (they no longer change)
        self._active = False

    def recover(self) -> None:
        """Nothing to do: each sweep's sampler is rebuilt from its recorded trials on its first tick."""

    def busy(self) -> bool:
        return self._active

    def shutdown(self) -> None:
        self._samplers.clear()

    def tick(self) -> None:
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs_table).where(
                jobs_table.c.type == JOB_TYPE, jobs_table.c.status == JobStatus.RUNNING.value)).all()
        self._active = bool(rows)
        for name in set(self._samplers) - {r.name for r in rows}:
            self._samplers.pop(name, None)
        for row in rows:
            try:
                self._step(row)
            except Exception as exc:  # one sweep failing must not stop the others
                log.exception("sweep %s failed", row.name)
                self._finish(row, JobStatus.FAILED, f"The sweep stopped on an internal error: {exc}")

    # -- one sweep ---------------------------------------------------------------------------
    def _step(self, row: Any) -> None:
        spec = json.loads(row.spec)
        state = read_state(self._b, row.name)
        sampler = self._sampler(row.name, spec, state)
        objective = spec["objective"]
        metric, goal = objective["primary_metric"], objective["goal"]
        children = self._children(row.name)
        changed = False
        client = tracking.client(self._b.tracking_uri)
        # 1. trials that ended
        for index, trial in enumerate(state["trials"]):
            child = children.get(trial["name"])
            if child is None or trial.get("status") in _TERMINAL:
                continue
            trial["status"] = child.status
            if child.status in _TERMINAL:
                history = self._history(client, child.run_id, metric)
                self._histories[trial["name"]] = history
                trial["value"] = history[-1] if history else None
                trial["intervals"] = len(history)
                trial["duration"] = (child.end_time or now()) - (child.start_time or child.created_at)
                if child.status == JobStatus.COMPLETED.value and not history and not state.get("metric_missing"):
                    state["metric_missing"] = True
                    note = (f"Trial {trial['name']} completed without logging the primary metric {metric!r}: the "
                            f"sweep cannot rank trials it never sees. Log it in the script with "
                            f"mlflow.log_metric({metric!r}, value).")
                    state["notes"].append(note)
                    log_line(self._b, row.name, note)
                if child.status == JobStatus.FAILED.value:
                    trial["error"] = (child.error or "")[:2000]
                sampler.tell(index, trial["value"], _state(child.status))
                log_line(self._b, row.name, f"Trial {trial['name']} {child.status}: {metric} = {trial['value']}"
                         f" {json.dumps(trial['params'])}")
            changed = True
        # 2. early termination and trial_timeout
        running = [t for t in state["trials"] if t.get("status") not in _TERMINAL and t["name"] in children
                   and children[t["name"]].status == JobStatus.RUNNING.value]
        policy = policy_from_dict(spec.get("early_termination"))
        if running and policy is not None:
            changed |= self._terminate(row, client, state, running, children, policy, metric, goal)
        trial_timeout = spec["limits"].get("trial_timeout")
        for trial in running:
            child = children[trial["name"]]
            if trial.get("status") in _TERMINAL or not trial_timeout or not child.start_time:
                continue
            if now() - child.start_time > trial_timeout:
                self._cancel(trial, f"The trial ran past the sweep's trial_timeout of {trial_timeout} s.")
                changed = True
        # 3. the sweep's timeout
        limits = spec["limits"]
        timed_out = bool(limits.get("timeout")) and now() - (row.start_time or row.created_at) > limits["timeout"]
        if timed_out and not state.get("timed_out"):
            state["timed_out"] = True
            note = f"The sweep reached its timeout of {limits['timeout']} s: trials still running are canceled."
            state["notes"].append(note)
            log_line(self._b, row.name, note)
            for trial in state["trials"]:
                if trial.get("status") not in _TERMINAL:
                    self._cancel(trial, f"Canceled at the sweep's timeout ({limits['timeout']} s).")
            changed = True
        # 4. new trials
        active = sum(1 for t in state["trials"] if t.get("status") not in _TERMINAL)
        exhausted = state.get("exhausted", False)
        while (not state.get("timed_out") and not exhausted and active < limits["max_concurrent_trials"]
               and len(state["trials"]) < limits["max_total_trials"]):
            params = sampler.suggest()
            if params is None:
                exhausted = state["exhausted"] = True
                break
            state["trials"].append(self._submit(row, spec, len(state["trials"]), params))
            active += 1
            changed = True
        if changed:
            write_state(self._b, row.name, state)
        # 5. the end
        if active == 0 and (exhausted or state.get("timed_out") or len(state["trials"]) >= limits["max_total_trials"]):
            self._conclude(row, spec, state)

    def _sampler(self, name: str, spec: dict[str, Any], state: dict[str, Any]) -> Any:
        sampler = self._samplers.get(name)
        if sampler is not None:
            return sampler
        from studio_ext.ml.sweep import samplers

        algorithm_spec = dict(spec["sampling_algorithm"])
        algorithm = sampling_from(algorithm_spec.pop("type", "random"))
        for key, value in algorithm_spec.items():
            setattr(algorithm, key, value)
        space = {k: distribution_from_dict(v) for k, v in spec["search_space"].items()}
        sampler = samplers.make(algorithm, space, seed=int(spec["seed"]), goal=spec["objective"]["goal"])
        history = [(t["params"], t.get("value"), _state(t["status"]) if t.get("status") in _TERMINAL else None)
                   for t in state["trials"]]
        sampler.restore(history)
        self._samplers[name] = sampler
        return sampler

    def _submit(self, row: Any, spec: dict[str, Any], index: int, params: dict[str, Any]) -> dict[str, Any]:
        from studio_ext.translation import command_job

        command, inputs = trial_inputs(spec, params)
        mapping = {**spec["trial"], "type": "command", "command": command, "inputs": inputs}
        child = command_job.from_v2(mapping).entity
        child.name = f"{row.name}_{index}"
        child.display_name = f"{row.name}_{index}"
        child.compute = spec["compute_target"]
        child.experiment_name = row.experiment_name
        child.tags = {"sweep": row.name, "hyperparameters": json.dumps(params)}
        jobs = self._b.service("jobs")
        trial = {"name": child.name, "index": index, "params": params, "status": JobStatus.NOT_STARTED.value,
                 "submitted": now()}
        try:
            jobs.create_or_update(child, parent_job_name=row.name)
        except Exception as exc:  # noqa: BLE001 - the trial is refused: counted as failed, the sweep goes on
            trial["status"] = JobStatus.FAILED.value
            trial["error"] = f"{type(exc).__name__}: {exc}"
            log_line(self._b, row.name, f"Trial {child.name} could not be submitted: {trial['error']}")
            self._samplers[row.name].tell(index, None, "Failed")
            return trial
        try:
            client = tracking.client(self._b.tracking_uri)
            run_id = jobs.get(child.name).run_id
            from mlflow.entities import Param

            client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        except Exception:
            log.debug("could not log the hyperparameters of %s", child.name, exc_info=True)
        log_line(self._b, row.name, f"Trial {child.name} submitted: {json.dumps(params)}")
        return trial

    def _terminate(self, row: Any, client: Any, state: dict[str, Any], running: list[dict[str, Any]],
                   children: dict[str, Any], policy: Any, metric: str, goal: str) -> bool:
        from studio_ext.ml.sweep import policies

        table: dict[str, list[float]] = {}
        for trial in state["trials"]:
            name, child = trial["name"], children.get(trial["name"])
            if name in self._histories or child is None:
                table[name] = self._histories.get(name, [])
                continue
            table[name] = self._history(client, child.run_id, metric)
            if trial.get("status") in _TERMINAL:
                self._histories[name] = table[name]
        changed = False
        for trial in running:
            own = table.get(trial["name"], [])
            start = int(trial.get("checked", 0)) + 1
            for interval in range(start, len(own) + 1):
                stop = policies.check(policy, goal, table, trial["name"], interval)
                trial["checked"] = interval
                changed = True
                if stop is not None:
                    trial["stopped"] = {"policy": stop.policy, "interval": stop.interval, "value": stop.value,
                                        "threshold": stop.threshold, "figures": stop.figures}
                    self._cancel(trial, f"Stopped by the early termination policy. {stop.reason}")
                    log_line(self._b, row.name, f"Trial {trial['name']} stopped: {stop.reason}")
                    break
        return changed

    def _cancel(self, trial: dict[str, Any], reason: str) -> None:
        jobs = self._b.service("jobs")
        try:
            jobs.begin_cancel(trial["name"])
        except Exception:
            log.debug("trial %s had already ended", trial["name"], exc_info=True)
            return
        with self._b.store.engine.begin() as conn:
            conn.execute(jobs_table.update().where(jobs_table.c.name == trial["name"],
                                                   jobs_table.c.status == JobStatus.CANCELED.value)
                         .values(error=reason))
        trial["cancel_reason"] = reason

    def _conclude(self, row: Any, spec: dict[str, Any], state: dict[str, Any]) -> None:
        metric, goal = spec["objective"]["primary_metric"], spec["objective"]["goal"]
        done = [t for t in state["trials"] if t.get("status") == JobStatus.COMPLETED.value
                and isinstance(t.get("value"), (int, float)) and math.isfinite(t["value"])]
        completed = [t for t in state["trials"] if t.get("status") == JobStatus.COMPLETED.value]
        if done:
            best = (max if goal == "maximize" else min)(done, key=lambda t: t["value"])
            state["best"] = {"name": best["name"], "params": best["params"], "value": best["value"]}
            write_state(self._b, row.name, state)
            client = tracking.client(self._b.tracking_uri)
            client.log_metric(row.run_id, metric, float(best["value"]))
            client.set_tag(row.run_id, BEST_CHILD_TAG, best["name"])
            client.set_tag(row.run_id, "best_hyperparameters", json.dumps(best["params"]))
            log_line(self._b, row.name, f"Best trial {best['name']}: {metric} = {best['value']} "
                     f"{json.dumps(best['params'])}")
            self._finish(row, JobStatus.COMPLETED, None)
        elif completed:
            why = (f"No trial logged the primary metric {metric!r} ({len(completed)} completed without it), so "
                   "there is no best trial. Log it in the script with mlflow.log_metric.")
            self._finish(row, JobStatus.COMPLETED if state.get("timed_out") else JobStatus.FAILED, why)
        elif state.get("timed_out"):
            self._finish(row, JobStatus.COMPLETED, "The sweep reached its timeout before any trial completed.")
        else:
            errors = [f"{t['name']}: {(t.get('error') or t.get('cancel_reason') or t.get('status'))}".strip()[:300]
                      for t in state["trials"]]
            why = f"Every trial of the sweep failed ({len(errors)}). " + " | ".join(errors[:3])
            self._finish(row, JobStatus.FAILED, why)

    def _finish(self, row: Any, status: JobStatus, error: str | None) -> None:
        parent_jobs.finish(self._b, row, status, error, "Sweep")
        self._samplers.pop(row.name, None)

    # -- reads ------------------------------------------------------------------------------
    def _children(self, name: str) -> dict[str, Any]:
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs_table).where(jobs_table.c.parent_job_name == name)).all()
        return {r.name: r for r in rows}

    @staticmethod
    def _history(client: Any, run_id: str, metric: str) -> list[float]:
        points = client.get_metric_history(run_id, metric)
        points = sorted(points, key=lambda m: (m.step, m.timestamp))
        return [float(m.value) for m in points]


def _state(status: str) -> str:
    return {"Completed": "Completed", "Canceled": "Canceled"}.get(status, "Failed")

