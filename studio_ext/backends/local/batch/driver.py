"""The batch scoring driver: a batch deployment's mini-batches over a Dask cluster.

    python -m studio_ext.backends.local.batch.driver --deployment deployment.json --input PATH --output DIR

It is the command of the ``batchscoring`` step of a batch endpoint's invocation. It reads the
deployment's scoring spec (``deployment.json``, written by the batch service), plans the
input's mini-batches (:mod:`.minibatches`), and scores them on Dask workers (:mod:`.scoring`):

- the compute's scheduler when the spec gives a ``scheduler_address`` (workers that are this
  job's own node are left out), else a ``LocalCluster`` of ``instance_count`` ×
  ``max_concurrency_per_instance`` one-thread worker processes that this driver starts and
  closes, forked from one process that imports what they need (Dask, pandas, what loading the
  model takes) once, while this driver plans the input. At most that many mini-batches run at once;
- each worker process runs the scoring script's ``init()`` once before its first mini-batch;
  a mini-batch goes to one worker, which gets its next one while it scores (two in flight per
  worker thread), so it never waits for the driver; its timeout counts from when it begins;
- a mini-batch whose ``run()`` raises, runs over ``timeout`` (its worker process is ended) or
  whose worker dies is retried up to ``max_retries`` times, on another worker when one is
  free. Once its retries are spent its items count as failed; more failed items than
  ``error_threshold`` (-1: no limit) fail the job;
- the rows of each mini-batch are committed by this process alone (on a thread of its own, in the
  order results come back, appended to one rows file with its manifest line after), atomically, so a killed
  worker or a retry never writes a row twice, and a driver run again on the same output
  folder scores only the mini-batches not yet committed. The output file
  (``output_file_name``, for ``append_row``) is built from them in mini-batch order: the
  same input gives the same bytes.

Progress goes to stderr as a tqdm line and, inside a job (``MLFLOW_RUN_ID`` set), to the
job's run as the metrics ``mini_batches_completed``, ``mini_batches_failed``,
``mini_batches_total`` (the page's progress bar) and ``rows_scored``. Failed items, with each
attempt's error, are written to
``batch_errors.json`` in the output folder and listed on stderr. The last line on stdout is the
driver's timeline (seconds from its start to each phase), kept in ``.batch/done.json`` too.

A file that lacks the columns an MLflow model with no scoring script needs (its signature's,
or for a scikit-learn model with none, the ``feature_names_in_`` it was fitted on; else the
column mismatch ``predict`` raises) is not retried: it would fail the same way every time,
and a job "Completed" with an empty output would hide why. The job fails at once with the
file and the missing columns (exit 2), and no output file is assembled. Errors of a scoring
script keep Azure's retries and ``error_threshold``.

Exit codes: 0 completed (failed items within the threshold are listed, not fatal); 1 failed
(the error threshold was passed, ``init()`` raised, no worker came); 2 the job cannot start
or its input cannot be scored (a bad spec or input, a scoring script without ``init``/``run``,
files lacking the model's columns). The last line on stderr says why.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio_ext.backends.local.batch import minibatches, scoring
from studio_ext.backends.local.batch.minibatches import ERRORS_FILE, MiniBatch, OutputState
from studio_ext.errors import StudioError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
WORKER_WAIT_SECONDS = 120.0  # no worker at all for this long fails the job
FALLBACK_SECONDS = 15.0  # a compute scheduler with no free worker for this long: score on a LocalCluster instead
POLL_SECONDS = 0.25
REFRESH_SECONDS = 1.0  # the scheduler's worker list is asked for this often (and at once when a worker was lost)
IN_FLIGHT = 2  # mini-batches sent to a worker thread at once: the next waits on the worker while the last is committed
TIMEOUT_GRACE_SECONDS = 30.0  # a run() that outlives its timeout by this much (its watchdog did not fire) is ended here
METRIC_SECONDS = 0.5
ERROR_CHARS = 600  # an error longer than this is shortened in the failed-items list

log = logging.getLogger("studio_ext.batch")
TIMELINE: dict[str, float] = {}


def _mark(phase: str) -> None:
    """Note when ``phase`` was reached, in seconds since this process started (start-up, measured)."""
    TIMELINE.setdefault(phase, round(time.monotonic() - _STARTED, 3))


def _process_started() -> float:
    """When this process started, on the ``time.monotonic()`` clock (Linux: /proc; else when this module loaded)."""
    now = time.monotonic()
    try:
        with open("/proc/self/stat") as handle:
            ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return now - max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return now


_STARTED = _process_started()


class JobFailed(Exception):
    """The job ends failed; the message is the one-line reason."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


# -- the spec ------------------------------------------------------------------------------------
@dataclass
class Settings:
    instance_count: int
    max_concurrency_per_instance: int
    mini_batch_size: int
    output_action: str
    output_file_name: str
    max_retries: int
    timeout: float
    error_threshold: int
    logging_level: str
    environment_variables: dict[str, str]

    @property
    def concurrency(self) -> int:
        return self.instance_count * self.max_concurrency_per_instance


def read_deployment(path: Path) -> tuple[dict[str, Any], Settings]:
    """The scoring spec and its settings, checked; ``JobFailed`` (exit 2) naming what is wrong."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise JobFailed(f"The deployment spec {path} does not exist.", EXIT_BAD_INPUT) from exc
    except json.JSONDecodeError as exc:
        raise JobFailed(f"The deployment spec {path} is not JSON: {exc}", EXIT_BAD_INPUT) from exc
    raw = spec.get("settings") or {}
    try:
        settings = Settings(
            instance_count=int(raw.get("instance_count", 1)),
            max_concurrency_per_instance=int(raw.get("max_concurrency_per_instance", 1)),
            mini_batch_size=int(raw.get("mini_batch_size", 10)),
            output_action=str(raw.get("output_action") or "append_row").lower(),
            output_file_name=str(raw.get("output_file_name") or "predictions.csv"),
            max_retries=int(raw.get("max_retries", 3)),
            timeout=float(raw.get("timeout", 30)),
            error_threshold=int(raw.get("error_threshold", -1)),
            logging_level=str(raw.get("logging_level") or "info"),
            environment_variables={str(k): str(v) for k, v in (raw.get("environment_variables") or {}).items()},
        )
    except (TypeError, ValueError) as exc:
        raise JobFailed(f"The deployment spec's settings are not valid: {exc}", EXIT_BAD_INPUT) from exc
    problems = []
    if settings.mini_batch_size < 1:
        problems.append(f"mini_batch_size must be at least 1; got {settings.mini_batch_size}")
    if settings.instance_count < 1 or settings.max_concurrency_per_instance < 1:
        problems.append("instance_count and max_concurrency_per_instance must be at least 1")
    if settings.output_action not in ("append_row", "summary_only"):
        problems.append(f"output_action must be append_row or summary_only; got {settings.output_action!r}")
    if settings.max_retries < 0:
        problems.append(f"max_retries must be 0 or more; got {settings.max_retries}")
    if settings.error_threshold < -1:
        problems.append(f"error_threshold must be -1 (no limit) or more; got {settings.error_threshold}")
    name = settings.output_file_name
    if settings.output_action == "append_row" and (not name or "/" in name or name.startswith(".")):
        problems.append(f"output_file_name must be a plain file name; got {name!r}")
    if problems:
        raise JobFailed("The deployment's settings are not valid: " + "; ".join(problems) + ".", EXIT_BAD_INPUT)
    script, code_dir = spec.get("scoring_script"), spec.get("code_dir")
    model = spec.get("model") or {}
    if script:
        if not code_dir:
            raise JobFailed("The deployment names a scoring script but no code folder (code_dir).", EXIT_BAD_INPUT)
        try:
            scoring.check_scoring_script(Path(code_dir) / script)
        except scoring.ScoringScriptError as exc:
            raise JobFailed(str(exc), EXIT_BAD_INPUT) from exc
    elif model.get("flavor") != "mlflow" or not model.get("path"):
        raise JobFailed("The deployment has no scoring script and its model is not an MLflow model: give it "
                        "code_configuration=CodeConfiguration(code=..., scoring_script=...) with init() and "
                        "run(mini_batch).", EXIT_BAD_INPUT)
    return spec, settings


def worker_spec(spec: dict[str, Any], settings: Settings, output: Path) -> dict[str, Any]:
    """What each worker needs to load and run the deployment (small: sent with every task)."""
    model = spec.get("model") or {}
    script = spec.get("scoring_script")
    key_parts = [spec.get("endpoint"), spec.get("deployment"), model.get("path"), spec.get("code_dir"), script]
    if script:
        stat = (Path(spec["code_dir"]) / script).stat()
        key_parts += [stat.st_mtime_ns, stat.st_size]
    return {
        "key": json.dumps(key_parts, default=str),
        "scoring_script": script, "code_dir": spec.get("code_dir"), "model_path": model.get("path"),
        "output_action": settings.output_action, "timeout": settings.timeout,
        "environment_variables": settings.environment_variables, "logging_level": settings.logging_level,
        "output_dir": str(output),
    }


# -- progress ------------------------------------------------------------------------------------
class Progress:
    """Counts, shown as a tqdm line on stderr and logged to the job's MLflow run as they change."""

    def __init__(self, total: int, completed: int, rows: int) -> None:
        self.total, self.completed, self.failed, self.rows = total, completed, 0, rows
        self.started = time.monotonic()
        self._shown = 0.0
        self._tty = sys.stderr.isatty()
        self._metrics = _MetricLogger.launch() if os.environ.get("MLFLOW_RUN_ID") else None
        self.changed()

    def changed(self, *, final: bool = False) -> None:
        if self._metrics is not None:
            self._metrics.put({"mini_batches_completed": self.completed, "mini_batches_failed": self.failed,
                               "mini_batches_total": self.total, "rows_scored": self.rows})
        now = time.monotonic()
        if final or now - self._shown >= (0.5 if self._tty else 2.0):
            self._shown = now
            self._show(final)

    def _show(self, final: bool) -> None:
        from tqdm import tqdm

        line = tqdm.format_meter(self.completed + self.failed, self.total, time.monotonic() - self.started,
                                 prefix="mini-batches", unit="mb",
                                 postfix=f"rows={self.rows:,}, failed={self.failed}")
        if self._tty:
            sys.stderr.write("\r" + line + ("\n" if final else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        self.changed(final=True)
        if self._metrics is not None:
            self._metrics.close()


class _MetricLogger(threading.Thread):
    """Logs the latest counts to the job's run at most every ``METRIC_SECONDS``, off the scheduling loop."""

    def __init__(self) -> None:
        super().__init__(name="batch-metrics", daemon=True)
        self._queue: queue.Queue[dict[str, int] | None] = queue.Queue()
        self._step = 0

    @classmethod
    def launch(cls) -> _MetricLogger:
        logger = cls()
        logger.start()
        return logger

    def put(self, values: dict[str, int]) -> None:
        self._queue.put(dict(values))

    def close(self) -> None:
        self._queue.put(None)
        self.join(timeout=30)

    def run(self) -> None:
        try:
            from mlflow.entities import Metric
            from mlflow.tracking import MlflowClient

            client, run_id = MlflowClient(), os.environ["MLFLOW_RUN_ID"]
        except Exception as exc:  # noqa: BLE001 - progress metrics are a view; scoring goes on without them
            sys.stderr.write(f"[batch] progress metrics are off: {exc!r}\n")
            return
        last: dict[str, int] | None = None
        closing = False
        while not closing:
            item = self._queue.get()
            latest = item
            while True:  # keep only the newest counts waiting
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    closing = True
                else:
                    latest = nxt
            if latest is None:
                closing = True
                latest = last
            if latest is not None and latest != last:
                now = int(time.time() * 1000)
                try:
                    client.log_batch(run_id, metrics=[Metric(k, v, now, self._step) for k, v in latest.items()])
                except Exception as exc:  # noqa: BLE001 - a busy tracking store must not stop scoring
                    sys.stderr.write(f"[batch] could not log progress metrics: {exc!r}\n")
                self._step += 1
                last = latest
            if not closing:
                time.sleep(METRIC_SECONDS)


# -- the cluster ---------------------------------------------------------------------------------
_forkserver_started = False


def start_forkserver(modules: list[str]) -> bool:
    """Start the process this driver's LocalCluster workers are forked from, importing ``modules`` once for all.

    A worker process otherwise starts a fresh interpreter that imports Dask, pandas and what
    loading the model takes (seconds of CPU, once per worker, after the cluster is up). The
    forkserver imports them once, while this driver plans the input and starts the scheduler,
    and each worker is a fork of it. Its environment is the one Dask gives a worker process
    before it starts (``distributed.nanny.pre-spawn-environ``: one BLAS/OpenMP thread, malloc
    trimming), set here as the nanny sets it. False where processes cannot be forked so (the
    workers are then spawned as Dask does by default).
    """
    global _forkserver_started
    import multiprocessing

    if _forkserver_started:
        return True
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    os.environ.update(_worker_environment())
    preload = ["distributed", scoring.__name__, *modules]
    main_name = getattr(getattr(sys.modules.get("__main__"), "__spec__", None), "name", None)
    if main_name == "studio_ext.backends.local.batch.driver":
        preload.append(main_name)  # a worker runs the main module again (as __mp_main__): imports done here
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(preload)
    forkserver.ensure_running()
    _forkserver_started = True
    return True


def _worker_environment() -> dict[str, str]:
    """The environment Dask sets before it starts a worker process (``distributed.nanny.pre-spawn-environ``).

    Read without importing distributed, which the forkserver would wait for: distributed's
    defaults file with the user's Dask configuration over it, as distributed's config loads it.
    """
    import importlib.util

    import dask.config
    import yaml

    env: dict[str, Any] = {}
    found = importlib.util.find_spec("distributed")
    if found is not None and found.origin:
        try:
            with open(Path(found.origin).parent / "distributed.yaml", encoding="utf-8") as handle:
                defaults = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
            env.update(((defaults.get("distributed") or {}).get("nanny") or {}).get("pre-spawn-environ") or {})
        except (OSError, yaml.YAMLError, AttributeError):
            pass
    env.update(dask.config.get("distributed.nanny.pre-spawn-environ", default=None) or {})
    if str(env.get("PYTHONHASHSEED", "0")) == "0":
        env["PYTHONHASHSEED"] = "6640"  # as the nanny sets it: every worker hashes alike
    return {str(k): str(v) for k, v in env.items() if v is not None}


def stop_forkserver() -> None:
    """End the forkserver once its workers are closed: left to itself it exits only after a slow teardown of all it imported."""
    global _forkserver_started
    if not _forkserver_started:
        return
    _forkserver_started = False
    import psutil

    try:
        children = psutil.Process().children()
    except psutil.Error:
        return
    for child in children:
        try:
            if "multiprocessing.forkserver" in " ".join(child.cmdline()):
                child.terminate()
        except psutil.Error:
            pass


class Cluster:
    """The Dask client, and the LocalCluster when this driver started one."""

    def __init__(self, settings: Settings, compute: dict[str, Any], preload: list[str] | None = None) -> None:
        import dask

        dask.config.set({
            "distributed.worker.daemon": False,  # a scoring script may start processes of its own
            "distributed.worker.profile.enabled": False,
            "distributed.scheduler.work-stealing": False,  # each mini-batch goes to the worker chosen for it
            "distributed.admin.tick.interval": "200ms",
        })
        from distributed import Client

        self.address = compute.get("scheduler_address") or None
        self.preload = preload or []
        self.cluster: Any = None
        self._own_ancestors = _ancestor_pids()
        if self.address:
            self.client = Client(self.address, timeout=30, set_as_default=False)
            self.description = f"the compute's Dask scheduler at {self.address}"
        else:
            self.start_local(settings)

    def start_local(self, settings: Settings) -> None:
        """A LocalCluster of ``instance_count`` x ``max_concurrency_per_instance`` one-thread worker processes."""
        from distributed import Client, LocalCluster

        if self.address:
            self.client.close(timeout=10)
            self.address = None
        import dask

        workers = settings.concurrency
        if start_forkserver(self.preload):
            dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
        self.cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, memory_limit=0, silence_logs=logging.ERROR,
            # A worker that dies fails its mini-batch at once; the driver retries it (and counts the try).
            scheduler_kwargs={"allowed_failures": 0},
        )
        self.client = Client(self.cluster, set_as_default=False)
        self.description = (f"a LocalCluster of {workers} one-thread worker processes "
                            f"({settings.instance_count} x {settings.max_concurrency_per_instance})")

    def workers(self) -> dict[str, int]:
        """Live workers by address, with their thread counts (this job's own node left out)."""
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return {addr: int(w.get("nthreads", 1)) for addr, w in info.items()}

    def excluded(self, addresses: list[str]) -> set[str]:
        """The workers among ``addresses`` that run this driver (a compute node running this job)."""
        if not self.address or not addresses:
            return set()
        try:
            pids = self.client.run(os.getpid, workers=addresses)
        except Exception:  # noqa: BLE001 - a worker that cannot answer is simply not excluded
            return set()
        return {addr for addr, pid in pids.items() if pid in self._own_ancestors}

    def end_worker(self, address: str) -> None:
        """Stop a worker stuck past its timeout (its nanny, if it has one, starts a fresh process)."""
        def _end() -> None:
            os.kill(os.getpid(), signal.SIGKILL)
        try:
            self.client.run(_end, workers=[address], wait=False)
        except Exception:  # noqa: BLE001 - it may be gone already, which is what was wanted
            pass

    def close(self) -> None:
        try:
            self.client.close(timeout=10)
        except Exception:  # noqa: BLE001 - closing on the way out
            pass
        if self.cluster is not None:
            try:
                self.cluster.close(timeout=20)
            except Exception:  # noqa: BLE001
                pass


def _ancestor_pids() -> set[int]:
    import psutil

    try:
        return {p.pid for p in psutil.Process().parents()} | {os.getpid()}
    except psutil.Error:
        return {os.getpid()}


# -- scheduling ----------------------------------------------------------------------------------
@dataclass
class _Worker:
    address: str
    slots: int
    ready: bool = False
    init: Any = None  # the init future while it runs
    running: set[str] = field(default_factory=set)


@dataclass
class _Running:
    batch: MiniBatch
    worker: str
    future: Any
    started: float  # when it was sent, then when it began (the worker's earlier mini-batch came back)
    attempt: int
    seq: int  # dispatch order: a worker runs what it was sent in this order
    began: bool  # running on its worker, not waiting behind an earlier mini-batch there


class Scorer:
    """Runs the plan's uncommitted mini-batches to their end on the cluster."""

    def __init__(self, cluster: Cluster, spec: dict[str, Any], settings: Settings, state: OutputState,
                 progress: Progress, todo: list[MiniBatch]) -> None:
        self.cluster, self.spec, self.settings, self.state, self.progress = cluster, spec, settings, state, progress
        self.pending: deque[MiniBatch] = deque(todo)
        self.workers: dict[str, _Worker] = {}
        self.excluded: set[str] = set()
        self.running: dict[str, _Running] = {}
        self.attempts: dict[int, list[dict[str, Any]]] = {}
        self.failed: dict[int, MiniBatch] = {}
        self.committed: list[int] = []
        self.peak_rss: dict[str, int] = {}
        self.base_rss: dict[str, int] = {}
        # resident memory a mini-batch added over what its worker held when it began: the worker's first
        # (which also maps the library code its first predict touches, once), and the most of any later one
        self.first_growth: dict[str, int] = {}
        self.growth: dict[str, int] = {}
        self.failed_items = 0
        self._token = uuid.uuid4().hex[:8]
        self._seq = 0
        # Commits (a part and a manifest line, each flushed to disk) run on one thread of their own, in the
        # order results came back, so the loop goes on sending and collecting while the disk catches up.
        self._committer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="batch-commit")
        self.commits: deque[tuple[_Running, concurrent.futures.Future[dict[str, Any]], int | None]] = deque()
        self._no_worker_since = time.monotonic()
        self._wake = threading.Event()
        self._refreshed = 0.0
        self._suspect_lost = False  # a future failed as its worker went: refresh the worker list at once
        self.first_dispatch: float | None = None  # scoring time: first mini-batch sent to the last one back
        self.last_result: float | None = None

    def run(self) -> None:
        try:
            while self.pending or self.running or self.commits:
                if self._refresh_due():
                    self._refresh_workers()
                self._dispatch()
                # Each future wakes the loop as it finishes (a callback sets the event): no call to the
                # scheduler while nothing has changed. The timeout keeps the checks on timeouts and lost workers going.
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()
                self._collect()
                self._check_overdue()
                self._record_commits()
        finally:
            self._committer.shutdown(wait=True)  # a commit under way ends whole: its rows, then its line

    def _notify(self, _future: Any) -> None:
        self._wake.set()

    def _refresh_due(self) -> bool:
        """Ask the scheduler for its workers every REFRESH_SECONDS, and every pass while none is ready or one was lost."""
        now = time.monotonic()
        if (self._suspect_lost or now - self._refreshed >= REFRESH_SECONDS
                or not any(w.ready for w in self.workers.values())):
            self._refreshed, self._suspect_lost = now, False
            return True
        return False

    # workers
    def _refresh_workers(self) -> None:
        try:
            live = self.cluster.workers()
        except OSError as exc:
            raise JobFailed(f"Lost the connection to {self.cluster.description}: {exc}. The committed "
                            "mini-batches are kept; invoke again on the same output to resume.") from exc
        for address in [a for a in self.workers if a not in live]:
            self._lost(address)
        new = [a for a in live if a not in self.workers and a not in self.excluded]
        if new:
            self.excluded |= self.cluster.excluded(new)
        for address in new:
            if address in self.excluded:
                continue
            worker = _Worker(address, live[address])
            worker.init = self.cluster.client.submit(
                scoring.init_worker, self.spec, key=f"batch-init-{self._token}-{uuid.uuid4().hex[:8]}",
                workers=[address], allow_other_workers=False, pure=False)
            worker.init.add_done_callback(self._notify)
            self.workers[address] = worker
        if any(w.ready for w in self.workers.values()) or any(w.init for w in self.workers.values()):
            self._no_worker_since = time.monotonic()
        elif self.cluster.address and time.monotonic() - self._no_worker_since > FALLBACK_SECONDS:
            print(f"[batch] {self.cluster.description} has no free worker (its nodes run jobs); scoring on a "
                  "LocalCluster of this node instead.", flush=True)
            self.cluster.start_local(self.settings)
            self.workers.clear()
            self._no_worker_since = time.monotonic()
        elif time.monotonic() - self._no_worker_since > WORKER_WAIT_SECONDS:
            raise JobFailed(f"No Dask worker was available on {self.cluster.description} for "
                            f"{WORKER_WAIT_SECONDS:g} s; start the compute's nodes and invoke again.")

    def _lost(self, address: str) -> None:
        worker = self.workers.pop(address)
        if worker.init is not None:
            worker.init.cancel()
        for key in sorted(worker.running, key=lambda k: self.running[k].seq):
            run = self.running.pop(key)
            run.future.cancel()
            if run.began:
                self._attempt_failed(run, self._death_reason(run), "worker_lost")
            else:  # it was waiting behind another on that worker: not tried, so not counted
                self.pending.appendleft(run.batch)

    def _death_reason(self, run: _Running) -> str:
        elapsed = time.monotonic() - run.started
        # run.started is when the driver saw the worker's earlier mini-batch back: a little after it began
        if self.settings.timeout > 0 and elapsed >= self.settings.timeout - 1.0:
            return (f"timed out: run(mini_batch) took longer than the {self.settings.timeout:g} s timeout; "
                    "its worker process was ended")
        return f"the worker process {run.worker} ended while scoring it (killed, or out of memory)"

    # dispatch
    def _dispatch(self) -> None:
        # Up to IN_FLIGHT mini-batches per worker thread: the worker starts the next one as soon as it
        # sends a result back, rather than after the driver has received and committed it and sent another.
        # At most concurrency mini-batches run at once; the others wait on their worker.
        limit = self.settings.concurrency * IN_FLIGHT
        for worker in self.workers.values():
            while (worker.ready and len(worker.running) < worker.slots * IN_FLIGHT and self.pending
                   and len(self.running) < limit):
                batch = self._next_for(worker.address)
                attempt = len(self.attempts.get(batch.index, [])) + 1
                key = f"batch-mb-{self._token}-{batch.index}-{attempt}-{self._seq}"
                future = self.cluster.client.submit(
                    scoring.score_mini_batch, self.spec, batch.index, batch.payload, key=key,
                    workers=[worker.address], allow_other_workers=False, pure=False)
                future.add_done_callback(self._notify)
                began = sum(1 for k in worker.running if self.running[k].began) < worker.slots
                self.running[key] = _Running(batch, worker.address, future, time.monotonic(), attempt, self._seq,
                                             began)
                self._seq += 1
                if self.first_dispatch is None:
                    self.first_dispatch = time.monotonic()
                    _mark("first_sent")
                worker.running.add(key)

    def _ended(self, key: str, run: _Running) -> None:
        """``run`` left its worker: the next one waiting there begins."""
        del self.running[key]
        worker = self.workers.get(run.worker)
        if worker is None:
            return
        worker.running.discard(key)
        waiting = sorted((self.running[k] for k in worker.running), key=lambda r: r.seq)
        began = sum(1 for r in waiting if r.began)
        for nxt in waiting:
            if began >= worker.slots:
                break
            if not nxt.began:
                nxt.began, nxt.started = True, time.monotonic()
                began += 1

    def _next_for(self, address: str) -> MiniBatch:
        """The next pending mini-batch, skipping one whose last try failed on this worker while others wait."""
        for i, batch in enumerate(self.pending):
            tries = self.attempts.get(batch.index)
            if not tries or tries[-1].get("worker") != address:
                del self.pending[i]
                return batch
        return self.pending.popleft()

    # results
    def _collect(self) -> None:
        for worker in list(self.workers.values()):
            if worker.init is not None and worker.init.done():
                future, worker.init = worker.init, None
                if future.status == "finished":
                    info = future.result()
                    worker.ready = True
                    _mark("first_worker_ready")
                    if info.get("rss"):
                        self.base_rss[worker.address] = info["rss"]
                    print(f"[batch] worker {worker.address} (pid {info['pid']}) ready: init() took "
                          f"{info['seconds']:.2f} s", flush=True)
                elif future.status == "error":
                    exc = future.exception()
                    if _is_killed_worker(exc):
                        self._suspect_lost = True
                        continue  # the worker died during init; its replacement will init afresh
                    raise JobFailed("init() of the scoring deployment failed on worker "
                                    f"{worker.address}: {_describe(exc, future.traceback())}")
        for key, run in sorted(self.running.items(), key=lambda kv: kv[1].seq):
            if not run.future.done():
                continue
            self._ended(key, run)
            self.last_result = time.monotonic()
            if run.future.status == "finished":
                result = run.future.result()
                run.future = None  # the worker lets go of the result
                if result.get("input_error"):
                    self._input_unusable(run, scoring.InputColumnsError(result["input_error"]))
                commit = self._committer.submit(self.state.commit, run.batch.index, result["rows"], result["text"],
                                                run.attempt)
                commit.add_done_callback(self._notify)
                self.commits.append((run, commit, result.get("peak_rss")))
                self._note_growth(run.worker, result)
            elif run.future.status == "error":
                exc = run.future.exception()
                self._suspect_lost = self._suspect_lost or _is_killed_worker(exc)
                if _is_killed_worker(exc) and not run.began:  # it waited behind the one that took its worker down
                    self.pending.appendleft(run.batch)
                elif _is_killed_worker(exc):
                    self._attempt_failed(run, self._death_reason(run), "worker_lost")
                elif isinstance(exc, scoring.InputColumnsError):
                    self._input_unusable(run, exc)
                else:
                    self._attempt_failed(run, _describe(exc, run.future.traceback()), "raised")
            else:  # cancelled by someone else (a scheduler restart): try again, not counted
                self._suspect_lost = True
                self.pending.appendleft(run.batch)

    def _note_growth(self, worker: str, result: dict[str, Any]) -> None:
        if not result.get("peak_rss") or not result.get("rss_start"):
            return
        grew = max(0, int(result["peak_rss"]) - int(result["rss_start"]))
        if worker not in self.first_growth:
            self.first_growth[worker] = grew
        else:
            self.growth[worker] = max(self.growth.get(worker, 0), grew)

    def _record_commits(self) -> None:
        """Count the mini-batches whose commit has reached the disk, in the order they were committed."""
        while self.commits and self.commits[0][1].done():
            run, commit, peak = self.commits.popleft()
            entry = commit.result()  # a commit that failed (a full disk) ends the job with its error
            self.committed.append(run.batch.index)
            self.progress.completed += 1
            self.progress.rows += entry["rows"]
            if peak:
                self.peak_rss[run.worker] = max(self.peak_rss.get(run.worker, 0), peak)
            self.progress.changed()

    def _check_overdue(self) -> None:
        if self.settings.timeout <= 0:
            return
        now = time.monotonic()
        for key, run in list(self.running.items()):
            if key not in self.running:
                continue  # requeued below: its worker was ended for another one's timeout
            if run.began and now - run.started > self.settings.timeout + TIMEOUT_GRACE_SECONDS:
                self._ended(key, run)
                run.future.cancel()
                self.cluster.end_worker(run.worker)
                self._suspect_lost = True
                self._attempt_failed(run, f"timed out: run(mini_batch) took longer than the "
                                          f"{self.settings.timeout:g} s timeout; its worker was ended", "timeout")

    def _attempt_failed(self, run: _Running, error: str, kind: str) -> None:
        tries = self.attempts.setdefault(run.batch.index, [])
        tries.append({"attempt": run.attempt, "kind": "timeout" if error.startswith("timed out") else kind,
                      "error": error, "worker": run.worker,
                      "seconds": round(time.monotonic() - run.started, 3)})
        what = ", ".join(Path(n).name for n in run.batch.names()[:3]) + (" ..." if run.batch.count > 3 else "")
        if len(tries) <= self.settings.max_retries:
            print(f"[batch] mini-batch {run.batch.index} ({what}) attempt {run.attempt} failed, retrying "
                  f"({len(tries)} of {self.settings.max_retries} retries): {error}", flush=True)
            self.pending.appendleft(run.batch)
            return
        print(f"[batch] mini-batch {run.batch.index} ({what}) failed after {len(tries)} attempts: {error}",
              flush=True)
        self.failed[run.batch.index] = run.batch
        self.failed_items += run.batch.count
        self.progress.failed += 1
        self.progress.changed()
        threshold = self.settings.error_threshold
        if threshold != -1 and self.failed_items > threshold:
            raise JobFailed(f"{self.failed_items} failed items passed the error threshold of {threshold}")

    def _input_unusable(self, run: _Running, exc: BaseException) -> None:
        """An input file lacks the MLflow model's columns: the job fails now, with no retry.

        The same file fails the same way on every try and on every worker, so retrying it (and
        scoring the other files, whose rows would make a partial output that looks complete) only
        hides the reason; the job fails with it, as an input error, and nothing is assembled.
        """
        error = _describe(exc, None)
        self.attempts.setdefault(run.batch.index, []).append(
            {"attempt": run.attempt, "kind": "input_columns", "error": error, "worker": run.worker,
             "seconds": round(time.monotonic() - run.started, 3)})
        self.failed[run.batch.index] = run.batch
        self.failed_items += run.batch.count
        self.progress.failed += 1
        self.progress.changed()
        raise JobFailed(f"{' '.join(str(exc).split())} The model's input columns are the same for every file, so the "
                        "job stops here without retrying; no predictions were written.", EXIT_BAD_INPUT)

    def cancel_running(self) -> None:
        for run in self.running.values():
            run.future.cancel()
        self.running.clear()
        self._committer.shutdown(wait=True)

    def errors_document(self) -> dict[str, Any]:
        return {
            "failed_items": self.failed_items, "error_threshold": self.settings.error_threshold,
            "max_retries": self.settings.max_retries, "timeout": self.settings.timeout,
            "mini_batches": [{"index": b.index, "items": b.names(), "attempts": self.attempts.get(b.index, [])}
                             for b in sorted(self.failed.values(), key=lambda b: b.index)],
        }


def _is_killed_worker(exc: BaseException | None) -> bool:
    from distributed.scheduler import KilledWorker

    return isinstance(exc, KilledWorker)


def _describe(exc: BaseException | None, tb: Any) -> str:
    if exc is None:
        return "unknown error"
    frames = traceback.extract_tb(tb) if tb is not None else []
    where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames)
                  if "studio_ext" not in f.filename and "site-packages" not in f.filename
                  and "distributed" not in f.filename), None)
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    if len(text) > ERROR_CHARS:  # a model's message may hold the whole input; keep its start and its end
        text = text[:ERROR_CHARS // 2] + " ... " + text[-ERROR_CHARS // 2:]
    return f"{text} (at {where})" if where else text


# -- the job -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio_ext.backends.local.batch.driver",
                                     description="Score a batch deployment's mini-batches over a Dask cluster.")
    parser.add_argument("--deployment", required=True, type=Path, help="the deployment's deployment.json")
    parser.add_argument("--input", required=True, type=Path, help="a file, a folder, or an MLTable folder")
    parser.add_argument("--output", required=True, type=Path, help="the output folder (the 'score' output)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _score(args.deployment, args.input, args.output)
    except JobFailed as exc:
        sys.stderr.write(f"batch scoring failed: {exc}\n")
        return exc.code


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _score(deployment: Path, input_path: Path, output: Path) -> int:
    started = time.monotonic()
    _mark("imported")
    spec, settings = read_deployment(deployment)
    input_path = input_path.resolve()
    if not input_path.exists():
        raise JobFailed(f"The input {input_path} does not exist; give an existing file or folder.", EXIT_BAD_INPUT)
    output = output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    keep_rows = settings.output_action == "append_row"
    state = OutputState(output, settings.output_file_name if keep_rows else None)
    compute = spec.get("compute") or {}
    preload = scoring.preload_modules((spec.get("model") or {}).get("path"), spec.get("scoring_script"))
    if not compute.get("scheduler_address") and state.already_done() is None:
        start_forkserver(preload)  # the workers' imports go on while the input is planned and the cluster starts
        _mark("forkserver_started")
    fingerprint_settings = {"output_action": settings.output_action, "output_file_name": settings.output_file_name,
                            "model": (spec.get("model") or {}).get("path"), "script": spec.get("scoring_script"),
                            "endpoint": spec.get("endpoint"), "deployment": spec.get("deployment")}
    try:
        plan = minibatches.plan(input_path, settings.mini_batch_size, state.open_table_dir(),
                                settings=fingerprint_settings)
    except (OSError, ValueError, StudioError) as exc:  # StudioError: the MLTable engine's InvalidInput, UnsafePath
        raise JobFailed(f"The input {input_path} cannot be read: {exc}", EXIT_BAD_INPUT) from exc
    committed, note = state.open(plan.fingerprint)
    _mark("planned")
    if note:
        print(f"[batch] {note}", flush=True)
    errors_file = output / ERRORS_FILE
    done = state.already_done()
    if done is not None:
        print(f"[batch] {output} already holds this job's complete output "
              f"({done.get('rows', 0):,} rows); nothing to score.", flush=True)
        return EXIT_OK
    errors_file.unlink(missing_ok=True)
    todo = [b for b in plan.batches if b.index not in committed]
    unit = "rows" if plan.kind == "mltable" else "files"
    print(f"[batch] {spec.get('endpoint')}/{spec.get('deployment')}: {plan.items:,} {unit} of {input_path} "
          f"({plan.kind}) in {len(plan.batches)} mini-batches; {len(committed)} already committed, "
          f"{len(todo)} to score.", flush=True)
    progress = Progress(len(plan.batches), len(committed), sum(int(e.get("rows", 0)) for e in committed.values()))
    scorer: Scorer | None = None
    cluster: Cluster | None = None
    try:
        if todo:
            cluster = Cluster(settings, compute, preload)
            _mark("cluster_started")
            print(f"[batch] scoring on {cluster.description}; at most {settings.concurrency} mini-batches at once, "
                  f"timeout {settings.timeout:g} s, {settings.max_retries} retries, error threshold "
                  f"{settings.error_threshold}.", flush=True)
            scorer = Scorer(cluster, worker_spec(spec, settings, output), settings, state, progress, todo)
            try:
                scorer.run()
            except JobFailed:
                scorer.cancel_running()
                _write_errors(errors_file, scorer)
                raise
            if scorer.peak_rss:
                peaks = ", ".join(f"{_mb(scorer.peak_rss[a])} (after init {_mb(scorer.base_rss.get(a))})"
                                  for a in sorted(scorer.peak_rss))
                print(f"[batch] peak memory per worker while scoring: {peaks}", flush=True)
            if scorer.first_growth:
                grew = ", ".join(f"first {_mb(scorer.first_growth[a])}, then at most {_mb(scorer.growth.get(a))}"
                                 for a in sorted(scorer.first_growth))
                print(f"[batch] memory a mini-batch added per worker: {grew}", flush=True)
        _mark("scored")
    finally:
        progress.close()
        if cluster is not None:
            cluster.close()
            _mark("cluster_closed")
        stop_forkserver()
    failed = scorer.failed if scorer is not None else {}
    if failed and scorer is not None:
        _write_errors(errors_file, scorer)
    all_committed = sorted(set(committed) | set(scorer.committed if scorer else []))
    summary: dict[str, Any] = {"mini_batches": len(plan.batches), "completed": len(all_committed),
                               "failed": len(failed), "rows": progress.rows,
                               "seconds": round(time.monotonic() - started, 3)}
    if scorer is not None and scorer.first_dispatch is not None and scorer.last_result is not None:
        summary["scoring_seconds"] = round(scorer.last_result - scorer.first_dispatch, 3)
    if keep_rows:
        summary["output_bytes"] = state.assemble(all_committed)
    _mark("output_written")
    _mark("finished")
    summary["timeline"] = dict(TIMELINE)
    state.finish(complete=not failed, summary=summary)
    where = f" -> {state.output_file} ({summary['output_bytes']:,} bytes)" if keep_rows else " (summary only)"
    print(f"[batch] done: {len(all_committed)} of {len(plan.batches)} mini-batches, {progress.rows:,} rows{where} "
          f"in {summary['seconds']:.2f} s.", flush=True)
    print("[batch] timeline, seconds since the driver started: "
          + ", ".join(f"{k.replace('_', ' ')} {v:.2f}" for k, v in TIMELINE.items()), flush=True)
    if failed and scorer is not None:
        sys.stderr.write(f"[batch] {scorer.failed_items} failed items (within the error threshold of "
                         f"{settings.error_threshold}), listed in {errors_file}\n")
    return EXIT_OK


def _write_errors(path: Path, scorer: Scorer) -> None:
    doc = scorer.errors_document()
    if not doc["mini_batches"]:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)
    for batch in doc["mini_batches"]:
        last = batch["attempts"][-1]["error"] if batch["attempts"] else "unknown error"
        for item in batch["items"]:
            sys.stderr.write(f"[batch] failed: {item}: {last}\n")


def _mb(value: int | None) -> str:
    return "?" if value is None else f"{value / 2**20:.2f} MB"


def _exit_now(code: int) -> None:
    """Leave once the job's end is on disk and its cluster, forkserver and threads are closed.

    The interpreter's own teardown of the modules a driver imports (Dask, pandas, SQLAlchemy
    through the package) takes a few tenths of a second and writes nothing, so it is skipped.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main())
