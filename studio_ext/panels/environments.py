"""The Environments page: curated and custom environments, each with its spec and the jobs that used it.

``EnvironmentsPanel(ws, environment=None)`` follows Azure ML studio's Environments page:
two lists as tabs, *Curated environments* (the ``AzureML-`` images Azure ships, which
``ws.environments.list()`` returns after the workspace's own) and *Custom environments*
(those registered in this workspace, every version). Choosing one opens its page with
*Details* (image, conda file, pip requirements, tags, description), *Specification*
(its v2 YAML, as ``ws.environments.to_yaml`` writes it) and *Jobs* (the jobs whose
``environment`` names it, newest first).

Every read goes through ``ws.environments`` and ``ws.jobs``.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from studio_ext.entities import Environment
from studio_ext.errors import StudioError
from studio_ext.panels._table import Column, Row, Table
from studio_ext.panels._widgets import CodeBox, Message, format_value, html_table, set_choices, status_badge

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

__all__ = ["CURATED_PREFIX", "EnvironmentsPanel", "environment_of"]

CURATED_PREFIX = "AzureML-"  # Azure's curated environments; a workspace's own may not take the prefix
_LABEL = {"description_width": "initial"}


def environment_of(reference: str | None) -> tuple[str, str | None]:
    """``(name, version)`` of a job's environment reference (``azureml:NAME:VERSION``, ``NAME@latest``, a registry URI)."""
    if not reference:
        return "", None
    ref = reference.removeprefix("azureml:")
    if ref.startswith("//registries/"):
        parts = ref.strip("/").split("/")
        name = parts[parts.index("environments") + 1] if "environments" in parts else parts[-1]
        version = parts[parts.index("versions") + 1] if "versions" in parts else None
        return CURATED_PREFIX + name if not name.startswith(CURATED_PREFIX) else name, version
    if "@" in ref:
        return ref.split("@", 1)[0], None
    name, _, version = ref.partition(":")
    return name, version or None


def _first_sentence(text: str, limit: int = 90) -> str:
    first = text.split(". ")[0].rstrip(".")
    return first if len(first) <= limit else first[:limit - 1].rstrip() + "…"


def _spec(env: Environment) -> str:
    if env.image and env.conda_file:
        return "image + conda"
    if env.conda_file:
        return "conda"
    if env.pip_requirements:
        return "pip"
    return "image" if env.image else ""


class EnvironmentsPanel(widgets.VBox):
    """``EnvironmentsPanel(ws, environment=None)``: curated and custom environments (module docstring)."""

    def __init__(self, ws: Workspace, environment: str | None = None, **_: Any) -> None:
        super().__init__()
        self.ws = ws
        self.code = CodeBox()
        self.message = Message()
        self.environments: list[Environment] = []
        self.environment: Environment | None = None
        # The lists: a click on a row opens that environment's page below.
        self.curated_table = Table([Column("name", "Name", link=True), Column("version", "Version", kind="id"),
                                    Column("image", "Image"), Column("description", "Description")],
                                   on_open=self._open_from_list, selectable=False, max_height="300px")
        self.custom_table = Table([Column("name", "Name", link=True), Column("version", "Version", kind="id"),
                                   Column("spec", "Built from"), Column("tags", "Tags"),
                                   Column("created", "Created on", kind="date")],
                                  on_open=self._open_from_list, selectable=False, max_height="300px",
                                  empty="No custom environments yet: ws.environments.create_or_update("
                                        "Environment(name=..., conda_file=... or image=...)).")
        self.lists = widgets.Tab(children=[self.curated_table, self.custom_table])
        self.lists.set_title(0, "Curated environments")
        self.lists.set_title(1, "Custom environments")
        self.picker = widgets.Dropdown(description="Open environment", options=[], style=_LABEL,
                                       layout=widgets.Layout(width="520px"))
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.header = widgets.HTML()
        self.details = widgets.HTML()
        self.spec = widgets.HTML()
        self.jobs = widgets.HTML()
        self.tabs = widgets.Tab(children=[self.details, self.spec, self.jobs])
        for i, title in enumerate(("Details", "Specification", "Jobs")):
            self.tabs.set_title(i, title)
        self.picker.observe(lambda c: self.show(c["new"]) if c["new"] else None, names="value")
        self.refresh_button.on_click(lambda _b: self.refresh())
        title = widgets.HTML("<h3 style='margin:4px 0'>Environments</h3><span style='color:#555'>Curated "
                             "environments Azure ML ships and the custom ones of this workspace: their spec "
                             "and the jobs that ran on them.</span>")
        self.children = [title, self.refresh_button, self.message, self.lists, self.picker,
                         widgets.VBox([self.header, self.tabs]), self.code]
        self.refresh(select=environment)

    def _open_from_list(self, ref: str) -> None:
        if self.picker.value != ref:
            self.picker.value = ref  # its observer opens the environment
        else:
            self.show(ref)

    @property
    def curated(self) -> list[Environment]:
        return [e for e in self.environments if e.name.startswith(CURATED_PREFIX)]

    @property
    def custom(self) -> list[Environment]:
        return [e for e in self.environments if not e.name.startswith(CURATED_PREFIX)]

    def refresh(self, select: str | None = None) -> None:
        """List the environments again; open ``select`` (``NAME`` or ``NAME:VERSION``), else the chosen one."""
        try:
            self.environments = list(self.ws.environments.list())
        except StudioError as exc:
            self.message.error(exc.message)
            return
        self.curated_table.set_rows([Row(f"{e.name}:{e.version}", {
            "name": e.name, "version": e.version, "image": e.image or "",
            "description": _first_sentence(e.description or "")}) for e in self.curated])
        self.custom_table.set_rows([Row(f"{e.name}:{e.version}", {
            "name": e.name, "version": e.version, "spec": _spec(e),
            "tags": ", ".join(f"{k}: {v}" for k, v in e.tags.items()), "created": e.creation_time})
            for e in self.custom])
        self.lists.selected_index = 1 if self.custom else 0
        options = [(f"{e.name}:{e.version}", f"{e.name}:{e.version}") for e in self.custom + self.curated]
        keep = select or self.picker.value
        if keep and ":" not in keep:  # a bare name: its newest version
            versions = [v for _, v in options if v.split(":", 1)[0] == keep]
            keep = versions[0] if versions else keep
        set_choices(self.picker, options, keep=keep, pick_first=True)
        self.code.show("list(ws.environments.list())")

    def show(self, ref: str) -> Environment | None:
        """Open environment ``NAME:VERSION``: details, its v2 YAML and the jobs that used it."""
        name, _, version = ref.partition(":")
        try:
            env = self.ws.environments.get(name, version or None)
            jobs = [j for j in self.ws.jobs.list() if environment_of(getattr(j, "environment", None))[0] == name]
        except StudioError as exc:
            self.message.error(exc.message)
            return None
        self.environment = env
        self.message.clear()
        kind = "Curated" if env.name.startswith(CURATED_PREFIX) else "Custom"
        self.header.value = (f"<h4 style='margin:6px 0'>{html.escape(env.name)} <span style='color:#555;"
                             f"font-weight:normal'>version {html.escape(str(env.version))} · {kind}</span></h4>")
        pip = env.pip_requirements
        pip_text = "\n".join(pip) if isinstance(pip, list) else (pip or "")
        self.details.value = html_table(["Property", "Value"], [
            ("Name", env.name), ("Version", env.version), ("Type", kind), ("Image", env.image or ""),
            ("Conda file", env.conda_file or ""), ("Pip requirements", pip_text),
            ("Description", env.description or ""), ("Tags", ", ".join(f"{k}: {v}" if v else k
                                                                          for k, v in env.tags.items())),
            ("Created on", format_value(env.creation_time))])
        try:
            yaml_text = self.ws.environments.to_yaml(env)
        except StudioError as exc:
            yaml_text = f"# {exc.message}"
        self.spec.value = (f"<pre style='background:#f6f8fa;padding:6px;font-size:85%;white-space:pre-wrap'>"
                           f"{html.escape(yaml_text)}</pre>")
        jobs.sort(key=lambda j: j.creation_time or 0, reverse=True)
        self.jobs.value = html_table(
            ["Job", "Status", "Experiment", "Environment", "Created on"],
            [(html.escape(j.name or ""), status_badge(j.status), html.escape(j.experiment_name or ""),
              html.escape(str(getattr(j, "environment", "") or "")), html.escape(format_value(j.creation_time)))
             for j in jobs], raw_columns=[0, 1, 2, 3, 4], empty="No job has used this environment yet.")
        self.code.show(f"env = ws.environments.get({env.name!r}, version={env.version!r})\n"
                       "print(ws.environments.to_yaml(env))")
        return env
