"""Wake-ups inside one process: a part that changed a workspace's jobs tells the parts that wait on them.

The supervisor's duties poll the store, each at its own pace. When one of them changes jobs
itself (the pipeline duty submits a step, a compute finalizes a step that ended), the others
need not wait for their next poll: :func:`notify` calls every listener :func:`subscribe`-d for
that workspace, in this process. The supervisor's loop and the compute controllers listen, so a
step's successor is submitted the moment the step is recorded as ended, and dispatched to a node
the moment it is submitted. Changes made from another process (a kernel's submit) are still found
by polling; a wake-up only shortens the wait, it never carries state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

_lock = threading.Lock()
_listeners: dict[str, list[Callable[[], None]]] = {}


def _key(workspace: Path | str) -> str:
    return str(Path(workspace).resolve())


def subscribe(workspace: Path | str, listener: Callable[[], None]) -> None:
    """Call ``listener`` (it must be quick: set an event) whenever jobs of ``workspace`` change here."""
    with _lock:
        _listeners.setdefault(_key(workspace), []).append(listener)


def unsubscribe(workspace: Path | str, listener: Callable[[], None]) -> None:
    with _lock:
        kept = [f for f in _listeners.get(_key(workspace), []) if f is not listener]
        if kept:
            _listeners[_key(workspace)] = kept
        else:
            _listeners.pop(_key(workspace), None)


def notify(workspace: Path | str) -> None:
    """Jobs of ``workspace`` changed in this process: wake whoever waits on them."""
    with _lock:
        listeners = list(_listeners.get(_key(workspace), ()))
    for listener in listeners:
        listener()
