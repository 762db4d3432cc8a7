"""Featurization: how each raw column becomes numbers, as one scikit-learn ColumnTransformer.

:func:`plan_featurization` decides, per column, its purpose (numeric, categorical,
datetime, text, ignored) and the transformer that handles it, honouring
``column_name_and_types``, ``blocked_transformers`` and ``transformer_params``;
:meth:`FeaturizationPlan.build` turns the plan into the transformer that is saved
inside the model, so scoring applies exactly the same steps. The output is dense
and unscaled: learners that need scaling carry their own scaler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from studio_ext.entities._automl import BlockedTransformer, ColumnPurpose, FeaturizationMode, FeaturizationSettings
from studio_ext.errors import InvalidInput
from studio_ext.ml.automl.metrics import Task

__all__ = [
    "CategoryStrings",
    "ColumnPlan",
    "DatetimeParts",
    "FeaturizationPlan",
    "HashingEncoder",
    "TextVectorizer",
    "plan_featurization",
]

ONE_HOT_MAX_CATEGORIES = 32
ID_MIN_ROWS = 100
TEXT_MIN_TOKENS = 3.0
DEFAULT_HASH_BITS = 8
TEXT_MAX_FEATURES = 500
MISSING = "__missing__"
_IMPUTE_STRATEGIES = ("mean", "median", "most_frequent", "constant")

# Transformer preference per purpose: the first one not blocked is used.
_CATEGORICAL_LOW = (BlockedTransformer.ONE_HOT_ENCODER, BlockedTransformer.HASH_ONE_HOT_ENCODER,
                    BlockedTransformer.LABEL_ENCODER, BlockedTransformer.CAT_TARGET_ENCODER)
_CATEGORICAL_HIGH = (BlockedTransformer.CAT_TARGET_ENCODER, BlockedTransformer.HASH_ONE_HOT_ENCODER,
                     BlockedTransformer.LABEL_ENCODER)
_CATEGORICAL_HASH = (BlockedTransformer.HASH_ONE_HOT_ENCODER, BlockedTransformer.LABEL_ENCODER)
_TEXT = (BlockedTransformer.TF_IDF, BlockedTransformer.COUNT_VECTORIZER)

MSG_UNKNOWN_COLUMN = ("column_name_and_types names the column {column!r}, which the training data does not "
                      "have. Columns: {columns}.")
MSG_UNKNOWN_PURPOSE = ("column_name_and_types gives {column!r} the type {value!r}. Use one of: {allowed}.")
MSG_UNKNOWN_TRANSFORMER = ("blocked_transformers names {value!r}, which is not a transformer. Use any of: "
                           "{allowed}.")
MSG_PARAMS_KIND = ("transformer_params supports 'imputer' and 'hash_one_hot_encoder'. Got {value!r} instead.")
MSG_PARAMS_FIELD = ("transformer_params[{kind!r}] names the column {column!r}, which the training data does "
                    "not have.")
MSG_IMPUTE_STRATEGY = ("The imputer strategy for {column!r} must be one of {allowed}. Got {value!r} instead.")
MSG_HASH_BITS = ("hash_one_hot_encoder's number_of_bits for {column!r} must be an int in [1, 16]. "
                 "Got {value!r} instead.")
MSG_OFF_NOT_NUMERIC = ("Featurization is off, but the column {column!r} is not numeric ({dtype}). Turn "
                       "featurization to 'auto', mark the column Ignore, or make it numeric first.")
MSG_NOTHING_LEFT = ("No column is left to learn from: {why}. Unblock some transformers or change "
                    "column_name_and_types.")
MSG_MODE = "The featurization mode must be 'auto', 'off' or 'custom'. Got {value!r} instead."


@dataclass
class ColumnPlan:
    """One raw column: what it is taken for, which transformer handles it, and why."""

    name: str
    detected: ColumnPurpose
    purpose: ColumnPurpose
    transformer: str | None
    missing: int
    distinct: int
    reason: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def dropped(self) -> bool:
        return self.purpose is ColumnPurpose.IGNORE

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.name, "type_detected": self.detected.value, "used_as": self.purpose.value,
                "transformer": self.transformer, "missing": self.missing, "distinct": self.distinct,
                "dropped": self.dropped, "reason": self.reason, "params": self.params}


@dataclass
class FeaturizationPlan:
    """The decisions for every column; ``build()`` makes the transformer."""

    columns: list[ColumnPlan]
    mode: FeaturizationMode
    task: Task

    @property
    def used(self) -> list[ColumnPlan]:
        return [c for c in self.columns if not c.dropped]

    @property
    def dropped(self) -> list[ColumnPlan]:
        return [c for c in self.columns if c.dropped]

    @property
    def imputed(self) -> list[ColumnPlan]:
        return [c for c in self.used if c.missing]

    @property
    def high_cardinality(self) -> list[ColumnPlan]:
        return [c for c in self.used if c.purpose is ColumnPurpose.CATEGORICAL and c.distinct > ONE_HOT_MAX_CATEGORIES]

    @property
    def input_columns(self) -> list[str]:
        return [c.name for c in self.columns]

    def summary(self) -> pd.DataFrame:
        """One row per raw column, like the studio's featurization summary."""
        return pd.DataFrame([c.to_dict() for c in self.columns])

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "columns": [c.to_dict() for c in self.columns]}

    def build(self) -> Any:
        """The ColumnTransformer (unfitted) that turns a raw frame into a dense float matrix."""
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, TargetEncoder

        parts: list[tuple[str, Any, Any]] = []
        numeric: dict[tuple[str, Any], list[str]] = {}
        grouped: dict[str, list[str]] = {}
        for col in self.used:
            if col.purpose is ColumnPurpose.NUMERIC:
                key = (col.params.get("strategy", "mean"), col.params.get("fill_value"))
                numeric.setdefault(key, []).append(col.name)
            elif col.transformer in (BlockedTransformer.ONE_HOT_ENCODER.value, BlockedTransformer.LABEL_ENCODER.value,
                                     BlockedTransformer.CAT_TARGET_ENCODER.value):
                grouped.setdefault(col.transformer, []).append(col.name)
            elif col.transformer == BlockedTransformer.HASH_ONE_HOT_ENCODER.value:
                parts.append((f"hash:{col.name}", make_pipeline(
                    CategoryStrings(), HashingEncoder(number_of_bits=col.params.get("number_of_bits",
                                                                                    DEFAULT_HASH_BITS))), [col.name]))
            elif col.purpose is ColumnPurpose.DATETIME:
                parts.append((f"datetime:{col.name}", DatetimeParts(), [col.name]))
            elif col.purpose is ColumnPurpose.TEXT:
                kind = "tfidf" if col.transformer == BlockedTransformer.TF_IDF.value else "count"
                parts.append((f"text:{col.name}", TextVectorizer(kind=kind), [col.name]))
        for i, ((strategy, fill), names) in enumerate(numeric.items()):
            needs_impute = any(c.missing for c in self.used if c.name in names)
            step: Any = (SimpleImputer(strategy=strategy, fill_value=fill, add_indicator=True,
                                       keep_empty_features=True) if needs_impute else "passthrough")
            parts.insert(i, (f"numeric:{strategy}", make_pipeline(ToFloat(), step), names))
        if BlockedTransformer.ONE_HOT_ENCODER.value in grouped:
            parts.append(("onehot", make_pipeline(CategoryStrings(), OneHotEncoder(
                handle_unknown="ignore", sparse_output=False)), grouped[BlockedTransformer.ONE_HOT_ENCODER.value]))
        if BlockedTransformer.LABEL_ENCODER.value in grouped:
            parts.append(("label", make_pipeline(CategoryStrings(), OrdinalEncoder(
                handle_unknown="use_encoded_value", unknown_value=-1)), grouped[BlockedTransformer.LABEL_ENCODER.value]))
        if BlockedTransformer.CAT_TARGET_ENCODER.value in grouped:
            from sklearn.model_selection import KFold

            target_type = "continuous" if self.task is not Task.CLASSIFICATION else "auto"
            parts.append(("target", make_pipeline(CategoryStrings(), TargetEncoder(
                target_type=target_type, cv=KFold(5, shuffle=True, random_state=0))),
                grouped[BlockedTransformer.CAT_TARGET_ENCODER.value]))
        return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=True)


def plan_featurization(
    frame: pd.DataFrame,
    task: Task,
    settings: FeaturizationSettings | None = None,
) -> FeaturizationPlan:
    """Decide how every column of ``frame`` (features only, no target) is featurized.

    Raises ``InvalidInput`` for settings that name unknown columns, types or
    transformers, and when nothing is left to learn from.
    """
    settings = settings or FeaturizationSettings()
    try:
        mode = FeaturizationMode(getattr(settings.mode, "value", settings.mode))
    except ValueError:
        raise InvalidInput(MSG_MODE.format(value=settings.mode)) from None
    overrides = _parse_overrides(frame, settings) if mode is not FeaturizationMode.OFF else {}
    blocked = _parse_blocked(settings.blocked_transformers) if mode is not FeaturizationMode.OFF else set()
    params = _parse_params(frame, settings.transformer_params) if mode is not FeaturizationMode.OFF else {}
    plans: list[ColumnPlan] = []
    for name in frame.columns:
        series = frame[name]
        missing = int(series.isna().sum())
        distinct = int(series.nunique(dropna=True))
        if mode is FeaturizationMode.OFF:
            if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
                raise InvalidInput(MSG_OFF_NOT_NUMERIC.format(column=name, dtype=series.dtype))
            plans.append(ColumnPlan(name=str(name), detected=ColumnPurpose.NUMERIC, purpose=ColumnPurpose.NUMERIC,
                                    transformer=None, missing=missing, distinct=distinct,
                                    params={"strategy": "mean"} if missing else {}))
            continue
        detected, why = detect_purpose(series)
        purpose = overrides.get(str(name), detected)
        reason = "set by column_name_and_types" if str(name) in overrides else why
        plan = ColumnPlan(name=str(name), detected=detected, purpose=purpose, transformer=None,
                          missing=missing, distinct=distinct, reason=reason)
        if purpose is not ColumnPurpose.IGNORE and missing == len(series):
            plan.purpose, plan.reason = ColumnPurpose.IGNORE, "every value is missing"
        _choose_transformer(plan, blocked, params.get(str(name), {}))
        plans.append(plan)
    result = FeaturizationPlan(columns=plans, mode=mode, task=task)
    if not result.used:
        reasons = "; ".join(f"{c.name}: {c.reason}" for c in plans[:8]) or "the data has no feature columns"
        raise InvalidInput(MSG_NOTHING_LEFT.format(why=reasons))
    return result


def detect_purpose(series: pd.Series) -> tuple[ColumnPurpose, str]:
    """The studio's type detection for one column, with the reason in words."""
    values = series.dropna()
    n = len(series)
    if values.empty:
        return ColumnPurpose.IGNORE, "every value is missing"
    distinct = values.nunique()
    if distinct <= 1:
        return ColumnPurpose.IGNORE, "a single value: it cannot tell rows apart"
    if pd.api.types.is_bool_dtype(series):
        return ColumnPurpose.NUMERIC, "boolean"
    if pd.api.types.is_datetime64_any_dtype(series):
        return ColumnPurpose.DATETIME, "a date/time type"
    if pd.api.types.is_numeric_dtype(series):
        if pd.api.types.is_integer_dtype(series) and distinct == n and n >= ID_MIN_ROWS:
            return ColumnPurpose.IGNORE, "a different integer on every row: looks like a row id"
        return ColumnPurpose.NUMERIC, "numbers"
    strings = values.astype(str)
    sample = strings.head(200)
    if _looks_like_dates(sample):
        return ColumnPurpose.DATETIME, "text that parses as dates"
    tokens = sample.str.split().str.len().mean()
    if tokens >= TEXT_MIN_TOKENS and distinct > 0.5 * len(values):
        return ColumnPurpose.TEXT, f"free text ({tokens:.1f} words per value on average)"
    if distinct == n and n >= ID_MIN_ROWS:
        return ColumnPurpose.IGNORE, "a different value on every row: looks like an id"
    if distinct > ONE_HOT_MAX_CATEGORIES:
        return ColumnPurpose.CATEGORICAL, f"categories ({distinct} distinct: high cardinality)"
    return ColumnPurpose.CATEGORICAL, f"categories ({distinct} distinct)"


def _looks_like_dates(sample: pd.Series) -> bool:
    if not sample.str.contains(r"\d{1,4}[-/:.]\d{1,2}", regex=True).mean() > 0.95:
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() > 0.95)


def _choose_transformer(plan: ColumnPlan, blocked: set[str], params: dict[str, Any]) -> None:
    if plan.purpose is ColumnPurpose.IGNORE:
        return
    if plan.purpose is ColumnPurpose.NUMERIC:
        plan.params = {k: v for k, v in params.items() if k in ("strategy", "fill_value")}
        if plan.missing and "strategy" not in plan.params:
            plan.params["strategy"] = "mean"
        plan.transformer = "Imputer" if plan.missing else None
        return
    if plan.purpose is ColumnPurpose.DATETIME:
        plan.transformer = "DateTimeParts"
        return
    if plan.purpose is ColumnPurpose.TEXT:
        order: tuple[BlockedTransformer, ...] = _TEXT
    elif plan.purpose is ColumnPurpose.CATEGORICAL_HASH:
        order = _CATEGORICAL_HASH
    elif plan.distinct > ONE_HOT_MAX_CATEGORIES:
        order = _CATEGORICAL_HIGH
    else:
        order = _CATEGORICAL_LOW
    if "number_of_bits" in params and BlockedTransformer.HASH_ONE_HOT_ENCODER.value not in blocked:
        order = (BlockedTransformer.HASH_ONE_HOT_ENCODER, *order)
    chosen = next((t for t in order if t.value not in blocked), None)
    if chosen is None:
        plan.purpose = ColumnPurpose.IGNORE
        plan.reason = f"every transformer for it is blocked ({', '.join(t.value for t in order)})"
        return
    plan.transformer = chosen.value
    if chosen is BlockedTransformer.HASH_ONE_HOT_ENCODER:
        plan.params = {"number_of_bits": params.get("number_of_bits", DEFAULT_HASH_BITS)}


def _parse_overrides(frame: pd.DataFrame, settings: FeaturizationSettings) -> dict[str, ColumnPurpose]:
    out: dict[str, ColumnPurpose] = {}
    lookup = {p.value.lower(): p for p in ColumnPurpose}
    lookup.update({"hashes": ColumnPurpose.CATEGORICAL_HASH, "datetime": ColumnPurpose.DATETIME})
    columns = [str(c) for c in frame.columns]
    for column, value in (settings.column_name_and_types or {}).items():
        if column not in columns:
            raise InvalidInput(MSG_UNKNOWN_COLUMN.format(column=column, columns=", ".join(columns)))
        purpose = lookup.get(str(getattr(value, "value", value)).lower())
        if purpose is None:
            raise InvalidInput(MSG_UNKNOWN_PURPOSE.format(column=column, value=value,
                                                          allowed=", ".join(p.value for p in ColumnPurpose)))
        out[column] = purpose
    return out


def _parse_blocked(values: list[str] | None) -> set[str]:
    lookup = {t.value.lower(): t.value for t in BlockedTransformer}
    out = set()
    for value in values or []:
        name = lookup.get(str(getattr(value, "value", value)).lower())
        if name is None:
            raise InvalidInput(MSG_UNKNOWN_TRANSFORMER.format(
                value=value, allowed=", ".join(t.value for t in BlockedTransformer)))
        out.add(name)
    return out


def _parse_params(frame: pd.DataFrame, params: Mapping[str, list[Any]] | None) -> dict[str, dict[str, Any]]:
    """``{"imputer": [{"fields": [...], "parameters": {...}}]}`` → per-column parameters."""
    out: dict[str, dict[str, Any]] = {}
    columns = {str(c) for c in frame.columns}
    for kind, entries in (params or {}).items():
        key = str(kind).lower()
        if key not in ("imputer", "hash_one_hot_encoder"):
            raise InvalidInput(MSG_PARAMS_KIND.format(value=kind))
        for entry in entries or []:
            fields = entry.get("fields") if isinstance(entry, Mapping) else getattr(entry, "fields", None)
            values = entry.get("parameters") if isinstance(entry, Mapping) else getattr(entry, "parameters", None)
            for column in fields or []:
                if column not in columns:
                    raise InvalidInput(MSG_PARAMS_FIELD.format(kind=kind, column=column))
                target = out.setdefault(column, {})
                values = dict(values or {})
                if key == "imputer":
                    strategy = values.get("strategy", "mean")
                    if strategy not in _IMPUTE_STRATEGIES:
                        raise InvalidInput(MSG_IMPUTE_STRATEGY.format(column=column, value=strategy,
                                                                      allowed=", ".join(_IMPUTE_STRATEGIES)))
                    target["strategy"] = strategy
                    if "fill_value" in values:
                        target["fill_value"] = values["fill_value"]
                else:
                    bits = values.get("number_of_bits", DEFAULT_HASH_BITS)
                    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 16:
                        raise InvalidInput(MSG_HASH_BITS.format(column=column, value=bits))
                    target["number_of_bits"] = bits
    return out


# -- transformers saved inside the model --------------------------------------------------


class NamedColumns(BaseEstimator, TransformerMixin):
    """The model's first step: rows given as a plain array get the training columns' names back.

    Scoring servers often pass a numeric matrix; the featurization selects columns by
    name, so it needs a frame. Frames pass through with their columns in training order.
    """

    def fit(self, X: Any, y: Any = None) -> NamedColumns:
        self.feature_names_in_ = np.asarray([str(c) for c in pd.DataFrame(X).columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        names = list(self.feature_names_in_)
        if isinstance(X, pd.DataFrame):
            missing = [c for c in names if c not in X.columns]
            if missing:
                raise ValueError(f"the rows lack the column(s) {', '.join(map(repr, missing))}")
            return X[names]
        frame = pd.DataFrame(np.asarray(X, dtype=object) if np.ndim(X) == 2 else X)
        if frame.shape[1] != len(names):
            raise ValueError(f"each row must have {len(names)} values ({', '.join(names)}); got {frame.shape[1]}")
        frame.columns = names
        return frame.infer_objects()

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self.feature_names_in_


class ToFloat(BaseEstimator, TransformerMixin):
    """Numeric columns (nullable ints and booleans included) as a float matrix with NaN for missing."""

    def fit(self, X: Any, y: Any = None) -> ToFloat:
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray(getattr(X, "columns", range(X.shape[1])), dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = pd.DataFrame(X)
        return np.column_stack([pd.to_numeric(frame[c], errors="coerce").astype("float64").to_numpy(
            na_value=np.nan) for c in frame.columns]) if frame.shape[1] else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(input_features if input_features is not None else self.feature_names_in_, dtype=object)


class CategoryStrings(BaseEstimator, TransformerMixin):
    """Categories as plain strings (missing as one category of its own), so encoders see one type."""

    def fit(self, X: Any, y: Any = None) -> CategoryStrings:
        self.feature_names_in_ = np.asarray(getattr(X, "columns", range(X.shape[1])), dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = pd.DataFrame(X)
        out = np.empty(frame.shape, dtype=object)
        for i, column in enumerate(frame.columns):
            values = frame[column]
            out[:, i] = np.where(values.isna().to_numpy(), MISSING, values.astype(str).to_numpy(dtype=object))
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(input_features if input_features is not None else self.feature_names_in_, dtype=object)


class DatetimeParts(BaseEstimator, TransformerMixin):
    """Year, month, day, day of week, day of year and hour of a date column (missing: -1)."""

    PARTS = ("year", "month", "day", "day_of_week", "day_of_year", "hour")

    def fit(self, X: Any, y: Any = None) -> DatetimeParts:
        self.column_ = str(pd.DataFrame(X).columns[0])
        return self

    def transform(self, X: Any) -> np.ndarray:
        raw = pd.DataFrame(X).iloc[:, 0]
        stamps = raw if pd.api.types.is_datetime64_any_dtype(raw) else pd.to_datetime(
            raw.astype("string"), errors="coerce", format="mixed")
        stamps = pd.DatetimeIndex(stamps)
        out = np.column_stack([np.asarray(getattr(stamps, part), dtype="float64") for part in self.PARTS])
        out[np.isnan(out)] = -1.0
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"{self.column_}_{p}" for p in self.PARTS], dtype=object)


class HashingEncoder(BaseEstimator, TransformerMixin):
    """One-hot encoding into ``2**number_of_bits`` hashed columns: a fixed width whatever the cardinality."""

    def __init__(self, number_of_bits: int = DEFAULT_HASH_BITS) -> None:
        self.number_of_bits = number_of_bits

    def fit(self, X: Any, y: Any = None) -> HashingEncoder:
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        from sklearn.feature_extraction import FeatureHasher

        values = np.asarray(X, dtype=object)
        rows = ([f"{j}={v}" for j, v in enumerate(row)] for row in values)
        hasher = FeatureHasher(n_features=1 << self.number_of_bits, input_type="string", alternate_sign=False)
        return hasher.transform(rows).toarray()

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"hash_{i}" for i in range(1 << self.number_of_bits)], dtype=object)


class TextVectorizer(BaseEstimator, TransformerMixin):
    """TF-IDF (or word counts) of one text column, capped at ``max_features`` terms, dense."""

    def __init__(self, kind: str = "tfidf", max_features: int = TEXT_MAX_FEATURES) -> None:
        self.kind = kind
        self.max_features = max_features

    def fit(self, X: Any, y: Any = None) -> TextVectorizer:
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

        cls = TfidfVectorizer if self.kind == "tfidf" else CountVectorizer
        self.vectorizer_ = cls(max_features=self.max_features, min_df=2 if len(X) > 50 else 1)
        try:
            self.vectorizer_.fit(self._texts(X))
        except ValueError:  # no term survives (e.g. every value empty): fall back to any term
            self.vectorizer_ = cls(max_features=self.max_features, token_pattern=r"(?u)\S+")
            self.vectorizer_.fit(list(self._texts(X)) + ["_"])
        return self

    def transform(self, X: Any) -> np.ndarray:
        return self.vectorizer_.transform(self._texts(X)).toarray()

    @staticmethod
    def _texts(X: Any) -> list[str]:
        column = pd.DataFrame(X).iloc[:, 0]
        return column.fillna("").astype(str).tolist()

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"term_{t}" for t in self.vectorizer_.get_feature_names_out()], dtype=object)
