"""Environments: studio_ext ``Environment`` <-> v2 ``environment`` <-> azure-ai-ml ``Environment``.

A conda file given as a path stays a path. One given inline (a job's anonymous
environment, or azure-ai-ml's loaded copy with no path) becomes pip requirements, as
the local backend builds every environment with pip. A studio_ext environment with a
pip list goes out as an inline conda file with that list under ``pip``.

A Docker build context (``build: {path: ...}``, azure-ai-ml's ``BuildContext``) is
refused: Docker builds do not run locally, and a conda file says the same packages.

References to an environment (:func:`parse_reference`) come in the forms Azure takes:
``NAME``, ``NAME:VERSION``, ``NAME@LABEL`` (each with or without ``azureml:``), and
``azureml://registries/REGISTRY/environments/NAME/versions/VERSION`` (or ``/labels/LABEL``).

azure-ai-ml quirk: ``Environment._to_dict()`` holds the conda file's contents, not its
path; the path is read from the object (``_conda_file_path``) where it has one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from studio_ext.entities import Environment
from studio_ext.errors import InvalidInput
from studio_ext.translation._common import (
    SCHEMA_ROOT,
    Translated,
    azure_dict,
    azure_load,
    dump,
    keep_rest,
    local_path,
    plain,
    put,
    restore,
    str_map,
)

SCHEMA = SCHEMA_ROOT + "environment.schema.json"
AZURE_ANONYMOUS = "CliV2AnonymousEnvironment"  # azure-ai-ml's name for an environment given inline
_HANDLED = {"name", "version", "description", "tags", "image", "conda_file", "creation_context", "id"}
_REASONS = {
    "inference_config": "the local scoring server needs no container routes",
    "os_type": "jobs run on this machine's operating system",
    "properties": "the studio_ext entity has no properties of its own",
}


def to_v2(env: Environment) -> dict[str, Any]:
    """The environment as v2 ``environment`` YAML's mapping."""
    out: dict[str, Any] = {"$schema": SCHEMA}
    put(out, name=env.name, version=env.version, description=env.description)
    restore(out, env.tags, "tags")
    put(out, image=env.image)
    if env.conda_file:
        out["conda_file"] = env.conda_file
    elif env.pip_requirements:
        pip = [f"-r {env.pip_requirements}"] if isinstance(env.pip_requirements, str) else list(env.pip_requirements)
        python = f"python={sys.version_info.major}.{sys.version_info.minor}"
        out["conda_file"] = {"name": env.name, "channels": ["conda-forge"],
                             "dependencies": [python, "pip", {"pip": pip}]}
    return out


def from_v2(mapping: Mapping[str, Any], base_path: str | os.PathLike[str] | None = None, *,
            anonymous: bool = False) -> Translated[Environment]:
    """A studio_ext ``Environment`` from v2 ``environment`` YAML's mapping.

    An environment with no name, or given inline in a job or deployment
    (``anonymous=True``) without a version, is named ``anonymous-<hash of its spec>``, so
    the same spec is the same environment; an inline one with a name and version keeps them.
    """
    mapping = plain(mapping)
    if mapping.get("build"):
        build = mapping["build"]
        where = build.get("path") if isinstance(build, Mapping) else build
        raise InvalidInput(
            f"Environment {mapping.get('name') or '(unnamed)'!r} is built from a Docker build context ({where!r}); "
            "Docker builds do not run locally. Give the same packages as a conda file instead: "
            "Environment(image=..., conda_file='conda.yml') runs here in a venv built from the conda file, "
            "and on Azure in the image with the conda file applied.")
    result: Translated[Environment] = Translated(Environment(name=""))
    tags = str_map(mapping.get("tags"))
    keep_rest(mapping, _HANDLED, tags, result, _REASONS)
    conda = mapping.get("conda_file")
    conda_path: str | None = None
    pip: list[str] | str | None = None
    if isinstance(conda, str):
        conda_path = local_path(conda, base_path)
    elif isinstance(conda, Mapping):
        pip = _pip_of(conda, result)
    image = mapping.get("image")
    if image and not conda:
        result.note("image", f"{image!r} is kept for Azure; locally the job runs in the studio's interpreter "
                    "(give a conda file or pip requirements for a venv of its own)")
    elif image:
        result.note("image", f"{image!r} is kept for Azure; locally a venv is built from the conda file")
    name = mapping.get("name")
    version = mapping.get("version")
    if not name or name == AZURE_ANONYMOUS or (anonymous and version is None):
        spec = {k: v for k, v in mapping.items() if k not in ("name", "version", "$schema")}
        name = "anonymous-" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        version = None
    result.entity = Environment(name=str(name), version=None if version is None else str(version),
                                description=mapping.get("description"), conda_file=conda_path,
                                pip_requirements=pip, image=image, tags=tags)
    return result


def _pip_of(conda: Mapping[str, Any], result: Translated[Environment]) -> list[str] | str:
    """The pip requirements an inline conda spec asks for (conda packages pinned as pip would)."""
    reqs: list[str] = []
    for dep in conda.get("dependencies") or []:
        if isinstance(dep, Mapping):
            reqs += [str(r).strip() for r in dep.get("pip") or []]
            continue
        pkg, _, ver = str(dep).partition("=")
        pkg, ver = pkg.strip(), ver.lstrip("=").strip()
        if pkg == "pip":
            continue
        if pkg == "python":
            if ver and not ver.startswith(f"{sys.version_info.major}.{sys.version_info.minor}"):
                result.note("conda_file.python", f"python={ver} is asked for; locally the venv uses this "
                            f"studio's Python {sys.version_info.major}.{sys.version_info.minor}")
            continue
        # conda's 'pkg=1.2' means any 1.2.x; pip says it as 'pkg==1.2.*'
        reqs.append(f"{pkg}=={ver}.*" if ver and "*" not in ver else pkg + (f"=={ver}" if ver else ""))
    if len(reqs) == 1 and reqs[0].startswith("-r "):
        return reqs[0][3:].strip()  # a requirements file, as to_v2 writes it
    return reqs


@dataclass(frozen=True)
class EnvironmentReference:
    """What a reference to an environment names: its name, and a version or a label, maybe in a registry."""

    name: str
    version: str | None = None
    label: str | None = None
    registry: str | None = None

    def __str__(self) -> str:
        if self.registry:
            tail = f"versions/{self.version}" if self.version else f"labels/{self.label or 'latest'}"
            return f"azureml://registries/{self.registry}/environments/{self.name}/{tail}"
        return self.name + (f":{self.version}" if self.version else f"@{self.label}" if self.label else "")


_LONG_REFERENCE = re.compile(
    r"^azureml://(?:registries/(?P<registry>[^/]+)|subscriptions/[^/]+/resourceGroups/[^/]+/"
    r"(?:providers/Microsoft\.MachineLearningServices/)?workspaces/[^/]+)"
    r"/environments/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+)|/labels/(?P<label>[^/]+))?/?$",
    re.IGNORECASE)


def parse_reference(ref: str) -> EnvironmentReference:
    """An environment reference in any form Azure takes, split into its parts.

    >>> parse_reference("azureml:AzureML-sklearn-1.5@latest")
    EnvironmentReference(name='AzureML-sklearn-1.5', version=None, label='latest', registry=None)
    >>> parse_reference("azureml://registries/azureml/environments/sklearn-1.5/versions/44").version
    '44'
    """
    text = str(ref).strip()
    if text.startswith("azureml://"):
        match = _LONG_REFERENCE.match(text)
        if match is None:
            raise InvalidInput(
                f"The environment reference {text!r} is not one Azure ML takes. Use "
                "'azureml://registries/REGISTRY/environments/NAME/versions/VERSION' (or '/labels/latest'), "
                "'azureml:NAME:VERSION' or 'azureml:NAME@latest'.")
        return EnvironmentReference(name=match["name"], version=match["version"], label=match["label"],
                                    registry=match["registry"])
    text = text.removeprefix("azureml:")
    if "@" in text:
        name, _, label = text.partition("@")
        if not name or not label:
            raise InvalidInput(f"The environment reference {ref!r} must read 'NAME@LABEL', as in 'my-env@latest'.")
        return EnvironmentReference(name=name, label=label)
    name, _, version = text.partition(":")
    if not name or (":" in text and not version):
        raise InvalidInput(f"The environment reference {ref!r} must read 'NAME:VERSION', as in 'my-env:3'.")
    return EnvironmentReference(name=name, version=version or None)


def reference(env: Environment) -> str:
    """How a job or deployment names ``env``: ``NAME:VERSION``, or ``NAME`` (its latest)."""
    return f"{env.name}:{env.version}" if env.version else env.name


def field_from_v2(value: Any, base_path: str | os.PathLike[str] | None, result: Translated[Any]) -> Any:
    """A job's, component's or deployment's v2 ``environment`` field: one given inline (an anonymous
    environment on Azure) goes to ``result.requires``, to be registered first, and is named by its
    :func:`reference`; a reference passes as it is."""
    if not isinstance(value, Mapping):
        return value
    inner = from_v2(value, base_path, anonymous=True)
    result.requires.append(inner.entity)
    result.notes.extend(inner.notes)
    return reference(inner.entity)


def from_azure(obj: Any, base_path: str | os.PathLike[str] | None = None) -> Translated[Environment]:
    """A studio_ext ``Environment`` from azure-ai-ml's ``Environment``."""
    mapping = azure_dict(obj, ("Environment",), "environment")
    path = getattr(obj, "_conda_file_path", None)
    if path:
        mapping["conda_file"] = os.fspath(path)
    return from_v2(mapping, base_path)


def to_azure(env: Environment) -> Any:
    """azure-ai-ml's ``Environment``, loaded from the v2 YAML by ``azure.ai.ml.load_environment``."""
    return azure_load("load_environment", to_v2(env), "environment")


def to_yaml(env: Environment) -> str:
    return dump(to_v2(env))
