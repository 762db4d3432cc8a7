"""Data assets: studio_ext ``Data`` <-> v2 ``data`` <-> azure-ai-ml ``Data``.

Types map ``uri_file`` <-> file, ``uri_folder`` <-> folder, ``mltable`` <-> tabular.
studio_ext's own parsing options (``read_options``) and SQL source (``datastore``,
``query``) have no v2 field: they travel as ``studio_ext.*`` v2 tags (not properties:
azure-ai-ml's ``load_data`` drops a data asset's ``properties``).

An ``mltable`` asset is a folder holding an ``MLTable`` file, on Azure and here: a local
folder without one is refused, as azure-ai-ml refuses it, with the file to add. A local
delimited or Parquet *file* given as ``mltable`` is kept (studio_ext reads it as a table),
with a note that Azure wants the folder. A registered ``mltable`` asset exports with its
folder path (the registered MLTable folder, or the version folder whose ``MLTable`` file
reads its parsed table).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from studio_ext.entities import Data, DataType
from studio_ext.errors import InvalidInput
from studio_ext.translation._common import (
    LOCAL_PREFIX,
    SCHEMA_ROOT,
    Translated,
    azure_dict,
    azure_load,
    dump,
    keep_rest,
    local_path,
    plain,
    put,
    restore,
    split_local,
)

SCHEMA = SCHEMA_ROOT + "data.schema.json"
V2_TYPES = {DataType.FILE: "uri_file", DataType.FOLDER: "uri_folder", DataType.TABULAR: "mltable"}
_HANDLED = {"name", "version", "description", "tags", "path", "type", "properties", "creation_context", "id"}
MLTABLE_FILE = "MLTable"
MLTABLE_EXAMPLE = ("paths:\n  - pattern: ./*.csv\ntransformations:\n  - read_delimited:\n      delimiter: ','\n"
                   "      header: all_files_same_headers\n")
_REASONS = {"properties": "the studio_ext entity has no properties of its own",
            "datastore": "the path names the datastore locally", "stage": "asset stages are Azure's"}


def to_v2(data: Data) -> dict[str, Any]:
    """The dataset as v2 ``data`` YAML's mapping."""
    out: dict[str, Any] = {"$schema": SCHEMA, "type": V2_TYPES[DataType.parse(data.type)]}
    put(out, name=data.name, version=data.version, description=data.description, path=data.path)
    tags = restore(out, data.tags, "tags")
    local = {LOCAL_PREFIX + "read_options": json.dumps(data.read_options.to_dict(), sort_keys=True)
             if data.read_options else None,
             LOCAL_PREFIX + "datastore": data.datastore, LOCAL_PREFIX + "query": data.query}
    put(out, tags={**tags, **{k: v for k, v in local.items() if v is not None}})
    return out


def from_v2(mapping: Mapping[str, Any], base_path: str | os.PathLike[str] | None = None) -> Translated[Data]:
    """A studio_ext ``Data`` from v2 ``data`` YAML's mapping."""
    mapping = plain(mapping)
    result: Translated[Data] = Translated(Data(name="", type=DataType.FILE))
    tags, local = split_local(mapping.get("tags"))
    keep_rest(mapping, _HANDLED - {"properties"}, tags, result, _REASONS)
    path = mapping.get("path")
    kind = DataType.parse(mapping.get("type") or "uri_folder")
    resolved = local_path(path, base_path) if isinstance(path, str) else path
    if kind == DataType.TABULAR and isinstance(resolved, str):
        _check_mltable_path(resolved, result)
    result.entity = Data(
        name=str(mapping.get("name") or ""), version=mapping.get("version"), description=mapping.get("description"),
        path=resolved, type=kind, tags=tags,
        read_options=json.loads(local["read_options"]) if "read_options" in local else None,
        datastore=local.get("datastore"), query=local.get("query"))
    return result


def _check_mltable_path(path: str, result: Translated[Data]) -> None:
    """An ``mltable`` path on this machine must be a folder with an MLTable file, as azure-ai-ml checks."""
    bare = path[len("file://"):] if path.startswith("file://") else path
    local = Path(bare).expanduser()
    if "://" in bare or not local.exists():
        return  # remote, or missing (the service says so)
    if local.is_dir() and not (local / MLTABLE_FILE).is_file():
        raise InvalidInput(
            f"{path} has no MLTable file. An mltable data asset is a folder holding a file named 'MLTable' (no "
            "extension) that says where the data is and how to read it, on Azure as here. Add one, for example:"
            f"\n\n{MLTABLE_EXAMPLE}\nor register the files with type 'uri_folder' (or one file with 'uri_file').")
    if local.is_file() and local.name != MLTABLE_FILE:
        result.note("path", f"{local.name} is a file; studio_ext reads it as a table, but Azure ML's mltable asset "
                    "is a folder holding an MLTable file (put the file in a folder beside one to register it there)")


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[Data]:
    """A studio_ext ``Data`` from azure-ai-ml's ``Data``."""
    return from_v2(azure_dict(obj, ("Data",), "data"), base_path)


def to_azure(data: Data) -> Any:
    """azure-ai-ml's ``Data``, loaded from the v2 YAML by ``azure.ai.ml.load_data``."""
    return azure_load("load_data", to_v2(data), "data asset")


def to_yaml(data: Data) -> str:
    return dump(to_v2(data))
