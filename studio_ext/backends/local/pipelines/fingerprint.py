"""Content hashes for step reuse: of a file or folder (its relative paths and bytes), of a step's recipe."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from studio_ext.backends.local.core.code_snapshot import IGNORED


def content_hash(path: str | os.PathLike[str] | None) -> str:
    """sha256 of a file's bytes, or of a folder's files (relative path and bytes, in order); "" for None."""
    if path is None:
        return ""
    root = Path(path)
    digest = hashlib.sha256()
    if root.is_file():
        _file(digest, root)
        return digest.hexdigest()
    if not root.exists():
        return "missing:" + str(root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED)
        for name in sorted(filenames):
            if name in IGNORED:
                continue
            file = Path(dirpath) / name
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
            _file(digest, file)
    return digest.hexdigest()


def _file(digest: Any, file: Path) -> None:
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def recipe_hash(recipe: dict[str, Any]) -> str:
    """sha256 of a step's recipe (component, code hash, environment, input hashes, parameters), as JSON."""
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()
