"""The nodes behind each kind of compute target, seen through one small interface.

* :class:`InstancePool`: this machine; each job runs from a thread of the supervisor.
* :class:`LocalClusterPool`: a ``dask.distributed.LocalCluster`` whose one-thread
  workers are the nodes, scaled by :class:`JobAdaptive` between min and max.
* :class:`AttachedPool`: an existing Dask scheduler reached by address.

Every pool runs a job with :func:`compute_node.run_job`, so logs, exit files and
cancel behave the same on all of them. The job scheduler (``job_scheduler.py``) picks
the node; a pool only starts the job there and reports how it ended.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from studio_ext.backends.local.compute import node as compute_node
from studio_ext.backends.local.core import processes
from studio_ext.errors import BackendUnavailable, InvalidInput

log = logging.getLogger("studio_ext.supervisor.compute")
HOST = socket.gethostname()
JOB_KEY_PREFIX = "studio-job-"
SCHEDULER_CALL_SECONDS = 10.0  # a scheduler that takes longer than this to list its workers is gone


@dataclass
class NodeView:
    """A node as the controller needs it: where it is and how many jobs it takes."""

    name: Hashable
    address: str
    slots: int
    host: str
    pid: int | None = None


def ship_node_code_by_value() -> None:
    """Send the node code (``node.py`` and the ``core/processes.py`` it uses) to Dask workers by value:
    workers need no studio_ext install."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(compute_node)
    cloudpickle.register_pickle_by_value(processes)


def job_key(job_name: str) -> str:
    return JOB_KEY_PREFIX + job_name


def probe_scheduler(address: str, timeout: float) -> dict[str, Any]:
    """Ask ``address`` who it is, within ``timeout`` seconds whatever the peer does.

    A bare ``distributed.Client`` can wait forever on a port that accepts and never
    answers, so the first contact is a hard-bounded ``identity`` call on its own loop.
    """
    async def ask() -> dict[str, Any]:
        from distributed.comm import connect

        comm = await connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    # A thread of its own: works even where an event loop already runs (a kernel).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dask-probe") as pool:
        try:
            reply = pool.submit(lambda: asyncio.run(asyncio.wait_for(ask(), timeout))).result()
        except (OSError, TimeoutError) as exc:
            detail = str(exc) or "no answer"
            raise BackendUnavailable(
                f"The Dask scheduler at {address} did not answer within {timeout:g} s ({detail}). "
                "Check the address and port, that `dask scheduler` runs there, and that no firewall "
                "blocks it; or raise connect_timeout."
            ) from exc
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        kind = reply.get("type") if isinstance(reply, dict) else type(reply).__name__
        raise InvalidInput(f"{address} answers as a Dask {kind}, not a scheduler. Give the scheduler's "
                           "address (the one `dask worker` connects to).")
    return reply


def connect_client(address: str, timeout: float) -> Any:
    """A ``distributed.Client`` on ``address``, or ``BackendUnavailable`` within about ``timeout`` s."""
    from distributed import Client

    probe_scheduler(address, timeout)
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise BackendUnavailable(
            f"The Dask scheduler at {address} answered, then refused a client ({exc}). "
            "Check that its Dask version matches this one (see its logs)."
        ) from exc


class InstancePool:
    """This machine as one node that runs up to ``slots`` jobs at once."""

    scheduler_address: str | None = None
    dashboard_link: str | None = None

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._cancel: dict[str, threading.Event] = {}

    def nodes(self) -> list[NodeView]:
        return [NodeView(name="instance", address="localhost", slots=self.slots, host=HOST, pid=os.getpid())]

    def planned_nodes(self) -> int:
        return 1

    def submit(self, launch: dict[str, Any], address: str) -> Future:
        # Daemon threads, so a supervisor exiting never waits for a job: the next one adopts it.
        event = self._cancel.setdefault(launch["job_name"], threading.Event())
        future: Future = Future()
        future.set_running_or_notify_cancel()

        def body() -> None:
            try:
                future.set_result(compute_node.run_job(launch, event.is_set, "instance"))
            except BaseException as exc:  # noqa: BLE001 - reported as the job's failure by the controller
                future.set_exception(exc)

        threading.Thread(target=body, name=f"job-{launch['job_name']}", daemon=True).start()
        return future

    def outcome(self, future: Future) -> dict[str, Any]:
        exc = future.exception()
        if exc is not None:
            return {"outcome": "error", "error": f"{type(exc).__name__}: {exc}"}
        return future.result()

    def cancel(self, job_name: str, future: Any, started: bool) -> None:
        self._cancel.setdefault(job_name, threading.Event()).set()

    def end_elsewhere(self, pid: int, pid_start: float | None, host: str, marker: str | None = None) -> bool:
        return False  # every job of an instance runs on this machine

    def readopt(self, job_name: str) -> Any:
        return None

    def forget(self, job_name: str) -> None:
        self._cancel.pop(job_name, None)

    def healthy(self) -> str | None:
        return None

    def close(self) -> None:
        # Running jobs outlive the pool (their threads are daemons): the next supervisor adopts them.
        self._cancel.clear()


class DaskPool:
    """What a LocalCluster and an attached scheduler share: a Client and job futures."""

    publish = False  # keep futures alive on the scheduler across supervisor restarts

    def __init__(self, client: Any) -> None:
        ship_node_code_by_value()
        self.client = client
        self.unanswered: str | None = None  # why the last call to the scheduler failed
        self._pids: dict[str, int] = {}

    @property
    def scheduler_address(self) -> str:
        return self.client.scheduler.address

    @property
    def dashboard_link(self) -> str | None:
        try:
            return self.client.dashboard_link
        except Exception:  # noqa: BLE001 - no dashboard (bokeh missing, or the scheduler has none)
            return None

    def workers(self) -> dict[str, Any]:
        """The scheduler's workers by address, asked with a bound on the wait.

        ``Client.scheduler_info`` waits for the connect timeout (30 s) when the scheduler
        has just died, and the controller would stall that long before noticing.
        """
        try:
            info = self.client.sync(self.client.scheduler.identity, n_workers=-1,
                                    callback_timeout=SCHEDULER_CALL_SECONDS)
        except (OSError, TimeoutError) as exc:
            self.unanswered = (f"The Dask scheduler at {self.scheduler_address} stopped answering "
                               f"({type(exc).__name__}: {exc}).")
            raise BackendUnavailable(self.unanswered) from exc
        self.unanswered = None
        return info["workers"]

    def nodes(self) -> list[NodeView]:
        workers = self.workers()
        if set(workers) - set(self._pids):
            try:
                self._pids.update(self.client.run(os.getpid, workers=list(workers), on_error="ignore"))
            except Exception:  # noqa: BLE001 - pids are for display only
                pass
        return [NodeView(name=info.get("name", addr), address=addr, slots=int(info.get("nthreads") or 1),
                         host=info.get("host", ""), pid=self._pids.get(addr))
                for addr, info in workers.items() if info.get("status", "running") == "running"]

    def planned_nodes(self) -> int:
        return len(self.workers())

    def submit(self, launch: dict[str, Any], address: str) -> Any:
        key = job_key(launch["job_name"])
        future = self.client.submit(
            compute_node.run_on_dask_worker, launch, key=key, workers=[address],
            allow_other_workers=True, pure=False, retries=0)
        if self.publish:
            self.client.publish_dataset(future, name=key, override=True)
        return future

    def outcome(self, future: Any) -> dict[str, Any]:
        from distributed.scheduler import KilledWorker

        if future.status == "finished":
            return future.result()
        if future.status == "cancelled":
            return {"outcome": "lost", "error": "Dask dropped the task (canceled, or the scheduler restarted)."}
        exc = future.exception()
        if isinstance(exc, KilledWorker):
            return {"outcome": "node_died"}
        return {"outcome": "error", "error": f"{type(exc).__name__}: {exc}"}

    def cancel(self, job_name: str, future: Any, started: bool) -> None:
        """Flag the job on every worker (it may not have arrived yet); drop it if it never started."""
        self.client.run(compute_node.cancel_on_worker, job_name, on_error="ignore")
        if not started:
            future.cancel()

    def withdraw(self, job_name: str) -> None:
        """Tell the nodes not to start a job still waiting in a node's queue (it returns ``canceled``)."""
        self.client.run(compute_node.withdraw_on_worker, job_name, on_error="ignore")

    def end_elsewhere(self, pid: int, pid_start: float | None, host: str, marker: str | None = None) -> bool:
        """End a job's processes on another host through any worker that runs there."""
        workers = [a for a, w in self.workers().items() if w.get("host") == host]
        if not workers:
            return False
        result = self.client.run(compute_node.end_job_process, pid, pid_start, marker, workers=workers[:1],
                                 on_error="ignore")
        return any(v is True for v in result.values())

    def readopt(self, job_name: str) -> Any:
        if not self.publish:
            return None
        try:
            return self.client.get_dataset(job_key(job_name))
        except KeyError:
            return None

    def forget(self, job_name: str) -> None:
        if self.publish:
            try:
                self.client.unpublish_dataset(job_key(job_name))
            except Exception:  # noqa: BLE001 - already gone with its scheduler
                pass

    def healthy(self) -> str | None:
        """None while the scheduler answers, else why not."""
        if self.client.status != "running":
            return f"Lost the connection to the Dask scheduler at {self.scheduler_address} (client {self.client.status})."
        return None

    def close(self) -> None:
        try:
            self.client.close(timeout=5)
        except Exception:  # noqa: BLE001 - closing best-effort; the scheduler may already be gone
            pass


class AttachedPool(DaskPool):
    """An existing scheduler: jobs go to its workers; nothing here starts or stops them."""

    publish = True

    def __init__(self, address: str, timeout: float) -> None:
        super().__init__(connect_client(address, timeout))
        self._address = address

    def healthy(self) -> str | None:
        """A scheduler that stopped answering counts as lost (the client may still be reconnecting)."""
        return super().healthy() or self.unanswered

    @property
    def scheduler_address(self) -> str:
        return self._address


class LocalClusterPool(DaskPool):
    """A LocalCluster on 127.0.0.1: one-thread worker processes that come and go with the jobs."""

    def __init__(self, name: str, minimum: int, maximum: int, idle_seconds: float) -> None:
        use_forkserver()
        from distributed import Client, LocalCluster

        skip_dask_preload()
        configure_job_cluster()

        self.demand = 0
        self._idle_seconds = idle_seconds
        self._idle_since: dict[Hashable, float] = {}
        self._busy: set[Hashable] = set()
        self._leaving: set[Hashable] = set()
        self._lock = threading.Lock()
        self.cluster = LocalCluster(
            name=f"studio-{name}", n_workers=minimum, threads_per_worker=1, processes=True,
            host="127.0.0.1", dashboard_address="127.0.0.1:0" if _has_bokeh() else None,
            memory_limit=0, silence_logs=logging.ERROR,
            # A job is never run twice: a node dying mid-job fails the job.
            scheduler_kwargs={"allowed_failures": 0},
        )
        try:
            self.adaptive = self.cluster.adapt(Adaptive=job_adaptive_class(), minimum=minimum, maximum=maximum,
                                               interval="300ms", wait_count=1, pool=self)
            super().__init__(Client(self.cluster, set_as_default=False))
        except BaseException:
            self.cluster.close()
            raise

    @property
    def dashboard_link(self) -> str | None:
        return self.cluster.dashboard_link if _has_bokeh() else None

    def planned_nodes(self) -> int:
        return len(self.cluster.plan)

    def can_grow(self, nodes: int) -> bool:
        """True while the cluster may still add a node for a waiting job."""
        return nodes < self.adaptive.maximum

    def resize(self, minimum: int, maximum: int, idle_seconds: float) -> None:
        self.adaptive.minimum, self.adaptive.maximum = minimum, maximum
        self._idle_seconds = idle_seconds

    def note_usage(self, nodes: list[NodeView], busy: set[str]) -> list[NodeView]:
        """Track how long each node has been idle; return the nodes a new job may go to."""
        now = time.monotonic()
        with self._lock:
            present = {n.name for n in nodes}
            self._busy = {n.name for n in nodes if n.address in busy}
            for name in present - self._busy:
                self._idle_since.setdefault(name, now)
            for name in list(self._idle_since):
                if name not in present or name in self._busy:
                    del self._idle_since[name]
            self._leaving &= present
            return [n for n in nodes if n.name not in self._leaving]

    def release_candidates(self, count: int) -> list[Hashable]:
        """Nodes idle for longer than the scale-down time, marked so no job goes there."""
        if count <= 0:
            return []
        now = time.monotonic()
        with self._lock:
            idle = sorted((since, name) for name, since in self._idle_since.items()
                          if name not in self._busy and now - since >= self._idle_seconds)
            chosen = [name for _, name in idle[:count]]
            self._leaving.update(chosen)
            return chosen

    def close(self) -> None:
        super().close()
        try:
            self.cluster.close(timeout=10)
        except Exception:  # the workers end with the supervisor anyway
            log.warning("cluster did not close cleanly", exc_info=True)


def use_forkserver() -> None:
    """Start worker processes from a forkserver that has loaded Dask once.

    With the default 'spawn' every new node imports Dask again (seconds each on a
    busy machine); forked from the server, a node scaling up or replacing a dead one
    starts in about a second. Only possible before ``distributed`` is imported.
    """
    if "distributed" not in sys.modules:
        import dask

        dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
        start_node_server()


def configure_job_cluster() -> None:
    """Dask settings for clusters whose tasks are jobs placed by the compute controller.

    A node's task only waits for the job's process, so the worker profiler (a look at
    every thread each 10 ms) has nothing to show and takes CPU from the job beside it.
    Work stealing would move a job waiting behind a running one to a node the
    controller did not choose. The event-loop tick (every 20 ms) and the system
    monitor (every 0.5 s, what the dashboard's System page plots) run in each node,
    nanny and the scheduler; less often, an idle 2-node cluster takes about a fifth
    of the node CPU and two thirds of the supervisor CPU it took. Set in the
    supervisor process, which owns the clusters; nodes get it from their nanny.
    """
    import dask

    dask.config.set({
        "distributed.worker.profile.enabled": False,
        "distributed.scheduler.work-stealing": False,
        "distributed.admin.tick.interval": "200ms",
        "distributed.admin.system-monitor.interval": "2s",
    })


# What a node's worker process itself runs besides starting jobs: a batch deployment's mini-batches
# (backends/local/batch), which read tables and load scikit-learn models saved by MLflow (skops.io
# imports every scikit-learn module). Imported once in the forkserver while the cluster is
# provisioned, they are in every node from its start (pages shared by fork), so a cluster's first
# batch job does not spend its first seconds importing them in each node, as later jobs never do.
NODE_SCORING_STACK = ("numpy", "pandas", "skops.io")


def node_server_preload() -> list[str]:
    """What the forkserver imports once for every node it forks.

    Dask, and the scoring stack a node's worker runs for batch deployments
    (``NODE_SCORING_STACK``; a module that is not installed is skipped by the forkserver).
    The supervisor's main module is on it because each forked child runs it again as
    ``__mp_main__``: preloaded, that costs nothing per node.
    """
    preload = ["distributed", *NODE_SCORING_STACK]
    main = getattr(sys.modules.get("__main__"), "__spec__", None)
    if main is not None and main.name and not main.name.endswith("__main__"):
        preload.append(main.name)
    return preload


def start_node_server() -> None:
    """Start the forkserver now, so its imports run beside the supervisor's own (cluster cold start).

    Dask starts it on the first node, after the scheduler and its dashboard are up;
    started here, the server has loaded Dask by the time the first node is asked for.
    """
    import multiprocessing
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(node_server_preload())
    forkserver.ensure_running()


def skip_dask_preload() -> None:
    """Keep Dask from importing numpy and pandas into the supervisor for the forkserver's preload.

    The server already runs with :func:`node_server_preload`, so Dask's list would only
    cost the supervisor a second of imports (more on a busy machine) and change nothing.
    """
    from distributed import utils

    if hasattr(utils, "_forkserver_preload_set"):
        utils._forkserver_preload_set = True


def _has_bokeh() -> bool:
    try:
        import bokeh  # noqa: F401 - the Dask dashboard needs it
    except ImportError:
        return False
    return True


@functools.cache
def job_adaptive_class() -> type:
    """Dask's Adaptive with one node per job (built on first use: Dask loads only when needed)."""
    from distributed.deploy.adaptive import Adaptive

    class JobAdaptive(Adaptive):
        """The target is the number of jobs waiting or running; idle nodes leave after the idle time."""

        def __init__(self, *args: Any, pool: LocalClusterPool, **kwargs: Any) -> None:
            self._pool = pool
            super().__init__(*args, **kwargs)

        async def target(self) -> int:
            return self._pool.demand

        async def workers_to_close(self, target: int) -> list[Hashable]:
            return self._pool.release_candidates(len(self.plan) - target)

    return JobAdaptive
