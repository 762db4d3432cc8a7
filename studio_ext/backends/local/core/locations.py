"""Where a workspace's stores are, so that a copied or moved folder uses its own.

``workspace.toml`` names the metadata and MLflow databases. The default ones are
files of the workspace folder and are written relative to it
(``sqlite:///studio.db``); a relative SQLite path there is resolved against the
workspace folder, never the working directory. A plain ``postgresql://`` URL gets
the PostgreSQL driver that is installed.

Releases before this one wrote absolute paths. :func:`resolve` reads them so: an
absolute path inside the folder is rewritten relative; an absolute path to
``studio.db`` / ``mlflow.db`` (or an ``artifacts`` / ``datastore`` folder) outside
the folder, while the folder has a file or folder of that name, is the folder
the workspace was copied or moved from, and this workspace's own is used.
:func:`update_toml` writes what was found back (atomically), so the file then
says the same.

MLflow keeps absolute ``file://`` locations in its database (experiments'
artifact locations, runs' artifact URIs, model versions' sources, logged models'
locations), and the metadata store keeps absolute paths in JSON (a model's files,
a job's code and inputs). :func:`relocate` rewrites the ones under the folder
the stores were made or last opened in (MLflow's Default experiment lives in
``<folder>/artifacts/0``; the metadata store records ``workspace_root`` in its
settings) to the folder they are in now: a moved workspace reads its own
artifacts, and a copy stops reading and writing the original's. Only stores that
travel with the folder (SQLite files inside it, artifacts in its ``artifacts/``)
are rewritten: a database on a server may be shared, and says nothing about
which folder is "the" one.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import tomllib
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from studio_ext.backends.local.core.schema import (
    assets,
    computes,
    jobs,
    online_deployments,
    online_endpoints,
    online_instances,
    settings,
)
from studio_ext.backends.local.core.urls import sqlite_file, sqlite_url, with_installed_driver
from studio_ext.errors import WorkspaceError

__all__ = ["DEFAULT_FILES", "DEFAULT_FOLDERS", "ROOT_SETTING", "Storage", "relocate", "resolve", "stored_form",
           "update_toml"]

#: storage key -> the default file (SQLite) or folder of the workspace.
DEFAULT_FILES = {"metadata_uri": "studio.db", "tracking_uri": "mlflow.db"}
DEFAULT_FOLDERS = {"artifacts_uri": "artifacts", "datastore_uri": "datastore"}
ROOT_SETTING = "workspace_root"
_WHAT = {"metadata_uri": "metadata", "tracking_uri": "MLflow tracking"}
MSG_MISSING_DB = (
    "{toml} names the {what} database {db}, which does not exist, and the workspace folder has no "
    "{name}. If the workspace was moved or copied without it, put {name} back in {folder}; "
    "otherwise correct storage.{key} in {toml}."
)
# JSON columns of the metadata store that may hold paths inside the workspace.
_JSON_COLUMNS = (
    (assets, "payload"), (jobs, "spec"), (computes, "spec"),
    (online_endpoints, "spec"), (online_deployments, "spec"), (online_instances, "spec"),
)
# MLflow's columns that hold absolute locations (the schema of its migrations).
_MLFLOW_COLUMNS = (
    ("experiments", "artifact_location"), ("runs", "artifact_uri"), ("model_versions", "source"),
    ("model_versions", "storage_location"), ("logged_models", "artifact_location"),
)


@dataclass
class Storage:
    """The resolved URIs of a workspace's stores, and what ``workspace.toml`` should say."""

    metadata_uri: str
    tracking_uri: str
    artifacts_uri: str
    datastore_uri: str
    #: storage entries to write back to workspace.toml (None: remove the entry).
    toml_changes: dict[str, str | None] = field(default_factory=dict)
    #: the folder that absolute paths in workspace.toml named, when it is not this one.
    previous_root: Path | None = None


def default_uris(path: Path) -> dict[str, str]:
    """The URIs of a workspace's default stores, absolute."""
    return {
        **{key: f"sqlite:///{path / name}" for key, name in DEFAULT_FILES.items()},
        **{key: (path / name).as_uri() for key, name in DEFAULT_FOLDERS.items()},
    }


def stored_form(path: Path, key: str, uri: str) -> str | None:
    """How ``workspace.toml`` keeps ``uri``: relative when it is inside the folder.

    None for a default folder (artifacts, datastore), which the file need not name.
    A relative SQLite path given here is taken as relative to the working directory,
    as SQLAlchemy reads it.
    """
    db = sqlite_file(uri)
    if db is not None:
        db = Path(os.path.abspath(db))
        return sqlite_url(uri, db.relative_to(path)) if db.is_relative_to(path) else sqlite_url(uri, db)
    folder = _file_uri_path(uri)
    if folder is not None and key in DEFAULT_FOLDERS and folder == path / DEFAULT_FOLDERS[key]:
        return None
    return uri


def resolve(path: Path, storage: Mapping[str, Any], toml_path: Path | None = None) -> Storage:
    """The stores of the workspace folder ``path`` (absolute, resolved) from its ``[storage]``."""
    defaults = default_uris(path)
    toml_path = toml_path or path / "workspace.toml"
    resolved: dict[str, str] = {}
    changes: dict[str, str | None] = {}
    previous: Path | None = None
    for key, name in DEFAULT_FILES.items():
        uri = storage.get(key) or defaults[key]
        db = sqlite_file(uri)
        if db is None:  # a server, or a database in memory
            resolved[key] = with_installed_driver(uri)
        elif not db.is_absolute():
            resolved[key] = sqlite_url(uri, path / db)
        elif _inside(db, path):
            resolved[key] = uri
            changes[key] = sqlite_url(uri, Path(os.path.relpath(os.path.realpath(db), path)))
        elif db.name == name and (path / name).is_file():  # copied or moved from db.parent
            resolved[key] = sqlite_url(uri, path / name)
            changes[key] = sqlite_url(uri, Path(name))
            previous = db.parent
        else:
            resolved[key] = uri
        opened = sqlite_file(resolved[key])
        if key in storage and opened is not None and not opened.is_file():  # named, and gone
            raise WorkspaceError(MSG_MISSING_DB.format(  # never start an empty store in its place
                toml=toml_path, what=_WHAT[key], db=opened, name=opened.name, folder=path, key=key))
    for key, name in DEFAULT_FOLDERS.items():
        uri = storage.get(key)
        folder = _file_uri_path(uri) if uri else None
        if not uri:
            resolved[key] = defaults[key]
        elif folder is not None and folder == path / name:
            resolved[key] = defaults[key]
            changes[key] = None
        elif folder is not None and folder.name == name and not _inside(folder, path) and (path / name).is_dir():
            resolved[key] = defaults[key]
            changes[key] = None
            previous = previous or folder.parent
        else:
            resolved[key] = uri
    return Storage(**resolved, toml_changes=changes, previous_root=previous)


def update_toml(toml_path: Path, changes: Mapping[str, str | None]) -> bool:
    """Write ``changes`` into the file's ``[storage]`` (atomically); False if it could not be written."""
    import tomli_w

    if not changes:
        return True
    try:
        config = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        storage = dict(config.get("storage") or {})
        for key, value in changes.items():
            if value is None:
                storage.pop(key, None)
            else:
                storage[key] = value
        if storage == (config.get("storage") or {}):
            return True
        config["storage"] = storage
        tmp = toml_path.with_name(f".{toml_path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(tomli_w.dumps(config).encode("utf-8"))
        os.chmod(tmp, toml_path.stat().st_mode & 0o777)
        os.replace(tmp, toml_path)
        return True
    except OSError:  # a read-only folder: the workspace still opens with what resolve() found
        return False


# -- relocation -------------------------------------------------------------------------------
def relocate(path: Path, engine: sa.Engine, storage: Storage) -> Path | None:
    """Point the stores' absolute locations under their previous folder at ``path``.

    Returns the previous folder when something was rewritten. Cheap when nothing
    moved (one read in each store). Safe when several processes open a moved
    workspace at once: one rewrites, under a lock, and the others find it done.

    MLflow's store says where it was made (its Default experiment lives in
    ``<folder>/artifacts/0``) and is rewritten when that is not here, if it and the
    artifacts are the folder's own; the metadata store records the folder it was
    last opened in (``workspace_root``).
    """
    tracking_db = _own_sqlite(storage.tracking_uri, path)
    if storage.artifacts_uri != (path / DEFAULT_FOLDERS["artifacts_uri"]).as_uri():
        tracking_db = None  # artifacts elsewhere did not move with the folder
    metadata_db = _own_sqlite(storage.metadata_uri, path)
    here = str(path)
    mlflow_root = _root_from_mlflow(tracking_db)
    if (mlflow_root is None or mlflow_root == path) and (metadata_db is None or _recorded_root(engine) == here):
        return None
    from studio_ext.backends.local.core.bootstrap import workspace_lock

    with workspace_lock(path, ".relocate.lock"):
        previous: Path | None = None
        mlflow_root = _root_from_mlflow(tracking_db)  # again: another process may have done it
        if mlflow_root is not None and mlflow_root != path and tracking_db is not None:
            _rebase_mlflow(tracking_db, mlflow_root, path)
            from studio_ext.backends.local.core.tracking import forget_artifact_locations

            forget_artifact_locations()
            previous = mlflow_root
        if metadata_db is not None:
            recorded = _recorded_root(engine)
            if recorded != here:
                old = Path(recorded) if recorded else storage.previous_root or previous
                with engine.begin() as conn:
                    if old is not None and old != path:
                        _rebase_metadata(conn, old, path)
                        previous = previous or old
                    value = json.dumps(here)
                    updated = conn.execute(settings.update().where(settings.c.key == ROOT_SETTING).values(value=value))
                    if not updated.rowcount:
                        conn.execute(settings.insert().values(key=ROOT_SETTING, value=value))
        return previous


def _own_sqlite(uri: str, path: Path) -> Path | None:
    """The SQLite file of ``uri`` if it is inside the workspace folder (it moves with it)."""
    db = sqlite_file(uri)
    return db if db is not None and _inside(db, path) else None


def _recorded_root(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        value = conn.execute(sa.select(settings.c.value).where(settings.c.key == ROOT_SETTING)).scalar()
    return None if value is None else json.loads(value)


def _root_from_mlflow(tracking_db: Path | None) -> Path | None:
    """The folder a workspace's MLflow store was made in (or last rewritten for).

    It was made with the workspace's ``artifacts/`` as default artifact root, so the
    Default experiment's location is ``file://<folder>/artifacts/0``.
    """
    if tracking_db is None or not tracking_db.is_file():
        return None
    conn = sqlite3.connect(str(tracking_db), timeout=30)
    try:
        row = conn.execute("SELECT artifact_location FROM experiments WHERE experiment_id = 0").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    location = _file_uri_path(row[0]) if row and row[0] else None
    if location is None or location.parts[-2:] != (DEFAULT_FOLDERS["artifacts_uri"], "0"):
        return None
    return location.parent.parent


def _prefixes(old: Path, new: Path) -> list[tuple[str, str]]:
    """(old, new) spellings of the two folders: as file:// URIs, then as paths."""
    pairs = [(old.as_uri(), new.as_uri()), (f"file://{old}", new.as_uri()), (str(old), str(new))]
    return list(dict.fromkeys(pairs))


def _rebase_mlflow(db: Path, old: Path, new: Path) -> None:
    conn = sqlite3.connect(str(db), timeout=60, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table, column in _MLFLOW_COLUMNS:
            if table not in tables:
                continue
            if column not in {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}:
                continue
            for before, after in _prefixes(old, new):
                conn.execute(
                    f'UPDATE "{table}" SET "{column}" = ? || substr("{column}", ?) '
                    f'WHERE "{column}" = ? OR substr("{column}", 1, ?) = ?',
                    (after, len(before) + 1, before, len(before) + 1, before + "/"),
                )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def _rebase_metadata(conn: sa.Connection, old: Path, new: Path) -> None:
    pairs = _prefixes(old, new)
    replacements = dict(pairs)
    # A spelling of the old folder that ends where a path component does, so /a/ws never
    # matches inside /a/ws2 or /x/a/ws.
    pattern = re.compile(
        r"(?<![^\s'\"=:/])(" + "|".join(re.escape(before) for before, _ in pairs) + r")(?=$|[/\s'\"])"
    )

    def rebase(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(lambda m: replacements[m.group(1)], value)
        if isinstance(value, list):
            return [rebase(v) for v in value]
        if isinstance(value, dict):
            return {k: rebase(v) for k, v in value.items()}
        return value

    needle = str(old)
    for table, column in _JSON_COLUMNS:
        col = table.c[column]
        pk = list(table.primary_key.columns)
        query = sa.select(*pk, col)
        if needle.isascii():  # JSON keeps ASCII as it is, so the database can filter
            query = query.where(col.contains(needle, autoescape=True))
        for row in conn.execute(query).all():
            before = json.loads(row[-1])
            after = rebase(before)
            if after != before:
                conn.execute(table.update().where(*(c == row[i] for i, c in enumerate(pk)))
                             .values({column: json.dumps(after, default=str)}))


def _inside(target: Path, folder: Path) -> bool:
    """Whether ``target`` is ``folder`` or inside it, symbolic links followed."""
    return target.is_relative_to(folder) or Path(os.path.realpath(target)).is_relative_to(folder)


def _file_uri_path(uri: str | None) -> Path | None:
    if not uri or not uri.startswith("file:"):
        return None
    parts = urllib.parse.urlparse(uri)
    if parts.netloc not in ("", "localhost"):
        return None
    return Path(urllib.request.url2pathname(parts.path))
