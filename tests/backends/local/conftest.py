"""Fixtures of the local backend's integration tests: a real PostgreSQL server.

``postgres_url`` starts a throwaway cluster once per session: initdb in a temp folder,
listening on 127.0.0.1 only. PostgreSQL refuses to run as root, so as root the server
runs as the ``postgres`` system user (``runuser``), with the folder owned by it.
Missing binaries fail the tests with a message saying how to install them
(scripts/test-prereqs.sh does).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import free_port


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail(
            "PostgreSQL server binaries are missing (no /usr/lib/postgresql/*/bin/initdb). "
            "Install them with scripts/test-prereqs.sh or `apt-get install postgresql`.",
            pytrace=False,
        )
    return Path(found[-1]).parent


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a cluster and yield its SQLAlchemy URL (psycopg2; database and user ``postgres``)."""
    bin_dir = _bin_dir()
    as_root = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="studio-pg-"))
    prefix: list[str] = []
    if as_root:
        user = pwd.getpwnam("postgres")
        os.chmod(root, 0o700)
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    password = "pw-" + os.urandom(6).hex()
    pwfile = root / "pwfile"
    pwfile.write_text(password)
    if as_root:
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, timeout=120)

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=md5", f"--pwfile={pwfile}", "-E", "UTF8")
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60",
            "-o", f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off", "start")
    except subprocess.CalledProcessError as exc:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {exc.stderr or exc.stdout}\n{log}", pytrace=False)
    try:
        yield f"postgresql+psycopg2://postgres:{password}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The SQLAlchemy URL of a PostgreSQL server started for this test session."""
    with postgres_server() as url:
        yield url
