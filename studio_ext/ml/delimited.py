"""Delimited text (CSV, TSV ...) to Parquet, streamed, with the studio's parsing options.

Pure: files in, a Parquet file and a summary out; no workspace. pyarrow's streaming
CSV reader parses blocks of a few MB while a second thread writes the previous block
to Parquet, so memory stays flat whatever the file size.

pyarrow infers each column's type from the first block only. When a later block holds
a value the inferred type cannot take (a ``1.5`` after a million integers), the
column is widened (null → integer → float → string) and the conversion starts again;
a type the user chose is never widened: that is an error naming the line.

Errors name the file, the line (as an editor counts them, header included) and the
column or option at fault. The slow scans that find the line run only after a failure.
"""

from __future__ import annotations

import codecs
import csv
import io
import queue
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from studio_ext.entities._data import ColumnType, DelimitedReadOptions, HeaderMode
from studio_ext.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    from _typeshed import WriteableBuffer

__all__ = ["ConversionResult", "TextExtras", "TextSource", "convert_to_parquet", "preview_bytes", "sniff_delimiter"]

BLOCK_SIZE = 4 << 20
HEAD_ROWS = 1000  # rows in the Parquet file's first row group
DELIMITER_CANDIDATES = (",", ";", "\t", "|")
_MAX_WIDENINGS = 64
_ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    ColumnType.STRING: pa.string(),
    ColumnType.INTEGER: pa.int64(),
    ColumnType.FLOAT: pa.float64(),
    ColumnType.BOOLEAN: pa.bool_(),
    ColumnType.DATETIME: pa.timestamp("us"),
    ColumnType.DATE: pa.date32(),
}
_RAGGED = re.compile(r"(?:Row #(\d+): )?Expected (\d+) columns, got (\d+)")
_CONVERSION = re.compile(r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error to ([^:]+): invalid value '(.*)'", re.DOTALL)


@dataclass(frozen=True)
class TextSource:
    """A file to parse: a path, or bytes in memory (the wizard's preview sample)."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    @classmethod
    def of(cls, path: Path) -> TextSource:
        return cls(name=path.name, path=path)

    def open(self) -> BinaryIO:
        return open(self.path, "rb") if self.path is not None else io.BytesIO(self.data or b"")

    def size(self) -> int:
        return self.path.stat().st_size if self.path is not None else len(self.data or b"")


@dataclass(frozen=True)
class TextExtras:
    """Reading choices an MLTable's read_delimited makes that the studio's read options do not.

    ``infer_types=False`` reads every column as text; ``empty_as_null=False`` keeps empty
    fields of text columns as empty strings (numbers and dates still read them as null).
    """

    infer_types: bool = True
    empty_as_null: bool = True


@dataclass
class ConversionResult:
    """What a conversion produced: rows, the Arrow schema and the options it resolved."""

    row_count: int
    schema: pa.Schema
    delimiter: str
    widened: dict[str, str] = field(default_factory=dict)


class _Widen(Exception):
    def __init__(self, column: str, to: pa.DataType) -> None:
        self.column, self.to = column, to


class _CountingReader(io.RawIOBase):
    """A file wrapper that reports bytes read, so a progress bar can follow the parse."""

    def __init__(self, raw: BinaryIO, on_read: Callable[[int], None] | None) -> None:
        self._raw, self._on_read = raw, on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        n = self._raw.readinto(buffer)
        if n and self._on_read:
            self._on_read(n)
        return n or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


# -- detection -----------------------------------------------------------------------
def read_text_sample(source: TextSource, encoding: str, max_bytes: int = 64 << 10) -> str:
    """The first ``max_bytes`` decoded, cut after the last complete line."""
    with source.open() as handle:
        raw = handle.read(max_bytes)
        complete = len(raw) < max_bytes
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    text = decoder.decode(raw, final=complete)
    if not complete and "\n" in text:
        text = text[: text.rfind("\n") + 1]
    return text.lstrip("\ufeff")


def sniff_delimiter(sample: str, quote_char: str | None = '"') -> str:
    """The candidate giving the most rows with one consistent number (> 1) of fields."""
    lines = sample.splitlines()[:200]
    if not lines:
        return ","
    best, best_score = ",", (0.0, 0)
    for delim in DELIMITER_CANDIDATES:
        reader = csv.reader(lines, delimiter=delim, quotechar=quote_char or '"',
                            quoting=csv.QUOTE_MINIMAL if quote_char else csv.QUOTE_NONE)
        try:
            counts = [len(row) for row in reader if row]
        except csv.Error:
            continue
        if not counts:
            continue
        mode, hits = Counter(counts).most_common(1)[0]
        if mode < 2:
            continue
        score = (hits / len(counts), mode)
        if score > best_score:
            best, best_score = delim, score
    return best


# -- conversion --------------------------------------------------------------------------
def convert_to_parquet(
    sources: Sequence[TextSource],
    out: Path,
    options: DelimitedReadOptions,
    *,
    progress: Callable[[int], None] | None = None,
    block_size: int = BLOCK_SIZE,
    compression: str = "snappy",
    extras: TextExtras = TextExtras(),
) -> ConversionResult:
    """Parse every source with ``options`` and write one Parquet file at ``out``.

    ``progress`` is called with the number of source bytes read since the last call.
    Raises ``InvalidInput`` naming the file, line and column at fault.
    """
    if not sources:
        raise InvalidInput("There is no file to parse: the source holds no files.")
    delimiter = options.delimiter or sniff_delimiter(read_text_sample(sources[0], options.encoding), options.quote_char)
    widened: dict[str, pa.DataType] = {}
    for _ in range(_MAX_WIDENINGS):
        try:
            rows, schema = _write(sources, out, options, delimiter, widened, progress, block_size, compression, extras)
            return ConversionResult(rows, schema, delimiter, {k: str(v) for k, v in widened.items()})
        except _Widen as widen:
            widened[widen.column] = widen.to
            out.unlink(missing_ok=True)
    raise InvalidInput(
        f"The column types of {sources[0].name} kept changing deeper in the file; "
        "give column_types for its columns in the read options."
    )


def preview_bytes(
    data: bytes, name: str, options: DelimitedReadOptions, n: int = 20, *, truncated: bool = False
) -> tuple[pa.Table, str]:
    """Parse the start of a file (already read) with ``options``: the wizard's live preview.

    ``truncated``: ``data`` stops at a byte limit, so its last line may be cut short.
    """
    source = TextSource(name=name, data=_drop_partial_last_line(data, options.encoding) if truncated else data)
    delimiter = options.delimiter or sniff_delimiter(read_text_sample(source, options.encoding), options.quote_char)
    widened: dict[str, pa.DataType] = {}
    for _ in range(_MAX_WIDENINGS):
        try:
            batches = list(_batches([source], options, delimiter, widened, None, 1 << 20))
            break
        except _Widen as widen:
            widened[widen.column] = widen.to
    else:  # pragma: no cover - needs 64 widenings in one sample
        raise InvalidInput(f"The column types of {name} could not be settled; give column_types.")
    schema = batches[0][1] if batches else pa.schema([])
    table = pa.Table.from_batches([b for b, _ in batches], schema=schema) if batches else pa.table({})
    return table.slice(0, n), delimiter


def _drop_partial_last_line(data: bytes, encoding: str) -> bytes:
    """A sample cut at a byte limit ends mid-row, which would read as a ragged row: drop it."""
    width = len("\n\n".encode(encoding)) - len("\n".encode(encoding))  # bytes per newline, BOM aside
    newline = "\n".encode(encoding)[-width:]
    if data.endswith(newline):
        return data
    end = data.rfind(newline)
    while end > 0 and end % width:  # a match across two characters of a wide encoding
        end = data.rfind(newline, 0, end)
    if end < 0:
        return data
    return data[: end + width]


def _write(sources: Sequence[TextSource], out: Path, options: DelimitedReadOptions, delimiter: str,
           widened: dict[str, pa.DataType], progress: Callable[[int], None] | None, block_size: int,
           compression: str, extras: TextExtras = TextExtras()) -> tuple[int, pa.Schema]:
    """Parse on this thread, write Parquet on another: the two overlap."""
    pending: queue.Queue = queue.Queue(maxsize=3)
    failure: list[BaseException] = []
    state: dict[str, object] = {"rows": 0, "schema": None}

    def writer() -> None:
        sink = None
        try:
            while (item := pending.get()) is not None:
                batch, schema = item
                if sink is None:
                    # Dictionaries pay off for text; for numbers pyarrow tries and falls back, at a cost.
                    text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
                    sink = pq.ParquetWriter(out, schema, compression=compression, use_dictionary=text)
                    state["schema"] = schema
                if state["rows"] == 0 and batch.num_rows > HEAD_ROWS:
                    # a small first row group: previews decode HEAD_ROWS rows, not a whole block's worth
                    sink.write_batch(batch.slice(0, HEAD_ROWS))
                    batch = batch.slice(HEAD_ROWS)
                    state["rows"] = HEAD_ROWS
                sink.write_batch(batch)
                state["rows"] = int(state["rows"]) + batch.num_rows
        except BaseException as exc:  # noqa: BLE001 - handed to the parsing thread
            failure.append(exc)
            while pending.get() is not None:
                pass
        finally:
            if sink is not None:
                sink.close()

    thread = threading.Thread(target=writer, name="parquet-writer", daemon=True)
    thread.start()
    try:
        for item in _batches(sources, options, delimiter, widened, progress, block_size, extras):
            if failure:
                break
            pending.put(item)
    finally:
        pending.put(None)
        thread.join()
    if failure:
        raise failure[0]
    if state["schema"] is None:
        raise InvalidInput(
            f"{sources[0].name} has a header but no data rows. Register a file that holds data, "
            "or set header='none' if that line is data."
        )
    return int(state["rows"]), state["schema"]  # type: ignore[return-value]


def _batches(sources: Sequence[TextSource], options: DelimitedReadOptions, delimiter: str,
             widened: dict[str, pa.DataType], progress: Callable[[int], None] | None,
             block_size: int, extras: TextExtras = TextExtras()) -> Iterator[tuple[pa.RecordBatch, pa.Schema]]:
    """Yield (batch, schema) over all sources, every batch in the first file's schema."""
    first_names: list[str] | None = None
    target: pa.Schema | None = None
    for index, source in enumerate(sources):
        has_header = options.header == HeaderMode.ALL_FILES_SAME or (options.header == HeaderMode.FIRST_ROW and index == 0)
        names = options.column_names or (None if has_header else first_names)
        read, parse = _reader_options(options, delimiter, block_size, has_header, names)
        header_names = _probe_names(source, read, parse, options)
        if read.autogenerate_column_names:
            read.autogenerate_column_names = False
            read.column_names = header_names
        if first_names is None:
            first_names = header_names
            _check_names(source, header_names, options)
        elif header_names != first_names:
            raise InvalidInput(
                f"{source.name} has the columns {header_names}, but {sources[0].name} has {first_names}. "
                "Every file of a tabular dataset must have the same columns (or use header='first_row' "
                "if only the first file has a header)."
            )
        keep = _kept_columns(header_names, options)
        convert = _convert_options(options, keep, widened, target, extras)
        for batch in _read_file(source, read, parse, convert, options, delimiter, keep, target, progress):
            if target is None:
                target = batch.schema
            yield batch, target


def _reader_options(options: DelimitedReadOptions, delimiter: str, block_size: int, has_header: bool,
                    names: list[str] | None) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions]:
    read = pacsv.ReadOptions(
        use_threads=True,
        block_size=block_size,
        skip_rows=options.skip_rows,
        encoding=options.encoding if options.encoding.lower().replace("_", "-") not in ("utf-8", "utf8") else "utf8",
        column_names=names,
        autogenerate_column_names=not has_header and names is None,
        skip_rows_after_names=1 if (has_header and names is not None) else 0,
    )
    parse = pacsv.ParseOptions(
        delimiter=delimiter,
        quote_char=options.quote_char or False,
        double_quote=True,
        escape_char=options.escape_char or False,
        newlines_in_values=bool(options.quote_char),
        ignore_empty_lines=True,
    )
    return read, parse


def _probe_names(source: TextSource, read: pacsv.ReadOptions, parse: pacsv.ParseOptions,
                 options: DelimitedReadOptions) -> list[str]:
    """The column names as the file states them (reads one small block)."""
    probe = pacsv.ReadOptions(
        use_threads=False, block_size=1 << 20, skip_rows=read.skip_rows, encoding=read.encoding,
        column_names=read.column_names, autogenerate_column_names=read.autogenerate_column_names,
        skip_rows_after_names=read.skip_rows_after_names,
    )
    try:
        with source.open() as handle:
            reader = pacsv.open_csv(handle, read_options=probe, parse_options=parse,
                                    convert_options=pacsv.ConvertOptions(column_types={}))
            names = list(reader.schema.names)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _translate(exc, source, options, parse.delimiter, names=None, user_typed=set()) from None
    if read.autogenerate_column_names:
        names = [f"Column{i + 1}" for i in range(len(names))]
    return names


def _check_names(source: TextSource, names: list[str], options: DelimitedReadOptions) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name in seen:
            raise InvalidInput(
                f"{source.name}: the column name {name!r} appears twice (columns {seen[name]} and {position}). "
                "Give unique names with the 'column_names' read option."
            )
        seen[name] = position
    if options.column_names is None and any(not n.strip() for n in names):
        empty = [i for i, n in enumerate(names, start=1) if not n.strip()][0]
        raise InvalidInput(
            f"{source.name}: column {empty} has an empty name in the header row. "
            "Give names with the 'column_names' read option."
        )
    for what, wanted in (("column_types", list(options.column_types)), ("include", options.include or []),
                         ("exclude", options.exclude or []), ("column_names", [])):
        missing = [c for c in wanted if c not in names]
        if missing:
            raise InvalidInput(
                f"The '{what}' read option names the column {missing[0]!r}, which {source.name} does not have. "
                f"Its columns are: {', '.join(names)}."
            )


def _kept_columns(names: list[str], options: DelimitedReadOptions) -> list[str]:
    keep = [n for n in names if (options.include is None or n in options.include)
            and n not in (options.exclude or [])]
    if not keep:
        raise InvalidInput("The 'include'/'exclude' read options leave no column; keep at least one.")
    return keep


def _convert_options(options: DelimitedReadOptions, keep: list[str], widened: dict[str, pa.DataType],
                     target: pa.Schema | None, extras: TextExtras = TextExtras()) -> pacsv.ConvertOptions:
    types: dict[str, pa.DataType] = {} if extras.infer_types else dict.fromkeys(keep, pa.string())
    if target is not None:  # later files take the first file's types
        types.update({f.name: f.type for f in target if not pa.types.is_null(f.type)})
    types.update(widened)
    for column, ctype in options.column_types.items():
        arrow = _ARROW_TYPES[ctype]
        if ctype in (ColumnType.DATE, ColumnType.DATETIME) and options.datetime_formats:
            arrow = pa.timestamp("us")  # parsed with the formats, cast to date afterwards
        types[column] = arrow
    parsers = [*(options.datetime_formats or []), pacsv.ISO8601]
    return pacsv.ConvertOptions(
        column_types={k: v for k, v in types.items() if k in keep},
        include_columns=keep,
        decimal_point=options.decimal,
        timestamp_parsers=parsers,
        strings_can_be_null=extras.empty_as_null,
        check_utf8=True,
    )


def _read_file(source: TextSource, read: pacsv.ReadOptions, parse: pacsv.ParseOptions, convert: pacsv.ConvertOptions,
               options: DelimitedReadOptions, delimiter: str, keep: list[str], target: pa.Schema | None,
               progress: Callable[[int], None] | None) -> Iterator[pa.RecordBatch]:
    user_typed = set(options.column_types)
    handle = source.open()
    stream = pa.PythonFile(_CountingReader(handle, progress), mode="r")
    try:
        try:
            reader = pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
            schema = reader.schema
            _check_binary(schema, source, options, delimiter)
            for batch in reader:
                batch = _post_cast(batch, options)
                if target is not None and batch.schema != target:
                    batch = _align(batch, target, source)
                yield batch
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise _translate(exc, source, options, delimiter, names=keep, user_typed=user_typed,
                             current=convert.column_types) from None
    finally:
        stream.close()


def _post_cast(batch: pa.RecordBatch, options: DelimitedReadOptions) -> pa.RecordBatch:
    if not options.datetime_formats:
        return batch
    dates = [c for c, t in options.column_types.items() if t == ColumnType.DATE and c in batch.schema.names]
    if not dates:
        return batch
    columns = [batch.column(i).cast(pa.date32()) if name in dates else batch.column(i)
               for i, name in enumerate(batch.schema.names)]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _post_cast_schema(schema: pa.Schema, options: DelimitedReadOptions) -> pa.Schema:
    if not options.datetime_formats:
        return schema
    for column, ctype in options.column_types.items():
        if ctype == ColumnType.DATE and column in schema.names:
            schema = schema.set(schema.get_field_index(column), pa.field(column, pa.date32()))
    return schema


def _align(batch: pa.RecordBatch, target: pa.Schema, source: TextSource) -> pa.RecordBatch:
    try:
        return batch.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        raise InvalidInput(
            f"{source.name} does not fit the columns of the first file ({exc}). "
            "Give column_types so every file reads the same way."
        ) from None


def _check_binary(schema: pa.Schema, source: TextSource, options: DelimitedReadOptions, delimiter: str) -> None:
    # pyarrow reads text that is not valid UTF-8 as bytes: that is an encoding problem.
    for name, typ in zip(schema.names, schema.types):
        if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
            raise _encoding_error(source, options, name)


# -- errors: find the line, say what to do ------------------------------------------------
def _translate(exc: BaseException, source: TextSource, options: DelimitedReadOptions, delimiter: str,
               names: list[str] | None, user_typed: set[str], current: dict | None = None) -> Exception:
    if isinstance(exc, UnicodeDecodeError):
        return _encoding_error(source, options, None)
    message = str(exc)
    if "Empty CSV file" in message or "Empty file" in message:
        return InvalidInput(f"{source.name} is empty. Register a file that holds a header and data rows.")
    if "invalid UTF8" in message or "UTF-8" in message or "UTF8" in message:
        return _encoding_error(source, options, None)
    ragged = _RAGGED.search(message)
    if ragged:
        expected, got = int(ragged.group(2)), int(ragged.group(3))
        try:
            line = _locate_ragged(source, options, delimiter, expected)
        except _OpenQuote as open_quote:
            return open_quote.error(source, options)
        where = f"line {line}" if line else "a row"
        return InvalidInput(
            f"{source.name}: {where} has {got} fields where the header has {expected} "
            f"(delimiter {_show(delimiter)}). Fix the row, check the 'delimiter' and 'quote_char' "
            "read options, or remove stray delimiters."
        )
    conversion = _CONVERSION.search(message)
    if conversion and names is not None:
        index, target_type, value = int(conversion.group(1)), conversion.group(3).strip(), conversion.group(4)
        column = names[index] if index < len(names) else f"#{index + 1}"
        if column not in user_typed:
            return _Widen(column, _wider(current.get(column) if current else None, target_type, value))
        try:
            line = _locate_value(source, options, delimiter, column, value)
        except _OpenQuote as open_quote:  # the scan met an open quote before the value: that is the fault
            return open_quote.error(source, options)
        where = f" on line {line}" if line else ""
        return InvalidInput(
            f"{source.name}: column {column!r} is set to {options.column_types[column].value} in column_types, "
            f"but {value!r}{where} is not a valid {options.column_types[column].value}. "
            "Change column_types for that column (or datetime_formats), or fix the value."
        )
    return InvalidInput(f"{source.name} could not be parsed: {message}. Check the read options.")


def _wider(current: pa.DataType | None, failed_type: str, value: str) -> pa.DataType:
    """The next type up the ladder null → integer → float → string that can hold ``value``."""
    def parses(kind: type) -> bool:
        try:
            kind(value.replace(",", "."))
            return True
        except ValueError:
            return False

    if failed_type == "null" and parses(int):
        return pa.int64()
    if failed_type in ("null", "int64") and parses(float):
        return pa.float64()
    return pa.string()


def _encoding_error(source: TextSource, options: DelimitedReadOptions, column: str | None) -> InvalidInput:
    line, byte = _locate_bad_bytes(source, options.encoding)
    where = f" at line {line}" if line else ""
    what = f" (byte 0x{byte:02x})" if byte is not None else ""
    col = f" in column {column!r}" if column and not line else ""
    hint = "'latin-1' or 'cp1252'" if options.encoding.lower().startswith("utf") else "'utf-8'"
    return InvalidInput(
        f"{source.name} is not valid {options.encoding}{where}{what}{col}. "
        f"Set the 'encoding' read option to the file's encoding (e.g. {hint})."
    )


def _locate_bad_bytes(source: TextSource, encoding: str) -> tuple[int | None, int | None]:
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with source.open() as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                seen = exc.object[: exc.start]
                return line + seen.count(b"\n"), exc.object[exc.start]
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return line, None
    return None, None


class _OpenQuote(Exception):
    """A quoted field that runs on past where it should end: from ``line`` to ``until`` (None: past csv's field limit)."""

    def __init__(self, line: int, until: int | None) -> None:
        super().__init__(line)
        self.line, self.until = line, until

    def error(self, source: TextSource, options: DelimitedReadOptions) -> InvalidInput:
        runs = f"to line {self.until}" if self.until else "on for more than 128 KB"
        return InvalidInput(
            f"{source.name}: a quote opened on line {self.line} is never closed (the field runs {runs}). "
            f"Close the quote on that line, or check the 'quote_char' (now {options.quote_char!r}; None if "
            f"values are not quoted) and 'escape_char' (now {options.escape_char!r}) read options."
        )


def _rows(source: TextSource, options: DelimitedReadOptions, delimiter: str) -> Iterator[tuple[int, int, list[str]]]:
    """(first line, last line, fields) with Python's csv module: slow, used only to find a bad row.

    Raises ``_OpenQuote`` when a field outgrows csv's limit: a quote that nothing closes.
    """
    with source.open() as raw:
        text = io.TextIOWrapper(raw, encoding=options.encoding, errors="replace", newline="")
        for _ in range(options.skip_rows):
            text.readline()
        base = options.skip_rows
        reader = csv.reader(text, delimiter=delimiter, quotechar=options.quote_char or '"',
                            escapechar=options.escape_char,
                            quoting=csv.QUOTE_MINIMAL if options.quote_char else csv.QUOTE_NONE)
        last = base  # the last line of the previous record
        try:
            for row in reader:
                if row:
                    yield last + 1, base + reader.line_num, row
                last = base + reader.line_num
        except csv.Error as exc:
            if options.quote_char and "field limit" in str(exc):
                raise _OpenQuote(last + 1, None) from None
            return


def _locate_ragged(source: TextSource, options: DelimitedReadOptions, delimiter: str, expected: int) -> int | None:
    rows = _rows(source, options, delimiter)
    for first, last, row in rows:
        if len(row) != expected:
            if options.quote_char and last > first and len(row) < expected and next(rows, None) is None:
                raise _OpenQuote(first, last)  # a quoted value swallowed every line end to the end of the file
            return first
    return None


def _locate_value(source: TextSource, options: DelimitedReadOptions, delimiter: str, column: str,
                  value: str) -> int | None:
    header_seen = options.header == HeaderMode.NONE
    names = options.column_names
    for line, _, row in _rows(source, options, delimiter):
        if not header_seen:
            header_seen = True
            names = names or row
            continue
        if names and column in names:
            idx = names.index(column)
            if idx < len(row) and row[idx] == value:
                return line
    return None


def _show(delimiter: str) -> str:
    return {"\t": "tab", " ": "space"}.get(delimiter, repr(delimiter))
