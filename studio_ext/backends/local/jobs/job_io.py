"""A command job's inputs and outputs on this machine: what each ``${{...}}`` becomes, and what happens at the end.

At submit, :func:`resolve_input` turns each input into the text its placeholder
becomes (a literal, a local path, or for ``mode="direct"`` the reference itself) and
:func:`plan_output` chooses where each output is written. When the job ends,
:func:`deliver_outputs` copies outputs bound for a datastore there and
:func:`register_outputs` registers the ones with a ``name`` as data assets or models.
The modes' local meanings are documented on :class:`studio_ext.entities.Input` and
:class:`studio_ext.entities.Output`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio_ext._validation import check_name
from studio_ext.entities import Input, Output
from studio_ext.entities._job import INPUT_MODES, INPUT_TYPES, LITERAL_TYPES, OUTPUT_MODES, OUTPUT_TYPES
from studio_ext.errors import Conflict, InvalidInput, NotFound, UnsafePath

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

_ASSET = re.compile(r"^(?:azureml:)?([A-Za-z0-9][\w.-]*)(?::([\w.-]+)|@([\w.-]+))$")
_JOB_OUTPUT = re.compile(r"^azureml://jobs/([^/]+)/outputs/([^/]+)/?$")
_DATASTORE = "azureml://datastores/"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
_MODE_ALIASES = {"eval_mount": "ro_mount", "eval_download": "download", "mount": "rw_mount"}
_MODEL_TYPES = ("mlflow_model", "custom_model")


# -- inputs ---------------------------------------------------------------------------------
def resolve_input(backend: LocalBackend, key: str, value: Any, job_dir: Path) -> dict[str, Any]:
    """One input → ``{"value": text or None, "spec": what the job row keeps, "copy": source or None}``.

    ``value`` None means an optional input left out. ``copy`` is a file or folder to copy into
    the job's ``inputs/KEY/`` at submit (``mode="download"``); ``value`` already names the copy.
    """
    check_name(key, "input name")
    if value is None:
        return {"value": None, "spec": {"type": "string", "optional": True}, "copy": None}
    if isinstance(value, bool | str | int | float):
        return {"value": str(value), "spec": {"type": type(value).__name__, "value": value}, "copy": None}
    if not isinstance(value, Input):
        raise InvalidInput(f"Input {key!r} must be a literal (str, int, float, bool) or an Input(...). "
                           f"Got {type(value).__name__} instead.")
    kind = str(value.type)
    if kind in LITERAL_TYPES:
        given = value.default if value.path is None else value.path
        spec = {"type": kind, "value": given, "declared": True, "optional": bool(value.optional)}
        if given is None:
            if value.optional:
                return {"value": None, "spec": spec, "copy": None}
            raise InvalidInput(f"Input {key!r} (type {kind}) has no value. Give Input(type={kind!r}, default=...) "
                               "or a plain value, or declare it optional=True.")
        return {"value": literal_text(key, kind, given), "spec": spec, "copy": None}
    if kind not in INPUT_TYPES:
        raise InvalidInput(f"Input {key!r} has type {kind!r}. Inputs are {', '.join(INPUT_TYPES)} or the literal "
                           f"types {', '.join(LITERAL_TYPES)}.")
    mode = _MODE_ALIASES.get(str(value.mode or "ro_mount"), str(value.mode or "ro_mount"))
    if mode not in INPUT_MODES:
        raise InvalidInput(f"Input {key!r} has mode {value.mode!r}; an input's mode is one of {', '.join(INPUT_MODES)}.")
    spec = {"type": kind, "path": value.path, "mode": mode, "optional": bool(value.optional)}
    if value.path is None:
        if value.optional:
            return {"value": None, "spec": spec, "copy": None}
        raise InvalidInput(f"Input {key!r} has no path. Give Input(type={kind!r}, path=...), or declare it optional=True.")
    ref = str(value.path)
    local = _input_path(backend, key, kind, ref, direct=mode == "direct")
    if mode == "direct":
        return {"value": ref if local is None else str(local), "spec": spec, "copy": None}
    assert local is not None
    if mode == "download":
        copy = job_dir / "inputs" / key / (local.name if local.is_file() else "")
        return {"value": str(copy).rstrip("/"), "spec": spec, "copy": str(local)}
    return {"value": str(local), "spec": spec, "copy": None}


def literal_text(key: str, kind: str, value: Any) -> str:
    """A literal input's text in the command, checked against its declared type."""
    def refuse() -> InvalidInput:
        return InvalidInput(f"Input {key!r} is declared type {kind!r} but its value is {value!r}.")

    if kind == "integer":
        if isinstance(value, bool):
            raise refuse()
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        try:
            return str(int(str(value)))
        except ValueError:
            raise refuse() from None
    if kind == "number":
        if isinstance(value, bool):
            raise refuse()
        try:
            float(str(value))
        except ValueError:
            raise refuse() from None
        return str(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return str(value)
        if str(value).lower() in ("true", "false"):
            return "True" if str(value).lower() == "true" else "False"
        raise refuse()
    return str(value)


def _input_path(backend: LocalBackend, key: str, kind: str, ref: str, *, direct: bool) -> Path | None:
    """The file or folder on this machine an input names (None: a URI that direct mode passes as it is)."""
    if ref.startswith(_DATASTORE):
        data = backend.service("data")
        if direct:
            from studio_ext.backends.local.data.datastores import check_relative, parse_datastore_uri

            store, rel = parse_datastore_uri(ref)
            check_relative(rel)
            backend.service("datastores").get(store)  # NotFound names the known ones
            return None
        return _checked(key, kind, Path(data.resolve_input_path(ref)), ref)
    if ref.startswith("azureml://jobs/"):
        return _checked(key, kind, job_output_path(backend, ref), ref)
    if ref.startswith("azureml://") or ref.startswith("azureml:/"):
        raise InvalidInput(f"Input {key!r} is {ref!r}. This workspace reads azureml:NAME:VERSION, azureml:NAME@latest, "
                           "azureml://datastores/NAME/paths/PATH and azureml://jobs/JOB/outputs/OUTPUT references.")
    if re.match(r"^https?://", ref, re.I):
        if kind not in ("uri_file", "mltable") and not direct:
            raise InvalidInput(f"Input {key!r} is the URL {ref!r} with type {kind!r}: a URL is one file, so use "
                               "type='uri_file' (or mode='direct' to pass the URL itself).")
        if direct:
            from studio_ext.backends.local.data import fetch

            fetch.check_url(ref)
            return None
        return _fetched(backend, ref)
    match = _ASSET.match(ref)
    if match and (ref.startswith("azureml:") or not Path(ref).exists()):
        name, version, label = match.group(1), match.group(2), match.group(3)
        if label is not None and label != "latest":
            raise InvalidInput(f"Input {key!r}: the label {label!r} is not known; use @latest or :VERSION.")
        return _checked(key, kind, asset_path(backend, kind, name, version), ref)
    if ref.startswith("file:"):
        ref = re.sub(r"^file:(//)?", "", ref)
    elif _SCHEME.match(ref) and not re.match(r"^[A-Za-z]:[\\/]", ref):
        raise InvalidInput(f"Input {key!r} is {ref!r}, a URL this workspace does not read. Register its storage as a "
                           "datastore and give azureml://datastores/NAME/paths/PATH, or give a local path.")
    p = Path(ref).expanduser()
    if not p.is_absolute():
        if ".." in re.split(r"[\\/]+", ref):
            raise UnsafePath(f"Input {key!r} path {ref!r} climbs out of the current folder with '..'. "
                             "Give an absolute path or one inside the current folder.")
        p = Path.cwd() / p
    if not p.exists():
        raise NotFound(f"Input {key!r}: {ref!r} does not exist.")
    return _checked(key, kind, p.resolve(), ref)


def _checked(key: str, kind: str, path: Path, ref: str) -> Path:
    if kind == "uri_file" and path.is_dir():
        raise InvalidInput(f"Input {key!r} has type uri_file but {ref!r} is a folder; use uri_folder.")
    if kind == "uri_folder" and path.is_file():
        raise InvalidInput(f"Input {key!r} has type uri_folder but {ref!r} is a file; use uri_file.")
    return path


def asset_path(backend: LocalBackend, kind: str, name: str, version: str | None) -> Path:
    """Where a registered data asset (or, for the model types, a model) is on this machine.

    An ``mltable`` input is the asset's MLTable folder (the folder it was registered from, or
    for a table parsed from plain files its version folder, whose ``MLTable`` file reads it).
    """
    if kind in _MODEL_TYPES:
        models = backend.service("models")
        model = models.get(name, version)
        folder = Path(models.local_path(name, model.version))
        if kind == "mlflow_model":
            from studio_ext.serving.model_files import mlmodel_dir

            found = mlmodel_dir(folder)
            if found is None:
                raise InvalidInput(f"The model {name}:{model.version} has no MLmodel file, so it is not an mlflow_model; "
                                   "give the input type='custom_model'.")
            return Path(found)
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
        return entries[0] if len(entries) == 1 and entries[0].is_dir() else folder
    data = backend.service("data")
    entity = data.get(name, version)  # NotFound names the known datasets
    return Path(data.resolve_input_path(f"azureml:{name}:{entity.version}", type=kind))


def job_output_path(backend: LocalBackend, ref: str) -> Path:
    """``azureml://jobs/JOB/outputs/OUTPUT`` → where that job's output is on this machine."""
    match = _JOB_OUTPUT.match(ref)
    if not match:
        raise InvalidInput(f"{ref!r} is not a job output reference. Write azureml://jobs/JOB/outputs/OUTPUT "
                           "(for a file the job logged, register it as a model or data asset first).")
    job_name, output = match.group(1), match.group(2)
    jobs = backend.service("jobs")
    job = jobs.get(job_name)
    paths = getattr(job, "output_paths", {}) or {}
    if output not in paths:
        raise NotFound(f"The job {job_name!r} has no output {output!r}. Its outputs: {', '.join(paths) or 'none'}.")
    where = paths[output]
    if where.startswith(_DATASTORE):
        return Path(backend.service("data").resolve_input_path(where))
    path = Path(where)
    if not path.exists():
        raise NotFound(f"The output {output!r} of job {job_name!r} has no files yet (the job is {job.status}).")
    return path


def _fetched(backend: LocalBackend, url: str) -> Path:
    """An http(s) file, downloaded once into the workspace's cache (``cache/http/``); the same URL reuses it."""
    from studio_ext.backends.local.data import fetch

    fetch.check_url(url)  # the datasets' URL rules: http(s) only, no link-local or metadata addresses
    folder = backend.path / "cache" / "http" / hashlib.sha256(url.encode()).hexdigest()[:32]
    target = folder / fetch.file_name(url)
    if target.is_file():
        return target
    tmp = folder.with_name(folder.name + f".tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir(parents=True)
        fetch.download(url, tmp / target.name)
        try:
            tmp.rename(folder)
        except OSError:  # fetched meanwhile by another submit: use that one
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def copy_inputs(resolved: dict[str, dict[str, Any]], staging: Path, job_dir: Path) -> None:
    """Make the copies ``mode="download"`` inputs name (inside the job's folder as it is being built)."""
    for item in resolved.values():
        if not item.get("copy"):
            continue
        source, value = Path(item["copy"]), Path(item["value"])
        dest = staging / value.relative_to(job_dir)
        if source.is_dir():
            shutil.copytree(source, dest, symlinks=False)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)


# -- outputs --------------------------------------------------------------------------------
def plan_output(backend: LocalBackend, key: str, output: Any, job_dir: Path) -> dict[str, Any]:
    """Where an output is written: ``{"value": what its placeholder becomes, "record": kept in the row}``.

    ``record`` holds the Output's fields, ``where`` (the output's place: a local path or its
    datastore URI) and ``upload`` (the local folder copied to the datastore at the end).
    """
    check_name(key, "output name")
    if output is None:
        output = Output()
    if not isinstance(output, Output):
        raise InvalidInput(f"Output {key!r} must be an Output(...). Got {type(output).__name__} instead.")
    kind = str(output.type or "uri_folder")
    if kind not in OUTPUT_TYPES:
        raise InvalidInput(f"Output {key!r} has type {kind!r}; an output is one of {', '.join(OUTPUT_TYPES)}.")
    mode = _MODE_ALIASES.get(str(output.mode or "rw_mount"), str(output.mode or "rw_mount"))
    if mode not in OUTPUT_MODES:
        raise InvalidInput(f"Output {key!r} has mode {output.mode!r}; an output's mode is one of "
                           f"{', '.join(OUTPUT_MODES)}.")
    if output.name is not None:
        _check_registration(backend, key, kind, output)
    fields = {**asdict(output), "type": kind, "mode": mode}
    local = job_dir / "outputs" / key
    own = local / key if kind == "uri_file" else local  # a uri_file output is one file the script writes
    if output.path is None:
        return {"value": str(own), "record": {**fields, "where": str(own), "upload": None}}
    uri = str(output.path)
    if not uri.startswith(_DATASTORE):
        raise InvalidInput(f"Output {key!r} has path {uri!r}. An output's path is a datastore location, "
                           "azureml://datastores/NAME/paths/PATH; leave it out to keep the output with the job.")
    from studio_ext.backends.local.data.datastores import check_relative, parse_datastore_uri

    store, rel = parse_datastore_uri(uri)
    rel = check_relative(rel)
    stores = backend.service("datastores")
    ds = stores.get(store)
    if ds.read_only:
        raise InvalidInput(f"Output {key!r} goes to the datastore {store!r}, which is {ds.type} and cannot be "
                           "written. Use a folder, blob, S3 or GCS datastore.")
    if mode == "direct":
        return {"value": uri, "record": {**fields, "where": uri, "upload": None}}
    if mode == "rw_mount" and str(ds.type) in ("local", "file"):
        _, root = stores.filesystem(ds)
        from studio_ext._validation import resolve_inside

        if str(ds.type) == "local":
            stores._check_writable_default(Path(root), rel)  # not inside a dataset version's folder
        target = resolve_inside(Path(root), rel, "output path")
        (target.parent if kind == "uri_file" else target).mkdir(parents=True, exist_ok=True)
        return {"value": str(target), "record": {**fields, "where": uri, "local": str(target), "upload": None}}
    if kind == "uri_file":
        own = local / (rel.rsplit("/", 1)[-1] or key)
    return {"value": str(own), "record": {**fields, "where": uri, "local": str(own),
                                          "upload": {"store": store, "path": rel}}}


def _check_registration(backend: LocalBackend, key: str, kind: str, output: Output) -> None:
    """Refuse at submit what registering the output at the end would refuse: a bad name, a taken version."""
    name = check_name(output.name, f"asset name of output {key!r}")
    if output.version is None:
        return
    version = str(output.version)
    if kind in _MODEL_TYPES:
        if not version.isdigit():
            raise InvalidInput(f"Output {key!r} registers model {name!r}; a model version is a whole number. "
                               f"Got {version!r}.")
        taken = backend.store.get_asset("model", name, int(version)) is not None
    else:
        try:
            backend.service("data").get(name, version)
            taken = True
        except NotFound:
            taken = False
    if taken:
        what = "model" if kind in _MODEL_TYPES else "data asset"
        raise Conflict(f"Output {key!r} would register {what} {name!r} version {version}, which exists already "
                       "(versions are immutable). Leave version out for the next one, or choose another.")


def deliver_outputs(backend: LocalBackend, spec: dict[str, Any]) -> None:
    """Copy outputs written in the job's folder to their datastore (modes ``upload``, and ``rw_mount`` on
    a datastore that is not on this machine), through ``ws.datastores.upload``."""
    for record in (spec.get("outputs") or {}).values():
        upload = record.get("upload") if isinstance(record, dict) else None
        if upload and Path(record["local"]).exists():  # a uri_file output the script never wrote: nothing to copy
            backend.service("datastores").upload(upload["store"], record["local"], upload["path"])


def register_outputs(backend: LocalBackend, job_name: str, run_id: str, spec: dict[str, Any],
                     ledger: Path) -> list[str]:
    """Register every output that has a ``name``; return a line for each saying what was registered.

    Each registration is written to ``ledger`` (in the job's folder) as it is made, so a
    finalize that is repeated (the supervisor restarted half-way) registers nothing twice.
    """
    try:
        made: dict[str, str] = json.loads(ledger.read_text())
    except (OSError, ValueError):
        made = {}
    done: list[str] = []
    for key, record in (spec.get("outputs") or {}).items():
        if not isinstance(record, dict) or not record.get("name"):
            continue
        if key in made:
            done.append(made[key])
            continue
        kind, where = record.get("type", "uri_folder"), record.get("where")
        local = Path(record.get("local") or where or "")
        source = where if where and where.startswith(_DATASTORE) else str(local)
        if record.get("local") or not source.startswith(_DATASTORE):  # written on this machine: look first
            if not local.exists() or (local.is_dir() and not any(local.iterdir())):
                done.append(f"Output {key!r} is empty: not registered as {record['name']!r}.")
                continue
        description = record.get("description") or f"Output {key!r} of job {job_name}."
        if kind in _MODEL_TYPES:
            from studio_ext.entities import Model

            model = backend.service("models").create_or_update(Model(
                name=record["name"], version=record.get("version"), type=kind, description=description,
                path=str(local) if local.exists() else source,
                properties={"azureml.job_name": job_name, "azureml.run_id": run_id, "azureml.output_name": key}))
            done.append(f"Registered output {key!r} as model azureml:{model.name}:{model.version}.")
            _record(ledger, made, key, done[-1])
        else:
            from studio_ext.entities._data import Data, DataType

            data_type = DataType.TABULAR if kind == "mltable" else DataType.parse(kind)
            data = backend.service("data").create_or_update(Data(
                name=record["name"], version=record.get("version"), type=data_type, path=source,
                description=description))
            done.append(f"Registered output {key!r} as data asset azureml:{data.name}:{data.version}.")
            _record(ledger, made, key, done[-1])
    return done


def _record(ledger: Path, made: dict[str, str], key: str, ref: str) -> None:
    made[key] = ref
    tmp = ledger.with_name(ledger.name + ".tmp")
    tmp.write_text(json.dumps(made))
    tmp.replace(ledger)
