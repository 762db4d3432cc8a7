"""Datastores: studio_ext ``Datastore`` <-> v2 ``azureBlob`` / ``azureDataLakeGen2`` <-> azure-ai-ml.

A blob container becomes ``az://CONTAINER@ACCOUNT.blob.ENDPOINT``, an ADLS Gen2 file
system ``abfs://FILESYSTEM@ACCOUNT.dfs.ENDPOINT``, with ``account_name``, ``endpoint``
and ``protocol`` in ``options``; the local reader uses them, so an ``AzureBlobDatastore``
with ``endpoint="127.0.0.1:10000", protocol="http"`` reads an emulator such as Azurite
(``http://127.0.0.1:10000/ACCOUNT/CONTAINER``, path-style, as for any address). Credentials are kept as the local store keeps them, in
``credentials``: ``account_key``, ``sas_token``, or a service principal's ``tenant_id``,
``client_id``, ``client_secret`` (and ``authority_url``). No credential means
identity-based access on Azure. Notes never hold a secret.

azure-ai-ml quirks: ``AzureDataLakeGen2Datastore(credentials=SasTokenConfiguration(...))``
is built, but its ``_to_dict()`` drops the token and its v2 schema refuses one (Gen2
takes a service principal or nothing), so the token is read from the object and a
Gen2 datastore with a SAS token cannot go back to azure-ai-ml.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

from studio_ext.entities import Datastore, DatastoreType
from studio_ext.errors import InvalidInput
from studio_ext.translation._common import (
    SCHEMA_ROOT,
    Translated,
    azure_dict,
    azure_load,
    dump,
    keep_rest,
    plain,
    put,
    restore,
    str_map,
)

SCHEMAS = {"azure_blob": SCHEMA_ROOT + "azureBlob.schema.json",
           "azure_data_lake_gen2": SCHEMA_ROOT + "azureDataLakeGen2.schema.json"}
CREDENTIAL_KEYS = ("account_key", "sas_token", "tenant_id", "client_id", "client_secret", "authority_url",
                   "resource_url")
_HANDLED = {"name", "type", "description", "tags", "account_name", "container_name", "filesystem", "endpoint",
            "protocol", "credentials", "id", "creation_context"}
_REASONS = {"service_data_access_auth_identity": "locally the datastore is read with its own credentials",
            "properties": "the studio_ext entity has no properties of its own"}
_DEFAULT_ENDPOINT = "core.windows.net"


def to_v2(datastore: Datastore) -> dict[str, Any]:
    """The datastore as v2 ``azureBlob`` or ``azureDataLakeGen2`` YAML's mapping."""
    parts = urllib.parse.urlsplit(datastore.url)
    if parts.scheme not in ("az", "abfs", "abfss"):
        raise InvalidInput(
            f"The datastore {datastore.name!r} ({parts.scheme or datastore.type}://) has no Azure ML v2 datastore "
            "kind this studio exports: only Azure Blob (az://) and ADLS Gen2 (abfs://) datastores have one.")
    container, _, host = parts.netloc.partition("@")
    account = datastore.options.get("account_name") or host.split(".", 1)[0]
    if not account:
        raise InvalidInput(f"The datastore {datastore.name!r} names no storage account: give options "
                           "{'account_name': ...} or a url such as az://container@account.blob.core.windows.net.")
    gen2 = ".dfs." in host or (not host and parts.scheme != "az")
    kind = "azure_data_lake_gen2" if gen2 else "azure_blob"
    endpoint = datastore.options.get("endpoint") or (host.split(".", 2)[2] if host.count(".") >= 2 else _DEFAULT_ENDPOINT)
    out: dict[str, Any] = {"$schema": SCHEMAS[kind], "name": datastore.name, "type": kind}
    put(out, description=datastore.description)
    restore(out, datastore.tags, "tags")
    out["account_name"] = account
    out["filesystem" if gen2 else "container_name"] = container
    out["endpoint"] = endpoint
    out["protocol"] = datastore.options.get("protocol", "https")
    put(out, credentials={k: datastore.credentials[k] for k in CREDENTIAL_KEYS if datastore.credentials.get(k)})
    return out


def from_v2(mapping: Mapping[str, Any], base_path: str | os.PathLike[str] | None = None) -> Translated[Datastore]:
    """A studio_ext ``Datastore`` from v2 blob or ADLS Gen2 datastore YAML's mapping."""
    mapping = plain(mapping)
    kind = mapping.get("type")
    if kind not in SCHEMAS:
        raise InvalidInput(
            f"This translation takes a datastore of type 'azure_blob' or 'azure_data_lake_gen2'. Got {kind!r}: "
            "register other stores with a studio_ext Datastore and their fsspec URL (s3://, gs://, file://).")
    result: Translated[Datastore] = Translated(Datastore(name="", url=""))
    tags = str_map(mapping.get("tags"))
    keep_rest(mapping, _HANDLED, tags, result, _REASONS)
    account = str(mapping.get("account_name") or "")
    endpoint = str(mapping.get("endpoint") or _DEFAULT_ENDPOINT)
    protocol = str(mapping.get("protocol") or "https")
    if kind == "azure_blob":
        url = f"az://{mapping.get('container_name')}@{account}.blob.{endpoint}"
    else:
        url = f"abfs://{mapping.get('filesystem')}@{account}.dfs.{endpoint}"
    raw = mapping.get("credentials") or {}
    credentials = {k: str(raw[k]) for k in CREDENTIAL_KEYS if raw.get(k)}
    if not credentials:
        result.note("credentials", "none: Azure reads the store with the caller's identity; locally it is read "
                    "anonymously, so a private container needs an account key or SAS token here")
    elif "client_secret" in credentials:
        result.note("credentials", "a service principal is kept; local reads use an account key or SAS token, "
                    "so add one of those to read this store here")
    if kind == "azure_data_lake_gen2":
        result.note("type", "ADLS Gen2 is read here through the account's blob service (adlfs), with an account key, "
                    "a SAS token or a service principal; an Azure Storage emulator such as Azurite has no Gen2 (dfs) "
                    "endpoint, so point a Gen2 datastore at a real account, or use an AzureBlobDatastore with the "
                    "emulator")
    result.entity = Datastore(
        name=str(mapping.get("name") or ""), url=url, type=DatastoreType.AZURE_BLOB,
        description=mapping.get("description"), tags=tags, credentials=credentials,
        options={"account_name": account, "endpoint": endpoint, "protocol": protocol})
    return result


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[Datastore]:
    """A studio_ext ``Datastore`` from azure-ai-ml's ``AzureBlobDatastore`` or ``AzureDataLakeGen2Datastore``."""
    mapping = azure_dict(obj, ("AzureBlobDatastore", "AzureDataLakeGen2Datastore"), "datastore")
    given = {k: getattr(obj.credentials, k, None) for k in CREDENTIAL_KEYS}
    mapping["credentials"] = {**(mapping.get("credentials") or {}), **{k: v for k, v in given.items() if v}}
    return from_v2(mapping, base_path)


def to_azure(datastore: Datastore) -> Any:
    """azure-ai-ml's blob or ADLS Gen2 datastore, loaded by ``azure.ai.ml.load_datastore``."""
    mapping = to_v2(datastore)
    if mapping["type"] == "azure_data_lake_gen2" and "sas_token" in mapping.get("credentials", {}):
        raise InvalidInput(
            f"The datastore {datastore.name!r} is ADLS Gen2 with a SAS token, which Azure ML's Gen2 datastores do not "
            "take (a service principal or no credential). Give tenant_id, client_id and client_secret, or none.")
    return azure_load("load_datastore", mapping, "datastore")


def to_yaml(datastore: Datastore) -> str:
    return dump(to_v2(datastore))
