"""The server's record in the workspaces it shows, so a job's ``studio_url`` opens here.

Written once the server listens (its port is known only then) into the default
workspace and into every workspace the sidebar opens; removed when the server exits.
"""

from __future__ import annotations

import atexit
import threading
from pathlib import Path
from typing import Any

from studio_ext._studio_link import remove_record, write_record
from studio_ext.jupyter._handlers import StudioState


def record_server(serverapp: Any, state: StudioState) -> None:
    """Record ``serverapp`` in the workspaces ``state`` shows, from when its loop starts."""
    from tornado.ioloop import IOLoop

    from studio_ext.workspace import WORKSPACE_FILE

    recorded: set[Path] = set()
    lock = threading.Lock()

    def record(path: Path) -> None:
        with lock:
            if path in recorded or not (path / WORKSPACE_FILE).is_file():
                return
            try:
                write_record(path, url=serverapp.connection_url, token=_token(serverapp))
            except OSError as exc:  # a read-only workspace: studio_url says how to open it instead
                serverapp.log.warning("studio_ext: could not record this server in %s (%s)", path, exc)
                return
            recorded.add(path)

    def forget() -> None:
        with lock:
            for path in recorded:
                remove_record(path)
            recorded.clear()

    state.on_open = record
    IOLoop.current().add_callback(lambda: record(state.default_workspace()[0]))
    atexit.register(forget)


def _token(serverapp: Any) -> str:
    provider = getattr(serverapp, "identity_provider", None)
    token = getattr(provider, "token", None) if provider is not None else None
    return str(token if token is not None else getattr(serverapp, "token", "") or "")
