"""Read the columns a drift comparison uses from a Parquet file, in little memory."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from studio_ext.errors import InvalidInput
from studio_ext.ml.drift._columns import Coded, Column, Columns

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_columns", "read_table"]


def _each_column(path: str | Path, columns: Sequence[str]) -> Iterator[tuple[str, Any]]:
    """Each named column as an Arrow ChunkedArray, its buffers given back once the caller moves on."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise InvalidInput(
            f"Column {', '.join(map(repr, missing))} is not in {Path(path).name}: its columns are {schema.names}."
        )
    strings = [c for c in columns if pa.types.is_string(schema.field(c).type) or
               pa.types.is_large_string(schema.field(c).type)]
    parquet = pq.ParquetFile(path, read_dictionary=strings)
    pool = pa.default_memory_pool()
    for column in dict.fromkeys(columns):
        table = parquet.read(columns=[column], use_threads=False)
        yield column, table.column(0)
        del table
        pool.release_unused()  # give the decoded pages back before the next column


def read_columns(path: str | Path, columns: Sequence[str]) -> pd.DataFrame:
    """The named columns of a Parquet file as a pandas DataFrame, read one column at a time.

    Only ``columns`` are read. Each is decoded, converted to pandas and its Arrow buffers
    released before the next, so the peak is the frame plus one column rather than the
    whole Arrow table plus the frame. String columns come back as pandas categoricals
    (integer codes and one copy of each distinct value), which the drift metrics count by
    code. The frame has a fresh RangeIndex. :func:`read_table` reads the same without pandas.

    Raises
    ------
    InvalidInput
        A column the file does not have (the message lists those it has).

    Example::

        frame = read_columns("flights.parquet", ["time_hour", "dep_delay", "carrier"])
    """
    import pandas as pd

    out: dict[str, pd.Series] = {}
    for column, values in _each_column(path, columns):
        out[column] = values.to_pandas()
        del values  # the Arrow column is dropped before the next is read
    return pd.DataFrame(out, copy=False)


def _codes_dtype(categories: int) -> type[np.signedinteger[Any]]:
    for dtype in (np.int8, np.int16, np.int32):
        if categories < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _nulls(chunk: Any) -> np.ndarray:
    """Where an Arrow array is null, from its validity bitmap (bit i of the bitmap is 1 where row i is set)."""
    bits = np.frombuffer(chunk.buffers()[0], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little")[chunk.offset:chunk.offset + len(chunk)] == 0


def _ints(chunk: Any, null: int, out: np.ndarray) -> None:
    """An Arrow integer array's values into ``out``, ``null`` where it has none.

    Through its buffers and validity mask: ``fill_null`` and ``pa.scalar`` would import pandas
    (Arrow checks every scalar it makes against pandas' types).
    """
    data = np.frombuffer(chunk.buffers()[1], dtype=f"int{chunk.type.bit_width}", count=len(chunk) + chunk.offset)
    out[:] = data[chunk.offset:]
    if chunk.null_count:
        out[_nulls(chunk)] = null


def _numbers(chunked: Any) -> np.ndarray:
    """An Arrow integer or float column as numpy: floats (and integers with nulls) as float64 with NaN.

    Read from the buffers (a float64 column of one chunk with no nulls is a view of them, no
    copy): Arrow's ``to_numpy`` imports pandas to check its types.
    """
    import pyarrow as pa

    kind = chunked.type
    chunks = chunked.chunks
    floats = {"double": np.float64, "float": np.float32, "halffloat": np.float16}
    source = floats.get(str(kind)) or np.dtype(f"{'u' if pa.types.is_unsigned_integer(kind) else ''}int{kind.bit_width}")
    if str(kind) == "double" and not chunked.null_count and len(chunks) == 1:
        chunk = chunks[0]
        return np.frombuffer(chunk.buffers()[1], dtype=np.float64, count=len(chunk) + chunk.offset)[chunk.offset:]
    out = np.empty(len(chunked), dtype=np.float64 if str(kind) in floats or chunked.null_count else source)
    at = 0
    for chunk in chunks:
        data = np.frombuffer(chunk.buffers()[1], dtype=source, count=len(chunk) + chunk.offset)
        out[at:at + len(chunk)] = data[chunk.offset:]
        if chunk.null_count:
            out[at:at + len(chunk)][_nulls(chunk)] = np.nan
        at += len(chunk)
    return out


def _to_numpy(chunked: Any) -> tuple[Column, str | None]:
    """One Arrow column as numpy: times as datetime64 (UTC, and their zone), strings as :class:`Coded`."""
    import pyarrow as pa

    kind = chunked.type
    if pa.types.is_dictionary(kind):
        chunks = chunked.unify_dictionaries().chunks
        categories = np.empty(len(chunks[0].dictionary) if chunks else 0, dtype=object)
        categories[:] = chunks[0].dictionary.to_pylist() if chunks else []  # the distinct values, once each
        dtype = _codes_dtype(len(categories))
        codes = np.empty(len(chunked), dtype=dtype)
        at = 0
        for chunk in chunks:  # the indices as small integers, -1 for null, one chunk at a time
            _ints(chunk.indices, -1, codes[at:at + len(chunk)])
            at += len(chunk)
        return Coded(codes, categories), None
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        # Times through their integer view: Arrow's own conversion of times goes through pandas.
        unit = kind.unit if pa.types.is_timestamp(kind) else ("D" if pa.types.is_date32(kind) else "ms")
        ticks = np.empty(len(chunked), dtype=np.int64)
        at = 0
        for chunk in chunked.cast(pa.int64()).chunks:  # the int64 minimum is NaT
            _ints(chunk, np.iinfo(np.int64).min, ticks[at:at + len(chunk)])
            at += len(chunk)
        stamps = ticks.view(f"datetime64[{unit}]")
        return stamps, kind.tz if pa.types.is_timestamp(kind) else None
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return _numbers(chunked), None
    # Booleans and other types as Python objects (None for null).
    values = np.empty(len(chunked), dtype=object)
    values[:] = chunked.to_pylist()
    return values, None


def read_table(path: str | Path, columns: Sequence[str]) -> Columns:
    """The named columns of a Parquet file as numpy arrays (:class:`Columns`), without pandas.

    As :func:`read_columns`, one column at a time, each column's Arrow buffers released
    before the next; numbers come back as numpy arrays (integers with nulls as float64 with
    NaN), times as ``datetime64`` in UTC with their zone kept in ``timezones``, strings as
    :class:`Coded` categoricals (the file's dictionary and int8 codes when it has under 127
    values). The drift engine (:func:`compare`, :func:`iter_windows`, :class:`Reference`)
    takes the result as it takes a DataFrame; a backfill over Parquet files then never
    imports pandas.

    Raises
    ------
    InvalidInput
        A column the file does not have (the message lists those it has).

    Example::

        table = read_table("flights.parquet", ["time_hour", "dep_delay", "carrier"])
        for w in iter_windows(table, "time_hour", "Week"):
            compare(reference, w.frame, features=["dep_delay", "carrier"])
    """
    out: dict[str, Column] = {}
    zones: dict[str, str] = {}
    for column, values in _each_column(path, columns):
        out[column], zone = _to_numpy(values)
        if zone is not None:
            zones[column] = zone
        del values  # the Arrow column is dropped before the next is read
    return Columns(out, zones)
