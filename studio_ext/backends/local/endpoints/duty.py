"""The supervisor's duty for online endpoints: routers and deployment servers, kept alive.

Each pass (every 0.2 s, in a worker thread so the supervisor's 50 ms tick stays
cheap) reconciles the store's desired state with the processes it finds:

- an endpoint gets a router on a port recorded once and kept for good;
- a deployment gets ``instance_count`` uvicorn servers (instances); it is Creating
  until their readiness probes answer, then Healthy; an instance that dies makes it
  Unhealthy and is started again (Failed after repeated crashes); one that reports a
  failed start (bad model, ``init()`` raised, tampered files) is Failed with the reason;
- a new code version is loaded by SIGHUP in every instance;
- a new generation (an update) is rolled out: its instances start beside the running
  ones, the router switches once all are ready, and the old ones drain and stop a
  moment later; if the new ones fail, the old ones keep serving and the update is
  Failed with the reason;
- the routing table (``router.json``) follows the instances' ports and the traffic.

Processes run in their own sessions and are adopted by pid (with start time) by
the next supervisor, so restarting the supervisor loses nothing.
"""

from __future__ import annotations

import errno
import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from studio_ext.backends.local.core.processes import kill_tree, start_time
from studio_ext.backends.local.core.processes import pid_alive as _alive
from studio_ext.backends.local.core.processes import stop_process as _stop
from studio_ext.backends.local.core.schema import online_deployments as deployments_table
from studio_ext.backends.local.core.schema import online_endpoints as endpoints_table
from studio_ext.backends.local.core.schema import online_instances as instances_table
from studio_ext.compat import with_fallback_hook
from studio_ext.entities import DeploymentState, ProvisioningState
from studio_ext.serving import endpoint_files as files

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

log = logging.getLogger("studio_ext.supervisor.endpoints")
PASS_SECONDS = 0.2
IDLE_PASS_SECONDS = 1.0
CRASH_WINDOW_SECONDS = 120.0
MAX_CRASHES = 5
SWITCH_SECONDS = 1.0  # after a switch, old instances stop this long later (the router re-reads its table every 50 ms)
_DRAINING, _STOPPING = "Draining", "Stopping"  # instance states of a generation that no longer takes traffic
_RETIRING = (_DRAINING, _STOPPING)
STOPPED_MARK = "stopped"  # in an endpoint's folder: `studio-ext endpoint stop` asked its processes to stay down


def is_stopped(workspace: Path, endpoint: str) -> bool:
    return (files.endpoint_dir(workspace, endpoint) / STOPPED_MARK).is_file()


def mark_stopped(workspace: Path, endpoint: str, stopped: bool) -> None:
    """Keep an endpoint's router and servers down (True) or let the supervisor bring them back."""
    mark = files.endpoint_dir(workspace, endpoint) / STOPPED_MARK
    if stopped:
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.write_text("stopped by studio-ext endpoint stop\n", encoding="utf-8")
    else:
        mark.unlink(missing_ok=True)


def stop_endpoint_processes(backend: LocalBackend, endpoint: str | None = None) -> list[str]:
    """End the router and scoring servers of ``endpoint`` (all endpoints with None), with what
    they started (telemetry exporters run in their session). The rows stay: the desired state
    is unchanged, so the next supervisor starts them again unless the endpoint is marked stopped.
    Returns what was ended, as "router of NAME (pid N)" lines.
    """
    ended = []
    with backend.store.engine.connect() as conn:
        eps = conn.execute(sa.select(endpoints_table)).all()
        instances = conn.execute(sa.select(instances_table)).all()
        deps = conn.execute(sa.select(deployments_table)).all()
    wanted = [e for e in eps if endpoint is None or e.name == endpoint]
    names = {e.name for e in wanted}
    for inst in instances:
        if inst.endpoint_name in names and inst.pid and kill_tree(inst.pid, inst.pid_start, grace=5.0):
            ended.append(f"scoring server of {inst.endpoint_name}/{inst.deployment_name} (pid {inst.pid})")
    for dep in deps:
        if dep.endpoint_name in names and dep.pid and kill_tree(dep.pid, dep.pid_start, grace=5.0):
            ended.append(f"scoring server of {dep.endpoint_name}/{dep.name} (pid {dep.pid})")
    for ep in wanted:
        if ep.pid and kill_tree(ep.pid, ep.pid_start, grace=5.0):
            ended.append(f"router of {ep.name} (pid {ep.pid})")
    return ended


def _listen(port: int | None) -> socket.socket:
    """A listening socket on 127.0.0.1 (never all interfaces) for a child to inherit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port or 0))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _probe(port: int, path: str, timeout: float) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        try:
            data = json.loads(body) if body else {}
        except json.JSONDecodeError:
            data = {}
        return response.status, data if isinstance(data, dict) else {}
    finally:
        conn.close()


@contextmanager
def _logged_failure(what: str) -> Iterator[None]:
    """Log a step that failed with its name, and go on to the next."""
    try:
        yield
    except Exception:
        log.exception("endpoints pass: %s failed; the others go on", what)


def _write_json_if_changed(path: Path, data: dict[str, Any]) -> bool:
    try:
        if json.loads(path.read_text()) == data:
            return False
    except (OSError, json.JSONDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
    return True


class EndpointsDuty:
    """Routers and deployment servers of every endpoint in the workspace."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend
        self._ws = backend.path
        self._children: dict[int, subprocess.Popen] = {}
        self._thread: threading.Thread | None = None
        self._last_pass = 0.0
        self._last_beat = 0.0
        self._has_endpoints = False
        self._crashes: dict[tuple[str, str], list[float]] = {}
        self._next_probe: dict[tuple[str, str], float] = {}
        self._probe_failures: dict[tuple[str, str], int] = {}
        self._signaled: dict[tuple[str, str], int] = {}
        self._stopping = False

    # -- the duty contract ---------------------------------------------------------------------
    def recover(self) -> None:
        with self._b.store.engine.connect() as conn:
            self._has_endpoints = conn.execute(sa.select(sa.func.count()).select_from(endpoints_table)).scalar() > 0
        if self._has_endpoints:
            self._beat(force=True)

    def tick(self) -> None:
        if self._has_endpoints:
            self._beat()
        for pid, proc in list(self._children.items()):
            if proc.poll() is not None:  # reap our own children at once
                del self._children[pid]
        # A workspace without endpoints is looked at once a second, one with them five times.
        interval = PASS_SECONDS if self._has_endpoints else IDLE_PASS_SECONDS
        if (self._thread is None or not self._thread.is_alive()) and time.monotonic() - self._last_pass >= interval:
            self._last_pass = time.monotonic()
            self._thread = threading.Thread(target=self._safe_pass, name="endpoints-pass", daemon=True)
            self._thread.start()

    def busy(self) -> bool:
        return self._has_endpoints

    def shutdown(self) -> None:
        """Leave the servers running: the next supervisor adopts them."""
        self._stopping = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- one pass --------------------------------------------------------------------------------
    def _beat(self, force: bool = False) -> None:
        if force or time.monotonic() - self._last_beat > 1.0:
            self._last_beat = time.monotonic()
            beat = files.endpoints_root(self._ws) / files.HEARTBEAT
            try:
                beat.parent.mkdir(exist_ok=True)  # never re-creates a deleted workspace folder
                beat.touch()
            except OSError:
                log.warning("cannot touch %s", beat)

    def _safe_pass(self) -> None:
        try:
            self.reconcile()
        except Exception:  # one bad pass must not stop the next
            log.exception("endpoints pass failed")

    def reconcile(self) -> None:
        with self._b.store.engine.connect() as conn:
            endpoints = conn.execute(sa.select(endpoints_table)).all()
            deployments = conn.execute(sa.select(deployments_table)).all()
        if endpoints and not self._has_endpoints:
            self._beat(force=True)  # servers about to start must find a fresh heartbeat
        self._has_endpoints = bool(endpoints)
        deleting = {e.name for e in endpoints if e.provisioning_state == ProvisioningState.DELETING.value}
        stopped = {e.name for e in endpoints if e.name not in deleting and is_stopped(self._ws, e.name)}
        for dep in deployments:
            if self._stopping:
                return
            # One deployment that fails its step must not hold up the others (a delete behind it).
            with _logged_failure(f"deployment {dep.endpoint_name}/{dep.name}"):
                if dep.endpoint_name in deleting or dep.provisioning_state == ProvisioningState.DELETING.value:
                    self._delete_deployment(dep)
                elif dep.endpoint_name not in stopped:
                    self._reconcile_deployment(dep)
        for ep in endpoints:
            with _logged_failure(f"endpoint {ep.name}"):
                if ep.name in deleting:
                    self._delete_endpoint(ep)
                elif ep.name not in stopped:
                    self._reconcile_endpoint(ep)
        for name in stopped:  # anything started before the mark was seen
            stop_endpoint_processes(self._b, name)

    # -- endpoints ---------------------------------------------------------------------------------
    def _reconcile_endpoint(self, ep: Any) -> None:
        with self._b.store.engine.connect() as conn:
            deps = conn.execute(sa.select(deployments_table).where(
                deployments_table.c.endpoint_name == ep.name,
                deployments_table.c.provisioning_state != ProvisioningState.DELETING.value)).all()
        spec = json.loads(ep.spec)
        settings = [json.loads(d.spec)["request_settings"] for d in deps]
        table = {
            "endpoint": ep.name, "workspace": str(self._ws), "revision": ep.revision,
            "keys_path": str(files.keys_path(self._ws, ep.name)),
            "telemetry_path": str(files.telemetry_path(self._ws)),
            "connection_string": self._connection_string({}),
            "deployments": {d.name: ports for d in deps if (ports := self._routed_ports(d))},
            "traffic": spec.get("traffic") or {}, "mirror_traffic": spec.get("mirror_traffic") or {},
            "max_body_bytes": max([s["max_body_bytes"] for s in settings] or [10 * 1024 * 1024]),
            "timeout_seconds": max([s["request_timeout_ms"] for s in settings] or [5000]) / 1000.0,
        }
        config_path = files.endpoint_dir(self._ws, ep.name) / "router.json"
        _write_json_if_changed(config_path, table)
        if _alive(ep.pid, ep.pid_start):
            if ep.applied_revision < ep.revision or ep.provisioning_state != ProvisioningState.SUCCEEDED.value:
                self._update_endpoint(ep.name, applied_revision=ep.revision,
                                      provisioning_state=ProvisioningState.SUCCEEDED.value, error=None)
            return
        try:
            sock = _listen(ep.port)
        except OSError as exc:
            if ep.port and exc.errno == errno.EADDRINUSE:
                self._update_endpoint(ep.name, provisioning_state=ProvisioningState.FAILED.value,
                                      error=f"Its port {ep.port} is taken by another program; free it, and the router starts again.")
                return
            raise
        port = sock.getsockname()[1]
        log_path = files.endpoint_dir(self._ws, ep.name) / "router.log"
        try:
            with open(log_path, "ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "studio_ext.serving.router", str(config_path), "--fd", str(sock.fileno())],
                    pass_fds=(sock.fileno(),), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                    start_new_session=True, cwd=str(files.endpoint_dir(self._ws, ep.name)))
        finally:
            sock.close()
        self._children[proc.pid] = proc
        log.info("router of %s started on port %s (pid %s)", ep.name, port, proc.pid)
        self._update_endpoint(ep.name, port=port, pid=proc.pid, pid_start=start_time(proc.pid),
                              applied_revision=ep.revision, provisioning_state=ProvisioningState.SUCCEEDED.value,
                              error=None)

    def _delete_endpoint(self, ep: Any) -> None:
        with self._b.store.engine.connect() as conn:
            left = conn.execute(sa.select(sa.func.count()).select_from(deployments_table).where(
                deployments_table.c.endpoint_name == ep.name)).scalar()
        if left:
            return  # deployments go first (this same pass)
        _stop(ep.pid, ep.pid_start, grace=5.0)
        import shutil

        shutil.rmtree(files.endpoint_dir(self._ws, ep.name), ignore_errors=True)
        with self._b.store.engine.begin() as conn:
            conn.execute(endpoints_table.delete().where(endpoints_table.c.name == ep.name))
        log.info("endpoint %s deleted", ep.name)

    def _update_endpoint(self, name: str, **values: Any) -> None:
        with self._b.store.engine.begin() as conn:
            conn.execute(endpoints_table.update().where(endpoints_table.c.name == name).values(**values))

    # -- deployments: aggregate rows ---------------------------------------------------------------
    def _update(self, dep: Any, **values: Any) -> None:
        values.setdefault("updated_at", time.time())
        with self._b.store.engine.begin() as conn:
            conn.execute(deployments_table.update().where(
                deployments_table.c.endpoint_name == dep.endpoint_name,
                deployments_table.c.name == dep.name).values(**values))

    def _instances(self, dep: Any) -> list[Any]:
        with self._b.store.engine.connect() as conn:
            return conn.execute(sa.select(instances_table).where(
                instances_table.c.endpoint_name == dep.endpoint_name,
                instances_table.c.deployment_name == dep.name).order_by(
                instances_table.c.generation, instances_table.c.idx)).all()

    def _set(self, inst: Any, **values: Any) -> None:
        values.setdefault("updated_at", time.time())
        with self._b.store.engine.begin() as conn:
            conn.execute(instances_table.update().where(*self._where(inst)).values(**values))

    @staticmethod
    def _where(inst: Any) -> list[Any]:
        return [instances_table.c.endpoint_name == inst.endpoint_name,
                instances_table.c.deployment_name == inst.deployment_name,
                instances_table.c.generation == inst.generation, instances_table.c.idx == inst.idx]

    def _routed_ports(self, dep: Any) -> list[int]:
        """The ports the router spreads a deployment's requests over: its ready instances, else all of them."""
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(sa.select(instances_table.c.port, instances_table.c.state).where(
                instances_table.c.endpoint_name == dep.endpoint_name,
                instances_table.c.deployment_name == dep.name,
                instances_table.c.generation == dep.running_generation)).all()
        ready = [r.port for r in rows if r.port and r.state == DeploymentState.HEALTHY.value]
        return ready or [r.port for r in rows if r.port and r.state not in (DeploymentState.FAILED.value,)]

    # -- deployments: one pass -----------------------------------------------------------------------
    def _reconcile_deployment(self, dep: Any) -> None:
        instances = self._instances(dep)
        if not instances and dep.running_generation and _alive(dep.pid, dep.pid_start):
            instances = self._adopt_single_server(dep)
        active = [i for i in instances if i.generation == dep.running_generation]
        rolling = dep.generation > dep.running_generation
        pending = [i for i in instances if rolling and i.generation == dep.generation]
        for inst in instances:
            if inst not in active and inst not in pending:
                self._retire(inst)
        serving = [i for i in active if i.state not in _RETIRING]
        if rolling and self._roll(dep, pending, serving):
            return  # switched: the old instances drain from the next pass on
        if not rolling and dep.running_generation and dep.state != DeploymentState.FAILED.value:
            spec = serving[0].spec if serving else dep.spec  # an instance missing (a workspace from before instances)
            missing = set(range(int(json.loads(spec).get("instance_count") or 1))) - {i.idx for i in serving}
            for idx in sorted(missing):
                self._start(dep, None, spec=spec, generation=dep.running_generation, idx=idx,
                            state=DeploymentState.UNHEALTHY, restarts=0, reason="The server was not running; starting it.")
            if missing:
                serving = [i for i in self._instances(dep)
                           if i.generation == dep.running_generation and i.state not in _RETIRING]
        if serving:
            self._tend(dep, serving)

    def _adopt_single_server(self, dep: Any) -> list[Any]:
        """A server started before deployments had instances becomes instance 0 of its generation."""
        with self._b.store.engine.begin() as conn:
            conn.execute(instances_table.insert().values(
                endpoint_name=dep.endpoint_name, deployment_name=dep.name, generation=dep.running_generation, idx=0,
                spec=dep.spec, state=dep.state, reason=dep.reason, port=dep.port, pid=dep.pid,
                pid_start=dep.pid_start, started_at=dep.started_at, loaded_code_version=dep.loaded_code_version,
                restarts=dep.restarts, updated_at=time.time()))
        return self._instances(dep)

    def _roll(self, dep: Any, pending: list[Any], active: list[Any]) -> bool:
        """Start the new generation beside the old; switch once all are ready (True); keep the old if they fail."""
        spec = json.loads(dep.spec)
        count = int(spec.get("instance_count") or 1)
        failed = [i for i in pending if i.state == DeploymentState.FAILED.value]
        if failed:
            return False  # recorded already; a newer update or a delete moves on from here
        have = {i.idx for i in pending}
        for idx in range(count):
            if idx not in have:
                self._start(dep, None, spec=dep.spec, generation=dep.generation, idx=idx,
                            state=DeploymentState.CREATING, restarts=0)
        pending = [i for i in self._instances(dep) if i.generation == dep.generation]
        if not active and pending and pending[0].pid != dep.pid:  # a first deploy: show its first server at once
            self._update(dep, pid=pending[0].pid, pid_start=pending[0].pid_start, port=pending[0].port,
                         started_at=pending[0].started_at, state=DeploymentState.CREATING.value, reason=None)
        reasons = []
        for inst in pending:
            if not _alive(inst.pid, inst.pid_start):
                reasons.append(self._failure(dep, inst) or "The server process exited while starting; see the logs.")
                continue
            if inst.state != DeploymentState.HEALTHY.value:
                reason = self._check_ready(dep, inst, json.loads(inst.spec))
                if reason:
                    reasons.append(reason)
        if reasons:
            for inst in pending:
                _stop(inst.pid, inst.pid_start, grace=2.0)
                self._set(inst, state=DeploymentState.FAILED.value, reason=reasons[0], pid=None,
                          loaded_code_version=dep.code_version)
            if active:
                self._update(dep, provisioning_state=ProvisioningState.FAILED.value,
                             reason=f"The update failed: {reasons[0]} The previous version keeps serving.")
                log.warning("update of %s/%s failed; the previous version keeps serving", dep.endpoint_name, dep.name)
            else:
                self._update(dep, running_generation=dep.generation, state=DeploymentState.FAILED.value,
                             provisioning_state=ProvisioningState.FAILED.value, reason=reasons[0], pid=None,
                             loaded_code_version=dep.code_version)
            return False
        pending = [i for i in self._instances(dep) if i.generation == dep.generation]
        if len(pending) >= count and all(i.state == DeploymentState.HEALTHY.value for i in pending):
            first = pending[0]
            self._update(dep, running_generation=dep.generation, state=DeploymentState.HEALTHY.value,
                         provisioning_state=ProvisioningState.SUCCEEDED.value, reason=None, pid=first.pid,
                         pid_start=first.pid_start, port=first.port, started_at=first.started_at, restarts=0,
                         loaded_code_version=min(i.loaded_code_version for i in pending))
            for inst in active:  # the router switches this pass; they stop once it has
                self._set(inst, state=_DRAINING)
            log.info("deployment %s/%s now serves generation %s on %d instance(s)",
                     dep.endpoint_name, dep.name, dep.generation, len(pending))
            return True
        return False

    def _retire(self, inst: Any) -> None:
        """Old instances: wait for the router to switch, SIGTERM (they drain), SIGKILL after the grace."""
        now = time.time()
        if not _alive(inst.pid, inst.pid_start):
            with self._b.store.engine.begin() as conn:
                conn.execute(instances_table.delete().where(*self._where(inst)))
            return
        spec = json.loads(inst.spec)
        grace = spec["request_settings"]["request_timeout_ms"] / 1000 + 5
        if inst.state == _STOPPING:
            if now - inst.updated_at > grace:
                _stop(inst.pid, inst.pid_start, grace=0.5)
        elif inst.state != _DRAINING or now - inst.updated_at > SWITCH_SECONDS:
            try:
                os.kill(inst.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self._set(inst, state=_STOPPING)

    def _tend(self, dep: Any, active: list[Any]) -> None:
        """Keep the serving generation's instances alive, reloaded and probed; sum them up on the deployment."""
        for inst in active:
            self._tend_instance(dep, inst)
        with self._b.store.engine.connect() as conn:
            dep = conn.execute(sa.select(deployments_table).where(
                deployments_table.c.endpoint_name == dep.endpoint_name, deployments_table.c.name == dep.name)).first()
        if dep is None:
            return
        rows = [i for i in self._instances(dep) if i.generation == dep.running_generation and i.state not in _RETIRING]
        if not rows:
            return
        states = {i.state for i in rows}
        if DeploymentState.FAILED.value in states:
            state = DeploymentState.FAILED
        elif DeploymentState.UNHEALTHY.value in states:
            state = DeploymentState.UNHEALTHY
        elif states == {DeploymentState.HEALTHY.value}:
            state = DeploymentState.HEALTHY
        else:
            state = DeploymentState(dep.state) if dep.state != DeploymentState.HEALTHY.value else DeploymentState.UNHEALTHY
        reason = next((i.reason for i in rows if i.reason), None)
        if dep.generation > dep.running_generation and dep.provisioning_state == ProvisioningState.FAILED.value:
            reason = dep.reason  # a failed update's reason stays in view
        first = rows[0]
        values: dict[str, Any] = {
            "state": state.value, "reason": reason, "restarts": sum(i.restarts for i in rows),
            "loaded_code_version": min(i.loaded_code_version for i in rows),
            "pid": first.pid, "pid_start": first.pid_start, "port": first.port, "started_at": first.started_at}
        if dep.generation == dep.running_generation:
            values["provisioning_state"] = (ProvisioningState.FAILED if state is DeploymentState.FAILED
                                            else ProvisioningState.SUCCEEDED).value
        if any(getattr(dep, k) != v for k, v in values.items()):
            self._update(dep, **values)

    def _tend_instance(self, dep: Any, inst: Any) -> None:
        key = (dep.endpoint_name, dep.name, inst.generation, inst.idx)
        spec = json.loads(inst.spec)
        if not _alive(inst.pid, inst.pid_start):
            if inst.state == DeploymentState.FAILED.value:
                if dep.code_version > inst.loaded_code_version and spec.get("scoring_script"):
                    self._start(dep, inst, spec=inst.spec, generation=inst.generation, idx=inst.idx,
                                state=DeploymentState.CREATING, restarts=inst.restarts)  # reload after a fix
                return
            failure = self._failure(dep, inst)
            if failure is not None:
                self._set(inst, state=DeploymentState.FAILED.value, reason=failure,
                          loaded_code_version=dep.code_version, pid=None)
                return
            crashes = [t for t in self._crashes.get(key, []) if time.time() - t < CRASH_WINDOW_SECONDS]
            crashes.append(time.time())
            self._crashes[key] = crashes
            if len(crashes) > MAX_CRASHES:
                self._set(inst, state=DeploymentState.FAILED.value, pid=None,
                          reason=f"The server crashed {len(crashes)} times in {CRASH_WINDOW_SECONDS:.0f} s; "
                                 "see the deployment logs. Update or reload the deployment to try again.")
                return
            if inst.pid is not None:
                log.warning("deployment %s/%s instance %s (pid %s) died; restarting",
                            dep.endpoint_name, dep.name, inst.idx, inst.pid)
            self._start(dep, inst, spec=inst.spec, generation=inst.generation, idx=inst.idx,
                        state=DeploymentState.UNHEALTHY if inst.pid is not None else DeploymentState.CREATING,
                        restarts=inst.restarts + (1 if inst.pid is not None else 0),
                        reason="The server process exited unexpectedly; restarting it." if inst.pid else None)
            return
        # Alive: reload, readiness while starting, liveness once healthy.
        if dep.code_version > inst.loaded_code_version and inst.state == DeploymentState.HEALTHY.value:
            if self._signaled.get(key) != dep.code_version:
                self._write_server_config(dep, spec, inst.generation)
                os.kill(inst.pid, signal.SIGHUP)
                self._signaled[key] = dep.code_version
        if inst.state != DeploymentState.HEALTHY.value or dep.code_version > inst.loaded_code_version:
            reason = self._check_ready(dep, inst, spec)
            if reason:
                _stop(inst.pid, inst.pid_start, grace=2.0)
                self._set(inst, state=DeploymentState.FAILED.value, reason=reason, pid=None)
        else:
            self._check_live(dep, inst, spec)

    def _check_ready(self, dep: Any, inst: Any, spec: dict[str, Any]) -> str | None:
        """Mark the instance Healthy once its readiness probe answers; the reason if it never will."""
        probe = spec["readiness_probe"]
        try:
            status, data = _probe(inst.port, "/health/ready", min(float(probe["timeout"]), 2.0))
        except OSError:
            status, data = 0, {}
        if status == 200:
            reload_error = data.get("reload_error")
            loaded = int(data.get("code_version", dep.code_version))
            self._set(inst, state=DeploymentState.HEALTHY.value,
                      reason=f"Reload failed: {reload_error}." if reload_error else None,
                      loaded_code_version=max(loaded, inst.loaded_code_version))
            self._probe_failures.pop((dep.endpoint_name, dep.name, inst.generation, inst.idx), None)
            return None
        budget = float(probe["initial_delay"]) + float(probe["period"]) * float(probe["failure_threshold"])
        if inst.started_at and time.time() - inst.started_at > budget:
            return f"The server did not become ready within {budget:.0f} s (readiness probe)."
        return None

    def _check_live(self, dep: Any, inst: Any, spec: dict[str, Any]) -> None:
        key = (dep.endpoint_name, dep.name, inst.generation, inst.idx)
        probe = spec["liveness_probe"]
        if time.monotonic() < self._next_probe.get(key, 0.0):
            return
        self._next_probe[key] = time.monotonic() + float(probe["period"])
        try:
            status, _ = _probe(inst.port, "/health/live", float(probe["timeout"]))
        except OSError:
            status = 0
        if status == 200:
            self._probe_failures.pop(key, None)
            return
        failures = self._probe_failures.get(key, 0) + 1
        self._probe_failures[key] = failures
        if failures >= int(probe["failure_threshold"]):
            log.warning("deployment %s/%s instance %s failed %d liveness probes; restarting",
                        dep.endpoint_name, dep.name, inst.idx, failures)
            self._set(inst, state=DeploymentState.UNHEALTHY.value,
                      reason=f"The liveness probe failed {failures} times; restarting the server.")
            _stop(inst.pid, inst.pid_start, grace=2.0)
            self._probe_failures.pop(key, None)

    def _failure(self, dep: Any, inst: Any) -> str | None:
        """The reason a server that exited gave for not starting, if it gave one."""
        path = files.deployment_dir(self._ws, dep.endpoint_name, dep.name) / "failures" / f"{inst.pid}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return str(data.get("reason"))

    def _connection_string(self, env: dict[str, str]) -> str | None:
        for name in ("APPLICATIONINSIGHTS_CONNECTION_STRING",):
            if env.get(name):
                return env[name]
        telemetry = self._b.config.get("telemetry", {}) if isinstance(self._b.config, dict) else {}
        return telemetry.get("applicationinsights_connection_string") or os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING")

    def _write_server_config(self, dep: Any, spec: dict[str, Any], generation: int) -> Path:
        """One config per generation: an old generation's instance restarts with its own spec."""
        ddir = files.deployment_dir(self._ws, dep.endpoint_name, dep.name)
        with self._b.store.engine.connect() as conn:
            code_version = conn.execute(sa.select(deployments_table.c.code_version).where(
                deployments_table.c.endpoint_name == dep.endpoint_name,
                deployments_table.c.name == dep.name)).scalar()
        config = {
            "endpoint": dep.endpoint_name, "deployment": dep.name, "workspace": str(self._ws),
            "keys_path": str(files.keys_path(self._ws, dep.endpoint_name)),
            "telemetry_path": str(files.telemetry_path(self._ws)),
            "connection_string": self._connection_string(spec.get("environment_variables") or {}),
            "model": spec.get("model"), "code_dir": str(ddir / "code") if spec.get("scoring_script") else None,
            "scoring_script": spec.get("scoring_script"), "request_settings": spec["request_settings"],
            "code_version": code_version, "failure_dir": str(ddir / "failures"),
            "data_collector": self._collector_config(dep, spec),
        }
        path = ddir / f"server-{generation}.json"
        _write_json_if_changed(path, config)
        return path

    def _collector_config(self, dep: Any, spec: dict[str, Any]) -> dict[str, Any] | None:
        """What the server's collection writer needs: where to write, which collections, how often."""
        collector = spec.get("data_collector")
        if not collector:
            return None
        from studio_ext.backends.local.data.datastores import local_folder
        from studio_ext.serving import data_collection

        logging_ = collector.get("request_logging") or {}
        return {"folder": str(data_collection.deployment_folder(local_folder(self._b.datastore_uri),
                                                                dep.endpoint_name, dep.name)),
                "collections": {k: (v or {}).get("enabled") == "true" for k, v in collector["collections"].items()},
                "sampling_rate": collector.get("sampling_rate"), "rolling_rate": collector.get("rolling_rate"),
                "capture_headers": logging_.get("capture_headers") or [],
                "model_version": (spec.get("model") or {}).get("version")}

    def _start(self, dep: Any, inst: Any | None, *, spec: str, generation: int, idx: int,
               state: DeploymentState, restarts: int, reason: str | None = None) -> None:
        """Start (or restart) instance ``idx`` of ``generation`` on its old port if it is free."""
        parsed = json.loads(spec)
        ddir = files.deployment_dir(self._ws, dep.endpoint_name, dep.name)
        (ddir / "failures").mkdir(parents=True, exist_ok=True)
        config_path = self._write_server_config(dep, parsed, generation)
        try:
            sock = _listen(inst.port if inst is not None else None)
        except OSError:
            sock = _listen(None)  # the old port is taken: the router follows the new one
        port = sock.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT"))}
        env.update(parsed.get("environment_variables") or {})
        env["PYTHONUNBUFFERED"] = "1"
        # azureml.ai.monitoring (Collector) and mltable for scoring scripts, when not installed
        env["PYTHONPATH"] = with_fallback_hook(env.get("PYTHONPATH"))
        if parsed.get("model"):
            env["AZUREML_MODEL_DIR"] = parsed["model"]["root"]
        cwd = ddir / "code" if parsed.get("scoring_script") else ddir
        try:
            with open(ddir / "server.log", "ab") as out:
                out.write(f"--- starting {dep.endpoint_name}/{dep.name} instance {idx} (generation {generation}) at "
                          f"{time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
                out.flush()
                python = self._python(parsed, ddir / "server.log")
                proc = subprocess.Popen(
                    [python, "-m", "studio_ext.serving.scoring_app", str(config_path), "--fd", str(sock.fileno())],
                    pass_fds=(sock.fileno(),), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                    start_new_session=True, cwd=str(cwd), env=env)
        finally:
            sock.close()
        self._children[proc.pid] = proc
        self._next_probe.pop((dep.endpoint_name, dep.name, generation, idx), None)
        values = {"pid": proc.pid, "pid_start": start_time(proc.pid), "port": port,
                  "started_at": time.time(), "state": state.value, "restarts": restarts, "reason": reason,
                  "updated_at": time.time()}
        with self._b.store.engine.begin() as conn:
            if inst is None:
                conn.execute(instances_table.insert().values(
                    endpoint_name=dep.endpoint_name, deployment_name=dep.name, generation=generation, idx=idx,
                    spec=spec, loaded_code_version=0, **values))
            else:
                conn.execute(instances_table.update().where(*self._where(inst)).values(**values))
        log.info("deployment %s/%s instance %s started on port %s (pid %s)", dep.endpoint_name, dep.name, idx, port, proc.pid)

    def _python(self, spec: dict[str, Any], log_path: Path) -> str:
        """The interpreter of a deployment's scoring server: its environment's venv, or the studio's."""
        if not spec.get("environment"):
            return sys.executable
        envs = self._b.service("environments")
        return envs.python_for(envs.resolve(spec["environment"]), log=log_path, serving=True)

    def _delete_deployment(self, dep: Any) -> None:
        instances = self._instances(dep)
        for inst in instances:  # all drain at once
            if _alive(inst.pid, inst.pid_start):
                try:
                    os.kill(inst.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        spec = json.loads(dep.spec)
        for inst in instances:
            _stop(inst.pid, inst.pid_start, grace=spec["request_settings"]["request_timeout_ms"] / 1000 + 5)
        _stop(dep.pid, dep.pid_start, grace=2.0)
        import shutil

        shutil.rmtree(files.deployment_dir(self._ws, dep.endpoint_name, dep.name), ignore_errors=True)
        with self._b.store.engine.begin() as conn:
            conn.execute(instances_table.delete().where(instances_table.c.endpoint_name == dep.endpoint_name,
                                                        instances_table.c.deployment_name == dep.name))
            conn.execute(deployments_table.delete().where(
                deployments_table.c.endpoint_name == dep.endpoint_name, deployments_table.c.name == dep.name))
        log.info("deployment %s/%s deleted", dep.endpoint_name, dep.name)
