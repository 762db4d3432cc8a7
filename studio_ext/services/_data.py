"""``ws.datastores`` and ``ws.data``: where data lives, and the datasets registered from it."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from studio_ext.entities._data import (
    Data,
    DataConsumer,
    DataProfile,
    Datastore,
    DataType,
    DelimitedReadOptions,
    SourcePreview,
)

if TYPE_CHECKING:  # pragma: no cover
    import azure.ai.ml.entities as aml  # azure-ai-ml's objects are taken too, translated at the entry
    import pandas as pd


@runtime_checkable
class DatastoreOperations(Protocol):
    """``ws.datastores``: the workspace's default store plus registered fsspec and SQL stores."""

    def list(self) -> builtins.list[Datastore]: ...

    def get(self, name: str) -> Datastore: ...

    def get_default(self) -> Datastore: ...

    def create_or_update(
        self, datastore: Datastore | aml.AzureBlobDatastore | aml.AzureDataLakeGen2Datastore
    ) -> Datastore:
        """Register or replace a datastore: a studio_ext Datastore or azure-ai-ml's blob / ADLS Gen2 one."""

    def to_yaml(self, datastore: Datastore) -> str:
        """Azure ML v2 YAML of an Azure Blob or ADLS Gen2 datastore (``az ml datastore create --file``)."""

    def delete(self, name: str) -> None: ...

    def list_paths(self, name: str, path: str = "") -> builtins.list[dict[str, Any]]: ...


@runtime_checkable
class DataOperations(Protocol):
    """``ws.data``: immutable dataset versions, their previews, profiles and lineage."""

    def create_or_update(self, data: Data | aml.Data, *, progress: Callable[[int, int], None] | None = None) -> Data:
        """Register a new version (a studio_ext or an azure-ai-ml Data; one with no name is anonymous)."""

    def to_yaml(self, data: Data) -> str:
        """Azure ML v2 YAML of ``data`` (``az ml data create --file``, ``azure.ai.ml.load_data``)."""

    def get(self, name: str, version: int | str | None = None, label: str | None = None) -> Data: ...

    def list(self, name: str | None = None, *, include_archived: bool = False) -> builtins.list[Data]: ...

    def archive(self, name: str, version: int | str | None = None) -> None: ...

    def restore(self, name: str, version: int | str | None = None) -> None: ...

    def preview(self, name: str, version: int | str | None = None, n: int = 100) -> pd.DataFrame: ...

    def load(
        self, name: str, version: int | str | None = None, *, columns: builtins.list[str] | None = None
    ) -> pd.DataFrame: ...

    def profile(self, name: str, version: int | str | None = None, *, refresh: bool = False) -> DataProfile: ...

    def preview_source(
        self,
        *,
        path: str | None = None,
        type: DataType | str = DataType.TABULAR,  # noqa: A002 - named as Data(type=...)
        read_options: DelimitedReadOptions | dict | None = None,
        datastore: str | None = None,
        query: str | None = None,
        n: int = 20,
    ) -> SourcePreview: ...

    def resolve_input_path(self, ref: str) -> str:
        """Where a job reads the input ``ref`` ('azureml:NAME:VERSION', a datastore URI or a path)."""
        ...

    def list_consumers(self, name: str, version: int | str | None = None) -> builtins.list[DataConsumer]: ...
