"""The DP-100 course's labs (MicrosoftLearning/mslearn-azure-ml, SDK v2) on a local workspace.

Each test module is one lab notebook, written in this project's own words: the same
azure-ai-ml calls on the same kinds of data, with ``ml_client = Workspace.from_config(
credential=DefaultAzureCredential())`` as the only change from the course. A lab runs in a
``Labs/NN`` folder below the workspace folder, as the course's notebooks run below the
compute instance's user files where ``config.json`` sits, so ``from_config()`` finds the
workspace from the notebook's folder. What the course's ``setup.sh`` makes with ``az ml`` the
tests make before the lab's cells: the ``aml-cluster`` cluster (the ``aml_cluster`` fixture, with
the studio's own entity) and Lab 06's data asset (with azure-ai-ml's ``Data``).
"""

from __future__ import annotations

import queue
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from jupyter_client.manager import KernelManager

from studio_ext import Workspace
from studio_ext.cli_groups.workspace import studio_environment
from studio_ext.entities import AmlCompute
from tests.labs.dp100.course import DP100_DATA


@dataclass
class LabFolder:
    """A lab's folder (the notebook's working folder) inside a local workspace's folder."""

    home: Path
    path: Path

    def write(self, relative: str, text: str) -> Path:
        """Write a file the lab writes (a script in src/, a conda file, a request)."""
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target

    def diabetes(self, relative: str, rows: int | None = None) -> Path:
        """The course's diabetes CSV at ``relative`` (its first ``rows`` rows when given)."""
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if rows is None:
            shutil.copyfile(DP100_DATA / "diabetes.csv", target)
        else:
            pd.read_csv(DP100_DATA / "diabetes.csv", nrows=rows).to_csv(target, index=False)
        return target

    def mltable_folder(self, relative: str, rows: int | None = None) -> Path:
        """A folder with the diabetes CSV and an MLTable file that reads it, as the course ships them."""
        folder = self.path / relative
        self.diabetes(f"{relative}/diabetes.csv", rows=rows)
        (folder / "MLTable").write_text(
            "paths:\n"
            "  - file: ./diabetes.csv\n"
            "transformations:\n"
            "  - read_delimited:\n"
            "      delimiter: ','\n"
            "      encoding: ascii\n",
            encoding="utf-8",
        )
        return folder


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[LabFolder]:
    """A fresh workspace and the lab's folder ``Labs/NN`` in it, as the working folder.

    ``NN`` is read from the test module's name (``test_lab04_...`` is ``Labs/04``). The
    workspace's supervisor is stopped afterwards.
    """
    number = request.module.__name__.rpartition(".")[2].removeprefix("test_lab")[:2]
    home = tmp_path / "user-files"
    ws = Workspace.create(home)
    folder = home / "Labs" / number
    folder.mkdir(parents=True)
    monkeypatch.delenv("STUDIO_EXT_WORKSPACE", raising=False)
    monkeypatch.chdir(folder)
    try:
        yield LabFolder(home=home, path=folder)
    finally:
        ws.runtime.stop()
        ws.close()


@pytest.fixture
def aml_cluster(lab: LabFolder) -> str:
    """The cluster the course's setup.sh makes (`az ml compute create --name aml-cluster --size
    STANDARD_DS11_V2 --max-instances 2 --type AmlCompute`), made here with the studio's own entity."""
    ws = Workspace(lab.home)
    try:
        ws.compute.begin_create_or_update(AmlCompute(name="aml-cluster", size="STANDARD_DS11_V2", max_instances=2)).result()
    finally:
        ws.close()
    return "aml-cluster"


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class NotebookKernel:
    """A Python kernel in the lab's folder with the environment ``studio-ext studio`` gives its kernels."""

    def __init__(self, manager: KernelManager) -> None:
        self._manager = manager
        self._client = manager.client()
        self._client.start_channels()
        self._client.wait_for_ready(timeout=120)

    def run(self, cell: str, timeout: float = 120) -> str:
        """Run ``cell`` as a notebook cell; what it printed (and its result's text). A cell that
        raises fails the test with the kernel's traceback."""
        printed: list[str] = []
        failure: list[str] = []

        def collect(message: dict) -> None:
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                printed.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                printed.append(content["data"].get("text/plain", "") + "\n")
            elif kind == "error":
                failure.append(_ANSI.sub("", "\n".join(content["traceback"])))

        try:
            reply = self._client.execute_interactive(cell, timeout=timeout, output_hook=collect)
        except (TimeoutError, queue.Empty):
            pytest.fail(f"the cell did not finish within {timeout:g} s:\n{cell}\n{''.join(printed)}")
        if failure or reply["content"]["status"] != "ok":
            pytest.fail(f"the cell failed:\n{cell}\n" + "\n".join(failure), pytrace=False)
        return "".join(printed)

    def shutdown(self) -> None:
        self._client.stop_channels()
        self._manager.shutdown_kernel(now=True)


@pytest.fixture
def notebook_kernel(lab: LabFolder) -> Iterator[NotebookKernel]:
    """A kernel as a notebook in ``Labs/NN`` opened in the studio has it: started in that folder
    with the environment JupyterLab gets from ``studio-ext studio`` (MLflow pointed at the workspace)."""
    ws = Workspace(lab.home)
    try:
        env = studio_environment(ws)
    finally:
        ws.close()
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=env, cwd=str(lab.path))
    kernel = NotebookKernel(manager)
    try:
        yield kernel
    finally:
        kernel.shutdown()
