"""A webhook receiver on 127.0.0.1 (a real HTTP server process) for the monitors' alerts."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import serve

HOOK = '''
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
out = sys.argv[2]
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(out, "a") as f:
            f.write(body.decode() + "\\n")
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''


@pytest.fixture(scope="module")
def hook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(the URL alerts are POSTed to, the file each POSTed body is appended to as a line)."""
    folder = tmp_path_factory.mktemp("hook")
    (folder / "hook.py").write_text(HOOK)
    received = folder / "received.jsonl"
    with serve(lambda port: [sys.executable, str(folder / "hook.py"), str(port), str(received)], name="webhook") as s:
        yield f"http://127.0.0.1:{s.port}/alerts", received
