"""The supervisor's duty for jobs on ``compute="local"``: start, watch, finalize, recover.

Runs inside the workspace supervisor only. Every transition is written to the
metadata store first, so a restarted supervisor picks up where the last one was.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from studio_ext.backends.local.automl.warm_start import WARM_SETTING, WarmSpare, warm_order
from studio_ext.backends.local.core import tracking, wakeups
from studio_ext.backends.local.core.processes import JOB_MARKER, job_marker, kill_tree, pid_alive, start_time
from studio_ext.backends.local.core.schema import jobs as jobs_table
from studio_ext.backends.local.core.store import now
from studio_ext.backends.local.jobs import job_io
from studio_ext.backends.local.jobs.command_line import program, shell_argv
from studio_ext.compat import with_fallback_hook
from studio_ext.entities import JobStatus

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

log = logging.getLogger("studio_ext.supervisor.jobs")
WRAPPER = str(Path(__file__).with_name("_wrap.py"))
MLFLOW_HOOK = str(Path(__file__).with_name("_site"))
_MLFLOW_LOADING = threading.Lock()  # held while MLflow may be imported for the first time (warm_tracking)
WARM_CHECK_SECONDS = 1.0  # how often an idle runner looks whether the workspace wants a warm spare
WARM_RETRY_SECONDS = 60.0  # after a spare died unused (a broken environment): wait this long before another
_STRIPPED_ENV = ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_TRACKING_URI",
                 "_MLFLOW_SERVER_ARTIFACT_ROOT")


def job_process_env(backend: LocalBackend, row: Any, spec: dict[str, Any]) -> dict[str, str]:
    """The environment a job's script sees: MLflow pointed at its run, Azure ML's names set."""
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_ENV}
    env.update(spec.get("environment_variables", {}))
    env.update({
        "MLFLOW_TRACKING_URI": backend.tracking_uri,
        "MLFLOW_RUN_ID": row.run_id,
        "MLFLOW_EXPERIMENT_ID": str(spec.get("experiment_id", "")),
        "AZUREML_RUN_ID": row.name,
        "AZUREML_EXPERIMENT_NAME": row.experiment_name,
        "PYTHONUNBUFFERED": "1",
        JOB_MARKER: job_marker(row.name, row.run_id),  # how its processes are found (core/processes.py)
    })
    # the workspace the job belongs to, as a kernel of the studio has it: Workspace.from_config() and
    # mltable.load("azureml:NAME:VERSION") in the script find it
    if "STUDIO_EXT_WORKSPACE" not in spec.get("environment_variables", {}):
        env["STUDIO_EXT_WORKSPACE"] = str(backend.path)
    if row.type == "command":  # MLflow in the script lands in the job's run, as on Azure (_site/sitecustomize.py);
        # `import mltable` finds the studio's stand-in where Microsoft's package is absent (studio_ext/compat)
        env["PYTHONPATH"] = with_fallback_hook(env.get("PYTHONPATH"), MLFLOW_HOOK)
    return env


def job_argv(backend: LocalBackend, row: Any, spec: dict[str, Any], log_path: Path, *,
             default_python: str | None = None) -> list[str]:
    """The job's argv: its command line run by a shell, with its environment's interpreter first on PATH.

    ``default_python`` stands for the interpreter of a job with no environment (a compute
    node puts its own there).
    """
    envs = backend.service("environments")
    env = envs.resolve(spec["environment"]) if spec.get("environment") else None
    python = default_python if env is None and default_python else envs.python_for(env, log=log_path)
    if "command_line" not in spec:  # queued before commands ran in a shell: its argv, run as it was
        argv = list(spec["argv"])
        if argv and argv[0] in ("python", "python3"):
            argv[0] = python
        return argv
    return shell_argv(spec["command_line"], python)


def plain_argv(spec: dict[str, Any], argv: list[str]) -> list[str] | None:
    """The argv without the shell, when the job's line is one plain ``python ...`` command (for a warm start)."""
    if "command_line" not in spec:
        return argv
    words = program(spec["command_line"])
    if words and words[0] in ("python", "python3"):
        return [argv[-1], *words[1:]]  # the interpreter shell_argv passes as $1
    return None


def finalize_job(backend: LocalBackend, name: str, exit_info: dict[str, Any] | None) -> JobStatus:
    """Record how a job ended: logs and outputs as artifacts, MLflow run closed, final state."""
    with backend.store.engine.begin() as conn:
        row = conn.execute(sa.select(jobs_table).where(jobs_table.c.name == name)).first()
        if row is None:
            return JobStatus.FAILED
        canceled = row.status == JobStatus.CANCELED.value
        if not canceled:
            conn.execute(jobs_table.update().where(jobs_table.c.name == name)
                         .values(status=JobStatus.FINALIZING.value))
    if exit_info is None and row.pid:
        # Its wrapper died without ending the job's processes (killed with SIGKILL): end them here.
        end_job_soon(row)
    job_dir = backend.jobs_dir / name
    log_path = job_dir / "user_logs" / "std_log.txt"
    code = exit_info.get("exit_code") if exit_info else None
    if canceled:
        final, error = JobStatus.CANCELED, row.error or "Canceled by the user."
    elif exit_info is None:
        final, error = JobStatus.FAILED, (
            "The job's process died without reporting (killed, or the machine restarted).")
    elif code == 0:
        final, error = JobStatus.COMPLETED, None
    else:
        final = JobStatus.FAILED
        error = exit_info.get("error") or f"The script exited with code {code}. " + _error_tail(log_path)
    if final == JobStatus.COMPLETED:
        final, error = _finish_outputs(backend, row, log_path)
    with _MLFLOW_LOADING:
        client = tracking.client(backend.tracking_uri)
    try:
        if log_path.exists():
            client.log_artifact(row.run_id, str(log_path), "user_logs")
        spec = json.loads(row.spec)
        for key in spec.get("outputs", {}):
            out_dir = job_dir / "outputs" / key
            if out_dir.is_dir() and any(out_dir.iterdir()):
                client.log_artifacts(row.run_id, str(out_dir), f"outputs/{key}")
        conventional = job_dir / "code" / "outputs"  # Azure ML uploads ./outputs too
        if conventional.is_dir() and any(conventional.iterdir()):
            client.log_artifacts(row.run_id, str(conventional), "outputs")
    except Exception as exc:  # noqa: BLE001 - artifacts failing must not leave the job unfinished
        log.warning("could not store artifacts of %s: %s", name, exc)
        if final == JobStatus.COMPLETED:
            final, error = JobStatus.FAILED, f"The job ran but its outputs could not be stored: {exc}"
    try:
        client.set_terminated(row.run_id, JobStatus(final).mlflow_status)
    except Exception as exc:  # noqa: BLE001 - the run may have been deleted meanwhile
        log.warning("could not close the MLflow run of %s: %s", name, exc)
    with backend.store.engine.begin() as conn:
        conn.execute(jobs_table.update().where(jobs_table.c.name == name).values(
            status=final.value, exit_code=code, error=error, finalized_at=now(),
            end_time=row.end_time if canceled and row.end_time else (exit_info or {}).get("ended") or now()))
    wakeups.notify(backend.path)  # the supervisor's duties see the end now (a pipeline starts the next step)
    return final


def _finish_outputs(backend: LocalBackend, row: Any, log_path: Path) -> tuple[JobStatus, str | None]:
    """A completed job's outputs: copied to their datastores, then registered where they have a name.

    Either failing fails the job, with the reason in its error and at the end of its log.
    """
    spec = json.loads(row.spec)
    try:
        job_io.deliver_outputs(backend, spec)
        if any(isinstance(o, dict) and o.get("name") for o in (spec.get("outputs") or {}).values()):
            with _MLFLOW_LOADING:  # MLflow imported in two threads at once is seen half-loaded in one of them
                tracking.client(backend.tracking_uri)
        registered = job_io.register_outputs(backend, row.name, row.run_id, spec,
                                             backend.jobs_dir / row.name / "registered.json")
    except Exception as exc:  # noqa: BLE001 - any failure here is the job's, reported on it
        log.warning("could not deliver or register the outputs of %s: %s", row.name, exc)
        error = f"The job ran but its outputs could not be delivered or registered: {exc}"
        _append(log_path, f"\n[studio-ext] {error}\n")
        return JobStatus.FAILED, error
    if registered:
        _append(log_path, "\n" + "".join(f"[studio-ext] {line}\n" for line in registered))
    return JobStatus.COMPLETED, None


def _append(path: Path, text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError:
        pass


def end_job_soon(row: Any) -> None:
    """End a job's processes on this machine, in a thread of its own (it may wait out the SIGTERM grace)."""
    marker = job_marker(row.name, row.run_id)
    threading.Thread(target=kill_tree, args=(row.pid, row.pid_start), kwargs={"marker": marker},
                     name=f"end-{row.name}", daemon=True).start()


def _error_tail(log_path: Path, lines: int = 15) -> str:
    if not log_path.exists():
        return ""
    from studio_ext.backends.local.jobs.service import read_log_tail

    text = read_log_tail(log_path, 200).splitlines()  # its end only: a job's log may be 100 MB
    start = max((i for i, ln in enumerate(text) if ln.startswith("Traceback")), default=len(text) - lines)
    return "\n".join(text[max(start, 0):][-lines:])


def warm_tracking(tracking_uri: str) -> None:
    """Import MLflow while a job runs, so finalizing it at its end does not wait seconds for the import."""
    try:
        with _MLFLOW_LOADING:
            tracking.client(tracking_uri)
    except Exception:  # finalize_job meets the same problem and reports it on the job
        log.debug("MLflow could not be loaded ahead of finalizing", exc_info=True)


def read_exit(job_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((job_dir / "exit.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


class LocalJobRunner:
    """Starts queued local jobs (up to ``max_concurrent_jobs``) and watches running ones."""

    def __init__(self, backend: LocalBackend, max_concurrent_jobs: int | None = None) -> None:
        self._b = backend
        local = backend.config.get("compute", {}).get("local", {}) if hasattr(backend, "config") else {}
        self.max_concurrent = max_concurrent_jobs or int(local.get("max_concurrent_jobs", 8))
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._starting: set[str] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="job-start")
        self._spare: WarmSpare | None = None
        self._warm_jobs: set[str] = set()  # jobs started from a spare (no spare is made while one runs)
        self._wanted_checked = 0.0

    # -- the loop body -----------------------------------------------------------------
    def tick(self) -> None:
        self._watch()
        self._start_queued()
        self._keep_spare()

    def busy(self) -> bool:
        return bool(self._procs or self._starting)

    def recover(self) -> None:
        """After a (re)start: finish what ended while nobody watched, adopt what still runs."""
        self._watch_unowned()
        with self._b.store.engine.begin() as conn:
            # Jobs caught between Starting and a recorded pid had no process yet: start them again.
            conn.execute(jobs_table.update().where(
                jobs_table.c.compute == "local", jobs_table.c.status == JobStatus.STARTING.value,
                jobs_table.c.pid.is_(None)).values(status=JobStatus.QUEUED.value))

    def shutdown(self) -> None:
        """Leave running jobs alone: the next supervisor adopts them."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.discard()
            self._set_warm(ready=False)

    # -- the warm spare (AutoML jobs start without importing their libraries) ------------------
    def _keep_spare(self) -> None:
        """Keep one spare ready once the workspace asked for it, but not while a warm job runs (it would
        take the CPU from that job's search)."""
        if not hasattr(os, "fork"):
            return
        with self._lock:
            spare = self._spare
        if spare is not None:
            if spare.alive():
                if not spare.ready and spare.poll_ready():
                    self._set_warm(ready=True, pid=spare.proc.pid)
                return
            with self._lock:
                self._spare = None
            self._set_warm(ready=False)
            log.warning("the warm AutoML process exited on its own (see logs/warm_start.log); next try in %.0f s",
                        WARM_RETRY_SECONDS)
            self._wanted_checked = time.monotonic() + WARM_RETRY_SECONDS  # no start-and-crash loop
        self._warm_jobs &= set(self._procs) | self._starting
        if self._warm_jobs or time.monotonic() - self._wanted_checked < WARM_CHECK_SECONDS:
            return
        self._wanted_checked = time.monotonic()
        if not (self._b.store.get_setting(WARM_SETTING) or {}).get("wanted"):
            return
        spare = WarmSpare(cwd=self._b.jobs_dir, log_path=self._b.path / "logs" / "warm_start.log",
                          tracking_uri=self._b.tracking_uri)
        with self._lock:
            self._spare = spare
        log.info("started a warm AutoML process %s", spare.proc.pid)

    def _set_warm(self, *, ready: bool, pid: int | None = None) -> None:
        record = self._b.store.get_setting(WARM_SETTING) or {}
        self._b.store.set_setting(WARM_SETTING, {**record, "ready": ready, "pid": pid})

    def _take_spare(self) -> WarmSpare | None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None and not spare.alive():
            spare.discard()
            return None
        if spare is not None:
            self._set_warm(ready=False)
        return spare

    # -- internals ------------------------------------------------------------------------
    def _watch(self) -> None:
        for name, proc in list(self._procs.items()):
            if proc.poll() is None:
                continue
            del self._procs[name]
            finalize_job(self._b, name, read_exit(self._b.jobs_dir / name))
        self._watch_unowned()

    def _watch_unowned(self) -> None:
        """Jobs started by an earlier supervisor: not our children, so watched by pid."""
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs_table).where(
                jobs_table.c.compute == "local", jobs_table.c.pid.is_not(None),
                jobs_table.c.finalized_at.is_(None))).all()
        for row in rows:
            if row.name in self._procs or row.name in self._starting:
                continue
            if not pid_alive(row.pid, row.pid_start):
                finalize_job(self._b, row.name, read_exit(self._b.jobs_dir / row.name))

    def _start_queued(self) -> None:
        with self._b.store.engine.connect() as conn:
            waiting = conn.execute(sa.select(jobs_table.c.name, jobs_table.c.status).where(
                jobs_table.c.compute == "local",
                jobs_table.c.status.in_([JobStatus.NOT_STARTED.value, JobStatus.QUEUED.value]))
                .order_by(jobs_table.c.created_at)).all()
        if not waiting:
            return  # the common idle case: no writes at all
        free = self.max_concurrent - len(self._procs) - len(self._starting)
        for row in waiting[:max(free, 0)]:
            with self._b.store.engine.begin() as conn:
                claimed = conn.execute(jobs_table.update().where(
                    jobs_table.c.name == row.name,
                    jobs_table.c.status.in_([JobStatus.NOT_STARTED.value, JobStatus.QUEUED.value]))
                    .values(status=JobStatus.STARTING.value)).rowcount
            if claimed:
                self._starting.add(row.name)
                self._pool.submit(self._launch, self._full_row(row.name))
        if any(r.status == JobStatus.NOT_STARTED.value for r in waiting[max(free, 0):]):
            # Every slot is taken: the rest wait, and say so.
            with self._b.store.engine.begin() as conn:
                conn.execute(jobs_table.update().where(
                    jobs_table.c.compute == "local", jobs_table.c.status == JobStatus.NOT_STARTED.value)
                    .values(status=JobStatus.QUEUED.value))

    def _full_row(self, name: str) -> Any:
        with self._b.store.engine.connect() as conn:
            return conn.execute(sa.select(jobs_table).where(jobs_table.c.name == name)).first()

    def _start_warm(self, name: str, argv: list[str], job_dir: Path, spec: dict[str, Any], row: Any,
                    log_path: Path) -> subprocess.Popen[bytes] | None:
        """The job started from the warm spare, when it runs a warm module and a spare is there."""
        plain = plain_argv(spec, argv)
        order = warm_order(plain, sys.executable) if plain else None
        if order is None:
            return None
        self._warm_jobs.add(name)  # an AutoML job: keep a spare for the next one, once this one ends
        spare = self._take_spare()
        if spare is None:
            return None
        return spare.assign(module=order[0], args=order[1], cwd=job_dir / "code", log_path=log_path,
                            env=job_process_env(self._b, row, spec), exit_path=job_dir / "exit.json")

    def _launch(self, row: Any) -> None:
        job_dir = self._b.jobs_dir / row.name
        log_path = job_dir / "user_logs" / "std_log.txt"
        try:
            spec = json.loads(row.spec)
            argv = job_argv(self._b, row, spec, log_path)
            proc = self._start_warm(row.name, argv, job_dir, spec, row, log_path)
            if proc is None:
                proc = subprocess.Popen(
                    [sys.executable, "-S", WRAPPER, str(job_dir / "exit.json"), str(log_path), "--", *argv],
                    cwd=job_dir / "code", env=job_process_env(self._b, row, spec),
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            started = start_time(proc.pid)
            with self._b.store.engine.begin() as conn:
                changed = conn.execute(jobs_table.update().where(
                    jobs_table.c.name == row.name, jobs_table.c.status == JobStatus.STARTING.value)
                    .values(status=JobStatus.RUNNING.value, pid=proc.pid, pid_start=started,
                            start_time=now())).rowcount
            if not changed:  # canceled while starting
                with self._b.store.engine.begin() as conn:
                    conn.execute(jobs_table.update().where(jobs_table.c.name == row.name)
                                 .values(pid=proc.pid, pid_start=started))
                kill_tree(proc.pid, started, marker=job_marker(row.name, row.run_id))
            self._procs[row.name] = proc
        except Exception as exc:  # a job that cannot start fails with the reason, never hangs
            log.exception("job %s could not start", row.name)
            with open(log_path, "a") as handle:
                handle.write(f"The job could not start: {exc}\n")
            with self._b.store.engine.begin() as conn:
                conn.execute(jobs_table.update().where(jobs_table.c.name == row.name).values(
                    status=JobStatus.FAILED.value, error=f"The job could not start: {exc}", end_time=now()))
            try:
                tracking.client(self._b.tracking_uri).set_terminated(row.run_id, JobStatus.FAILED.mlflow_status)
            except Exception:  # noqa: BLE001 - the run is closed best-effort; the job row says why it failed
                pass
        finally:
            self._starting.discard(row.name)
        warm_tracking(self._b.tracking_uri)
