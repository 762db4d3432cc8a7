"""``ws.jobs`` on the local backend: submit, watch, cancel and list jobs and runs.

A job is a row in the metadata store plus an MLflow run. The workspace's supervisor
(studio_ext.backends.local.runtime.supervisor) starts queued jobs and finalizes them; this class
never runs user code itself, so a notebook kernel can come and go.
"""

from __future__ import annotations

import builtins
import codecs
import json
import os
import re
import secrets
import shlex
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import sqlalchemy as sa

from studio_ext._poller import Poller
from studio_ext._studio_link import studio_url
from studio_ext._validation import check_name
from studio_ext.backends.local.compute.node import mark_canceled
from studio_ext.backends.local.core import code_snapshot, tracking, wakeups
from studio_ext.backends.local.core.accepting import accepts
from studio_ext.backends.local.core.processes import job_marker, kill_tree
from studio_ext.backends.local.core.schema import jobs as jobs_table
from studio_ext.backends.local.core.store import now, to_datetime
from studio_ext.backends.local.jobs import command_line, job_io
from studio_ext.backends.local.runs.reads import RunExplorerReads
from studio_ext.entities import ACTIVE_STATES, TERMINAL_STATES, CommandJob, Input, Job, JobStatus, Output
from studio_ext.entities._automl import AutoMLJob
from studio_ext.entities._pipeline import PipelineJob
from studio_ext.entities._sweep import SweepJob
from studio_ext.errors import Conflict, InvalidInput, NotFound
from studio_ext.services import JobOperations

if TYPE_CHECKING:  # pragma: no cover
    import azure.ai.ml.entities as aml

    from studio_ext.backends.local import LocalBackend

_ADJECTIVES = ("amber", "brave", "calm", "eager", "gentle", "keen", "lucid", "quiet", "sharp", "swift")
_NOUNS = ("anchor", "basil", "cedar", "delta", "ember", "fjord", "grove", "harbor", "iris", "juniper")
_LOG_CHUNK = 1 << 20  # a log is read and written on in pieces this big
_TAIL_BLOCK = 64 << 10
_TAIL_MAX_BYTES = 16 << 20


def new_job_name() -> str:
    """Azure-style job names: two words and a short random suffix."""
    return f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_NOUNS)}_{secrets.token_hex(4)}"


class LocalJobs(RunExplorerReads, JobOperations):
    """``ws.jobs``: the JobOperations of the local backend.

    The run explorer's reads (search, metric history, artifacts, view settings) and
    ``resubmit`` come from :class:`~.run_reads.RunExplorerReads`.
    """

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    # -- submit ----------------------------------------------------------------
    def to_yaml(self, job: Job) -> str:
        """Azure ML v2 YAML of a command or AutoML job (``az ml job create --file``, ``azure.ai.ml.load_job``)."""
        if isinstance(job, AutoMLJob):
            return str(self._b.service("automl").to_yaml(job))
        from studio_ext.translation import to_yaml

        return to_yaml(job)

    @accepts((CommandJob, AutoMLJob, SweepJob, PipelineJob), "ws.jobs.create_or_update",
             overrides=("description", "compute", "tags", "experiment_name"))
    def create_or_update(self, job: CommandJob | AutoMLJob | SweepJob | PipelineJob | aml.Job, *,
                         description: str | None = None, compute: str | None = None,
                         tags: dict[str, str] | None = None, experiment_name: str | None = None,
                         parent_job_name: str | None = None) -> Job:
        """Validate and submit a job; returns it with its name. Nothing is written on bad input."""
        if isinstance(job, AutoMLJob):  # checked against its data by ws.automl, then run as a job of type automl
            return self._b.service("automl").create_or_update(job, parent_job_name=parent_job_name)
        if isinstance(job, SweepJob):  # checked here, then run by the supervisor's sweep duty
            return self._b.service("sweeps").create_or_update(job, parent_job_name=parent_job_name)
        if isinstance(job, PipelineJob):  # checked here, then its steps run by the supervisor's pipeline duty
            return self._b.service("pipelines").create_or_update(job, parent_job_name=parent_job_name)
        if not isinstance(job, CommandJob):
            raise InvalidInput(
                f"ws.jobs.create_or_update takes a job built with studio_ext.command(...) or studio_ext.automl. "
                f"Got {type(job).__name__} instead."
            )
        name = check_name(job.name, "job name") if job.name else new_job_name()
        if self._row(name) is not None:
            raise Conflict(f"A job named {name!r} already exists; job names are unique. Leave name empty for a new one.")
        experiment = check_name(job.experiment_name or "Default", "experiment name")
        parent = parent_job_name or job.parent_job_name
        parent_row = self._row(parent) if parent else None
        if parent and parent_row is None:
            raise NotFound(f"The parent job {parent!r} does not exist.")
        compute = self._check_compute(job.compute or "local")
        environment = self._b.service("environments").resolve(job.environment)
        job_dir = self._b.jobs_dir / name
        code_dir = self._check_code(job.code)
        argv_template = self._split_command(job.command)
        self._check_script(argv_template, code_dir)
        inputs = {k: job_io.resolve_input(self._b, k, v, job_dir) for k, v in job.inputs.items()}
        outputs = {k: job_io.plan_output(self._b, k, v, job_dir) for k, v in job.outputs.items()}
        line = command_line.render(job.command, {"inputs": {k: v["value"] for k, v in inputs.items()},
                                                 "outputs": {k: v["value"] for k, v in outputs.items()}})
        env_vars = {str(k): str(v) for k, v in job.environment_variables.items()}
        code_plan = code_snapshot.scan(code_dir) if code_dir is not None else None  # refuses before anything is written

        # The job's folder is built aside (jobs/.partial-PID-...) and renamed into place as its row is
        # written: a submit that fails, or is killed mid-copy, leaves no job folder (the next one sweeps).
        code_snapshot.sweep_partials(self._b.jobs_dir)
        staging = code_snapshot.partial_path(self._b.jobs_dir)
        client = run = None
        placed = False
        try:
            staging.mkdir(parents=True)
            if code_plan is not None:
                code_snapshot.copy(code_plan, staging / "code")
            else:
                (staging / "code").mkdir()
            for key in job.outputs:
                (staging / "outputs" / key).mkdir(parents=True, exist_ok=True)
            job_io.copy_inputs(inputs, staging, job_dir)
            (staging / "user_logs").mkdir()
            run, client, spec = self._start_run(job, name, experiment, compute, parent_row, environment, line,
                                                argv_template, code_dir, inputs, outputs, env_vars)
            with self._b.store.engine.begin() as conn:
                conn.execute(jobs_table.insert().values(
                    name=name, run_id=run.info.run_id, experiment_name=experiment, type=job.type,
                    status=JobStatus.NOT_STARTED.value, compute=compute, parent_job_name=parent,
                    created_at=now(), spec=json.dumps(spec),
                ))
                staging.rename(job_dir)  # the row commits only once the folder is in place
                placed = True
        except BaseException:
            if run is not None:
                client.delete_run(run.info.run_id)
            shutil.rmtree(job_dir if placed else staging, ignore_errors=True)
            raise
        wakeups.notify(self._b.path)  # submitted inside the supervisor (a pipeline step): dispatched at once
        self._b.ensure_supervisor()
        return self.get(name)

    def _start_run(self, job: CommandJob, name: str, experiment: str, compute: str, parent_row: Any,
                   environment: Any, line: str, argv_template: builtins.list[str], code_dir: Path | None,
                   inputs: dict[str, dict[str, Any]], outputs: dict[str, dict[str, Any]],
                   env_vars: dict[str, str]) -> tuple[Any, Any, dict[str, Any]]:
        """The job's MLflow run, created, and the spec stored in its row."""
        exp_id = tracking.ensure_experiment(self._b.tracking_uri, self._b.artifacts_uri, experiment)
        tags = {str(k): str(v) for k, v in job.tags.items()}
        system_tags = {
            "studio.job_name": name,
            "studio.compute": compute,
            "studio.job_type": job.type,
            "mlflow.source.type": "JOB",
            "mlflow.source.name": " ".join(argv_template[:2]) or job.command[:80],
        }
        if parent_row is not None:
            system_tags["mlflow.parentRunId"] = parent_row.run_id
        if job.description:
            system_tags["mlflow.note.content"] = job.description
        client = tracking.client(self._b.tracking_uri)
        run = client.create_run(exp_id, run_name=job.display_name or name, tags={**tags, **system_tags})
        spec = {
            "command": job.command,
            "command_line": line,  # the shell line, its values quoted (command_line.render)
            "code": str(code_dir) if code_dir else None,
            "inputs": {k: v["value"] for k, v in inputs.items()},
            "input_specs": {k: v["spec"] for k, v in inputs.items()},
            "outputs": {k: v["record"] for k, v in outputs.items()},
            "environment": f"{environment.name}:{environment.version}" if environment else None,
            "environment_variables": env_vars,
            "display_name": job.display_name or name,
            "description": job.description,
            "tags": tags,
            "experiment_id": exp_id,
        }
        return run, client, spec

    # -- read ------------------------------------------------------------------
    def get(self, name: str) -> Job:
        """The job (or interactive run) with its status, metrics, params, tags and children."""
        row = self._row(name)
        if row is None:
            run = self._interactive_run(name)
            if run is None:
                raise NotFound(f"There is no job or run named {name!r}. List them with ws.jobs.list().")
            return self._from_run(run)
        self._reconcile_if_needed([row])
        row = self._row(name)
        if row.type == "sweep":
            return self._b.service("sweeps").get(name)
        if row.type == "pipeline":
            return self._b.service("pipelines").get(name)
        run = self._run_or_none(row.run_id)
        return self._from_row(row, run, children=self._children(name))

    def list(
        self,
        experiment_name: str | None = None,
        *,
        parent_job_name: str | None = None,
        status: str | JobStatus | None = None,
        include_interactive: bool = True,
        max_results: int | None = None,
    ) -> builtins.list[Job]:
        """Jobs (and interactive MLflow runs) newest first, as ``MLClient.jobs.list``."""
        q = sa.select(jobs_table)
        if experiment_name is not None:
            q = q.where(jobs_table.c.experiment_name == experiment_name)
        if parent_job_name is not None:
            q = q.where(jobs_table.c.parent_job_name == parent_job_name)
        if status is not None:
            q = q.where(jobs_table.c.status == JobStatus(status).value)
        q = q.order_by(jobs_table.c.created_at.desc())
        if max_results:
            q = q.limit(max_results)
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(q).all()
        if self._reconcile_if_needed(rows):
            with self._b.store.engine.connect() as conn:
                rows = conn.execute(q).all()
        runs = self._runs_by_id(experiment_name)
        out = [self._from_row(r, runs.get(r.run_id)) for r in rows]
        if include_interactive and parent_job_name is None:
            known = {r.run_id for r in rows}
            for run in runs.values():
                if run.info.run_id in known or "studio.job_name" in run.data.tags:
                    continue
                job = self._from_run(run)
                if status is None or job.status == JobStatus(status):
                    out.append(job)
            out.sort(key=lambda j: j.creation_time.timestamp() if j.creation_time else 0, reverse=True)
        return out[:max_results] if max_results else out

    def list_experiments(self) -> builtins.list[str]:
        client = tracking.client(self._b.tracking_uri)
        return [e.name for e in client.search_experiments()]

    def log_path(self, name: str) -> Path:
        """Where the job's combined stdout/stderr log is written (tail it while it runs)."""
        self._require(name)
        return self._b.jobs_dir / name / "user_logs" / "std_log.txt"

    def get_logs(self, name: str, tail: int | None = None) -> str:
        """The job's log, or its last ``tail`` lines (read from the end: the size of the log does not matter)."""
        path = self.log_path(name)
        if not path.exists():
            return ""
        if tail:
            return read_log_tail(path, tail)
        return path.read_text(encoding="utf-8", errors="replace")

    def write_logs(self, name: str, out: TextIO, tail: int | None = None) -> None:
        """Write the job's log (or its last ``tail`` lines) to ``out`` piece by piece, in constant memory."""
        path = self.log_path(name)
        if not path.exists():
            return
        if tail:
            out.write(read_log_tail(path, tail))
            return
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        with open(path, "rb") as handle:
            while chunk := handle.read(_LOG_CHUNK):
                out.write(decoder.decode(chunk))
        out.write(decoder.decode(b"", final=True))

    def stream(self, name: str, *, out: TextIO | None = None, poll: float = 0.2, timeout: float | None = None) -> Job:
        """Print the job's log as it grows until the job ends; return the final job. Memory stays constant."""
        out = out or sys.stdout
        path = self.log_path(name)
        position = 0
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        deadline = None if timeout is None else time.monotonic() + timeout
        out.write(f"RunId: {name}\n")
        while True:
            status = self._status(name)
            if path.exists():
                with open(path, "rb") as handle:
                    if os.fstat(handle.fileno()).st_size < position:  # the wrapper cut the log to its cap
                        position = handle.seek(0, os.SEEK_END)
                        out.write("\n[studio-ext] The log was cut to stay under its cap; following its new end.\n")
                    handle.seek(position)
                    while chunk := handle.read(_LOG_CHUNK):
                        position += len(chunk)
                        out.write(decoder.decode(chunk))
                out.flush()
            if status in TERMINAL_STATES:
                out.write(decoder.decode(b"", final=True))
                job = self.get(name)
                out.write(f"\nExecution Summary\n=================\nRunId: {name}\nStatus: {job.status}\n")
                if job.error:
                    out.write(f"Error: {job.error}\n")
                return job
            if deadline is not None and time.monotonic() > deadline:
                return self.get(name)
            self._reconcile_if_needed([self._row(name)])
            time.sleep(poll)

    # -- change ------------------------------------------------------------------
    def begin_cancel(self, name: str) -> Poller[Job]:
        """Cancel a job: a queued one never starts; a running one's whole process tree ends."""
        row = self._require(name)
        status = JobStatus(row.status)
        if status in TERMINAL_STATES:
            raise Conflict(f"Job {name!r} already ended ({status}); there is nothing to cancel.")
        with self._b.store.engine.begin() as conn:
            changed = conn.execute(
                jobs_table.update()
                .where(jobs_table.c.name == name, jobs_table.c.status.in_([s.value for s in ACTIVE_STATES]))
                .values(status=JobStatus.CANCELED.value, error="Canceled by the user.", end_time=now())
            ).rowcount
        if changed:
            mark_canceled(str(self._b.jobs_dir / name))  # a node about to start it sees this first
        if changed and row.pid:
            kill_tree(row.pid, row.pid_start, marker=job_marker(row.name, row.run_id))
        for child in self._children(name):
            if self._status(child) not in TERMINAL_STATES:
                self.begin_cancel(child)
        if changed and not row.pid:
            # Never started: nobody else will close the MLflow run.
            tracking.client(self._b.tracking_uri).set_terminated(row.run_id, JobStatus.CANCELED.mlflow_status)
            with self._b.store.engine.begin() as conn:
                conn.execute(jobs_table.update().where(jobs_table.c.name == name, jobs_table.c.pid.is_(None))
                             .values(finalized_at=now()))
        return Poller(lambda: (j if (j := self.get(name)).status in TERMINAL_STATES and
                               not self._finalizing(name) else None), f"Canceling job {name!r}")

    def update_tags(self, name: str, tags: dict[str, str], remove: builtins.list[str] | None = None) -> Job:
        """Set and remove tags of a job, or of an interactive run (by its MLflow run id)."""
        run_id, _ = self._resolve_run(name)
        check_tag_changes(tags, remove)
        client = tracking.client(self._b.tracking_uri)
        missing = [key for key in remove or [] if key not in client.get_run(run_id).data.tags]
        if missing:
            raise InvalidInput(f"The run {name!r} has no tag {missing[0]!r}, so it cannot be removed. "
                               "Its tags are listed in ws.jobs.get(name).tags.")
        for key, value in tags.items():
            client.set_tag(run_id, key, str(value))
        for key in remove or []:
            client.delete_tag(run_id, key)
        return self.get(name)

    def archive(self, name: str) -> None:
        """Hide a job or interactive run from lists (MLflow's soft delete); ``restore`` brings it back."""
        run_id, _ = self._resolve_run(name)
        tracking.client(self._b.tracking_uri).delete_run(run_id)

    def restore(self, name: str) -> None:
        run_id, _ = self._resolve_run(name)
        tracking.client(self._b.tracking_uri).restore_run(run_id)

    def download(self, name: str, download_path: str | os.PathLike[str] = ".", *, output_name: str | None = None,
                 all: bool = False, artifact_path: str | None = None) -> Path:  # noqa: A002 - azure-ai-ml's name
        """Copy a job's logs and outputs to ``download_path``, laid out as azure-ai-ml's ``jobs.download``.

        With no ``output_name``: the run's artifacts (logs, ``outputs/``, logged models) in
        ``download_path/artifacts/``; ``output_name="o"``: that named output in
        ``download_path/named-outputs/o/``; ``all=True``: both, for every named output.
        ``artifact_path="outputs/x"`` copies that artifact alone to ``download_path/NAME/outputs/x``
        (the studio's own form). Returns ``download_path``. The job must have ended, as on Azure.
        """
        row = self._require(name)
        from mlflow.artifacts import download_artifacts

        dest = Path(download_path)
        if artifact_path is not None:
            dest = dest / name
            dest.mkdir(parents=True, exist_ok=True)
            download_artifacts(run_id=row.run_id, artifact_path=artifact_path, dst_path=str(dest),
                               tracking_uri=self._b.tracking_uri)
            return dest
        if JobStatus(row.status) not in TERMINAL_STATES:
            raise Conflict(f"Job {name!r} is {row.status}; a job's files can be downloaded once it has ended. "
                           f"Wait with ws.jobs.stream({name!r}).")
        spec = json.loads(row.spec)
        outputs = spec.get("outputs") or {}
        if output_name is not None and output_name not in outputs:
            raise NotFound(f"Job {name!r} has no output {output_name!r}. Its outputs: {', '.join(outputs) or 'none'}.")
        if output_name in (None, "score") and _scores_a_model(spec):
            # a model batch deployment's invocation: its scoring file lands in download_path itself, as
            # azure-ai-ml lays out a batch job (the course's lab reads ./predictions.csv after download)
            staging = dest / f".score-{secrets.token_hex(4)}"
            try:
                self._download_output(name, "score", outputs["score"], staging)
                for item in staging.iterdir():  # the scoring file(s), not the driver's .batch/ bookkeeping
                    if not item.name.startswith("."):
                        os.replace(item, dest / item.name)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            return dest
        if output_name is None:
            (dest / "artifacts").mkdir(parents=True, exist_ok=True)
            download_artifacts(run_id=row.run_id, artifact_path="", dst_path=str(dest / "artifacts"),
                               tracking_uri=self._b.tracking_uri)
        wanted = [output_name] if output_name is not None else (list(outputs) if all else [])
        for key in wanted:
            try:
                self._download_output(name, key, outputs[key], dest / "named-outputs" / key)
            except NotFound:
                if output_name is not None:
                    raise
                shutil.rmtree(dest / "named-outputs" / key, ignore_errors=True)  # all=True: what was written
        return dest

    def _download_output(self, name: str, key: str, record: dict[str, Any], dest: Path) -> None:
        """One named output's files into ``dest`` (a file output: the file inside it, as Azure lays it out)."""
        bound = record.get("bound")
        while bound and not record.get("where"):  # a pipeline's output: the files of the step run it is bound to
            child = self._b.service("pipelines").get(name).step_jobs.get(bound[0])
            child_row = self._row(child)
            if child_row is None:
                raise NotFound(f"The output {key!r} of pipeline {name!r} was not written: its step {bound[0]!r} "
                               "did not run.")
            name, key = str(child), str(bound[1])
            record = (json.loads(child_row.spec).get("outputs") or {}).get(key) or {}
            bound = record.get("bound") if child_row.type == "pipeline" else None  # a pipeline run as a step
        where = str(record.get("where") or self._b.jobs_dir / name / "outputs" / key)
        dest.mkdir(parents=True, exist_ok=True)
        if where.startswith("azureml://datastores/"):
            from studio_ext.backends.local.data.datastores import parse_datastore_uri

            store, rel = parse_datastore_uri(where)
            copied = self._b.service("datastores").download(store, rel, dest / ".partial")
            for item in copied.iterdir() if copied.is_dir() else [copied]:
                os.replace(item, dest / item.name)
            shutil.rmtree(dest / ".partial", ignore_errors=True)
            return
        source = Path(where)
        if source.is_dir():
            shutil.copytree(source, dest, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copy2(source, dest / source.name)

    # -- helpers ---------------------------------------------------------------------
    def _row(self, name: str | None) -> Any:
        if not name:
            return None
        with self._b.store.engine.connect() as conn:
            return conn.execute(sa.select(jobs_table).where(jobs_table.c.name == name)).first()

    def _require(self, name: str) -> Any:
        row = self._row(name)
        if row is None:
            raise NotFound(f"There is no job named {name!r}. List jobs with ws.jobs.list().")
        return row

    def _status(self, name: str) -> JobStatus:
        return JobStatus(self._require(name).status)

    def _finalizing(self, name: str) -> bool:
        """True until the supervisor has stored a canceled job's logs and closed its run."""
        row = self._require(name)
        return row.finalized_at is None

    def _children(self, name: str) -> builtins.list[str]:
        with self._b.store.engine.connect() as conn:
            return [r.name for r in conn.execute(
                sa.select(jobs_table.c.name).where(jobs_table.c.parent_job_name == name)
                .order_by(jobs_table.c.created_at))]

    def _check_compute(self, compute: str) -> str:
        check_name(compute, "compute name")
        if compute == "local":
            return compute
        known = ["local"]
        if "compute" in self._b.services_available():
            computes = self._b.service("compute")
            try:
                computes.get(compute)
                return compute
            except NotFound:
                known += [c.name for c in computes.list()]
        raise NotFound(
            f"There is no compute target named {compute!r}. Known targets: {', '.join(known)}. "
            "Create one with ws.compute.begin_create_or_update(...) or use compute='local'."
        )

    @staticmethod
    def _check_code(code: str | None) -> Path | None:
        if code is None:
            return None
        path = Path(code).expanduser()
        if not path.exists():
            raise NotFound(f"The code folder {code!r} does not exist (looked in {path.resolve()}).")
        if not path.is_dir():
            raise InvalidInput(f"code={code!r} is a file; give the folder that holds your script.")
        return path.resolve()

    @staticmethod
    def _split_command(command: str) -> builtins.list[str]:
        if not isinstance(command, str) or not command.strip():
            raise InvalidInput("The job has no command. Give one such as command='python train.py'.")
        try:
            return shlex.split(command)
        except ValueError:  # shell syntax shlex does not know ($'...'); render() refuses an unclosed quote
            return []

    @staticmethod
    def _check_script(argv: builtins.list[str], code_dir: Path | None) -> None:
        if len(argv) >= 2 and argv[0] in ("python", "python3") and argv[1].endswith(".py"):
            root = code_dir or Path.cwd()
            if not (root / argv[1]).is_file():
                raise NotFound(
                    f"The script {argv[1]!r} does not exist in the code folder {str(root)!r}. "
                    "Check code= and the script name in command=."
                )

    def _run_or_none(self, run_id: str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return tracking.client(self._b.tracking_uri).get_run(run_id)
        except MlflowException:
            return None

    def _interactive_run(self, run_id: str) -> Any:
        if not re.fullmatch(r"[0-9a-f]{32}", run_id or ""):
            return None
        return self._run_or_none(run_id)

    def _runs_by_id(self, experiment_name: str | None) -> dict[str, Any]:
        from mlflow.entities import ViewType

        client = tracking.client(self._b.tracking_uri)
        if experiment_name is None:
            exps = client.search_experiments()
        else:
            exp = client.get_experiment_by_name(experiment_name)
            exps = [exp] if exp else []
        if not exps:
            return {}
        out: dict[str, Any] = {}
        token = None
        while True:
            page = client.search_runs([e.experiment_id for e in exps], run_view_type=ViewType.ACTIVE_ONLY,
                                      max_results=5000, page_token=token)
            out.update({r.info.run_id: r for r in page})
            token = page.token
            if not token:
                return out

    def _from_row(self, row: Any, run: Any, children: builtins.list[str] | None = None) -> Job:
        spec = json.loads(row.spec)
        data = run.data if run is not None else None
        inputs: dict[str, Any] = {}
        for k, s in spec.get("input_specs", {}).items():
            if s.get("declared") or (s.get("optional") and "path" not in s):
                inputs[k] = Input(type=s["type"], default=s.get("value"), optional=bool(s.get("optional")))
            elif "value" in s:
                inputs[k] = s["value"]
            else:
                inputs[k] = Input(type=s["type"], path=s.get("path"), mode=s.get("mode") or "ro_mount",
                                  optional=bool(s.get("optional")))
        output_fields = set(Output.__dataclass_fields__)
        job = CommandJob(
            name=row.name,
            display_name=spec.get("display_name"),
            experiment_name=row.experiment_name,
            description=spec.get("description"),
            tags={k: v for k, v in (data.tags if data else spec.get("tags", {})).items()
                  if not k.startswith(("mlflow.", "studio."))},
            compute=row.compute.removeprefix("sweep:").removeprefix("pipeline:"),  # kept off the runners' way
            type=row.type,
            status=JobStatus(row.status),
            parent_job_name=row.parent_job_name,
            run_id=row.run_id,
            creation_time=to_datetime(row.created_at),
            start_time=to_datetime(row.start_time),
            end_time=to_datetime(row.end_time),
            exit_code=row.exit_code,
            error=row.error,
            metrics=dict(data.metrics) if data else {},
            params=dict(data.params) if data else {},
            children=children if children is not None else [],
            command=spec.get("command", ""),
            code=spec.get("code"),
            inputs=inputs,
            outputs={k: Output(**{f: v for f, v in o.items() if f in output_fields})
                     for k, o in spec.get("outputs", {}).items()},
            environment=spec.get("environment"),
            environment_variables=spec.get("environment_variables", {}),
            log_path=str(self._b.jobs_dir / row.name / "user_logs" / "std_log.txt"),
            output_paths={k: str(o.get("where") or self._b.jobs_dir / row.name / "outputs" / k)
                          for k, o in spec.get("outputs", {}).items()},
            studio_url=studio_url(self._b.path, row.name),
        )
        return job

    def _from_run(self, run: Any) -> Job:
        exp = tracking.client(self._b.tracking_uri).get_experiment(run.info.experiment_id)
        info, data = run.info, run.data
        return Job(
            name=info.run_id,
            display_name=info.run_name,
            experiment_name=exp.name if exp else None,
            tags={k: v for k, v in data.tags.items() if not k.startswith("mlflow.")},
            compute="interactive",
            type="interactive",
            status=JobStatus.from_mlflow(info.status) or JobStatus.RUNNING,
            parent_job_name=data.tags.get("mlflow.parentRunId"),
            run_id=info.run_id,
            creation_time=to_datetime(info.start_time / 1000) if info.start_time else None,
            start_time=to_datetime(info.start_time / 1000) if info.start_time else None,
            end_time=to_datetime(info.end_time / 1000) if info.end_time else None,
            metrics=dict(data.metrics),
            params=dict(data.params),
            interactive=True,
            studio_url=studio_url(self._b.path, info.run_id),
        )

    def _reconcile_if_needed(self, rows: builtins.list[Any]) -> bool:
        """Make sure someone watches active jobs: start the supervisor if it is gone."""
        if any(r is not None and r.status in {s.value for s in ACTIVE_STATES} for r in rows):
            return self._b.ensure_supervisor(wait_reconciled=True)
        return False


def read_log_tail(path: Path, lines: int, max_bytes: int = _TAIL_MAX_BYTES) -> str:
    """The last ``lines`` lines of a log (split as ``str.splitlines`` splits), read backwards from its end.

    Reads no more than ``max_bytes`` (16 MB): lines longer than that come back cut.
    """
    blocks: builtins.list[bytes] = []
    breaks = 0
    with open(path, "rb") as handle:
        start = end = handle.seek(0, os.SEEK_END)
        while start > 0 and end - start < max_bytes and breaks <= lines + 1:
            step = min(_TAIL_BLOCK, start)
            start -= step
            handle.seek(start)
            block = handle.read(step)
            blocks.append(block)
            breaks += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")  # progress bars use \r
    parts = b"".join(reversed(blocks)).decode("utf-8", errors="replace").splitlines()
    if start > 0:
        parts = parts[1:]  # the first line is cut
    return "\n".join(parts[-lines:])


def check_tag_changes(tags: object, remove: object) -> None:
    """Refuse tag changes MLflow would take half-way or mangle: checked before any is written."""
    if not isinstance(tags, dict):
        raise InvalidInput(f"Tags must be a dict of name -> value, e.g. {{'reviewed': 'yes'}}. Got {tags!r} instead.")
    if remove is not None and (not isinstance(remove, list) or not all(isinstance(k, str) for k in remove)):
        raise InvalidInput(f"'remove' must be a list of tag names. Got {remove!r} instead.")
    for key in [*tags, *(remove or [])]:
        if not isinstance(key, str) or not key.strip():
            raise InvalidInput(f"A tag name must be a non-empty string. Got {key!r} instead.")
        if key.startswith(("mlflow.", "studio.")):
            raise InvalidInput(f"The tag {key!r} is kept by MLflow or the studio and cannot be changed. "
                               "Use a name that does not start with 'mlflow.' or 'studio.'.")


def iter_active_rows(backend: LocalBackend) -> Iterator[Any]:
    with backend.store.engine.connect() as conn:
        yield from conn.execute(sa.select(jobs_table).where(
            jobs_table.c.status.in_([s.value for s in ACTIVE_STATES])))


def _scores_a_model(spec: dict[str, Any]) -> bool:
    """The job is a model batch deployment's invocation: tagged with its batch endpoint, its ``score`` output
    bound to the ``batchscoring`` step (a pipeline deployment's invocation is laid out as any pipeline's)."""
    if "azureml.batch_endpoint" not in (spec.get("tags") or {}):
        return False
    bound = ((spec.get("outputs") or {}).get("score") or {}).get("bound")
    return bool(bound) and bound[0] == "batchscoring"
