"""Named, versioned Python environments that jobs run in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(kw_only=True)
class Environment:
    """A Python environment spec, like azure-ai-ml's ``Environment``.

    Give ``conda_file`` (a path to a conda YAML), ``pip_requirements`` (a list or a
    requirements file path), or neither: the current interpreter. ``image`` is kept
    for Azure; locally a venv is built once from the spec and cached by its hash.
    """

    name: str
    version: str | None = None
    description: str | None = None
    conda_file: str | None = None
    pip_requirements: list[str] | str | None = None
    image: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # Filled in by the service.
    spec_hash: str | None = None
    creation_time: datetime | None = None
    notes: list[str] = field(default_factory=list)  # Azure fields kept with no local meaning (AzureFieldNote)

    @property
    def id(self) -> str | None:
        """``azureml:NAME:VERSION`` once registered (None before): what a job's ``environment=`` takes."""
        return f"azureml:{self.name}:{self.version}" if self.version else None

    @property
    def uses_current_interpreter(self) -> bool:
        return not self.conda_file and not self.pip_requirements
