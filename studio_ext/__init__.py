"""studio_ext: the Azure Machine Learning studio inside Jupyter, local-first.

    from studio_ext import Workspace, command, Input, Output
    ws = Workspace.create("my-ws")
"""

from . import automl
from ._builders import command
from ._jupyter_hooks import _jupyter_labextension_paths, _jupyter_server_extension_points  # noqa: F401
from .entities import Environment, Input, Output
from .errors import StudioError
from .workspace import Workspace

__all__ = ["Environment", "Input", "Output", "StudioError", "Workspace", "automl", "command"]
__version__ = "0.1.0"
