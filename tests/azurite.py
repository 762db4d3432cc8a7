"""Azurite, the Azure Storage emulator, for tests of blob datastores: its blob service on a free 127.0.0.1 port.

``scripts/test-prereqs.sh`` installs it from npm into ``tests/emulators`` (``make test``
runs it). The ``azurite`` fixture in ``tests/conftest.py`` starts one per test session::

    def test_x(azurite):
        azurite.create_container("training-data")
        store = AzureBlobDatastore(name="blob_training_data", account_name=azurite.account,
                                   container_name="training-data", **azurite.datastore_endpoint,
                                   credentials=AccountKeyConfiguration(account_key=azurite.account_key))

The account is Azurite's well-known development account ``devstoreaccount1``; its key is
public (Microsoft's docs print it), so nothing secret is kept here. A datastore reaches the
emulator with the two fields a user sets on ``AzureBlobDatastore``: ``endpoint`` set to
``127.0.0.1:PORT`` (an address, so the URL is path-style:
``http://127.0.0.1:PORT/devstoreaccount1/CONTAINER``) and ``protocol='http'``.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import ServerProcess, serve

ROOT = Path(__file__).resolve().parent / "emulators"
EXECUTABLE = ROOT / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class Azurite:
    """A running Azurite blob service and what a datastore needs to reach it."""

    server: ServerProcess

    account: str = ACCOUNT
    account_key: str = ACCOUNT_KEY

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.account}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={self.account};AccountKey={self.account_key};"
                f"BlobEndpoint={self.blob_endpoint};")

    @property
    def datastore_endpoint(self) -> dict[str, str]:
        """The ``endpoint`` and ``protocol`` fields of an ``AzureBlobDatastore`` that point at the emulator."""
        return {"endpoint": f"127.0.0.1:{self.port}", "protocol": "http"}

    def service(self):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def create_container(self, name: str, *, public: bool = False) -> None:
        """A new container (``public``: anyone may read it, for datastores with no credential)."""
        self.service().create_container(name, public_access="container" if public else None)

    def upload(self, container: str, path: str, data: bytes) -> None:
        self.service().get_blob_client(container, path).upload_blob(data, overwrite=True)

    def read(self, container: str, path: str) -> bytes:
        return self.service().get_blob_client(container, path).download_blob().readall()

    def list(self, container: str, prefix: str = "") -> list[str]:
        return sorted(b.name for b in self.service().get_container_client(container).list_blobs(name_starts_with=prefix))

    def sas_token(self, *, hours: int = 2) -> str:
        """An account SAS token that may read, list, write and create, as a SasTokenConfiguration takes."""
        from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

        return generate_account_sas(
            self.account, self.account_key, ResourceTypes(service=True, container=True, object=True),
            AccountSasPermissions(read=True, list=True, write=True, create=True, add=True, delete=True),
            dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours))


@contextmanager
def running(workdir: Path) -> Iterator[Azurite]:
    """Start Azurite's blob service (data in ``workdir``), wait until it answers, stop it on the way out."""
    if not EXECUTABLE.exists():
        node = shutil.which("node")
        pytest.fail(f"Azurite is not installed ({EXECUTABLE} is missing). Run ./scripts/test-prereqs.sh "
                    f"(make prereqs), which installs it with npm{'' if node else ' (Node.js is missing too)'}.",
                    pytrace=False)
    workdir.mkdir(parents=True, exist_ok=True)

    def command(port: int) -> list[str]:
        return [str(EXECUTABLE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(workdir),
                "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"]

    def ready(server: ServerProcess) -> bool:
        # any HTTP answer from the account's URL means the blob service is up
        return httpx.get(f"{server.url}/{ACCOUNT}?comp=list", timeout=2).status_code > 0

    with serve(command, name="azurite", ready=ready, log_path=workdir / "azurite.log", timeout=60,
               stop_timeout=10) as server:
        yield Azurite(server)
