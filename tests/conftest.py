"""Fixtures shared by the whole suite: fresh workspaces whose supervisors are stopped after."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio_ext import Workspace

os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
# A supervisor left behind by a crashed test exits by itself soon.
os.environ.setdefault("STUDIO_EXT_SUPERVISOR_IDLE_EXIT", "120")
# Servers (routers, scoring servers, the batch gateway) a stopped supervisor left go after 2 min, not 10.
os.environ.setdefault("STUDIO_EXT_SERVER_ORPHAN_EXIT", "120")


# What a test costs, roughly in seconds, in the order the files are dealt out (see below): a test
# marked slow takes tens of seconds (a lab, a venv build, an AutoML job) unless its mark says more
# (``@pytest.mark.slow(seconds=160)``: the whole demo), one driving Chromium several, any other about a second.
_SLOW_TEST_WEIGHT = 30
_BROWSER_TEST_WEIGHT = 10


def _weight(item: pytest.Item) -> int:
    slow = item.get_closest_marker("slow")
    if slow:
        return int(slow.kwargs.get("seconds", _SLOW_TEST_WEIGHT))
    return _BROWSER_TEST_WEIGHT if item.get_closest_marker("browser") else 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The heaviest test files first, each file's tests kept together and in their order.

    ``make test`` deals whole files to two pytest-xdist workers (``--dist loadfile
    --no-loadscope-reorder``), each taking the next file when it is done with one. Dealt longest
    first, the files that end the run are short ones, so both workers finish within seconds of
    each other; dealt in xdist's own order (most tests first), the labs, one long test each, came
    last and left one worker running them alone for minutes.
    """
    weight: dict[str, int] = {}
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        path = item.nodeid.partition("::")[0]
        first.setdefault(path, index)
        weight[path] = weight.get(path, 0) + _weight(item)
    position = {id(item): index for index, item in enumerate(items)}
    items.sort(key=lambda item: (-weight[item.nodeid.partition("::")[0]], first[item.nodeid.partition("::")[0]],
                                 position[id(item)]))


def _workspace_paths(value: Any, depth: int = 0) -> list[Path]:
    if isinstance(value, Workspace) and getattr(value, "path", None):
        return [Path(value.path)]
    if isinstance(value, dict) and depth < 2:
        return [p for v in value.values() for p in _workspace_paths(v, depth + 1)]
    return []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test shows the end of its workspaces' supervisor logs: what a CI failure needs to be read."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    values = getattr(item, "funcargs", {}) or {}
    for path in dict.fromkeys(p for v in values.values() for p in _workspace_paths(v)):
        log_file = path / "logs" / "supervisor.log"
        try:
            tail = log_file.read_text(errors="replace").splitlines()[-80:]
        except OSError:
            continue
        report.sections.append((f"supervisor log of {path} (last 80 lines)", "\n".join(tail)))


@pytest.fixture(autouse=True, scope="session")
def _stray_mlflow_calls_stay_out_of_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """MLflow's fluent API defaults to ./mlflow.db; point it at a scratch store instead."""
    scratch = tmp_path_factory.mktemp("mlflow-default")
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{scratch / 'mlflow.db'}"
    yield
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A new local workspace; its supervisor (if a test started one) is stopped afterwards."""
    ws = Workspace.create(tmp_path / "ws")
    try:
        yield ws
    finally:
        ws.runtime.stop()
        ws.close()


@pytest.fixture(scope="module")
def module_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """One workspace shared by a test module: one supervisor start (and MLflow, Dask loads) for all its tests.

    Its tests must leave it as they found it (delete what they create) or say what they rely on.
    """
    ws = Workspace.create(tmp_path_factory.mktemp("module") / "ws")
    try:
        yield ws
    finally:
        ws.runtime.stop()
        ws.close()


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    """A folder for training scripts a test writes."""
    path = tmp_path / "src"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Azurite's blob service on a free 127.0.0.1 port for the session (tests/azurite.py): blob datastores, for real."""
    from tests.azurite import running

    with running(tmp_path_factory.mktemp("azurite")) as emulator:
        yield emulator
