"""The batch scoring driver, run as the batch step runs it: a process over a real Dask cluster.

Most tests give the deployment spec a ``scheduler_address`` (the compute's scheduler): one
LocalCluster of two nanny-supervised one-thread workers is shared by the module. The MLflow
model test leaves it out, so the driver starts and closes a LocalCluster of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.helpers import wait_until

DATA = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "dp100" / "diabetes.csv"
DRIVER = "studio_ext.backends.local.batch.driver"
FILES = 6
ROWS = 50

SCRIPT = '''
import os, time
import pandas as pd

def init():
    global LOG
    LOG = os.environ["BATCH_TEST_LOG"]
    with open(os.path.join(LOG, f"init-{os.getpid()}"), "a") as handle:
        handle.write("init\\n")

def run(mini_batch):
    if isinstance(mini_batch, pd.DataFrame):
        return pd.DataFrame({"row": mini_batch.index, "total": mini_batch.sum(axis=1, numeric_only=True)})
    out = []
    for path in mini_batch:
        name = os.path.basename(path)
        open(os.path.join(LOG, f"run-{name}-{os.getpid()}-{time.time_ns()}"), "w").close()
        flag = os.path.join(LOG, f"tried-{name}")
        first = not os.path.exists(flag)
        open(flag, "a").close()
        if name == os.environ.get("FAIL_ONCE") and first:
            raise RuntimeError(f"flaky {name}")
        if name == os.environ.get("FAIL_ALWAYS"):
            raise ValueError(f"cannot score {name}")
        if name == os.environ.get("SLOW_ONCE") and first:
            time.sleep(120)
        data = pd.read_csv(path)
        out.append(pd.DataFrame({"file": name, "total": data.sum(axis=1)}))
    time.sleep(float(os.environ.get("DELAY", "0")))
    return pd.concat(out)
'''


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("input")
    frame = pd.read_csv(DATA).drop(columns=["PatientID", "Diabetic"])
    for i in range(FILES):
        frame.iloc[i * ROWS:(i + 1) * ROWS].to_csv(folder / f"part-{i}.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A two-worker Dask cluster standing for a compute's: nannies restart a worker that dies."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, memory_limit=0)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("code")
    (folder / "score.py").write_text(SCRIPT)
    return folder


def deployment(tmp: Path, name: str, *, code: Path | None = None, script: str | None = "score.py",
               model: Path | None = None, scheduler: str | None = None, env: dict[str, str] | None = None,
               **settings: Any) -> Path:
    spec = {
        "endpoint": "ep", "deployment": name, "kind": "model",
        "model": {"name": "m", "version": "1", "path": str(model or tmp), "flavor": "mlflow" if model else "custom_model"},
        "code_dir": str(code) if script else None, "scoring_script": script if code else None,
        "settings": {"instance_count": 2, "max_concurrency_per_instance": 1, "mini_batch_size": 1,
                     "output_action": "append_row", "output_file_name": "predictions.csv", "max_retries": 2,
                     "timeout": 30, "error_threshold": -1, "logging_level": "info",
                     "environment_variables": env or {}, **settings},
        "compute": {"name": "cpu", "kind": "cluster" if scheduler else "local", "scheduler_address": scheduler,
                    "max_instances": 2},
    }
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path


def start(spec: Path, inp: Path, out: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, **(extra_env or {})}
    return subprocess.Popen([sys.executable, "-m", DRIVER, "--deployment", str(spec), "--input", str(inp),
                             "--output", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)


def drive(spec: Path, inp: Path, out: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = start(spec, inp, out, extra_env)
    stdout, stderr = proc.communicate(timeout=240)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def expected_totals(data_dir: Path, skip: tuple[str, ...] = ()) -> str:
    """What the test script writes for the input folder: file, row total; in file order."""
    parts = []
    for path in sorted(data_dir.glob("*.csv")):
        if path.name in skip:
            continue
        frame = pd.read_csv(path)
        parts.append(pd.DataFrame({"file": path.name, "total": frame.sum(axis=1)}))
    return pd.concat(parts).to_csv(header=False, index=False, lineterminator="\n")


def runs(log: Path) -> list[tuple[str, int]]:
    """(file, pid) of every run() call the script recorded."""
    out = []
    for marker in log.glob("run-*"):
        name, pid, _ = marker.name[len("run-"):].rsplit("-", 2)
        out.append((name, int(pid)))
    return out


@pytest.mark.slow(seconds=90)  # two drivers whose workers each import MLflow and load the model
def test_mlflow_model_scored_per_file_with_its_name_logged_and_identical_on_another_cluster(
        tmp_path: Path, data_dir: Path, scheduler: str) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient
    from sklearn.linear_model import LogisticRegression

    from studio_ext.backends.local.core.tracking import init_tracking_store

    frame = pd.read_csv(DATA)
    features = frame.drop(columns=["PatientID", "Diabetic"]).astype("float64")
    model = LogisticRegression(max_iter=300).fit(features, frame["Diabetic"])
    root = tmp_path / "model"  # AZUREML_MODEL_DIR: the MLflow model is its one subfolder, as Azure lays it out
    mlflow.sklearn.save_model(model, str(root / "model"), serialization_format="cloudpickle",
                              signature=infer_signature(features, model.predict(features)))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    init_tracking_store(uri, (tmp_path / "artifacts").as_uri())
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("batch")).info.run_id

    spec = deployment(tmp_path, "mlflow-own", model=root, script=None, mini_batch_size=2)
    done = drive(spec, data_dir, tmp_path / "out", {"MLFLOW_TRACKING_URI": uri, "MLFLOW_RUN_ID": run_id})
    assert done.returncode == 0, done.stderr
    assert "LocalCluster of 2 one-thread worker processes" in done.stdout
    assert "mini-batches: 100%" in done.stderr and "rows=300" in done.stderr  # the tqdm progress line
    timeline = json.loads((tmp_path / "out" / ".batch" / "done.json").read_text())["timeline"]
    assert list(timeline)[:3] == ["imported", "forkserver_started", "planned"]  # workers forked from a preloaded process
    assert timeline["first_sent"] <= timeline["scored"] <= timeline["finished"]

    text = (tmp_path / "out" / "predictions.csv").read_text()
    scored = pd.read_csv(tmp_path / "out" / "predictions.csv", names=["row", "prediction", "file"])
    assert len(scored) == FILES * ROWS
    for i in range(FILES):
        part = scored[scored.file == f"part-{i}.csv"]
        assert part.row.tolist() == list(range(ROWS))
        assert part.prediction.tolist() == model.predict(pd.read_csv(data_dir / f"part-{i}.csv")).tolist()
    history = {key: [m.value for m in client.get_metric_history(run_id, key)]
               for key in ("mini_batches_completed", "mini_batches_failed", "rows_scored")}
    assert history["mini_batches_completed"][-1] == 3 and history["rows_scored"][-1] == FILES * ROWS
    assert history["mini_batches_failed"][-1] == 0

    again = drive(deployment(tmp_path, "mlflow-own", model=root, script=None, mini_batch_size=2, scheduler=scheduler),
                  data_dir, tmp_path / "again")
    assert again.returncode == 0, again.stderr
    assert "the compute's Dask scheduler" in again.stdout
    assert (tmp_path / "again" / "predictions.csv").read_text() == text
    assert not list((tmp_path / "again" / ".batch").glob("parts/*"))  # the parts go once the file is whole


def test_init_once_per_process_retries_a_raising_and_a_timed_out_mini_batch(
        tmp_path: Path, data_dir: Path, code_dir: Path, scheduler: str) -> None:
    log = tmp_path / "log"
    log.mkdir()
    env = {"BATCH_TEST_LOG": str(log), "FAIL_ONCE": "part-1.csv", "SLOW_ONCE": "part-3.csv"}
    done = drive(deployment(tmp_path, "retries", code=code_dir, scheduler=scheduler, env=env, timeout=4),
                 data_dir, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "predictions.csv").read_text() == expected_totals(data_dir)
    assert "mini-batch 1 (part-1.csv) attempt 1 failed, retrying (1 of 2 retries): RuntimeError: flaky part-1.csv" \
        in done.stdout
    assert "mini-batch 3 (part-3.csv) attempt 1 failed, retrying (1 of 2 retries): timed out" in done.stdout, \
        done.stdout
    manifest = [json.loads(line) for line in (tmp_path / "out" / ".batch" / "manifest.jsonl").read_text().splitlines()]
    assert {e["index"]: e["attempts"] for e in manifest} == {0: 1, 1: 2, 2: 1, 3: 2, 4: 1, 5: 1}
    # init() ran once in each process that scored, the restarted one (after the timeout) included
    pids = {pid for _, pid in runs(log)}
    assert len(pids) >= 2
    for pid in pids:
        assert (log / f"init-{pid}").read_text() == "init\n"
    assert not (tmp_path / "out" / "batch_errors.json").exists()


def test_a_killed_worker_mini_batch_is_retried_elsewhere_without_double_rows(
        tmp_path: Path, data_dir: Path, code_dir: Path, scheduler: str) -> None:
    log = tmp_path / "log"
    log.mkdir()
    proc = start(deployment(tmp_path, "killed", code=code_dir, scheduler=scheduler,
                            env={"BATCH_TEST_LOG": str(log), "DELAY": "1.5"}), data_dir, tmp_path / "out")
    try:
        first = wait_until(lambda: runs(log), timeout=120, what="a mini-batch to start")
        os.kill(first[0][1], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "ended while scoring it" in stdout
    assert (tmp_path / "out" / "predictions.csv").read_text() == expected_totals(data_dir)


def test_a_rerun_resumes_from_the_mini_batches_not_committed(
        tmp_path: Path, data_dir: Path, code_dir: Path, scheduler: str) -> None:
    log = tmp_path / "log"
    log.mkdir()
    spec = deployment(tmp_path, "resume", code=code_dir, scheduler=scheduler,
                      env={"BATCH_TEST_LOG": str(log), "DELAY": "1"})
    out = tmp_path / "out"
    manifest = out / ".batch" / "manifest.jsonl"
    proc = start(spec, data_dir, out)
    try:
        wait_until(lambda: manifest.is_file() and len(manifest.read_text().splitlines()) >= 2, timeout=120,
                   what="two mini-batches to be committed")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    committed = {json.loads(line)["index"] for line in manifest.read_text().splitlines()}
    assert 2 <= len(committed) < FILES and not (out / "predictions.csv").exists()
    before = len(runs(log))
    done = drive(spec, data_dir, out)
    assert done.returncode == 0, done.stderr
    assert f"{len(committed)} already committed, {FILES - len(committed)} to score" in done.stdout
    scored_again = {name for name, _ in runs(log)}
    counts = {name: sum(1 for n, _ in runs(log) if n == name) for name in scored_again}
    for index in committed:  # a committed mini-batch is not scored again
        assert counts[f"part-{index}.csv"] == 1
    assert len(runs(log)) > before
    assert (out / "predictions.csv").read_text() == expected_totals(data_dir)
    again = drive(spec, data_dir, out)  # a finished folder: nothing left to score
    assert again.returncode == 0 and "nothing to score" in again.stdout


def test_failures_past_the_error_threshold_fail_the_job_listing_the_items(
        tmp_path: Path, data_dir: Path, code_dir: Path, scheduler: str) -> None:
    env = {"BATCH_TEST_LOG": str(tmp_path), "FAIL_ALWAYS": "part-2.csv"}
    failed = drive(deployment(tmp_path, "threshold", code=code_dir, scheduler=scheduler, env=env, max_retries=1,
                              error_threshold=0), data_dir, tmp_path / "out")
    assert failed.returncode == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("batch scoring failed: 1 failed items passed the error threshold of 0"), failed.stderr
    errors = json.loads((tmp_path / "out" / "batch_errors.json").read_text())
    [batch] = errors["mini_batches"]
    assert batch["items"] == [str(data_dir / "part-2.csv")] and len(batch["attempts"]) == 2
    assert batch["attempts"][-1]["error"].startswith("ValueError: cannot score part-2.csv (at score.py:")
    assert f"[batch] failed: {data_dir / 'part-2.csv'}: ValueError: cannot score part-2.csv" in failed.stderr
    assert not (tmp_path / "out" / "predictions.csv").exists()  # nothing half-written

    ignored = drive(deployment(tmp_path, "no-threshold", code=code_dir, scheduler=scheduler, env=env, max_retries=0),
                    data_dir, tmp_path / "ignored")
    assert ignored.returncode == 0, ignored.stderr
    assert (tmp_path / "ignored" / "predictions.csv").read_text() == expected_totals(data_dir, skip=("part-2.csv",))
    assert json.loads((tmp_path / "ignored" / "batch_errors.json").read_text())["failed_items"] == 1


def test_tabular_input_gives_run_a_dataframe_and_summary_only_writes_no_file(
        tmp_path: Path, code_dir: Path, scheduler: str) -> None:
    table = tmp_path / "table"
    table.mkdir()
    pd.read_csv(DATA).head(300).drop(columns=["PatientID"]).to_csv(table / "rows.csv", index=False)
    (table / "MLTable").write_text("paths:\n  - file: ./rows.csv\ntransformations:\n  - read_delimited:\n"
                                   "      delimiter: ','\n      header: all_files_same_headers\n")
    env = {"BATCH_TEST_LOG": str(tmp_path)}
    done = drive(deployment(tmp_path, "table", code=code_dir, scheduler=scheduler, env=env, mini_batch_size=8000),
                 table, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "300 rows of" in done.stdout and "(mltable) in 3 mini-batches" in done.stdout  # ~80 bytes a row
    scored = pd.read_csv(tmp_path / "out" / "predictions.csv", names=["row", "total"])
    source = pd.read_csv(table / "rows.csv")
    assert scored.row.tolist() == list(range(300))
    assert scored.total.round(6).tolist() == source.sum(axis=1).round(6).tolist()
    assert sorted(p.name for p in (tmp_path / "out" / ".batch").iterdir()) == ["done.json", "manifest.jsonl",
                                                                            "plan.json"]

    summary = drive(deployment(tmp_path, "summary", code=code_dir, scheduler=scheduler, env=env, mini_batch_size=8000,
                               output_action="summary_only"), table, tmp_path / "summary")
    assert summary.returncode == 0, summary.stderr
    assert "300 rows (summary only)" in summary.stdout
    assert not (tmp_path / "summary" / "predictions.csv").exists()


@pytest.mark.parametrize(("change", "message"), [
    ({"script_text": "def init():\n    pass\n"}, "defines no run(mini_batch)"),
    ({"mini_batch_size": 0}, "mini_batch_size must be at least 1; got 0"),
    ({"input": "missing"}, "does not exist"),
    ({"script": None}, "its model is not an MLflow model"),
])
def test_bad_input_fails_at_once_with_the_reason(tmp_path: Path, data_dir: Path, change: dict[str, Any],
                                                 message: str) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text(change.pop("script_text", SCRIPT))
    script = change.pop("script", "score.py")
    inp = tmp_path / change.pop("input") if "input" in change else data_dir
    done = drive(deployment(tmp_path, "bad", code=code, script=script, **change), inp, tmp_path / "out")
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("batch scoring failed: ") and message in last, done.stderr
    assert not (tmp_path / "out" / "predictions.csv").exists()


@pytest.mark.slow(seconds=40)  # the workers import MLflow to load a model with no signature
def test_files_lacking_the_columns_of_a_model_with_no_signature_fail_the_job_at_once(
        tmp_path: Path, scheduler: str) -> None:
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    frame = pd.read_csv(DATA)
    features = ["Pregnancies", "PlasmaGlucose", "BMI", "Age"]
    root = tmp_path / "model"  # no signature: the columns are the ones the estimator was fitted on
    mlflow.sklearn.save_model(LogisticRegression(max_iter=500).fit(frame[features], frame["Diabetic"]),
                              str(root / "model"))
    lacking = tmp_path / "lacking"
    lacking.mkdir()
    for i in range(2):
        frame[["Pregnancies", "PlasmaGlucose"]].iloc[i * 20:(i + 1) * 20].to_csv(lacking / f"a{i}.csv", index=False)
    done = drive(deployment(tmp_path, "nosig", model=root, script=None, scheduler=scheduler, max_retries=3),
                 lacking, tmp_path / "out")
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("batch scoring failed: a"), done.stderr
    assert ".csv lacks the model's input columns ['BMI', 'Age'] (it was fitted on ['Pregnancies', " in last
    assert "without retrying" in last
    assert "retrying (" not in done.stdout  # the same error every time: not retried
    assert not (tmp_path / "out" / "predictions.csv").exists()  # nothing half-written
    [batch, *_] = json.loads((tmp_path / "out" / "batch_errors.json").read_text())["mini_batches"]
    assert [a["kind"] for a in batch["attempts"]] == ["input_columns"]


def test_a_model_that_does_not_know_its_columns_is_told_by_its_first_error(tmp_path: Path) -> None:
    """Fitted on an array (no feature_names_in_, no signature): predict's column-count error becomes the typed one."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    from studio_ext.backends.local.batch import scoring

    frame = pd.read_csv(DATA)
    features = frame[["Pregnancies", "PlasmaGlucose", "BMI", "Age"]].to_numpy()
    mlflow.sklearn.save_model(LogisticRegression(max_iter=500).fit(features, frame["Diabetic"]),
                              str(tmp_path / "model"))
    frame[["Pregnancies", "PlasmaGlucose"]].head(5).to_csv(tmp_path / "two.csv", index=False)
    model = scoring._MlflowModel(str(tmp_path / "model"))
    assert model.required is None
    with pytest.raises(scoring.InputColumnsError, match=r"two\.csv does not have the columns the model takes: "
                                                        r"X has 2 features, but .* expecting 4"):
        model.run([str(tmp_path / "two.csv")])
