"""Creating a workspace folder (safely when several processes do it at once), and opening its stores."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from studio_ext.backends.local.core.locations import (
    Storage,
    default_uris,
    relocate,
    resolve,
    stored_form,
    update_toml,
)
from studio_ext.backends.local.core.urls import sqlite_file, sqlite_url, with_installed_driver
from studio_ext.errors import AlreadyExists, WorkspaceError

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local.core.store import MetadataStore

__all__ = ["SUBFOLDERS", "create_workspace", "default_uris", "open_stores", "workspace_lock"]

SUBFOLDERS = ("artifacts", "datastore", "logs", "jobs", "envs")
TOML = "workspace.toml"


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


def open_stores(path: Path, config: Mapping[str, Any]) -> tuple[Storage, MetadataStore]:
    """Open the stores of the workspace folder ``path`` (absolute) as its workspace.toml names them.

    The metadata store is migrated to the code's schema; stores copied or moved with
    the folder are pointed at it (:mod:`.locations`); workspace.toml is brought up to
    date (relative paths) last.
    """
    from studio_ext.backends.local.core.store import MetadataStore

    storage = resolve(path, config.get("storage") or {}, path / TOML)
    store = MetadataStore(storage.metadata_uri)
    try:
        relocate(path, store.engine, storage)
    except BaseException:
        store.dispose()
        raise
    update_toml(path / TOML, storage.toml_changes)
    return storage, store


def create_workspace(
    path: Path,
    *,
    name: str | None,
    metadata_uri: str | None,
    tracking_uri: str | None,
    exist_ok: bool,
) -> None:
    """Make the folder, the stores and ``workspace.toml`` (last, atomically).

    If anything fails, what this call made is removed again (folders, database files,
    the lock file, the folder itself if it made it), so a retry starts clean.
    """
    toml_path = path / TOML
    if path.exists() and not path.is_dir():
        raise WorkspaceError(f"{path} exists and is not a folder; choose another path.")
    if toml_path.exists():
        if exist_ok:
            return
        raise AlreadyExists(f"{path} is already a workspace. Open it with Workspace({str(path)!r}).")
    name = name or re.sub(r"[^A-Za-z0-9_.-]", "-", path.name) or "workspace"
    before = set(os.listdir(path)) if path.is_dir() else None
    try:
        with workspace_lock(path):
            if toml_path.exists():  # another process finished first
                if exist_ok:
                    return
                raise AlreadyExists(f"{path} is already a workspace.")
            _build(path, name, metadata_uri, tracking_uri, toml_path)
    except BaseException:
        if not toml_path.exists():  # not finished by another process meanwhile: undo
            _remove_new(path, before)
        raise


CREATED_SETTING = "workspace_created_at"


def _build(path: Path, name: str, metadata_uri: str | None, tracking_uri: str | None, toml_path: Path) -> None:
    for sub in SUBFOLDERS:
        (path / sub).mkdir(parents=True, exist_ok=True)
    defaults = default_uris(path)
    given = {"metadata_uri": metadata_uri or defaults["metadata_uri"],
             "tracking_uri": tracking_uri or defaults["tracking_uri"]}
    # What workspace.toml says (relative inside the folder), and what this process opens.
    storage = {key: stored_form(path, key, uri) or uri for key, uri in given.items()}
    opened = {key: _opened(path, uri) for key, uri in storage.items()}
    # Build both stores (schema and MLflow migrations) while holding the lock.
    from studio_ext.backends.local.core.store import MetadataStore, now
    from studio_ext.backends.local.core.tracking import init_tracking_store

    store = MetadataStore(opened["metadata_uri"])
    # When the workspace (and with it its default datastore) was made: the Datastores page's "Created on".
    if store.get_setting(CREATED_SETTING) is None:
        store.set_setting(CREATED_SETTING, now())
    store.dispose()
    init_tracking_store(opened["tracking_uri"], defaults["artifacts_uri"])
    config = {"name": name, "backend": "local", "storage": storage}
    tmp = toml_path.with_suffix(".toml.tmp")
    tmp.write_bytes(tomli_w.dumps(config).encode("utf-8"))
    if any(_has_password(uri) for uri in storage.values()):
        os.chmod(tmp, 0o600)  # database passwords: readable by the owner only
    os.replace(tmp, toml_path)


def _opened(path: Path, uri: str) -> str:
    db = sqlite_file(uri)
    if db is None:
        return with_installed_driver(uri)
    return uri if db.is_absolute() else sqlite_url(uri, path / db)


def _remove_new(path: Path, before: set[str] | None) -> None:
    """Remove what a failed create made: every entry that was not there before (or the folder)."""
    if before is None:
        shutil.rmtree(path, ignore_errors=True)
        return
    for entry in set(os.listdir(path)) - before if path.is_dir() else ():
        target = path / entry
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)


def _has_password(uri: str) -> bool:
    import sqlalchemy as sa

    try:
        return bool(sa.engine.make_url(uri).password)
    except (sa.exc.ArgumentError, ValueError):  # not a SQLAlchemy URL (e.g. an http MLflow server): look for user:pass@
        return bool(re.match(r"^[a-z+]+://[^/@]+:[^/@]+@", uri))

