"""Datastores, datasets (data assets), their parsing options and profiles."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from studio_ext.entities._enum import ValueEnum
from studio_ext.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

_SECRET = "***"


class DatastoreType(ValueEnum):
    """Where a datastore keeps its files, chosen from its URL's scheme."""

    LOCAL = "local"  # the workspace's own datastore/ folder
    FILE = "file"  # a folder on this machine (file://)
    S3 = "s3"
    AZURE_BLOB = "azure_blob"  # abfs://, abfss://, az://
    GCS = "gcs"
    HTTP = "http"  # http(s)://, read-only
    SQL = "sql"  # any SQLAlchemy URL


@dataclass(kw_only=True)
class Datastore:
    """A named place data is read from: a folder, a bucket, a web root or a database.

    ``credentials`` (keys, secrets, passwords, SAS tokens) are stored in the workspace's
    metadata store and never shown: ``repr`` and the CLI print ``***``. A password in a
    SQL URL is moved into ``credentials['password']`` when the datastore is registered.

    Example::

        ws.datastores.create_or_update(Datastore(name="lake", url="s3://bucket/raw",
            credentials={"key": "...", "secret": "..."}, options={"endpoint_url": "http://..."}))
    """

    name: str
    url: str
    type: DatastoreType | None = None  # inferred from url when None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    credentials: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    # Filled in by the service.
    is_default: bool = False
    creation_time: datetime | None = None
    notes: list[str] = field(default_factory=list)  # Azure fields kept with no local meaning (AzureFieldNote)

    @property
    def read_only(self) -> bool:
        return self.type in (DatastoreType.HTTP, DatastoreType.SQL)

    # Azure's attribute names of a blob or ADLS Gen2 datastore (None for other kinds)
    @property
    def account_name(self) -> str | None:
        container, host = self._azure_parts()
        if container is None:
            return None
        return self.options.get("account_name") or host.split(".", 1)[0] or None

    @property
    def container_name(self) -> str | None:
        """The blob container (or the ADLS Gen2 filesystem) the datastore reads."""
        return self._azure_parts()[0]

    @property
    def endpoint(self) -> str | None:
        container, host = self._azure_parts()
        if container is None:
            return None
        return self.options.get("endpoint") or (host.split(".", 2)[2] if host.count(".") >= 2 else "core.windows.net")

    @property
    def protocol(self) -> str | None:
        return (self.options.get("protocol") or "https") if self._azure_parts()[0] is not None else None

    def _azure_parts(self) -> tuple[str | None, str]:
        """(container or filesystem, host) of an ``az://`` / ``abfs(s)://`` url; (None, "") for other kinds."""
        scheme, _, rest = self.url.partition("://")
        if scheme not in ("az", "abfs", "abfss"):
            return None, ""
        container, _, host = rest.split("/", 1)[0].partition("@")
        return container, host

    def __repr__(self) -> str:
        creds = {k: _SECRET for k in self.credentials}
        return (
            f"Datastore(name={self.name!r}, type={str(self.type) if self.type else None!r}, "
            f"url={redact_url(self.url)!r}, credentials={creds!r}, is_default={self.is_default})"
        )

    __str__ = __repr__


def redact_url(url: str) -> str:
    """``scheme://user:secret@host`` → ``scheme://user:***@host``; query tokens hidden too."""
    url = re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1" + _SECRET + "@", url)
    return re.sub(r"([?&](?:sig|token|password|key|secret)[^=]*=)[^&]*", r"\1" + _SECRET, url, flags=re.IGNORECASE)


def _parse_enum(cls: type[enum.Enum], value: Any, aliases: dict[str, Any], message: str) -> Any:
    """``value`` as a member of ``cls``, by value or alias (any case), else InvalidInput(message)."""
    if isinstance(value, cls):
        return value
    key = str(value).lower()
    if key in aliases:
        return aliases[key]
    try:
        return cls(key)
    except ValueError:
        raise InvalidInput(f"{message} Got {value!r} instead.") from None


class DataType(ValueEnum):
    """What a dataset holds: a parsed table, one file, or a folder of files.

    Each also answers to Azure ML's name for it (``azure_type``): ``data.type == "uri_file"``
    holds for a file, as it does for an ``azure.ai.ml.entities.Data`` of that type.
    """

    TABULAR = "tabular"
    FILE = "file"
    FOLDER = "folder"

    @property
    def azure_type(self) -> str:
        """Azure ML's asset type: ``mltable``, ``uri_file`` or ``uri_folder``."""
        return _AZURE_DATA_TYPES[self.value]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str) and not isinstance(other, enum.Enum):
            return other in (self.value, _AZURE_DATA_TYPES[self.value])
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__

    @classmethod
    def parse(cls, value: str | DataType) -> DataType:
        return _parse_enum(cls, value, {"mltable": cls.TABULAR, "uri_file": cls.FILE, "uri_folder": cls.FOLDER},
                           "The 'type' of a dataset must be 'tabular', 'file' or 'folder' (or Azure's "
                           "'mltable', 'uri_file', 'uri_folder').")


_AZURE_DATA_TYPES = {"tabular": "mltable", "file": "uri_file", "folder": "uri_folder"}


class HeaderMode(ValueEnum):
    """Which rows hold column names, as in the studio's "Column headers" setting."""

    FIRST_ROW = "first_row"  # the first file's first row; other files of a folder have none
    ALL_FILES_SAME = "all_files_same"  # every file starts with the same header row
    NONE = "none"  # no header: names come from column_names or Column1, Column2 ...

    @classmethod
    def parse(cls, value: str | HeaderMode | bool) -> HeaderMode:
        if value is True:
            return cls.FIRST_ROW
        if value is False or value is None:
            return cls.NONE
        aliases = {"from_first_file": cls.FIRST_ROW, "first": cls.FIRST_ROW,
                   "all_files_same_headers": cls.ALL_FILES_SAME, "no_headers": cls.NONE}
        return _parse_enum(cls, value, aliases,
                           "The 'header' read option must be 'first_row', 'all_files_same' or 'none'.")


class ColumnType(ValueEnum):
    """The types a column can be overridden to."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    DATE = "date"

    @classmethod
    def parse(cls, value: str | ColumnType, column: str) -> ColumnType:
        aliases = {"str": cls.STRING, "int": cls.INTEGER, "int64": cls.INTEGER, "double": cls.FLOAT,
                   "float64": cls.FLOAT, "bool": cls.BOOLEAN, "timestamp": cls.DATETIME}
        allowed = ", ".join(t.value for t in cls)
        return _parse_enum(cls, value, aliases, f"The column_types entry for {column!r} must be one of {allowed}.")


@dataclass(kw_only=True)
class DelimitedReadOptions:
    """How a delimited text file (CSV, TSV ...) is parsed into a table.

    ``delimiter=None`` detects it from the first lines. ``decimal=","`` reads European
    numbers (use it with ``delimiter=";"``). ``column_types`` overrides the inferred type
    of some columns; ``include``/``exclude`` keep or drop columns by name.
    """

    delimiter: str | None = None
    encoding: str = "utf-8"
    header: HeaderMode = HeaderMode.FIRST_ROW
    quote_char: str | None = '"'
    escape_char: str | None = None
    skip_rows: int = 0
    decimal: str = "."
    column_names: list[str] | None = None
    column_types: dict[str, ColumnType] = field(default_factory=dict)
    include: list[str] | None = None
    exclude: list[str] | None = None
    datetime_formats: list[str] | None = None

    def __post_init__(self) -> None:
        self.header = HeaderMode.parse(self.header)
        self.column_types = {str(k): ColumnType.parse(v, str(k)) for k, v in (self.column_types or {}).items()}
        for name in ("delimiter", "quote_char", "escape_char"):
            value = getattr(self, name)
            if value == "":
                setattr(self, name, None)
            elif value is not None and (not isinstance(value, str) or len(value) != 1):
                shown = "'\\t'" if name == "delimiter" else "'\"'"
                raise InvalidInput(
                    f"The '{name}' read option must be a single character such as {shown}. Got {value!r} instead."
                )
        if self.delimiter in ("\n", "\r") or (self.delimiter is not None and self.delimiter == self.quote_char):
            raise InvalidInput(
                f"The 'delimiter' read option {self.delimiter!r} cannot be a line break or the quote character."
            )
        if self.decimal not in (".", ","):
            raise InvalidInput(f"The 'decimal' read option must be '.' or ','. Got {self.decimal!r} instead.")
        if self.decimal == "," and self.delimiter == ",":
            raise InvalidInput(
                "The 'decimal' read option is ',' and so is the delimiter: use delimiter=';' for European numbers."
            )
        if not isinstance(self.skip_rows, int) or isinstance(self.skip_rows, bool) or self.skip_rows < 0:
            raise InvalidInput(f"The 'skip_rows' read option must be a whole number >= 0. Got {self.skip_rows!r} instead.")
        if not isinstance(self.encoding, str) or not self.encoding:
            raise InvalidInput(f"The 'encoding' read option must be a codec name such as 'utf-8'. Got {self.encoding!r} instead.")
        import codecs

        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise InvalidInput(
                f"The 'encoding' read option {self.encoding!r} is not a known encoding. "
                "Use e.g. 'utf-8', 'utf-8-sig', 'latin-1', 'cp1252' or 'utf-16'."
            ) from None
        for name in ("column_names", "include", "exclude", "datetime_formats"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise InvalidInput(f"The '{name}' read option must be a list of strings. Got {value!r} instead.")
            setattr(self, name, list(value))
        if self.column_names is not None:
            dupes = sorted({n for n in self.column_names if self.column_names.count(n) > 1})
            if dupes:
                raise InvalidInput(f"The 'column_names' read option names {dupes[0]!r} twice; names must be unique.")

    @classmethod
    def coerce(cls, value: DelimitedReadOptions | Mapping[str, Any] | None) -> DelimitedReadOptions:
        """Accept the options object, a plain dict with the same keys, or None (defaults)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise InvalidInput(
                    f"Unknown read option {unknown[0]!r}. Known options: {', '.join(sorted(known))}."
                )
            return cls(**dict(value))
        raise InvalidInput(
            f"read_options must be a DelimitedReadOptions or a dict. Got {type(value).__name__} instead."
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, dict):
                value = {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in value.items()}
            out[f.name] = value
        return out


@dataclass(kw_only=True)
class ColumnSchema:
    """A column of a tabular dataset: its name and its type as stored (Arrow's name)."""

    name: str
    type: str


@dataclass(kw_only=True)
class Data:
    """A dataset (data asset): a registered, immutable version of a table, file or folder.

    ``path`` is a local file or folder, a datastore path
    (``azureml://datastores/NAME/paths/PATH``) or an http(s) URL; or give ``datastore``
    (a SQL datastore) and ``query``. After registration ``path`` is where the version
    lives (``azureml://datastores/workspaceblobstore/paths/NAME/VERSION/``).

    With no ``name`` it is an anonymous asset, as on Azure: the service names it from a
    hash of its files (``anonymous-<hash>``), so the same files find the same asset.

    Example::

        ws.data.create_or_update(Data(name="flights", path="flights.csv", type="tabular",
                                      read_options={"delimiter": ";", "decimal": ","}))
    """

    name: str = ""
    version: str | None = None
    path: str | None = None
    type: DataType = DataType.TABULAR
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    read_options: DelimitedReadOptions | None = None
    datastore: str | None = None
    query: str | None = None
    # Filled in by the service.
    source: str | None = None
    creation_time: datetime | None = None
    archived: bool = False
    files: list[str] = field(default_factory=list)
    columns: list[ColumnSchema] = field(default_factory=list)
    row_count: int | None = None
    size_bytes: int | None = None
    local_path: str | None = None
    notes: list[str] = field(default_factory=list)  # Azure fields kept with no local meaning (AzureFieldNote)

    def __post_init__(self) -> None:
        self.type = DataType.parse(self.type)
        if self.version is not None:
            self.version = str(self.version)
        if self.read_options is not None:
            self.read_options = DelimitedReadOptions.coerce(self.read_options)

    @property
    def id(self) -> str | None:
        """``azureml:NAME:VERSION`` once registered (None before), the reference Azure takes as ``Input(path=...)``.

        Azure's ``Data.id`` is the ARM resource id (``/subscriptions/.../data/NAME/versions/V``);
        a local workspace has no subscription, so its id is the short reference Azure
        accepts in the same places.
        """
        return f"azureml:{self.name}:{self.version}" if self.name and self.version else None

    @property
    def reference(self) -> str:
        """``azureml:NAME:VERSION``: what a job's ``Input(path=...)`` takes."""
        return f"azureml:{self.name}:{self.version}" if self.version else f"azureml:{self.name}@latest"


@dataclass(kw_only=True)
class ColumnProfile:
    """Summary statistics of one column (numbers only where the type has them)."""

    name: str
    type: str
    count: int
    missing: int
    distinct: int
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, Any] = field(default_factory=dict)
    most_frequent: list[tuple[Any, int]] = field(default_factory=list)
    histogram_edges: list[Any] = field(default_factory=list)
    histogram_counts: list[int] = field(default_factory=list)


@dataclass(kw_only=True)
class DataProfile:
    """The profile of a dataset version: computed once, then read from its cache."""

    row_count: int
    columns: list[ColumnProfile] = field(default_factory=list)
    seconds: float | None = None

    def column(self, name: str) -> ColumnProfile:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def to_frame(self) -> pd.DataFrame:
        """One row per column: the figures a table view shows."""
        import pandas as pd

        return pd.DataFrame([
            {"column": c.name, "type": c.type, "count": c.count, "missing": c.missing,
             "distinct": c.distinct, "min": c.min, "max": c.max, "mean": c.mean, "std": c.std,
             **{f"q{k}": v for k, v in c.quantiles.items()}}
            for c in self.columns
        ])


@dataclass(kw_only=True)
class DataConsumer:
    """A job that read a dataset version: the dataset's lineage."""

    job_name: str
    input_name: str
    data_version: str
    status: str
    experiment_name: str | None = None
    creation_time: datetime | None = None


@dataclass(kw_only=True)
class SourcePreview:
    """The first rows of a source parsed with some options, before it is registered."""

    frame: Any  # a pandas DataFrame
    delimiter: str | None = None
    columns: list[ColumnSchema] = field(default_factory=list)
