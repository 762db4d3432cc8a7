"""Scoring requests' bodies → rows: MLflow's and Azure ML's input formats.

A body is one JSON object with exactly one of the keys ``dataframe_split``,
``dataframe_records``, ``instances``, ``inputs`` (MLflow's scoring server) or
``input_data`` (Azure ML's). Whatever the format, the rows come out as lists of
values in the model's column order, ready for :meth:`MlflowScorer.to_matrix
<studio_ext.serving.scorers.MlflowScorer.to_matrix>`.
"""

from __future__ import annotations

from typing import Any

from studio_ext.serving.http_protocol import HttpError

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs", "input_data")


def rows_from_payload(payload: Any, columns: list[str] | None) -> tuple[list[Any], list[str] | None, bool]:
    """MLflow's and Azure's input formats → (rows in ``columns`` order, columns given, azure style)."""
    if not isinstance(payload, dict) or len(payload) != 1 or next(iter(payload)) not in FORMATS:
        raise HttpError(400, "The body must be a JSON object with exactly one of the keys "
                        f"{', '.join(FORMATS)}. See /swagger.json for the schema.")
    key, value = next(iter(payload.items()))
    azure = key == "input_data"
    if key in ("dataframe_split", "input_data") and isinstance(value, dict):
        data, given = value.get("data"), value.get("columns")
        if not isinstance(data, list):
            raise HttpError(400, f"'{key}' needs a 'data' list of rows.")
        if given is not None and given != columns and (
                not isinstance(given, list) or not all(isinstance(c, str) for c in given)):
            raise HttpError(400, f"'{key}.columns' must be a list of column names.")
        return _reorder(data, given, columns), given, azure
    if isinstance(value, dict):  # {"col": [values...]}: columnar instances/inputs
        if not all(isinstance(v, list) for v in value.values()):
            raise HttpError(400, f"'{key}' as an object must map each column to a list of values.")
        lengths = {len(v) for v in value.values()}
        if len(lengths) > 1:
            raise HttpError(400, f"The columns of '{key}' have different lengths: {sorted(lengths)}.")
        records = [dict(zip(value, vals)) for vals in zip(*value.values())]
        return _from_records(records, columns), list(value), azure
    if not isinstance(value, list):
        raise HttpError(400, f"'{key}' must be a list of rows or records.")
    if value and all(isinstance(r, dict) for r in value):
        return _from_records(value, columns), None, azure
    if key == "dataframe_records":
        raise HttpError(400, "'dataframe_records' must be a list of objects (one per row).")
    return value, None, azure


def _reorder(data: list[Any], given: list[str] | None, columns: list[str] | None) -> list[Any]:
    if not given or not columns or given == columns:
        return data
    missing = [c for c in columns if c not in given]
    if missing:
        raise HttpError(400, f"The input lacks the column(s) {', '.join(missing)}; the model needs {', '.join(columns)}.")
    index = [given.index(c) for c in columns]
    try:
        return [[row[i] for i in index] for row in data]
    except (IndexError, TypeError, KeyError):
        raise HttpError(400, f"Each row must be a list of {len(given)} values, one per column.") from None


def _from_records(records: list[dict[str, Any]], columns: list[str] | None) -> list[Any]:
    names = columns or list(records[0])
    try:
        return [[r[c] for c in names] for r in records]
    except KeyError as exc:
        raise HttpError(400, f"A record lacks the column {exc.args[0]!r}; the model needs {', '.join(names)}.") from None

