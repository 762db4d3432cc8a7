"""The backend registry: a workspace's config picks a backend kind, the kind picks a factory.

As MLflow picks a tracking store by URI scheme, studio_ext picks a backend by the
workspace's config: a ``workspace.toml`` names its kind in ``backend = "..."``
(``"local"`` when absent) and an Azure ML ``config.json`` means ``"azure"``.

Factories are found, in this order, among those given to :func:`register_backend`
in this process, among the entry points of the group ``studio_ext.backends`` (the
entry point's name is the kind, its object the factory), and among the built-in
ones. So a package adds a backend with no edit to studio_ext::

    [project.entry-points."studio_ext.backends"]
    memory = "my_package.backend:MemoryBackend"
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, cast

from studio_ext.backends._protocol import BackendFactory
from studio_ext.errors import WorkspaceError

ENTRY_POINT_GROUP = "studio_ext.backends"
WORKSPACE_FILE = "workspace.toml"
AZURE_CONFIG_FILE = "config.json"
DEFAULT_KIND = "local"
AZURE_KIND = "azure"

# Found even when the package's entry points are not installed (a source checkout on sys.path).
_BUILTIN: dict[str, str] = {"local": "studio_ext.backends.local:LocalBackend"}
_registered: dict[str, BackendFactory] = {}


def register_backend(kind: str, factory: BackendFactory) -> None:
    """Make ``factory`` the backend of workspaces of ``kind`` in this process.

    It wins over an entry point or a built-in backend of the same kind.
    """
    if not kind or not isinstance(kind, str):
        raise WorkspaceError(f"A backend kind must be a non-empty string. Got {kind!r} instead.")
    _registered[kind] = factory


def unregister_backend(kind: str) -> None:
    """Forget a backend given to :func:`register_backend` (entry points and built-ins stay)."""
    _registered.pop(kind, None)


def backend_kinds() -> list[str]:
    """Every kind a factory is known for: registered, by entry point, or built in."""
    kinds = set(_registered) | set(_BUILTIN)
    kinds.update(_entry_points(tuple(sys.path)))
    return sorted(kinds)


@functools.lru_cache(maxsize=4)
def _entry_points(search_path: tuple[str, ...]) -> dict[str, EntryPoint]:
    # Scanning the installed distributions takes tens of milliseconds: once per sys.path.
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def kind_of_config(config_file: Path, config: Mapping[str, Any]) -> str:
    """The backend kind a workspace config file asks for."""
    if config_file.name == AZURE_CONFIG_FILE:
        return AZURE_KIND
    kind = config.get("backend", DEFAULT_KIND)
    if not isinstance(kind, str) or not kind:
        raise WorkspaceError(
            f"{config_file} has backend = {kind!r}; it must name a backend kind such as \"local\"."
        )
    return kind


def get_backend_factory(kind: str, *, wanted_by: str) -> BackendFactory:
    """The factory of backends of ``kind``.

    ``wanted_by`` says what asked for it (for example "/data/ws/workspace.toml asks for
    the 'x' backend"); the error raised when no factory is known begins with it.
    """
    if kind in _registered:
        return _registered[kind]
    ep = _entry_points(tuple(sys.path)).get(kind)
    if ep is not None:
        try:
            return cast(BackendFactory, ep.load())
        except (ImportError, AttributeError) as exc:
            raise WorkspaceError(
                f"{wanted_by}, but the {kind} backend could not be loaded: its entry point "
                f"{ep.value!r} (group {ENTRY_POINT_GROUP!r}) failed with {exc!r}. Reinstall the "
                "package that provides it."
            ) from exc
    if kind in _BUILTIN:
        module, _, attr = _BUILTIN[kind].partition(":")
        return cast(BackendFactory, getattr(importlib.import_module(module), attr))
    advice = ("Use a local workspace (`studio-ext init PATH`) for now." if kind == AZURE_KIND else
              "Install the package that provides it, or use a local workspace (`studio-ext init PATH`).")
    raise WorkspaceError(
        f"{wanted_by}, but the {kind} backend is not available in this version: no factory is "
        f"registered for {kind!r} (entry-point group {ENTRY_POINT_GROUP!r}; known backends: "
        f"{', '.join(backend_kinds())}). {advice}"
    )
