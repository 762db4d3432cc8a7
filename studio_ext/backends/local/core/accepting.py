"""The entry of every local create call: studio_ext entities and azure-ai-ml objects alike.

``@accepts(Data, "ws.data.create_or_update")`` on a service method runs
:func:`studio_ext.translation.accept` on its first argument, then, before the method:

- registers what the translation requires (an environment or model given inline,
  anonymous on Azure) through the sibling service;
- names an asset given with no name from a hash of its files (``anonymous-<hash>``),
  as Azure names anonymous assets, and returns the one already registered under that
  name instead of a copy;
- applies MLClient's keyword overrides (``experiment_name=``, ``compute=`` ...) to a copy;

and after it, warns the translation's notes (:class:`~studio_ext.errors.AzureFieldNote`)
and keeps them on the returned entity's ``notes`` (on a poller's result once it is done).
The method's body sees only studio_ext entities.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from studio_ext._poller import Poller
from studio_ext.entities import Data, Environment, ManagedOnlineDeployment, Model, ModelBatchDeployment
from studio_ext.errors import InvalidInput, NotFound
from studio_ext.translation import accept, anonymous_name, show_notes

F = TypeVar("F", bound=Callable[..., Any])
_SERVICE_OF = {Model: "models", Data: "data", Environment: "environments"}


def accepts(expected: type | tuple[type, ...], what: str, *, overrides: Iterable[str] = ()) -> Callable[[F], F]:
    """Make a service method take ``expected`` or its azure-ai-ml counterpart (see the module's docstring).

    ``overrides``: keyword parameters of the method that, when given (not None), set the
    entity's field of the same name (``jobs.create_or_update(job, experiment_name=...)``).
    """
    overridden = tuple(overrides)

    def decorate(method: F) -> F:
        signature = inspect.signature(method)
        param = list(signature.parameters)[1]

        @functools.wraps(method)
        def entry(self: Any, *args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(self, *args, **kwargs)
            accepted = accept(bound.arguments[param], expected, what)
            backend = self._b
            notes: list[Any] = list(accepted.notes)
            for required in accepted.requires:
                register(backend, required, notes)
            entity = accepted.entity
            given = {name: bound.arguments.pop(name) for name in overridden
                     if bound.arguments.get(name) is not None}
            if given:
                entity = dataclasses.replace(entity, **given)
            inline_model = isinstance(getattr(entity, "model", None), Model) and (
                isinstance(entity, ManagedOnlineDeployment)
                or (isinstance(entity, ModelBatchDeployment) and entity.model.version is None))  # a registered one stays
            if inline_model:
                model = register(backend, entity.model, notes)  # given inline: registered, as on Azure
                entity = dataclasses.replace(entity, model=f"azureml:{model.name}:{model.version}")
            if isinstance(entity, (Data, Model)) and not entity.name:
                entity, existing = _named(backend, entity, notes)
                if existing is not None:
                    return show_notes(existing, notes, what)
            bound.arguments[param] = entity
            return _noted(method(*bound.args, **bound.kwargs), notes, what)

        return entry  # type: ignore[return-value]  # same signature as the method

    return decorate


def register(backend: Any, entity: Any, notes: list[Any]) -> Any:
    """Register an entity a translation requires through its service; an anonymous asset is named first."""
    service = backend.service(_SERVICE_OF[type(entity)])
    if isinstance(entity, (Data, Model)) and not entity.name:
        entity, existing = _named(backend, entity, notes)
        if existing is not None:
            return existing
    elif isinstance(entity, (Data, Model)) and entity.version is not None:
        try:  # an inline asset with a name and version that is registered already is that asset
            return service.get(entity.name, entity.version)
        except NotFound:
            pass
    return service.create_or_update(entity)


def _named(backend: Any, entity: Data | Model, notes: list[Any]) -> tuple[Any, Any]:
    """(a copy of ``entity`` named from its files, the asset of that name if it is registered already)."""
    kind = "model" if isinstance(entity, Model) else "data"
    if not entity.path:
        raise InvalidInput(f"A {kind} asset with no name needs a path: it is named from its files. "
                           f"Give name=... or path=...")
    name = anonymous_name(entity.path, kind)
    notes.append(f"name: the {kind} asset has no name; it is registered as {name!r} (an anonymous asset, "
                 "named from a hash of its files as Azure does)")
    try:
        return entity, backend.service(_SERVICE_OF[type(entity)]).get(name)
    except NotFound:
        return dataclasses.replace(entity, name=name, version=None), None


def _noted(result: Any, notes: list[Any], what: str) -> Any:
    if not isinstance(result, Poller):
        return show_notes(result, notes, what)
    show_notes(None, notes, what)  # warn now; keep them on the result once it is there
    check = result._check

    def noted_check() -> Any:
        done = check()
        if done is not None:
            kept = getattr(done, "notes", None)
            if isinstance(kept, list):
                kept.extend(t for t in map(str, notes) if t not in kept)
        return done

    result._check = noted_check
    return result
