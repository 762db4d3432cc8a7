"""Entry points Jupyter looks up on the top-level package.

``studio_ext/__init__.py`` re-exports both, so that ``jupyter labextension develop``
finds the prebuilt extension and ``jpserver_extensions = {"studio_ext": true}`` loads
the sidebar's REST API.
"""

from __future__ import annotations

from typing import Any


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    # Relative to the studio_ext package; the wheel also installs it under
    # share/jupyter/labextensions/studio-ext.
    return [{"src": "labextension", "dest": "studio-ext"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "studio_ext.jupyter"}]
