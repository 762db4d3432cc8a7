"""`studio-ext studio WS` (what `make studio` runs): the studio's URL is the last line on the
terminal, with no library INFO lines (MLflow creating its tables, JupyterLab's own) and no
deprecation warnings above it. The real command, the real JupyterLab."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from studio_ext import Workspace
from studio_ext._studio_link import running_studio
from tests.helpers import ServerProcess, serve, wait_until
from tests.jupyter.test_studio_link import _isolated_jupyter


def _env(base: Path) -> dict[str, str]:
    env = _isolated_jupyter(base)
    for name in ("PYTHONWARNINGS", "MLFLOW_LOGGING_LEVEL"):  # nothing from outside quiets it
        env.pop(name, None)
    return env


def test_the_url_is_printed_last_and_library_logs_stay_quiet(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws", name="startup")  # fresh: MLflow creates its tables on first use
    log = tmp_path / "studio.log"

    def argv(port: int) -> list[str]:
        return [sys.executable, "-m", "studio_ext.cli", "studio", str(ws.path), "--port", str(port)]

    def recorded(server: ServerProcess) -> bool:
        found = running_studio(ws.path)
        return found is not None and found.pid != server.process.pid

    try:
        with serve(argv, name="studio-ext studio", ready=recorded, log_path=log, cwd=tmp_path,
                   env=_env(tmp_path / "jupyter"), timeout=120):
            server = running_studio(ws.path)
            assert server is not None
            wait_until(lambda: f"Studio: {server.lab_url()}" in log.read_text(errors="replace"), timeout=30,
                       what="the studio's URL")
            time.sleep(3)  # what a server prints just after it listens would land here
            lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        assert lines[-1] == f"Studio: {server.lab_url()}", lines[-5:]
        text = "\n".join(lines)
        assert " INFO " not in text and "[I " not in text, text
        assert "Creating initial MLflow database tables" not in text
        assert "DeprecationWarning" not in text and "deprecated" not in text.lower(), text
        assert lines[0] == f"Workspace 'startup': {ws.path}"
    finally:
        ws.runtime.stop()
        ws.close()
