"""The README's quick start runs: its azure-ai-ml snippet, on a fresh workspace, with only the client line local."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from studio_ext import Workspace

README = Path(__file__).resolve().parents[1] / "README.md"
DP100 = Path(__file__).resolve().parents[2] / "shared" / "data" / "dp100"
TRAIN = """\
import argparse

import mlflow
import pandas as pd
from sklearn.linear_model import LogisticRegression

parser = argparse.ArgumentParser()
parser.add_argument("--data")
table = pd.read_csv(parser.parse_args().data)
X, y = table.drop(columns=["PatientID", "Diabetic"]), table["Diabetic"]
mlflow.log_metric("accuracy", LogisticRegression(max_iter=200).fit(X, y).score(X, y))
"""


def quick_start_snippet() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Quick start")
    block = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert block, "the README's quick start has no Python block"
    return block.group(1)


def test_the_snippet_is_azure_code_with_one_local_line() -> None:
    snippet = quick_start_snippet()
    assert "from azure.ai.ml import" in snippet and "DefaultAzureCredential()" in snippet
    local = [line for line in snippet.splitlines() if "studio_ext" in line or "Workspace" in line]
    assert len(local) == 2, local  # the import and the client line, nothing else
    assert "# ml_client = MLClient.from_config(credential=DefaultAzureCredential())" in snippet


@pytest.mark.slow
def test_the_quick_start_snippet_runs_here(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "demo-workspace")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(TRAIN)
    (tmp_path / "diabetes.csv").write_bytes((DP100 / "diabetes.csv").read_bytes()[:60_000].rsplit(b"\n", 1)[0])
    try:
        done = subprocess.run([sys.executable, "-c", quick_start_snippet()], cwd=tmp_path, capture_output=True,
                              text=True, timeout=400)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "studio-ext studio" in done.stdout or "/lab?studio-run=" in done.stdout  # the studio_url line
        job = ws.jobs.list("diabetes")[0]
        assert str(job.status) == "Completed" and job.compute == "aml-cluster"
        assert 0.5 < job.metrics["accuracy"] <= 1.0
    finally:
        ws.runtime.stop()
