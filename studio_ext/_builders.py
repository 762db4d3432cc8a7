"""Job builders named as in ``azure.ai.ml``: ``command(...)``."""

from __future__ import annotations

from typing import Any

from studio_ext.entities import CommandJob, Environment, Output


def command(
    *,
    command: str,
    code: str | None = None,
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, Output] | None = None,
    environment: str | Environment | None = None,
    environment_variables: dict[str, str] | None = None,
    compute: str | None = None,
    experiment_name: str | None = None,
    display_name: str | None = None,
    description: str | None = None,
    name: str | None = None,
    tags: dict[str, str] | None = None,
) -> CommandJob:
    """Build a command job, as ``azure.ai.ml.command`` does.

    Example::

        job = command(code="./src", command="python train.py --lr ${{inputs.lr}}",
                      inputs={"lr": 0.1}, experiment_name="diabetes")
        ws.jobs.create_or_update(job)

    The command runs in a shell, as on Azure ML (``echo hi && python a.py >
    ${{outputs.o}}/x.txt`` works). Each value put in for ``${{inputs.NAME}}`` or
    ``${{outputs.NAME}}`` is shell-quoted where it stands, so a value such as ``; rm -rf ~``
    or ``$(id)`` reaches the script as those characters and never runs as code.
    ``$[[--x ${{inputs.x}}]]`` is dropped when the optional input ``x`` is left out.
    """
    env_ref: str | None
    if isinstance(environment, Environment):
        env_ref = f"{environment.name}:{environment.version}" if environment.version else environment.name
    else:
        env_ref = environment
    return CommandJob(
        command=command,
        code=code,
        inputs=dict(inputs or {}),
        outputs=dict(outputs or {}),
        environment=env_ref,
        environment_variables=dict(environment_variables or {}),
        compute=compute,
        experiment_name=experiment_name,
        display_name=display_name,
        description=description,
        name=name,
        tags=dict(tags or {}),
    )
