"""The backend registry: a workspace's config picks the kind, the kind picks a factory.

A third backend is added here the way a package adds one, by an entry point of the
group ``studio_ext.backends``, with no edit to studio_ext: the test writes a small
installed distribution (a ``.dist-info`` folder and a module) into a folder on
``sys.path``.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from studio_ext import Workspace
from studio_ext.backends import (
    ENTRY_POINT_GROUP,
    Backend,
    Runtime,
    RuntimeStatus,
    _registry,
    backend_kinds,
    get_backend_factory,
    register_backend,
    unregister_backend,
)
from studio_ext.backends.local import LocalBackend
from studio_ext.entities import Model
from studio_ext.errors import WorkspaceError

# A whole backend of another kind: models kept in memory, a runtime that is always up.
MEMORY_BACKEND = '''
from __future__ import annotations

import builtins
from pathlib import Path

from studio_ext.backends import RuntimeStatus
from studio_ext.entities import Model
from studio_ext.errors import NotFound
from studio_ext.services import ModelOperations


class MemoryModels(ModelOperations):
    def __init__(self) -> None:
        self._versions: dict[str, builtins.list[Model]] = {}

    def create_or_update(self, model, *, progress=None):
        versions = self._versions.setdefault(model.name, [])
        model.version = str(len(versions) + 1)
        versions.append(model)
        return model

    def get(self, name, version=None, label=None):
        versions = self._versions.get(name) or []
        if not versions:
            raise NotFound(f"No model {name!r}.")
        return versions[-1] if version is None else versions[int(version) - 1]

    def list(self, name=None, *, tags=None, properties=None, include_archived=False):
        return [m for n, vs in self._versions.items() if name in (None, n) for m in vs]

    def download(self, name, version, download_path="."):
        return Path(download_path)

    def archive(self, name, version=None):
        pass

    def restore(self, name, version=None):
        pass


class AlwaysUp:
    def start(self):
        return False

    def stop(self):
        return False

    def status(self):
        return RuntimeStatus(running=True)


class MemoryBackend:
    kind = "memory"

    def __init__(self, path, config):
        self.path = path
        self.tracking_uri = "memory://tracking"
        self.metadata_uri = "memory://metadata"
        self.artifacts_uri = "memory://artifacts"
        self.runtime = AlwaysUp()
        self._services = {"models": MemoryModels(), "jobs": object()}

    def service(self, name):
        return self._services[name]

    def services_available(self):
        return set(self._services)

    def sdk_preamble(self):
        return f"from studio_ext import Workspace\\n\\nws = Workspace.from_config({str(self.path)!r})\\n"

    def close(self):
        pass
'''


@pytest.fixture
def memory_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed distribution that registers the "memory" backend by entry point."""
    site = tmp_path / "site"
    dist = site / "memory_backend-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: memory-backend\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nmemory = memory_backend:MemoryBackend\n")
    (site / "memory_backend.py").write_text(textwrap.dedent(MEMORY_BACKEND))
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("memory_backend", None)


def _workspace_folder(path: Path, kind: str) -> Path:
    path.mkdir()
    (path / "workspace.toml").write_text(f'name = "{path.name}"\nbackend = "{kind}"\n')
    return path


def test_a_third_backend_plugs_in_by_entry_point_with_no_edit_to_studio_ext(
        memory_package: Path, tmp_path: Path) -> None:
    assert "memory" in backend_kinds()
    ws = Workspace(_workspace_folder(tmp_path / "mem-ws", "memory"))
    assert ws.backend.kind == "memory" and isinstance(ws.backend, Backend)
    assert repr(ws) == f"Workspace(name='mem-ws', path={str(ws.path)!r}, backend='memory')"
    registered = ws.models.create_or_update(Model(name="m", path=str(tmp_path)))
    assert registered.version == "1"
    assert [m.name for m in ws.models.list()] == ["m"]
    assert ws.runtime.status() == RuntimeStatus(running=True)
    assert ws.runtime.start() is False
    assert ws.sdk_preamble().endswith(f"ws = Workspace.from_config({str(ws.path)!r})\n")
    assert ws.mlflow_tracking_uri == "memory://tracking"


def test_a_service_that_breaks_its_protocol_is_refused_by_name(memory_package: Path, tmp_path: Path) -> None:
    ws = Workspace(_workspace_folder(tmp_path / "mem-ws", "memory"))
    with pytest.raises(WorkspaceError, match="memory backend's 'jobs' service .* does not implement JobOperations"):
        _ = ws.jobs


def test_a_backend_registered_in_process_wins_and_can_be_removed(tmp_path: Path) -> None:
    made: list[Path] = []

    def factory(path: Path, config: object) -> Backend:
        made.append(path)
        return LocalBackend(path, {"name": "x"})

    folder = Workspace.create(tmp_path / "ws").path
    (folder / "workspace.toml").write_text('name = "ws"\nbackend = "scratch"\n')
    register_backend("scratch", factory)
    try:
        assert Workspace(folder).backend.kind == "local" and made == [folder]
    finally:
        unregister_backend("scratch")
    with pytest.raises(WorkspaceError, match=r"workspace.toml asks for the 'scratch' backend, but the scratch backend "
                                             r"is not available in this version: no factory is registered for "
                                             r"'scratch' \(entry-point group 'studio_ext.backends'; known backends: "
                                             r".*local.*\)\. Install the package that provides it"):
        Workspace(folder)


def test_the_local_backend_is_registered_by_entry_point(tmp_path: Path) -> None:
    points = _registry._entry_points(tuple(sys.path))
    assert points["local"].value == "studio_ext.backends.local:LocalBackend"
    assert get_backend_factory("local", wanted_by="a test") is LocalBackend


def test_the_local_backend_is_found_without_installed_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    # A source checkout on sys.path with no installed distribution of studio-ext.
    repo = str(Path(__file__).resolve().parents[2])
    monkeypatch.setattr(sys, "path", [repo] + [p for p in sys.path if "site-packages" not in p and p != repo])
    assert "local" not in _registry._entry_points(tuple(sys.path))
    assert get_backend_factory("local", wanted_by="a test") is LocalBackend


def test_a_workspace_toml_without_a_backend_entry_is_local_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    folder = Workspace.create(tmp_path / "ws").path
    (folder / "workspace.toml").write_text('name = "ws"\n')
    assert Workspace(folder).backend.kind == "local"
    (folder / "workspace.toml").write_text('name = "ws"\nbackend = 3\n')
    with pytest.raises(WorkspaceError, match="has backend = 3; it must name a backend kind"):
        Workspace(folder)


def test_the_local_runtime_is_a_runtime(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws")
    assert isinstance(ws.runtime, Runtime)
    assert isinstance(ws.backend, Backend)
