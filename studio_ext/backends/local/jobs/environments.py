"""Environments: named, versioned specs; a venv is built once per spec and cached by hash.

Which interpreter a job (or a deployment's scoring server) runs with:

- no environment, a curated one (``AzureML-sklearn-1.5@latest``, see :mod:`.curated`), or one
  with only a Docker ``image``: the studio's own interpreter, and the log says so at its top
  (for a curated one, naming the packages whose installed versions differ from the image's);
- one with a conda file or pip requirements: a venv built from them once and cached under the
  workspace's ``envs/`` by the hash of the spec. ``python=X.Y`` in a conda file is honoured
  where an interpreter of that version is on this machine (``pythonX.Y`` on PATH, or
  ``uv python find``), and the log says when it is not.

A scoring server's venv (``serving=True``) is built with the studio's Python and sees the
studio's site-packages after its own (a ``.pth`` file appends them), so the user's packages
win and ``studio_ext.serving`` still imports.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import site
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import IO, TYPE_CHECKING

import yaml

from studio_ext._validation import check_name
from studio_ext.backends.local.core.accepting import accepts
from studio_ext.backends.local.core.bootstrap import workspace_lock
from studio_ext.backends.local.core.store import to_datetime
from studio_ext.backends.local.jobs import curated
from studio_ext.entities import Environment
from studio_ext.errors import InvalidInput, NotFound, StudioError
from studio_ext.services import EnvironmentOperations
from studio_ext.translation.environment import EnvironmentReference
from studio_ext.translation.environment import parse_reference as parse_azure_reference

if TYPE_CHECKING:  # pragma: no cover
    import azure.ai.ml.entities as aml

    from studio_ext.backends.local import LocalBackend

KIND = "environment"
OVERLAY_PTH = "_studio_ext_overlay.pth"  # in a scoring venv: the studio's site-packages, after the venv's own
_HERE = f"{sys.version_info.major}.{sys.version_info.minor}"


class EnvironmentBuildError(StudioError):
    """pip could not build the environment; the message holds pip's last lines."""


def parse_reference(ref: str) -> tuple[str, int | None]:
    """``name``, ``name:3``, ``name@latest`` or ``azureml:name:3`` → (name, version or None)."""
    parsed = parse_azure_reference(ref)
    _check_label(parsed)
    if parsed.version and not parsed.version.isdigit():
        raise InvalidInput(f"The version in {ref!r} must be a number, as in 'name:3'.")
    return parsed.name, int(parsed.version) if parsed.version else None


def _check_label(ref: EnvironmentReference) -> None:
    if ref.label and ref.label != "latest":
        raise InvalidInput(f"Unknown label {ref.label!r} in {str(ref)!r}; only '@latest' is supported.")


def requirements_of(env: Environment, base: Path | None = None) -> list[str]:
    """The pip requirement lines an environment asks for (from pip list/file or conda YAML)."""
    base = base or Path.cwd()
    reqs: list[str] = []
    if isinstance(env.pip_requirements, str):
        path = (base / env.pip_requirements).expanduser()
        if not path.is_file():
            raise NotFound(f"The requirements file {env.pip_requirements!r} does not exist.")
        reqs += [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    elif env.pip_requirements:
        reqs += [str(r).strip() for r in env.pip_requirements]
    for dep in _conda_spec(env, base).get("dependencies", []) or []:
        if isinstance(dep, dict):
            reqs += [str(r).strip() for r in dep.get("pip", [])]
        elif isinstance(dep, str):
            pkg, _, ver = dep.partition("=")
            ver = ver.lstrip("=")
            if pkg.strip() in ("python", "pip"):
                continue  # the venv's interpreter is chosen by python_request_of; it has its own pip
            # conda's 'pkg=1.2' means any 1.2.x; pip says it as 'pkg==1.2.*'
            reqs.append(f"{pkg.strip()}=={ver}.*" if ver and "*" not in ver else pkg.strip() + (f"=={ver}" if ver else ""))
    return reqs


def python_request_of(env: Environment, base: Path | None = None) -> str | None:
    """The Python version a conda file asks for (``python=3.10`` -> ``"3.10"``), or None."""
    for dep in _conda_spec(env, base or Path.cwd()).get("dependencies", []) or []:
        if isinstance(dep, str) and re.match(r"^python\s*([=<>!~]|$)", dep.strip()):
            request = dep.strip()[len("python"):].strip().lstrip("=").strip()
            return request or None
    return None


def _conda_spec(env: Environment, base: Path) -> dict:
    if not env.conda_file:
        return {}
    path = (base / env.conda_file).expanduser()
    if not path.is_file():
        raise NotFound(f"The conda file {env.conda_file!r} does not exist.")
    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"The conda file {env.conda_file!r} is not valid YAML: {exc}") from exc
    if not isinstance(spec, dict):
        raise InvalidInput(f"The conda file {env.conda_file!r} must be a mapping with 'dependencies:'.")
    return spec


def spec_hash(requirements: list[str], python: str | None = None, *, serving: bool = False) -> str:
    """The hash a spec's venv is cached by: its requirements, its Python, and whether it serves."""
    payload: dict = {"python": python or sys.version_info[:2], "reqs": sorted(requirements)}
    if serving:
        payload["serving"] = True
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]


def find_python(request: str) -> tuple[str | None, str]:
    """An interpreter for a requested version (``3.10``, ``3.10.4``, ``>=3.9``) and where it was found.

    Looks at the studio's own, ``pythonX.Y`` on PATH, pyenv's versions, then ``uv python find``;
    each candidate is run once to check it is that version (a pyenv shim may not be).
    """
    if re.match(r"^[<>!~=]", request):
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            ok = SpecifierSet(request).contains(".".join(map(str, sys.version_info[:3])))
        except InvalidSpecifier:
            ok = False
        return (sys.executable, "the studio's interpreter") if ok else (None, "")
    wanted = ".".join(request.split(".")[:2])
    if wanted == _HERE:
        return sys.executable, "the studio's interpreter"
    for candidate, how in _candidates(wanted):
        if candidate and _python_version(candidate) == wanted:
            return candidate, how
    return None, ""


def _candidates(wanted: str) -> Iterator[tuple[str | None, str]]:
    yield shutil.which(f"python{wanted}"), f"python{wanted} on PATH"
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    if pyenv.is_dir():
        def patch(path: Path) -> int:
            tail = path.name.split(".")[2] if path.name.count(".") >= 2 else ""
            return int(tail) if tail.isdigit() else -1

        for root in sorted(pyenv.glob(f"{wanted}.*"), key=patch, reverse=True):
            yield str(root / "bin" / f"python{wanted}"), f"pyenv's {root.name}"
    uv = shutil.which("uv")
    if uv:
        try:
            out = subprocess.run([uv, "python", "find", wanted], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return
        if out.returncode == 0 and out.stdout.strip():
            yield out.stdout.strip().splitlines()[-1], "found by 'uv python find'"


def studio_site_paths() -> list[str]:
    """Where the studio's packages (``studio_ext`` among them) are found by this interpreter."""
    paths = [p for p in site.getsitepackages() if Path(p).is_dir()]
    package_root = str(Path(__file__).resolve().parents[4])  # the folder holding studio_ext/
    if not any(Path(package_root, "studio_ext").resolve() == Path(p, "studio_ext").resolve() for p in paths):
        paths.append(package_root)
    return paths


class LocalEnvironments(EnvironmentOperations):
    """``ws.environments``: register, get and list environments; build their venvs.

    The curated environments of :mod:`.curated` are listed beside the user's and are
    read-only: names starting with ``AzureML-`` are theirs.
    """

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    def to_yaml(self, environment: Environment) -> str:
        """Azure ML v2 YAML of ``environment`` (what ``az ml environment create --file`` and ``azure.ai.ml.load_environment`` read)."""
        from studio_ext.translation import to_yaml

        return to_yaml(environment)

    @accepts(Environment, "ws.environments.create_or_update")
    def create_or_update(self, environment: Environment | aml.Environment) -> Environment:
        self._refuse_curated_name(environment.name)
        check_name(environment.name, "environment name")
        reqs = requirements_of(environment)
        python = python_request_of(environment)
        payload = asdict(environment)
        payload.update(version=None, creation_time=None, requirements=reqs, python=python,
                       spec_hash=spec_hash(reqs, python))
        latest = self._b.store.get_asset(KIND, environment.name)
        if latest and latest[1].get("spec_hash") == payload["spec_hash"] and \
                latest[1].get("description") == environment.description and \
                latest[1].get("image") == environment.image:
            return self.get(environment.name, latest[0])  # same spec: same version, as Azure does
        version = self._b.store.put_asset(KIND, environment.name, payload)
        return self.get(environment.name, version)

    def get(self, name: str, version: int | str | None = None, label: str | None = None) -> Environment:
        if label is not None:
            _check_label(EnvironmentReference(name=name, label=label))
        if version == "latest":
            version = None
        if curated.looks_curated(name):
            return self._curated(EnvironmentReference(name=name, version=None if version is None else str(version)))
        if version is not None and not str(version).isdigit():
            raise InvalidInput(f"The version of environment {name!r} must be a number. Got {version!r} instead.")
        found = self._b.store.get_asset(KIND, name, int(version) if version is not None else None)
        if found is None:
            known = sorted({n for n, *_ in self._b.store.list_assets(KIND)})
            raise NotFound(
                f"Environment {name!r}{'' if version is None else f' version {version}'} does not exist. "
                f"Known environments: {', '.join(known) or 'none'} (and the curated AzureML-... ones in "
                "ws.environments.list()). Register it with ws.environments.create_or_update(...)."
            )
        return self._entity(found[0], found[1])

    def list(self, name: str | None = None) -> Iterator[Environment]:
        """The registered environments (every version), then the curated ones, as Azure lists both."""
        for _, version, payload, _ in self._b.store.list_assets(KIND, name):
            yield self._entity(version, payload)
        for entry in curated.CATALOG:
            if name is None or name.lower() in (n.lower() for n in entry.names):
                yield entry.entity()

    def resolve(self, reference: str | Environment | None) -> Environment | None:
        """The environment a job or deployment names (None: the current interpreter).

        Takes every form Azure takes: ``NAME``, ``NAME:VERSION``, ``NAME@latest``, with or
        without ``azureml:``, and ``azureml://registries/azureml/environments/NAME/...``.
        """
        if reference is None:
            return None
        if isinstance(reference, Environment):
            if curated.looks_curated(reference.name):
                if not reference.uses_current_interpreter:
                    self._refuse_curated_name(reference.name)
                return self._curated(EnvironmentReference(name=reference.name, version=reference.version))
            if reference.version is not None:
                return self.get(reference.name, reference.version)
            return self.create_or_update(reference)
        ref = parse_azure_reference(reference)
        _check_label(ref)
        if ref.registry is not None or curated.looks_curated(ref.name):
            return self._curated(ref)
        if ref.version and not ref.version.isdigit():
            raise InvalidInput(f"The version in {reference!r} must be a number, as in 'name:3'.")
        return self.get(ref.name, ref.version)

    def python_for(self, environment: Environment | None, log: os.PathLike[str] | None = None, *,
                   serving: bool = False) -> str:
        """The interpreter a job (or with ``serving``, a scoring server) on ``environment`` runs with.

        Builds its venv once; says at the top of ``log`` which interpreter it is and why.
        """
        if environment is None:
            return sys.executable
        entry = curated.find(environment.name) if curated.looks_curated(environment.name) else None
        if entry is not None:
            _write(log, _curated_note(environment, entry))
            return sys.executable
        if environment.uses_current_interpreter:
            if environment.image:
                _write(log, f"Environment {_label(environment)} names the Docker image {environment.image!r}, which "
                            f"is kept for Azure; here it runs in the studio's interpreter, {sys.executable} "
                            f"(Python {sys.version.split()[0]}). Give it a conda file for a venv of its own.\n")
            return sys.executable
        return self._venv(environment, log, serving=serving)

    # -- venvs -----------------------------------------------------------------
    def _venv(self, environment: Environment, log: os.PathLike[str] | None, *, serving: bool) -> str:
        found = self._b.store.get_asset(KIND, environment.name, int(environment.version or 0) or None)
        # The requirements were read when the spec was registered (relative files then resolved).
        if found:
            reqs = found[1]["requirements"]
            request = found[1].get("python")
        else:
            reqs, request = requirements_of(environment), python_request_of(environment)
        found_python, how = (sys.executable, "the studio's interpreter") if serving or not request \
            else find_python(request)
        notes = []
        if request and found_python is None:
            notes.append(f"python={request} is asked for, but no such interpreter is on this machine (looked for "
                         f"python{'.'.join(request.split('.')[:2])} on PATH, in pyenv and with 'uv python find'); "
                         f"the venv uses Python {_HERE}.")
            how = "the studio's interpreter"
        base = found_python or sys.executable
        if request and serving and not _version_matches(request):
            notes.append(f"python={request} is asked for; a scoring server's venv uses the studio's Python {_HERE}, "
                         "whose site-packages it shares.")
        version = _python_version(base) or _HERE  # base was checked by find_python, or is the studio's
        digest = spec_hash(reqs, None if version == _HERE else version, serving=serving)  # venvs built before keep theirs
        root = self._b.path / "envs" / digest
        python = root / "bin" / "python"
        source = "conda file" if environment.conda_file else "pip requirements"
        kept = f" The image {environment.image!r} is kept for Azure." if environment.image else ""
        _write(log, f"Environment {_label(environment)} runs in a venv built from its {source} (Python {version}, "
                    f"{how}), cached in {root}.{kept}\n" + "".join(n + "\n" for n in notes))
        if (root / ".ready").exists():
            return str(python)
        with workspace_lock(self._b.path / "envs", f".{digest}.lock"):
            if (root / ".ready").exists():
                return str(python)
            out: IO[bytes] | int = open(log, "ab") if log else subprocess.DEVNULL
            failed = False
            try:
                made = subprocess.run([base, "-m", "venv", "--clear", str(root)], stdout=out, stderr=out)
                failed = made.returncode != 0
                if reqs and not failed:
                    # --no-compile: Python compiles a module when it is first imported (and keeps the
                    # .pyc in the venv); compiling every installed module up front took a third of a
                    # scientific stack's install time, for modules a job never imports.
                    result = subprocess.run(
                        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-compile", *reqs],
                        stdout=out, stderr=out,
                    )
                    if result.returncode != 0:
                        failed = True
            finally:
                if not isinstance(out, int):
                    out.close()
            if failed:
                tail = _tail(log) if log else ""
                what = (f"Python {version} could not make a venv for {environment.name}" if made.returncode
                        else f"pip could not install {environment.name}'s requirements {reqs}")
                raise EnvironmentBuildError(
                    what + (f" (log: {log})" if log else "") + ". Fix the spec and register a new version."
                    + (f" The log ends:\n{tail}" if tail else ""))
            if serving:  # after pip: pip must never see (nor uninstall) the studio's packages
                _add_overlay(python)
            (root / ".ready").write_text(json.dumps(reqs))
        return str(python)

    # -- curated ---------------------------------------------------------------
    def _curated(self, ref: EnvironmentReference) -> Environment:
        if ref.registry is not None and ref.registry.lower() != curated.REGISTRY:
            raise NotFound(
                f"The registry {ref.registry!r} is not available locally: only the curated environments of the "
                f"'{curated.REGISTRY}' registry are known here. Register the environment in this workspace "
                "(ws.environments.create_or_update(Environment(name=..., conda_file=...))) and name it instead.")
        entry = curated.find(ref.name, ref.registry)
        if entry is None:
            close = curated.close_matches(ref.name)
            raise NotFound(
                f"{str(ref)!r} is not a curated environment this studio knows"
                + (f"; close matches: {', '.join(close)}" if close else "")
                + ". ws.environments.list() shows the curated ones. For other packages, give a conda file: "
                "Environment(name='my-env', conda_file='conda.yml', image='mcr.microsoft.com/azureml/"
                "openmpi4.1.0-ubuntu20.04') runs here in a venv built from the conda file and on Azure in that image.")
        if ref.version is not None and (not ref.version.isdigit() or int(ref.version) < 1):
            raise InvalidInput(f"The version in {str(ref)!r} must be a whole number from 1, as in "
                               f"'{entry.name}:{entry.version}'.")
        return entry.entity(ref.version)

    @staticmethod
    def _refuse_curated_name(name: str) -> None:
        if not curated.looks_curated(str(name)):
            return
        entry = curated.find(name)
        what = (f"{name!r} is the curated environment {entry.name}" if entry
                else f"Names starting with {curated.PREFIX!r} belong to curated environments ({name!r})")
        raise InvalidInput(
            f"{what}; curated environments are read-only. Use it as it is (environment="
            f"'{entry.name if entry else name}@latest'), or register yours under a name that does not start "
            f"with {curated.PREFIX!r}.")

    @staticmethod
    def _entity(version: int, payload: dict) -> Environment:
        fields = {k: payload.get(k) for k in Environment.__dataclass_fields__ if k in payload}
        fields["version"] = str(version)
        fields["tags"] = fields.get("tags") or {}
        env = Environment(**fields)
        env.creation_time = to_datetime(payload.get("created_at"))
        return env


def _label(env: Environment) -> str:
    return f"{env.name}:{env.version}" if env.version else env.name


def _write(log: os.PathLike[str] | None, text: str) -> None:
    if log is None:
        return
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(text)


def _curated_note(env: Environment, entry: curated.CuratedEnvironment) -> str:
    lines = [f"Environment {_label(env)} is curated: on Azure it is the image {entry.image} with Python "
             f"{entry.python}. Here it runs in the studio's interpreter, {sys.executable} "
             f"(Python {sys.version.split()[0]})."]
    differences = entry.differences()
    if differences:
        lines.append("Packages that differ from the curated image's: " + "; ".join(differences) + ".")
        lines.append("For the image's versions, register an environment with a conda file that pins them.")
    else:
        lines.append("Every package the catalog lists for the image is installed here in a matching version.")
    return "".join(line + "\n" for line in lines)


def _tail(log: os.PathLike[str], lines: int = 12) -> str:
    with open(log, "rb") as handle:
        handle.seek(max(0, os.fstat(handle.fileno()).st_size - 16_384))
        text = handle.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def _version_matches(request: str) -> bool:
    return request.startswith(_HERE) and (len(request) == len(_HERE) or request[len(_HERE)] == ".")


def _python_version(python: str) -> str | None:
    """``X.Y`` of an interpreter, or None if it does not run."""
    if python == sys.executable:
        return _HERE
    try:
        out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def _add_overlay(python: Path) -> None:
    """Let a scoring venv import the studio's packages after its own (``studio_ext.serving`` among them)."""
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True, timeout=60)
    lines = [f"import site; site.addsitedir({path!r})" for path in studio_site_paths()]
    Path(out.stdout.strip(), OVERLAY_PTH).write_text("\n".join(lines) + "\n")
