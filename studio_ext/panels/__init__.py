"""The studio's pages: ipywidgets + plotly panels that call Workspace services only.

The same classes render in a notebook cell, in the JupyterLab sidebar and as Voila
dashboards. :data:`PAGES` is the one list of pages every front end reads.

This module is the one public place for the widgets a notebook uses, as
``from azureml.widgets import RunDetails`` is in azureml-widgets::

    from studio_ext.panels import RunDetails, RunCompare, ExplanationDashboard
    RunDetails(ws, "job-name").show()        # or leave it last in a cell

Every name in :data:`WIDGETS` and every page class imports from here; each is loaded on
first use, so importing this module stays cheap.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace


@dataclass(frozen=True)
class Page:
    """A page of the studio: its id, the title shown, and the panel class behind it."""

    id: str
    title: str
    target: str  # "module:Class"; the class is called with the workspace

    def load(self) -> type:
        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(module), cls)


# Pages appear here, in sidebar order, as their panels land; the sidebar, the
# dashboards and the browser tests all read this list.
_PAGE_LIST: list[Page] = [
    Page("data", "Data", "studio_ext.panels.datasets:DatasetsPanel"),
    Page("jobs", "Jobs", "studio_ext.panels.runs:RunExplorer"),
    Page("pipelines", "Pipelines", "studio_ext.panels.pipelines:PipelinesPanel"),
    Page("models", "Models", "studio_ext.panels.models:ModelsPanel"),
    Page("environments", "Environments", "studio_ext.panels.environments:EnvironmentsPanel"),
    Page("compute", "Compute", "studio_ext.panels.compute:ComputePanel"),
    Page("automl", "Automated ML", "studio_ext.panels.automl:AutoMLWizard"),
    Page("sweeps", "Sweeps", "studio_ext.panels.sweeps:SweepPanel"),
    Page("endpoints", "Endpoints", "studio_ext.panels.endpoints:EndpointsPanel"),
    Page("monitoring", "Monitoring", "studio_ext.panels.monitoring:MonitoringPanel"),
    Page("explanations", "Explanations", "studio_ext.panels.explanation:ExplanationDashboard"),
    Page("fairness", "Fairness", "studio_ext.panels.fairness:FairnessDashboard"),
    Page("privacy", "Privacy", "studio_ext.panels.privacy:PrivacyPanel"),
]
PAGES: dict[str, Page] = {page.id: page for page in _PAGE_LIST}


def open_page(page_id: str, workspace: Workspace | str | None = None, **options: Any) -> Any:
    """Build the panel of ``page_id`` for a workspace (an object, a path, or found by config).

    ``options`` go to the panel: ``open_page("jobs", ws, run="NAME")`` opens a job's details.
    """
    from studio_ext.errors import NotFound
    from studio_ext.workspace import Workspace

    if page_id not in PAGES:
        raise NotFound(f"There is no studio page {page_id!r}. Pages: {', '.join(PAGES) or 'none'}.")
    if workspace is None or isinstance(workspace, str):
        ws = Workspace.from_config(workspace)
    else:
        ws = workspace
    return PAGES[page_id].load()(ws, **options)


# The widgets that are not pages of their own, by the name a notebook imports.
WIDGETS: dict[str, str] = {
    "RunDetails": "studio_ext.panels.run_details:RunDetails",
    "RunCompare": "studio_ext.panels.run_compare:RunCompare",
}


def _public_names() -> dict[str, str]:
    names = {page.target.partition(":")[2]: page.target for page in PAGES.values()}
    names.update(WIDGETS)
    return names


__all__ = ["PAGES", "WIDGETS", "Page", "open_page", *sorted(_public_names())]


def __getattr__(name: str) -> Any:
    # `from studio_ext.panels import RunDetails` without importing every page up front.
    target = _public_names().get(name)
    if target is None:
        raise AttributeError(f"module 'studio_ext.panels' has no attribute {name!r}")
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
