"""The Explanation: what an explainer found, computed once, read through properties."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from studio_ext.errors import InvalidInput, NotFound
from studio_ext.ml.tabular_model import Task

_META = "explanation.json"
_VALUES = "values.npy"
_DATA = "data.parquet"
_PREDICTIONS = "predictions.parquet"


class ExplainerKind(str, enum.Enum):
    """The three explanation families of the studio."""

    TABULAR = "tabular"  # SHAP on the model itself
    MIMIC = "mimic"  # SHAP on a global surrogate trained to imitate the model
    PFI = "pfi"  # permutation feature importance (global only)

    def __str__(self) -> str:
        return self.value


@dataclass(kw_only=True)
class Explanation:
    """Feature importance of a model on raw input columns.

    ``values`` holds the local contributions, shaped (rows, features, outputs); an output
    is a class (classifiers) or the prediction (regressors). Permutation importance has
    no local values, only ``global_importance`` and ``importance_std``.

    Example::

        exp = explain(model, df, "income")
        exp.global_importance        # {'relationship': 0.91, 'capital_gain': 0.55, ...}
        exp.local_importance.iloc[0] # contributions of the first explained row
    """

    kind: ExplainerKind
    method: str  # the explainer used, e.g. "shap.TreeExplainer"
    task: Task
    features: list[str]
    outputs: list[str]
    output_space: str  # what values add up to: "log-odds", "probability", "prediction", "score decrease"
    values: np.ndarray | None = None
    expected_value: list[float] = field(default_factory=list)
    data: pd.DataFrame | None = None  # the explained rows' raw values (for dependence plots and the table)
    predictions: np.ndarray | None = None  # the model's prediction for each explained row
    importance: dict[str, float] | None = None  # set directly for permutation importance
    importance_std: dict[str, float] | None = None
    metric: str | None = None  # permutation importance's score
    fidelity: dict[str, Any] | None = None  # mimic: {"metric", "value", "surrogate"}
    sampling: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # why this explainer, what was summed or sampled
    metadata: dict[str, Any] = field(default_factory=dict)  # set by the service: name, model, dataset ...

    # -- what users read --------------------------------------------------------
    @property
    def name(self) -> str | None:
        return self.metadata.get("name")

    @property
    def has_local(self) -> bool:
        return self.values is not None

    @property
    def rows(self) -> int:
        return 0 if self.values is None else int(self.values.shape[0])

    @property
    def global_importance(self) -> dict[str, float]:
        """Raw feature → mean |contribution| (averaged over explained classes), largest first."""
        if self.importance is not None:
            return _sorted(self.importance)
        mean_abs = np.abs(self.values).mean(axis=0).mean(axis=1)
        return _sorted(dict(zip(self.features, mean_abs.tolist())))

    @property
    def class_importance(self) -> dict[str, dict[str, float]]:
        """Per output (class): raw feature → mean |contribution|."""
        if self.values is None:
            return {}
        mean_abs = np.abs(self.values).mean(axis=0)
        return {out: _sorted(dict(zip(self.features, mean_abs[:, k].tolist()))) for k, out in enumerate(self.outputs)}

    @property
    def local_importance(self) -> pd.DataFrame | None:
        """Explained rows × raw features: each row's contributions toward its own predicted class."""
        if self.values is None:
            return None
        return pd.DataFrame(self.row_values(), columns=self.features, index=self._index())

    def local_importance_for(self, output: str) -> pd.DataFrame:
        """Explained rows × raw features toward one class (or 'prediction')."""
        k = self._output_index(output)
        return pd.DataFrame(self.values[:, :, k], columns=self.features, index=self._index())

    def row_values(self, rows: np.ndarray | slice | None = None) -> np.ndarray:
        """(rows, features): the contribution toward each row's predicted class (the only output otherwise)."""
        if self.values is None:
            raise InvalidInput("Permutation importance has no per-row values; use tabular or mimic for those.")
        picked = self.row_outputs()
        idx = np.arange(self.rows) if rows is None else np.arange(self.rows)[rows]
        return self.values[idx, :, picked[idx]]

    def row_outputs(self) -> np.ndarray:
        """For each explained row, the index of the output its values are read from."""
        if len(self.outputs) == 1 or self.predictions is None:
            return np.zeros(self.rows, dtype=int)
        lookup = {name: k for k, name in enumerate(self.outputs)}
        return np.array([lookup.get(str(p), len(self.outputs) - 1) for p in self.predictions], dtype=int)

    def base_values(self) -> np.ndarray:
        """Each row's starting point (the expected value of the output its values are read from)."""
        base = np.asarray(self.expected_value or [0.0] * len(self.outputs), dtype=float)
        return base[self.row_outputs()]

    def top_features(self, k: int = 10) -> list[str]:
        return list(self.global_importance)[:k]

    def cohort_importance(self, mask: np.ndarray | pd.Series) -> dict[str, float]:
        """Mean |contribution| per feature over the rows selected by ``mask`` (a cohort)."""
        if self.values is None:
            raise InvalidInput("Permutation importance is global only; cohorts need tabular or mimic values.")
        selected = np.asarray(mask, dtype=bool)
        if selected.shape != (self.rows,):
            raise InvalidInput(f"The cohort mask must have one entry per explained row ({self.rows}). Got {selected.shape}.")
        if not selected.any():
            return {f: 0.0 for f in self.features}
        return _sorted(dict(zip(self.features, np.abs(self.row_values()[selected]).mean(axis=0).tolist())))

    def _output_index(self, output: str) -> int:
        if str(output) not in self.outputs:
            raise NotFound(f"This explanation has no output {output!r}. Outputs: {', '.join(self.outputs)}.")
        return self.outputs.index(str(output))

    def _index(self) -> pd.Index:
        return self.data.index if self.data is not None else pd.RangeIndex(self.rows)

    # -- storage ----------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the explanation as JSON, NumPy and Parquet files (no pickles) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": self.kind.value, "method": self.method, "task": self.task.value, "features": self.features,
            "outputs": self.outputs, "output_space": self.output_space, "expected_value": self.expected_value,
            "importance": self.importance, "importance_std": self.importance_std, "metric": self.metric,
            "fidelity": self.fidelity, "sampling": self.sampling, "notes": self.notes, "metadata": self.metadata,
            "global_importance": self.global_importance,
        }
        if self.values is not None:
            np.save(folder / _VALUES, np.ascontiguousarray(self.values, dtype=np.float64), allow_pickle=False)
        if self.data is not None:
            _frame_for_parquet(self.data).to_parquet(folder / _DATA)
        if self.predictions is not None:
            pd.DataFrame({"prediction": _plain(self.predictions)}).to_parquet(folder / _PREDICTIONS)
        (folder / _META).write_text(json.dumps(meta, default=_json_default, indent=1), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Explanation:
        """Read an explanation written by :meth:`save`."""
        folder = Path(folder)
        if not (folder / _META).is_file():
            raise NotFound(f"{folder} holds no explanation (no {_META}).")
        meta = json.loads((folder / _META).read_text(encoding="utf-8"))
        values = np.load(folder / _VALUES, allow_pickle=False) if (folder / _VALUES).is_file() else None
        data = pd.read_parquet(folder / _DATA) if (folder / _DATA).is_file() else None
        predictions = (pd.read_parquet(folder / _PREDICTIONS)["prediction"].to_numpy()
                       if (folder / _PREDICTIONS).is_file() else None)
        return cls(
            kind=ExplainerKind(meta["kind"]), method=meta["method"], task=Task(meta["task"]),
            features=meta["features"], outputs=meta["outputs"], output_space=meta["output_space"],
            values=values, expected_value=meta.get("expected_value") or [], data=data, predictions=predictions,
            importance=meta.get("importance"), importance_std=meta.get("importance_std"), metric=meta.get("metric"),
            fidelity=meta.get("fidelity"), sampling=meta.get("sampling") or {}, notes=meta.get("notes") or [],
            metadata=meta.get("metadata") or {},
        )

    def summary(self) -> dict[str, Any]:
        """The small facts a list or a report shows (no per-row data)."""
        return {
            "name": self.name, "kind": self.kind.value, "method": self.method, "task": self.task.value,
            "rows": self.rows, "top_features": self.top_features(5), "fidelity": self.fidelity,
            **{k: self.metadata.get(k) for k in ("model", "dataset", "target_column")},
        }

    def __repr__(self) -> str:
        top = ", ".join(f"{k}={v:.3g}" for k, v in list(self.global_importance.items())[:3])
        return f"Explanation(kind={self.kind.value!r}, method={self.method!r}, rows={self.rows}, top=[{top}])"


def _sorted(values: dict[str, float]) -> dict[str, float]:
    return dict(sorted(((k, float(v)) for k, v in values.items()), key=lambda kv: -kv[1]))


def _frame_for_parquet(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.columns = [str(c) for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object:  # mixed objects: store their text
            out[col] = out[col].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    return out


def _plain(values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    return arr.astype(str) if arr.dtype == object else arr


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
