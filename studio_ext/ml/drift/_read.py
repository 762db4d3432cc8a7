"""Read the columns a drift comparison uses from a Parquet file, in little memory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from studio_ext.errors import InvalidInput

__all__ = ["read_columns"]


def read_columns(path: str | Path, columns: Sequence[str]) -> pd.DataFrame:
    """The named columns of a Parquet file as a DataFrame, read one column at a time.

    Only ``columns`` are read. Each is decoded, converted to pandas and its Arrow buffers
    released before the next, so the peak is the frame plus one column rather than the
    whole Arrow table plus the frame. String columns come back as pandas categoricals
    (integer codes and one copy of each distinct value), which the drift metrics count by
    code. The frame has a fresh RangeIndex.

    Raises
    ------
    InvalidInput
        A column the file does not have (the message lists those it has).

    Example::

        frame = read_columns("flights.parquet", ["time_hour", "dep_delay", "carrier"])
    """
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
    out: dict[str, pd.Series] = {}
    for column in dict.fromkeys(columns):
        table = parquet.read(columns=[column], use_threads=False)
        out[column] = table.column(0).to_pandas()
        del table
        pool.release_unused()  # give the decoded pages back before the next column
    return pd.DataFrame(out, copy=False)
