"""``ws.datastores`` on the local backend: the workspace's own store plus registered ones.

A datastore is a row of the ``assets`` table (kind ``datastore``), credentials
included: the metadata store is the workspace's secret store, and nothing here
prints them. Files are reached through fsspec (pyarrow's S3 client for ``s3://``,
adlfs for Azure Blob Storage and ADLS Gen2), databases through SQLAlchemy.

An Azure datastore's ``options`` keep azure-ai-ml's ``endpoint`` (default
``core.windows.net``) and ``protocol`` (``https``): the account's blob URL is
``PROTOCOL://ACCOUNT.blob.ENDPOINT``, or, when the endpoint is an address
(``127.0.0.1:10000``, ``localhost:10000``), the path-style ``PROTOCOL://ENDPOINT/ACCOUNT``
that Azure Storage emulators such as Azurite serve. ADLS Gen2 stores are read through
the account's blob endpoint too (adlfs), with an account key or SAS token.

Files are written with :meth:`LocalDatastores.upload` (a job's outputs on a datastore).
"""

from __future__ import annotations

import builtins
import hashlib
import os
import re
import shutil
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from azure.core.exceptions import AzureError

from studio_ext._validation import check_name, resolve_inside
from studio_ext.backends.local.core.accepting import accepts
from studio_ext.backends.local.core.store import now, to_datetime
from studio_ext.backends.local.core.urls import with_installed_driver
from studio_ext.backends.local.data import fetch as data_fetch
from studio_ext.entities._data import Datastore, DatastoreType, redact_url
from studio_ext.errors import (
    AlreadyExists,
    BackendUnavailable,
    Conflict,
    InvalidInput,
    MissingDependency,
    NotFound,
    UnsafePath,
)
from studio_ext.services import DatastoreOperations

if TYPE_CHECKING:  # pragma: no cover
    import azure.ai.ml.entities as aml

    from studio_ext.backends.local import LocalBackend

KIND = "datastore"
DEFAULT_NAME = "workspaceblobstore"
_SCHEMES: dict[str, DatastoreType] = {
    "file": DatastoreType.FILE,
    "s3": DatastoreType.S3, "s3a": DatastoreType.S3,
    "abfs": DatastoreType.AZURE_BLOB, "abfss": DatastoreType.AZURE_BLOB, "az": DatastoreType.AZURE_BLOB,
    "gs": DatastoreType.GCS, "gcs": DatastoreType.GCS,
    "http": DatastoreType.HTTP, "https": DatastoreType.HTTP,
}
_SQL_DRIVERS = {"postgresql": ("psycopg2-binary", "postgres"), "postgres": ("psycopg2-binary", "postgres")}
_DATASTORE_PATH = re.compile(r"^azureml://datastores/([^/]+)/paths/(.*)$")
_AZURE_ENDPOINT = "core.windows.net"
# What reading or writing a file store raises: OS errors (fsspec), and the Azure SDK's own
# (an HTTP refusal such as a wrong key reaches adlfs's callers as an AzureError).
_STORAGE_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, AzureError)
_ADDRESS = re.compile(r"^(localhost|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\])(:\d+)?$")
# An S3 datastore without keys must not ask the cloud metadata service (169.254.169.254) for some.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def parse_datastore_uri(uri: str) -> tuple[str, str]:
    """``azureml://datastores/NAME/paths/PATH`` → (NAME, PATH)."""
    match = _DATASTORE_PATH.match(uri)
    if not match:
        raise InvalidInput(
            f"{uri!r} is not a datastore path. Write it as azureml://datastores/NAME/paths/PATH."
        )
    return match.group(1), match.group(2)


def check_relative(path: str, what: str = "datastore path") -> str:
    """A datastore path that cannot leave its datastore, checked without touching storage."""
    if not isinstance(path, str):
        raise InvalidInput(f"The {what} must be a string. Got {path!r} instead.")
    decoded = path
    for _ in range(3):
        decoded = urllib.parse.unquote(decoded)
    for char, name in (("#", "a URL fragment ('#')"), ("?", "a query ('?')"), (";", "parameters (';')")):
        if char in decoded:
            raise UnsafePath(f"The {what} {path!r} contains {name}; give a plain path inside the datastore.")
    # resolve_inside's lexical checks, against a root that does not exist, touch nothing.
    resolve_inside(Path("/nonexistent-datastore-root"), decoded, what)
    return "/".join(p for p in re.split(r"[\\/]+", decoded) if p not in ("", "."))


class LocalDatastores(DatastoreOperations):
    """``ws.datastores``: list, get, register and delete datastores."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    # -- the operation group ---------------------------------------------------------
    def list(self) -> builtins.list[Datastore]:
        rows = [self._entity(p) for _, _, p, _ in self._b.store.list_assets(KIND)]
        return [self.get_default(), *sorted(rows, key=lambda d: d.name)]

    def get(self, name: str) -> Datastore:
        if name == DEFAULT_NAME:
            return self.get_default()
        found = self._b.store.get_asset(KIND, name, 1)
        if found is None:
            known = ", ".join(d.name for d in self.list())
            raise NotFound(
                f"There is no datastore named {name!r}. Known datastores: {known}. "
                "Register one with ws.datastores.create_or_update(Datastore(name=..., url=...))."
            )
        return self._entity(found[1])

    def get_default(self) -> Datastore:
        from studio_ext.backends.local.core.bootstrap import CREATED_SETTING

        # Made with the workspace: its creation time (None for a workspace made before it was recorded).
        return Datastore(name=DEFAULT_NAME, url=self._b.datastore_uri, type=DatastoreType.LOCAL,
                         description="The workspace's own datastore: every dataset version is kept here.",
                         is_default=True, creation_time=to_datetime(self._b.store.get_setting(CREATED_SETTING)))

    def to_yaml(self, datastore: Datastore) -> str:
        """Azure ML v2 YAML of ``datastore`` (an Azure Blob or ADLS Gen2 one, as ``az ml datastore create --file`` reads it)."""
        from studio_ext.translation import to_yaml

        return to_yaml(datastore)

    @accepts(Datastore, "ws.datastores.create_or_update")
    def create_or_update(
        self, datastore: Datastore | aml.AzureBlobDatastore | aml.AzureDataLakeGen2Datastore
    ) -> Datastore:
        """Register (or replace) a datastore; its driver must be installed and its URL valid."""
        if not isinstance(datastore, Datastore):
            raise InvalidInput(f"create_or_update takes a Datastore. Got {type(datastore).__name__} instead.")
        name = check_name(datastore.name, "datastore name")
        if name == DEFAULT_NAME:
            raise Conflict(f"{DEFAULT_NAME!r} is the workspace's default datastore; it cannot be replaced. Choose another name.")
        ds = self._validated(datastore)
        payload = {k: v for k, v in asdict(ds).items() if k not in ("creation_time", "is_default")}
        payload["type"] = ds.type.value if ds.type else None
        existing = self._b.store.get_asset(KIND, name, 1)
        if existing is None:
            payload["created_at"] = now()
            try:
                self._b.store.put_asset(KIND, name, payload, version=1)
            except sa.exc.IntegrityError:
                raise AlreadyExists(f"The datastore {name!r} was registered at the same moment; try again.") from None
        else:
            payload["created_at"] = existing[1].get("created_at")
            self._b.store.replace_asset(KIND, name, 1, payload)
        return self.get(name)

    def delete(self, name: str) -> None:
        if name == DEFAULT_NAME:
            raise Conflict(f"{DEFAULT_NAME!r} is the workspace's default datastore; it cannot be deleted.")
        self.get(name)
        self._b.store.delete_asset(KIND, name)

    # -- reading from a datastore (used by ws.data) -------------------------------------
    def list_paths(self, name: str, path: str = "") -> builtins.list[dict[str, Any]]:
        """The files and folders directly under ``path``: ``{"name", "path", "is_dir", "size"}``."""
        ds = self.get(name)
        rel = check_relative(path) if path else ""
        if ds.type == DatastoreType.HTTP:
            raise Conflict(f"The datastore {name!r} is a web root; it cannot be listed. Give a file path.")
        if ds.type == DatastoreType.SQL:
            raise Conflict(f"The datastore {name!r} is a database; register a dataset from a query instead.")
        if self._is_local(ds):
            folder = resolve_inside(self._local_root(ds), rel) if rel else self._local_root(ds)
            if not folder.is_dir():
                raise NotFound(f"{rel!r} is not a folder of the datastore {name!r}.")
            return [{"name": p.name, "path": f"{rel}/{p.name}".lstrip("/"), "is_dir": p.is_dir(),
                     "size": p.stat().st_size if p.is_file() else None}
                    for p in sorted(folder.iterdir()) if not p.name.startswith(".")]
        fs, root = self.filesystem(ds)
        out = []
        try:
            listing = fs.ls(f"{root}/{rel}".rstrip("/"), detail=True)
        except FileNotFoundError:
            raise NotFound(f"{rel!r} is not a folder of the datastore {name!r} ({redact_url(ds.url)}).") from None
        except _STORAGE_ERRORS as exc:
            raise BackendUnavailable(f"Listing {rel or '/'!r} in the datastore {name!r} failed: {_reason(exc)}") from None
        for info in listing:
            base = info["name"].rstrip("/").rsplit("/", 1)[-1]
            out.append({"name": base, "path": f"{rel}/{base}".lstrip("/"), "is_dir": info.get("type") == "directory",
                        "size": info.get("size")})
        return sorted(out, key=lambda e: e["name"])

    def local_path(self, name: str, path: str) -> Path:
        """The file or folder on this machine (local datastores only).

        Symlinks are checked: the path must stay inside the datastore, and so must every
        link in a folder (see :func:`local_files`).
        """
        ds = self.get(name)
        rel = check_relative(path)
        if not self._is_local(ds):
            raise Conflict(f"The datastore {name!r} is not on this machine; copy from it with download().")
        target = resolve_inside(self._local_root(ds), rel)
        if not target.exists():
            raise NotFound(f"{rel!r} does not exist in the datastore {name!r}.")
        if target.is_dir():
            local_files(target, inside=self._local_root(ds), store=name)
        return target

    def size(self, name: str, path: str) -> int | None:
        ds = self.get(name)
        rel = check_relative(path)
        if self._is_local(ds):
            target = self.local_path(name, rel)
            if target.is_dir():
                return sum(p.stat().st_size for p in local_files(target, inside=self._local_root(ds), store=name))
            return target.stat().st_size
        if ds.type == DatastoreType.HTTP:
            return data_fetch.content_length(self._http_url(ds, rel))
        fs, root = self.filesystem(ds)
        try:
            return int(fs.du(f"{root}/{rel}"))
        except Exception:  # noqa: BLE001 - sizes are for progress bars only
            return None

    def signature(self, name: str, path: str) -> str | None:
        """A short digest of what is at ``path`` in a remote datastore (names, sizes, times, etags): it changes
        when the files do. None where it cannot be known (web roots, an unreachable store)."""
        ds = self.get(name)
        rel = check_relative(path)
        if self._is_local(ds) or ds.read_only:
            return None
        fs, root = self.filesystem(ds)
        remote = f"{root}/{rel}".rstrip("/")
        try:
            infos = list(fs.find(remote, detail=True).values()) if fs.isdir(remote) else [fs.info(remote)]
        except FileNotFoundError:
            raise NotFound(f"{rel!r} does not exist in the datastore {name!r} ({redact_url(ds.url)}).") from None
        except _STORAGE_ERRORS:
            return None
        seen = sorted((str(i.get("name")), i.get("size"), str(i.get("last_modified") or i.get("mtime") or ""),
                       str(i.get("etag") or i.get("ETag") or "")) for i in infos)
        return hashlib.sha256(repr(seen).encode()).hexdigest()[:16]

    def download(self, name: str, path: str, dest: Path, *, progress: Callable[[int], None] | None = None,
                 limit: int | None = None) -> Path:
        """Copy a file or folder of the datastore into the folder ``dest``; return the copy."""
        ds = self.get(name)
        rel = check_relative(path)
        dest.mkdir(parents=True, exist_ok=True)
        base = rel.rsplit("/", 1)[-1] or name
        if self._is_local(ds):
            source = self.local_path(name, rel)
            if source.is_dir():
                found = local_files(source, inside=self._local_root(ds), store=name)
                if limit is not None:  # a preview: the start of the first file
                    return _copy_local(found[0], dest / found[0].name, progress, limit) if found else dest / base
                return _copy_files(source, found, dest / base, progress)
            return _copy_local(source, dest / base, progress, limit)
        if ds.type == DatastoreType.HTTP:
            target = dest / data_fetch.file_name(self._http_url(ds, rel))
            data_fetch.download(self._http_url(ds, rel), target, progress=progress, limit=limit)
            return target
        if ds.type == DatastoreType.SQL:
            raise Conflict(f"The datastore {name!r} is a database; register a dataset from a query instead.")
        fs, root = self.filesystem(ds)
        remote = f"{root}/{rel}".rstrip("/")
        try:
            if fs.isdir(remote):
                found = sorted(fs.find(remote, detail=True).values(), key=lambda i: i["name"])
                if limit is not None and found:  # a preview: the start of the first file
                    return _copy_stream(fs, found[0]["name"], dest / found[0]["name"].rsplit("/", 1)[-1], progress, limit)
                for info in found:
                    sub = info["name"][len(remote):].lstrip("/")
                    check_relative(sub)
                    _copy_stream(fs, info["name"], dest / base / sub, progress, None)
                return dest / base
            if not fs.exists(remote):
                raise NotFound(f"{rel!r} does not exist in the datastore {name!r} ({redact_url(ds.url)}).")
            return _copy_stream(fs, remote, dest / base, progress, limit)
        except (NotFound, UnsafePath):
            raise
        except _STORAGE_ERRORS as exc:
            raise BackendUnavailable(f"Reading {rel!r} from the datastore {name!r} failed: {_reason(exc)}") from None

    def filesystem(self, ds: Datastore) -> tuple[Any, str]:
        """An fsspec filesystem for the datastore and the root path inside it."""
        parts = urllib.parse.urlsplit(ds.url)
        creds, opts = ds.credentials, ds.options
        if ds.type in (DatastoreType.LOCAL, DatastoreType.FILE):
            from fsspec.implementations.local import LocalFileSystem

            return LocalFileSystem(), str(self._local_root(ds))
        root = (parts.netloc + parts.path).rstrip("/")
        if ds.type == DatastoreType.S3:
            from fsspec.implementations.arrow import ArrowFSWrapper
            from pyarrow import fs as pafs

            endpoint = opts.get("endpoint_url")
            endpoint_parts = urllib.parse.urlsplit(endpoint) if endpoint else None
            s3 = pafs.S3FileSystem(
                access_key=creds.get("key"), secret_key=creds.get("secret"), session_token=creds.get("token"),
                region=opts.get("region", "us-east-1"),
                endpoint_override=endpoint_parts.netloc if endpoint_parts else None,
                scheme=endpoint_parts.scheme if endpoint_parts else "https",
                anonymous=not creds.get("key"),
            )
            return ArrowFSWrapper(s3), root
        if ds.type == DatastoreType.AZURE_BLOB:
            import adlfs  # a required dependency: blob datastores are a core path (the DP-100 labs register them)
            account = opts.get("account_name") or (parts.netloc.split("@", 1)[1].split(".")[0] if "@" in parts.netloc else None)
            container_root = parts.netloc.split("@", 1)[0] + parts.path.rstrip("/")
            # listings are not cached: another client (a job, a user) writes to the container too
            cache = {"skip_instance_cache": True, "use_listings_cache": False}
            connection = creds.get("connection_string") or _connection_string(account, opts, creds)
            if connection:
                return adlfs.AzureBlobFileSystem(connection_string=connection, **cache), container_root
            if "client_secret" in creds and not (creds.get("account_key") or creds.get("sas_token")):
                fs = adlfs.AzureBlobFileSystem(account_name=account, tenant_id=creds.get("tenant_id"),
                                               client_id=creds.get("client_id"), client_secret=creds.get("client_secret"),
                                               **cache)
                return fs, container_root
            fs = adlfs.AzureBlobFileSystem(account_name=account, account_key=creds.get("account_key"),
                                           sas_token=creds.get("sas_token"), anon=not (creds.get("account_key")
                                                                                      or creds.get("sas_token")),
                                           **cache)
            return fs, container_root
        if ds.type == DatastoreType.GCS:
            try:
                import gcsfs
            except ImportError:
                raise MissingDependency("gcsfs", "gcs", "Reading Google Cloud Storage") from None
            return gcsfs.GCSFileSystem(token=creds.get("token") or None), root
        raise Conflict(f"The datastore {ds.name!r} ({ds.type}) has no file system.")

    # -- writing to a datastore (a job's outputs) ------------------------------------------
    def upload(self, name: str, local: str | os.PathLike[str], path: str) -> str:
        """Copy the file or folder ``local`` to ``path`` in the datastore; return its ``azureml://`` URI.

        A folder's files keep their places under ``path``; files already there are replaced,
        others are left as they are (as Azure's upload does). Web and SQL datastores are
        read-only; in the workspace's own datastore the dataset versions cannot be written.
        """
        ds = self.get(name)
        rel = check_relative(path)
        source = Path(local)
        if not source.exists():
            raise NotFound(f"{str(source)!r} does not exist; there is nothing to upload to the datastore {name!r}.")
        if ds.read_only:
            raise Conflict(f"The datastore {name!r} is {'a web root' if ds.type == DatastoreType.HTTP else 'a database'}"
                           "; it cannot be written. Write to a folder, blob or bucket datastore.")
        files = local_files(source) if source.is_dir() else [source]
        if self._is_local(ds):
            root = self._local_root(ds)
            if ds.type == DatastoreType.LOCAL:
                self._check_writable_default(root, rel)
            target = resolve_inside(root, rel) if rel else root
            for file in files:
                dest = target / file.relative_to(source) if source.is_dir() else target
                if dest.is_dir():
                    raise Conflict(f"{rel!r} is a folder of the datastore {name!r}; give a file path to upload a file.")
                _copy_local(file, dest, None, None)
            return f"azureml://datastores/{name}/paths/{rel}"
        fs, root = self.filesystem(ds)
        remote = f"{root}/{rel}".rstrip("/")
        try:
            for file in files:
                sub = file.relative_to(source).as_posix() if source.is_dir() else ""
                fs.put_file(str(file), f"{remote}/{sub}" if sub else remote)
        except _STORAGE_ERRORS as exc:
            raise BackendUnavailable(f"Writing {rel!r} to the datastore {name!r} ({redact_url(ds.url)}) failed: "
                                     f"{_reason(exc)}") from None
        return f"azureml://datastores/{name}/paths/{rel}"

    @staticmethod
    def _check_writable_default(root: Path, rel: str) -> None:
        parts = rel.split("/") if rel else []
        if not parts or parts[0].startswith(".") or (len(parts) >= 2 and parts[1].isdigit()
                                                     and (root / parts[0] / parts[1]).exists()):
            raise Conflict(f"{rel or '/'!r} in the workspace's datastore holds dataset versions, which are immutable. "
                           "Write to another folder (e.g. outputs/NAME).")

    def sql_engine(self, name: str) -> sa.Engine:
        ds = self.get(name)
        if ds.type != DatastoreType.SQL:
            raise InvalidInput(f"The datastore {name!r} is {ds.type}, not a database; a query needs a SQL datastore.")
        url = with_installed_driver(sa.engine.make_url(ds.url))
        if ds.credentials.get("password"):
            url = url.set(password=ds.credentials["password"])
        return _sql_engine(url, ds)

    # -- helpers --------------------------------------------------------------------------
    def _validated(self, ds: Datastore) -> Datastore:
        url = ds.url
        if not isinstance(url, str) or not url.strip():
            raise InvalidInput("A datastore needs a url such as 's3://bucket/folder' or 'postgresql://host/db'.")
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        dtype = _SCHEMES.get(scheme)
        if dtype is None:
            try:
                sa.engine.make_url(url)
                dtype = DatastoreType.SQL
            except sa.exc.ArgumentError:
                pass
        if dtype is None:
            raise InvalidInput(
                f"The datastore url {redact_url(url)!r} has no known scheme. Use file://, s3://, abfs://, az://, "
                "gs://, http(s):// or a SQLAlchemy database URL (postgresql://, mysql+pymysql://, sqlite:///)."
            )
        if ds.type is not None and DatastoreType(ds.type) != dtype:
            raise InvalidInput(f"The datastore type {ds.type!s} does not match its url scheme {scheme!r} ({dtype}).")
        credentials = {str(k): str(v) for k, v in (ds.credentials or {}).items()}
        clean = Datastore(name=ds.name, url=url, type=dtype, description=ds.description, tags=dict(ds.tags or {}),
                          credentials=credentials, options={str(k): str(v) for k, v in (ds.options or {}).items()})
        if dtype == DatastoreType.SQL:
            parsed = sa.engine.make_url(url)
            if parsed.password:
                credentials["password"] = str(parsed.password)
                clean.url = parsed._replace(password=None).render_as_string(hide_password=False)  # set(password=None) keeps it
            self._check_sql_driver(parsed, clean)
        elif dtype == DatastoreType.FILE:
            root = self._local_root(clean)
            if not root.is_dir():
                raise NotFound(f"The folder {str(root)!r} of the file:// datastore does not exist; create it first.")
        elif dtype == DatastoreType.HTTP:
            data_fetch.check_url(url)
        else:
            parts = urllib.parse.urlsplit(url)
            if not parts.netloc:
                raise InvalidInput(f"The url {redact_url(url)!r} names no bucket or container, as in s3://bucket/folder.")
            self.filesystem(clean)  # a missing driver is reported now, not at first use
        return clean

    @staticmethod
    def _check_sql_driver(url: sa.engine.URL, ds: Datastore) -> None:
        url = with_installed_driver(url)
        try:
            url.get_dialect().import_dbapi()
        except ImportError as exc:
            package, extra = _SQL_DRIVERS.get(url.get_backend_name(), (exc.name or "the database driver", None))
            if extra:
                raise MissingDependency(package, extra, f"The SQL datastore {ds.name!r}") from None
            raise BackendUnavailable(
                f"The SQL datastore {ds.name!r} needs the Python driver {package!r} for {url.drivername}, "
                f"which is not installed. Install it with: pip install {package}"
            ) from None
        except sa.exc.NoSuchModuleError:
            raise InvalidInput(f"SQLAlchemy has no dialect {url.drivername!r}; check the database URL.") from None

    def _is_local(self, ds: Datastore) -> bool:
        return ds.type in (DatastoreType.LOCAL, DatastoreType.FILE)

    @staticmethod
    def _local_root(ds: Datastore) -> Path:
        parts = urllib.parse.urlsplit(ds.url)
        if parts.netloc not in ("", "localhost"):
            raise InvalidInput(f"The file:// url {ds.url!r} names a host; use file:///absolute/folder.")
        return Path(urllib.request.url2pathname(parts.path))

    @staticmethod
    def _http_url(ds: Datastore, rel: str) -> str:
        return ds.url.rstrip("/") + "/" + urllib.parse.quote(rel)

    @staticmethod
    def _entity(payload: dict[str, Any]) -> Datastore:
        return Datastore(
            name=payload["name"], url=payload["url"], type=DatastoreType(payload["type"]),
            description=payload.get("description"), tags=payload.get("tags") or {},
            credentials=payload.get("credentials") or {}, options=payload.get("options") or {},
            creation_time=to_datetime(payload.get("created_at")),
        )


def blob_endpoint(account: str, endpoint: str | None = None, protocol: str | None = None) -> str:
    """The blob service URL of an Azure storage account: ``https://ACCOUNT.blob.core.windows.net``, or the
    path-style ``http://127.0.0.1:10000/ACCOUNT`` when ``endpoint`` is an address (an emulator such as Azurite)."""
    endpoint, protocol = endpoint or _AZURE_ENDPOINT, protocol or "https"
    if _ADDRESS.match(endpoint):
        return f"{protocol}://{endpoint}/{account}"
    return f"{protocol}://{account}.blob.{endpoint}"


def _connection_string(account: str | None, opts: dict[str, str], creds: dict[str, str]) -> str | None:
    """A connection string for a blob service at a custom endpoint or protocol (None: the default one)."""
    endpoint, protocol = opts.get("endpoint") or _AZURE_ENDPOINT, opts.get("protocol") or "https"
    if not account or (endpoint == _AZURE_ENDPOINT and protocol == "https"):
        return None
    parts = [f"DefaultEndpointsProtocol={protocol}", f"AccountName={account}",
             f"BlobEndpoint={blob_endpoint(account, endpoint, protocol)}"]
    if creds.get("account_key"):
        parts.append(f"AccountKey={creds['account_key']}")
    elif creds.get("sas_token"):
        parts.append(f"SharedAccessSignature={creds['sas_token'].lstrip('?')}")
    return ";".join(parts) + ";"


def _reason(exc: BaseException) -> str:
    """The first line of an Azure or fsspec error (their messages run to pages of XML), and what to do."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, AzureError) and ("authenticat" in text.lower() or "Authorization" in text):
        line += (". Check the datastore's credentials (account key or SAS token; with none, the container must "
                 "allow public reads) and register it again")
    return line


def _sql_engine(url: sa.engine.URL, ds: Datastore) -> sa.Engine:
    args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        args["connect_args"] = {"connect_timeout": 10}
    return sa.create_engine(url, pool_pre_ping=True, **args)


def local_files(folder: Path, *, inside: Path | None = None, store: str | None = None) -> builtins.list[Path]:
    """The files under ``folder``, sorted; hidden ones and links to folders are skipped (never walked).

    With ``inside`` (a datastore's root), a link whose target leaves it is refused, naming the
    link: a datastore must not hand out what lies outside it, whether the path names the file
    itself or a folder that holds a link to it.
    """
    root = Path(os.path.realpath(inside)) if inside is not None else None
    found = []
    for here, dirs, names in os.walk(folder):  # followlinks=False: a folder link is listed, not walked
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for entry in [*dirs, *names]:
            path = Path(here) / entry
            if entry.startswith(".") or not path.is_symlink():
                if not entry.startswith(".") and entry in names and path.is_file():
                    found.append(path)
                continue
            if root is not None:
                target = Path(os.path.realpath(path))
                if target != root and root not in target.parents:
                    where = os.path.relpath(path, root) if Path(here).is_relative_to(root) else str(path)
                    raise UnsafePath(
                        f"The datastore {store!r} contains a symbolic link that leaves it ({where} -> "
                        f"{os.readlink(path)}); copy the real file in its place, or remove the link, and try again.")
            if entry in names and path.is_file():
                found.append(path)
    return sorted(found)


def _copy_files(folder: Path, files: builtins.list[Path], dest: Path, progress: Callable[[int], None] | None) -> Path:
    for path in files:
        _copy_local(path, dest / path.relative_to(folder), progress, None)
    return dest


def _copy_local(src: Path, dest: Path, progress: Callable[[int], None] | None, limit: int | None) -> Path:
    if src.is_dir():
        return _copy_files(src, local_files(src), dest, progress)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        if limit is None and hasattr(os, "sendfile"):
            _send(fin, fout, progress)  # the kernel copies: no bytes pass through Python
        else:
            _pump(fin, fout, progress, limit)
    shutil.copymode(src, dest)
    return dest


def _send(fin: Any, fout: Any, progress: Callable[[int], None] | None) -> None:
    offset = 0
    while True:
        sent = os.sendfile(fout.fileno(), fin.fileno(), offset, 64 << 20)
        if sent == 0:
            return
        offset += sent
        if progress:
            progress(sent)


def _copy_stream(fs: Any, remote: str, dest: Path, progress: Callable[[int], None] | None, limit: int | None) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with fs.open(remote, "rb") as fin, open(dest, "wb") as fout:
        _pump(fin, fout, progress, limit)
    return dest


def _pump(fin: Any, fout: Any, progress: Callable[[int], None] | None, limit: int | None) -> None:
    written = 0
    while True:
        want = 4 << 20 if limit is None else min(4 << 20, limit - written)
        if want <= 0:
            return
        chunk = fin.read(want)
        if not chunk:
            return
        fout.write(chunk)
        written += len(chunk)
        if progress:
            progress(len(chunk))


def local_folder(uri: str) -> Path:
    """The folder of a file:// URI (the workspace's default datastore)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme != "file":
        raise BackendUnavailable(
            f"The workspace's datastore is {redact_url(uri)}; dataset versions can only be stored in a local "
            "folder in this version. Set storage.datastore_uri to a file:// folder."
        )
    return Path(urllib.request.url2pathname(parts.path))

