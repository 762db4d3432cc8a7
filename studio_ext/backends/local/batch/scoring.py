"""What runs inside a batch scoring worker process: ``init()`` once, then one mini-batch per task.

The driver (:mod:`studio_ext.backends.local.batch.driver`) sends these functions to Dask
workers. A worker process keeps what :func:`init_worker` loaded (the user's scoring module,
or an MLflow model) in :data:`_LOADED`, so ``init()`` runs once per process, as
Azure ML's batch contract says, however many mini-batches the process scores.

:func:`score_mini_batch` calls ``run(mini_batch)`` (a list of file paths, or a pandas
DataFrame for tabular input) and returns the rows it gave back as CSV text with no header
(Azure's ``append_row`` file), or only their count (``summary_only``). Nothing is written
here: the driver commits each mini-batch's rows, so a worker that dies leaves no trace.

A ``run()`` over the deployment's timeout ends its own process (a watchdog thread sends it
SIGKILL): a thread cannot be stopped in Python, and a stuck process must not keep its slot.
The driver sees the worker gone and retries the mini-batch on another one.

An MLflow model deployed with no scoring script is scored as Azure scores it: each file
(CSV or Parquet) read into a DataFrame, ``predict`` called once per file, and one row per
input row written: ``row`` (its index in the file), ``prediction`` and ``file`` (the file's
name), which ``pd.read_csv(path, names=["row", "prediction", "file"])`` reads back.
"""

from __future__ import annotations

import ast
import csv
import importlib.util
import io
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "InputColumnsError",
    "ScoringScriptError",
    "check_scoring_script",
    "first_file_columns",
    "format_rows",
    "init_worker",
    "model_input_columns",
    "preload_modules",
    "score_mini_batch",
]

_LOADED: dict[str, Any] = {}
_LOCK = threading.Lock()
_MLFLOW_SUFFIXES = {".csv": "csv", ".parquet": "parquet"}


class ScoringScriptError(Exception):
    """The deployment's scoring script cannot be used (no ``init``/``run``, a syntax error)."""


class InputColumnsError(ValueError):
    """An input file lacks columns the MLflow model needs.

    It fails the same way on every try, so the driver does not retry it: the job fails at once
    with this message (and the file and columns it names).
    """


# what predict raises when its input's columns are not the model's (scikit-learn, MLflow's schema, pandas)
_COLUMN_MISMATCH = re.compile(r"feature names should match|feature names unseen|missing inputs|"
                              r"columns are missing|not in index|X has \d+ features, but", re.IGNORECASE)


def check_scoring_script(path: Path) -> None:
    """Refuse a scoring script that does not define ``init()`` and ``run(mini_batch)`` at module level.

    Read with ``ast`` (nothing of the user's runs here), so the job fails at once with what to
    change rather than after every mini-batch failed.
    """
    if not path.is_file():
        raise ScoringScriptError(f"The scoring script {path} does not exist; check code_configuration.scoring_script.")
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError) as exc:
        raise ScoringScriptError(f"The scoring script {path.name} cannot be read as Python: {exc}") from exc
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    missing = [n for n in ("init", "run") if n not in names]
    if missing:
        wanted = " and ".join(f"{n}()" if n == "init" else "run(mini_batch)" for n in missing)
        raise ScoringScriptError(
            f"The scoring script {path.name} defines no {wanted}. A batch scoring script needs init() "
            "(called once per worker process) and run(mini_batch) (called for each mini-batch, returning "
            "a pandas DataFrame or a list)."
        )


# -- in the worker -------------------------------------------------------------------------------
def init_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Load the deployment into this process once (the script's ``init()``, or the MLflow model).

    Returns this process's pid and its resident memory once loaded, the baseline against
    which :func:`score_mini_batch` reports its peak.
    """
    key = spec["key"]
    with _LOCK:
        if key not in _LOADED:
            started = time.perf_counter()
            _prepare_process(spec)
            _LOADED[key] = _load(spec)
            _LOADED[key + ":seconds"] = time.perf_counter() - started
            _reset_peak_memory()
        return {"pid": os.getpid(), "rss": _memory("VmRSS"), "seconds": _LOADED[key + ":seconds"]}


def score_mini_batch(spec: dict[str, Any], index: int, items: Any) -> dict[str, Any]:
    """Score one mini-batch; return its rows as CSV text (``append_row``) or only their count.

    ``items`` is a list of file paths, or ``(parquet_path, row_group, first_row)`` for tabular input.
    """
    init_worker(spec)  # a no-op once loaded; a process restarted between init and now loads here
    loaded = _LOADED[spec["key"]]
    rss_start = _memory("VmRSS")
    _reset_peak_memory()  # the peak below is this mini-batch's (and the previous result's sending, if still going)
    data = _tabular(items) if isinstance(items, tuple) else list(items)
    started = time.perf_counter()
    watchdog = _Watchdog(spec.get("timeout"))
    try:
        result = loaded.run(data)
    except InputColumnsError as exc:  # returned, not raised: the driver fails the job with it, and Dask logs no traceback
        return {"index": index, "input_error": " ".join(str(exc).split()), "pid": os.getpid()}
    finally:
        watchdog.cancel()
    seconds = time.perf_counter() - started
    rows, text = format_rows(result, keep=spec["output_action"] == "append_row")
    del result, data  # the rows are in the text now: the worker holds only what it sends
    data_out = None if text is None else text.encode("utf-8")
    del text
    return {"index": index, "rows": rows, "text": data_out, "seconds": seconds, "pid": os.getpid(),
            "peak_rss": _memory("VmHWM"), "rss_start": rss_start}


def format_rows(result: Any, *, keep: bool) -> tuple[int, str | None]:
    """What ``run()`` returned as CSV lines with no header: a DataFrame's rows, or one line per list item.

    A list item that is a sequence (a list, tuple or NumPy row) becomes one CSV row of its values;
    anything else is written as its ``str()``, as Azure writes it.
    """
    import numpy as np
    import pandas as pd

    if result is None:
        if keep:
            raise TypeError("run(mini_batch) returned None; return a pandas DataFrame or a list of rows.")
        return 0, None
    if isinstance(result, pd.DataFrame):
        if not keep:
            return len(result), None
        text = _plain_csv(result)
        return len(result), (result.to_csv(header=False, index=False, lineterminator="\n") if text is None else text)
    if isinstance(result, pd.Series | np.ndarray):
        result = list(result)
    if not isinstance(result, Sequence) or isinstance(result, str | bytes):
        raise TypeError(f"run(mini_batch) returned a {type(result).__name__}; return a pandas DataFrame or a list.")
    if not keep:
        return len(result), None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for item in result:
        if isinstance(item, np.ndarray | list | tuple):
            writer.writerow(item.tolist() if isinstance(item, np.ndarray) else item)
        else:
            out.write(f"{item}\n")
    return len(result), out.getvalue()


def _plain_csv(frame: Any) -> str | None:
    """The text ``to_csv(header=False, index=False)`` writes, built directly when it needs no formatting.

    That is when every column holds NumPy integers or booleans (written as ``str()`` writes
    them) or non-empty strings that need no quoting: an MLflow model's ``row``, class
    ``prediction`` and ``file`` columns. It takes half the time of pandas' CSV writer. Any other
    column (floats, missing values, quoted text): None, and pandas writes it.
    """
    import numpy as np
    import pandas as pd

    columns: list[Any] = []  # each column's values as a list (ints, bools and strings alike)
    for i in range(frame.shape[1]):
        column = frame.iloc[:, i]
        dtype = column.dtype
        values = column.tolist()
        if isinstance(dtype, np.dtype) and dtype.kind in "iub":
            columns.append(values)
        elif (isinstance(dtype, np.dtype) and dtype.kind == "O") or isinstance(dtype, pd.StringDtype):
            if not all(isinstance(v, str) and v and not _NEEDS_QUOTES.intersection(v) for v in set(values)):
                return None
            columns.append(values)
        else:
            return None
    if not columns:
        return None
    chunks = []  # a few thousand rows at a time: the row strings of the whole frame at once would double its memory
    for start in range(0, len(frame), _CSV_CHUNK):
        rows = zip(*(map(str, c[start:start + _CSV_CHUNK]) for c in columns), strict=True)
        chunks.append("".join([",".join(row) + "\n" for row in rows]))
    return "".join(chunks)


_CSV_CHUNK = 2048
_NEEDS_QUOTES = frozenset(',"\r\n')


# -- loading -------------------------------------------------------------------------------------
class _Script:
    """A user's scoring script, imported under a module name of its own, its ``init()`` called."""

    def __init__(self, code_dir: str, script: str, key: str) -> None:
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
        path = Path(code_dir) / script
        name = f"_studio_batch_score_{abs(hash(key)):x}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ScoringScriptError(f"Cannot import the scoring script {path}.")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        for fn in ("init", "run"):
            if not callable(getattr(module, fn, None)):
                raise ScoringScriptError(f"The scoring script {script} has no function {fn}().")
        module.init()
        self.run = module.run


class _MlflowModel:
    """An MLflow model with no scoring script: one ``predict`` per file.

    A scikit-learn model with a column signature is loaded as MLflow's sklearn flavor loads it
    (skops, pickle or cloudpickle, as its MLmodel says) without importing MLflow, a third of a
    worker's start-up: the files are read with the signature's columns and types, which is the
    schema MLflow's pyfunc would enforce, and ``predict`` is the estimator's. Any other model
    goes through ``mlflow.pyfunc``.
    """

    def __init__(self, model_path: str) -> None:
        folder = _mlmodel_folder(Path(model_path))
        self.columns: list[str] | None
        self.types: dict[str, Any]
        self.required: list[str] | None  # the columns a file must have: the signature's, or those it was fitted on
        direct = _sklearn_direct(folder)
        if direct is not None:
            estimator, self.columns, self.types = direct
            self.required = self.columns
            self.model: Any = None
            self._predict = estimator.predict
            return
        import mlflow.pyfunc

        self.model = mlflow.pyfunc.load_model(str(folder))
        self._predict = self.model.predict
        signature = self.model.metadata.signature
        inputs = signature.inputs if signature is not None else None
        self.columns = inputs.input_names() if inputs is not None and inputs.has_input_names() else None
        # no signature: a scikit-learn model fitted on a DataFrame still knows its columns
        self.required = self.columns or _fitted_columns(self.model)
        # Azure reads each file with the signature's types, so an integer column feeds a double input
        self.types = dict(zip(self.columns, inputs.pandas_types())) if self.columns and inputs is not None else {}

    def run(self, mini_batch: Any) -> Any:
        import pandas as pd

        if isinstance(mini_batch, pd.DataFrame):
            return self._score(mini_batch, mini_batch.index, "table")
        frames = []
        for path in mini_batch:
            data = self._read(path)
            frames.append(self._score(data, None, os.path.basename(path)))
        if len(frames) == 1:
            return frames[0]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def _read(self, path: str) -> Any:
        """A file's rows as the model takes them: a CSV reads only the signature's columns, as its types."""
        if self.columns and Path(path).suffix.lower() == ".csv":
            import pandas as pd

            try:  # no other column is parsed or kept, and no typed copy is made afterwards
                return pd.read_csv(path, usecols=self.columns, dtype=self.types or None)
            except ValueError:
                pass  # a column missing or a value of another type: the full read below says which
        data = _read_file(path)
        if self.types:
            try:
                data = data.astype({c: t for c, t in self.types.items() if c in data.columns})
            except (TypeError, ValueError) as exc:
                raise ValueError(f"Error processing input file: '{path}'. Exception: {exc}") from exc
        return data

    def _score(self, data: Any, rows: Any, name: str) -> Any:
        import numpy as np
        import pandas as pd

        if self.required and not pd.api.types.is_numeric_dtype(data.columns.dtype):  # named columns (object or str)
            missing = [c for c in self.required if c not in data.columns]
            if missing:
                said = "its signature names" if self.columns else "it was fitted on"
                raise InputColumnsError(f"{name} lacks the model's input columns {missing} ({said} "
                                        f"{self.required}); it has {list(data.columns)}. Give files with "
                                        "these columns, or a scoring script that prepares them.")
        if self.model is None:  # the estimator itself: the signature's columns, in its order and types
            if list(data.columns) != self.columns:
                data = data[self.columns]
            if any(data[c].dtype != t for c, t in self.types.items()):
                data = data.astype(self.types)
        try:
            pred = self._predict(data)
        except Exception as exc:  # only a column mismatch is turned into a typed error; the rest is raised as it is
            if not _COLUMN_MISMATCH.search(str(exc)):
                raise
            message = " ".join(str(exc).split())
            raise InputColumnsError(f"{name} does not have the columns the model takes: {message} (it has "
                                    f"{list(map(str, data.columns))}). Give files with the model's columns, "
                                    "or a scoring script that prepares them.") from exc
        if isinstance(pred, pd.Series):
            pred = pred.to_numpy()
        if isinstance(pred, pd.DataFrame):
            columns = {str(c): pred[c].to_numpy() for c in pred.columns}
        else:
            values = np.asarray(pred)
            if values.ndim == 1:
                columns = {"prediction": values}
            else:
                columns = {f"prediction_{i}": values[:, i] for i in range(values.shape[1])}
        index = np.arange(len(data)) if rows is None else np.asarray(rows)
        return pd.DataFrame({"row": index, **columns, "file": name})


def _fitted_columns(model: Any) -> list[str] | None:
    """The columns a model with no signature was fitted on (scikit-learn's ``feature_names_in_``), else None."""
    try:
        raw = model.get_raw_model()
    except Exception:  # noqa: BLE001 - a flavor with no raw model: its columns are learnt from its first error
        return None
    names = getattr(raw, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else None


# MLflow column types a scikit-learn model's signature may name, as pandas reads them (MLflow's own mapping)
_SIGNATURE_TYPES = {"long": "int64", "integer": "int32", "double": "float64", "float": "float32", "boolean": "bool"}


def _sklearn_direct(folder: Path) -> tuple[Any, list[str], dict[str, Any]] | None:
    """The estimator, its columns and their types, for an MLflow sklearn model MLflow would score as is; else None.

    None (MLflow loads it) for another flavor, a custom predict function or code, a signature with
    params, tensors, optional or non-numeric columns, or when MLflow is told not to deserialize models.
    """
    found = _sklearn_direct_format(folder)
    if found is None:
        return None
    sk, columns, types = found
    return _load_sklearn(folder, sk), columns, types


def _load_sklearn(folder: Path, sk: dict[str, Any]) -> Any:
    """The estimator of an MLmodel's sklearn flavor, loaded as MLflow's sklearn loader loads it."""
    path = folder / sk["pickled_model"]
    fmt = sk.get("serialization_format", "pickle")
    if fmt == "skops":
        import skops.io

        return skops.io.load(path, trusted=sk.get("skops_trusted_types"))
    if fmt == "cloudpickle":
        import cloudpickle

        with open(path, "rb") as handle:
            return cloudpickle.load(handle)
    with open(path, "rb") as handle:
        import pickle

        return pickle.load(handle)  # as MLflow's own loader does


def model_input_columns(model_path: str) -> list[str] | None:
    """The columns an MLflow model scored with no scoring script needs, or None when it does not say.

    The signature's input columns; with no signature, the ``feature_names_in_`` of a scikit-learn
    model fitted on a DataFrame (the estimator is loaded as the workers load it). Read once when
    the deployment is created, so an invocation on files lacking them is refused before any job.
    """
    import json

    try:
        folder = _mlmodel_folder(Path(model_path))
    except OSError:
        return None
    meta = _mlmodel(folder)
    if meta is None:
        return None
    try:
        inputs = json.loads((meta.get("signature") or {}).get("inputs") or "null")
    except json.JSONDecodeError:
        return None
    if isinstance(inputs, list) and inputs:
        if all(isinstance(c, dict) and c.get("name") and c.get("required", True) is not False for c in inputs):
            return [str(c["name"]) for c in inputs]
        return None  # tensors or optional columns: the workers' schema check says what is wrong
    sk = _sklearn_flavor(meta)
    if sk is None:
        return None
    try:
        names = getattr(_load_sklearn(folder, sk), "feature_names_in_", None)
    except Exception:  # noqa: BLE001 - a model this process cannot load: the workers' first error says why
        return None
    return [str(n) for n in names] if names is not None else None


def first_file_columns(path: Path) -> tuple[Path, list[str]] | None:
    """The first CSV or Parquet file under ``path`` (in the order mini-batches are planned) and its columns.

    Only the header row or the Parquet schema is read. None when there is no such file.
    """
    if path.is_file():
        first: Path | None = path if path.suffix.lower() in _MLFLOW_SUFFIXES else None
    else:
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _MLFLOW_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        first = files[0] if files else None
    if first is None:
        return None
    if first.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return first, [str(n) for n in pq.read_schema(first).names]
    import pandas as pd

    return first, [str(c) for c in pd.read_csv(first, nrows=0).columns]



def _mlmodel(folder: Path) -> dict[str, Any] | None:
    """The folder's ``MLmodel`` file, parsed; None when it cannot be read."""
    import yaml

    try:
        meta = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    return meta if isinstance(meta, dict) else None


def _sklearn_flavor(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The sklearn flavor of a model this process may load as MLflow's sklearn flavor does, else None.

    Saved by ``mlflow.sklearn`` with no code of its own, in a serialization this module reads, and
    pickles allowed (``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false`` leaves it to MLflow, which refuses
    and says why).
    """
    flavors = meta.get("flavors") or {}
    pyfunc, sk = flavors.get("python_function") or {}, flavors.get("sklearn") or {}
    if (pyfunc.get("loader_module") != "mlflow.sklearn" or pyfunc.get("code") or sk.get("code")
            or not sk.get("pickled_model")
            or sk.get("serialization_format", "pickle") not in ("skops", "cloudpickle", "pickle")):
        return None
    if os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true").strip().lower() not in ("true", "1"):
        return None
    return dict(sk)

def _sklearn_direct_format(folder: Path) -> tuple[dict[str, Any], list[str], dict[str, Any]] | None:
    """The MLmodel's sklearn flavor, the signature's columns and their types, when the model is loaded directly."""
    import json

    meta = _mlmodel(folder)
    sk = _sklearn_flavor(meta) if meta is not None else None
    if meta is None or sk is None:
        return None
    if ((meta.get("flavors") or {}).get("python_function") or {}).get("predict_fn", "predict") != "predict":
        return None
    signature = meta.get("signature") or {}
    if signature.get("params"):
        return None
    try:
        inputs = json.loads(signature.get("inputs") or "null")
    except json.JSONDecodeError:
        return None
    if not isinstance(inputs, list) or not inputs:
        return None
    columns, types = [], {}
    for col in inputs:
        kind = _SIGNATURE_TYPES.get(str(col.get("type"))) if isinstance(col, dict) else None
        if kind is None or not col.get("name") or col.get("required") is False:
            return None
        columns.append(str(col["name"]))
        types[str(col["name"])] = kind
    return sk, columns, types


def preload_modules(model_path: str | None, scoring_script: str | None) -> list[str]:
    """What every worker of this deployment imports before its first mini-batch, to import once for all of them.

    A LocalCluster's workers are forked from one process that has imported these (the driver
    starts it as its first step), so each worker's ``init()`` is the model's load, not a
    second copy of the same imports: pandas always, and for an MLflow model with no scoring
    script the modules loading it imports (``skops.io``, which imports every scikit-learn
    module, for MLflow's default serialization; scikit-learn for a pickle; else MLflow's
    pyfunc). A scoring script's own imports are left to its ``init()``: importing a user's
    libraries in a process that then forks is not safe for all of them.
    """
    modules = ["numpy", "pandas"]
    if scoring_script or not model_path:
        return modules
    try:
        folder = _mlmodel_folder(Path(model_path))
    except (OSError, FileNotFoundError):
        return modules
    found = _sklearn_direct_format(folder)
    if found is None:
        return [*modules, "mlflow.pyfunc"]
    fmt = found[0].get("serialization_format", "pickle")
    return [*modules, "skops.io" if fmt == "skops" else "sklearn", *(["cloudpickle"] if fmt == "cloudpickle" else [])]


def _load(spec: dict[str, Any]) -> Any:
    if spec.get("scoring_script"):
        return _Script(spec["code_dir"], spec["scoring_script"], spec["key"])
    return _MlflowModel(spec["model_path"])


def _mlmodel_folder(root: Path) -> Path:
    """The folder holding ``MLmodel``: the model folder itself or its only subfolder (Azure's layout)."""
    if (root / "MLmodel").is_file():
        return root
    subs = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    found = [p for p in subs if (p / "MLmodel").is_file()]
    if len(found) == 1:
        return found[0]
    raise FileNotFoundError(f"No MLmodel file in {root} or in one subfolder of it: the model is not an MLflow "
                            "model. Give the deployment a scoring script (code_configuration) to score it.")


def _read_file(path: str) -> Any:
    import pandas as pd

    kind = _MLFLOW_SUFFIXES.get(Path(path).suffix.lower())
    if kind is None:
        raise ValueError(f"Error processing input file: '{path}'. File type '{Path(path).suffix.lstrip('.')}' is "
                         "not supported for an MLflow model with no scoring script (CSV and Parquet are); "
                         "give the deployment a scoring script to read it.")
    return pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)


def _tabular(items: tuple[str, int, int]) -> Any:
    """Row group ``items[1]`` of the driver's Parquet copy of the table, as a DataFrame indexed by table row."""
    import pyarrow.parquet as pq

    path, group, start = items
    frame = pq.ParquetFile(path).read_row_group(group).to_pandas()
    frame.index = range(start, start + len(frame))
    return frame


def _prepare_process(spec: dict[str, Any]) -> None:
    """Azure's environment for a scoring script: AZUREML_MODEL_DIR, the output folder, the user's variables."""
    os.environ.update({k: str(v) for k, v in (spec.get("environment_variables") or {}).items()})
    if spec.get("model_path"):
        os.environ["AZUREML_MODEL_DIR"] = spec["model_path"]
    os.environ["AZUREML_BI_OUTPUT_PATH"] = spec["output_dir"]
    level = getattr(logging, str(spec.get("logging_level") or "info").upper(), logging.INFO)
    logging.getLogger().setLevel(level)


# -- timeout and memory --------------------------------------------------------------------------
class _Watchdog:
    """Ends this process if ``run()`` is still going after ``seconds`` (none: no limit)."""

    def __init__(self, seconds: float | None) -> None:
        self._timer: threading.Timer | None = None
        if seconds and seconds > 0:
            self._timer = threading.Timer(seconds, self._expire, args=(seconds,))
            self._timer.daemon = True
            self._timer.start()

    @staticmethod
    def _expire(seconds: float) -> None:
        sys.stderr.write(f"[batch] run(mini_batch) is still running after the {seconds:g} s timeout: "
                         f"ending worker process {os.getpid()} so the mini-batch is retried.\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _reset_peak_memory() -> None:
    """Start the peak resident memory (VmHWM) afresh, so it measures scoring, not imports and loading."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _memory(field: str) -> int | None:
    """``VmRSS`` or ``VmHWM`` of this process in bytes (Linux), else None."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None

