"""Mapping a featurization pipeline's output columns back to the raw columns users know.

A one-hot encoder turns ``occupation`` into fifteen columns; SHAP values are additive,
so the contribution of ``occupation`` is the sum over those fifteen. This module
finds, for a scikit-learn preprocessor, which raw column each output column comes
from, using the transformers' feature names (``ColumnTransformer.output_indices_``
and ``get_feature_names_out``). When an output mixes several raw columns (PCA,
polynomial features) there is no honest split, and the caller explains the whole
pipeline with a model-agnostic explainer instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


class NoRawMapping(Exception):
    """The preprocessor's outputs cannot be attributed to single raw columns; ``str`` says why."""


@dataclass(frozen=True)
class RawFeatureMap:
    """Output column ``j`` of the preprocessor comes from raw column ``owner[j]``."""

    raw_features: tuple[str, ...]
    owner: tuple[int, ...]

    @property
    def matrix(self) -> np.ndarray:
        """A (outputs × raw features) 0/1 matrix: transformed values @ matrix = raw values."""
        out = np.zeros((len(self.owner), len(self.raw_features)))
        out[np.arange(len(self.owner)), self.owner] = 1.0
        return out

    def to_raw(self, values: np.ndarray) -> np.ndarray:
        """Sum contributions of (rows, outputs[, k]) over each raw column's outputs."""
        if values.ndim == 2:
            return values @ self.matrix
        return np.einsum("nfk,fr->nrk", values, self.matrix)

    @property
    def groups(self) -> list[np.ndarray]:
        """For each raw feature, the output columns it owns."""
        owner = np.asarray(self.owner)
        return [np.flatnonzero(owner == i) for i in range(len(self.raw_features))]


def split_pipeline(model: Any) -> tuple[Any | None, Any]:
    """(preprocessor, final estimator) of a scikit-learn Pipeline; (None, model) otherwise."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline) and len(model.steps) >= 2:
        return model[:-1], model[-1]
    return None, model


def raw_feature_map(preprocessor: Any, raw_features: Sequence[str]) -> RawFeatureMap:
    """Attribute each output column of a fitted preprocessor to one raw column, or raise NoRawMapping."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    raw = [str(c) for c in raw_features]
    steps = [s for _, s in preprocessor.steps] if isinstance(preprocessor, Pipeline) else [preprocessor]
    steps = [s for s in steps if s is not None and s != "passthrough"]
    if not steps:
        return RawFeatureMap(tuple(raw), tuple(range(len(raw))))
    first, rest = steps[0], steps[1:]
    if isinstance(first, ColumnTransformer):
        owner_names = _column_transformer_owners(first, raw)
    else:
        owner_names = _owners_by_name(first, raw, raw)
    names = _names_out(first, raw)
    for step in rest:
        after = _names_out(step, names)
        if list(after) != list(names):
            raise NoRawMapping(
                f"the step {type(step).__name__} after the column encoders changes the columns "
                "(it mixes features), so its outputs have no single raw column"
            )
    index = {name: i for i, name in enumerate(raw)}
    return RawFeatureMap(tuple(raw), tuple(index[n] for n in owner_names))


def _names_out(step: Any, names_in: Sequence[str]) -> list[str]:
    try:
        return [str(n) for n in step.get_feature_names_out(list(names_in))]
    except Exception as exc:  # transformers without feature names cannot be mapped
        raise NoRawMapping(f"{type(step).__name__} does not report its output feature names ({exc})") from exc


def _column_transformer_owners(ct: Any, raw: list[str]) -> list[str]:
    """Each output column's raw owner, transformer by transformer, through ``output_indices_``."""
    fitted_in = [str(c) for c in getattr(ct, "feature_names_in_", raw)]
    width = max((s.stop for s in ct.output_indices_.values()), default=0)
    owners: list[str | None] = [None] * width
    for name, transformer, columns in ct.transformers_:
        span = ct.output_indices_.get(name)
        if span is None or span.stop == span.start or transformer == "drop":
            continue
        cols = _resolve_columns(columns, fitted_in)
        if len(cols) == 1:
            found = [cols[0]] * (span.stop - span.start)
        elif transformer == "passthrough":
            found = list(cols)
        else:
            found = _owners_by_name(transformer, cols, cols)
        if len(found) != span.stop - span.start:
            raise NoRawMapping(f"the transformer {name!r} reports {len(found)} names for {span.stop - span.start} columns")
        owners[span.start:span.stop] = found
    if any(o is None for o in owners):
        raise NoRawMapping("some encoded columns come from no transformer the pipeline reports")
    unknown = sorted({o for o in owners if o not in raw})
    if unknown:
        raise NoRawMapping(f"the pipeline reads columns that are not among the features: {', '.join(unknown)}")
    return [str(o) for o in owners]


def _resolve_columns(columns: Any, fitted_in: list[str]) -> list[str]:
    """A ColumnTransformer column selection (names, positions, mask, slice) as names."""
    if isinstance(columns, str):
        return [columns]
    if isinstance(columns, slice):
        return fitted_in[columns]
    cols = list(columns) if not isinstance(columns, (int, np.integer)) else [columns]
    if cols and all(isinstance(c, (bool, np.bool_)) for c in cols):
        return [n for n, keep in zip(fitted_in, cols) if keep]
    return [fitted_in[int(c)] if isinstance(c, (int, np.integer)) else str(c) for c in cols]


def _owners_by_name(transformer: Any, columns: list[str], candidates: list[str]) -> list[str]:
    """Owners from output names: ``age`` → age, ``occupation_Sales`` → occupation (longest prefix wins)."""
    names = _names_out(transformer, columns)
    by_length = sorted(candidates, key=len, reverse=True)
    owners = []
    for name in names:
        match = next((c for c in by_length if name == c or name.startswith(c + "_")), None)
        if match is None:
            raise NoRawMapping(
                f"{type(transformer).__name__} makes a column {name!r} that names no single input column"
            )
        owners.append(match)
    return owners
