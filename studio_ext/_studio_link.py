"""Where a workspace's studio runs, and the ``studio_url`` of a job in it.

A Jupyter server with the studio's server extension records itself in the workspace
it shows (``<workspace>/.studio-server.json``: its URL, token and pid; readable by the
user alone, as Jupyter's own ``jpserver-*.json``), and removes the record when it stops.
A job's ``studio_url`` is then that server's JupyterLab URL with the run named in the
query, ``http://127.0.0.1:8888/lab?studio-run=NAME&studio-workspace=PATH&token=...``,
which opens the Jobs page with the run's details (without the token in the server's own
kernels: a notebook's outputs are saved and shared). With no studio running, it is the
command that starts one on the run, ``studio-ext studio PATH --run NAME``: a URL to a
server that is not there would only say "connection refused".

Standard library only: the jobs service calls :func:`studio_url` for every job it returns.
"""

from __future__ import annotations

import json
import os
import shlex
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RECORD_FILE", "RUN_PARAM", "WORKSPACE_PARAM", "StudioServer", "remove_record", "running_studio",
           "studio_command", "studio_url", "write_record"]

#: The record of the studio server showing a workspace, in the workspace folder.
RECORD_FILE = ".studio-server.json"
#: The query parameters of a JupyterLab URL the studio's lab extension acts on.
RUN_PARAM = "studio-run"
WORKSPACE_PARAM = "studio-workspace"


@dataclass(frozen=True)
class StudioServer:
    """A running studio: its base URL (ending in ``/``), token and process id."""

    url: str
    token: str
    pid: int

    def lab_url(self, params: dict[str, str] | None = None, *, with_token: bool = True) -> str:
        """The JupyterLab page of this server, with ``params`` (and the token) in the query."""
        query = dict(params or {})
        if with_token and self.token:
            query["token"] = self.token
        return f"{self.url}lab" + (f"?{urllib.parse.urlencode(query)}" if query else "")


def write_record(workspace: str | os.PathLike[str], *, url: str, token: str, pid: int | None = None) -> Path:
    """Record the studio server showing ``workspace`` (atomically; mode 0600)."""
    folder = Path(workspace)
    path = folder / RECORD_FILE
    tmp = folder / f"{RECORD_FILE}.{os.getpid()}.tmp"
    record = {"url": url if url.endswith("/") else url + "/", "token": token, "pid": pid or os.getpid()}
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    os.replace(tmp, path)
    return path


def remove_record(workspace: str | os.PathLike[str], pid: int | None = None) -> bool:
    """Remove the record if it is this process's (or ``pid``'s); True if it was removed."""
    path = Path(workspace) / RECORD_FILE
    record = _read(path)
    if record is None or record.get("pid") != (pid or os.getpid()):
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def running_studio(workspace: str | os.PathLike[str]) -> StudioServer | None:
    """The studio server recorded in ``workspace``, if its process still runs."""
    record = _read(Path(workspace) / RECORD_FILE)
    if record is None:
        return None
    pid, url = record.get("pid"), record.get("url")
    if not isinstance(pid, int) or not isinstance(url, str) or not _alive(pid):
        return None  # a server killed before it could remove its record
    return StudioServer(url=url, token=str(record.get("token") or ""), pid=pid)


def studio_command(workspace: str | os.PathLike[str], run: str | None = None) -> str:
    """The command line that starts the studio on ``workspace`` (opening ``run``)."""
    line = f"studio-ext studio {shlex.quote(str(workspace))}"
    return line + (f" --run {shlex.quote(run)}" if run else "")


def studio_url(workspace: str | os.PathLike[str], run: str) -> str:
    """Where the job or run ``run`` of ``workspace`` opens: see the module docstring.

    In a kernel of that very server the URL carries no token: the browser showing the
    notebook is signed in already, and a notebook's outputs are saved and shared.
    """
    server = running_studio(workspace)
    if server is None:
        return studio_command(workspace, run)
    inside = os.environ.get("JPY_PARENT_PID") == str(server.pid)  # set by jupyter_client for its kernels
    return server.lab_url({RUN_PARAM: run, WORKSPACE_PARAM: str(workspace)}, with_token=not inside)


def _read(path: Path) -> dict[str, object] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True
