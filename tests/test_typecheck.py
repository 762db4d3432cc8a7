"""The type check (`make typecheck`) refuses a backend class that breaks its service Protocol."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BROKEN = '''
from __future__ import annotations

from studio_ext.entities import Model
from studio_ext.services import ModelOperations


class BrokenModels(ModelOperations):
    """Changes a signature (get takes an int) and forgets download, archive and restore."""

    def create_or_update(self, model: Model) -> Model:
        return model

    def get(self, name: int, version: int | str | None = None, label: str | None = None) -> Model:
        raise NotImplementedError

    def list(self, name: str | None = None, *, tags: dict[str, str] | None = None,
             properties: dict[str, str] | None = None, include_archived: bool = False) -> list[Model]:
        return []


def build() -> ModelOperations:
    return BrokenModels()
'''


def _copy_checkout_cache(target: Path) -> None:
    """A copy of the checkout's mypy cache, if there is one (`make test` runs `make typecheck` first).

    mypy then reads studio_ext's types from it rather than analysing the package anew (seconds, not a
    minute on CI) and rechecks whatever changed since; the checkout's own cache is never written. The
    SQLite files are copied through SQLite's backup, a consistent copy even while another mypy writes.
    """
    source = ROOT / ".mypy_cache"
    for path in source.rglob("*"):
        if not path.is_file() or path.name.endswith(("-journal", "-wal", "-shm")):
            continue
        copy = target / path.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".db":
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as src, sqlite3.connect(copy) as dst:
                src.backup(dst)
            src.close()
            dst.close()
        else:
            shutil.copy2(path, copy)


@pytest.mark.slow
def test_mypy_with_the_project_settings_refuses_a_class_that_breaks_its_protocol(tmp_path: Path) -> None:
    module = tmp_path / "broken_backend.py"
    module.write_text(textwrap.dedent(BROKEN))
    cache = tmp_path / "cache"
    _copy_checkout_cache(cache)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(cache), str(module)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'Argument 1 of "get" is incompatible with supertype' in result.stdout and "[override]" in result.stdout
    assert 'Cannot instantiate abstract class "BrokenModels"' in result.stdout and "[abstract]" in result.stdout
