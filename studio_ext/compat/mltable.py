"""The local stand-in for Microsoft's ``mltable`` package: what scripts and notebooks call.

Imported as ``mltable`` only where the real package is absent (see :mod:`studio_ext.compat`).
Tables are read by the studio's MLTable engine (:mod:`studio_ext.ml.mltable`), so a table
reads here as the studio's preview, profile and jobs read it::

    import mltable
    tbl = mltable.load(args.input)                 # an MLTable folder (a job's mltable input)
    tbl = mltable.load("azureml:/azureml:diabetes-table:1")   # a data asset, in a notebook
    df = tbl.filter('col("Age") > 50').keep_columns(["PatientID", "Age"]).to_pandas_dataframe()

    tbl = mltable.from_delimited_files(paths=[{"file": "./data/diabetes.csv"}])
    tbl.save("./data")                             # writes data/MLTable

``load`` takes a local folder (or its ``MLTable`` file), ``azureml:NAME:VERSION``,
``azureml:NAME@latest``, ``azureml:/`` + a data asset id, an Azure data asset id
(``azureml://subscriptions/.../data/NAME/versions/V``) and ``azureml://datastores/NAME/paths/P``;
the ``azureml`` forms are looked up in the workspace given as ``ml_client=`` or named by
``$STUDIO_EXT_WORKSPACE`` (which the studio's kernels have). Anything else of the real package
raises :class:`~studio_ext.errors.NotInLocalFallback`, an ``AttributeError`` that says to add
``mltable`` to the job environment's pip or conda spec.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from studio_ext.errors import InvalidInput, NotFound, NotInLocalFallback
from studio_ext.ml import mltable as engine

__all__ = ["MLTable", "from_delimited_files", "from_json_lines_files", "from_parquet_files", "load"]

WORKSPACE_ENV = "STUDIO_EXT_WORKSPACE"
_FULL = ("Add 'mltable' to the job environment's pip or conda spec (Environment(conda_file=...) or "
         "pip_requirements) to get Microsoft's full package.")
_ASSET_ID = re.compile(r"^azureml://(?:subscriptions|locations)/.+?/data/([^/]+)/versions/([^/]+)/?$", re.IGNORECASE)
_DATASTORE_LONG = re.compile(r"^azureml://subscriptions/[^/]+/resourcegroups/[^/]+/workspaces/[^/]+/(datastores/.*)$",
                             re.IGNORECASE)


def _missing(what: str) -> NotInLocalFallback:
    return NotInLocalFallback(f"The studio's local mltable (a stand-in for Microsoft's package, which cannot share "
                              f"the studio's interpreter) has no {what}. {_FULL}")


class MLTable:
    """A table: where its files are (``paths``) and how to read them (``transformations``), read lazily."""

    def __init__(self, doc: dict[str, Any], base: Path) -> None:
        self._doc = doc
        self._base = base  # what relative paths are relative to: the MLTable folder, or the working folder
        self._spec = engine.parse(yaml.safe_dump(doc, sort_keys=False), where="the MLTable")

    # -- what the table is ------------------------------------------------------------------
    @property
    def paths(self) -> list[dict[str, str]]:
        """The ``paths`` entries, as the MLTable file says them: ``[{"file": "./diabetes.csv"}]``."""
        return [dict(item) for item in self._doc["paths"]]

    def __repr__(self) -> str:
        return yaml.safe_dump(self._doc, sort_keys=False)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise _missing(f"MLTable.{name}")

    # -- reading ---------------------------------------------------------------------------------
    def to_pandas_dataframe(self) -> Any:
        """The table as a pandas DataFrame, every path read and every transformation applied."""
        return self._read(None)

    def show(self, count: int = 20) -> Any:
        """The first ``count`` rows as a pandas DataFrame."""
        return self._read(_count(count, "show"))

    def _read(self, limit: int | None) -> Any:
        import pyarrow.parquet as pq

        with tempfile.TemporaryDirectory(prefix="mltable-") as scratch:
            root = Path(scratch)
            with _workspace_if_needed(self._spec) as ws:
                files = [f for entry in self._spec.paths for f in _files(entry, self._base, ws, root / "fetched")]
            out = root / "table.parquet"
            engine.materialize(self._spec, files, out, scratch=root / "parts", limit=limit)
            return pq.read_table(out).to_pandas()

    # -- transformations (each gives a new table) -------------------------------------------------
    def _with(self, step: dict[str, Any]) -> MLTable:
        doc = dict(self._doc)
        doc["transformations"] = [*(self._doc.get("transformations") or []), step]
        return MLTable(doc, self._base)

    def take(self, count: int = 20) -> MLTable:
        return self._with({"take": _count(count, "take")})

    def skip(self, count: int) -> MLTable:
        return self._with({"skip": _count(count, "skip")})

    def take_random_sample(self, probability: float, seed: int | None = None) -> MLTable:
        args: dict[str, Any] = {"probability": probability}
        if seed is not None:
            args["seed"] = seed
        return self._with({"take_random_sample": args})

    def filter(self, expr: str) -> MLTable:
        """Rows where ``expr`` holds, e.g. ``'col("Age") > 50 and col("Pregnancies") == 0'``."""
        return self._with({"filter": expr})

    def keep_columns(self, columns: str | Sequence[str]) -> MLTable:
        return self._with({"keep_columns": [columns] if isinstance(columns, str) else list(columns)})

    def drop_columns(self, columns: str | Sequence[str]) -> MLTable:
        return self._with({"drop_columns": [columns] if isinstance(columns, str) else list(columns)})

    # -- writing ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], overwrite: bool = True, colocated: bool = False,
             show_progress: bool = False, if_err_remove_files: bool = True) -> MLTable:
        """Write the table's ``MLTable`` file into the folder ``path`` (made if missing).

        Local paths are written relative to that folder; ``colocated=True`` copies the local
        files into it first. Remote paths (``azureml://``, ``https://``) are kept as written.
        """
        folder = Path(path)
        if folder.name == engine.MLTABLE_FILE and not folder.is_dir():
            folder = folder.parent
        target = folder / engine.MLTABLE_FILE
        if target.exists() and not overwrite:
            raise InvalidInput(f"{target} exists; pass overwrite=True to replace it.")
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for item in self._doc["paths"]:
            kind, value = next(iter(item.items()))
            if _remote(value):
                paths.append({kind: value})
                continue
            local = _local(value, self._base)
            if colocated:
                placed = folder / local.name
                if local.resolve() != placed.resolve():
                    if local.is_dir():
                        shutil.copytree(local, placed, dirs_exist_ok=True)
                    elif kind == "pattern":
                        raise _missing("save(colocated=True) of a glob pattern")
                    else:
                        shutil.copy2(local, placed)
                local = placed
            paths.append({kind: _relative(local, folder)})
        doc = {"type": "mltable", "paths": paths}
        if self._doc.get("transformations"):
            doc["transformations"] = self._doc["transformations"]
        target.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return load(folder)


# -- making tables ---------------------------------------------------------------------------------
def load(uri: str | os.PathLike[str], storage_options: dict[str, Any] | None = None, ml_client: Any = None) -> MLTable:
    """The table of an MLTable folder: a local folder, a data asset (``azureml:NAME:VERSION``,
    ``azureml:/`` + its id) or a datastore folder (``azureml://datastores/NAME/paths/P``)."""
    if storage_options:
        raise _missing("storage_options (there is no cloud storage account to sign in to)")
    text = os.fspath(uri)
    if text.startswith("azureml:"):
        with _workspace(ml_client, text) as ws:
            folder = Path(_resolve_azureml(ws, text))
    elif re.match(r"^[a-z][a-z0-9+.-]*://", text, re.IGNORECASE) and not text.startswith("file://"):
        raise _missing(f"load({text!r}) of a {text.split(':', 1)[0]}:// location; register the storage as a "
                       "datastore and load azureml://datastores/NAME/paths/PATH, or load a local folder")
    else:
        folder = Path(text.removeprefix("file://")).expanduser()
    if folder.name == engine.MLTABLE_FILE and folder.is_file():
        folder = folder.parent
    if not folder.is_dir():
        raise NotFound(f"mltable.load({text!r}): {folder} is not a folder. Give the folder that holds the MLTable "
                       "file (a job's mltable input is one).")
    spec = engine.load(folder)  # its errors name what is wrong in the file
    doc = yaml.safe_load(spec.text) or {}
    return MLTable({"paths": doc["paths"], "transformations": doc.get("transformations") or []}, folder.resolve())


def from_delimited_files(paths: Sequence[dict[str, str]], header: str = "all_files_same_headers", delimiter: str = ",",
                         support_multi_line: bool = False, empty_as_string: bool = False, encoding: str = "utf8",
                         include_path_column: bool = False, infer_column_types: bool = True) -> MLTable:
    """A table of delimited text files: ``paths=[{"file": ...}, {"folder": ...}, {"pattern": ...}]``."""
    return _new(paths, "read_delimited", {
        "delimiter": delimiter, "header": header, "encoding": encoding, "empty_as_string": empty_as_string,
        "include_path_column": include_path_column, "infer_column_types": infer_column_types,
        "support_multi_line": support_multi_line})


def from_parquet_files(paths: Sequence[dict[str, str]], include_path_column: bool = False) -> MLTable:
    """A table of Parquet files."""
    return _new(paths, "read_parquet", {"include_path_column": include_path_column})


def from_json_lines_files(paths: Sequence[dict[str, str]], invalid_lines: str = "error", encoding: str = "utf8",
                          include_path_column: bool = False) -> MLTable:
    """A table of JSON Lines files (one object a line)."""
    return _new(paths, "read_json_lines", {"invalid_lines": invalid_lines, "encoding": encoding,
                                           "include_path_column": include_path_column})


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise _missing(f"mltable.{name}")


# -- helpers ----------------------------------------------------------------------------------------
def _new(paths: Sequence[dict[str, str]], read: str, options: dict[str, Any]) -> MLTable:
    if isinstance(paths, (str, dict)) or not paths:
        raise InvalidInput(f"paths must be a list such as [{{'file': './data.csv'}}]. Got {paths!r} instead.")
    items = [{k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in item.items()}
             if isinstance(item, dict) else item for item in paths]  # the engine checks each item
    return MLTable({"paths": items, "transformations": [{read: options}]}, Path.cwd())


def _count(count: Any, step: str) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidInput(f"{step}(count) takes a whole number of rows, 0 or more. Got {count!r} instead.")
    return count


def _remote(value: str) -> bool:
    return "://" in value and not value.startswith("file://")


def _local(value: str, base: Path) -> Path:
    path = Path(value.removeprefix("file://")).expanduser()
    return path if path.is_absolute() else base / path


def _relative(path: Path, folder: Path) -> str:
    rel = os.path.relpath(path.resolve() if path.exists() else path, folder.resolve())
    rel = Path(rel).as_posix()
    return rel if rel.startswith("../") else f"./{rel}"


def _files(entry: engine.PathEntry, base: Path, ws: Any, fetched: Path) -> list[tuple[Path, str]]:
    """The local files one ``paths`` entry names, as (file, the path as written)."""
    value = entry.value
    if not _remote(value):
        local = _local(value, base)
        if entry.kind == "pattern":
            root, glob = engine.split_pattern(local.as_posix())
            found = [p for p in sorted(Path(root).rglob("*"))
                     if p.is_file() and p.name != engine.MLTABLE_FILE
                     and engine.glob_match(glob, p.relative_to(root).as_posix())]
            if not found:
                raise InvalidInput(f"The MLTable pattern {value!r} matches no file.")
            return [(p, p.as_posix()) for p in found]
        if not local.exists():
            raise NotFound(f"The MLTable {entry.kind} {value!r} does not exist ({local}).")
        if entry.kind == "file":
            if not local.is_file():
                raise InvalidInput(f"The MLTable file {value!r} is a folder; write {{'folder': {value!r}}}.")
            return [(local, value)]
        if not local.is_dir():
            raise InvalidInput(f"The MLTable folder {value!r} is a file; write {{'file': {value!r}}}.")
        found = [p for p in sorted(local.rglob("*")) if p.is_file() and p.name != engine.MLTABLE_FILE
                 and not any(part.startswith(".") for part in p.relative_to(local).parts)]
        return [(p, f"{value.rstrip('/')}/{p.relative_to(local).as_posix()}") for p in found]
    long_form = _DATASTORE_LONG.match(value)
    uri = "azureml://" + long_form.group(1) if long_form else value
    if not uri.startswith("azureml://datastores/"):
        raise _missing(f"reader for the path {value!r}; register its storage as a datastore and write the path as "
                       "azureml://datastores/NAME/paths/PATH")
    glob = ""
    if entry.kind == "pattern":
        uri, glob = engine.split_pattern(uri)
    local = Path(ws.data.resolve_input_path(uri))  # a local datastore's file, or the workspace's cached copy
    if local.is_file():
        return [(local, value)]
    found = [p for p in sorted(local.rglob("*")) if p.is_file()
             and (not glob or engine.glob_match(glob, p.relative_to(local).as_posix()))]
    if not found:
        raise InvalidInput(f"The MLTable path {value!r} names no files.")
    return [(p, f"{uri.rstrip('/')}/{p.relative_to(local).as_posix()}") for p in found]


def _resolve_azureml(ws: Any, text: str) -> str:
    """The local MLTable folder of an ``azureml:`` reference."""
    ref = text.removeprefix("azureml:/") if text.startswith("azureml:/azureml") else text
    asset = _ASSET_ID.match(ref)
    if asset:
        ref = f"azureml:{asset.group(1)}:{asset.group(2)}"
    long_form = _DATASTORE_LONG.match(ref)
    if long_form:
        ref = "azureml://" + long_form.group(1)
    if ref.startswith("azureml://") and not ref.startswith("azureml://datastores/"):
        raise InvalidInput(f"mltable.load({text!r}): not a data asset or datastore path. Give azureml:NAME:VERSION, "
                           "azureml:/ followed by a data asset's id, or azureml://datastores/NAME/paths/PATH.")
    if ref.startswith("azureml://"):
        return str(ws.data.resolve_input_path(ref))
    return str(ws.data.resolve_input_path(ref, type="mltable"))


@contextmanager
def _workspace(ml_client: Any, wanted_by: str) -> Iterator[Any]:
    """The workspace ``azureml`` references are looked up in: ``ml_client``, else ``$STUDIO_EXT_WORKSPACE``."""
    if ml_client is not None:
        yield ml_client
        return
    path = os.environ.get(WORKSPACE_ENV)
    if not path:
        raise InvalidInput(f"mltable.load({wanted_by!r}) needs a workspace to look the name up in: pass "
                           f"ml_client=Workspace(...) or set {WORKSPACE_ENV} to the workspace folder (the studio's "
                           "notebooks have it set).")
    from studio_ext.workspace import Workspace

    ws = Workspace(path)
    try:
        yield ws
    finally:
        ws.close()


@contextmanager
def _workspace_if_needed(spec: engine.MLTableSpec) -> Iterator[Any]:
    if not any(_remote(entry.value) for entry in spec.paths):
        yield None
        return
    with _workspace(None, "the table's azureml:// paths") as ws:
        yield ws
