"""``studio-ext init | info | server | studio``."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from studio_ext.backends import RuntimeStatus
from studio_ext.cli_groups import open_workspace
from studio_ext.compat import with_fallback_hook
from studio_ext.workspace import WORKSPACE_FILE, Workspace


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create a workspace folder")
    p.add_argument("path")
    p.add_argument("--name")
    p.add_argument("--metadata-uri", help="SQLAlchemy URL for metadata (default: SQLite in the folder)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: SQLite in the folder)")
    p.set_defaults(func=_init)

    p = sub.add_parser("info", help="show the workspace, its stores and its supervisor")
    p.set_defaults(func=_info)

    p = sub.add_parser("server", help="the workspace supervisor (owns jobs, clusters, endpoints)")
    p.add_argument("action", choices=["status", "start", "stop"])
    p.add_argument("--force", action="store_true",
                   help="stop even while a studio (JupyterLab) is attached to the workspace")
    p.add_argument("--all", action="store_true", dest="stop_all",
                   help="with stop: also end every endpoint's router and scoring servers and the batch endpoints' "
                        "gateway (clusters end with the supervisor); the next start brings them back")
    p.set_defaults(func=_server)

    p = sub.add_parser("studio", help="start JupyterLab on a workspace, opened as it is (--demo: the demo workspace)")
    p.add_argument("path", nargs="?", help="a workspace folder (a new folder becomes an empty workspace); "
                                           "default: -w's, else the demo workspace ./demo-workspace")
    p.add_argument("--demo", action="store_true",
                   help="give the workspace the demo's jobs, data, cluster and endpoint (once); what `make studio` does")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--run", metavar="NAME", help="print the URL that opens this job's details in the studio")
    p.add_argument("--no-lab", action="store_true", help="prepare the workspace only")
    p.set_defaults(func=_studio)


def _init(args: argparse.Namespace) -> int:
    ws = Workspace.create(args.path, name=args.name, metadata_uri=args.metadata_uri,
                          tracking_uri=args.tracking_uri, exist_ok=True)
    print(f"Workspace {ws.name!r} ready at {ws.path}")
    print(f"  metadata: {_redacted(ws.metadata_uri)}\n  tracking: {_redacted(ws.backend.tracking_uri)}")
    print(f"Use it:  studio-ext -w {ws.path} info   or in Python:\n{ws.sdk_preamble()}")
    return 0


def _redacted(uri: str) -> str:
    """A store URI with its password hidden (as SQLAlchemy prints it); other URIs as they are."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except ArgumentError:
        return uri


def _runtime_line(status: RuntimeStatus) -> str:
    if not status.running:
        return "not running"
    since = f", since {status.started:%Y-%m-%d %H:%M:%S}" if status.started else ""
    return f"running, pid {status.pid}{since}" if status.pid else "running"


def _info(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    b = ws.backend
    jobs = ws.jobs.list(include_interactive=False)
    by_status: dict[str, int] = {}
    for job in jobs:
        by_status[str(job.status)] = by_status.get(str(job.status), 0) + 1
    print(f"workspace:   {ws.name}\npath:        {ws.path}")
    print(f"backend:     {b.kind}\nmetadata:    {_redacted(b.metadata_uri)}")
    print(f"tracking:    {_redacted(b.tracking_uri)}\nartifacts:   {b.artifacts_uri}")
    print(f"supervisor:  {_runtime_line(ws.runtime.status())}")
    print(f"jobs:        {len(jobs)} " + (f"({', '.join(f'{k}: {v}' for k, v in sorted(by_status.items()))})" if jobs else ""))
    print(f"experiments: {', '.join(ws.jobs.list_experiments())}")
    return 0


def _server(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    if args.action == "status":
        print(_runtime_line(ws.runtime.status()))
    elif args.action == "start":
        print("started" if ws.runtime.start() else "already running")
    else:
        return _stop_server(ws, force=args.force, stop_all=args.stop_all)
    return 0


def _stop_server(ws: Workspace, *, force: bool, stop_all: bool) -> int:
    """Stop the supervisor, unless a studio is attached: its kernels would start it again at once."""
    from studio_ext._studio_link import running_studio

    studio = running_studio(ws.path)
    if studio is not None and not force:
        print(f"A studio is attached to this workspace: JupyterLab pid {studio.pid} at {studio.url}lab. "
              "Its pages and kernels would start the supervisor again within seconds. Stop JupyterLab first "
              f"(Ctrl-C in its terminal, or kill {studio.pid}), or pass --force.", file=sys.stderr)
        return 1
    print("supervisor stopped" if ws.runtime.stop() else "supervisor was not running")
    if stop_all:
        from studio_ext.backends.local.endpoints.duty import stop_endpoint_processes

        for line in stop_endpoint_processes(ws.backend):  # type: ignore[arg-type]
            print(f"stopped {line}")
        from studio_ext.backends.local.batch.duty import stop_gateway

        for line in stop_gateway(ws.backend):  # type: ignore[arg-type]
            print(f"stopped {line}")
    if studio is not None:
        print(f"warning: the studio (pid {studio.pid}) is still attached and may start the supervisor again.",
              file=sys.stderr)
    return 0


def studio_environment(ws: Workspace) -> dict[str, str]:
    """The environment JupyterLab (and so every kernel it starts) gets for ``ws``.

    As on an Azure ML compute instance, a notebook's plain ``mlflow`` calls land in the
    workspace: MLFLOW_TRACKING_URI points at it, and MLflow's default artifact root
    (what ``Workspace.mlflow_tracking_uri`` sets) at its artifact store. As a compute
    instance's kernel has Microsoft's ``mltable``, ``import mltable`` works: the PYTHONPATH
    holds the hook that gives the studio's stand-in where the real package is absent
    (:mod:`studio_ext.compat`); ``mltable.load("azureml:NAME:VERSION")`` finds the asset in
    ``$STUDIO_EXT_WORKSPACE``.
    """
    env = dict(os.environ, STUDIO_EXT_WORKSPACE=str(ws.path))
    env["MLFLOW_TRACKING_URI"] = ws.mlflow_tracking_uri
    env["_MLFLOW_SERVER_ARTIFACT_ROOT"] = ws.backend.artifacts_uri
    env["PYTHONPATH"] = with_fallback_hook(env.get("PYTHONPATH"))
    return env


# JupyterLab's main, after its server extensions' imports: voila turns traitlets' deprecation
# warnings back on when imported, so they are silenced after it (a -W flag would be overridden);
# MLflow's logger (set up on import) is lowered here, not by environment, so kernels keep theirs.
_QUIET_LAB = ("import importlib.util, sys, warnings; "
              "importlib.util.find_spec('voila') and __import__('voila'); "
              "warnings.filterwarnings('ignore', category=DeprecationWarning); "
              "import logging, mlflow; logging.getLogger('mlflow').setLevel(logging.WARNING); "
              "sys.argv[0] = 'jupyter-lab'; from jupyterlab.labapp import main; sys.exit(main())")


def studio_command(port: int, root: Path) -> list[str]:
    """The JupyterLab command line ``studio-ext studio`` runs: warnings and errors only on the
    terminal (no INFO lines, no deprecation warnings of its libraries), so the studio's URL,
    printed once the server listens, is the last line."""
    cmd = [sys.executable, "-c", _QUIET_LAB, "--no-browser",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", f"--ServerApp.root_dir={root}",
           "--ServerApp.log_level=WARN", "--LabApp.log_level=WARN"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def quiet_libraries() -> None:
    """Keep library INFO lines (MLflow creating its tables, Alembic's migrations) and deprecation
    warnings out of the terminal of ``studio-ext studio``; the studio's own lines stay."""
    import logging
    import warnings

    import mlflow  # noqa: F401 - sets up its logger on import; lowered below

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def studio_workspace_path(path: str | None, *, demo: bool = False) -> tuple[Path, bool]:
    """The folder ``studio-ext studio`` opens, and whether it gets the demo's content.

    Only the demo workspace does: asked for with ``--demo`` (``make studio``), or the
    default ``./demo-workspace`` when no folder is named. A folder the user names is
    opened as it is (a new one becomes an empty workspace).
    """
    if path is None:
        return Path("demo-workspace").resolve(), True
    return Path(path).expanduser().resolve(), demo


def _studio(args: argparse.Namespace) -> int:
    from studio_ext._studio_link import RUN_PARAM, WORKSPACE_PARAM, running_studio
    from studio_ext.demo import prepare_demo_workspace

    quiet_libraries()

    path, demo = studio_workspace_path(args.path or args.workspace, demo=args.demo)
    if demo:
        ws = prepare_demo_workspace(path)
        print(f"Demo workspace ready: {ws.path}")
    elif (path / WORKSPACE_FILE).is_file():
        ws = Workspace(path)
        print(f"Workspace {ws.name!r}: {ws.path}")
    else:  # the user's own new workspace: nothing of the demo's is added
        ws = Workspace.create(path)
        print(f"New workspace {ws.name!r}: {ws.path}")
    if args.no_lab:
        return 0
    params = {RUN_PARAM: args.run, WORKSPACE_PARAM: str(ws.path)} if args.run else None
    running = running_studio(ws.path)
    if running is not None:
        print(f"The studio already runs on this workspace (pid {running.pid}):\n  {running.lab_url(params)}")
        return 0
    root = Path.cwd()  # JupyterLab's file browser opens where the command was run
    print(f"Starting JupyterLab on http://127.0.0.1:{args.port}/lab (the URL with its token follows)", flush=True)
    process = subprocess.Popen(studio_command(args.port, root), env=studio_environment(ws))
    # A SIGTERM to this command stops JupyterLab too (its own shutdown removes its record).
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        while process.poll() is None:
            server = running_studio(ws.path)
            if server is not None and server.pid == process.pid:
                print(f"Studio: {server.lab_url()}", flush=True)
                if params:
                    print(f"Run {args.run}: {server.lab_url(params)}", flush=True)
                break
            time.sleep(0.3)
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()
