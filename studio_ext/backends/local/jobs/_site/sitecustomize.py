"""Loaded at the start of every Python process of a command job (this folder is first on its PYTHONPATH).

It makes MLflow behave as in an Azure ML job: the job's run is the active run from the moment
the script imports ``mlflow``, so every fluent call lands in it, including MLflow 3's
``mlflow.<flavor>.log_model(...)`` outside ``start_run`` (its LoggedModel records the job's run
as its source, so ``azureml://jobs/NAME/outputs/artifacts/paths/model/`` finds it) and
``mlflow.autolog()`` (which then logs into the active run and leaves it open). A script's own
``mlflow.start_run()`` (not nested, no other run id) gives back the job's run instead of failing
with "run already active", and after ``end_run`` the next call resumes the job's run again
rather than starting a stray one.

Nothing is imported until the script imports ``mlflow``: a job that does not use MLflow pays
for one entry in ``sys.meta_path``. The ``sitecustomize`` this one hides (a distribution's)
still runs. ``STUDIO_EXT_JOB_MLFLOW=0`` in the job's environment variables turns this off.
Plain Python 3.8+, no studio_ext import: it runs in any job environment.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_RUN_ID = os.environ.get("MLFLOW_RUN_ID")


def _run_hidden_sitecustomize() -> None:
    import importlib.machinery
    import importlib.util

    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - as site.py treats a failing sitecustomize: say so, carry on
        sys.stderr.write(f"Error in sitecustomize ({spec.origin}): {exc!r}\n")


def _patch(mlflow: object) -> None:
    """Resume the job's run now, and keep the script's own start_run/end_run on it."""
    run_id = _RUN_ID
    original_start = mlflow.start_run
    original_active = mlflow.active_run

    def start_run(*args: object, **kwargs: object) -> object:
        names = ("run_id", "experiment_id", "run_name", "nested")
        given = dict(zip(names, args))
        given.update(kwargs)
        if given.get("nested") or given.get("run_id") not in (None, run_id):
            return original_start(*args, **kwargs)
        active = original_active()
        if active is not None and active.info.run_id == run_id:
            if given.get("tags"):
                mlflow.set_tags(given["tags"])
            return active
        kwargs = {k: v for k, v in given.items() if k not in ("experiment_id", "nested")}
        kwargs["run_id"] = run_id  # the job's run is in the job's experiment, whatever the script set
        try:
            return original_start(**kwargs)
        finally:
            os.environ["MLFLOW_RUN_ID"] = run_id  # MLflow removes it; a child process resumes the run too

    start_run.__doc__ = original_start.__doc__
    mlflow.start_run = start_run
    fluent = sys.modules.get("mlflow.tracking.fluent")
    if fluent is not None:
        fluent.start_run = start_run  # _get_or_start_run (log_metric & co. outside a run) calls it here
    try:
        start_run()
    except Exception as exc:  # noqa: BLE001 - the script's own calls report the problem where it shows
        sys.stderr.write(f"[studio-ext] Could not make the job's MLflow run active: {exc!r}\n")


class _MlflowImport:
    """Finds nothing itself; when ``mlflow`` is imported, runs :func:`_patch` once it has loaded."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> object:
        if name != "mlflow":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader_exec = spec.loader.exec_module

        def exec_module(module: object) -> None:
            loader_exec(module)
            _patch(module)

        spec.loader.exec_module = exec_module
        return spec


_run_hidden_sitecustomize()
if _RUN_ID and os.environ.get("STUDIO_EXT_JOB_MLFLOW", "1") != "0" and "mlflow" not in sys.modules:
    sys.meta_path.insert(0, _MlflowImport())
