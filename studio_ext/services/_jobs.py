from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Protocol, TextIO, runtime_checkable

from .._poller import Poller
from ..entities import CommandJob, Environment, Job, JobStatus


@runtime_checkable
class JobOperations(Protocol):
    """``ws.jobs``: submit, watch, cancel and list jobs and runs."""

    def create_or_update(self, job: CommandJob, *, parent_job_name: str | None = None) -> Job: ...

    def get(self, name: str) -> Job: ...

    def list(
        self,
        experiment_name: str | None = None,
        *,
        parent_job_name: str | None = None,
        status: str | JobStatus | None = None,
        include_interactive: bool = True,
        max_results: int | None = None,
    ) -> list[Job]: ...

    def list_experiments(self) -> list[str]: ...

    def stream(self, name: str, *, out: TextIO | None = None, poll: float = 0.2, timeout: float | None = None) -> Job: ...

    def get_logs(self, name: str, tail: int | None = None) -> str: ...

    def begin_cancel(self, name: str) -> Poller[Job]: ...

    def update_tags(self, name: str, tags: dict[str, str], remove: list[str] | None = None) -> Job: ...

    def archive(self, name: str) -> None: ...

    def restore(self, name: str) -> None: ...

    def download(self, name: str, download_path: str | os.PathLike[str] = ".", *, artifact_path: str | None = None) -> Path: ...


@runtime_checkable
class EnvironmentOperations(Protocol):
    """``ws.environments``: named, versioned Python environments."""

    def create_or_update(self, environment: Environment) -> Environment: ...

    def get(self, name: str, version: int | str | None = None, label: str | None = None) -> Environment: ...

    def list(self, name: str | None = None) -> Iterator[Environment]: ...
