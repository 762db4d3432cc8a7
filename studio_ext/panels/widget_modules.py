"""Where a kernel's FigureWidgets get their front-end module from.

plotly's ``go.FigureWidget`` is an anywidget whose front-end module (its ``_esm``,
about 5 MB of JavaScript) is sent as a string with every figure, and the browser
must import it within anywidget's 2 s initialization window; on a busy machine
that fails and the figure draws without its data. The JupyterLab sidebar serves
the module at a URL (``/studio-ext/widget-modules/plotly.js``), imports it before
building a page, and calls :func:`load_plotly_widget_module_from` in its kernel:
FigureWidgets then send the URL, and the browser reuses the module it already has.
"""

from __future__ import annotations

from pathlib import Path


def plotly_widget_module_path() -> Path:
    """The file of plotly's FigureWidget front-end module (what the server serves)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "widgetbundle.js"


def load_plotly_widget_module_from(url: str) -> None:
    """Make FigureWidgets created from now on in this kernel load their module from ``url``."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"anywidget imports modules from http(s) URLs only; got {url!r}.")
    from plotly.basewidget import BaseFigureWidget

    BaseFigureWidget._esm = url
