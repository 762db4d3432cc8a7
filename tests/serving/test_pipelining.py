"""HTTP/1.1 pipelining: every request written at once is answered, in order, on both hops.

The router's and the deployment server's own connection classes are served in this
process on the asyncio loop and on uvloop, with a scoring script whose answers take
a thread hop (as real scoring does). Three keep-alive requests are written in one
go, once leaving the connection open and once half-closing it after the last byte
(as ``nc`` and many load tools do): all three must come back. The real servers are
checked in test_reliability.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import uvloop

from studio_ext.serving.endpoint_files import write_private_json
from studio_ext.serving.router import Client, Router
from studio_ext.serving.scoring_app import ScoringApp, ScoringConnection

SCRIPT = '''
import json

def init():
    pass

def run(raw_data):
    return {"echo": json.loads(raw_data)["n"]}
'''


def _request(n: int, key: str) -> bytes:
    body = json.dumps({"n": n}).encode()
    return (b"POST /score HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer %b\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%b" % (key.encode(), len(body), body))


async def _pipelined(port: int, key: str, half_close: bool) -> list[bytes]:
    """Write three requests at once; read answers until three are whole or the server goes quiet."""
    import httptools

    answers: list[bytes] = []

    class Answers:
        def on_body(self, body: bytes) -> None:
            answers.append(body)

    parser = httptools.HttpResponseParser(Answers())
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(_request(n, key) for n in (1, 2, 3)))
    if half_close:
        writer.write_eof()
    try:
        while len(answers) < 3:
            data = await asyncio.wait_for(reader.read(65536), 5)
            if not data:
                break
            parser.feed_data(data)
        if half_close:  # once all are answered the server closes its side too
            assert await asyncio.wait_for(reader.read(1), 5) == b""
    except TimeoutError:
        pass
    finally:
        writer.close()
    return answers


@pytest.fixture
def servers(tmp_path: Path) -> dict:
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text(SCRIPT)
    keys = tmp_path / "keys.json"
    write_private_json(keys, {"primary": "key-1", "secondary": "key-2"})
    config = {"endpoint": "pipe", "deployment": "blue", "workspace": str(tmp_path), "keys_path": str(keys),
              "code_dir": str(code), "scoring_script": "score.py", "request_settings": {}, "code_version": 0,
              "failure_dir": str(tmp_path / "failures"), "model": None, "config_path": str(tmp_path / "server.json")}
    return {"config": config, "router_json": tmp_path / "router.json", "keys": keys}


async def _serve_both(servers: dict, half_close: bool) -> dict[str, list[bytes]]:
    loop = asyncio.get_running_loop()
    app = ScoringApp(dict(servers["config"]))
    await loop.run_in_executor(None, app.load)
    app.become_ready()
    deployment = await loop.create_server(lambda: ScoringConnection(app), "127.0.0.1", 0)
    port = deployment.sockets[0].getsockname()[1]
    servers["router_json"].write_text(json.dumps({
        "endpoint": "pipe", "workspace": servers["config"]["workspace"], "keys_path": str(servers["keys"]),
        "deployments": {"blue": [port]}, "traffic": {"blue": 100}}))
    router = Router(servers["router_json"])
    front = await loop.create_server(lambda: Client(router), "127.0.0.1", 0)
    front_port = front.sockets[0].getsockname()[1]
    try:
        got = {"deployment": await _pipelined(port, "key-1", half_close)}
        # Twice through the router: first over new upstream connections, then over pooled ones
        # (the router's task-free path).
        got["router"] = await _pipelined(front_port, "key-1", half_close)
        got["router, pooled"] = await _pipelined(front_port, "key-1", half_close)
        return got
    finally:
        front.close()
        deployment.close()


@pytest.mark.parametrize("half_close", [False, True], ids=["open", "half-closed"])
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_three_pipelined_requests_get_three_answers_in_order(servers, loop, half_close):
    run = asyncio.run if loop == "asyncio" else uvloop.run
    got = run(_serve_both(servers, half_close))
    expected = [b'{"echo":1}', b'{"echo":2}', b'{"echo":3}']
    assert got == {"deployment": expected, "router": expected, "router, pooled": expected}
