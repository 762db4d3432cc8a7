"""A spare job process with AutoML's libraries already imported: an AutoML job starts in a fraction of a second.

Importing pandas, scikit-learn, LightGBM, MLflow and FLAML takes 4-7 s of a job's
budget on a two-core machine. The supervisor keeps one spare process
(``python -m studio_ext.backends.local.automl.warm_start``, in a session of its own like
any job's wrapper) that imports them, says ``ready`` on stdout and waits for one
job on stdin. Given one, it forks: the child becomes the job's process (its
directory, environment and log; ``python -m MODULE ARGS`` run as ``__main__``) and
the spare waits for it and records its exit in EXIT_FILE as ``_wrap.py`` does, so
cancel, recovery and finalizing see a job like any other. Only jobs that run a
module of :data:`WARM_MODULES` with the supervisor's own interpreter start this way.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import IO, Any

from studio_ext.backends.local.core.processes import JOB_MARKER
from studio_ext.backends.local.jobs._wrap import become_subreaper, end_leftovers

__all__ = ["WARM_MODULES", "WARM_SETTING", "WarmSpare", "warm_order"]

WARM_MODULES = ("studio_ext.backends.local.automl.run",)
WARM_SETTING = "automl_warm"  # in the store: a spare is wanted (set by ws.automl), and whether one is ready
READY = b"ready\n"
# What an AutoML job imports, heaviest first (each import that fails is left to the job, which reports it).
PRELOAD = (
    "pandas", "pyarrow.parquet", "sklearn.pipeline", "sklearn.preprocessing", "sklearn.linear_model",
    "sklearn.ensemble", "sklearn.model_selection", "sklearn.neighbors", "sklearn.tree", "sklearn.compose",
    "sklearn.impute", "sklearn.feature_extraction.text", "lightgbm", "xgboost", "scipy.stats", "threadpoolctl",
    "mlflow", "mlflow.tracking", "mlflow.entities", "mlflow.models", "mlflow.pyfunc", "mlflow.sklearn",
    "flaml.tune.searcher", "cloudpickle", "studio_ext.workspace", "studio_ext.ml.automl",
    "studio_ext.ml.explain", "studio_ext.backends.local.automl.service", "studio_ext.backends.local.automl.trials",
)  # not automl_run itself: the job runs it as __main__


def warm_order(argv: list[str], python: str) -> tuple[str, list[str]] | None:
    """``(module, args)`` when ``argv`` runs a warm module with ``python`` (the supervisor's own); else None."""
    if len(argv) >= 3 and argv[0] == python and argv[1] == "-m" and argv[2] in WARM_MODULES:
        return argv[2], argv[3:]
    return None


class WarmSpare:
    """The supervisor's handle on one spare process (started now, importing in the background)."""

    def __init__(self, cwd: Path, log_path: Path, tracking_uri: str) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", __name__, tracking_uri], cwd=str(cwd), stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.ready = False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def poll_ready(self) -> bool:
        """True once the spare has imported everything (read without blocking)."""
        if not self.ready and self.alive():
            try:
                self.ready = bool(self.proc.stdout.read())
            except (BlockingIOError, ValueError):
                pass
        return self.ready

    def assign(self, *, module: str, args: list[str], cwd: Path, env: dict[str, str], log_path: Path,
               exit_path: Path) -> subprocess.Popen[bytes] | None:
        """Hand the spare one job; its process (the job's wrapper from now on), or None if it is gone."""
        order = {"module": module, "args": args, "cwd": str(cwd), "env": env, "log": str(log_path),
                 "exit": str(exit_path)}
        try:
            self.proc.stdin.write(json.dumps(order).encode() + b"\n")
            self.proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            return None
        self.proc.stdout.close()
        return self.proc

    def discard(self) -> None:
        """End an unused spare (it holds no job)."""
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except (OSError, ValueError):
                pass


# -- the spare process itself -------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the job imports it again and reports the failure in its own log
            pass
    _warm_mlflow(argv[0] if argv else None)
    out = os.fdopen(1, "wb", buffering=0, closefd=False)
    try:
        out.write(READY)
    except OSError:
        pass  # the supervisor stopped listening because it handed a job over while this imported: read it
    line = sys.stdin.buffer.readline()
    if not line:  # the supervisor discarded this spare
        return 0
    order = json.loads(line)
    started = time.time()
    subreaper = become_subreaper()  # as the job wrapper: what the job orphans stays below this process
    pid = os.fork()
    if pid == 0:
        _become_job(order)  # never returns
    return _wait_and_record(pid, order, started, subreaper)


def _warm_mlflow(tracking_uri: str | None) -> None:
    """MLflow's slow first steps: the workspace's tracking client (its store checks the database schema, over
    a second), and the map of installed packages a saved model's requirements are checked against."""
    try:
        from mlflow.utils import requirements_utils

        requirements_utils._init_packages_to_modules_map()
    except Exception:  # noqa: BLE001 - MLflow's internals moved: saving the model just takes longer
        pass
    if not tracking_uri:
        return
    try:
        from studio_ext.backends.local.core import tracking
        store = tracking.client(tracking_uri)._tracking_client.store
        store.engine.dispose()  # no database connection crosses the fork: the job opens its own
    except Exception:  # noqa: BLE001 - the job builds its client itself, as without a spare
        tracking.forget_clients()


def _wait_and_record(pid: int, order: dict[str, Any], started: float, subreaper: bool = False) -> int:
    """As ``_wrap.py``: forward SIGTERM/SIGINT to the job, end what it left running, then write its exit atomically."""
    def forward(signum: int, _frame: Any) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if subreaper:
        end_leftovers(order["env"].get(JOB_MARKER))
    exit_file = order["exit"]
    tmp = exit_file + ".tmp"
    with open(tmp, "w") as handle:
        json.dump({"exit_code": code, "error": None, "started": started, "ended": time.time()}, handle)
    os.replace(tmp, exit_file)
    return 0


def _become_job(order: dict[str, Any]) -> None:
    """In the forked child: the job's directory, environment and log, then its module as ``__main__``."""
    import runpy

    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        log = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        _reconfigure(sys.stdout)
        _reconfigure(sys.stderr)
        os.chdir(order["cwd"])
        os.environ.clear()
        os.environ.update(order["env"])
        sys.path[0] = order["cwd"]  # as ``python -m`` puts the working directory first
        sys.argv = [order["module"], *order["args"]]
        runpy.run_module(order["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - reported in the job's log, as the interpreter would
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def _reconfigure(stream: IO[str]) -> None:
    try:
        stream.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        pass


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # No teardown of the hundreds of modules imported above (over a second): the supervisor sees the job's
    # end when this process exits.
    os._exit(code)
