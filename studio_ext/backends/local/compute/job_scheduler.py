"""The jobs of one compute target: queue, place on nodes, start, watch, cancel, finalize, adopt.

:class:`JobScheduler` sends the target's waiting jobs to free nodes, one job per node
slot, so jobs wait in Queued while every node is busy; it finalizes them with the same
code as local jobs. On a cluster at its full size, each busy node also holds the next
waiting job in its own Dask queue (still Queued): the node starts it the moment its
running job ends, instead of waiting for the controller to notice. After a supervisor
restart it adopts the jobs still running (by future on an attached scheduler, by pid
on this machine) or fails them with the reason: no job stays Running forever.

The pool itself (its nodes, their start and stop) belongs to
:class:`~studio_ext.backends.local.compute.pool_lifecycle.PoolLifecycle`; the
controller (``runner.py``) calls both from its thread.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from studio_ext.backends.local.compute import node as compute_node
from studio_ext.backends.local.compute import store as compute_store
from studio_ext.backends.local.compute.pool_lifecycle import NodeUsage, PoolLifecycle
from studio_ext.backends.local.core.processes import job_marker, kill_tree, pid_alive
from studio_ext.backends.local.core.schema import jobs as jobs_table
from studio_ext.backends.local.core.store import now
from studio_ext.backends.local.jobs.runner import (
    WRAPPER,
    finalize_job,
    job_argv,
    job_process_env,
    read_exit,
    warm_tracking,
)
from studio_ext.entities import ACTIVE_STATES, ComputeState, JobStatus
from studio_ext.errors import StudioError

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

log = logging.getLogger("studio_ext.supervisor.compute")
WAITING = (JobStatus.NOT_STARTED.value, JobStatus.QUEUED.value)
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


def claim(backend: LocalBackend, name: str, from_states: tuple[str, ...], to: JobStatus, **values: Any) -> bool:
    """Move a job between states only if nobody else moved it first."""
    with backend.store.engine.begin() as conn:
        return bool(conn.execute(jobs_table.update().where(
            jobs_table.c.name == name, jobs_table.c.status.in_(from_states))
            .values(status=to.value, **values)).rowcount)


@dataclass
class Tracked:
    """A job this scheduler sent to a node (or adopted after a restart)."""

    node: str | None = None
    future: Any = None
    preparing: bool = True
    running: bool = False
    cancel_sent: bool = False
    by_pid: bool = False
    pid: int | None = None
    pid_start: float | None = None
    host: str | None = None
    marker: str | None = None  # the job's process marker (core/processes.py), known once it is launched
    nodes: int = 1  # nodes the job can keep busy (see nodes_wanted): what the cluster scales to
    plain: bool = False  # a job that only keeps its own node busy (no tasks of its own on the cluster)
    staged: bool = False  # sent to a busy node to start when its job ends; Queued until it does
    withdrawn: bool = False  # staged, then held back because the target stops or restarts


class JobScheduler:
    """Places one target's jobs on the nodes of its pool and follows them to their end."""

    def __init__(self, backend: LocalBackend, name: str, pool_life: PoolLifecycle, *,
                 preparer: ThreadPoolExecutor, finalizer: ThreadPoolExecutor, wake: Callable[[], None]) -> None:
        self._b = backend
        self.compute_name = name
        self._life = pool_life
        self._preparer = preparer  # builds launch records (may build a venv) and ends processes
        self._finalizer = finalizer
        self._wake = wake  # a job's future ended: the controller reacts at once
        self._lock = threading.Lock()
        self.tracked: dict[str, Tracked] = {}
        self._finalizing: set[str] = set()
        self.adopted_once = False

    # -- what the pool's life needs to know ---------------------------------------------------
    def on_pool(self) -> bool:
        """True while a job runs on the pool (jobs watched by pid do not hold it)."""
        return bool(self.tracked) and any(not t.by_pid for t in self.tracked.values())

    def node_usage(self) -> NodeUsage:
        with self._lock:
            return NodeUsage(
                jobs_on={t.node: name for name, t in self.tracked.items()
                         if t.node and not t.by_pid and (t.running or not t.staged)},
                adopted=sum(1 for t in self.tracked.values() if t.by_pid),
                names=list(self.tracked))

    # -- the target's job rows ----------------------------------------------------------------
    def job_rows(self, states: tuple[str, ...]) -> list[Any]:
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
                jobs_table.c.compute == self.compute_name, jobs_table.c.status.in_(WAITING))
                .order_by(jobs_table.c.created_at)).all()

    def active_rows(self) -> list[Any]:
        """Jobs not yet ended, and canceled ones not yet finalized."""
        rows = self.job_rows(tuple(s.value for s in ACTIVE_STATES) + (JobStatus.CANCELED.value,))
        return [r for r in rows if r.status != JobStatus.CANCELED.value or r.finalized_at is None]

    def mark_queued(self, waiting: list[Any] | None = None) -> None:
        """Show new jobs as Queued; a write only when one of ``waiting`` (or any job) is NotStarted."""
        if waiting is None:
            waiting = self.job_rows((JobStatus.NOT_STARTED.value,))
        if not any(r.status == JobStatus.NOT_STARTED.value for r in waiting):
            return
        with self._b.store.engine.begin() as conn:
            conn.execute(jobs_table.update().where(
                jobs_table.c.compute == self.compute_name, jobs_table.c.status == JobStatus.NOT_STARTED.value)
                .values(status=JobStatus.QUEUED.value))

    def fail_waiting(self) -> None:
        """Jobs waiting for a target that failed to start end Failed with its error."""
        current = compute_store.read(self._b.store.engine, self.compute_name)
        if current is None or current.state != ComputeState.FAILED.value:
            return
        reason = (f"The compute target {self.compute_name!r} failed: {current.error} "
                  "Fix it and start it again (ws.compute.begin_start), then resubmit the job.")
        for job in self.job_rows(WAITING):
            if claim(self._b, job.name, WAITING, JobStatus.STARTING):
                self.finalize(job.name, {"exit_code": None, "error": reason})

    def cancel_waiting(self, reason: str) -> None:
        """Jobs still waiting for the target (it is being deleted) end Canceled with ``reason``."""
        for job in self.job_rows(WAITING):
            if claim(self._b, job.name, WAITING, JobStatus.CANCELED, error=reason, end_time=now()):
                self.finalize(job.name, None)

    # -- placing jobs on nodes ----------------------------------------------------------------
    def dispatch(self, nodes: list[Any]) -> bool:
        """Send waiting jobs to free nodes (and stage the next ones on busy nodes); True if any job waits or runs."""
        from studio_ext.backends.local.compute.pools import LocalClusterPool

        pool = self._life.pool
        with self._lock:
            load: dict[str, int] = {}
            for t in self.tracked.values():
                if t.node and not t.by_pid:
                    load[t.node] = load.get(t.node, 0) + 1
            adopted = sum(1 for t in self.tracked.values() if t.by_pid)
            running = sum(t.nodes for t in self.tracked.values() if not t.staged)
            sent = set(self.tracked)
        cluster = isinstance(pool, LocalClusterPool)
        if cluster:
            nodes = pool.note_usage(nodes, set(load))
        free: list[str] = []
        for node in nodes:
            free += [node.address] * max(node.slots - load.get(node.address, 0), 0)
        free = free[adopted:] if adopted else free  # adopted jobs still hold a slot of this machine
        queued = self._waiting_rows()  # staged jobs are among them: they still wait for a node
        waiting = [job for job in queued if job.name not in sent]
        if cluster:
            pool.demand = running + sum(nodes_wanted(job) for job in queued)
        active = bool(queued or self.tracked)
        for job, address in zip(waiting, free):
            if not claim(self._b, job.name, WAITING, JobStatus.STARTING):
                continue
            with self._lock:
                self.tracked[job.name] = Tracked(node=address, nodes=nodes_wanted(job), plain=_plain(job))
            self._preparer.submit(self._launch, job.name, address)
        if cluster and len(waiting) > len(free) and not pool.can_grow(len(nodes)):
            self._stage(waiting[len(free):], nodes)
        self.mark_queued(queued)
        return active

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
            self._preparer.submit(self._launch, job.name, node.address)

    def withdraw_staged(self) -> None:
        """The target stops or restarts: jobs staged behind running ones go back to waiting.

        The nodes are told before any running job is ended, so a staged job does not
        start in the gap; one that started just before runs to its end like any other.
        """
        pool = self._life.pool
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
            # a job with no environment runs with the node's own interpreter
            argv = job_argv(self._b, row, spec, log_path, default_python=compute_node.NODE_PYTHON)
            wrapper = job_dir / "_wrap.py"
            shutil.copyfile(WRAPPER, wrapper)  # so a node needs only the workspace folder
            launch = {
                "job_name": row.name, "job_dir": str(job_dir), "cwd": str(job_dir / "code"),
                "argv": argv, "env": job_process_env(self._b, row, spec), "wrapper": str(wrapper),
                "exit_file": str(job_dir / "exit.json"), "log_file": str(log_path),
                "frees_slot": row.type in SLOT_FREEING_JOB_TYPES,
            }
            with self._lock:
                tracked = self.tracked.get(name)
                if tracked is not None:
                    tracked.marker = job_marker(row.name, row.run_id)
            pool = self._life.pool
            if pool is None:
                raise StudioError(f"the compute {self.compute_name!r} stopped before the job could start")
            future = pool.submit(launch, address)
        except Exception as exc:  # a job that cannot start fails with the reason, never hangs
            log.exception("job %s could not start on %s", name, self.compute_name)
            with self._lock:
                self.tracked.pop(name, None)
            with open(log_path, "a") as handle:
                handle.write(f"The job could not start on {self.compute_name}: {exc}\n")
            self.finalize(name, {"exit_code": None, "error": f"The job could not start: {exc}"})
            return
        with self._lock:
            tracked = self.tracked.get(name)
            if tracked is not None:
                tracked.future, tracked.preparing = future, False
        future.add_done_callback(lambda _: self._wake())
        warm_tracking(self._b.tracking_uri)

    # -- following jobs to their end ------------------------------------------------------------
    def watch(self) -> None:
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
                pool = self._life.pool
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
        local = _is_local(node.get("host"))
        with self._b.store.engine.begin() as conn:
            conn.execute(jobs_table.update().where(
                jobs_table.c.name == name, jobs_table.c.status.in_(WAITING + (JobStatus.STARTING.value,))).values(
                status=JobStatus.RUNNING.value, start_time=node.get("started") or now(),
                # The pid lets ws.jobs.begin_cancel end the process directly on this machine.
                pid=node.get("pid") if local else None, pid_start=node.get("pid_start") if local else None))

    def _cancel_canceled_rows(self) -> None:
        """Jobs canceled by ws.jobs.begin_cancel or a forced stop/delete: end them on their node."""
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs_table.c.name, jobs_table.c.finalized_at).where(
                jobs_table.c.compute == self.compute_name, jobs_table.c.status == JobStatus.CANCELED.value,
                sa.or_(jobs_table.c.finalized_at.is_(None), jobs_table.c.name.in_(list(self.tracked) or [""])))).all()
        pool = self._life.pool
        for row in rows:
            t = self.tracked.get(row.name)
            if t is None:
                if row.finalized_at is None and row.name not in self._finalizing:
                    self.finalize(row.name, None)
                continue
            if t.cancel_sent or t.preparing:
                continue
            t.cancel_sent = True
            if pool is not None and not t.by_pid:
                try:
                    pool.cancel(row.name, t.future, t.running)
                except Exception:  # the node is gone; the process is ended by pid below
                    log.warning("could not signal cancel of %s through the scheduler", row.name, exc_info=True)
            if t.pid:
                self._end_process(t)

    def lose_all(self, problem: str) -> None:
        """The pool's scheduler went away: every job sent through it is lost (see :meth:`_finish`)."""
        for name, t in list(self.tracked.items()):
            if t.future is not None and not t.preparing:
                self._finish(name, t, {"outcome": "lost", "error": problem})

    def _finish(self, name: str, t: Tracked, outcome: dict[str, Any]) -> None:
        """A job's attempt ended: free its node, say why, finalize (in the background)."""
        kind = outcome.get("outcome")
        job_dir = self._b.jobs_dir / name
        if kind == "lost" and t.pid and _is_local(t.host) and pid_alive(t.pid, t.pid_start):
            t.by_pid, t.future = True, None  # the scheduler went away, the process did not: watch it
            return
        with self._lock:
            self.tracked.pop(name, None)
        pool = self._life.pool
        if pool is not None:
            pool.forget(name)
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
        self.finalize(name, exit_info)

    def _end_process(self, t: Tracked) -> None:
        """End a job's processes: here when they run on this machine, else through a node of their host."""
        pid, pid_start, host, marker, pool = t.pid, t.pid_start, t.host, t.marker, self._life.pool
        if pid is None:
            return
        if _is_local(host):
            self._preparer.submit(kill_tree, pid, pid_start, marker=marker)
        elif pool is not None:
            self._preparer.submit(pool.end_elsewhere, pid, pid_start, host, marker)

    def finalize(self, name: str, exit_info: dict[str, Any] | None) -> None:
        """Record the job's end (in the background, once per job)."""
        with self._lock:
            if name in self._finalizing:
                return
            self._finalizing.add(name)

        def done(_: Any) -> None:
            with self._lock:
                self._finalizing.discard(name)

        future = self._finalizer.submit(finalize_job, self._b, name, exit_info)
        future.add_done_callback(done)

    def adopt(self) -> None:
        """After a (re)start: re-attach or watch jobs an earlier supervisor dispatched."""
        self.adopted_once = True
        pool = self._life.pool
        for row in self.job_rows(_DISPATCHED + (JobStatus.QUEUED.value,)):
            if row.name in self.tracked or row.name in self._finalizing:
                continue
            job_dir = self._b.jobs_dir / row.name
            node = _read_node(job_dir)
            if row.status == JobStatus.QUEUED.value and node is None and not (job_dir / compute_node.CLAIM_FILE).exists():
                continue  # waiting, never sent anywhere (or staged on a node that went away before it started)
            marker = job_marker(row.name, row.run_id)
            future = pool.readopt(row.name) if pool is not None else None
            if future is not None:
                self.tracked[row.name] = Tracked(node=(node or {}).get("worker"), future=future, preparing=False,
                                                 marker=marker)
                continue
            if node and _is_local(node.get("host")) and pid_alive(node.get("pid"), node.get("pid_start")):
                self.tracked[row.name] = Tracked(node=node.get("worker"), preparing=False, running=True, by_pid=True,
                                                 pid=node.get("pid"), pid_start=node.get("pid_start"),
                                                 host=node.get("host"), marker=marker)
                if row.status == JobStatus.QUEUED.value:  # it started from a node's queue as the last supervisor ended
                    self._mark_running(row.name, node)
                log.info("adopted job %s (pid %s) on %s", row.name, node.get("pid"), self.compute_name)
                continue
            if read_exit(job_dir) is not None:
                self.finalize(row.name, read_exit(job_dir))
            elif node is None and not (job_dir / compute_node.CLAIM_FILE).exists():
                claim(self._b, row.name, (JobStatus.STARTING.value,), JobStatus.QUEUED)  # never reached a node
            else:
                self.finalize(row.name, {"exit_code": None, "error": (
                    f"The workspace supervisor restarted while the job ran on {self.compute_name!r}, and the "
                    "job's process could not be found again. Resubmit the job.")})


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
