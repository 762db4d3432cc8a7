"""studio_ext: the Azure Machine Learning studio inside Jupyter, local-first.

    from studio_ext import Workspace, command, Input, Output
    ws = Workspace.create("my-ws")
"""

from studio_ext import automl, dsl
from studio_ext._azure_import import install as _install_azure_import
from studio_ext._builders import command
from studio_ext._jupyter_hooks import _jupyter_labextension_paths, _jupyter_server_extension_points  # noqa: F401
from studio_ext.dsl import load_component
from studio_ext.entities import Environment, Input, Output
from studio_ext.errors import StudioError
from studio_ext.workspace import Workspace

_install_azure_import()  # azure-ai-ml, once imported, without jsonschema's IRI parsers (half its import CPU)

__all__ = ["Environment", "Input", "Output", "StudioError", "Workspace", "automl", "command", "dsl", "load_component"]
__version__ = "0.1.0"
