"""Each local service declares the Protocol it implements and keeps its signatures.

The type check (`make typecheck`) proves the same statically; this runs on the objects
a workspace really hands out, so a service registered under the wrong name fails too.
"""

from __future__ import annotations

import inspect

import pytest

from studio_ext import Workspace
from studio_ext.backends import SERVICE_PROTOCOLS
from studio_ext.backends.local import SERVICES, LocalBackend


def _members(protocol: type) -> list[str]:
    return sorted(n for n, v in vars(protocol).items() if not n.startswith("_") and callable(v))


def test_every_protocol_has_a_local_service_and_no_more() -> None:
    assert set(SERVICES) == set(SERVICE_PROTOCOLS)


@pytest.mark.parametrize("name", sorted(SERVICE_PROTOCOLS))
def test_the_local_service_declares_and_keeps_its_protocol(module_workspace: Workspace, name: str) -> None:
    protocol = SERVICE_PROTOCOLS[name]
    service = LocalBackend.of(module_workspace).service(name)
    assert protocol in type(service).__mro__, f"{type(service).__name__} does not name {protocol.__name__} as a base"
    assert isinstance(service, protocol)
    assert getattr(module_workspace, name) is service
    for member in _members(protocol):
        implemented = getattr(type(service), member)
        assert implemented is not getattr(protocol, member), f"{type(service).__name__}.{member} is not implemented"
        wanted = inspect.signature(getattr(protocol, member)).parameters
        got = inspect.signature(implemented).parameters
        for parameter in wanted.values():
            if parameter.kind is parameter.VAR_KEYWORD or parameter.name == "self":
                continue
            assert parameter.name in got, f"{type(service).__name__}.{member} lacks {parameter.name!r}"
            assert got[parameter.name].kind == parameter.kind, f"{type(service).__name__}.{member}({parameter.name})"
            assert got[parameter.name].default == parameter.default, f"{type(service).__name__}.{member}({parameter.name})"
