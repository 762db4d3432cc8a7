from __future__ import annotations

import builtins
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from studio_ext.entities import Model

if TYPE_CHECKING:  # pragma: no cover  (azure-ai-ml's objects are taken too: translated at the service's entry)
    import azure.ai.ml.entities as aml


@runtime_checkable
class ModelOperations(Protocol):
    """``ws.models``: register, get, list, download and archive model versions."""

    def create_or_update(self, model: Model | aml.Model) -> Model:
        """Register a new version (a studio_ext or an azure-ai-ml Model; one with no name is anonymous)."""

    def to_yaml(self, model: Model) -> str:
        """Azure ML v2 YAML of ``model`` (what ``az ml model create --file`` and ``azure.ai.ml.load_model`` read)."""

    def get(self, name: str, version: int | str | None = None, label: str | None = None) -> Model: ...

    def list(
        self,
        name: str | None = None,
        *,
        tags: dict[str, str] | None = None,
        properties: dict[str, str] | None = None,
        include_archived: bool = False,
    ) -> builtins.list[Model]: ...

    def download(self, name: str, version: int | str, download_path: str | Path = ".") -> Path: ...

    def archive(self, name: str, version: int | str | None = None) -> None: ...

    def restore(self, name: str, version: int | str | None = None) -> None: ...
