"""Creating a workspace folder, safely when several processes do it at once."""

from __future__ import annotations

import fcntl
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import tomli_w

from studio_ext.errors import AlreadyExists, WorkspaceError

SUBFOLDERS = ("artifacts", "datastore", "logs", "jobs", "envs")


@contextmanager
def workspace_lock(path: Path, name: str = ".create.lock") -> Iterator[None]:
    """An exclusive advisory lock on a file inside the workspace folder."""
    path.mkdir(parents=True, exist_ok=True)
    with open(path / name, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def default_uris(path: Path) -> dict[str, str]:
    return {
        "metadata_uri": f"sqlite:///{path / 'studio.db'}",
        "tracking_uri": f"sqlite:///{path / 'mlflow.db'}",
        "artifacts_uri": (path / "artifacts").as_uri(),
        "datastore_uri": (path / "datastore").as_uri(),
    }


def create_workspace(
    path: Path,
    *,
    name: str | None,
    metadata_uri: str | None,
    tracking_uri: str | None,
    exist_ok: bool,
) -> None:
    """Make the folder, the stores and ``workspace.toml`` (last, atomically)."""
    toml_path = path / "workspace.toml"
    if path.exists() and not path.is_dir():
        raise WorkspaceError(f"{path} exists and is not a folder; choose another path.")
    if toml_path.exists():
        if exist_ok:
            return
        raise AlreadyExists(f"{path} is already a workspace. Open it with Workspace({str(path)!r}).")
    name = name or re.sub(r"[^A-Za-z0-9_.-]", "-", path.name) or "workspace"
    with workspace_lock(path):
        if toml_path.exists():  # another process finished first
            if exist_ok:
                return
            raise AlreadyExists(f"{path} is already a workspace.")
        for sub in SUBFOLDERS:
            (path / sub).mkdir(parents=True, exist_ok=True)
        uris = default_uris(path)
        storage = {
            "metadata_uri": metadata_uri or uris["metadata_uri"],
            "tracking_uri": tracking_uri or uris["tracking_uri"],
        }
        # Build both stores (schema and MLflow migrations) while holding the lock.
        from studio_ext.backends.local.core.store import MetadataStore
        from studio_ext.backends.local.core.tracking import init_tracking_store

        MetadataStore(storage["metadata_uri"]).dispose()
        init_tracking_store(storage["tracking_uri"], uris["artifacts_uri"])
        config = {"name": name, "backend": "local", "storage": storage}
        tmp = toml_path.with_suffix(".toml.tmp")
        tmp.write_bytes(tomli_w.dumps(config).encode("utf-8"))
        if any(_has_password(uri) for uri in storage.values()):
            os.chmod(tmp, 0o600)  # database passwords: readable by the owner only
        os.replace(tmp, toml_path)


def _has_password(uri: str) -> bool:
    import sqlalchemy as sa

    try:
        return bool(sa.engine.make_url(uri).password)
    except Exception:  # not a SQLAlchemy URL (e.g. an http MLflow server): look for user:pass@
        return bool(re.match(r"^[a-z+]+://[^/@]+:[^/@]+@", uri))
