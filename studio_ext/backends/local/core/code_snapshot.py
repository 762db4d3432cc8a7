"""The one rule for copying a code folder: a job's snapshot and a deployment's code alike.

- Links are never followed. A link whose target stays inside the folder is kept as a
  link, rewritten relative, so the copy means what the folder meant (a loop such as
  ``ln -s . a`` stays a harmless link instead of an endless copy).
- A link whose target leaves the folder (``/etc/passwd``, ``..``) is refused, naming it:
  the copy would otherwise carry whatever it points to.
- Anything other than files, folders and links (a FIFO, a socket, a device) is refused.
- ``.git``, ``__pycache__``, ``.venv``, ``.ipynb_checkpoints`` and ``mlruns`` are left out.
- The folder may hold at most ``STUDIO_EXT_CODE_MAX_MB`` MB (default 1024) in at most
  ``STUDIO_EXT_CODE_MAX_FILES`` entries (default 50,000), counted before anything is copied.
- The copy is built beside its destination and renamed into place, so a failed or killed
  copy never shows as half a folder; :func:`sweep_partials` removes what a killed one left.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from studio_ext.errors import InvalidInput, UnsafePath

IGNORED = frozenset({".git", "__pycache__", ".venv", ".ipynb_checkpoints", "mlruns"})
MAX_MB_VARIABLE = "STUDIO_EXT_CODE_MAX_MB"
MAX_FILES_VARIABLE = "STUDIO_EXT_CODE_MAX_FILES"
DEFAULT_MAX_MB = 1024
DEFAULT_MAX_FILES = 50_000
PARTIAL_PREFIX = ".partial-"

_MOVE_OUT = ("Move data, outputs and environments out of the code folder and pass data to the job as an "
             "input (Input(type='uri_folder', path=...)), or raise the limit with ")


@dataclass(frozen=True)
class CodeLimits:
    """How much a code folder may hold; ``from_env`` reads the two variables."""

    max_bytes: int = DEFAULT_MAX_MB << 20
    max_files: int = DEFAULT_MAX_FILES

    @classmethod
    def from_env(cls) -> CodeLimits:
        return cls(max_bytes=_env_int(MAX_MB_VARIABLE, DEFAULT_MAX_MB) << 20,
                   max_files=_env_int(MAX_FILES_VARIABLE, DEFAULT_MAX_FILES))


@dataclass
class CodePlan:
    """What a copy of ``root`` will hold, checked: folders, files with sizes, links with relative targets."""

    root: Path
    folders: list[str] = field(default_factory=list)
    files: list[tuple[str, int]] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    size: int = 0


def scan(source: Path, limits: CodeLimits | None = None) -> CodePlan:
    """Walk ``source`` without following links; refuse what the rule refuses. Nothing is written."""
    limits = limits or CodeLimits.from_env()
    root = Path(os.path.realpath(source))
    plan = CodePlan(root=root)
    pending = [""]
    count = 0
    while pending:
        rel_dir = pending.pop()
        try:
            entries = sorted(os.scandir(root / rel_dir), key=lambda e: e.name)
        except OSError as exc:
            raise InvalidInput(f"The code folder {str(root)!r} could not be read at {rel_dir or '.'!r}: "
                               f"{exc.strerror or exc}.") from None
        for entry in entries:
            if entry.name in IGNORED:
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            count += 1
            if count > limits.max_files:
                raise InvalidInput(
                    f"The code folder {str(root)!r} holds more than {limits.max_files:,} files and folders; "
                    f"it is copied for every job and deployment. {_MOVE_OUT}{MAX_FILES_VARIABLE}.")
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                plan.links.append((rel, _inside_target(root, rel)))
            elif stat.S_ISDIR(info.st_mode):
                plan.folders.append(rel)
                pending.append(rel)
            elif stat.S_ISREG(info.st_mode):
                plan.files.append((rel, info.st_size))
                plan.size += info.st_size
                if plan.size > limits.max_bytes:
                    raise InvalidInput(
                        f"The code folder {str(root)!r} holds more than {_megabytes(limits.max_bytes)}; it is "
                        f"copied for every job and deployment. {_MOVE_OUT}{MAX_MB_VARIABLE} (in MB).")
            else:
                raise InvalidInput(f"The code folder contains {rel!r}, which is not a file, folder or link "
                                   "(a FIFO, socket or device); remove it from the folder and try again.")
    return plan


def copy(plan: CodePlan, dest: Path) -> Path:
    """Write the planned copy of ``plan.root`` at ``dest`` (which must not exist), beside it first."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(dest.parent)
    try:
        partial.mkdir()
        for rel in plan.folders:
            (partial / rel).mkdir()
        for rel, _ in plan.files:
            _copy_file(plan.root / rel, partial / rel)
        for rel, target in plan.links:
            os.symlink(target, partial / rel)
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return dest


def snapshot_code(source: Path, dest: Path, *, limits: CodeLimits | None = None, replace: bool = False) -> Path:
    """Copy the code folder ``source`` to ``dest`` under the rule above.

    With ``replace``, an existing ``dest`` is swapped out only once the new copy is whole
    (a running server never sees half a copy).
    """
    plan = scan(source, limits)
    sweep_partials(dest.parent)
    if not replace:
        return copy(plan, dest)
    fresh = copy(plan, partial_path(dest.parent, "new"))
    old = partial_path(dest.parent, "old")
    if dest.exists():
        dest.rename(old)
    fresh.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest


def partial_path(parent: Path, suffix: str = "") -> Path:
    """A fresh name in ``parent`` for something built aside; :func:`sweep_partials` knows it by its prefix."""
    return parent / f"{PARTIAL_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{'-' + suffix if suffix else ''}"


def sweep_partials(folder: Path) -> None:
    """Remove the partial copies in ``folder`` whose process is gone (killed mid-copy)."""
    try:
        entries = [p for p in folder.iterdir() if p.name.startswith(PARTIAL_PREFIX)]
    except OSError:
        return
    for entry in entries:
        pid = entry.name[len(PARTIAL_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _inside_target(root: Path, rel: str) -> str:
    """The link's target relative to where it sits; refused when it leaves ``root``."""
    where = root / rel
    target = Path(os.path.realpath(where))
    if target != root and root not in target.parents:
        raise UnsafePath(
            f"The code folder contains a symbolic link that leaves it ({rel} -> {os.readlink(where)}); "
            "copy the real file in its place, or pass what it points to as an input, and try again.")
    return os.path.relpath(target, where.parent)


def _copy_file(src: Path, dest: Path) -> None:
    # O_NOFOLLOW: a file swapped for a link after the scan is refused, not followed.
    fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fin, open(dest, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    shutil.copystat(src, dest, follow_symlinks=False)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise InvalidInput(f"{name} must be a positive whole number. Got {raw!r} instead.")
    return int(raw)


def _megabytes(n: int) -> str:
    return f"{n / (1 << 30):g} GiB" if n % (1 << 30) == 0 else f"{n >> 20:,} MB"
