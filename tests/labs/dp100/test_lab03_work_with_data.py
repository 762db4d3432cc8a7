"""DP-100 Lab 03 "Work with data": a blob datastore with an account key, three kinds of data asset, and a
job that copies a data asset into the blob datastore.

The storage account is Azurite, the Azure Storage emulator, on 127.0.0.1; the datastore is
the same ``AzureBlobDatastore`` object as the course's, its account, key and endpoint
those of the emulator.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
import pytest
from azure.ai.ml import Input, Output, command
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import AccountKeyConfiguration, AzureBlobDatastore, Data
from azure.identity import DefaultAzureCredential

from studio_ext import Workspace
from tests.labs.dp100.course import stream_to_end

pytestmark = pytest.mark.slow

MOVE_DATA = """\
import argparse
from pathlib import Path

import pandas as pd

parser = argparse.ArgumentParser(description="Copy the diabetes data to a folder.")
parser.add_argument("--input_data")
parser.add_argument("--output_datastore")
args = parser.parse_args()

table = pd.read_csv(args.input_data)
print(f"Analyzing {len(table)} rows of data")
table.to_csv(Path(args.output_datastore) / "diabetes.csv", index=False)
"""


@pytest.fixture
def training_data(azurite) -> Iterator[str]:
    """The lab's portal step before the notebook: a new, empty `training-data` container in the storage
    account. The emulator serves the whole session, so one left by another module is removed first,
    and this one afterwards."""
    containers = azurite.service()
    if containers.get_container_client("training-data").exists():
        containers.delete_container("training-data")
    azurite.create_container("training-data")
    try:
        yield "training-data"
    finally:
        containers.delete_container("training-data")


def test_datastore_data_assets_and_a_job_writing_to_blob_storage(
        lab, aml_cluster, azurite, training_data, notebook_kernel,
        capsys: pytest.CaptureFixture[str]) -> None:
    ml_client = Workspace.from_config(credential=DefaultAzureCredential())

    stores = ml_client.datastores.list()
    assert "workspaceblobstore" in [ds_name.name for ds_name in stores]

    store = AzureBlobDatastore(
        name="blob_training_data",
        description="Blob Storage for training data",
        account_name=azurite.account,
        container_name="training-data",
        credentials=AccountKeyConfiguration(account_key=azurite.account_key),
        **azurite.datastore_endpoint,  # endpoint="127.0.0.1:PORT", protocol="http": the emulator's account
    )
    ml_client.create_or_update(store)

    stores = ml_client.datastores.list()
    assert "blob_training_data" in [ds_name.name for ds_name in stores]

    lab.mltable_folder("data")  # the course's data/: diabetes.csv and an MLTable file that reads it
    local_file = ml_client.data.create_or_update(Data(
        path="./data/diabetes.csv",
        type=AssetTypes.URI_FILE,
        description="Data asset pointing to a local file, automatically uploaded to the default datastore",
        name="diabetes-local",
    ))
    assert (local_file.name, local_file.version, local_file.type) == ("diabetes-local", "1", "uri_file")

    datastore_path = "azureml://datastores/blob_training_data/paths/data-asset-path/"
    datastore_folder = ml_client.data.create_or_update(Data(
        path=datastore_path,
        type=AssetTypes.URI_FOLDER,
        description="Data asset pointing to data-asset-path folder in datastore",
        name="diabetes-datastore-path",
    ))
    assert (datastore_folder.version, datastore_folder.type) == ("1", "uri_folder")
    assert datastore_folder.path.rstrip("/").endswith("datastores/blob_training_data/paths/data-asset-path")

    table = ml_client.data.create_or_update(Data(
        path="data/",
        type=AssetTypes.MLTABLE,
        description="MLTable pointing to diabetes.csv in data folder",
        name="diabetes-table",
    ))
    assert (table.version, table.type) == ("1", "mltable")

    datasets = ml_client.data.list()
    assert {"diabetes-local", "diabetes-datastore-path", "diabetes-table"} <= {d.name for d in datasets}

    # The notebook reads the table with Microsoft's mltable in its kernel: the studio's kernels have the
    # local stand-in (studio_ext.compat.mltable), and the cell runs as the course writes it.
    notebook_kernel.run("from azure.identity import DefaultAzureCredential\n"
                        "from studio_ext import Workspace\n"
                        "ml_client = Workspace.from_config(credential=DefaultAzureCredential())")
    shown = notebook_kernel.run(
        "import mltable\n"
        "\n"
        "registered_data_asset = ml_client.data.get(name='diabetes-table', version=1)\n"
        "tbl = mltable.load(f\"azureml:/{registered_data_asset.id}\")\n"
        "df = tbl.to_pandas_dataframe()\n"
        "df.head(5)\n")
    assert "PatientID" in shown and "Pregnancies" in shown
    assert notebook_kernel.run("print(df.shape)").strip() == "(10000, 10)"

    lab.write("src/move-data.py", MOVE_DATA)
    my_job_inputs = {
        "local_data": Input(type=AssetTypes.URI_FILE, path="azureml:diabetes-local:1"),
    }
    my_job_outputs = {
        "datastore_data": Output(type=AssetTypes.URI_FOLDER,
                                 path="azureml://datastores/blob_training_data/paths/datastore-path"),
    }
    job = command(
        code="./src",
        command="python move-data.py --input_data ${{inputs.local_data}} "
                "--output_datastore ${{outputs.datastore_data}}",
        inputs=my_job_inputs,
        outputs=my_job_outputs,
        environment="AzureML-sklearn-1.5@latest",
        compute="aml-cluster",
        display_name="move-diabetes-data",
        experiment_name="move-diabetes-data",
    )
    returned_job = ml_client.create_or_update(job)
    print("Monitor your job at", returned_job.studio_url)
    assert "Analyzing 10000 rows of data" in stream_to_end(ml_client, returned_job.name, capsys)

    # What the reader finds in the storage account afterwards: the copy, in the container.
    written = azurite.read("training-data", "datastore-path/diabetes.csv")
    assert len(pd.read_csv(io.BytesIO(written))) == 10000
