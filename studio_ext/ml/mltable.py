"""MLTable folders (Azure ML's ``mltable`` data assets) read into one Parquet file.

An MLTable folder holds a YAML file named ``MLTable`` beside (or pointing at) its data::

    paths:
      - pattern: ./*.csv
    transformations:
      - read_delimited:
          delimiter: ','
          header: all_files_same_headers

Pure: the ``MLTable`` text and local files in, a Parquet file and a summary out; no
workspace. Paths that name remote storage (``azureml://``, ``https://``) are fetched by the
caller, which hands :func:`materialize` the local copies. The transformations are applied
in order, batch by batch, so memory stays flat:

- read: ``read_delimited`` (delimiter, header, encoding, empty_as_string,
  include_path_column, infer_column_types, support_multi_line), ``read_parquet``
  (include_path_column), ``read_json_lines`` (include_path_column, invalid_lines,
  encoding). No read step gives Azure's table of paths: one ``Path`` column.
- then: ``take``, ``skip``, ``take_random_sample`` (probability, seed), ``drop_columns``,
  ``keep_columns``, ``filter`` (``col("x") > 3 and col("y") == "a"``) and
  ``convert_column_types`` (int, float, string, boolean, datetime with formats).

``read_delta_lake`` and ``extract_columns_from_partition_format`` are refused by name.
Quoted line breaks in delimited files are always read as part of their value (what Azure
does with ``support_multi_line: true``); ``false`` is accepted and changes nothing.
"""

from __future__ import annotations

import abc
import ast
import codecs
import io
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq
import yaml

from studio_ext.entities._data import DelimitedReadOptions, HeaderMode
from studio_ext.errors import InvalidInput, UnsafePath
from studio_ext.ml import delimited

__all__ = [
    "MINIMAL_MLTABLE",
    "MLTABLE_FILE",
    "MLTableSpec",
    "Materialized",
    "PathEntry",
    "load",
    "local_files",
    "materialize",
    "parquet_mltable",
    "parse",
]

MLTABLE_FILE = "MLTable"
PATH_COLUMN = "Path"
MINIMAL_MLTABLE = (
    "paths:\n"
    "  - pattern: ./*.csv\n"
    "transformations:\n"
    "  - read_delimited:\n"
    "      delimiter: ','\n"
    "      header: all_files_same_headers\n"
)
_READS = ("read_delimited", "read_parquet", "read_json_lines")
_STEPS = ("take", "skip", "take_random_sample", "drop_columns", "keep_columns", "filter", "convert_column_types")
_REFUSED = {
    "read_delta_lake": "Delta Lake tables are not read here; export the table to Parquet and use read_parquet",
    "extract_columns_from_partition_format": "partition columns are not extracted here; add the column to the "
                                             "files, or read the folders as separate datasets",
}
_ENCODINGS = {"utf8": "utf-8", "utf-8": "utf-8", "iso88591": "iso-8859-1", "latin1": "latin-1", "ascii": "ascii",
              "utf16": "utf-16", "utf32": "utf-32", "utf8bom": "utf-8-sig", "windows1252": "cp1252"}
_HEADERS = {"all_files_same_headers": HeaderMode.ALL_FILES_SAME, "from_first_file": HeaderMode.FIRST_ROW,
            "no_header": HeaderMode.NONE, "all_files_different_headers": None}
_COLUMN_TYPES = {"int": pa.int64(), "float": pa.float64(), "string": pa.string(), "boolean": pa.bool_(),
                 "datetime": pa.timestamp("us")}
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class PathEntry:
    """One item of ``paths:``: a ``file``, a ``folder`` or a glob ``pattern``."""

    kind: str
    value: str

    @property
    def remote(self) -> bool:
        return "://" in self.value

    def __str__(self) -> str:
        return f"{self.kind}: {self.value}"


@dataclass
class MLTableSpec:
    """What an ``MLTable`` file says: its paths, its read step and the steps after it."""

    paths: list[PathEntry]
    read: str | None = None
    read_options: dict[str, Any] = field(default_factory=dict)
    steps: list[tuple[str, Any]] = field(default_factory=list)
    text: str = ""


@dataclass
class Materialized:
    """What :func:`materialize` wrote: rows, the Arrow schema, the delimiter it read with."""

    row_count: int
    schema: pa.Schema
    delimiter: str | None = None


# -- the MLTable file ----------------------------------------------------------------------
def load(folder: Path) -> MLTableSpec:
    """Read and check ``folder/MLTable``."""
    path = folder / MLTABLE_FILE
    if not path.is_file():
        raise InvalidInput(f"{folder} has no MLTable file. Add one that says where the data is and how to read "
                           f"it, for example:\n\n{MINIMAL_MLTABLE}")
    return parse(path.read_text(encoding="utf-8-sig"), where=MLTABLE_FILE)


def parse(text: str, where: str = MLTABLE_FILE) -> MLTableSpec:
    """An :class:`MLTableSpec` from the YAML text of an ``MLTable`` file; every error names the key at fault."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise InvalidInput(f"{where} is not valid YAML{line}: {getattr(exc, 'problem', exc)}.") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{where} must be a YAML mapping with 'paths:' and 'transformations:'. Got {type(doc).__name__}.")
    kind = doc.get("type", "mltable")
    if kind != "mltable":
        raise InvalidInput(f"{where}: 'type' must be 'mltable'. Got {kind!r} instead.")
    unknown = sorted(set(doc) - {"$schema", "type", "paths", "transformations", "traits", "metadata"})
    if unknown:
        raise InvalidInput(f"{where}: unknown key {unknown[0]!r}. An MLTable file has 'paths' and 'transformations'.")
    raw_paths = doc.get("paths")
    if not isinstance(raw_paths, list) or not raw_paths:
        raise InvalidInput(f"{where} needs a 'paths:' list, e.g. '- file: ./data.csv', '- folder: ./parts' "
                           "or '- pattern: ./*.csv'.")
    paths = []
    for item in raw_paths:
        if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in ("file", "folder", "pattern"):
            raise InvalidInput(f"{where}: each item of 'paths' is one of 'file: ...', 'folder: ...' or "
                               f"'pattern: ...'. Got {item!r} instead.")
        kind, value = next(iter(item.items()))
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"{where}: the '{kind}' path must be a non-empty string. Got {value!r} instead.")
        paths.append(PathEntry(kind, value.strip()))
    spec = MLTableSpec(paths=paths, text=text)
    steps = doc.get("transformations") or []
    if not isinstance(steps, list):
        raise InvalidInput(f"{where}: 'transformations' must be a list of steps such as '- read_delimited: ...'.")
    for index, step in enumerate(steps):
        name, args = _step(step, where)
        if name in _REFUSED:
            raise InvalidInput(f"{where}: the transformation {name!r} is not supported locally: {_REFUSED[name]}.")
        if name in _READS:
            if spec.read is not None or index != 0:
                raise InvalidInput(f"{where}: {name!r} must be the first transformation, and there can be only one "
                                   "read step.")
            spec.read, spec.read_options = name, _read_options(name, args, where)
        elif name in _STEPS:
            spec.steps.append((name, _check_step(name, args, where)))
        else:
            known = ", ".join((*_READS, *_STEPS))
            raise InvalidInput(f"{where}: unknown transformation {name!r}. Supported here: {known}.")
    return spec


def _step(step: Any, where: str) -> tuple[str, Any]:
    if isinstance(step, str):
        return step, None
    if isinstance(step, dict) and len(step) == 1:
        name, args = next(iter(step.items()))
        return str(name), args
    raise InvalidInput(f"{where}: each transformation is one name with its settings, e.g. '- take: 10'. Got {step!r}.")


def _flag(args: dict[str, Any], key: str, default: bool, where: str, step: str) -> bool:
    value = args.get(key, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"{where}: {step}'s {key!r} must be true or false. Got {value!r} instead.")
    return value


def _read_options(name: str, args: Any, where: str) -> dict[str, Any]:
    args = dict(args or {})
    allowed = {"read_delimited": {"delimiter", "header", "encoding", "empty_as_string", "include_path_column",
                                  "infer_column_types", "support_multi_line", "path_column"},
               "read_parquet": {"include_path_column", "path_column"},
               "read_json_lines": {"include_path_column", "invalid_lines", "encoding", "path_column"}}[name]
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise InvalidInput(f"{where}: {name} has no setting {unknown[0]!r}. Its settings: {', '.join(sorted(allowed))}.")
    out: dict[str, Any] = {"include_path_column": _flag(args, "include_path_column", False, where, name),
                           "path_column": str(args.get("path_column") or PATH_COLUMN)}
    if name in ("read_delimited", "read_json_lines"):
        encoding = str(args.get("encoding", "utf8")).lower().replace("_", "").replace("-", "") or "utf8"
        if encoding not in _ENCODINGS:
            raise InvalidInput(f"{where}: {name}'s encoding {args.get('encoding')!r} is not one of "
                               f"{', '.join(k for k in _ENCODINGS if '-' not in k)}.")
        out["encoding"] = _ENCODINGS[encoding]
    if name == "read_delimited":
        delimiter = args.get("delimiter", ",")
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise InvalidInput(f"{where}: read_delimited's delimiter must be one character such as ','. "
                               f"Got {delimiter!r} instead.")
        header = str(args.get("header", "all_files_same_headers"))
        if header not in _HEADERS:
            raise InvalidInput(f"{where}: read_delimited's header must be one of {', '.join(_HEADERS)}. "
                               f"Got {header!r} instead.")
        out.update(delimiter=delimiter, header=header,
                   empty_as_string=_flag(args, "empty_as_string", False, where, name),
                   infer_column_types=_flag(args, "infer_column_types", True, where, name),
                   support_multi_line=_flag(args, "support_multi_line", False, where, name))
    if name == "read_json_lines":
        invalid = str(args.get("invalid_lines", "error"))
        if invalid not in ("error", "drop"):
            raise InvalidInput(f"{where}: read_json_lines' invalid_lines must be 'error' or 'drop'. Got {invalid!r}.")
        out["invalid_lines"] = invalid
    return out


def _names(value: Any, where: str, step: str) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InvalidInput(f"{where}: {step} takes a column name or a list of them. Got {value!r} instead.")
    return list(names)


def _count(value: Any, where: str, step: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(f"{where}: {step} takes a whole number of rows >= 0. Got {value!r} instead.")
    return value


def _check_step(name: str, args: Any, where: str) -> Any:
    if name in ("take", "skip"):
        return _count(args, where, name)
    if name in ("drop_columns", "keep_columns"):
        return _names(args, where, name)
    if name == "take_random_sample":
        if not isinstance(args, dict) or "probability" not in args:
            raise InvalidInput(f"{where}: take_random_sample needs 'probability' (0 to 1) and may give 'seed'.")
        p, seed = args["probability"], args.get("seed")
        if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0 <= p <= 1:
            raise InvalidInput(f"{where}: take_random_sample's probability must be between 0 and 1. Got {p!r}.")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise InvalidInput(f"{where}: take_random_sample's seed must be a whole number. Got {seed!r}.")
        return float(p), seed
    if name == "filter":
        if not isinstance(args, str):
            raise InvalidInput(f"{where}: filter takes an expression such as 'col(\"age\") > 30'. Got {args!r}.")
        return args, filter_expression(args, where)
    items = args if isinstance(args, list) else [args]  # convert_column_types
    out = []
    for item in items:
        if not isinstance(item, dict) or "columns" not in item or "column_type" not in item:
            raise InvalidInput(f"{where}: each convert_column_types item has 'columns' and 'column_type'. Got {item!r}.")
        out.append((_names(item["columns"], where, "convert_column_types"), _column_type(item["column_type"], where)))
    return out


def _column_type(value: Any, where: str) -> tuple[str, dict[str, Any]]:
    if isinstance(value, str) and value in _COLUMN_TYPES:
        return value, {}
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _COLUMN_TYPES:
        kind, args = next(iter(value.items()))
        return kind, dict(args or {})
    raise InvalidInput(f"{where}: column_type must be one of {', '.join(_COLUMN_TYPES)} (or datetime: {{formats: "
                       f"[...]}}, boolean: {{true_values: [...], false_values: [...]}}). Got {value!r} instead.")


# -- filter expressions -------------------------------------------------------------------------
def filter_expression(text: str, where: str = MLTABLE_FILE) -> pc.Expression:
    """``col("a") > 3 and not col("b") == "x"`` as a pyarrow expression (nothing is evaluated as Python)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise InvalidInput(f"{where}: the filter {text!r} is not an expression ({exc.msg}).") from None
    result = _expr(tree.body, text, where)
    if not isinstance(result, pc.Expression):
        raise InvalidInput(f"{where}: the filter {text!r} names no column; write col(\"name\") in it.")
    return result


_COMPARE = {ast.Eq: "equal", ast.NotEq: "not_equal", ast.Lt: "less", ast.LtE: "less_equal", ast.Gt: "greater",
            ast.GtE: "greater_equal"}
_ARITH = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide"}


def _expr(node: ast.AST, text: str, where: str) -> Any:
    if isinstance(node, ast.BoolOp):
        parts = [_expr(v, text, where) for v in node.values]
        out = parts[0]
        for part in parts[1:]:
            out = (out & part) if isinstance(node.op, ast.And) else (out | part)
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ~_expr(node.operand, text, where)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        return -node.operand.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
        left, right = _expr(node.left, text, where), _expr(node.right, text, where)
        return (left & right) if isinstance(node.op, ast.BitAnd) else (left | right)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        return pc.Expression._call(_ARITH[type(node.op)], [_as_expr(_expr(node.left, text, where)),
                                                            _as_expr(_expr(node.right, text, where))])
    if isinstance(node, ast.Compare):
        out = None
        left = _expr(node.left, text, where)
        for op, comparator in zip(node.ops, node.comparators):
            if type(op) not in _COMPARE:
                break
            right = _expr(comparator, text, where)
            part = pc.Expression._call(_COMPARE[type(op)], [_as_expr(left), _as_expr(right)])
            out = part if out is None else out & part
            left = right
        else:
            return out
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "col"
            and len(node.args) == 1 and not node.keywords and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)):
        return pc.field(node.args[0].value)
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool)):
        return node.value
    raise InvalidInput(
        f"{where}: the filter {text!r} uses {ast.get_source_segment(text, node) or type(node).__name__!r}, which a "
        "filter cannot hold. Use col(\"name\"), numbers, strings, comparisons, and, or, not.")


def _as_expr(value: Any) -> pc.Expression:
    return value if isinstance(value, pc.Expression) else pc.scalar(value)


# -- the files ----------------------------------------------------------------------------------
def local_files(entry: PathEntry, root: Path) -> list[tuple[Path, str]]:
    """The files a local ``paths`` entry names, as (file, label); a path may not leave the MLTable folder."""
    value = entry.value[len("file://"):] if entry.value.startswith("file://") else entry.value
    base = Path(os.path.realpath(root))
    if entry.kind == "pattern":
        pattern = value[2:] if value.startswith("./") else value
        if pattern.startswith("/") or ".." in Path(pattern).parts:
            raise UnsafePath(f"The MLTable pattern {entry.value!r} leaves its folder; give a pattern inside it.")
        found = [p for p in sorted(base.rglob("*")) if p.is_file() and p.name != MLTABLE_FILE
                 and glob_match(pattern, p.relative_to(base).as_posix())
                 and not any(part.startswith(".") for part in p.relative_to(base).parts)]
        if not found:
            raise InvalidInput(f"The MLTable pattern {entry.value!r} matches no file in its folder.")
        return [(p, p.relative_to(base).as_posix()) for p in found]
    target = Path(os.path.realpath(base / value))
    if target != base and base not in target.parents:
        raise UnsafePath(f"The MLTable path {entry.value!r} leaves its folder; give a path inside it (or an "
                         "azureml://datastores/NAME/paths/... path).")
    if not target.exists():
        raise InvalidInput(f"The MLTable {entry.kind} {entry.value!r} does not exist in its folder.")
    if entry.kind == "file":
        if not target.is_file():
            raise InvalidInput(f"The MLTable file {entry.value!r} is a folder; write '- folder: {entry.value}'.")
        return [(target, target.relative_to(base).as_posix())]
    if not target.is_dir():
        raise InvalidInput(f"The MLTable folder {entry.value!r} is a file; write '- file: {entry.value}'.")
    found = [p for p in sorted(target.rglob("*")) if p.is_file() and p.name != MLTABLE_FILE
             and not any(part.startswith(".") for part in p.relative_to(target).parts)]
    if not found:
        raise InvalidInput(f"The MLTable folder {entry.value!r} holds no files.")
    return [(p, p.relative_to(base).as_posix()) for p in found]


def glob_match(pattern: str, path: str) -> bool:
    """Whether ``path`` matches the glob ``pattern``: ``*`` and ``?`` stay within a folder, ``**`` crosses them."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2:]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.fullmatch("".join(out), path) is not None


def split_pattern(pattern: str) -> tuple[str, str]:
    """``folder/sub/*.csv`` -> (``folder/sub``, ``*.csv``): the part to fetch and the glob inside it."""
    parts = pattern.split("/")
    fixed = []
    for part in parts:
        if _GLOB.search(part):
            break
        fixed.append(part)
    return "/".join(fixed), "/".join(parts[len(fixed):])


def parquet_mltable(file_name: str = "data.parquet") -> str:
    """The text of an MLTable file that reads one Parquet file beside it."""
    return ("# The table of this dataset version, as Azure ML's mltable package reads it.\n"
            "type: mltable\n"
            "paths:\n"
            f"  - file: ./{file_name}\n"
            "transformations:\n"
            "  - read_parquet:\n"
            "      include_path_column: false\n")


# -- reading and transforming -----------------------------------------------------------------------
def materialize(spec: MLTableSpec, files: Sequence[tuple[Path, str]], out: Path, *, scratch: Path,
                progress: Callable[[int], None] | None = None, limit: int | None = None) -> Materialized:
    """Read ``files`` (the local copies of the spec's paths, with their labels) as the spec says into ``out``.

    ``limit`` stops after that many rows of the result (a preview).
    """
    if not files:
        raise InvalidInput("The MLTable's paths name no files.")
    scratch.mkdir(parents=True, exist_ok=True)
    parts, delimiter = _read(spec, files, scratch, progress)
    opts = spec.read_options
    path_column = opts.get("path_column", PATH_COLUMN) if (opts.get("include_path_column") or spec.read is None) else None
    schema = _unify([s for _, _, s in parts], path_column)
    pipeline = [_make_step(name, args) for name, args in spec.steps]
    if limit is not None:
        pipeline.append(_make_step("take", limit))
    result_schema = _run(pipeline, schema.empty_table(), fresh=True).schema
    rows = 0
    writer = pq.ParquetWriter(out, result_schema)
    try:
        first = True
        empty_as_string = spec.read == "read_delimited" and opts.get("empty_as_string", False)
        for table in _stream(parts, schema, path_column, empty_as_string):
            table = _run(pipeline, table)
            if table.num_rows == 0:
                continue
            table = _conform(table, result_schema)
            rows += table.num_rows
            if first and table.num_rows > delimited.HEAD_ROWS:  # a small first row group for previews
                writer.write_table(table.slice(0, delimited.HEAD_ROWS))
                table = table.slice(delimited.HEAD_ROWS)
            first = False
            writer.write_table(table)
            if limit is not None and rows >= limit:
                break
    finally:
        writer.close()
    return Materialized(row_count=rows, schema=result_schema, delimiter=delimiter)


def _read(spec: MLTableSpec, files: Sequence[tuple[Path, str]], scratch: Path,
          progress: Callable[[int], None] | None) -> tuple[list[tuple[Path | None, str, pa.Schema]], str | None]:
    """Each file (or all of them) as Parquet parts: (part, label, schema); a None part is a table of paths."""
    opts = spec.read_options
    if spec.read is None:
        return [(None, label, pa.schema([])) for _, label in files], None
    if spec.read == "read_parquet":
        out = []
        for path, label in files:
            try:
                out.append((path, label, pq.read_schema(path)))
            except (pa.ArrowInvalid, OSError) as exc:
                raise InvalidInput(f"The MLTable reads {label} as Parquet, but it is not a Parquet file ({exc}). "
                                   "Use read_delimited or read_json_lines for text files.") from None
            if progress:
                progress(path.stat().st_size)
        return out, None
    if spec.read == "read_json_lines":
        out = []
        for index, (path, label) in enumerate(files):
            part = scratch / f"part-{index:05d}.parquet"
            table = _read_json_lines(path, label, opts)
            pq.write_table(table, part)
            out.append((part, label, table.schema))
            if progress:
                progress(path.stat().st_size)
        return out, None
    return _read_delimited(files, opts, scratch, progress)


def _read_delimited(files: Sequence[tuple[Path, str]], opts: dict[str, Any], scratch: Path,
                    progress: Callable[[int], None] | None) -> tuple[list[tuple[Path | None, str, pa.Schema]], str]:
    header = _HEADERS[opts["header"]]
    base = DelimitedReadOptions(delimiter=opts["delimiter"], encoding=opts["encoding"],
                                header=header or HeaderMode.ALL_FILES_SAME)
    per_file = opts["include_path_column"] or header is None
    extras = delimited.TextExtras(infer_types=opts["infer_column_types"], empty_as_null=not opts["empty_as_string"])
    if not per_file:
        part = scratch / "part-00000.parquet"
        result = delimited.convert_to_parquet([delimited.TextSource(name=lb, path=p) for p, lb in files], part, base,
                                              progress=progress, extras=extras)
        return [(part, files[0][1], result.schema)], result.delimiter
    out: list[tuple[Path | None, str, pa.Schema]] = []
    names: list[str] | None = None
    for index, (path, label) in enumerate(files):
        options = base
        if header == HeaderMode.FIRST_ROW and index > 0:
            options = DelimitedReadOptions(delimiter=base.delimiter, encoding=base.encoding, header=HeaderMode.NONE,
                                           column_names=names)
        part = scratch / f"part-{index:05d}.parquet"
        result = delimited.convert_to_parquet([delimited.TextSource(name=label, path=path)], part, options,
                                              progress=progress, extras=extras)
        names = names or list(result.schema.names)
        out.append((part, label, result.schema))
    return out, base.delimiter or ","


def _read_json_lines(path: Path, label: str, opts: dict[str, Any]) -> pa.Table:
    encoding, drop = opts["encoding"], opts["invalid_lines"] == "drop"
    if not drop and codecs.lookup(encoding).name == "utf-8":
        try:
            return pajson.read_json(path)
        except pa.ArrowInvalid:
            pass  # find the line below and say which
    kept: list[bytes] = []
    with open(path, encoding=encoding, errors="strict" if not drop else "replace", newline="") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                    if not isinstance(value, dict):
                        raise ValueError("not a JSON object")
                except ValueError as exc:
                    if drop:
                        continue
                    raise InvalidInput(f"{label}: line {number} is not a JSON object ({exc}). Fix the line, or set "
                                       "'invalid_lines: drop' in read_json_lines to skip such lines.") from None
                kept.append(json.dumps(value).encode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidInput(f"{label} is not valid {encoding}. Set read_json_lines' 'encoding' to the file's "
                               "encoding.") from None
    if not kept:
        return pa.table({})
    try:
        return pajson.read_json(io.BytesIO(b"\n".join(kept)), read_options=pajson.ReadOptions(block_size=1 << 26))
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"{label}: the JSON lines do not form one table ({exc}). Give every line the same keys "
                           "with the same kinds of values.") from None


def _unify(schemas: list[pa.Schema], path_column: str | None) -> pa.Schema:
    try:
        schema = pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([])
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        schema = _unify_as_text(schemas)
    schema = pa.schema([pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type) for f in schema])
    if path_column is not None:
        if path_column in schema.names:
            raise InvalidInput(f"The data already has a column {path_column!r}; the path column cannot be added. "
                               "Set 'path_column' in the read step to another name.")
        schema = schema.append(pa.field(path_column, pa.string()))
    return schema


def _unify_as_text(schemas: list[pa.Schema]) -> pa.Schema:
    """Files whose columns disagree on a type: those columns become text."""
    types: dict[str, set[pa.DataType]] = {}
    for schema in schemas:
        for f in schema:
            types.setdefault(f.name, set()).add(f.type)
    return pa.schema([pa.field(name, next(iter(ts)) if len(ts) == 1 else pa.string()) for name, ts in types.items()])


def _stream(parts: list[tuple[Path | None, str, pa.Schema]], schema: pa.Schema,
            path_column: str | None, empty_as_string: bool = False) -> Iterator[pa.Table]:
    """The parts' rows in one schema; with ``empty_as_string`` a text column's empty fields stay ''.

    (A file whose column is empty throughout reads it as nulls of no type; the fill makes
    those '' too, as Azure reads them.)
    """
    text = [n for n in schema.names if pa.types.is_string(schema.field(n).type) and n != path_column]
    for part, label, _ in parts:
        if part is None:
            yield pa.table({path_column or PATH_COLUMN: pa.array([label], pa.string())})
            continue
        for batch in pq.ParquetFile(part).iter_batches(batch_size=65536):
            table = pa.Table.from_batches([batch])
            if path_column is not None:
                table = table.append_column(path_column, pa.array([label] * table.num_rows, pa.string()))
            table = _conform(table, schema)
            for name in text if empty_as_string else ():
                index = table.column_names.index(name)
                table = table.set_column(index, name, pc.fill_null(table.column(name), ""))
            yield table


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    if table.schema == schema:
        return table
    for name in schema.names:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, schema.field(name).type))
    table = table.select(schema.names)
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass  # find the column below and say which
    columns = []
    for name in schema.names:
        column, wanted = table.column(name), schema.field(name).type
        try:
            columns.append(column if column.type == wanted else column.cast(wanted))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidInput(f"The column {name!r} is {column.type} in one file and {wanted} in another, and the "
                               f"values do not convert ({exc}). Add a convert_column_types step, or make the files "
                               "agree.") from None
    return pa.table(columns, schema=schema)


# -- the steps after the read -------------------------------------------------------------------------
class _Step(abc.ABC):
    @abc.abstractmethod
    def __call__(self, table: pa.Table) -> pa.Table:
        """The table after this transformation."""

    def fresh(self) -> _Step:
        return self


def _make_step(name: str, args: Any) -> _Step:
    return {"take": _Take, "skip": _Skip, "take_random_sample": _Sample, "drop_columns": _Drop,
            "keep_columns": _Keep, "filter": _Filter, "convert_column_types": _Convert}[name](args)


def _run(pipeline: list[_Step], table: pa.Table, fresh: bool = False) -> pa.Table:
    for step in pipeline:
        table = (step.fresh() if fresh else step)(table)
    return table


class _Take(_Step):
    def __init__(self, n: int) -> None:
        self.n = self.left = n

    def __call__(self, table: pa.Table) -> pa.Table:
        out = table.slice(0, self.left)
        self.left -= out.num_rows
        return out

    def fresh(self) -> _Step:
        return _Take(self.n)


class _Skip(_Step):
    def __init__(self, n: int) -> None:
        self.n = self.left = n

    def __call__(self, table: pa.Table) -> pa.Table:
        cut = min(self.left, table.num_rows)
        self.left -= cut
        return table.slice(cut)

    def fresh(self) -> _Step:
        return _Skip(self.n)


class _Sample(_Step):
    def __init__(self, args: tuple[float, int | None]) -> None:
        self.args = args
        self.probability, seed = args
        self.rng = np.random.default_rng(seed)

    def __call__(self, table: pa.Table) -> pa.Table:
        return table.filter(pa.array(self.rng.random(table.num_rows) < self.probability))

    def fresh(self) -> _Step:
        return _Sample(self.args)


def _missing(table: pa.Table, names: list[str], step: str) -> None:
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise InvalidInput(f"The MLTable's {step} names the column {missing[0]!r}, which the table does not have. "
                           f"Its columns are: {', '.join(table.column_names)}.")


class _Drop(_Step):
    def __init__(self, names: list[str]) -> None:
        self.names = names

    def __call__(self, table: pa.Table) -> pa.Table:
        _missing(table, self.names, "drop_columns")
        return table.drop_columns(self.names)


class _Keep(_Step):
    def __init__(self, names: list[str]) -> None:
        self.names = names

    def __call__(self, table: pa.Table) -> pa.Table:
        _missing(table, self.names, "keep_columns")
        return table.select(self.names)


class _Filter(_Step):
    def __init__(self, args: tuple[str, pc.Expression]) -> None:
        self.text, self.expression = args

    def __call__(self, table: pa.Table) -> pa.Table:
        try:
            return table.filter(self.expression)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, KeyError) as exc:
            raise InvalidInput(f"The MLTable's filter {self.text!r} cannot be applied to the table: {exc}. Check the "
                               f"column names ({', '.join(table.column_names)}) and compare numbers with numbers, "
                               "text with text.") from None


class _Convert(_Step):
    def __init__(self, items: list[tuple[list[str], tuple[str, dict[str, Any]]]]) -> None:
        self.items = items

    def __call__(self, table: pa.Table) -> pa.Table:
        for names, (kind, args) in self.items:
            _missing(table, names, "convert_column_types")
            for name in names:
                index = table.column_names.index(name)
                table = table.set_column(index, name, _convert(table.column(name), name, kind, args))
        return table


def _convert(column: pa.ChunkedArray, name: str, kind: str, args: dict[str, Any]) -> pa.ChunkedArray:
    try:
        if kind == "boolean":
            text = pc.utf8_trim_whitespace(column.cast(pa.string()))
            true_values = [str(v) for v in args.get("true_values") or ["True", "true", "1"]]
            false_values = [str(v) for v in args.get("false_values") or ["False", "false", "0"]]
            is_true, is_false = pc.is_in(text, pa.array(true_values)), pc.is_in(text, pa.array(false_values))
            mismatch = pc.and_(pc.invert(pc.or_(is_true, is_false)), pc.is_valid(text))
            mode = str(args.get("mismatch_as", "error"))
            if mode == "error" and pc.any(mismatch).as_py():
                bad = pc.filter(text, mismatch)[0].as_py()
                raise InvalidInput(f"The MLTable converts column {name!r} to boolean, but {bad!r} is neither a true "
                                   f"value {true_values} nor a false value {false_values}. Add it to one, or set "
                                   "mismatch_as: true, false or null.")
            fill = {"true": True, "false": False}.get(mode)
            return pc.if_else(is_true, True, pc.if_else(is_false, False, pc.if_else(mismatch, fill, None)))
        if kind == "datetime" and args.get("formats"):
            text = column.cast(pa.string())
            parsed = [pc.strptime(text, format=str(f), unit="us", error_is_null=True) for f in args["formats"]]
            result = pc.coalesce(*parsed)
            failed = pc.and_(pc.is_valid(text), pc.is_null(result))
            if pc.any(failed).as_py():
                bad = pc.filter(text, failed)[0].as_py()
                raise InvalidInput(f"The MLTable converts column {name!r} to datetime with the formats "
                                   f"{args['formats']}, but {bad!r} matches none of them.")
            return result
        if pa.types.is_floating(column.type) and kind == "int":
            return pc.cast(column, pa.int64(), safe=False)
        return column.cast(_COLUMN_TYPES[kind])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput(f"The MLTable converts column {name!r} to {kind}, but a value does not fit: {exc}.") from None
