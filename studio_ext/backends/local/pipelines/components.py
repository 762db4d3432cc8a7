"""``ws.components`` on the local backend: command components, registered and versioned.

A component is a row of kind ``component`` in the assets table (one per name and version, as
every asset), and a snapshot of its code in ``components/NAME/VERSION/code`` in the workspace,
so a step that names ``azureml:NAME:VERSION`` runs the code it was registered with. Its
``code_hash`` is the snapshot's content hash (the reuse key of its steps).
"""

from __future__ import annotations

import builtins
import dataclasses
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio_ext._validation import check_name
from studio_ext.backends.local.core import code_snapshot
from studio_ext.backends.local.core.accepting import accepts
from studio_ext.backends.local.core.store import to_datetime
from studio_ext.backends.local.pipelines.fingerprint import content_hash
from studio_ext.entities._component import CommandComponent, PipelineComponent
from studio_ext.entities._job import LITERAL_TYPES
from studio_ext.errors import Conflict, InvalidInput, NotFound
from studio_ext.services import ComponentOperations

if TYPE_CHECKING:  # pragma: no cover
    import azure.ai.ml.entities as aml

    from studio_ext.backends.local import LocalBackend

KIND = "component"


def to_payload(component: CommandComponent) -> dict[str, Any]:
    from studio_ext.translation import component as component_kind

    return {"v2": component_kind.to_v2(component), "code_hash": component.code_hash}


def from_payload(payload: dict[str, Any], version: int) -> Any:
    """The stored component: a CommandComponent, or a PipelineComponent (its v2 mapping's type is pipeline)."""
    from studio_ext.translation import component as component_kind
    from studio_ext.translation import pipeline_component

    if payload["v2"].get("type") == "pipeline":
        pipeline = pipeline_component.from_v2(payload["v2"]).entity
        pipeline.version = str(version)
        return pipeline
    made = component_kind.from_v2(payload["v2"]).entity
    made.version = str(version)
    made.code_hash = payload.get("code_hash")
    return made


def check_interface(component: CommandComponent) -> None:
    """Refuse a component whose command uses an input or output it does not declare, or a default of the wrong type."""
    from studio_ext.backends.local.jobs.command_line import PLACEHOLDER
    from studio_ext.translation.component import coerce

    what = f"component {component.name!r}" if component.name else "the component"
    if not component.command.strip():
        raise InvalidInput(f"{what[0].upper() + what[1:]} has no command; give the shell line it runs.")
    for match in PLACEHOLDER.finditer(component.command):
        kind, key = match.group(1), match.group(2)
        declared = component.inputs if kind == "inputs" else component.outputs if kind == "outputs" else None
        if declared is not None and key not in declared:
            raise InvalidInput(f"The command of {what} uses ${{{{{kind}.{key}}}}}, but it declares no {kind[:-1]} "
                               f"{key!r}. Its {kind}: {', '.join(declared) or 'none'}. Declare it under {kind}:.")
    for key, spec in component.inputs.items():
        check_name(key, "input name")
        if spec.default is not None and spec.type in LITERAL_TYPES:
            spec.default = coerce(spec.type, spec.default, f"the default of input {key!r} of {what}")


class LocalComponents(ComponentOperations):
    """``ws.components``: register, get and list command components."""

    def __init__(self, backend: LocalBackend) -> None:
        self._b = backend

    @accepts((CommandComponent, PipelineComponent), "ws.components.create_or_update")
    def create_or_update(self, component: CommandComponent | PipelineComponent | aml.CommandComponent
                         | aml.PipelineComponent, *, version: str | None = None) -> Any:
        """Register a version; the same name and version again is refused unless nothing changed."""
        assert isinstance(component, (CommandComponent, PipelineComponent))
        name = check_name(component.name, "component name") if component.name else None
        if name is None:
            raise InvalidInput("A component to register needs a name (name: in its YAML, or name=...).")
        wanted = version or component.version
        number: int | None = None
        if wanted is not None:
            if not str(wanted).isdigit():
                raise InvalidInput(f"Component versions are whole numbers here. Got {wanted!r} for {name!r}.")
            number = int(str(wanted))
        if isinstance(component, PipelineComponent):
            return self._create_pipeline(component, name, number)
        check_interface(component)
        code_dir = self._b.service("jobs")._check_code(component.code)
        plan = code_snapshot.scan(code_dir) if code_dir is not None else None
        made = dataclasses.replace(component, name=name, version=None, notes=[])
        made.code_hash = content_hash(code_dir) if code_dir is not None else ""
        if number is not None:
            existing = self._b.store.get_asset(KIND, name, number)
            if existing is not None:
                old = from_payload(existing[1], number)
                if _same(old, made):
                    return old
                raise Conflict(f"Component {name!r} version {number} exists already with another definition "
                               "(versions are immutable). Leave the version out for the next one, or give a new one.")
        root = self._b.path / "components"
        root.mkdir(exist_ok=True)
        code_snapshot.sweep_partials(root)
        target = root / name
        staging = code_snapshot.partial_path(root) if plan is not None else None
        try:
            if plan is not None and staging is not None:
                code_snapshot.copy(plan, staging)
            made.code = None
            stored = self._b.store.put_asset(KIND, name, to_payload(made), version=number)
            if plan is not None and staging is not None:
                place = target / str(stored) / "code"
                place.parent.mkdir(parents=True, exist_ok=True)
                if place.exists():
                    shutil.rmtree(place)
                staging.rename(place)
                made.code = str(place)
                self._b.store.replace_asset(KIND, name, stored, to_payload(made))
        except BaseException:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.get(name, str(stored))

    def _create_pipeline(self, component: PipelineComponent, name: str, number: int | None) -> PipelineComponent:
        """Register a pipeline component: its steps checked as its pipeline job's submit checks them."""
        from studio_ext.translation import pipeline_component

        made = dataclasses.replace(component, name=name, version=None, notes=[])
        placeholders = {k: _sample(v.type) for k, v in made.inputs.items()
                        if v.default is None and not v.optional}
        if None not in placeholders.values():  # a data input with no default: its steps are checked at submit
            self._b.service("pipelines").check(made(**placeholders))
        payload = {"v2": pipeline_component.to_v2(made)}
        if number is not None:
            existing = self._b.store.get_asset(KIND, name, number)
            if existing is not None:
                if _without_version(existing[1]["v2"]) == _without_version(payload["v2"]):
                    return self.get(name, str(number))
                raise Conflict(f"Component {name!r} version {number} exists already with another definition "
                               "(versions are immutable). Leave the version out for the next one, or give a new one.")
        stored = self._b.store.put_asset(KIND, name, payload, version=number)
        return self.get(name, str(stored))

    def get(self, name: str, version: str | None = None, label: str | None = None) -> Any:
        name = str(name).removeprefix("azureml:")
        if version is None and ":" in name:
            name, _, version = name.partition(":")
        if version is None and "@" in name:
            name, _, label = name.partition("@")
        if label not in (None, "latest"):
            raise InvalidInput(f"The only component label here is 'latest'. Got {label!r}.")
        number = None
        if version is not None:
            if not str(version).isdigit():
                raise InvalidInput(f"Component versions are whole numbers here. Got {version!r} for {name!r}.")
            number = int(str(version))
        found = self._b.store.get_asset(KIND, name, number)
        if found is None:
            known = sorted({n for n, _, _, _ in self._b.store.list_assets(KIND)})
            which = f"{name!r} version {version}" if version is not None else repr(name)
            raise NotFound(f"There is no component {which}. Registered components: {', '.join(known) or 'none'}. "
                           "Register it with ws.components.create_or_update(load_component(source='x.yml')).")
        made = from_payload(found[1], found[0])
        made.creation_time = to_datetime(self._created(name, found[0]))
        return made

    def list(self, name: str | None = None) -> builtins.list[Any]:
        rows = list(self._b.store.list_assets(KIND, name))
        if name is None:
            newest: dict[str, tuple[int, dict[str, Any]]] = {}
            for row_name, version, payload, _ in rows:
                newest[row_name] = (version, payload)
            return [from_payload(p, v) for _, (v, p) in sorted(newest.items())]
        return [from_payload(p, v) for _, v, p, _ in rows]

    def _created(self, name: str, version: int) -> float | None:
        import sqlalchemy as sa

        from studio_ext.backends.local.core.schema import assets

        with self._b.store.engine.connect() as conn:
            value = conn.execute(sa.select(assets.c.created_at).where(
                assets.c.kind == KIND, assets.c.name == name, assets.c.version == version)).scalar()
        return float(value) if value is not None else None


def _sample(kind: str) -> Any:
    """A value of a literal type, to check a pipeline component's steps with; None for a data type."""
    return {"integer": 0, "number": 0.0, "boolean": False, "string": ""}.get(kind)


def _without_version(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != "version"}


def _same(old: CommandComponent, new: CommandComponent) -> bool:
    keep = ("command", "environment", "inputs", "outputs", "is_deterministic", "code_hash", "environment_variables")
    return all(getattr(old, k) == getattr(new, k) for k in keep)


def code_folder(component: CommandComponent) -> Path | None:
    return Path(component.code) if component.code else None
