"""The studio-ext command, run as a user runs it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_until

CLI = [sys.executable, "-m", "studio_ext.cli"]


def run(*args: str, check: bool = True, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}: {proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def initialized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """One workspace made by `studio-ext init` for the module, and what init printed: each test's CLI calls then
    start from a workspace whose tracking store exists and whose server runs, as a user's second command does.

    The tests use names of their own in it; the first test counts its jobs, so it runs first (file order).
    """
    path = tmp_path_factory.mktemp("cli") / "ws"
    out = run("init", str(path)).stdout
    yield path, out
    run("-w", str(path), "server", "stop", check=False)


@pytest.fixture
def cli_ws(initialized: tuple[Path, str]) -> Path:
    return initialized[0]


@pytest.mark.slow
def test_init_then_a_job_logging_a_metric_is_shown(initialized: tuple[Path, str], tmp_path: Path) -> None:
    cli_ws, out = initialized
    assert f"ready at {cli_ws}" in out
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("import mlflow\nmlflow.log_metric('accuracy', 0.93)\nprint('done training')\n")
    submitted = run("-w", str(cli_ws), "job", "submit", "--code", str(src), "--command", "python train.py",
                    "--experiment", "cli-exp", "--stream")
    assert "done training" in submitted.stdout and "Status: Completed" in submitted.stdout
    name = submitted.stdout.split()[2]
    shown = run("-w", str(cli_ws), "job", "show", name).stdout
    assert "status: Completed" in shown and "accuracy: 0.93" in shown
    as_json = json.loads(run("-w", str(cli_ws), "job", "show", name, "--json").stdout)
    assert as_json["metrics"] == {"accuracy": 0.93}
    listed = run("-w", str(cli_ws), "job", "list", "--experiment", "cli-exp").stdout
    assert name in listed and "Completed" in listed
    assert "done training" in run("-w", str(cli_ws), "job", "logs", name).stdout
    info = run("-w", str(cli_ws), "info").stdout
    assert "jobs:        1 (Completed: 1)" in info


@pytest.mark.slow
def test_cancel_from_the_cli(cli_ws: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "wait.py").write_text("import time\ntime.sleep(300)\n")
    name = run("-w", str(cli_ws), "job", "submit", "--code", str(src), "--command", "python wait.py").stdout.split()[2]
    wait_until(lambda: "Running" in run("-w", str(cli_ws), "job", "show", name).stdout, timeout=60, interval=0.3,
               what=f"job {name} to run")
    assert f"Job {name}: Canceled" in run("-w", str(cli_ws), "job", "cancel", name).stdout


def test_errors_are_one_clear_line_and_exit_code_2(cli_ws: Path, tmp_path: Path) -> None:
    bad = run("-w", str(tmp_path), "job", "list", check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: No workspace found") or bad.stderr.startswith("error: ")
    missing = run("-w", str(cli_ws), "job", "show", "ghost", check=False)
    assert missing.returncode == 2 and "There is no job or run named 'ghost'" in missing.stderr
    bad_input = run("-w", str(cli_ws), "job", "submit", "--command", "python x.py", "--input", "noequals", check=False)
    assert bad_input.returncode == 2 and "--input 'noequals' must look like KEY=VALUE" in bad_input.stderr


# -- Azure ML v2 YAML in and out (az ml's shape) ----------------------------------------------

DP100 = Path(__file__).resolve().parents[2] / "shared" / "data" / "dp100"
ENV_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json
name: local-python
version: "1"
image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
"""
JOB_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: >-
  python train.py --data ${{inputs.diabetes}} --reg ${{inputs.reg}} --out ${{outputs.model}}
code: src
inputs:
  diabetes:
    type: uri_file
    path: ./diabetes.csv
  reg: 0.01
outputs:
  model:
    type: uri_folder
environment: azureml:local-python:1
compute: azureml:local
experiment_name: diabetes-yaml
display_name: train from yaml
"""
TRAIN_PY = """\
import argparse, csv, os
import mlflow
p = argparse.ArgumentParser()
p.add_argument("--data"); p.add_argument("--reg", type=float); p.add_argument("--out")
a = p.parse_args()
if a.reg < 0:
    raise SystemExit("reg must not be negative")
rows = list(csv.DictReader(open(a.data)))
mlflow.log_metric("rows", len(rows))
os.makedirs(a.out, exist_ok=True)
open(os.path.join(a.out, "summary.txt"), "w").write(f"{len(rows)} rows, reg {a.reg}\\n")
print(f"trained on {len(rows)} rows with reg {a.reg}")
"""


def _job_folder(root: Path) -> Path:
    """A v2 job as a user keeps it: job.yml, src/train.py and the DP-100 diabetes CSV beside it."""
    folder = root / "project"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "train.py").write_text(TRAIN_PY)
    (folder / "diabetes.csv").write_bytes((DP100 / "diabetes.csv").read_bytes())
    (folder / "job.yml").write_text(JOB_YML)
    (folder / "env.yml").write_text(ENV_YML)
    return folder


@pytest.mark.slow
def test_job_create_runs_v2_command_job_yaml_to_completed(cli_ws: Path, tmp_path: Path) -> None:
    import azure.ai.ml as aml
    import yaml

    from studio_ext import Workspace

    folder = _job_folder(tmp_path)
    created = run("-w", str(cli_ws), "environment", "create", "--file", "env.yml", cwd=folder).stdout
    assert "Registered environment local-python:1 (runs in the studio's interpreter)" in created
    assert "note: image: 'mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04' is kept for Azure" in created

    out = run("-w", str(cli_ws), "job", "create", "-f", "job.yml", "--set", "inputs.reg=0.5",
              "--name", "yaml_job_1", "--experiment-name", "from-the-cli", "--stream", cwd=folder).stdout
    assert "Submitted job yaml_job_1 (experiment from-the-cli, compute local)" in out
    assert f"studio_url: studio-ext studio {cli_ws.resolve()} --run yaml_job_1" in out
    assert "trained on 10000 rows with reg 0.5" in out and "Status: Completed" in out
    ws = Workspace(cli_ws)
    try:
        job = ws.jobs.get("yaml_job_1")
        assert (str(job.status), job.experiment_name, job.metrics) == ("Completed", "from-the-cli", {"rows": 10000.0})
        assert Path(job.output_paths["model"], "summary.txt").read_text() == "10000 rows, reg 0.5\n"
    finally:
        ws.close()

    # What show --output yaml prints is v2 YAML that azure-ai-ml loads, naming the same job.
    text = run("-w", str(cli_ws), "job", "show", "yaml_job_1", "--output", "yaml").stdout
    shown = yaml.safe_load(text)
    assert shown["name"] == "yaml_job_1" and shown["inputs"]["reg"] == "0.5"
    loaded = aml.load_job(io.StringIO(text))
    assert (loaded.name, loaded.experiment_name, loaded.environment) == (
        "yaml_job_1", "from-the-cli", "local-python:1")

    # --stream exits non-zero when the job fails.
    failed = run("-w", str(cli_ws), "job", "create", "-f", "job.yml", "--set", "inputs.reg=-1", "--stream",
                 cwd=folder, check=False)
    assert failed.returncode == 1, failed.stderr
    assert "reg must not be negative" in failed.stdout and "Status: Failed" in failed.stdout


def test_create_file_errors_name_the_file_line_and_field(cli_ws: Path, tmp_path: Path) -> None:
    folder = _job_folder(tmp_path)
    (folder / "bad.yml").write_text(JOB_YML + "resources:\n  instance_count: many\n")
    bad = run("-w", str(cli_ws), "job", "create", "--file", "bad.yml", cwd=folder, check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: Azure ML's v2 schema refuses bad.yml")
    line = JOB_YML.count("\n") + 2
    assert f"  bad.yml:{line}: resources.instance_count: Not a valid integer." in bad.stderr

    unset = run("-w", str(cli_ws), "job", "create", "--file", "job.yml", "--set", "inputs.reg", cwd=folder,
                check=False)
    assert unset.returncode == 2 and "--set 'inputs.reg' must look like FIELD=VALUE" in unset.stderr

    (folder / "data.yml").write_text("$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\n"
                                     "name: d\ntype: uri_file\npath: ./diabetes.csv\n")
    wrong = run("-w", str(cli_ws), "job", "create", "--file", "data.yml", cwd=folder, check=False)
    assert wrong.returncode == 2
    assert "data.yml describes a Data (studio_ext.entities), not a Job" in wrong.stderr
    assert "studio-ext data create --file" in wrong.stderr

    missing = run("-w", str(cli_ws), "model", "create", "--file", "nothing.yml", cwd=folder, check=False)
    assert missing.returncode == 2 and "The YAML file 'nothing.yml' does not exist." in missing.stderr


ASSET_FILES = {
    "data.yml": """\
$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json
name: diabetes-file
version: "1"
type: uri_file
path: ./diabetes.csv
description: DP-100 diabetes data
""",
    "model.yml": """\
$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json
name: diabetes-model
version: "1"
type: custom_model
path: ./model
""",
    "blob.yml": """\
$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json
name: blob_store
type: azure_blob
account_name: devstoreaccount1
container_name: data
credentials:
  account_key: c2VjcmV0LWtleQ==
""",
    "compute.yml": """\
$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json
name: cpu-cluster
type: amlcompute
size: STANDARD_DS11_V2
min_instances: 0
max_instances: 2
tier: low_priority
""",
}


@pytest.mark.slow  # it starts a Dask cluster
def test_create_file_for_data_model_datastore_and_compute_and_show_them_as_yaml(cli_ws: Path, tmp_path: Path) -> None:
    import azure.ai.ml as aml
    import yaml

    folder = _job_folder(tmp_path)
    (folder / "model").mkdir()
    (folder / "model" / "model.txt").write_text("weights\n")
    for name, text in ASSET_FILES.items():
        (folder / name).write_text(text)
    w = ("-w", str(cli_ws))

    assert "Registered data diabetes-file:1 (file," in run(*w, "data", "create", "-f", "data.yml", cwd=folder).stdout
    assert "Registered model diabetes-model:1 (custom_model, 1 files)" in run(
        *w, "model", "create", "-f", "model.yml", "--set", "description=set on the command line", cwd=folder).stdout
    assert "Registered datastore blob_store (azure_blob)" in run(
        *w, "datastore", "create", "--file", "blob.yml", cwd=folder).stdout
    compute = run(*w, "compute", "create", "--file", "compute.yml", "--name", "cluster-2", cwd=folder).stdout
    assert "note: tier: 'low_priority' is kept for Azure" in compute and "Compute cluster-2: Running" in compute

    data = yaml.safe_load(run(*w, "data", "show", "diabetes-file", "-o", "yaml").stdout)
    assert (data["name"], data["version"], data["type"]) == ("diabetes-file", "1", "uri_file")
    assert aml.load_data(io.StringIO(yaml.safe_dump(data))).description == "DP-100 diabetes data"
    model = aml.load_model(io.StringIO(run(*w, "model", "show", "diabetes-model", "--version", "1", "-o", "yaml").stdout))
    assert (model.name, model.version, model.description) == ("diabetes-model", "1", "set on the command line")
    store = run(*w, "datastore", "show", "blob_store", "-o", "yaml")
    assert "c2VjcmV0LWtleQ==" not in store.stdout and "credentials are shown as ***" in store.stderr
    assert aml.load_datastore(io.StringIO(store.stdout)).account_name == "devstoreaccount1"
    cluster = aml.load_compute(io.StringIO(run(*w, "compute", "show", "cluster-2", "--output", "yaml").stdout))
    assert (cluster.name, cluster.size, cluster.max_instances, cluster.tier) == (
        "cluster-2", "STANDARD_DS11_V2", 2, "low_priority")
    # The older commands and their options keep working beside the new ones.
    assert json.loads(run(*w, "compute", "show", "cluster-2", "--json").stdout)["name"] == "cluster-2"
    run(*w, "compute", "delete", "cluster-2", "--force")


SCORE_PY = """\
import json, os
def init():
    global weights
    weights = open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "model.txt")).read().strip()
def run(raw):
    return {"weights": weights, "rows": len(json.loads(raw)["data"])}
"""


@pytest.mark.slow
def test_online_endpoint_and_deployment_create_from_files(cli_ws: Path, tmp_path: Path) -> None:
    import azure.ai.ml as aml

    folder = tmp_path / "deploy"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.txt").write_text("weights\n")
    (folder / "score").mkdir()
    (folder / "score" / "score.py").write_text(SCORE_PY)
    # A model of its own: the data-and-model test registers diabetes-model:1 in the same workspace.
    (folder / "model.yml").write_text(ASSET_FILES["model.yml"].replace("diabetes-model", "scoring-model"))
    (folder / "endpoint.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
        "name: diabetes-ep\nauth_mode: key\n")
    (folder / "blue.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
        "name: green\nendpoint_name: other\nmodel: azureml:scoring-model:1\n"
        "code_configuration:\n  code: ./score\n  scoring_script: score.py\n"
        "instance_type: Standard_DS3_v2\ninstance_count: 1\n")
    (folder / "request.json").write_text('{"data": [[1, 2], [3, 4]]}')
    w = ("-w", str(cli_ws))
    run(*w, "model", "create", "-f", "model.yml", cwd=folder)
    assert "Endpoint diabetes-ep: Succeeded" in run(*w, "online-endpoint", "create", "-f", "endpoint.yml",
                                                    cwd=folder).stdout
    deployed = run(*w, "online-deployment", "create", "-f", "blue.yml", "--name", "blue",
                   "--endpoint-name", "diabetes-ep", "--all-traffic", cwd=folder).stdout
    assert "note: instance_type: 'Standard_DS3_v2' is kept for Azure" in deployed
    assert "Deployment diabetes-ep/blue: Healthy" in deployed and "Traffic of diabetes-ep: {'blue': 100}" in deployed
    answer = run(*w, "endpoint", "invoke", "diabetes-ep", "--request-file", str(folder / "request.json")).stdout
    assert json.loads(answer) == {"weights": "weights", "rows": 2}
    shown = aml.load_online_deployment(io.StringIO(
        run(*w, "online-deployment", "show", "-n", "blue", "-e", "diabetes-ep", "-o", "yaml").stdout))
    assert (shown.name, shown.endpoint_name, shown.model, shown.instance_type) == (
        "blue", "diabetes-ep", "scoring-model:1", "Standard_DS3_v2")
    endpoint = aml.load_online_endpoint(io.StringIO(
        run(*w, "online-endpoint", "show", "--name", "diabetes-ep", "--output", "yaml").stdout))
    assert (endpoint.name, endpoint.traffic) == ("diabetes-ep", {"blue": 100})


SCHEDULE = """$schema: https://azuremlschemas.azureedge.net/latest/schedule.schema.json
name: nightly
trigger:
  type: cron
  expression: "{expression}"
  time_zone: W. Europe Standard Time
create_job: ./job.yml
"""
SCHEDULED_JOB = """$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
command: python hello.py
code: ./src
environment: azureml:AzureML-sklearn-1.5@latest
"""


@pytest.mark.slow
def test_schedule_create_list_show_disable_delete(cli_ws: Path, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "hello.py").write_text("print('hello')\n")
    (tmp_path / "job.yml").write_text(SCHEDULED_JOB)
    bad = tmp_path / "bad.yml"
    bad.write_text(SCHEDULE.format(expression="30 2 * * 9"))
    refused = run("-w", str(cli_ws), "schedule", "create", "--file", str(bad), check=False)
    assert refused.returncode != 0 and "its day-of-week field '9' is wrong" in refused.stderr
    good = tmp_path / "schedule.yml"
    good.write_text(SCHEDULE.format(expression="30 2 * * *"))
    out = run("-w", str(cli_ws), "schedule", "create", "--file", str(good)).stdout
    assert "Schedule nightly created (enabled)" in out and out.count("T02:30:00+01:00") == 5
    assert "nightly  True" in run("-w", str(cli_ws), "schedule", "list").stdout
    shown = run("-w", str(cli_ws), "schedule", "show", "nightly", "-o", "yaml").stdout
    assert "expression: 30 2 * * *" in shown and "command: python hello.py" in shown
    assert "Schedule nightly disabled" in run("-w", str(cli_ws), "schedule", "disable", "nightly").stdout
    assert "nightly" not in run("-w", str(cli_ws), "schedule", "list").stdout
    assert "nightly  False" in run("-w", str(cli_ws), "schedule", "list", "--all").stdout
    assert "Schedule nightly deleted" in run("-w", str(cli_ws), "schedule", "delete", "nightly").stdout
    missing = run("-w", str(cli_ws), "schedule", "show", "nightly", check=False)
    assert missing.returncode != 0 and "There is no schedule named 'nightly'" in missing.stderr


BATCH_SCORE_PY = """
import os
def init():
    pass

def run(mini_batch):
    return [os.path.basename(f) + " " + str(sum(1 for _ in open(f))) for f in mini_batch]
"""


@pytest.mark.slow  # the invocation runs the scoring driver on a Dask cluster
def test_batch_endpoint_and_deployment_from_files_then_invoke(cli_ws: Path, tmp_path: Path) -> None:
    from azure.ai.ml.entities._load_functions import load_model_batch_deployment

    folder = tmp_path / "batch"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "weights.txt").write_text("1\n")
    (folder / "src").mkdir()
    (folder / "src" / "batch_driver.py").write_text(BATCH_SCORE_PY)
    (folder / "bad").mkdir()
    (folder / "bad" / "batch_driver.py").write_text("def init():\n    pass\n")
    (folder / "data").mkdir()
    for i in range(3):
        (folder / "data" / f"f{i}.txt").write_text("x\n" * (i + 1))
    (folder / "endpoint.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json\nname: cli-batch\n")
    deployment = ("$schema: https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json\n"
                  "name: counter\nendpoint_name: cli-batch\ntype: model\ncompute: azureml:local\n"
                  "model:\n  path: ./model\n  type: custom_model\n"
                  "code_configuration:\n  code: ./{code}\n  scoring_script: batch_driver.py\n"
                  "resources:\n  instance_count: 1\n"
                  "settings:\n  mini_batch_size: 2\n  output_file_name: counts.csv\n")
    (folder / "deployment.yml").write_text(deployment.format(code="src"))
    (folder / "bad.yml").write_text(deployment.format(code="bad"))
    if not (cli_ws / "workspace.toml").exists():  # a fresh folder (not the module's initialized workspace)
        run("init", str(cli_ws))
    w = ("-w", str(cli_ws))
    assert "Batch endpoint cli-batch: Succeeded" in run(*w, "batch-endpoint", "create", "-f", "endpoint.yml",
                                                        cwd=folder).stdout
    refused = run(*w, "batch-deployment", "create", "-f", "bad.yml", check=False, cwd=folder)
    assert refused.returncode == 2 and "defines no run(mini_batch)" in refused.stderr
    made = run(*w, "batch-deployment", "create", "-f", "deployment.yml", cwd=folder).stdout
    assert "Batch deployment cli-batch/counter (model): Succeeded" in made
    assert "default deployment of cli-batch: counter" in made
    assert "counter" in run(*w, "batch-deployment", "list", "-e", "cli-batch").stdout
    shown = load_model_batch_deployment(io.StringIO(
        run(*w, "batch-deployment", "show", "-n", "counter", "-e", "cli-batch", "-o", "yaml").stdout))
    assert (shown.name, shown.settings.mini_batch_size, shown.settings.output_file_name) == ("counter", 2, "counts.csv")
    invoked = run(*w, "batch-endpoint", "invoke", "-n", "cli-batch", "--input", str(folder / "data"),
                  "--job-name", "cli_batch_job", "--stream").stdout
    assert "Started batch job cli_batch_job on cli-batch/counter" in invoked and "Completed" in invoked
    from studio_ext import Workspace

    ws = Workspace(cli_ws)
    ws.jobs.download("cli_batch_job", download_path=str(tmp_path / "out"), output_name="score")
    ws.close()
    counts = (tmp_path / "out" / "counts.csv").read_text().split()  # a batch job: in download_path, as Azure
    assert sorted(counts) == ["1", "2", "3", "f0.txt", "f1.txt", "f2.txt"]
    assert "cli-batch" in run(*w, "batch-endpoint", "list").stdout
    assert "Deleted batch endpoint cli-batch" in run(*w, "batch-endpoint", "delete", "-n", "cli-batch").stdout
