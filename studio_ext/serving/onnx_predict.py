"""scikit-learn predictions through ONNX Runtime, used only when they agree.

A small ``predict`` call of scikit-learn is mostly input checking: about 0.4 ms
for 100 boosted trees on a few rows, where ONNX Runtime takes a few hundredths of
that. The deployment server has checked the input already, so when an MLflow
model that is a scikit-learn tree or tree ensemble loads on the numeric path, it
is converted with skl2onnx and the session serves ``predict`` only if it
reproduces the model's own predictions on the input example and on rows drawn
around it (the same labels; numbers within 1e-5 relative). Only trees: scikit-learn
compares their inputs as float32 too, so ONNX's float32 walks the same branches;
a linear model or a pipeline computed in float32 could move a borderline row.
Otherwise, or with ``STUDIO_EXT_ONNX=0`` among the deployment's environment
variables, scikit-learn predicts as usual.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import numpy as np

log = logging.getLogger("studio_ext.scoring")
CHECK_ROWS = 2000
MIN_ROWS, MAX_ROWS = 16, 1_000_000  # bounds of the batch size handed to ONNX Runtime
_TREE_MODULES = ("sklearn.tree.", "sklearn.ensemble._forest", "sklearn.ensemble._gb")


class OnnxPredictor:
    """``predict`` of one converted estimator on float matrices.

    ``max_rows``: up to how many rows a call is cheaper here than in scikit-learn.
    ONNX Runtime starts at once but walks the trees slower per row than
    scikit-learn's Cython, whose cost is mostly a fixed per-call price; the
    crossing is measured on the check rows when the model loads.
    """

    def __init__(self, session: Any, flatten: bool) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name
        self._output = session.get_outputs()[0].name  # the label (classifiers) or the value (regressors)
        self._flatten = flatten
        self.max_rows = MAX_ROWS

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        result = self._session.run([self._output], {self._input: matrix.astype(np.float32, copy=False)})[0]
        return result.reshape(-1) if self._flatten else result


def onnx_predictor(estimator: Any, example: np.ndarray | None, width: int) -> OnnxPredictor | None:
    """An ONNX Runtime twin of ``estimator.predict``, or None if it cannot be made or disagrees."""
    if os.environ.get("STUDIO_EXT_ONNX", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    if not type(estimator).__module__.startswith(_TREE_MODULES):
        return None
    try:
        import onnxruntime
        from skl2onnx import to_onnx
    except ImportError:
        return None
    sample = _check_rows(example, width)
    try:
        options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "classes_") else None
        model = to_onnx(estimator, sample[:1].astype(np.float32), options=options)
        settings = onnxruntime.SessionOptions()
        settings.intra_op_num_threads = settings.inter_op_num_threads = 1  # the server's one core per instance
        session = onnxruntime.InferenceSession(model.SerializeToString(), settings,
                                               providers=["CPUExecutionProvider"])
        expected = np.asarray(estimator.predict(sample))
        predictor = OnnxPredictor(session, flatten=expected.ndim == 1)
        got = predictor.predict(sample)
    except Exception as exc:  # noqa: BLE001 - not convertible (custom steps, text, ...): scikit-learn serves it
        log.info("serving with scikit-learn (no ONNX twin: %s: %s)", type(exc).__name__, str(exc)[:200])
        return None
    if not _agrees(expected, got, classifier=hasattr(estimator, "classes_")):
        log.info("serving with scikit-learn (its ONNX twin disagreed on the check rows)")
        return None
    predictor.max_rows = _crossing(predictor.predict, estimator.predict, sample)
    log.info("serving predict through ONNX Runtime for batches of up to %d rows (agreed with scikit-learn "
             "on %d rows)", predictor.max_rows, len(sample))
    return predictor


def _crossing(ours: Any, theirs: Any, sample: np.ndarray) -> int:
    """The batch size below which ``ours`` is faster, from timings on 1 row and on ``sample``."""
    def cost(predict: Any, rows: np.ndarray, repeat: int) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            predict(rows)
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    one, many = sample[:1], sample
    fixed_ours, fixed_theirs = cost(ours, one, 7), cost(theirs, one, 7)
    per_row_ours = (cost(ours, many, 3) - fixed_ours) / (len(many) - 1)
    per_row_theirs = (cost(theirs, many, 3) - fixed_theirs) / (len(many) - 1)
    if per_row_ours <= per_row_theirs:
        return MAX_ROWS
    rows = (fixed_theirs - fixed_ours) / (per_row_ours - per_row_theirs)
    return int(min(MAX_ROWS, max(MIN_ROWS, rows)))


def _check_rows(example: np.ndarray | None, width: int) -> np.ndarray:
    """The input example, and rows drawn around it (each value scaled by 0.5-1.5, plus noise)."""
    rng = np.random.default_rng(0)
    base = example if example is not None and example.size else np.zeros((1, width))
    picks = base[rng.integers(0, len(base), CHECK_ROWS)]
    spread = np.abs(picks).mean() + 1.0
    drawn = picks * rng.uniform(0.5, 1.5, picks.shape) + rng.normal(0.0, 0.05 * spread, picks.shape)
    return np.ascontiguousarray(np.vstack([base, drawn]), dtype=np.float64)


def _agrees(expected: np.ndarray, got: np.ndarray, classifier: bool) -> bool:
    if expected.shape != got.shape:
        return False
    if classifier or expected.dtype.kind not in "fc":
        return bool(np.array_equal(expected, got))
    scale = max(1.0, float(np.abs(expected).max()))
    return bool(np.allclose(got, expected, rtol=1e-5, atol=1e-5 * scale))
