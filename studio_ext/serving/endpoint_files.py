"""Where an endpoint's files live in the workspace, and its keys.

Keys are kept out of the metadata store (which any reader of the workspace can
open): each endpoint has ``endpoints/NAME/keys.json``, mode 0600, in a 0700
folder, replaced atomically. Servers re-read it when its inode or mtime changes,
so a regenerated key takes effect with the very next request.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from studio_ext.errors import StudioError

HEARTBEAT = ".heartbeat"  # touched by the supervisor; servers exit when it goes stale
KEY_RECHECK_SECONDS = 0.05  # servers look at the keys file at most this often
ORPHAN_CHECK_SECONDS = 5.0  # servers look at their workspace folder and the heartbeat this often
WORKSPACE_FILE = "workspace.toml"  # every local workspace folder has it; a folder without it is not one


def supervisor_silence(workspace: Path) -> float:
    """Seconds since the supervisor last touched the heartbeat (inf if it never did)."""
    try:
        return time.time() - (endpoints_root(workspace) / HEARTBEAT).stat().st_mtime
    except OSError:
        return float("inf")


def workspace_identity(workspace: Path) -> tuple[int, int] | None:
    """The workspace folder's device and inode; None once it is gone or no longer a workspace.

    A folder made again at the same path (by a writer that outlived the workspace) has
    no workspace file; it may get the old inode number back, so the file is what tells.
    """
    try:
        st = os.stat(workspace)
        if not (workspace / WORKSPACE_FILE).is_file():
            return None
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


async def exit_when_orphaned(workspace: Path, limit: float, on_exit: Callable[[], None]) -> None:
    """Call ``on_exit`` once the supervisor has been gone ``limit`` seconds (stopped, not restarting),
    or within :data:`ORPHAN_CHECK_SECONDS` of the workspace folder going away (deleted or moved, even
    if something made a folder of that name again: an outliving writer may touch its heartbeat)."""
    import asyncio
    import logging

    identity = workspace_identity(workspace)
    while True:
        if identity is not None:
            await asyncio.sleep(min(ORPHAN_CHECK_SECONDS, limit / 2))
        if identity is None or workspace_identity(workspace) != identity:
            logging.getLogger("studio_ext.serving").info("the workspace folder %s is gone: exiting", workspace)
            on_exit()
            return
        silence = supervisor_silence(workspace)
        if silence > limit:
            logging.getLogger("studio_ext.serving").info("no supervisor for %.0f s: exiting", silence)
            on_exit()
            return


def endpoints_root(workspace: Path) -> Path:
    return workspace / "endpoints"


def endpoint_dir(workspace: Path, endpoint: str) -> Path:
    return endpoints_root(workspace) / endpoint


def deployment_dir(workspace: Path, endpoint: str, deployment: str) -> Path:
    return endpoint_dir(workspace, endpoint) / "deployments" / deployment


def keys_path(workspace: Path, endpoint: str) -> Path:
    return endpoint_dir(workspace, endpoint) / "keys.json"


def telemetry_path(workspace: Path) -> Path:
    return workspace / "telemetry.db"


def new_key() -> str:
    return secrets.token_urlsafe(32)


def write_private_json(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` readable by the owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_keys(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise StudioError(f"The endpoint's keys file {path} cannot be read ({exc}).") from exc
    return {"primary": str(data["primary"]), "secondary": str(data["secondary"])}


class KeyChecker:
    """Checks ``Authorization: Bearer KEY`` against both keys, in constant time.

    The keys file is stat'ed at most every :data:`KEY_RECHECK_SECONDS` and re-read
    when it changed, so regeneration needs no signal to reach the servers;
    ``regenerate_keys`` waits that long before it returns, so the old key is
    refused from the moment the call comes back.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._keys: tuple[bytes, bytes] = (b"", b"")
        self._checked = -1.0

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < KEY_RECHECK_SECONDS:
            return
        self._checked = now
        try:
            st = os.stat(self.path)
        except OSError:
            self._keys, self._stamp = (b"", b""), None
            return
        stamp = (st.st_ino, st.st_mtime_ns)
        if stamp != self._stamp:
            try:
                keys = read_keys(self.path)
            except StudioError:
                return  # a half-visible file: keep the last good keys
            self._keys = (keys["primary"].encode(), keys["secondary"].encode())
            self._stamp = stamp

    def check(self, authorization: bytes | None) -> bool:
        self._refresh()
        if not authorization or not authorization[:7].lower() == b"bearer ":
            return False
        given = authorization[7:].strip()
        primary, secondary = self._keys
        # Both comparisons always run, so timing says nothing about which key matched.
        ok_primary = hmac.compare_digest(given, primary) if primary else False
        ok_secondary = hmac.compare_digest(given, secondary) if secondary else False
        return ok_primary | ok_secondary
