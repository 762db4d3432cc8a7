"""The two ways a deployment scores: an MLflow model with no code, or a scoring script.

- :class:`MlflowScorer` loads an MLflow model (after its trust checks) and predicts
  on batches of rows: a NumPy matrix for numeric scikit-learn models (ONNX Runtime
  when it agrees and is faster), a DataFrame otherwise.
- :class:`ScriptScorer` follows Azure ML's contract: ``init()`` once, then
  ``run(raw_data)`` per request.

Either raises :class:`ModelError` when the model or the script fails while scoring.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import sys
import traceback
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from studio_ext.serving.http_protocol import HttpError
from studio_ext.serving.parsers import rows_from_payload
from studio_ext.serving.signature import SignatureCheck

log = logging.getLogger("studio_ext.scoring")
_NUMERIC = {"double", "float", "long", "integer", "boolean"}


class ModelError(Exception):
    """The model or the scoring script raised while scoring: answered with 424."""


class MlflowScorer:
    """Loads an MLflow model (after its integrity check) and predicts on batches of rows."""

    def __init__(self, model_dir: Path, model: dict[str, Any]) -> None:
        self.signature = model.get("signature") or {}
        inputs = [c for c in self.signature.get("inputs") or [] if isinstance(c, dict)]
        self.columns = [c["name"] for c in inputs if c.get("name")] or None
        self.schema = SignatureCheck.of(self.signature)
        # Optional columns may hold null (NaN): a DataFrame then, where the model checks for it.
        self.numeric = bool(inputs) and all(c.get("type") in _NUMERIC and c.get("required", True) is not False
                                            for c in inputs)
        self._estimator: Any = None
        self._pyfunc: Any = None
        serialization = model.get("serialization")
        trusted = list(model.get("trusted_types") or [])
        if "sklearn" in model.get("flavors", []) and serialization == "skops":
            import skops.io

            meta = _read_mlmodel(model_dir)
            weights = model_dir / meta["flavors"]["sklearn"]["pickled_model"]
            untrusted = set(skops.io.get_untrusted_types(file=str(weights))) - set(trusted)
            if untrusted:
                raise PermissionError(
                    f"The model holds types that were not trusted at registration: {', '.join(sorted(untrusted))}. "
                    "Register it again with Model(..., trusted_types=[...]) if you trust its source.")
            self._estimator = skops.io.load(str(weights), trusted=trusted)
        elif serialization in ("pickle", "cloudpickle") and not model.get("allow_pickle"):
            raise PermissionError(
                f"The model is a {serialization}; loading it would run code stored in the file. "
                "Register it with Model(..., allow_pickle=True) if you trust its source.")
        elif "sklearn" in model.get("flavors", []):
            import mlflow.sklearn

            self._estimator = mlflow.sklearn.load_model(str(model_dir))
        else:
            import mlflow.pyfunc

            self._pyfunc = mlflow.pyfunc.load_model(str(model_dir))
        if self._estimator is not None and self.columns is None and hasattr(self._estimator, "feature_names_in_"):
            self.columns = [str(c) for c in self._estimator.feature_names_in_]
        self.fast = self._estimator is not None and (self.numeric or not inputs)
        self._finite_context: Any = None
        if self.fast:
            from sklearn import config_context

            self._finite_context = config_context
        self.width = len(self.columns) if self.columns else getattr(self._estimator, "n_features_in_", None)
        self._onnx: Any = None
        if self.fast and self.width:
            from studio_ext.serving.onnx_predict import onnx_predictor

            self._onnx = onnx_predictor(self._estimator, self._example_matrix(model.get("input_example")), self.width)

    def _example_matrix(self, example: Any) -> Any:
        try:
            return self.to_matrix(rows_from_payload(example, self.columns)[0])
        except HttpError:
            return None

    def to_matrix(self, rows: list[Any]) -> Any:
        """Rows → what ``predict`` takes: a float matrix on the fast path, else a DataFrame."""
        if not rows:
            raise HttpError(400, "The input has no rows.")
        if self.schema is not None:
            self.schema.check(rows)
        if self.fast:
            try:
                width = len(rows[0]) if isinstance(rows[0], list) else -1
                if width > 0 and all(type(r) is list and len(r) == width for r in rows):
                    # Twice as fast as np.asarray on nested lists, once the shape is known.
                    flat = itertools.chain.from_iterable(rows)
                    matrix = np.fromiter(flat, np.float64, count=len(rows) * width).reshape(len(rows), width)
                else:
                    matrix = np.asarray(rows, dtype=np.float64)
            except (ValueError, TypeError):
                raise HttpError(400, "Every value must be a number, and every row the same length"
                                + (f" ({self.width} values: {', '.join(self.columns)})." if self.columns else ".")) from None
            if matrix.ndim == 1 and self.width == 1:
                matrix = matrix.reshape(-1, 1)
            if matrix.ndim != 2 or (self.width is not None and matrix.shape[1] != self.width):
                raise HttpError(400, f"Each row must have {self.width} values"
                                + (f" ({', '.join(self.columns)})" if self.columns else "")
                                + f"; got shape {list(matrix.shape)}.")
            return matrix
        import pandas as pd

        try:
            return pd.DataFrame(rows, columns=self.columns)
        except (ValueError, TypeError) as exc:
            raise HttpError(400, f"The rows do not fit the model's columns: {exc}") from None

    def predict(self, batch: Any) -> Any:
        model = self._estimator if self._estimator is not None else self._pyfunc
        try:
            if self._onnx is not None and isinstance(batch, np.ndarray) and len(batch) <= self._onnx.max_rows:
                result = self._onnx.predict(batch)
            elif self._finite_context is not None and isinstance(batch, np.ndarray):
                # A matrix from JSON holds finite numbers only (JSON has no NaN or infinity, and
                # orjson refuses overflow), so scikit-learn's finiteness scan, a fifth of a
                # small predict, is skipped.
                with self._finite_context(assume_finite=True):
                    result = model.predict(batch)
            else:
                result = model.predict(batch)
        except Exception as exc:  # the model's own failure: 424 to the caller, details to the log
            log.error("predict failed:\n%s", traceback.format_exc())
            raise ModelError(f"{type(exc).__name__}: {exc}") from exc
        if hasattr(result, "to_dict") and hasattr(result, "columns"):
            return result.to_dict(orient="records")
        array = np.asarray(result)
        # Numeric arrays go to orjson as they are (no Python floats in between).
        return array if array.dtype.kind in "fiub" else array.tolist()


def _read_mlmodel(model_dir: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8")) or {}


class ScriptScorer:
    """Azure ML's contract: ``init()`` once, then ``run(raw_data)`` per request."""

    def __init__(self, code_dir: Path, script: str, generation: int) -> None:
        path = code_dir / script
        spec = importlib.util.spec_from_file_location(f"score_{generation}_{uuid.uuid4().hex[:6]}", path)
        if spec is None or spec.loader is None:
            raise FileNotFoundError(f"The scoring script {path} cannot be imported.")
        module = importlib.util.module_from_spec(spec)
        if str(code_dir) not in sys.path:
            sys.path.insert(0, str(code_dir))
        spec.loader.exec_module(module)
        for name in ("init", "run"):
            if not callable(getattr(module, name, None)):
                raise AttributeError(f"The scoring script {script} has no {name}() function; "
                                     "Azure ML's contract needs init() and run(raw_data).")
        module.init()
        self.module = module

    def run(self, raw: str) -> Any:
        try:
            return self.module.run(raw)
        except Exception as exc:  # the script's own failure: 424 to the caller, details to the log
            log.error("run() raised:\n%s", traceback.format_exc())
            raise ModelError(f"{type(exc).__name__}: {exc}") from exc

