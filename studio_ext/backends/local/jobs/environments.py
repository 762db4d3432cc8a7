"""Environments: named, versioned specs; a venv is built once per spec and cached by hash."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from studio_ext._validation import check_name
from studio_ext.backends.local.core.bootstrap import workspace_lock
from studio_ext.backends.local.core.store import to_datetime
from studio_ext.entities import Environment
from studio_ext.errors import InvalidInput, NotFound, StudioError
from studio_ext.services import EnvironmentOperations

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.backends.local import LocalBackend

KIND = "environment"


class EnvironmentBuildError(StudioError):
    """pip could not build the environment; the message holds pip's last lines."""


def parse_reference(ref: str) -> tuple[str, int | None]:
    """``name``, ``name:3``, ``name@latest`` or ``azureml:name:3`` → (name, version or None)."""
    ref = ref.removeprefix("azureml:")
    if "@" in ref:
        name, _, label = ref.partition("@")
        if label != "latest":
            raise InvalidInput(f"Unknown label {label!r} in {ref!r}; only '@latest' is supported.")
        return name, None
    name, _, version = ref.partition(":")
    if version and not version.isdigit():
        raise InvalidInput(f"The version in {ref!r} must be a number, as in 'name:3'.")
    return name, int(version) if version else None


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
    if env.conda_file:
        path = (base / env.conda_file).expanduser()
        if not path.is_file():
            raise NotFound(f"The conda file {env.conda_file!r} does not exist.")
        try:
            spec = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InvalidInput(f"The conda file {env.conda_file!r} is not valid YAML: {exc}") from exc
        for dep in spec.get("dependencies", []) or []:
            if isinstance(dep, dict):
                reqs += [str(r).strip() for r in dep.get("pip", [])]
            elif isinstance(dep, str):
                pkg, _, ver = dep.partition("=")
                ver = ver.lstrip("=")
                if pkg.strip() in ("python", "pip"):
                    continue  # the venv uses this interpreter and its pip
                # conda's 'pkg=1.2' means any 1.2.x; pip says it as 'pkg==1.2.*'
                reqs.append(f"{pkg.strip()}=={ver}.*" if ver and "*" not in ver else pkg.strip() + (f"=={ver}" if ver else ""))
    return reqs


def spec_hash(requirements: list[str]) -> str:
    payload = json.dumps({"python": sys.version_info[:2], "reqs": sorted(requirements)})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class LocalEnvironments(EnvironmentOperations):
    """``ws.environments``: register, get and list environments; build their venvs."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    def to_yaml(self, environment: Environment) -> str:
        """Azure ML v2 YAML of ``environment`` (what ``az ml environment create --file`` and ``azure.ai.ml.load_environment`` read)."""
        from studio_ext.translation import to_yaml

        return to_yaml(environment)

    def create_or_update(self, environment: Environment) -> Environment:
        check_name(environment.name, "environment name")
        reqs = requirements_of(environment)
        payload = asdict(environment)
        payload.update(version=None, creation_time=None, requirements=reqs, spec_hash=spec_hash(reqs))
        latest = self._b.store.get_asset(KIND, environment.name)
        if latest and latest[1].get("spec_hash") == payload["spec_hash"] and \
                latest[1].get("description") == environment.description:
            return self.get(environment.name, latest[0])  # same spec: same version, as Azure does
        version = self._b.store.put_asset(KIND, environment.name, payload)
        return self.get(environment.name, version)

    def get(self, name: str, version: int | str | None = None, label: str | None = None) -> Environment:
        if version == "latest" or label == "latest":
            version = None
        found = self._b.store.get_asset(KIND, name, int(version) if version is not None else None)
        if found is None:
            known = sorted({n for n, *_ in self._b.store.list_assets(KIND)})
            raise NotFound(
                f"Environment {name!r}{'' if version is None else f' version {version}'} does not exist. "
                f"Known environments: {', '.join(known) or 'none'}. Register it with ws.environments.create_or_update(...)."
            )
        return self._entity(found[0], found[1])

    def list(self, name: str | None = None) -> Iterator[Environment]:
        for _, version, payload, _ in self._b.store.list_assets(KIND, name):
            yield self._entity(version, payload)

    def resolve(self, reference: str | Environment | None) -> Environment | None:
        """The registered environment a job names (None: the current interpreter)."""
        if reference is None:
            return None
        if isinstance(reference, Environment):
            if reference.version is not None:
                return self.get(reference.name, reference.version)
            return self.create_or_update(reference)
        name, version = parse_reference(reference)
        return self.get(name, version)

    def python_for(self, environment: Environment | None, log: os.PathLike[str] | None = None) -> str:
        """The interpreter a job on ``environment`` runs with, building its venv once."""
        if environment is None or environment.uses_current_interpreter:
            return sys.executable
        found = self._b.store.get_asset(KIND, environment.name, int(environment.version or 0) or None)
        # The requirements were read when the spec was registered (relative files then resolved).
        reqs = found[1]["requirements"] if found else requirements_of(environment)
        digest = spec_hash(reqs)
        root = self._b.path / "envs" / digest
        python = root / "bin" / "python"
        if (root / ".ready").exists():
            return str(python)
        with workspace_lock(self._b.path / "envs", f".{digest}.lock"):
            if (root / ".ready").exists():
                return str(python)
            out = open(log, "ab") if log else subprocess.DEVNULL
            try:
                subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True,
                               stdout=out, stderr=out)
                if reqs:
                    result = subprocess.run(
                        [str(python), "-m", "pip", "install", "--disable-pip-version-check", *reqs],
                        stdout=out, stderr=out,
                    )
                    if result.returncode != 0:
                        raise EnvironmentBuildError(
                            f"pip could not install {environment.name}'s requirements {reqs}. "
                            "See the job log for pip's message, then fix the spec and register a new version."
                        )
            finally:
                if log:
                    out.close()
            (root / ".ready").write_text(json.dumps(reqs))
        return str(python)

    @staticmethod
    def _entity(version: int, payload: dict) -> Environment:
        fields = {k: payload.get(k) for k in Environment.__dataclass_fields__ if k in payload}
        fields["version"] = str(version)
        fields["tags"] = fields.get("tags") or {}
        env = Environment(**fields)
        env.creation_time = to_datetime(payload.get("created_at"))
        return env
