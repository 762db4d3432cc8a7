"""The StudioError tree.

Every error studio_ext raises on purpose is a ``StudioError``; its message says
what was wrong and what to do. Third-party exceptions are translated where they
enter, so callers catch one family::

    StudioError                       (500)
    ├── NotFound                      (404)  a name that does not exist
    ├── AlreadyExists                 (409)  a name that is taken
    ├── InvalidInput                  (400)  a value the caller can fix
    │   ├── UnsafePath                (400)  a path or name escaping its root
    │   └── InvalidYaml               (400)  a v2 YAML file Azure's schema refuses, field by field
    ├── Unauthorized                  (401)  a missing or wrong key/token
    ├── Conflict                      (409)  the object's state forbids the action
    ├── BackendUnavailable            (503)  a server, cluster or driver is unreachable
    │   └── MissingDependency         (503)  an optional extra is not installed
    ├── NotInLocalFallback            (501)  a call the local stand-in of a package lacks (an AttributeError)
    └── WorkspaceError                (400)  a folder that is not a valid workspace

Warnings: :class:`AzureFieldNote` (a ``UserWarning``) says that an azure-ai-ml object or
v2 YAML had a field with no local meaning (a VM ``size``, a ``tier``, an ``image``): the
field is kept for Azure and shown, never dropped. Silence them with
``warnings.simplefilter("ignore", AzureFieldNote)``; the entity's ``notes`` keep them.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "AzureFieldNote",
    "BackendUnavailable",
    "BudgetExceeded",
    "Conflict",
    "InvalidInput",
    "InvalidYaml",
    "MissingDependency",
    "NotFound",
    "NotInLocalFallback",
    "StudioError",
    "Unauthorized",
    "UnsafePath",
    "WorkspaceError",
]


class StudioError(Exception):
    """Root of every error studio_ext raises on purpose."""

    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(StudioError):
    http_status = 404


class AlreadyExists(StudioError):
    http_status = 409


class InvalidInput(StudioError):
    http_status = 400


class UnsafePath(InvalidInput):
    """A name or path that would escape the folder it must stay in."""


class InvalidYaml(InvalidInput):
    """A v2 YAML file Azure's schema refuses: ``file`` (None for text) and the dotted ``fields`` it names."""

    def __init__(self, message: str, *, file: str | None = None, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.file = file
        self.fields = fields


class Unauthorized(StudioError):
    http_status = 401


class Conflict(StudioError):
    http_status = 409


class BudgetExceeded(Conflict):
    """A private query would pass its dataset's privacy budget; refused before it ran."""


class BackendUnavailable(StudioError):
    http_status = 503


class MissingDependency(BackendUnavailable):
    """An optional engine is not installed; the message names the extra."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed. "
            f"Install it with: pip install 'studio-ext[{extra}]'"
        )
        self.package = package
        self.extra = extra


class NotInLocalFallback(StudioError, AttributeError):
    """A function or method of a package the studio stands in for locally (``mltable``) that the
    stand-in does not have; the message says how to get the real package. An AttributeError too,
    so ``hasattr`` and ``getattr(..., default)`` behave as with a missing attribute."""

    http_status = 501


class WorkspaceError(StudioError):
    http_status = 400


class AzureFieldNote(UserWarning):
    """An Azure ML field with no local meaning was kept (and is shown), not dropped."""
