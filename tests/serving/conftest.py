"""A workspace with a registered MLflow model and one endpoint, shared by a module's tests.

Servers started here are stopped by deleting their endpoints; any that leak exit by
themselves shortly after the supervisor is gone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("STUDIO_EXT_SERVER_ORPHAN_EXIT", "30")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from studio_ext import Workspace
from studio_ext.entities import Model


def log_diabetes_model(ws: Workspace, estimator: Any = None, **log_kwargs: Any) -> str:
    """Fit and log a small scikit-learn model with plain MLflow; return the run id."""
    import mlflow
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    mlflow.set_tracking_uri(ws.mlflow_tracking_uri)
    mlflow.set_experiment("serving-tests")
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model((estimator or Ridge()).fit(X, y), name="model", input_example=X.head(2),
                                 pip_requirements=["scikit-learn"], **log_kwargs)
    return run.info.run_id


def diabetes_rows(n: int = 3) -> dict[str, Any]:
    from sklearn.datasets import load_diabetes

    X, _ = load_diabetes(return_X_y=True, as_frame=True)
    return json.loads(X.head(n).to_json(orient="split", index=False))


@pytest.fixture(scope="module")
def served_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A workspace with model 'diabetes:1'; every endpoint is deleted afterwards."""
    ws = Workspace.create(tmp_path_factory.mktemp("serving") / "ws")
    run_id = log_diabetes_model(ws)
    ws.models.create_or_update(Model(name="diabetes", path=f"runs:/{run_id}/model"))
    try:
        yield ws
    finally:
        for endpoint in ws.online_endpoints.list():
            try:
                ws.online_endpoints.begin_delete(endpoint.name).result(timeout=60)
            except Exception:  # noqa: BLE001 - best effort; leaked servers exit on their own
                pass
        ws.runtime.stop()
        ws.close()


def write_script(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "score.py").write_text(body)
    return folder
