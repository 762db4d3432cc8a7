"""The supervisor's compute duty: owns the compute targets and runs the jobs sent to them.

:class:`ComputeRunner` (the duty) keeps one :class:`ComputeController` thread per
target. Each step of a controller reconciles what the ``computes`` table asks for
(running, stopped, deleted; size; restarts) with what runs, through two parts:

* :class:`~studio_ext.backends.local.compute.pool_lifecycle.PoolLifecycle`: the pool
  of nodes (start, resize, restart, stop, idle shutdown) and what is recorded of it;
* :class:`~studio_ext.backends.local.compute.job_scheduler.JobScheduler`: the
  target's jobs (queue, placing on nodes, staging the next job on a busy node, cancel,
  finalizing, adopting after a supervisor restart).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from studio_ext.backends.local.compute import store as compute_store
from studio_ext.backends.local.compute.job_scheduler import WAITING, JobScheduler, claim
from studio_ext.backends.local.compute.pool_lifecycle import PoolLifecycle
from studio_ext.backends.local.compute.store import Desired
from studio_ext.backends.local.core import tracking, wakeups
from studio_ext.backends.local.core.schema import jobs as jobs_table
from studio_ext.backends.local.jobs.runner import finalize_job
from studio_ext.entities import ComputeState, JobStatus
from studio_ext.errors import BackendUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

log = logging.getLogger("studio_ext.supervisor.compute")
SCAN_SECONDS = 0.25
STEP_SECONDS = 0.2


class ComputeRunner:
    """The duty: one :class:`ComputeController` per target, plus jobs whose target is gone."""

    busy_tick_seconds = SCAN_SECONDS  # the controllers run in threads of their own

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend
        self._controllers: dict[str, ComputeController] = {}
        self._deleted: set[str] = set()  # targets deleted while this supervisor ran
        self._next_scan = 0.0
        self.finalizer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="compute-finalize")
        self.preparer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="compute-launch")
        # A job submitted in this process (a pipeline's step, a sweep's trial) is dispatched at once,
        # not on the controller's next step.
        wakeups.subscribe(self._b.path, self.wake_controllers)

    def wake_controllers(self) -> None:
        for controller in list(self._controllers.values()):
            controller.wake()

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
        return any(c.is_alive() and c.holds_anything() for c in self._controllers.values())

    def shutdown(self) -> None:
        """Stop the controllers and close their clusters; running jobs are adopted next time."""
        wakeups.unsubscribe(self._b.path, self.wake_controllers)
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
                jobs_table.c.compute.in_(deleted), jobs_table.c.status.in_(WAITING))).all()
        for row in rows:
            reason = (f"The compute target {row.compute!r} was deleted. Create it again "
                      "(ws.compute.begin_create_or_update) or resubmit to another compute.")
            if claim(self._b, row.name, WAITING, JobStatus.STARTING):
                self.finalizer.submit(finalize_job, self._b, row.name, {"exit_code": None, "error": reason})


class ComputeController:
    """Reconciles one compute target and runs its jobs, in its own thread, until the target is deleted."""

    def __init__(self, backend: LocalBackend, runner: ComputeRunner, name: str) -> None:
        self._thread = threading.Thread(target=self._run, name=f"compute-{name}", daemon=True)
        self._b = backend
        self.compute_name = name
        self._stop_event = threading.Event()
        self._wake = threading.Event()  # set when a job's future ends: react at once
        self.pool_life = PoolLifecycle(backend, name)
        self.jobs = JobScheduler(backend, name, self.pool_life, preparer=runner.preparer,
                                 finalizer=runner.finalizer, wake=self._wake.set)

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

    def wake(self) -> None:
        """Step now rather than after ``STEP_SECONDS`` (a job was submitted or ended)."""
        self._wake.set()

    def holds_anything(self) -> bool:
        """True while the target has a pool or jobs."""
        return self.pool_life.pool is not None or bool(self.jobs.tracked)

    def _run(self) -> None:
        while not self._stop_event.is_set():
            try:
                if not self._step():
                    return
            except Exception:  # keep reconciling; the next step may succeed
                log.exception("compute %s: step failed", self.compute_name)
            self._wake.wait(STEP_SECONDS)
            self._wake.clear()
        self.pool_life.supervisor_stopped()

    # -- one reconcile step -------------------------------------------------------------
    def _step(self) -> bool:
        life, jobs = self.pool_life, self.jobs
        row = compute_store.read(self._b.store.engine, self.compute_name)
        if row is None:
            life.close()
            return False
        if life.applied_restarts is None:
            life.applied_restarts = row.restarts
        desired = Desired(row.desired)
        if desired != Desired.RUNNING or row.restarts != life.applied_restarts:
            jobs.withdraw_staged()
        if desired == Desired.DELETED:
            return self._delete_target(row)
        jobs.watch()
        if desired == Desired.STOPPED:
            if not jobs.adopted_once and life.pool is None:
                jobs.adopt()
            life.stop(row, ComputeState.STOPPING, ComputeState.STOPPED, jobs_on_pool=jobs.on_pool())
            jobs.mark_queued()
            return True
        starting = ComputeState.CREATING if row.state == ComputeState.CREATING.value else ComputeState.STARTING
        if life.pool is not None and row.restarts != life.applied_restarts:
            if not life.stop(row, ComputeState.RESTARTING, None, jobs_on_pool=jobs.on_pool()):
                return True
            life.applied_restarts, starting = -1, ComputeState.RESTARTING
        if life.pool is None:
            if not life.start(row, starting):
                if not jobs.adopted_once:
                    jobs.adopt()  # jobs a last supervisor left on this machine are watched even so
                jobs.fail_waiting()
                return True
            jobs.adopted_once = False  # a new pool: look for jobs to re-attach to it
        if row.generation != life.applied_generation:
            life.apply_spec(row)
        if not jobs.adopted_once:
            jobs.adopt()
        problem = life.pool.healthy() if life.pool is not None else None
        if problem:
            jobs.lose_all(problem)
            life.lost(problem)
            return True
        if life.pool is None:
            return True
        try:
            nodes = life.pool.nodes()  # one scheduler round trip per step, shared below
        except BackendUnavailable:
            return True  # the pool's healthy() says so on the next step
        if jobs.dispatch(nodes):
            life.note_activity()
        life.observe(row, nodes, jobs.node_usage())
        life.idle_shutdown(row)
        return True

    def _delete_target(self, row: Any) -> bool:
        """Cancel what waits, close the pool once its jobs ended, then drop the target; False when gone."""
        self.jobs.watch()
        self.jobs.cancel_waiting(  # submitted while the delete was under way
            f"Its compute target {self.compute_name!r} was deleted before the job could start.")
        if not self.pool_life.stop(row, ComputeState.DELETING, None, jobs_on_pool=self.jobs.on_pool()):
            return True
        if self.jobs.active_rows():
            return True  # canceled jobs still finalizing
        self.pool_life.remove_target()
        return False
