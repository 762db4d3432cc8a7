"""The model registry: register from runs, jobs and files; immutable versions; integrity; no unpickling."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import mlflow
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

from studio_ext import command
from studio_ext.entities import Model, ModelType, Serialization
from studio_ext.errors import Conflict, InvalidInput, NotFound, UnsafePath
from studio_ext.serving.model_files import ModelIntegrityError, verify_files


def _log_ridge(ws) -> str:
    mlflow.set_tracking_uri(ws.mlflow_tracking_uri)
    mlflow.set_experiment("models-test")
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(Ridge().fit(X, y), name="model", input_example=X.head(2), pip_requirements=["scikit-learn"])
    return run.info.run_id


def test_register_from_a_run_records_hashes_signature_and_lineage(workspace):
    run_id = _log_ridge(workspace)
    model = workspace.models.create_or_update(Model(name="diabetes", path=f"runs:/{run_id}/model",
                                                    tags={"Training context": "Pipeline"}))
    assert model.version == "1" and model.type == ModelType.MLFLOW
    assert model.run_id == run_id and "sklearn" in model.flavors
    assert model.serialization == Serialization.SKOPS and model.needs_trust == []
    assert "model/MLmodel" in model.files and all(len(h) == 64 for h in model.files.values())
    assert [c["name"] for c in model.signature["inputs"]][:2] == ["age", "sex"]
    assert "dataframe_split" in model.input_example
    second = workspace.models.create_or_update(Model(name="diabetes", path=f"runs:/{run_id}/model"))
    assert second.version == "2"
    assert [m.version for m in workspace.models.list("diabetes")] == ["1", "2"]
    assert workspace.models.get("diabetes", label="latest").version == "2"
    tagged = workspace.models.list(tags={"Training context": "Pipeline"})
    assert [(m.name, m.version) for m in tagged] == []  # latest (v2) has no such tag
    assert [m.version for m in workspace.models.list("diabetes", tags={"Training context": None})] == ["1"]
    # MLflow sees the same registry.
    from mlflow.tracking import MlflowClient

    versions = MlflowClient(workspace.mlflow_tracking_uri).search_model_versions("name='diabetes'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    dest = workspace.models.download("diabetes", 1, tmp := workspace.path.parent / "dl")
    assert (dest / "model" / "MLmodel").is_file()
    workspace.models.archive("diabetes", 2)
    assert [m.version for m in workspace.models.list("diabetes")] == ["1"]
    workspace.models.restore("diabetes", 2)
    assert tmp.exists()


def test_versions_are_immutable_and_bad_input_writes_nothing(workspace, tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"123")
    workspace.models.create_or_update(Model(name="m", path=str(tmp_path / "weights.bin")))
    with pytest.raises(Conflict, match="already exists and versions are immutable"):
        workspace.models.create_or_update(Model(name="m", version="1", path=str(tmp_path / "weights.bin")))
    with pytest.raises(NotFound, match="does not exist"):
        workspace.models.create_or_update(Model(name="m", path=str(tmp_path / "nope")))
    with pytest.raises(InvalidInput, match="have no MLmodel file"):
        workspace.models.create_or_update(Model(name="m", type="mlflow_model", path=str(tmp_path / "weights.bin")))
    with pytest.raises(UnsafePath, match="scheme"):
        workspace.models.create_or_update(Model(name="m", path="http://169.254.169.254/latest/meta-data"))
    with pytest.raises(UnsafePath, match="path character"):
        workspace.models.create_or_update(Model(name="../m", path=str(tmp_path / "weights.bin")))
    with pytest.raises(NotFound, match="no job or run named 'ghost'"):
        workspace.models.create_or_update(Model(name="m", path="runs:/ghost/model"))
    with pytest.raises(UnsafePath, match="stay inside"):
        run_id = _log_ridge(workspace)
        workspace.models.create_or_update(Model(name="m", path=f"runs:/{run_id}/../../etc"))
    link_dir = tmp_path / "linked"
    link_dir.mkdir()
    (link_dir / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(UnsafePath, match="symbolic link"):
        workspace.models.create_or_update(Model(name="m", path=str(link_dir)))
    assert [m.version for m in workspace.models.list("m")] == ["1"]
    registry = workspace.path / "artifacts" / "_registry" / "m"
    assert len(list(registry.iterdir())) == 1  # nothing half-written by the refused ones
    with pytest.raises(NotFound, match="Registered models: m"):
        workspace.models.get("other")


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['STUDIO_TEST_MARKER']}",))


def test_registering_and_listing_a_malicious_pickle_runs_nothing(workspace, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("STUDIO_TEST_MARKER", str(marker))
    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps(_Payload()))
    # An MLflow folder claiming a pickled sklearn model, too.
    mlflow_folder = tmp_path / "evil_mlflow"
    mlflow_folder.mkdir()
    (mlflow_folder / "model.pkl").write_bytes(pickle.dumps(_Payload()))
    (mlflow_folder / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n"
        "  sklearn:\n    pickled_model: model.pkl\n    serialization_format: cloudpickle\n")
    workspace.models.create_or_update(Model(name="evil", path=str(folder)))
    evil = workspace.models.create_or_update(Model(name="evil-mlflow", path=str(mlflow_folder)))
    assert evil.serialization == Serialization.CLOUDPICKLE
    assert evil.needs_trust and "loading it runs code" in evil.needs_trust[0]
    workspace.models.list()
    workspace.models.get("evil")
    workspace.models.download("evil-mlflow", 1, tmp_path / "out")
    time.sleep(0.2)
    assert not marker.exists()


@pytest.mark.slow
def test_register_from_a_job_by_name_and_output_uri(workspace, code_dir):
    (code_dir / "train.py").write_text(
        "import mlflow\nfrom sklearn.linear_model import LinearRegression\n"
        "with mlflow.start_run():\n"
        "    mlflow.sklearn.log_model(LinearRegression().fit([[0], [1]], [0, 1]), name='model',\n"
        "                             pip_requirements=['scikit-learn'])\n")
    job = workspace.jobs.create_or_update(command(code=str(code_dir), command="python train.py"))
    final = workspace.jobs.stream(job.name, out=open(os.devnull, "w"), timeout=120)
    assert str(final.status) == "Completed", workspace.jobs.get_logs(job.name)
    by_name = workspace.models.create_or_update(Model(name="lr", path=f"runs:/{job.name}/model"))
    by_uri = workspace.models.create_or_update(
        Model(name="lr", path=f"azureml://jobs/{job.name}/outputs/artifacts/paths/model/"))
    assert by_name.job_name == by_uri.job_name == job.name
    assert by_name.run_id == final.run_id and by_name.files == by_uri.files


def test_verify_files_refuses_a_tampered_model(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"abc")
    from studio_ext.serving.model_files import hash_files

    manifest = hash_files(tmp_path)
    verify_files(tmp_path, manifest)
    (tmp_path / "a.bin").write_bytes(b"abd")
    with pytest.raises(ModelIntegrityError, match=r"SHA-256 mismatch\): a.bin"):
        verify_files(tmp_path, manifest)
    Path(tmp_path / "a.bin").unlink()
    with pytest.raises(ModelIntegrityError, match="missing: a.bin"):
        verify_files(tmp_path, manifest)
