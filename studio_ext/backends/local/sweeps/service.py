"""``ws.jobs.create_or_update(sweep_job)`` on the local backend: check a sweep, record it, read it back.

A sweep is a row of type ``sweep`` in the jobs table, with no process of its own: the
supervisor's :class:`~.duty.SweepDuty` drives it (samples points, submits each trial as a
child command job on the sweep's compute, applies the early termination policy to the
metrics the trials log with MLflow, and ends it), so it outlives the kernel. Its row's
``compute`` column holds ``sweep:COMPUTE`` so that no job runner or compute scheduler takes
it for a process to start; what the sweep has decided (its trials, their hyperparameters,
stops, notes, the best trial) is in ``sweep.json`` in its job folder, written by the duty.

Everything is checked before anything is written: the search space against the command
(every space is used as ``${{search_space.NAME}}``, every ``${{search_space.NAME}}`` has a
space), the sampler's limits (grid: Choice only; Bayesian: choice/uniform/quniform and no
policy), the policy, the limits, the compute, the code folder and the environment.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio_ext._studio_link import studio_url
from studio_ext._validation import check_name
from studio_ext.backends.local.core import parent_jobs, tracking
from studio_ext.backends.local.core.schema import jobs as jobs_table
from studio_ext.backends.local.core.store import now, to_datetime
from studio_ext.backends.local.jobs.command_line import PLACEHOLDER
from studio_ext.entities import AmlCompute, CommandJob, Input, JobStatus
from studio_ext.entities._sweep import (
    GridSamplingAlgorithm,
    SweepJob,
    distribution_from_dict,
    policy_from_dict,
    sampling_from,
)
from studio_ext.errors import InvalidInput, NotFound
from studio_ext.services import SweepOperations

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

JOB_TYPE = "sweep"
COMPUTE_PREFIX = "sweep:"
STATE_FILE = "sweep.json"
BEST_CHILD_TAG = "best_child_run_id"
OPTIONAL_SEGMENT = re.compile(r"\$\[\[(.*?)\]\]", re.S)


def state_path(backend: LocalBackend, name: str) -> Path:
    return parent_jobs.state_path(backend, name, STATE_FILE)


def read_state(backend: LocalBackend, name: str) -> dict[str, Any]:
    return parent_jobs.read_state(backend, name, STATE_FILE, {"trials": [], "notes": []})


def write_state(backend: LocalBackend, name: str, state: dict[str, Any]) -> None:
    parent_jobs.write_state(backend, name, STATE_FILE, state)


log_line = parent_jobs.log_line


class LocalSweeps(SweepOperations):
    """Sweep jobs on the local backend (reached through ``ws.jobs``)."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    # -- submit ----------------------------------------------------------------------------
    def create_or_update(self, job: SweepJob, *, parent_job_name: str | None = None) -> SweepJob:
        """Check the sweep and record it; the supervisor runs its trials. Nothing is written on bad input."""
        from studio_ext.translation import command_job

        name = parent_jobs.new_job_name(self._b, job.name, "sweep", parent_job_name)
        trial, algorithm, space, goal, max_total, concurrent, compute, notes = self._checked(job)
        objective, limits = job.objective, job.limits
        assert objective is not None  # _checked refused a sweep without one
        experiment = check_name(job.experiment_name or trial.experiment_name or "Default", "experiment name")
        seed = (getattr(algorithm, "seed", None) if getattr(algorithm, "seed", None) is not None
                else secrets.randbelow(2**31))
        trial_spec = command_job.to_v2(CommandJob(
            command=trial.command, code=str(Path(trial.code).resolve()) if trial.code else None,
            environment=trial.environment, environment_variables=dict(trial.environment_variables),
            inputs={**trial.inputs, **job.inputs}, outputs={**trial.outputs, **job.outputs}))
        spec = {
            "display_name": job.display_name or name, "description": job.description, "tags": dict(job.tags),
            "trial": trial_spec, "compute_target": compute,
            "search_space": {k: v.to_dict() for k, v in space.items()},
            "sampling_algorithm": {k: v for k, v in vars(algorithm).items()}, "seed": seed,
            "objective": {"goal": goal, "primary_metric": objective.primary_metric},
            "limits": {"max_total_trials": max_total, "max_concurrent_trials": concurrent,
                       "timeout": limits.timeout, "trial_timeout": limits.trial_timeout},
            "early_termination": vars(job.early_termination) if job.early_termination else None,
        }
        exp_id = tracking.ensure_experiment(self._b.tracking_uri, self._b.artifacts_uri, experiment)
        spec["experiment_id"] = exp_id
        client = tracking.client(self._b.tracking_uri)
        run = client.create_run(exp_id, run_name=job.display_name or name, tags={
            **{str(k): str(v) for k, v in job.tags.items()}, "studio.job_name": name, "studio.job_type": JOB_TYPE,
            "studio.compute": compute, "mlflow.source.type": "JOB"})
        job_dir = self._b.jobs_dir / name
        try:
            (job_dir / "user_logs").mkdir(parents=True)
            write_state(self._b, name, {"trials": [], "notes": notes, "given": 0})
            for text in [f"Sweep {name}: {algorithm.type} sampling over {', '.join(space)}; up to {max_total} "
                         f"trials, {concurrent} at a time, on {compute!r}; objective: {goal} "
                         f"{objective.primary_metric}."] + notes:
                log_line(self._b, name, text)
            with self._b.store.engine.begin() as conn:
                conn.execute(jobs_table.insert().values(
                    name=name, run_id=run.info.run_id, experiment_name=experiment, type=JOB_TYPE,
                    status=JobStatus.RUNNING.value, compute=COMPUTE_PREFIX + compute, parent_job_name=None,
                    created_at=now(), start_time=now(), spec=json.dumps(spec)))
        except BaseException:
            client.delete_run(run.info.run_id)
            import shutil

            shutil.rmtree(job_dir, ignore_errors=True)
            raise
        self._b.ensure_supervisor()
        return self.get(name)

    def check(self, job: SweepJob) -> None:
        """Every check ``create_or_update`` makes, writing nothing (a schedule's job is checked when it is created)."""
        self._checked(job)

    def _checked(self, job: SweepJob) -> tuple[CommandJob, Any, dict[str, Any], str, int, int, str, list[str]]:
        """The sweep checked: (trial, sampling, space, goal, max total, max concurrent, compute, notes)."""
        from studio_ext.ml.sweep import policies, samplers

        trial = job.trial
        if not isinstance(trial, CommandJob):
            raise InvalidInput("The sweep job has no trial command job. Build it as command_job(x=Choice([...]))"
                               ".sweep(...) or from v2 YAML with a 'trial:'.")
        objective = job.objective
        if objective is None or not objective.primary_metric:
            raise InvalidInput("The sweep has no objective: give primary_metric='...' (a metric the trial logs with "
                               "MLflow) and goal='Maximize' or 'Minimize' to .sweep(...).")
        goal = objective.goal.lower()
        if goal not in ("maximize", "minimize"):
            raise InvalidInput(f"The sweep's goal must be 'Maximize' or 'Minimize'. Got {objective.goal!r} instead.")
        algorithm = sampling_from(job.sampling_algorithm)
        space = dict(job.search_space)
        samplers.check(algorithm, space, job.early_termination)
        policies.validate(job.early_termination)
        self._check_command(trial.command, space)
        limits = job.limits
        grid_size = samplers.make(algorithm, space, seed=0).size() if isinstance(algorithm, GridSamplingAlgorithm) \
            else None
        max_total = limits.max_total_trials or grid_size
        if not max_total or max_total < 1:
            raise InvalidInput("The sweep needs limits: call .set_limits(max_total_trials=N) (how many trials to run "
                               "in all; a grid sweep runs every combination when it is left out).")
        concurrent = limits.max_concurrent_trials or max_total
        if concurrent < 1:
            raise InvalidInput(f"max_concurrent_trials must be at least 1. Got {limits.max_concurrent_trials!r}.")
        for key in ("timeout", "trial_timeout"):
            value = getattr(limits, key)
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                raise InvalidInput(f"The sweep's {key} is in seconds and must be above 0. Got {value!r}.")
        compute = job.compute or trial.compute or "local"
        notes = self._check_compute(compute, concurrent)
        jobs = self._b.service("jobs")
        jobs._check_code(trial.code)  # the trials' checks, before anything is written
        self._b.service("environments").resolve(trial.environment)
        return trial, algorithm, space, goal, max_total, concurrent, compute, notes

    @staticmethod
    def _check_command(command: str, space: dict[str, Any]) -> None:
        from studio_ext.ml.sweep import space as spaces

        used = {m.group(2) for m in PLACEHOLDER.finditer(command or "") if m.group(1) == "search_space"}
        names = spaces.names(space)
        missing = sorted(used - names)
        if missing:
            raise InvalidInput(
                f"The trial's command uses ${{{{search_space.{missing[0]}}}}}, but the sweep has no search space "
                f"{missing[0]!r}. Its search spaces: {', '.join(sorted(names))}.")
        unused = sorted(names - used)
        if unused:
            raise InvalidInput(
                f"The search space {unused[0]!r} is not used by the trial's command, so every trial would run the "
                f"same. Pass it to the script, as in --{unused[0]} ${{{{search_space.{unused[0]}}}}} (or "
                f"${{{{inputs.{unused[0]}}}}} in the command before .sweep()).")

    def _check_compute(self, compute: str, concurrent: int) -> list[str]:
        self._b.service("jobs")._check_compute(compute)
        if compute == "local":
            return []
        target = self._b.service("compute").get(compute)
        if isinstance(target, AmlCompute) and concurrent > target.max_instances:
            return [f"max_concurrent_trials is {concurrent} but the cluster {compute!r} has at most "
                    f"{target.max_instances} nodes: trials beyond that queue for a free node."]
        return []

    # -- read --------------------------------------------------------------------------------
    def get(self, name: str) -> SweepJob:
        """The sweep with its status, limits, trials and best trial (``best_child_run_id``)."""
        from studio_ext.translation import command_job

        with self._b.store.engine.connect() as conn:
            row = conn.execute(jobs_table.select().where(jobs_table.c.name == name)).first()
        if row is None or row.type != JOB_TYPE:
            raise NotFound(f"There is no sweep job named {name!r}. List jobs with ws.jobs.list().")
        spec = json.loads(row.spec)
        state = read_state(self._b, name)
        run = None
        try:
            run = tracking.client(self._b.tracking_uri).get_run(row.run_id)
        except Exception:  # noqa: BLE001 - a run deleted under us: the row still answers
            run = None
        trial = command_job.from_v2(spec["trial"]).entity
        policy = spec.get("early_termination")
        algorithm = dict(spec["sampling_algorithm"])
        sampling = sampling_from(algorithm.pop("type", "random"))
        for key, value in algorithm.items():
            setattr(sampling, key, value)
        best = state.get("best") or {}
        limits = spec["limits"]
        from studio_ext.entities._sweep import Objective, SweepJobLimits

        job = SweepJob(
            name=row.name, display_name=spec.get("display_name"), experiment_name=row.experiment_name,
            description=spec.get("description"), tags=dict(spec.get("tags") or {}), compute=spec["compute_target"],
            status=JobStatus(row.status), run_id=row.run_id, creation_time=to_datetime(row.created_at),
            start_time=to_datetime(row.start_time), end_time=to_datetime(row.end_time), error=row.error,
            metrics=dict(run.data.metrics) if run else {}, params=dict(run.data.params) if run else {},
            children=[t["name"] for t in state.get("trials", [])], trial=trial,
            inputs=dict(trial.inputs), outputs=dict(trial.outputs),
            search_space={k: distribution_from_dict(v) for k, v in spec["search_space"].items()},
            sampling_algorithm=sampling, objective=Objective(**spec["objective"]),
            limits=SweepJobLimits(**limits), early_termination=policy_from_dict(policy),
            best_child_run_id=best.get("name"), best_hyperparameters=dict(best.get("params") or {}),
            best_metric=best.get("value"), trial_count=len(state.get("trials", [])),
            notes=list(state.get("notes", [])), studio_url=studio_url(self._b.path, row.name),
        )
        job.properties = {"sweep_trials": json.dumps(state.get("trials", []))}
        return job

    def trials(self, name: str) -> list[dict[str, Any]]:
        """The sweep's trials as the duty recorded them: name, hyperparameters, status, metric, stop reason."""
        self.get(name)
        return list(read_state(self._b, name).get("trials", []))

    def metric_table(self, name: str) -> dict[str, list[float]]:
        """Each trial's primary metric as it logged it, in order (one value per interval)."""
        self.get(name)
        spec = self._spec(name)
        metric, _ = _primary(spec)
        client = tracking.client(self._b.tracking_uri)
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(jobs_table.select().where(jobs_table.c.parent_job_name == name)).all()
        table: dict[str, list[float]] = {}
        for row in rows:
            points = sorted(client.get_metric_history(row.run_id, metric), key=lambda m: (m.step, m.timestamp))
            table[row.name] = [float(m.value) for m in points]
        return table

    def replay(self, name: str, policy: Any) -> dict[str, Any]:
        """What ``policy`` would have done to this sweep's recorded metrics: the trials it stops (and when),
        the intervals it saves out of all, and whether it would have stopped the sweep's best trial."""
        from studio_ext.ml.sweep import policies

        job = self.get(name)
        table = self.metric_table(name)
        stops = policies.replay(policy, job.objective.goal if job.objective else "maximize", table)
        saved, total = policies.saved(table, stops)
        return {"stops": {t: {"interval": s.interval, "reason": s.reason, "value": s.value,
                              "threshold": s.threshold} for t, s in stops.items()},
                "saved_intervals": saved, "total_intervals": total,
                "saved_share": saved / total if total else 0.0,
                "stops_best": job.best_child_run_id in stops}

    def importance(self, name: str) -> dict[str, float]:
        """Hyperparameter importance (Optuna's fANOVA) over the completed trials; {} with fewer than two."""
        from studio_ext.ml.sweep.importance import importance

        job = self.get(name)
        pairs = [(t["params"], t["value"]) for t in self.trials(name)
                 if t.get("status") == JobStatus.COMPLETED.value and t.get("value") is not None]
        return importance(pairs, job.objective.goal if job.objective else "maximize")

    def _spec(self, name: str) -> dict[str, Any]:
        with self._b.store.engine.connect() as conn:
            row = conn.execute(jobs_table.select().where(jobs_table.c.name == name)).first()
        return dict(json.loads(row.spec)) if row is not None else {}


def trial_inputs(spec: dict[str, Any], params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A trial's command and inputs. Its hyperparameters are its literal inputs (over the trial's own of the same
    name), and the command is stored and shown with every ``${{search_space.X}}`` and literal ``${{inputs.X}}`` put
    in, quoted for the shell where it stands (as the jobs service quotes every value): ``--lr 0.01``, ``--msg
    'a b'``. Data inputs and outputs stay ``${{inputs.X}}``/``${{outputs.X}}``: the jobs service resolves them to the
    trial's own paths (its ``command_line``)."""
    trial = spec["trial"]
    inputs = {k: v for k, v in (trial.get("inputs") or {}).items()}
    for key, value in params.items():
        inputs[key] = value if isinstance(value, (str, int, float, bool)) else json.dumps(value)

    def swap(match: Any) -> str:
        return "${{inputs." + match.group(2) + "}}" if match.group(1) == "search_space" else match.group(0)

    command = PLACEHOLDER.sub(swap, trial["command"])
    literals = {k: str(v) for k, v in inputs.items() if isinstance(v, (str, int, float, bool))}
    return _put_in(command, literals), inputs


def _put_in(command: str, literals: dict[str, str]) -> str:
    """``command`` with each ``${{inputs.X}}`` of ``literals`` put in (quoted by :func:`command_line.render`); every
    other placeholder, and an optional ``$[[...]]`` segment holding one, is kept as written."""
    from studio_ext.backends.local.jobs import command_line

    kept: list[str] = []

    def hold(text: str) -> str:
        kept.append(text)
        return f"STUDIOEXTKEPT{len(kept) - 1}X"

    def segment(match: Any) -> str:
        inner = match.group(1)
        known = all(m.group(1) == "inputs" and m.group(2) in literals for m in PLACEHOLDER.finditer(inner))
        return match.group(0) if known else hold(match.group(0))

    def placeholder(match: Any) -> str:
        return match.group(0) if match.group(1) == "inputs" and match.group(2) in literals else hold(match.group(0))

    held = PLACEHOLDER.sub(placeholder, OPTIONAL_SEGMENT.sub(segment, command))
    line = command_line.render(held, {"inputs": literals})
    for i, text in enumerate(kept):
        line = line.replace(f"STUDIOEXTKEPT{i}X", text, 1)
    return line


def literal(value: Any) -> Any:
    return value.default if isinstance(value, Input) and value.path is None else value


def _primary(spec: dict[str, Any]) -> tuple[str, str]:
    return spec["objective"]["primary_metric"], spec["objective"]["goal"]
