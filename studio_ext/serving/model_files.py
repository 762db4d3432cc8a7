"""Reading a model folder without loading the model: file hashes, MLmodel facts, skops types.

Used at registration (record) and in the server process (verify before loading).
Nothing here unpickles: MLmodel is YAML read with ``safe_load`` and skops files
are inspected through their JSON schema only.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

from studio_ext.entities._model import Serialization
from studio_ext.errors import StudioError, UnsafePath

_CHUNK = 1 << 20
_NATIVE_FLAVORS = ("xgboost", "lightgbm", "catboost", "onnx", "keras", "tensorflow")


class ModelIntegrityError(StudioError):
    """A model file changed, vanished or appeared after registration."""

    http_status = 409


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_files(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` by relative POSIX path; symlinks are refused."""
    manifest: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            if os.path.islink(os.path.join(folder, name)):
                rel = os.path.relpath(os.path.join(folder, name), root)
                raise UnsafePath(
                    f"The model contains a symbolic link ({rel}); copy the real file in its place and register again."
                )
        for name in files:
            full = Path(folder) / name
            manifest[full.relative_to(root).as_posix()] = sha256_file(full)
    return dict(sorted(manifest.items()))


def verify_files(root: Path, manifest: dict[str, str]) -> None:
    """Raise ``ModelIntegrityError`` unless ``root`` holds exactly the registered files, unchanged."""
    actual = hash_files(root)
    changed = sorted(p for p, h in manifest.items() if p in actual and actual[p] != h)
    missing = sorted(set(manifest) - set(actual))
    extra = sorted(set(actual) - set(manifest))
    problems = []
    if changed:
        problems.append(f"changed since registration (SHA-256 mismatch): {', '.join(changed)}")
    if missing:
        problems.append(f"missing: {', '.join(missing)}")
    if extra:
        problems.append(f"not part of the registered model: {', '.join(extra)}")
    if problems:
        raise ModelIntegrityError(
            f"The model files in {root} do not match what was registered; refusing to load them. "
            + "; ".join(problems) + ". Register the model again from a trusted source."
        )


def mlmodel_dir(root: Path) -> Path | None:
    """The folder holding ``MLmodel``: ``root`` itself or its only subfolder."""
    if (root / "MLmodel").is_file():
        return root
    subs = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    if len(subs) == 1 and (subs[0] / "MLmodel").is_file():
        return subs[0]
    return None


def inspect_mlflow_model(model_dir: Path) -> dict[str, Any]:
    """Facts about an MLflow model folder, read from its files without loading it."""
    try:
        meta = yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise StudioError(f"The MLmodel file in {model_dir} is not valid YAML: {exc}") from exc
    flavors: dict[str, Any] = meta.get("flavors") or {}
    serialization = Serialization.NATIVE
    untrusted: list[str] = []
    recorded_trusted: list[str] = []
    sk = flavors.get("sklearn")
    pyfunc = flavors.get("python_function") or {}
    if sk:
        fmt = str(sk.get("serialization_format") or "cloudpickle")
        serialization = Serialization(fmt) if fmt in {s.value for s in Serialization} else Serialization.PICKLE
        recorded_trusted = list(sk.get("skops_trusted_types") or [])
        weights = model_dir / str(sk.get("pickled_model") or "model.pkl")
        if serialization is Serialization.SKOPS and weights.is_file():
            import skops.io

            untrusted = sorted(skops.io.get_untrusted_types(file=str(weights)))
    elif pyfunc.get("loader_module") == "mlflow.pyfunc.model" or "python_model" in pyfunc:
        serialization = Serialization.CLOUDPICKLE
    elif not any(f in flavors for f in _NATIVE_FLAVORS):
        serialization = Serialization.PICKLE  # unknown flavors may unpickle: treat as such
    signature = None
    raw = meta.get("signature")
    if isinstance(raw, dict):
        signature = {}
        for key in ("inputs", "outputs", "params"):
            value = raw.get(key)
            signature[key] = json.loads(value) if isinstance(value, str) else value
    example = None
    info = meta.get("saved_input_example_info") or {}
    example_file = info.get("serving_input_path") or info.get("artifact_path")
    if example_file and (model_dir / example_file).is_file():
        try:
            example = json.loads((model_dir / example_file).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            example = None
    return {
        "flavors": sorted(flavors),
        "serialization": serialization.value,
        "untrusted_types": untrusted,
        "recorded_trusted_types": recorded_trusted,
        "signature": signature,
        "input_example": example,
        "run_id": meta.get("run_id"),
    }
