"""Command components, as ``azure.ai.ml.entities.CommandComponent``: a versioned, typed command to run as a step.

A component is the reusable half of a command job: its command, code, environment and
its typed interface (``inputs`` as :class:`Input` with ``type``, ``default``, ``optional``;
``outputs`` as :class:`Output` with ``type``). Calling it with input values makes a
pipeline step (:class:`~studio_ext.entities._pipeline.Command`), as azure-ai-ml's
components do inside ``@dsl.pipeline``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from studio_ext.entities._job import LITERAL_TYPES, Input, Output

COMPONENT_INPUT_TYPES = (*LITERAL_TYPES, "uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model")


@dataclass(kw_only=True, repr=False)
class CommandComponent:
    """A command with a typed interface, registered and versioned with ``ws.components``.

    ``is_deterministic`` (True by default, as on Azure) lets a pipeline reuse an earlier
    completed step whose component, code, environment, inputs and parameters are the same.
    """

    name: str | None = None
    version: str | None = None
    display_name: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    command: str = ""
    code: str | None = None
    environment: str | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, Input] = field(default_factory=dict)
    outputs: dict[str, Output] = field(default_factory=dict)
    is_deterministic: bool = True
    type: str = "command"
    # Filled in by the service.
    creation_time: datetime | None = None
    code_hash: str | None = None  # the content hash of the code snapshot registered with it
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"CommandComponent(name={self.name!r}, version={self.version!r}, "
                f"inputs={list(self.inputs)!r}, outputs={list(self.outputs)!r})")

    @property
    def id(self) -> str | None:
        """``azureml:NAME:VERSION`` once it has both (the reference a pipeline YAML's ``component:`` takes)."""
        return f"azureml:{self.name}:{self.version}" if self.name and self.version else None

    def __call__(self, *args: Any, **inputs: Any) -> Any:
        """A pipeline step running this component with ``inputs`` (values, pipeline inputs or other steps'
        outputs), as azure-ai-ml's ``component(input_data=...)``."""
        from studio_ext.entities._pipeline import step_from_component

        if args:
            from studio_ext.errors import InvalidInput

            raise InvalidInput(f"Component {self.name!r} takes its inputs by name, as in "
                               f"{self.name or 'component'}({', '.join(f'{k}=...' for k in self.inputs)}).")
        return step_from_component(self, inputs)
