"""Mini-batches of a batch scoring job, and the output folder's committed state.

Planning (:func:`plan`) turns the job's input into numbered mini-batches, the same ones for
the same input every time:

- a file (``uri_file``): one mini-batch of that file;
- a folder (``uri_folder``): its files in sorted order of their relative paths (names starting
  with ``.`` skipped), ``mini_batch_size`` files a mini-batch;
- a folder with an ``MLTable`` file (``mltable``): the table read with the studio's MLTable
  engine into one Parquet file, one row group a mini-batch. ``mini_batch_size`` is then the
  size of a mini-batch's records in bytes, as Azure reads it for tabular data.

The output folder (:class:`OutputState`) keeps its bookkeeping in ``.batch/``: ``plan.json``
(what was planned, and from what), ``rows.dat`` (the committed mini-batches' rows, each
appended whole and flushed to disk) and ``manifest.jsonl`` (one line per committed
mini-batch, naming where its rows are in ``rows.dat``, appended and flushed to disk after
them). A mini-batch counts as done only when its line is there and its rows are within
``rows.dat``, so a driver killed at any moment loses at most the mini-batches in flight
(bytes it appended with no line after them are never read), and a mini-batch scored twice
is read once, from its last line. The output file is built from those rows in mini-batch
order, so the same input gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ERRORS_FILE", "STATE_DIR", "MiniBatch", "OutputState", "Plan", "plan"]

STATE_DIR = ".batch"
ERRORS_FILE = "batch_errors.json"
MLTABLE_FILE = "MLTable"
ROWS_FILE = "rows.dat"


@dataclass(frozen=True)
class MiniBatch:
    """One mini-batch: its number, what ``run()`` gets (file paths, or a row group of the table) and its size."""

    index: int
    items: tuple[str, ...] | tuple[str, int, int]
    count: int  # files, or rows of a table
    label: str  # what the failed-items list names: the files, or the table's rows

    @property
    def payload(self) -> Any:
        """What is sent to the worker: a list of paths, or ``(parquet, row_group, first_row)``."""
        return list(self.items) if self.label != "rows" else tuple(self.items)

    def names(self) -> list[str]:
        if self.label == "rows":
            _, _, start = self.items
            return [f"rows {start}-{int(start) + self.count - 1}"]
        return [str(p) for p in self.items]


@dataclass
class Plan:
    """The mini-batches of one input, and a fingerprint of what they were planned from."""

    kind: str  # "uri_file", "uri_folder" or "mltable"
    batches: list[MiniBatch]
    fingerprint: str
    items: int


def plan(input_path: Path, mini_batch_size: int, state_dir: Path, *, settings: dict[str, Any]) -> Plan:
    """The mini-batches of ``input_path`` (see the module docstring); ``settings`` enter the fingerprint."""
    if mini_batch_size < 1:
        raise ValueError(f"mini_batch_size must be at least 1; got {mini_batch_size}.")
    if input_path.is_dir() and (input_path / MLTABLE_FILE).is_file():
        return _plan_table(input_path, mini_batch_size, state_dir, settings)
    if input_path.is_file():
        files, kind = [input_path], "uri_file"
    elif input_path.is_dir():
        files, kind = _folder_files(input_path), "uri_folder"
    else:
        raise FileNotFoundError(f"The input {input_path} does not exist.")
    batches = [MiniBatch(i, tuple(str(p) for p in chunk), len(chunk), "files")
               for i, chunk in enumerate(_chunks(files, mini_batch_size))]
    base = input_path if input_path.is_dir() else input_path.parent
    listing = [(p.relative_to(base).as_posix(), p.stat().st_size) for p in files]
    return Plan(kind, batches, _fingerprint(kind, listing, mini_batch_size, settings), len(files))


def _folder_files(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(root) / n for n in names if not n.startswith("."))
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _chunks(items: list[Path], size: int) -> Iterable[list[Path]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _plan_table(folder: Path, mini_batch_size: int, state_dir: Path, settings: dict[str, Any]) -> Plan:
    """Read the MLTable into ``state_dir/table.parquet``, one row group per mini-batch."""
    import pyarrow.parquet as pq

    from studio_ext.ml import mltable

    spec = mltable.load(folder)
    files = [f for entry in spec.paths for f in mltable.local_files(entry, folder)]
    listing = [(label, path.stat().st_size) for path, label in files]
    fingerprint = _fingerprint("mltable", [(spec.text, 0), *listing], mini_batch_size, settings)
    table_path = state_dir / "table.parquet"
    marker = state_dir / "table.json"
    if not (marker.is_file() and json.loads(marker.read_text()).get("fingerprint") == fingerprint):
        scratch = state_dir / "scratch"
        raw = state_dir / "table-read.parquet"
        mltable.materialize(spec, files, raw, scratch=scratch)
        table = pq.read_table(raw)
        row_bytes = max(1, table.nbytes // max(1, table.num_rows))
        rows_per_batch = max(1, mini_batch_size // row_bytes)
        tmp = table_path.with_suffix(".tmp")
        pq.write_table(table, tmp, row_group_size=rows_per_batch)
        os.replace(tmp, table_path)
        raw.unlink()
        shutil.rmtree(scratch, ignore_errors=True)
        marker.write_text(json.dumps({"fingerprint": fingerprint}))
    meta = pq.ParquetFile(table_path).metadata
    batches, start = [], 0
    for group in range(meta.num_row_groups):
        rows = meta.row_group(group).num_rows
        batches.append(MiniBatch(group, (str(table_path), group, start), rows, "rows"))
        start += rows
    return Plan("mltable", batches, fingerprint, start)


def _fingerprint(kind: str, listing: list[tuple[str, int]], size: int, settings: dict[str, Any]) -> str:
    doc = json.dumps({"kind": kind, "listing": listing, "mini_batch_size": size, "settings": settings},
                     sort_keys=True, default=str)
    return hashlib.sha256(doc.encode()).hexdigest()


class OutputState:
    """The output folder of one scoring job: committed mini-batches, their rows, the output file."""

    def __init__(self, folder: Path, output_file_name: str | None) -> None:
        self.folder = folder
        self.dir = folder / STATE_DIR
        self.rows_file = self.dir / ROWS_FILE
        self.manifest = self.dir / "manifest.jsonl"
        self.output_file = folder / output_file_name if output_file_name else None
        self._entries: dict[int, dict[str, Any]] = {}  # committed mini-batches: where their rows are
        self._rows: Any = None  # rows.dat, open for appending while commits come

    def open(self, fingerprint: str) -> tuple[dict[int, dict[str, Any]], str | None]:
        """Make the folder ready; return the committed mini-batches and a note when earlier state was dropped.

        State from a different plan (another input, other settings) is dropped: its rows
        would mix two jobs' rows.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        plan_file = self.dir / "plan.json"
        note = None
        if plan_file.is_file():
            old = json.loads(plan_file.read_text()).get("fingerprint")
            if old != fingerprint:
                note = ("The output folder held a run of another input or other settings; starting it over "
                        "(its committed mini-batches do not belong to this one).")
                self._clear()
        _write_atomic(plan_file, json.dumps({"fingerprint": fingerprint}).encode())
        self._entries = self._committed()
        return dict(self._entries), note

    def open_table_dir(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        return self.dir

    def _clear(self) -> None:
        for name in (ROWS_FILE, "manifest.jsonl", "done.json"):
            (self.dir / name).unlink(missing_ok=True)
        shutil.rmtree(self.dir / "parts", ignore_errors=True)  # an earlier version's layout

    def _committed(self) -> dict[int, dict[str, Any]]:
        """Manifest entries whose rows are within rows.dat (or that have none: summary only); the last per mini-batch."""
        done: dict[int, dict[str, Any]] = {}
        if not self.manifest.is_file():
            return done
        size = self.rows_file.stat().st_size if self.rows_file.is_file() else 0
        for line in self.manifest.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash: that mini-batch was not committed
            if entry.get("bytes") is None or (isinstance(entry.get("offset"), int)
                                              and entry["offset"] + entry["bytes"] <= size):
                done[int(entry["index"])] = entry
        return done

    def commit(self, index: int, rows: int, text: str | bytes | None, attempts: int) -> dict[str, Any]:
        """Append mini-batch ``index``'s rows to rows.dat and flush them to disk, then record it in the manifest.

        Called from one thread at a time (the driver's commit thread).
        """
        entry: dict[str, Any] = {"index": index, "rows": rows, "attempts": attempts, "bytes": None}
        if text is not None:
            data = text if isinstance(text, bytes) else text.encode("utf-8")
            if self._rows is None:
                created = not self.rows_file.exists()
                self._rows = open(self.rows_file, "ab")  # kept open across commits; close() closes it
                if created:
                    _fsync_dir(self.dir)
            offset = self._rows.seek(0, os.SEEK_END)  # after any bytes a killed run appended with no line
            self._rows.write(data)
            self._rows.flush()
            os.fsync(self._rows.fileno())
            entry.update(offset=offset, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        with open(self.manifest, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._entries[index] = entry
        return entry

    def close(self) -> None:
        if self._rows is not None:
            self._rows.close()
            self._rows = None

    def assemble(self, indices: list[int]) -> int:
        """Write the output file from the committed rows in mini-batch order; return its size in bytes."""
        assert self.output_file is not None
        self.close()
        tmp = self.output_file.with_name(f".{self.output_file.name}.tmp")
        with open(tmp, "wb") as out:
            if self.rows_file.is_file():
                with open(self.rows_file, "rb") as rows:
                    for index in sorted(indices):
                        entry = self._entries.get(index)
                        if entry and entry.get("bytes"):
                            out.write(_read_at(rows.fileno(), entry["offset"], entry["bytes"]))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.output_file)
        _fsync_dir(self.folder)
        return self.output_file.stat().st_size

    def finish(self, complete: bool, summary: dict[str, Any]) -> None:
        """Record the outcome; once every mini-batch is in the output file, rows.dat and the table copy go."""
        self.close()
        _write_atomic(self.dir / "done.json", json.dumps({**summary, "complete": complete}, indent=1).encode())
        if complete:  # the output folder is downloaded with the job's outputs: keep it to what it says
            if self.output_file is not None:
                self.rows_file.unlink(missing_ok=True)
            for name in ("table.parquet", "table.json"):
                (self.dir / name).unlink(missing_ok=True)

    def already_done(self) -> dict[str, Any] | None:
        """The summary of a finished run whose output file is still as written, else None."""
        done = self.dir / "done.json"
        if not done.is_file():
            return None
        summary: dict[str, Any] = json.loads(done.read_text())
        if not summary.get("complete"):
            return None
        if self.output_file is not None:
            if not self.output_file.is_file() or self.output_file.stat().st_size != summary.get("output_bytes"):
                return None
        return summary


def _read_at(fd: int, offset: int, size: int) -> bytes:
    chunks, done = [], 0
    while done < size:
        chunk = os.pread(fd, size - done, offset + done)
        if not chunk:
            raise OSError(f"rows.dat ends before the {size} bytes at {offset} its manifest names")
        chunks.append(chunk)
        done += len(chunk)
    return b"".join(chunks)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
