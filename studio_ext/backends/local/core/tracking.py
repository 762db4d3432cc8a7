"""MLflow as the workspace's run tracker and model registry.

MLflow is imported lazily: opening a workspace and listing metadata stay fast.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import tempfile
import threading
from functools import lru_cache
from typing import TYPE_CHECKING

from studio_ext.backends.local.core.urls import sqlite_file

if TYPE_CHECKING:  # pragma: no cover
    from mlflow.tracking import MlflowClient


def sqlite_path(uri: str) -> str | None:
    """The file of a SQLite tracking URI, or None (a server, or in memory)."""
    path = sqlite_file(uri)
    return None if path is None else str(path)


def init_tracking_store(tracking_uri: str, artifacts_uri: str) -> None:
    """Create MLflow's schema now (under the creation lock), in WAL mode for concurrent jobs.

    A new SQLite store starts as a copy of an empty one this process migrated once: MLflow's
    migrations (some sixty Alembic steps, seconds each workspace) run once per process, not
    once per workspace. MLflow then checks the copy's schema and makes its Default experiment,
    with this workspace's artifact location, as on any empty store.
    """
    db = sqlite_path(tracking_uri)
    if db:
        if not os.path.exists(db) or os.path.getsize(db) == 0:
            shutil.copyfile(_empty_sqlite_store(), db)
        conn = sqlite3.connect(db, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.close()
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(tracking_uri, artifacts_uri)
    store.engine.dispose()


_template_lock = threading.Lock()
_template: list[str] = []  # the migrated empty store of this process, once made


def _empty_sqlite_store() -> str:
    """A SQLite file with MLflow's current schema and no experiment (made once per process)."""
    with _template_lock:
        if _template and os.path.exists(_template[0]):
            return _template[0]
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        folder = tempfile.mkdtemp(prefix="studio-ext-mlflow-schema-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = os.path.join(folder, "mlflow.db")
        store = SqlAlchemyStore(f"sqlite:///{path}", os.path.join(folder, "artifacts"))
        store.engine.dispose()
        conn = sqlite3.connect(path)
        with conn:  # the Default experiment is made again, in each store's own artifact location
            conn.execute("DELETE FROM experiment_tags")
            conn.execute("DELETE FROM experiments")
        conn.close()
        _template[:] = [path]
        return path


_client_lock = threading.Lock()


@lru_cache(maxsize=8)
def _build_client(tracking_uri: str) -> MlflowClient:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def client(tracking_uri: str) -> MlflowClient:
    """One MLflow client per tracking URI per process (threads asking at once share the first one built)."""
    with _client_lock:
        return _build_client(tracking_uri)


def forget_clients() -> None:
    """Drop the clients built so far (the next call builds a new one), and where they put artifacts."""
    _build_client.cache_clear()
    forget_artifact_locations()


def forget_artifact_locations() -> None:
    """Empty MLflow's process-wide cache of artifact stores, keyed by run id alone.

    A copied workspace has the same run ids as its original: after the copy's stored
    locations are rewritten (``locations.relocate``), a process that had used the
    original must not keep writing a run's artifacts there.
    """
    import sys

    utils = sys.modules.get("mlflow.tracking._tracking_service.utils")
    cache = getattr(utils, "_artifact_repos_cache", None)
    if cache is not None:
        cache.clear()


def ensure_experiment(tracking_uri: str, artifacts_uri: str, name: str) -> str:
    """Return the experiment id of ``name``, creating it with its artifacts in the workspace."""
    from mlflow.exceptions import MlflowException

    c = client(tracking_uri)
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return c.create_experiment(name, artifact_location=f"{artifacts_uri}/{name}")
    except MlflowException:  # created by another process in the meantime
        exp = c.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id
