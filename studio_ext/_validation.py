"""Checks shared by every service: asset names and paths that must stay in a root."""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path

from studio_ext.errors import InvalidInput, UnsafePath

# Azure ML asset names: letters, digits, '-', '_', '.', starting with a letter or digit.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


def check_name(value: object, what: str = "name") -> str:
    """Return ``value`` if it is a safe asset name, else raise ``InvalidInput``.

    Names become folder names and URL segments, so path characters and ``..``
    are refused outright.
    """
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"The {what} must be a non-empty string. Got {value!r} instead.")
    if "/" in value or "\\" in value or ".." in value or "\x00" in value:
        raise UnsafePath(
            f"The {what} {value!r} contains a path character or '..'. "
            "Use letters, digits, '-', '_' and '.' only."
        )
    if not _NAME.match(value):
        raise InvalidInput(
            f"The {what} {value!r} is not valid. Use 1-255 letters, digits, '-', '_' "
            "or '.', starting with a letter or digit."
        )
    return value


def resolve_inside(root: Path, relative: str, what: str = "path") -> Path:
    """Resolve ``relative`` under ``root`` and refuse anything that escapes it.

    Percent-encoding is decoded first (``%2e%2e``), absolute paths, NUL bytes,
    URL schemes and symlinks that point outside are all refused.
    """
    if not isinstance(relative, str):
        raise InvalidInput(f"The {what} must be a string. Got {relative!r} instead.")
    decoded = relative
    for _ in range(3):  # undo double encoding too
        decoded = urllib.parse.unquote(decoded)
    if "\x00" in decoded:
        raise UnsafePath(f"The {what} {relative!r} contains a NUL byte.")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", decoded):
        raise UnsafePath(f"The {what} {relative!r} has a scheme; give a path relative to its root.")
    if decoded.startswith(("/", "\\")) or os.path.isabs(decoded):
        raise UnsafePath(f"The {what} {relative!r} is absolute; give a path relative to its root.")
    parts = re.split(r"[\\/]+", decoded)
    if ".." in parts:
        raise UnsafePath(f"The {what} {relative!r} contains '..'; it must stay inside its root.")
    root_real = Path(os.path.realpath(root))
    target = Path(os.path.realpath(root_real / decoded))
    if target != root_real and root_real not in target.parents:
        raise UnsafePath(
            f"The {what} {relative!r} resolves outside its root (a symlink pointing out?)."
        )
    return target
