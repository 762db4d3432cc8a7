"""The supervisor's compute duty: owns the clusters and runs the jobs sent to them.

One controller thread per compute target reconciles what the ``computes`` table
asks for (running, stopped, deleted; size; restarts) with what runs, and records
what it sees there. It dispatches the target's jobs to free nodes, one job per
node slot, so jobs wait in Queued while every node is busy; it finalizes them with
the same code as local jobs. On a cluster at its full size, each busy node also
holds the next waiting job in its own Dask queue (still Queued): the node starts it
the moment its running job ends, instead of waiting for the controller to notice.
After a supervisor restart it adopts the jobs still running (by future on an attached scheduler, by pid on this machine) or fails them
with the reason: no job stays Running forever.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from studio_ext.entities import ComputeState, ComputeType, JobStatus
from studio_ext.errors import BackendUnavailable, StudioError
from studio_ext.backends.local.compute import node as compute_node
from studio_ext.backends.local.compute import store as compute_store
from studio_ext.backends.local.core import tracking
from studio_ext.backends.local.compute.store import Desired
from studio_ext.backends.local.jobs.runner import WRAPPER, finalize_job, job_argv, job_process_env, read_exit, warm_tracking
from studio_ext.backends.local.jobs.service import ACTIVE_STATES, kill_tree, pid_alive
from studio_ext.backends.local.core.schema import computes
from studio_ext.backends.local.core.schema import jobs as jobs_table
from studio_ext.backends.local.core.store import now

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

log = logging.getLogger("studio_ext.supervisor.compute")
SCAN_SECONDS = 0.25
STEP_SECONDS = 0.2
HEARTBEAT_SECONDS = 5.0
ATTACHED_RETRY_SECONDS = 5.0
_WAITING = (JobStatus.NOT_STARTED.value, JobStatus.QUEUED.value)
_DISPATCHED = (JobStatus.STARTING.value, JobStatus.RUNNING.value)
# Jobs that drive tasks on their own cluster (an AutoML job's trials): their Dask thread is given back
# to the node for those tasks, while the node still counts as taken for other jobs.
SLOT_FREEING_JOB_TYPES = ("automl",)
NODES_TAG = "max_concurrent_trials"  # on such a job: how many nodes its tasks can use at once


def nodes_wanted(row: Any) -> int:
    """Nodes a job can keep busy: one, or its ``max_concurrent_trials`` for a job that sends trials."""
    if row is None or row.type not in SLOT_FREEING_JOB_TYPES:
        return 1
    try:
        return max(1, int(json.loads(row.spec).get("tags", {}).get(NODES_TAG, 1)))
    except (TypeError, ValueError):
        return 1


@dataclass
class Tracked:
    """A job this controller sent to a node (or adopted after a restart)."""

    node: str | None = None
    future: Any = None
    preparing: bool = True
    running: bool = False
    cancel_sent: bool = False
    by_pid: bool = False
    pid: int | None = None
    pid_start: float | None = None
    host: str | None = None
    nodes: int = 1  # nodes the job can keep busy (see nodes_wanted): what the cluster scales to
    plain: bool = False  # a job that only keeps its own node busy (no tasks of its own on the cluster)
    staged: bool = False  # sent to a busy node to start when its job ends; Queued until it does
    withdrawn: bool = False  # staged, then held back because the target stops or restarts


class ComputeRunner:
    """The duty: one :class:`ComputeController` per target, plus jobs whose target is gone."""

    busy_tick_seconds = SCAN_SECONDS  # the controllers run in threads of their own

    def __init__(self, backend: "LocalBackend") -> None:
        self._b = backend
        self._controllers: dict[str, ComputeController] = {}
        self._deleted: set[str] = set()  # targets deleted while this supervisor ran
        self._next_scan = 0.0
        self.finalizer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="compute-finalize")
        self.preparer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="compute-launch")

    def recover(self) -> None:
        if compute_store.read_all(self._b.store.engine):
            # Loading MLflow takes seconds; do it now rather than when the first job ends.
            self.finalizer.submit(tracking.client, self._b.tracking_uri)
        self._scan()

    def tick(self) -> None:
        if time.monotonic() >= self._next_scan:
            self._next_scan = time.monotonic() + SCAN_SECONDS
            self._scan()

    def busy(self) -> bool:
        """True while a target runs or has jobs: the supervisor must stay to own them."""
        return any(c.is_alive() and (c.pool is not None or c.tracked) for c in self._controllers.values())

    def shutdown(self) -> None:
        """Stop the controllers and close their clusters; running jobs are adopted next time."""
        for controller in self._controllers.values():
            controller.stop()
        for controller in self._controllers.values():
            controller.join(timeout=30)
        self.preparer.shutdown(wait=False, cancel_futures=True)
        self.finalizer.shutdown(wait=True)

    def _scan(self) -> None:
        names = set(compute_store.names(self._b.store.engine))
        for name in names:
            current = self._controllers.get(name)
            if current is None or not current.is_alive():
                controller = ComputeController(self._b, self, name)
                self._controllers[name] = controller
                controller.start()
        for name in [n for n, c in self._controllers.items() if not c.is_alive() and n not in names]:
            del self._controllers[name]
            self._deleted.add(name)
        if self._deleted:
            self._fail_jobs_of_deleted(self._deleted - names)

    def _fail_jobs_of_deleted(self, deleted: set[str]) -> None:
        """Jobs that reached a target just as it was deleted: end them with the reason."""
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs_table.c.name, jobs_table.c.compute).where(
                jobs_table.c.compute.in_(deleted), jobs_table.c.status.in_(_WAITING))).all()
        for row in rows:
            reason = (f"The compute target {row.compute!r} was deleted. Create it again "
                      "(ws.compute.begin_create_or_update) or resubmit to another compute.")
            if _claim(self._b, row.name, _WAITING, JobStatus.STARTING):
                self.finalizer.submit(finalize_job, self._b, row.name, {"exit_code": None, "error": reason})


def _claim(backend: "LocalBackend", name: str, from_states: tuple[str, ...], to: JobStatus, **values: Any) -> bool:
    """Move a job between states only if nobody else moved it first."""
    with backend.store.engine.begin() as conn:
        return bool(conn.execute(jobs_table.update().where(
            jobs_table.c.name == name, jobs_table.c.status.in_(from_states))
            .values(status=to.value, **values)).rowcount)


class ComputeController:
    """Reconciles one compute target and runs its jobs, in its own thread, until the target is deleted."""

    def __init__(self, backend: "LocalBackend", runner: ComputeRunner, name: str) -> None:
        self._thread = threading.Thread(target=self._run, name=f"compute-{name}", daemon=True)
        self._b = backend
        self._runner = runner
        self.compute_name = name
        self._stop_event = threading.Event()
        self._wake = threading.Event()  # set when a job's future ends: react at once
        self._lock = threading.Lock()
        self.pool: Any = None
        self.tracked: dict[str, Tracked] = {}
        self._finalizing: set[str] = set()
        self._applied_generation = 0
        self._applied_restarts: int | None = None
        self._retry_at = 0.0
        self._last_observed: dict[str, Any] = {}
        self._last_write = 0.0
        self._last_activity = time.monotonic()
        self._adopted_once = False

    # -- thread -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def stop(self) -> None:
        self._stop_event.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop_event.is_set():
            try:
                if not self._step():
                    return
            except Exception:  # keep reconciling; the next step may succeed
                log.exception("compute %s: step failed", self.compute_name)
            self._wake.wait(STEP_SECONDS)
            self._wake.clear()
        self._close_pool()
        row = compute_store.read(self._b.store.engine, self.compute_name)
        if row is not None and row.desired == Desired.RUNNING.value:
            compute_store.observe(self._b.store.engine, self.compute_name, state=ComputeState.STOPPED.value,
                                  current_nodes=0, busy_nodes=0, nodes=[], scheduler_address=None,
                                  dashboard_link=None, last_operation=(
                                      "The workspace supervisor stopped; the compute starts again "
                                      "as soon as the workspace is used."))

    # -- one reconcile step -------------------------------------------------------------
    def _step(self) -> bool:
        row = compute_store.read(self._b.store.engine, self.compute_name)
        if row is None:
            self._close_pool()
            return False
        if self._applied_restarts is None:
            self._applied_restarts = row.restarts
        desired = Desired(row.desired)
        if desired != Desired.RUNNING or row.restarts != self._applied_restarts:
            self._withdraw_staged()
        if desired == Desired.DELETED:
            return self._delete_target(row)
        self._watch()
        if desired == Desired.STOPPED:
            if not self._adopted_once and self.pool is None:
                self._adopt()
            self._stop_pool(row, ComputeState.STOPPING, ComputeState.STOPPED)
            self._mark_queued()
            return True
        starting = ComputeState.CREATING if row.state == ComputeState.CREATING.value else ComputeState.STARTING
        if self.pool is not None and row.restarts != self._applied_restarts:
            if not self._stop_pool(row, ComputeState.RESTARTING, None):
                return True
            self._applied_restarts, starting = -1, ComputeState.RESTARTING
        if self.pool is None:
            if row.restarts != self._applied_restarts or row.generation != self._applied_generation:
                self._retry_at = 0.0  # the user asked again: try again now
            if not self._start_pool(row, starting):
                self._fail_waiting(row)
                return True
        if row.generation != self._applied_generation:
            self._apply_spec(row)
        if not self._adopted_once:
            self._adopt()
        problem = self.pool.healthy() if self.pool is not None else None
        if problem:
            self._on_lost(row, problem)
            return True
        if self.pool is None:
            return True
        try:
            nodes = self.pool.nodes()  # one scheduler round trip per step, shared below
        except BackendUnavailable:
            return True  # the pool's healthy() says so on the next step
        self._dispatch(row, nodes)
        self._observe(row, nodes)
        self._idle_shutdown(row)
        return True

    # -- pool lifecycle -------------------------------------------------------------------
    def _start_pool(self, row: Any, starting: ComputeState) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        from studio_ext.backends.local.compute.pools import AttachedPool, InstancePool, LocalClusterPool

        spec = json.loads(row.spec)
        kind = ComputeType(row.type)
        retrying = self._retry_at > 0 and row.restarts == self._applied_restarts
        self._applied_restarts = row.restarts
        if not retrying:  # a quiet retry keeps showing Failed until it works
            compute_store.observe(self._b.store.engine, self.compute_name, state=starting.value, error=None)
        try:
            if kind == ComputeType.COMPUTE_INSTANCE:
                self.pool = InstancePool(spec.get("max_concurrent_jobs") or os.cpu_count() or 1)
            elif kind == ComputeType.AML_COMPUTE:
                self.pool = LocalClusterPool(self.compute_name, spec["min_instances"], spec["max_instances"],
                                             float(spec["idle_time_before_scale_down"]))
            else:
                timeout = float(spec["connect_timeout"])
                self.pool = AttachedPool(spec["address"], min(timeout, ATTACHED_RETRY_SECONDS) if retrying else timeout)
        except Exception as exc:  # recorded as the target's failure; retried for attached schedulers
            message = exc.message if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"
            log.warning("compute %s could not start: %s", self.compute_name, message)
            self.pool = None
            self._retry_at = time.monotonic() + ATTACHED_RETRY_SECONDS if kind == ComputeType.ATTACHED else float("inf")
            compute_store.observe(self._b.store.engine, self.compute_name, state=ComputeState.FAILED.value,
                                  error=message, current_nodes=0, busy_nodes=0, nodes=[],
                                  applied_generation=row.generation, applied_restarts=row.restarts)
            self._applied_generation = row.generation
            if not self._adopted_once:
                self._adopt()
            return False
        self._retry_at = 0.0
        self._applied_generation = row.generation
        self._last_activity = time.monotonic()
        self._last_observed = {}
        self._adopted_once = False
        return True

    def _apply_spec(self, row: Any) -> None:
        """A changed size applies in place; a changed address reconnects."""
        from studio_ext.backends.local.compute.pools import LocalClusterPool

        spec = json.loads(row.spec)
        if isinstance(self.pool, LocalClusterPool):
            self.pool.resize(spec["min_instances"], spec["max_instances"], float(spec["idle_time_before_scale_down"]))
        elif ComputeType(row.type) == ComputeType.COMPUTE_INSTANCE:
            self.pool.slots = spec.get("max_concurrent_jobs") or os.cpu_count() or 1
        elif self.pool is not None and self.pool.scheduler_address != spec["address"]:
            self._close_pool()
            return
        self._applied_generation = row.generation
        self._last_observed = {}

    def _stop_pool(self, row: Any, during: ComputeState, after: ComputeState | None) -> bool:
        """Close the pool once no job runs on it; True when it is closed."""
        if self.tracked and any(not t.by_pid for t in self.tracked.values()):
            compute_store.observe(self._b.store.engine, self.compute_name, state=during.value)
            return False
        if self.pool is not None:
            compute_store.observe(self._b.store.engine, self.compute_name, state=during.value)
            self._close_pool()
        if after is not None:
            values = {"state": after.value, "current_nodes": 0, "busy_nodes": 0, "nodes": [],
                      "scheduler_address": None, "dashboard_link": None, "error": None,
                      "applied_generation": row.generation, "applied_restarts": row.restarts}
            if self._last_observed != values:
                compute_store.observe(self._b.store.engine, self.compute_name, **values)
                self._last_observed = values
        self._applied_generation = row.generation
        self._applied_restarts = row.restarts
        return True

    def _close_pool(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            pool.close()

    def _delete_target(self, row: Any) -> bool:
        self._watch()
        reason = f"Its compute target {self.compute_name!r} was deleted before the job could start."
        for job in self._job_rows(_WAITING):  # submitted while the delete was under way
            if _claim(self._b, job.name, _WAITING, JobStatus.CANCELED, error=reason, end_time=now()):
                self._finalize(job.name, None)
        if not self._stop_pool(row, ComputeState.DELETING, None):
            return True
        if self._active_rows():
            return True  # canceled jobs still finalizing
        with self._b.store.engine.begin() as conn:
            conn.execute(computes.delete().where(computes.c.name == self.compute_name,
                                                 computes.c.desired == Desired.DELETED.value))
        return False

    def _on_lost(self, row: Any, problem: str) -> None:
        """An attached scheduler went away: fail the target, try again soon."""
        for name, t in list(self.tracked.items()):
            if t.future is not None and not t.preparing:
                self._finish(name, t, {"outcome": "lost", "error": problem})
        self._close_pool()
        self._retry_at = time.monotonic() + ATTACHED_RETRY_SECONDS
        compute_store.observe(self._b.store.engine, self.compute_name, state=ComputeState.FAILED.value,
                              error=problem + " Retrying every few seconds.", current_nodes=0, busy_nodes=0,
                              nodes=[])
        self._last_observed = {}

    # -- jobs ----------------------------------------------------------------------------
    def _job_rows(self, states: tuple[str, ...]) -> list[Any]:
        with self._b.store.engine.connect() as conn:
            return conn.execute(sa.select(jobs_table).where(
                jobs_table.c.compute == self.compute_name, jobs_table.c.status.in_(states))
                .order_by(jobs_table.c.created_at)).all()

    def _waiting_rows(self) -> list[Any]:
        """Jobs waiting for this target, oldest first; the spec only where scheduling reads it."""
        spec = sa.case((jobs_table.c.type.in_(SLOT_FREEING_JOB_TYPES), jobs_table.c.spec), else_=sa.null())
        with self._b.store.engine.connect() as conn:
            return conn.execute(sa.select(jobs_table.c.name, jobs_table.c.status, jobs_table.c.type,
                                          spec.label("spec")).where(
                jobs_table.c.compute == self.compute_name, jobs_table.c.status.in_(_WAITING))
                .order_by(jobs_table.c.created_at)).all()

    def _active_rows(self) -> list[Any]:
        rows = self._job_rows(tuple(s.value for s in ACTIVE_STATES) + (JobStatus.CANCELED.value,))
        return [r for r in rows if r.status != JobStatus.CANCELED.value or r.finalized_at is None]

    def _mark_queued(self, waiting: list[Any] | None = None) -> None:
        """Show new jobs as Queued; a write only when one of ``waiting`` (or any job) is NotStarted."""
        if waiting is None:
            waiting = self._job_rows((JobStatus.NOT_STARTED.value,))
        if not any(r.status == JobStatus.NOT_STARTED.value for r in waiting):
            return
        with self._b.store.engine.begin() as conn:
            conn.execute(jobs_table.update().where(
                jobs_table.c.compute == self.compute_name, jobs_table.c.status == JobStatus.NOT_STARTED.value)
                .values(status=JobStatus.QUEUED.value))

    def _fail_waiting(self, row: Any) -> None:
        """Jobs waiting for a target that failed to start end Failed with its error."""
        current = compute_store.read(self._b.store.engine, self.compute_name)
        if current is None or current.state != ComputeState.FAILED.value:
            return
        reason = (f"The compute target {self.compute_name!r} failed: {current.error} "
                  "Fix it and start it again (ws.compute.begin_start), then resubmit the job.")
        for job in self._job_rows(_WAITING):
            if _claim(self._b, job.name, _WAITING, JobStatus.STARTING):
                self._finalize(job.name, {"exit_code": None, "error": reason})

    def _dispatch(self, row: Any, nodes: list[Any]) -> None:
        from studio_ext.backends.local.compute.pools import LocalClusterPool

        with self._lock:
            load: dict[str, int] = {}
            for t in self.tracked.values():
                if t.node and not t.by_pid:
                    load[t.node] = load.get(t.node, 0) + 1
            adopted = sum(1 for t in self.tracked.values() if t.by_pid)
            running = sum(t.nodes for t in self.tracked.values() if not t.staged)
            sent = set(self.tracked)
        cluster = isinstance(self.pool, LocalClusterPool)
        if cluster:
            nodes = self.pool.note_usage(nodes, set(load))
        free: list[str] = []
        for node in nodes:
            free += [node.address] * max(node.slots - load.get(node.address, 0), 0)
        free = free[adopted:] if adopted else free  # adopted jobs still hold a slot of this machine
        queued = self._waiting_rows()  # staged jobs are among them: they still wait for a node
        waiting = [job for job in queued if job.name not in sent]
        if cluster:
            self.pool.demand = running + sum(nodes_wanted(job) for job in queued)
        if queued or self.tracked:
            self._last_activity = time.monotonic()
        for job, address in zip(waiting, free):
            if not _claim(self._b, job.name, _WAITING, JobStatus.STARTING):
                continue
            with self._lock:
                self.tracked[job.name] = Tracked(node=address, nodes=nodes_wanted(job), plain=_plain(job))
            self._runner.preparer.submit(self._launch, job.name, address)
        if cluster and len(waiting) > len(free) and not self.pool.can_grow(len(nodes)):
            self._stage(waiting[len(free):], nodes)
        self._mark_queued(queued)

    def _stage(self, waiting: list[Any], nodes: list[Any]) -> None:
        """Give each busy node the next waiting job, to start the moment its running job ends.

        Only on a cluster at its full size (a growing one gives the job a new node) and
        only for plain jobs behind plain jobs. The job stays Queued until it starts.
        """
        with self._lock:
            on_node: dict[str, list[Tracked]] = {}
            for t in self.tracked.values():
                if t.node and not t.by_pid:
                    on_node.setdefault(t.node, []).append(t)
        plain = iter([job for job in waiting if _plain(job)])
        for node in nodes:
            there = on_node.get(node.address, [])
            # Behind jobs already handed to the node: Dask runs a node's tasks in the order they were sent.
            if len(there) != node.slots or not all(t.plain and not t.staged and not t.preparing for t in there):
                continue
            job = next(plain, None)
            if job is None:
                return
            with self._lock:
                self.tracked[job.name] = Tracked(node=node.address, plain=True, staged=True)
            self._runner.preparer.submit(self._launch, job.name, node.address)

    def _withdraw_staged(self) -> None:
        """The target stops or restarts: jobs staged behind running ones go back to waiting.

        The nodes are told before any running job is ended, so a staged job does not
        start in the gap; one that started just before runs to its end like any other.
        """
        pool = self.pool
        for name, t in list(self.tracked.items()):
            if pool is None or not t.staged or t.running or t.withdrawn or t.preparing:
                continue
            t.withdrawn = True
            try:
                pool.withdraw(name)
            except Exception:  # the node is gone with the scheduler: the job never starts there
                log.warning("could not withdraw %s from its node", name, exc_info=True)

    def _launch(self, name: str, address: str) -> None:
        """Build the job's launch record and hand it to the node (in a worker thread: may build a venv)."""
        job_dir = self._b.jobs_dir / name
        log_path = job_dir / "user_logs" / "std_log.txt"
        try:
            with self._b.store.engine.connect() as conn:
                row = conn.execute(sa.select(jobs_table).where(jobs_table.c.name == name)).first()
            if row is None:
                raise StudioError(f"the job {name!r} was deleted before it could start")
            spec = json.loads(row.spec)
            argv = job_argv(self._b, row, spec, log_path)
            if not spec.get("environment") and spec["argv"] and spec["argv"][0] in ("python", "python3"):
                argv[0] = compute_node.NODE_PYTHON  # the node's own interpreter
            wrapper = job_dir / "_wrap.py"
            shutil.copyfile(WRAPPER, wrapper)  # so a node needs only the workspace folder
            launch = {
                "job_name": row.name, "job_dir": str(job_dir), "cwd": str(job_dir / "code"),
                "argv": argv, "env": job_process_env(self._b, row, spec), "wrapper": str(wrapper),
                "exit_file": str(job_dir / "exit.json"), "log_file": str(log_path),
                "frees_slot": row.type in SLOT_FREEING_JOB_TYPES,
            }
            pool = self.pool
            if pool is None:
                raise StudioError(f"the compute {self.compute_name!r} stopped before the job could start")
            future = pool.submit(launch, address)
        except Exception as exc:  # a job that cannot start fails with the reason, never hangs
            log.exception("job %s could not start on %s", name, self.compute_name)
            with self._lock:
                self.tracked.pop(name, None)
            with open(log_path, "a") as handle:
                handle.write(f"The job could not start on {self.compute_name}: {exc}\n")
            self._finalize(name, {"exit_code": None, "error": f"The job could not start: {exc}"})
            return
        with self._lock:
            tracked = self.tracked.get(name)
            if tracked is not None:
                tracked.future, tracked.preparing = future, False
        future.add_done_callback(lambda _: self._wake.set())
        warm_tracking(self._b.tracking_uri)

    def _watch(self) -> None:
        """Notice jobs that started, ended or were canceled."""
        self._cancel_canceled_rows()
        for name, t in list(self.tracked.items()):
            if t.preparing:
                continue
            if not t.running and not t.by_pid:
                self._note_started(name, t)
            if t.by_pid:
                if not pid_alive(t.pid, t.pid_start):
                    self._finish(name, t, {"outcome": "exited"})
            elif t.future is not None and t.future.done():
                pool = self.pool
                outcome = pool.outcome(t.future) if pool is not None else {"outcome": "lost", "error": "the pool closed"}
                self._finish(name, t, outcome)

    def _note_started(self, name: str, t: Tracked) -> None:
        node = _read_node(self._b.jobs_dir / name)
        if node is None:
            return
        t.running, t.node = True, node.get("worker") if node.get("worker") != "instance" else t.node
        t.host, t.pid, t.pid_start = node.get("host"), node.get("pid"), node.get("pid_start")
        self._mark_running(name, node)

    def _mark_running(self, name: str, node: dict[str, Any]) -> None:
        """Record the start a node reported (from Starting, or Queued for a job staged on a busy node)."""
        from studio_ext.backends.local.compute.pools import HOST

        local = node.get("host") == HOST
        with self._b.store.engine.begin() as conn:
            conn.execute(jobs_table.update().where(
                jobs_table.c.name == name, jobs_table.c.status.in_(_WAITING + (JobStatus.STARTING.value,))).values(
                status=JobStatus.RUNNING.value, start_time=node.get("started") or now(),
                # The pid lets ws.jobs.begin_cancel end the process directly on this machine.
                pid=node.get("pid") if local else None, pid_start=node.get("pid_start") if local else None))

    def _cancel_canceled_rows(self) -> None:
        """Jobs canceled by ws.jobs.begin_cancel or a forced stop/delete: end them on their node."""
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs_table.c.name, jobs_table.c.finalized_at).where(
                jobs_table.c.compute == self.compute_name, jobs_table.c.status == JobStatus.CANCELED.value,
                sa.or_(jobs_table.c.finalized_at.is_(None), jobs_table.c.name.in_(list(self.tracked) or [""])))).all()
        for row in rows:
            t = self.tracked.get(row.name)
            if t is None:
                if row.finalized_at is None and row.name not in self._finalizing:
                    self._finalize(row.name, None)
                continue
            if t.cancel_sent or t.preparing:
                continue
            t.cancel_sent = True
            if self.pool is not None and not t.by_pid:
                try:
                    self.pool.cancel(row.name, t.future, t.running)
                except Exception:  # the node is gone; the process is ended by pid below
                    log.warning("could not signal cancel of %s through the scheduler", row.name, exc_info=True)
            if t.pid:
                self._end_process(t)

    def _finish(self, name: str, t: Tracked, outcome: dict[str, Any]) -> None:
        """A job's attempt ended: free its node, say why, finalize (in the background)."""
        kind = outcome.get("outcome")
        job_dir = self._b.jobs_dir / name
        if kind == "lost" and t.pid and _is_local(t.host) and pid_alive(t.pid, t.pid_start):
            t.by_pid, t.future = True, None  # the scheduler went away, the process did not: watch it
            return
        with self._lock:
            self.tracked.pop(name, None)
        if self.pool is not None:
            self.pool.forget(name)
        never_claimed = not (job_dir / compute_node.CLAIM_FILE).exists()
        if t.staged and not t.cancel_sent and kind in ("canceled", "node_died", "lost") and never_claimed:
            return  # staged on a node that stopped or died before it could start: still Queued, sent again later
        if not t.running and kind in ("exited", "node_died", "rerun"):
            node = _read_node(job_dir)
            if node:
                t.host, t.pid, t.pid_start = node.get("host"), node.get("pid"), node.get("pid_start")
        exit_info: dict[str, Any] | None
        if kind in ("exited", "canceled") or (t.cancel_sent and kind == "lost"):
            exit_info = read_exit(job_dir)
        elif kind in ("node_died", "rerun"):
            exit_info = {"exit_code": None, "error": (
                f"The node {t.node or ''} running the job on {self.compute_name!r} died mid-job (killed, or out "
                "of memory). The cluster replaces the node; resubmit the job to run it again.")}
            if t.pid:
                self._end_process(t)
        elif kind == "lost":
            exit_info = {"exit_code": None, "error": (
                f"The job was lost with the connection to {self.compute_name!r}: {outcome.get('error')}")}
        else:
            exit_info = {"exit_code": None, "error": f"The node could not run the job: {outcome.get('error')}"}
        self._finalize(name, exit_info)

    def _end_process(self, t: Tracked) -> None:
        pid, pid_start, host, pool = t.pid, t.pid_start, t.host, self.pool
        if pid is None:
            return
        if _is_local(host):
            self._runner.preparer.submit(kill_tree, pid, pid_start)
        elif pool is not None:
            self._runner.preparer.submit(pool.end_elsewhere, pid, pid_start, host)

    def _finalize(self, name: str, exit_info: dict[str, Any] | None) -> None:
        with self._lock:
            if name in self._finalizing:
                return
            self._finalizing.add(name)

        def done(_: Any) -> None:
            with self._lock:
                self._finalizing.discard(name)

        future = self._runner.finalizer.submit(finalize_job, self._b, name, exit_info)
        future.add_done_callback(done)

    def _adopt(self) -> None:
        """After a (re)start: re-attach or watch jobs an earlier supervisor dispatched."""
        self._adopted_once = True
        for row in self._job_rows(_DISPATCHED + (JobStatus.QUEUED.value,)):
            if row.name in self.tracked or row.name in self._finalizing:
                continue
            job_dir = self._b.jobs_dir / row.name
            node = _read_node(job_dir)
            if row.status == JobStatus.QUEUED.value and node is None and not (job_dir / compute_node.CLAIM_FILE).exists():
                continue  # waiting, never sent anywhere (or staged on a node that went away before it started)
            future = self.pool.readopt(row.name) if self.pool is not None else None
            if future is not None:
                t = Tracked(node=(node or {}).get("worker"), future=future, preparing=False)
                self.tracked[row.name] = t
                continue
            if node and _is_local(node.get("host")) and pid_alive(node.get("pid"), node.get("pid_start")):
                self.tracked[row.name] = Tracked(node=node.get("worker"), preparing=False, running=True, by_pid=True,
                                                 pid=node.get("pid"), pid_start=node.get("pid_start"),
                                                 host=node.get("host"))
                if row.status == JobStatus.QUEUED.value:  # it started from a node's queue as the last supervisor ended
                    self._mark_running(row.name, node)
                log.info("adopted job %s (pid %s) on %s", row.name, node.get("pid"), self.compute_name)
                continue
            if read_exit(job_dir) is not None:
                self._finalize(row.name, read_exit(job_dir))
            elif node is None and not (job_dir / compute_node.CLAIM_FILE).exists():
                _claim(self._b, row.name, (JobStatus.STARTING.value,), JobStatus.QUEUED)  # never reached a node
            else:
                self._finalize(row.name, {"exit_code": None, "error": (
                    f"The workspace supervisor restarted while the job ran on {self.compute_name!r}, and the "
                    "job's process could not be found again. Resubmit the job.")})

    # -- observed state -------------------------------------------------------------------
    def _observe(self, row: Any, nodes: list[Any]) -> None:
        from studio_ext.backends.local.compute.pools import HOST, LocalClusterPool

        with self._lock:
            jobs_on: dict[str, str] = {t.node: name for name, t in self.tracked.items()
                                       if t.node and not t.by_pid and (t.running or not t.staged)}
            adopted = [name for name, t in self.tracked.items() if t.by_pid]
        records = [{"name": str(n.name), "address": n.address, "busy": n.address in jobs_on,
                    "job_name": jobs_on.get(n.address), "pid": n.pid, "host": n.host} for n in nodes]
        if ComputeType(row.type) == ComputeType.COMPUTE_INSTANCE and records:
            names = [name for name, t in self.tracked.items()]
            records[0].update(busy=bool(names), job_name=", ".join(sorted(names)) or None, host=HOST)
        busy = sum(1 for r in records if r["busy"]) + (len(adopted) if ComputeType(row.type) != ComputeType.COMPUTE_INSTANCE else 0)
        state = ComputeState.RUNNING
        if isinstance(self.pool, LocalClusterPool) and self.pool.planned_nodes() != len(nodes):
            state = ComputeState.SCALING
        values = {"state": state.value, "error": None, "current_nodes": len(records), "busy_nodes": busy,
                  "nodes": records, "scheduler_address": self.pool.scheduler_address,
                  "dashboard_link": self.pool.dashboard_link, "applied_generation": self._applied_generation,
                  "applied_restarts": self._applied_restarts}
        if values != self._last_observed or time.monotonic() - self._last_write > HEARTBEAT_SECONDS:
            compute_store.observe(self._b.store.engine, self.compute_name, **values)
            self._last_observed, self._last_write = values, time.monotonic()

    def _idle_shutdown(self, row: Any) -> None:
        if ComputeType(row.type) != ComputeType.COMPUTE_INSTANCE:
            return
        minutes = json.loads(row.spec).get("idle_time_before_shutdown_minutes")
        if not minutes or time.monotonic() - self._last_activity < minutes * 60:
            return
        with self._b.store.engine.begin() as conn:
            conn.execute(computes.update().where(
                computes.c.name == self.compute_name, computes.c.desired == Desired.RUNNING.value).values(
                desired=Desired.STOPPED.value,
                last_operation=f"Stopped after {minutes:g} min without jobs (idle shutdown)."))
        log.info("compute %s idle for %s min: stopping", self.compute_name, minutes)


def _plain(job: Any) -> bool:
    return job.type not in SLOT_FREEING_JOB_TYPES and nodes_wanted(job) == 1


def _read_node(job_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((job_dir / compute_node.NODE_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _is_local(host: str | None) -> bool:
    from studio_ext.backends.local.compute.pools import HOST

    return host == HOST
