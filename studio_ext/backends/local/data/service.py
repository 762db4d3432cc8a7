"""``ws.data`` on the local backend: immutable dataset versions in the workspace datastore.

A version is a folder ``datastore/NAME/VERSION/`` holding ``source/`` (what was registered:
a file's copy, a folder's contents, not the folder itself, or the SQL query) and, for tabular data, ``data.parquet`` (the parsed
table every later read uses), ``profile.json`` (the cached profile) and an ``MLTable``
file that reads ``data.parquet`` (so the version folder is itself an MLTable folder).

A tabular (``mltable``) dataset registered from a folder that holds an ``MLTable`` file
is read as that file says (its paths and transformations, :mod:`studio_ext.ml.mltable`);
the folder's contents are kept whole in ``source/``, and a job's ``mltable`` input gets it
(:meth:`LocalData.mltable_folder`). It is built in
``datastore/.staging/`` and renamed into place in one step; the metadata row is
inserted only after that, and the folder removed again if the insert fails. So a
version either exists whole or not at all.

So a ``uri_folder`` registered from ``./p`` has its path at ``NAME/VERSION/source/``, and a
job listing that input sees the files of ``p``, as on Azure (whose asset path ends in
``/p/``). Versions registered before this layout (no ``layout`` in their stored summary) kept
the folder under its own name, ``source/p/``; :func:`_content_folder` reads both.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import shutil
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from studio_ext._validation import check_name
from studio_ext.backends.local.core.accepting import accepts
from studio_ext.backends.local.core.schema import jobs as jobs_table
from studio_ext.backends.local.core.store import now, to_datetime
from studio_ext.backends.local.data import fetch as data_fetch
from studio_ext.backends.local.data.datastores import (
    DEFAULT_NAME,
    _copy_files,
    check_relative,
    local_folder,
    parse_datastore_uri,
)
from studio_ext.backends.local.data.datastores import local_files as local_files_of
from studio_ext.entities._data import (
    ColumnProfile,
    ColumnSchema,
    ColumnType,
    Data,
    DataConsumer,
    DataProfile,
    DataType,
    DelimitedReadOptions,
    SourcePreview,
)
from studio_ext.errors import (
    AlreadyExists,
    BackendUnavailable,
    Conflict,
    InvalidInput,
    NotFound,
    StudioError,
)
from studio_ext.ml import delimited
from studio_ext.ml import mltable as mltable_engine
from studio_ext.services import DataOperations

if TYPE_CHECKING:  # pragma: no cover
    import azure.ai.ml.entities as aml
    import pandas as pd

    from studio_ext.backends.local import LocalBackend

KIND = "data"
PARQUET = "data.parquet"
PROFILE = "profile.json"
SOURCE = "source"
LAYOUT = "contents"  # the stored summary's "layout": source/ holds a folder's contents (see the module doc)
MLTABLE = mltable_engine.MLTABLE_FILE
PREVIEW_BYTES = 256 << 10
SQL_BATCH_ROWS = 50_000
_STAGING_MAX_AGE = 24 * 3600
_TABULAR_SUFFIXES = {".csv", ".tsv", ".txt", ".psv", ".dat", ".tab"}
_REFERENCE = re.compile(r"^azureml:([^:@/]+)(?::(\d+)|@(\w+))?$")

Progress = Callable[[int, int], None]


class LocalData(DataOperations):
    """``ws.data``: register, read, preview and profile datasets."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend
        self._root = local_folder(backend.datastore_uri)
        self._staging = self._root / ".staging"
        self._sweep_staging()

    # -- register ----------------------------------------------------------------------
    def to_yaml(self, data: Data) -> str:
        """Azure ML v2 YAML of ``data`` (what ``az ml data create --file`` and ``azure.ai.ml.load_data`` read)."""
        from studio_ext.translation import to_yaml

        return to_yaml(data)

    @accepts(Data, "ws.data.create_or_update")
    def create_or_update(self, data: Data | aml.Data, *, progress: Progress | None = None) -> Data:
        """Register a new immutable version of ``data.name`` from its path, URL or query.

        ``progress(done, total)`` is called as bytes are copied and parsed (total may be 0
        when the size is unknown). Nothing is registered if anything fails.
        """
        if not isinstance(data, Data):
            raise InvalidInput(f"ws.data.create_or_update takes a Data. Got {type(data).__name__} instead.")
        name = check_name(data.name, "dataset name")
        if data.version is not None and not str(data.version).isdigit():
            raise InvalidInput(f"The version of a dataset must be a whole number such as '3'. Got {data.version!r} instead.")
        if data.version is not None and self._b.store.get_asset(KIND, name, int(data.version)):
            raise AlreadyExists(
                f"Dataset {name!r} version {data.version} already exists, and versions are immutable. "
                "Leave version empty to register the next one."
            )
        options = DelimitedReadOptions.coerce(data.read_options) if data.type == DataType.TABULAR else None
        if data.read_options is not None and data.type != DataType.TABULAR:
            raise InvalidInput(f"read_options apply to tabular datasets; this one is {data.type}.")
        if (data.query is None) == (data.path is None):
            raise InvalidInput("Give a dataset either a path (file, folder, datastore path or URL) or a datastore and a query.")
        tracker = _Tracker(progress)
        staging = self._staging / uuid.uuid4().hex
        (staging / SOURCE).mkdir(parents=True)
        try:
            summary: dict[str, Any] = {}
            if data.query is not None:
                if data.type != DataType.TABULAR:
                    raise InvalidInput("A dataset from a SQL query is tabular; set type='tabular'.")
                summary.update(self._from_query(data, staging, tracker))
            elif self._is_future_folder(data):
                # Azure's uri_folder on a datastore path that nothing has written yet: a reference,
                # read from the datastore when a job uses it (the folder is created by the first upload)
                summary.update(source=data.path, files=[], reference=data.path)
            else:
                source_files, source_label, is_folder = self._acquire(data, staging / SOURCE, tracker)
                summary["source"] = source_label
                summary["files"] = [p.relative_to(staging / SOURCE).as_posix() for p in source_files]
                if data.type == DataType.FILE and (is_folder or len(source_files) != 1):
                    raise InvalidInput(f"A 'file' dataset needs one file; {source_label} is a folder. Use type='folder'.")
                if data.type == DataType.TABULAR:
                    root = _mltable_root(staging / SOURCE, source_files, source_label, is_folder)
                    if root is not None:
                        if data.read_options is not None and DelimitedReadOptions.coerce(data.read_options) != \
                                DelimitedReadOptions():  # defaults (a form's untouched fields) say nothing
                            raise InvalidInput(
                                f"{source_label} is an MLTable folder: its MLTable file says how to read the data "
                                "(transformations: read_delimited ...), so read_options do not apply. Leave them out.")
                        summary.update(self._from_mltable(root, staging, tracker))
                        options = None
                    else:
                        summary.update(self._parse(source_files, staging / PARQUET, options, tracker))
                    (staging / MLTABLE).write_text(mltable_engine.parquet_mltable(PARQUET), encoding="utf-8")
            summary["size_bytes"] = sum(p.stat().st_size for p in (staging / SOURCE).rglob("*") if p.is_file())
            payload = {
                "name": name, "type": data.type.value, "description": data.description,
                "tags": {str(k): str(v) for k, v in (data.tags or {}).items()},
                "read_options": options.to_dict() if options else None,
                "datastore": data.datastore, "query": data.query, "created_at": now(), "layout": LAYOUT, **summary,
            }
            if options is not None and summary.get("delimiter"):
                payload["read_options"]["delimiter"] = summary["delimiter"]
            version = self._commit(name, data.version, staging, payload)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        tracker.finish()
        return self.get(name, version)

    def register_folder_reference(self, name: str, path: str, *, description: str | None = None,
                                  tags: dict[str, str] | None = None) -> Data:
        """A new ``uri_folder`` version that names a datastore folder and is read there, as it grows.

        What Azure registers for a deployment's data collection: the folder is not copied, so a
        job or monitor given ``azureml:NAME:VERSION`` reads what has been collected by then.
        """
        name = check_name(name, "dataset name")
        store, rel = parse_datastore_uri(path)
        check_relative(rel)
        self._b.service("datastores").get(store)
        staging = self._staging / uuid.uuid4().hex
        (staging / SOURCE).mkdir(parents=True)
        try:
            payload = {"name": name, "type": DataType.FOLDER.value, "description": description,
                       "tags": {str(k): str(v) for k, v in (tags or {}).items()}, "read_options": None,
                       "datastore": None, "query": None, "created_at": now(), "source": path, "files": [],
                       "reference": path, "size_bytes": 0, "layout": LAYOUT}
            version = self._commit(name, None, staging, payload)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.get(name, version)

    # -- read ---------------------------------------------------------------------------
    def get(self, name: str, version: int | str | None = None, label: str | None = None) -> Data:
        """A version (``None``/``"latest"``: the newest one not archived)."""
        check_name(name, "dataset name")
        if version == "latest" or label == "latest":
            version = None
        if version is not None and not str(version).isdigit():
            raise InvalidInput(f"The version must be a whole number or 'latest'. Got {version!r} instead.")
        if version is None:
            rows = list(self._b.store.list_assets(KIND, name))
            if not rows:
                raise self._not_found(name, None)
            _, v, payload, archived = rows[-1]
            return self._entity(v, payload, archived)
        found = self._b.store.get_asset(KIND, name, int(version))
        if found is None:
            raise self._not_found(name, version)
        return self._entity(*found)

    def list(self, name: str | None = None, *, include_archived: bool = False) -> builtins.list[Data]:
        """Without a name: the latest version of every dataset. With one: all its versions."""
        rows = list(self._b.store.list_assets(KIND, name, include_archived=include_archived))
        entities = [self._entity(v, p, a) for _, v, p, a in rows]
        if name is not None:
            return entities
        latest: dict[str, Data] = {}
        for entity in entities:
            latest[entity.name] = entity
        return sorted(latest.values(), key=lambda d: d.name)

    def archive(self, name: str, version: int | str | None = None) -> None:
        """Hide a version (or every version) from lists; jobs naming it still resolve it."""
        self.get(name, version) if version is not None else self._require_any(name)
        self._b.store.set_archived(KIND, name, int(version) if version is not None else None, True)

    def restore(self, name: str, version: int | str | None = None) -> None:
        self._b.store.set_archived(KIND, name, int(version) if version is not None else None, False)

    def local_path(self, name: str, version: int | str | None = None) -> Path:
        """Where the version is on this machine (read-only by convention): what its path names.

        A folder dataset gives the registered folder's contents, a file one the file, a tabular
        one its version folder (an MLTable folder reading ``data.parquet``).
        """
        entity = self.get(name, version)
        return Path(entity.local_path)

    def parquet_file(self, name: str, version: int | str | None = None) -> Path:
        """The Parquet file a tabular version's rows are stored in (``data.parquet``), for readers that take a path.

        Raises ``Conflict`` for a version that is not tabular (a ``uri_file`` / ``uri_folder``).
        """
        return self._parquet(name, version)

    def preview(self, name: str, version: int | str | None = None, n: int = 100) -> pd.DataFrame:
        """The first ``n`` rows, read from the first row group only."""
        path = self._parquet(name, version)
        parquet = pq.ParquetFile(path)
        wanted, groups = max(1, int(n)), []
        for index in range(parquet.metadata.num_row_groups):  # only the row groups that hold the n rows
            groups.append(index)
            wanted -= parquet.metadata.row_group(index).num_rows
            if wanted <= 0:
                break
        batches = parquet.iter_batches(batch_size=max(1, int(n)), row_groups=groups)
        first = next(batches, None)
        import pandas as pd

        if first is None:
            return pq.read_schema(path).empty_table().to_pandas()
        return pa.Table.from_batches([first]).to_pandas() if first.num_rows else pd.DataFrame()

    def load(
        self, name: str, version: int | str | None = None, *, columns: builtins.list[str] | None = None
    ) -> pd.DataFrame:
        """The whole table as a pandas DataFrame; with ``columns``, only those (read for drift, in little memory).

        With ``columns`` the columns are read one at a time, strings as pandas categoricals,
        as :func:`studio_ext.ml.drift.read_columns` does (a drift monitor over a wide or long
        table holds only the columns it compares).
        """
        if columns is not None:
            from studio_ext.ml.drift import read_columns

            return read_columns(self._parquet(name, version), columns)
        return pq.read_table(self._parquet(name, version)).to_pandas()

    def profile(self, name: str, version: int | str | None = None, *, refresh: bool = False) -> DataProfile:
        """Per-column statistics, computed once per version and cached beside it."""
        from studio_ext.ml.profiling import profile_parquet

        path = self._parquet(name, version)
        cache = path.parent / PROFILE
        if cache.exists() and not refresh:
            return _profile_from_json(json.loads(cache.read_text(encoding="utf-8")))
        tmp_dir = self._staging / f"profile-{uuid.uuid4().hex}"
        tmp_dir.mkdir(parents=True)
        try:
            result = profile_parquet(path, temp_dir=tmp_dir)
            tmp = tmp_dir / PROFILE
            tmp.write_text(json.dumps(asdict(result), default=str), encoding="utf-8")
            os.replace(tmp, cache)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        return result

    def preview_source(
        self,
        *,
        path: str | None = None,
        type: DataType | str = DataType.TABULAR,  # noqa: A002 - azure-ai-ml's name for it
        read_options: DelimitedReadOptions | dict | None = None,
        datastore: str | None = None,
        query: str | None = None,
        n: int = 20,
    ) -> SourcePreview:
        """Parse the start of a source with ``read_options`` without registering anything."""
        import pandas as pd

        if query is not None:
            return self._preview_query(datastore, query, n)
        if DataType.parse(type) != DataType.TABULAR:
            raise InvalidInput("Only tabular sources have a parsed preview.")
        options = DelimitedReadOptions.coerce(read_options)
        scratch = self._staging / f"preview-{uuid.uuid4().hex}"
        scratch.mkdir(parents=True)
        if isinstance(path, str) and "://" not in path and (Path(path).expanduser() / MLTABLE).is_file():
            try:  # an MLTable folder: read as its MLTable file says, stopping after n rows
                folder = self._local_source(path)
                _copy_files(folder, local_files_of(folder), scratch / SOURCE, None)
                self._from_mltable(scratch / SOURCE, scratch, _Tracker(None), limit=max(1, int(n)))
                table = pq.read_table(scratch / PARQUET)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            return SourcePreview(frame=table.to_pandas() if table.num_columns else pd.DataFrame(),
                                 columns=[ColumnSchema(name=f.name, type=_type_name(f.type)) for f in table.schema])
        try:
            files, _, _ = self._acquire(Data(name="preview", path=path, datastore=datastore), scratch, _Tracker(None),
                                        limit=PREVIEW_BYTES)
            if not files:
                raise InvalidInput(f"{path!r} holds no files.")
            first = files[0]
            if first.suffix.lower() == ".parquet":
                table = pq.read_table(first).slice(0, n)
                delimiter = None
            else:
                sample = first.read_bytes()
                table, delimiter = delimited.preview_bytes(sample, first.name, options, n,
                                                           truncated=len(sample) >= PREVIEW_BYTES)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        columns = [ColumnSchema(name=f.name, type=_type_name(f.type)) for f in table.schema]
        frame = table.to_pandas() if table.num_columns else pd.DataFrame()
        return SourcePreview(frame=frame, delimiter=delimiter, columns=columns)

    # -- jobs --------------------------------------------------------------------------------
    def mltable_folder(self, name: str, version: int | str | None = None) -> Path:
        """The local MLTable folder of a tabular (``mltable``) dataset version: what a job's ``mltable`` input gets.

        A dataset registered from an MLTable folder gives that folder as registered (its
        ``MLTable`` file and data); one registered from delimited or Parquet files gives its
        version folder, whose ``MLTable`` file reads the parsed ``data.parquet``. Either way
        ``mltable.load(path).to_pandas_dataframe()`` reads it, as on Azure.
        """
        entity = self.get(name, version)
        if entity.type != DataType.TABULAR:
            raise Conflict(f"Dataset {entity.name!r} version {entity.version} is a {entity.type} dataset, not an "
                           "mltable one; give the input type 'uri_file' or 'uri_folder'.")
        folder = Path(entity.local_path or "")
        found = self._b.store.get_asset(KIND, entity.name, int(entity.version or 0))
        root = (found[1] if found else {}).get("mltable")
        if root is not None:
            return folder / SOURCE / root if root else folder / SOURCE
        if not (folder / MLTABLE).exists():  # a version registered before the file was written beside its table
            tmp = folder / f".{MLTABLE}.{uuid.uuid4().hex}"
            tmp.write_text(mltable_engine.parquet_mltable(PARQUET), encoding="utf-8")
            os.replace(tmp, folder / MLTABLE)
        return folder

    def resolve_input_path(self, ref: str, *, type: str | None = None) -> str:  # noqa: A002 - Input(type=...)
        """A job input reference → a local path the job reads.

        ``azureml:NAME:VERSION`` / ``azureml:NAME@latest`` give the version's Parquet file
        (tabular), its file (file) or its folder (folder); with ``type='mltable'`` a tabular
        version gives its MLTable folder (:meth:`mltable_folder`), as Azure mounts it.
        ``azureml://datastores/NAME/paths/P`` gives the file or folder, copied into the
        workspace cache first when remote.
        """
        if ref.startswith("azureml://"):
            store_name, rel = parse_datastore_uri(ref)
            stores = self._b.service("datastores")
            ds = stores.get(store_name)
            if ds.type.value in ("local", "file"):
                return str(stores.local_path(store_name, rel))
            rel = check_relative(rel)
            # one copy per state of the remote files: a job reads what is there now, and a job
            # still reading an older copy keeps it
            cache = self._root / ".cache" / store_name / (stores.signature(store_name, rel) or "any") / rel
            if not cache.exists():
                tmp = self._staging / f"cache-{uuid.uuid4().hex}"
                try:
                    copied = stores.download(store_name, rel, tmp)
                    cache.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(copied, cache)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            return str(cache)
        name, version = _parse_reference(ref)
        entity = self.get(name, version)
        if entity.source and entity.source.startswith("azureml://") and not entity.files:
            return self.resolve_input_path(entity.source)  # a folder registered before it was written
        if type == "mltable" and entity.type == DataType.TABULAR:
            return str(self.mltable_folder(entity.name, entity.version))
        if entity.type == DataType.TABULAR:
            return str(Path(entity.local_path or "") / PARQUET)
        return str(entity.local_path)  # the file, or the registered folder's contents

    def list_consumers(self, name: str, version: int | str | None = None) -> builtins.list[DataConsumer]:
        """The jobs that took this dataset (one version, or any) as an input: its lineage."""
        self._require_any(name)
        version_folder = re.compile(re.escape(str(self._root / name)) + r"/(\d+)/")
        with self._b.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(jobs_table.c.name, jobs_table.c.status, jobs_table.c.experiment_name,
                          jobs_table.c.created_at, jobs_table.c.spec)
                .where(jobs_table.c.spec.like(f"%azureml:{name}%"))
                .order_by(jobs_table.c.created_at.desc())
            ).all()
        out: list[DataConsumer] = []
        for row in rows:
            spec = json.loads(row.spec)
            for key, input_spec in (spec.get("input_specs") or {}).items():
                ref = str(input_spec.get("path") or "")
                match = _REFERENCE.match(ref)
                if not match or match.group(1) != name:
                    continue
                used = match.group(2)
                if used is None:
                    found = version_folder.search(str((spec.get("inputs") or {}).get(key, "")) + "/")
                    used = found.group(1) if found else None
                if used is None or (version is not None and str(version) != used):
                    continue
                out.append(DataConsumer(job_name=row.name, input_name=key, data_version=used, status=row.status,
                                        experiment_name=row.experiment_name, creation_time=to_datetime(row.created_at)))
        return out

    # -- sources ------------------------------------------------------------------------------
    def _acquire(self, data: Data, dest: Path, tracker: _Tracker,
                 limit: int | None = None) -> tuple[builtins.list[Path], str, bool]:
        """Copy the source into ``dest``: a file as ``dest/NAME``, a folder's contents as ``dest/...``.

        Returns the copied files (sorted), a label for messages and whether the source was a folder.
        """
        path = data.path
        if not isinstance(path, str) or not path:
            raise InvalidInput(f"The dataset path must be a non-empty string. Got {path!r} instead.")
        stores = self._b.service("datastores")
        if path.startswith("azureml://"):
            store_name, rel = parse_datastore_uri(path)
            rel = check_relative(rel)
            tracker.add_total(stores.size(store_name, rel) if limit is None else None)
            fetched = dest.parent / f".fetch-{uuid.uuid4().hex}"
            try:
                copied = stores.download(store_name, rel, fetched, progress=tracker.advance, limit=limit)
                is_folder = copied.is_dir()
                if is_folder:
                    for child in copied.iterdir():  # the folder's contents, not the folder
                        os.replace(child, dest / child.name)
                    copied = dest
                else:
                    copied = Path(shutil.move(copied, dest / copied.name))
            finally:
                shutil.rmtree(fetched, ignore_errors=True)
            label = path
        elif re.match(r"^https?://", path, re.IGNORECASE):
            data_fetch.check_url(path)
            tracker.add_total(data_fetch.content_length(path) if limit is None else None)
            copied = dest / data_fetch.file_name(path)
            data_fetch.download(path, copied, progress=tracker.advance, limit=limit)
            label, is_folder = path, False
        else:
            local = self._local_source(path)
            is_folder = local.is_dir()
            if limit is not None and local.is_dir():  # a preview reads the start of the first file only
                local = next((p for p in sorted(local.rglob("*")) if p.is_file()
                              and not any(part.startswith(".") for part in p.relative_to(local).parts)), local)
            tracker.add_total(_size(local) if limit is None else None)
            from studio_ext.backends.local.data.datastores import _copy_local

            # a folder's contents go straight into dest (the asset's path is the folder itself)
            copied = _copy_local(local, dest if local.is_dir() else dest / local.name, tracker.advance, limit)
            label = str(local)
        files = sorted(p for p in ([copied] if copied.is_file() else copied.rglob("*"))
                       if p.is_file() and not any(part.startswith(".") for part in p.relative_to(dest).parts))
        if not files:
            raise InvalidInput(f"{label} holds no files (hidden files are skipped).")
        return files, label, is_folder

    @staticmethod
    def _local_source(path: str) -> Path:
        if path.lower().startswith("file:"):
            parts = urllib.parse.urlsplit(path)
            if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
                raise InvalidInput(f"The file URL {path!r} must look like file:///absolute/path (no host, query or fragment).")
            path = urllib.request.url2pathname(parts.path)
        elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", path):
            raise InvalidInput(
                f"{path!r} is a {path.split(':', 1)[0]}:// URL. Register a datastore for it "
                "(ws.datastores.create_or_update) and give azureml://datastores/NAME/paths/PATH."
            )
        if "\x00" in path:
            raise InvalidInput(f"The path {path!r} contains a NUL byte.")
        local = Path(path).expanduser()
        if not local.exists():
            raise NotFound(f"{path!r} does not exist (looked in {local.resolve()}).")
        return local.resolve()

    def _parse(self, files: builtins.list[Path], out: Path, options: DelimitedReadOptions, tracker: _Tracker) -> dict[str, Any]:
        parquet = [f for f in files if f.suffix.lower() == ".parquet"]
        if parquet and len(parquet) != len(files):
            raise InvalidInput("A tabular dataset's folder mixes Parquet and text files; register them separately.")
        tracker.add_total(sum(f.stat().st_size for f in files))
        if parquet:
            schema = _copy_parquet(parquet, out, tracker)
            rows = pq.ParquetFile(out).metadata.num_rows
            delimiter = None
        else:
            unknown = [f.name for f in files if f.suffix.lower() not in _TABULAR_SUFFIXES]
            if unknown and len(files) > 1:
                raise InvalidInput(
                    f"{unknown[0]!r} is not a delimited text file ({', '.join(sorted(_TABULAR_SUFFIXES))}); "
                    "a tabular folder must hold only such files, or Parquet. To say how to read a folder, add "
                    f"an MLTable file to it, for example:\n\n{mltable_engine.MINIMAL_MLTABLE}"
                )
            sources = [delimited.TextSource.of(f) for f in files]
            result = delimited.convert_to_parquet(sources, out, options, progress=tracker.advance)
            schema, rows, delimiter = result.schema, result.row_count, result.delimiter
        return {"row_count": int(rows), "delimiter": delimiter,
                "columns": [{"name": f.name, "type": _type_name(f.type)} for f in schema]}

    def _is_future_folder(self, data: Data) -> bool:
        """A uri_folder on a datastore path that does not exist yet."""
        if data.type != DataType.FOLDER or not isinstance(data.path, str) or not data.path.startswith("azureml://"):
            return False
        store, rel = parse_datastore_uri(data.path)
        rel = check_relative(rel)
        stores = self._b.service("datastores")
        if stores.get(store).type.value in ("local", "file"):
            return False
        try:
            stores.list_paths(store, rel)
        except NotFound:
            return True
        return False

    def _from_mltable(self, root: Path, staging: Path, tracker: _Tracker, *, limit: int | None = None,
                      out: Path | None = None) -> dict[str, Any]:
        """Read the MLTable folder ``root`` (inside ``staging/source``) into ``staging/data.parquet``."""
        spec = mltable_engine.load(root)
        fetched = staging / "mltable-remote"
        try:
            files: list[tuple[Path, str]] = []
            for entry in spec.paths:
                if entry.remote:
                    files += self._remote_mltable_files(entry, fetched / str(len(files)), tracker)
                else:
                    files += mltable_engine.local_files(entry, root)
            tracker.add_total(sum(p.stat().st_size for p, _ in files))
            result = mltable_engine.materialize(spec, files, out or staging / PARQUET, scratch=staging / "mltable-parts",
                                                progress=tracker.advance, limit=limit)
        finally:
            shutil.rmtree(fetched, ignore_errors=True)
            shutil.rmtree(staging / "mltable-parts", ignore_errors=True)
        source = staging / SOURCE
        return {"row_count": int(result.row_count), "delimiter": None,
                "mltable": root.relative_to(source).as_posix() if root != source else "",
                "columns": [{"name": f.name, "type": _type_name(f.type)} for f in result.schema]}

    def _remote_mltable_files(self, entry: mltable_engine.PathEntry, dest: Path,
                              tracker: _Tracker) -> builtins.list[tuple[Path, str]]:
        """Fetch what an MLTable path on a datastore or web server names; (local copy, the path as written)."""
        uri = entry.value
        long_form = re.match(r"^azureml://subscriptions/[^/]+/resourcegroups/[^/]+/workspaces/[^/]+/(datastores/.*)$",
                             uri, re.IGNORECASE)
        if long_form:
            uri = "azureml://" + long_form.group(1)
        dest.mkdir(parents=True, exist_ok=True)
        if uri.startswith("azureml://"):
            store, rel = parse_datastore_uri(uri)
            glob = ""
            if entry.kind == "pattern":
                rel, glob = mltable_engine.split_pattern(rel)
            copied = self._b.service("datastores").download(store, check_relative(rel), dest)
            if copied.is_file():
                if entry.kind == "folder":
                    raise InvalidInput(f"The MLTable folder {entry.value!r} is a file; write '- file: ...'.")
                return [(copied, entry.value)]
            if entry.kind == "file":
                raise InvalidInput(f"The MLTable file {entry.value!r} is a folder; write '- folder: ...'.")
            found = [p for p in sorted(copied.rglob("*")) if p.is_file()]
            if glob:
                found = [p for p in found if mltable_engine.glob_match(glob, p.relative_to(copied).as_posix())]
            if not found:
                raise InvalidInput(f"The MLTable path {entry.value!r} names no files.")
            base = entry.value.rstrip("/") if not glob else entry.value[: -len(glob)].rstrip("/")
            return [(p, f"{base}/{p.relative_to(copied).as_posix()}") for p in found]
        if re.match(r"^https?://", uri, re.IGNORECASE):
            if entry.kind != "file":
                raise InvalidInput(f"The MLTable {entry.kind} {entry.value!r} is a web address; only single files "
                                   "('- file: https://...') can be read from a web server.")
            data_fetch.check_url(uri)
            target = dest / data_fetch.file_name(uri)
            data_fetch.download(uri, target, progress=None)
            return [(target, entry.value)]
        raise InvalidInput(
            f"The MLTable path {entry.value!r} is a {uri.split(':', 1)[0]}:// URL, which is not read here. Register "
            "the storage as a datastore (ws.datastores.create_or_update, e.g. an AzureBlobDatastore) and write the "
            "path as azureml://datastores/NAME/paths/PATH.")

    def _from_query(self, data: Data, staging: Path, tracker: _Tracker) -> dict[str, Any]:
        if not data.datastore:
            raise InvalidInput("A dataset from a query needs datastore='NAME' (a SQL datastore).")
        engine = self._b.service("datastores").sql_engine(data.datastore)
        (staging / SOURCE / "query.sql").write_text(data.query or "", encoding="utf-8")
        parts_dir = staging / "parts"
        parts_dir.mkdir()
        parts: list[Path] = []
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=SQL_BATCH_ROWS).execute(sa.text(data.query))
                keys = list(result.keys())
                dupes = sorted({k for k in keys if keys.count(k) > 1})
                if dupes:
                    raise InvalidInput(f"The query returns the column {dupes[0]!r} twice; give each column a unique alias (AS ...).")
                for rows in result.partitions(SQL_BATCH_ROWS):
                    columns = list(zip(*rows)) if rows else [[] for _ in keys]
                    table = pa.table({k: _sql_array(k, list(col)) for k, col in zip(keys, columns)})
                    part = parts_dir / f"part-{len(parts):05d}.parquet"
                    pq.write_table(table, part)
                    parts.append(part)
                    tracker.advance(len(rows))
        except sa.exc.DBAPIError as exc:
            text = str(getattr(exc, "orig", exc)).strip()
            reason = text.splitlines()[0] if text else type(exc).__name__
            if isinstance(exc, sa.exc.OperationalError) and "connect" in reason.lower():
                raise BackendUnavailable(f"The database of datastore {data.datastore!r} could not be reached: {reason}") from None
            raise InvalidInput(f"The query on datastore {data.datastore!r} failed: {reason}. Fix the SQL and try again.") from None
        finally:
            engine.dispose()
        if not parts:
            raise InvalidInput(f"The query on datastore {data.datastore!r} returned no rows; a dataset needs at least one.")
        options = DelimitedReadOptions.coerce(data.read_options)
        schema = _copy_parquet(parts, staging / PARQUET, tracker, options=options)
        shutil.rmtree(parts_dir)
        rows_total = pq.ParquetFile(staging / PARQUET).metadata.num_rows
        return {"row_count": int(rows_total), "source": f"sql:{data.datastore}", "files": ["query.sql"],
                "delimiter": None, "columns": [{"name": f.name, "type": _type_name(f.type)} for f in schema]}

    def _preview_query(self, datastore: str | None, query: str, n: int) -> SourcePreview:
        import pandas as pd

        if not datastore:
            raise InvalidInput("A query preview needs datastore='NAME' (a SQL datastore).")
        engine = self._b.service("datastores").sql_engine(datastore)
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True).execute(sa.text(query))
                frame = pd.DataFrame(result.fetchmany(n), columns=list(result.keys()))
        except sa.exc.DBAPIError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise InvalidInput(f"The query on datastore {datastore!r} failed: {reason}. Fix the SQL and try again.") from None
        finally:
            engine.dispose()
        table = pa.Table.from_pandas(frame, preserve_index=False)
        return SourcePreview(frame=frame, columns=[ColumnSchema(name=f.name, type=_type_name(f.type)) for f in table.schema])

    # -- versions ---------------------------------------------------------------------------------
    def _commit(self, name: str, version: str | None, staging: Path, payload: dict[str, Any]) -> int:
        """Rename the staged folder to NAME/VERSION, then insert the row (undone on failure)."""
        parent = self._root / name
        parent.mkdir(parents=True, exist_ok=True)
        number = int(version) if version is not None else self._next_version(name)
        for _ in range(100):
            target = parent / str(number)
            try:
                os.rename(staging, target)
                break
            except OSError:
                if not target.exists():
                    raise
                if version is not None:
                    raise AlreadyExists(f"Dataset {name!r} version {version} already exists; versions are immutable.") from None
                number += 1
        else:  # pragma: no cover - a hundred concurrent registrations of one name
            raise Conflict(f"Could not find a free version number for {name!r}; try again.")
        try:
            self._b.store.put_asset(KIND, name, payload, version=number)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return number

    def _next_version(self, name: str) -> int:
        stored = [v for _, v, _, _ in self._b.store.list_assets(KIND, name, include_archived=True)]
        on_disk = [int(p.name) for p in (self._root / name).iterdir() if p.name.isdigit()] if (self._root / name).is_dir() else []
        return max([0, *stored, *on_disk]) + 1

    def _parquet(self, name: str, version: int | str | None) -> Path:
        entity = self.get(name, version)
        if entity.type != DataType.TABULAR:
            raise Conflict(
                f"Dataset {name!r} is a {entity.type} dataset; preview, profile and load need a tabular one. "
                f"Its files are in {entity.local_path}."
            )
        path = Path(entity.local_path) / PARQUET
        if not path.exists():
            raise StudioError(f"Dataset {name!r} version {entity.version} has lost its Parquet file ({path}).")
        return path

    def _require_any(self, name: str) -> None:
        if not list(self._b.store.list_assets(KIND, name, include_archived=True)):
            raise self._not_found(name, None)

    def _not_found(self, name: str, version: Any) -> NotFound:
        known = sorted({n for n, *_ in self._b.store.list_assets(KIND)})
        what = f"Dataset {name!r}" + (f" version {version}" if version is not None else "")
        return NotFound(f"{what} does not exist. Known datasets: {', '.join(known) or 'none'}. "
                        "Register one with ws.data.create_or_update(Data(...)).")

    def _entity(self, version: int, payload: dict[str, Any], archived: bool) -> Data:
        name = payload["name"]
        kind = DataType(payload["type"])
        files = _content_files(payload)
        version_folder = self._root / name / str(version)
        # the path names what was registered: a file, a folder's contents, or an MLTable folder
        local = rel = ""
        if payload.get("mltable") is not None:  # the MLTable folder as registered
            rel = "/".join(p for p in (SOURCE, payload["mltable"]) if p) + "/"
        elif kind == DataType.FOLDER and not payload.get("reference"):
            rel = local = _content_folder(payload) + "/"
        elif kind == DataType.FILE and files:
            rel = local = f"{_content_folder(payload)}/{files[0]}"
        folder = f"azureml://datastores/{DEFAULT_NAME}/paths/{name}/{version}/{rel}"
        if payload.get("reference"):  # a datastore folder registered before anything was written to it
            folder = payload["reference"]
        return Data(
            name=name, version=str(version), type=kind,
            path=folder,
            description=payload.get("description"), tags=payload.get("tags") or {},
            read_options=DelimitedReadOptions.coerce(payload["read_options"]) if payload.get("read_options") else None,
            datastore=payload.get("datastore"), query=payload.get("query"), source=payload.get("source"),
            creation_time=to_datetime(payload.get("created_at")), archived=archived,
            files=files,
            columns=[ColumnSchema(**c) for c in payload.get("columns") or []],
            row_count=payload.get("row_count"), size_bytes=payload.get("size_bytes"),
            local_path=str(version_folder / local.rstrip("/") if local else version_folder),
        )

    def _sweep_staging(self) -> None:
        """Remove what a crashed registration left in the staging folder."""
        if not self._staging.is_dir():
            return
        cutoff = time.time() - _STAGING_MAX_AGE
        for entry in self._staging.iterdir():
            try:
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                continue


class _Tracker:
    """Adds up bytes copied and parsed for a ``progress(done, total)`` callback."""

    def __init__(self, callback: Progress | None) -> None:
        self._callback = callback
        self.done = 0
        self.total = 0
        self._last = 0.0

    def add_total(self, n: int | None) -> None:
        self.total += int(n or 0)

    def advance(self, n: int) -> None:
        self.done += n
        if self._callback and time.monotonic() - self._last > 0.1:
            self._last = time.monotonic()
            self._callback(self.done, max(self.total, self.done))

    def finish(self) -> None:
        if self._callback:
            self._callback(max(self.total, self.done), max(self.total, self.done))


def _mltable_root(source: Path, files: builtins.list[Path], label: str, is_folder: bool) -> Path | None:
    """``source`` when the registered folder (copied into it) has an MLTable file at its top.

    None when it has none: the files are read with the studio's own read options. (An
    azure-ai-ml ``mltable`` asset without one was refused by its translation, as on Azure.)
    """
    if not is_folder and len(files) == 1 and files[0].name == MLTABLE:
        raise InvalidInput(f"{label} is an MLTable file; register the folder that holds it (and its data), "
                           "as Azure does.")
    return source if is_folder and (source / MLTABLE).is_file() else None


def _content_folder(payload: dict[str, Any]) -> str:
    """Where the registered file or folder contents are, relative to the version folder.

    One rule for new versions: ``source/`` (their stored summary says ``"layout": "contents"``).
    A version registered before kept a folder under its own name, ``source/p/``, and its
    ``files`` all start with that name; its content folder is that one.
    """
    if payload.get("layout") == LAYOUT:
        return SOURCE
    files = builtins.list(payload.get("files") or [])
    tops = {f.split("/", 1)[0] for f in files}
    if len(tops) == 1 and all("/" in f for f in files):
        return f"{SOURCE}/{tops.pop()}"
    return SOURCE


def _content_files(payload: dict[str, Any]) -> builtins.list[str]:
    """The stored ``files``, relative to :func:`_content_folder` (what a job listing its input sees)."""
    files = builtins.list(payload.get("files") or [])
    prefix = _content_folder(payload)[len(SOURCE):].lstrip("/")
    return [f[len(prefix) + 1:] for f in files] if prefix else files


def _parse_reference(ref: str) -> tuple[str, str | None]:
    match = _REFERENCE.match(ref)
    if not match:
        raise InvalidInput(
            f"{ref!r} is not a dataset reference. Write azureml:NAME:VERSION, azureml:NAME@latest "
            "or azureml://datastores/NAME/paths/PATH."
        )
    name, version, label = match.groups()
    if label is not None and label != "latest":
        raise InvalidInput(f"Unknown label {label!r} in {ref!r}; only '@latest' is supported.")
    return check_name(name, "dataset name"), version


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _copy_parquet(files: list[Path], out: Path, tracker: _Tracker, options: DelimitedReadOptions | None = None) -> pa.Schema:
    """Stream Parquet files into one, with one schema (types widened where they differ)."""
    schemas = [pq.read_schema(f) for f in files]
    try:
        schema = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInput(f"The Parquet files do not share one schema: {exc}") from None
    schema = pa.schema([pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type) for f in schema])
    if options is not None and options.column_types:
        for column, ctype in options.column_types.items():
            if column not in schema.names:
                raise InvalidInput(f"The 'column_types' read option names {column!r}, which the result does not have. "
                                   f"Its columns are: {', '.join(schema.names)}.")
            schema = schema.set(schema.get_field_index(column), pa.field(column, delimited._ARROW_TYPES[ctype]))
    with pq.ParquetWriter(out, schema) as writer:
        for index, f in enumerate(files):
            # the first batch is small: it becomes the small first row group previews read
            sizes = iter([delimited.HEAD_ROWS]) if index == 0 else iter(())
            for batch in _batches_of(pq.ParquetFile(f), sizes, 65536):
                table = pa.Table.from_batches([batch])
                missing = [n for n in schema.names if n not in table.column_names]
                for n in missing:
                    table = table.append_column(n, pa.nulls(len(table), schema.field(n).type))
                try:
                    writer.write_table(table.select(schema.names).cast(schema))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise InvalidInput(f"{f.name}: a column cannot be converted to the dataset's type: {exc}") from None
            tracker.advance(f.stat().st_size)
    return schema


def _batches_of(parquet: pq.ParquetFile, first_sizes: Any, size: int) -> Any:
    """Record batches of ``size`` rows, the first ones cut to ``first_sizes``."""
    for batch in parquet.iter_batches(batch_size=size):
        while batch.num_rows:
            cut = next(first_sizes, batch.num_rows)
            yield batch.slice(0, cut)
            batch = batch.slice(cut)


def _sql_array(column: str, values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # mixed Python types in one column: keep them as text rather than guess
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _type_name(arrow: pa.DataType) -> str:
    if pa.types.is_integer(arrow):
        return ColumnType.INTEGER.value
    if pa.types.is_floating(arrow) or pa.types.is_decimal(arrow):
        return ColumnType.FLOAT.value
    if pa.types.is_boolean(arrow):
        return ColumnType.BOOLEAN.value
    if pa.types.is_timestamp(arrow):
        return ColumnType.DATETIME.value
    if pa.types.is_date(arrow):
        return ColumnType.DATE.value
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
        return ColumnType.STRING.value
    return str(arrow)


def _profile_from_json(payload: dict[str, Any]) -> DataProfile:
    columns = []
    for col in payload.get("columns", []):
        col = dict(col)
        col["most_frequent"] = [tuple(v) for v in col.get("most_frequent") or []]
        columns.append(ColumnProfile(**col))
    return DataProfile(row_count=payload["row_count"], columns=columns, seconds=payload.get("seconds"))
