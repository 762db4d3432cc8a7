"""The supervisor's duty for online endpoints: routers and deployment servers, kept alive.

Each pass (every 0.2 s, in a worker thread so the supervisor's 50 ms tick stays
cheap) reconciles the store's desired state with the processes it finds:

- an endpoint gets a router on a port recorded once and kept for good;
- a deployment gets a uvicorn server; Creating until its readiness probe answers,
  then Healthy; a server that dies is Unhealthy and is started again (Failed after
  repeated crashes); one that reports a failed start (bad model, ``init()``
  raised, tampered files) is Failed with the reason;
- a new code version is loaded by SIGHUP; a new generation restarts the server;
- the routing table (``router.json``) follows the deployments' ports and traffic.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import sqlalchemy as sa

from ..backends.local.endpoint_tables import online_deployments as deployments_table
from ..backends.local.jobs import pid_alive as _alive
from ..backends.local.endpoint_tables import online_endpoints as endpoints_table
from ..entities import DeploymentState, ProvisioningState
from . import endpoint_files as files

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.local import LocalBackend

log = logging.getLogger("studio_ext.supervisor.endpoints")
PASS_SECONDS = 0.2
IDLE_PASS_SECONDS = 1.0
CRASH_WINDOW_SECONDS = 120.0
MAX_CRASHES = 5


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


def _stop(pid: int | None, started: float | None, grace: float = 10.0) -> None:
    """SIGTERM (servers drain), then SIGKILL after ``grace`` seconds."""
    if not _alive(pid, started):
        return
    try:
        proc = psutil.Process(pid)
        proc.terminate()
        proc.wait(timeout=grace)
    except psutil.TimeoutExpired:
        proc.kill()
    except psutil.Error:
        pass


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

    def __init__(self, backend: "LocalBackend") -> None:
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
        for dep in deployments:
            if self._stopping:
                return
            if dep.endpoint_name in deleting or dep.provisioning_state == ProvisioningState.DELETING.value:
                self._delete_deployment(dep)
            else:
                self._reconcile_deployment(dep)
        for ep in endpoints:
            if ep.name in deleting:
                self._delete_endpoint(ep)
            else:
                self._reconcile_endpoint(ep)

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
            "deployments": {d.name: d.port for d in deps if d.port},
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
        self._update_endpoint(ep.name, port=port, pid=proc.pid, pid_start=psutil.Process(proc.pid).create_time(),
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

    # -- deployments ---------------------------------------------------------------------------------
    def _update(self, dep: Any, **values: Any) -> None:
        values.setdefault("updated_at", time.time())
        with self._b.store.engine.begin() as conn:
            conn.execute(deployments_table.update().where(
                deployments_table.c.endpoint_name == dep.endpoint_name,
                deployments_table.c.name == dep.name).values(**values))

    def _reconcile_deployment(self, dep: Any) -> None:
        key = (dep.endpoint_name, dep.name)
        spec = json.loads(dep.spec)
        alive = _alive(dep.pid, dep.pid_start)
        if dep.running_generation < dep.generation:
            if alive:
                _stop(dep.pid, dep.pid_start, grace=spec["request_settings"]["request_timeout_ms"] / 1000 + 5)
            self._crashes.pop(key, None)
            self._start(dep, spec, state=DeploymentState.CREATING, restarts=0)
            return
        if not alive:
            if dep.state == DeploymentState.FAILED.value:
                if dep.code_version > dep.loaded_code_version and spec.get("scoring_script"):
                    self._start(dep, spec, state=DeploymentState.CREATING, restarts=dep.restarts)  # reload after a fix
                return
            failure = self._failure(dep)
            if failure is not None:
                self._update(dep, state=DeploymentState.FAILED.value, provisioning_state=ProvisioningState.FAILED.value,
                             reason=failure, loaded_code_version=dep.code_version, pid=None)
                return
            crashes = [t for t in self._crashes.get(key, []) if time.time() - t < CRASH_WINDOW_SECONDS]
            crashes.append(time.time())
            self._crashes[key] = crashes
            if len(crashes) > MAX_CRASHES:
                self._update(dep, state=DeploymentState.FAILED.value, provisioning_state=ProvisioningState.FAILED.value,
                             reason=f"The server crashed {len(crashes)} times in {CRASH_WINDOW_SECONDS:.0f} s; "
                                    "see the deployment logs. Update or reload the deployment to try again.", pid=None)
                return
            if dep.pid is not None:
                log.warning("deployment %s/%s (pid %s) died; restarting", dep.endpoint_name, dep.name, dep.pid)
                self._update(dep, state=DeploymentState.UNHEALTHY.value,
                             reason="The server process exited unexpectedly; restarting it.")
            self._start(dep, spec, state=DeploymentState.UNHEALTHY if dep.pid is not None else DeploymentState.CREATING,
                        restarts=dep.restarts + (1 if dep.pid is not None else 0))
            return
        # Alive: reload, readiness while starting, liveness once healthy.
        if dep.code_version > dep.loaded_code_version and dep.state == DeploymentState.HEALTHY.value:
            if self._signaled.get(key) != dep.code_version:
                self._write_server_config(dep, spec)
                os.kill(dep.pid, signal.SIGHUP)
                self._signaled[key] = dep.code_version
        if dep.state != DeploymentState.HEALTHY.value or dep.code_version > dep.loaded_code_version:
            self._check_ready(dep, spec)
        else:
            self._check_live(dep, spec)

    def _check_ready(self, dep: Any, spec: dict[str, Any]) -> None:
        probe = spec["readiness_probe"]
        try:
            status, data = _probe(dep.port, "/health/ready", min(float(probe["timeout"]), 2.0))
        except OSError:
            status, data = 0, {}
        if status == 200:
            reload_error = data.get("reload_error")
            loaded = int(data.get("code_version", dep.code_version))
            self._update(dep, state=DeploymentState.HEALTHY.value, provisioning_state=ProvisioningState.SUCCEEDED.value,
                         reason=f"Reload failed: {reload_error}." if reload_error else None,
                         loaded_code_version=max(loaded, dep.loaded_code_version))
            self._probe_failures.pop((dep.endpoint_name, dep.name), None)
            return
        budget = float(probe["initial_delay"]) + float(probe["period"]) * float(probe["failure_threshold"])
        if dep.started_at and time.time() - dep.started_at > budget:
            _stop(dep.pid, dep.pid_start, grace=2.0)
            self._update(dep, state=DeploymentState.FAILED.value, provisioning_state=ProvisioningState.FAILED.value,
                         reason=f"The server did not become ready within {budget:.0f} s (readiness probe).", pid=None)

    def _check_live(self, dep: Any, spec: dict[str, Any]) -> None:
        key = (dep.endpoint_name, dep.name)
        probe = spec["liveness_probe"]
        if time.monotonic() < self._next_probe.get(key, 0.0):
            return
        self._next_probe[key] = time.monotonic() + float(probe["period"])
        try:
            status, _ = _probe(dep.port, "/health/live", float(probe["timeout"]))
        except OSError:
            status = 0
        if status == 200:
            self._probe_failures.pop(key, None)
            return
        failures = self._probe_failures.get(key, 0) + 1
        self._probe_failures[key] = failures
        if failures >= int(probe["failure_threshold"]):
            log.warning("deployment %s/%s failed %d liveness probes; restarting", *key, failures)
            self._update(dep, state=DeploymentState.UNHEALTHY.value,
                         reason=f"The liveness probe failed {failures} times; restarting the server.")
            _stop(dep.pid, dep.pid_start, grace=2.0)
            self._probe_failures.pop(key, None)

    def _failure(self, dep: Any) -> str | None:
        path = files.deployment_dir(self._ws, dep.endpoint_name, dep.name) / "failure.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if data.get("pid") != dep.pid:
            return None
        return str(data.get("reason"))

    def _connection_string(self, env: dict[str, str]) -> str | None:
        for name in ("APPLICATIONINSIGHTS_CONNECTION_STRING",):
            if env.get(name):
                return env[name]
        telemetry = self._b.config.get("telemetry", {}) if isinstance(self._b.config, dict) else {}
        return telemetry.get("applicationinsights_connection_string") or os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING")

    def _write_server_config(self, dep: Any, spec: dict[str, Any]) -> Path:
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
            "code_version": code_version, "failure_path": str(ddir / "failure.json"),
        }
        path = ddir / "server.json"
        _write_json_if_changed(path, config)
        return path

    def _start(self, dep: Any, spec: dict[str, Any], *, state: DeploymentState, restarts: int) -> None:
        ddir = files.deployment_dir(self._ws, dep.endpoint_name, dep.name)
        ddir.mkdir(parents=True, exist_ok=True)
        (ddir / "failure.json").unlink(missing_ok=True)
        config_path = self._write_server_config(dep, spec)
        try:
            sock = _listen(dep.port)
        except OSError:
            sock = _listen(None)  # the old port is taken: the router follows the new one
        port = sock.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT"))}
        env.update(spec.get("environment_variables") or {})
        env["PYTHONUNBUFFERED"] = "1"
        if spec.get("model"):
            env["AZUREML_MODEL_DIR"] = spec["model"]["root"]
        cwd = ddir / "code" if spec.get("scoring_script") else ddir
        try:
            with open(ddir / "server.log", "ab") as out:
                out.write(f"--- starting {dep.endpoint_name}/{dep.name} (generation {dep.generation}) at "
                          f"{time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
                out.flush()
                proc = subprocess.Popen(
                    [sys.executable, "-m", "studio_ext.serving.scoring_app", str(config_path), "--fd", str(sock.fileno())],
                    pass_fds=(sock.fileno(),), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                    start_new_session=True, cwd=str(cwd), env=env)
        finally:
            sock.close()
        self._children[proc.pid] = proc
        self._next_probe.pop((dep.endpoint_name, dep.name), None)
        self._update(dep, pid=proc.pid, pid_start=psutil.Process(proc.pid).create_time(), port=port,
                     started_at=time.time(), running_generation=dep.generation, state=state.value,
                     restarts=restarts, **({"reason": None} if state is DeploymentState.CREATING else {}))
        log.info("deployment %s/%s started on port %s (pid %s)", dep.endpoint_name, dep.name, port, proc.pid)

    def _delete_deployment(self, dep: Any) -> None:
        spec = json.loads(dep.spec)
        _stop(dep.pid, dep.pid_start, grace=spec["request_settings"]["request_timeout_ms"] / 1000 + 5)
        import shutil

        shutil.rmtree(files.deployment_dir(self._ws, dep.endpoint_name, dep.name), ignore_errors=True)
        with self._b.store.engine.begin() as conn:
            conn.execute(deployments_table.delete().where(
                deployments_table.c.endpoint_name == dep.endpoint_name, deployments_table.c.name == dep.name))
        log.info("deployment %s/%s deleted", dep.endpoint_name, dep.name)
