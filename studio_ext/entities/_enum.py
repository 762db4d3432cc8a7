"""The base of the entities' string enums."""

from __future__ import annotations

import enum


class ValueEnum(str, enum.Enum):
    """A string enum that prints as its value (Azure's name): ``str(JobStatus.RUNNING) == "Running"``."""

    def __str__(self) -> str:
        return self.value
