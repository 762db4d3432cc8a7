"""Keys files and the orphan watch that lets servers outlive kernels but not a stopped supervisor."""

from __future__ import annotations

import asyncio
import os
import shutil
import time

from studio_ext.serving import endpoint_files as files


def test_keys_are_private_and_a_rewrite_is_seen_by_the_checker(tmp_path):
    path = files.keys_path(tmp_path, "ep")
    files.write_private_json(path, {"primary": "p1", "secondary": "s1"})
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    checker = files.KeyChecker(path)
    assert checker.check(b"Bearer p1") and checker.check(b"bearer s1")
    assert not checker.check(b"p1") and not checker.check(b"Bearer p") and not checker.check(None)
    files.write_private_json(path, {"primary": "p1", "secondary": "s2"})
    time.sleep(files.KEY_RECHECK_SECONDS * 2)
    assert not checker.check(b"Bearer s1") and checker.check(b"Bearer s2")
    assert [p.name for p in path.parent.iterdir()] == ["keys.json"]  # no temporary file left behind


def test_servers_exit_once_the_supervisor_has_been_silent_too_long(tmp_path):
    (tmp_path / "workspace.toml").write_text('name = "ws"\n')
    beat = files.endpoints_root(tmp_path) / files.HEARTBEAT
    beat.parent.mkdir(parents=True)
    beat.touch()
    assert files.supervisor_silence(tmp_path) < 5
    os.utime(beat, (time.time() - 100, time.time() - 100))
    called = []
    asyncio.run(asyncio.wait_for(files.exit_when_orphaned(tmp_path, 0.2, lambda: called.append(True)), 5))
    assert called == [True]
    assert files.supervisor_silence(tmp_path / "nowhere") == float("inf")


def test_servers_exit_soon_after_their_workspace_folder_goes_even_if_one_is_made_again(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "ORPHAN_CHECK_SECONDS", 0.05, raising=False)
    ws = tmp_path / "ws"
    beat = files.endpoints_root(ws) / files.HEARTBEAT
    beat.parent.mkdir(parents=True)
    beat.touch()
    (ws / "workspace.toml").write_text('name = "ws"\n')
    called = []

    async def scenario() -> None:
        watch = asyncio.create_task(files.exit_when_orphaned(ws, 600, lambda: called.append(True)))
        await asyncio.sleep(0.3)
        assert not called  # the supervisor's heartbeat is fresh: servers stay
        shutil.rmtree(ws)  # deleted, then the same path made again with a fresh heartbeat (a writer that outlived it)
        beat.parent.mkdir(parents=True)
        beat.touch()
        await asyncio.wait_for(watch, 5)

    asyncio.run(scenario())
    assert called == [True]
    called.clear()
    asyncio.run(asyncio.wait_for(files.exit_when_orphaned(tmp_path / "never-there", 600, lambda: called.append(True)), 5))
    assert called == [True]  # a server whose workspace is gone before it looks exits at once
