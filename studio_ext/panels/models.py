"""The Models page: the model list, then a model's page with Details, Versions, Files, Lineage and Deploy.

``ModelsPanel(ws, model=None)`` follows Azure ML studio's Models page:

- **Model list**: each registered model's name, latest version, type, tags and
  creation time; choose one to open its page.
- **Register**: from a job's outputs (``azureml://jobs/NAME/outputs/artifacts/paths/model/``)
  or from files on this machine, as ``ws.models.create_or_update(Model(...))``.
- **A model's page**, as tabs: *Details* (type, flavors, trust, description, tags),
  *Versions*, *Files* (each file with its SHA-256), *Lineage* (the job that produced it,
  which opens below, and the data assets it was trained on) and *Deploy* (to a new or
  existing managed online endpoint, the Endpoints page's form, through
  ``ws.online_endpoints``/``ws.online_deployments``).

Every read and write goes through ``ws.models``, ``ws.jobs`` and the endpoint services.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from studio_ext.entities import Model
from studio_ext.errors import StudioError
from studio_ext.panels._table import Column, Row, Table
from studio_ext.panels._widgets import CodeBox, Message, format_value, html_table, set_choices

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

__all__ = ["ModelsPanel"]

_LABEL = {"description_width": "initial"}
SOURCES = (("A job's output", "job"), ("Files on this machine", "local"))


def _tags(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in tags.items())


class RegisterForm(widgets.VBox):
    """Register a model version from a job's outputs or from local files."""

    def __init__(self, panel: ModelsPanel) -> None:
        self.panel = panel
        wide = widgets.Layout(width="520px")
        self.name = widgets.Text(description="Name", placeholder="model name (letters, digits, - and _)",
                                 style=_LABEL, layout=wide)
        self.source = widgets.ToggleButtons(options=SOURCES, value="job", description="From", style=_LABEL)
        self.job = widgets.Dropdown(description="Job", options=[], style=_LABEL, layout=wide)
        self.output_path = widgets.Text(description="Path in the job's outputs", value="model", style=_LABEL,
                                        layout=wide, tooltip="the folder the job logged its model to")
        self.local_path = widgets.Text(description="Path", style=_LABEL, layout=wide,
                                       placeholder="a file or folder, absolute or relative to the kernel's folder")
        self.type = widgets.Dropdown(description="Type", style=_LABEL, layout=widgets.Layout(width="300px"),
                                     options=(("detect (MLflow if it has an MLmodel)", ""),
                                              ("mlflow_model", "mlflow_model"), ("custom_model", "custom_model")))
        self.description = widgets.Text(description="Description", style=_LABEL, layout=wide)
        self.button = widgets.Button(description="Register", button_style="primary", icon="cube")
        self.message = Message()
        self.source.observe(lambda _c: self._show_source(), names="value")
        self.button.on_click(lambda _b: self.register())
        self.job_fields = widgets.VBox([self.job, self.output_path])
        self.local_fields = widgets.VBox([self.local_path])
        super().__init__([widgets.HTML("<b>Register a model</b>"), self.name, self.source, self.job_fields,
                          self.local_fields, self.type, self.description, self.button, self.message])
        self._show_source()

    def _show_source(self) -> None:
        by_job = self.source.value == "job"
        self.job_fields.layout.display = None if by_job else "none"
        self.local_fields.layout.display = "none" if by_job else None

    def set_jobs(self, names: list[str]) -> None:
        set_choices(self.job, names, keep=self.job.value, pick_first=True)

    def path(self) -> str:
        if self.source.value == "job":
            output = self.output_path.value.strip().strip("/")
            return f"azureml://jobs/{self.job.value}/outputs/artifacts/paths/{output}/"
        return self.local_path.value.strip()

    def register(self) -> Model | None:
        self.message.clear()
        if self.source.value == "job" and not self.job.value:
            self.message.error("Choose the job whose output holds the model (no completed jobs yet).")
            return None
        model = Model(name=self.name.value.strip(), path=self.path(), type=self.type.value or None,
                      description=self.description.value.strip() or None)
        try:
            registered = self.panel.ws.models.create_or_update(model)
        except StudioError as exc:
            self.message.error(exc.message)
            return None
        args = [f"name={model.name!r}", f"path={model.path!r}"]
        if model.type:
            args.append(f"type={model.type!r}")
        if model.description:
            args.append(f"description={model.description!r}")
        self.panel.refresh(select=registered.name)
        self.panel.code.show("from studio_ext.entities import Model\n"
                             f"ws.models.create_or_update(Model({', '.join(args)}))")
        self.message.info(f"Registered {registered.name} version {registered.version}.")
        return registered


class ModelsPanel(widgets.VBox):
    """``ModelsPanel(ws, model=None)``: the model list, Register, and a model's page (module docstring)."""

    def __init__(self, ws: Workspace, model: str | None = None, **_: Any) -> None:
        super().__init__()
        self.ws = ws
        self.code = CodeBox()
        self.message = Message()
        self.models: list[Model] = []
        self.model: Model | None = None
        self.opened: Any = None
        # The model list: a click on a row opens the model's page below.
        self.table = Table([Column("name", "Name", link=True), Column("version", "Latest version"),
                            Column("type", "Type"), Column("tags", "Tags"),
                            Column("created", "Created on", kind="date")],
                           on_open=self._open_from_list, selectable=False, max_height="300px",
                           empty="No models registered yet. Register one from a job's output or from files "
                                 "(Register above).")
        self.picker = widgets.Dropdown(description="Model", options=[], style=_LABEL,
                                       layout=widgets.Layout(width="360px"))
        self.version = widgets.Dropdown(description="Version", options=[], style=_LABEL,
                                        layout=widgets.Layout(width="180px"))
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.register_toggle = widgets.Button(description="Register", icon="plus")
        self.register_form = RegisterForm(self)
        self.register_form.layout.display = "none"
        self.header = widgets.HTML()
        self.details = widgets.HTML()
        self.versions = widgets.HTML()
        self.files = widgets.HTML()
        self.lineage = widgets.HTML()
        self.open_job_button = widgets.Button(description="Open job", icon="external-link", disabled=True)
        self.job_area = widgets.VBox()
        from studio_ext.panels.endpoints import DeployForm

        self.deploy_form = DeployForm(self)
        self.tabs = widgets.Tab(children=[
            self.details, self.versions, self.files,
            widgets.VBox([self.lineage, self.open_job_button, self.job_area]), self.deploy_form])
        for i, title in enumerate(("Details", "Versions", "Files", "Lineage", "Deploy")):
            self.tabs.set_title(i, title)
        self.item = widgets.VBox([self.header, self.tabs])
        self.picker.observe(lambda c: self._on_model(c["new"]), names="value")
        self.version.observe(lambda c: self.show(self.picker.value, c["new"]) if c["new"] else None, names="value")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.register_toggle.on_click(lambda _b: self._toggle_register())
        self.open_job_button.on_click(lambda _b: self.open_job())
        title = widgets.HTML("<h3 style='margin:4px 0'>Models</h3><span style='color:#555'>Registered models: "
                             "their versions, files and lineage; register one from a job or from files, "
                             "and deploy it to an online endpoint.</span>")
        self.children = [title, widgets.HBox([self.register_toggle, self.refresh_button]), self.register_form,
                         self.message, self.table, widgets.HBox([self.picker, self.version]), self.item, self.code]
        self.refresh(select=model)

    # -- the list --------------------------------------------------------------------------------
    def refresh(self, select: str | None = None) -> None:
        """List the models again (latest version of each) and show the chosen one."""
        try:
            self.models = sorted(self.ws.models.list(), key=lambda m: m.creation_time or 0, reverse=True)
            jobs = [j.name for j in self.ws.jobs.list() if j.name and str(j.status) == "Completed" and j.type != "sweep"]
        except StudioError as exc:
            self.message.error(exc.message)
            return
        self.register_form.set_jobs(jobs)
        self.table.set_rows([Row(m.name, {"name": m.name, "version": m.version, "type": str(m.type),
                                          "tags": _tags(m.tags), "created": m.creation_time}) for m in self.models])
        names = [m.name for m in self.models]
        keep = select or self.picker.value
        set_choices(self.picker, names, keep=keep, pick_first=True)
        self.item.layout.display = None if names else "none"
        if self.picker.value:
            self._on_model(self.picker.value)
        self.code.show("ws.models.list()")

    def _open_from_list(self, name: str) -> None:
        if self.picker.value != name:
            self.picker.value = name  # its observer opens the model
        else:
            self._on_model(name)

    def _toggle_register(self) -> None:
        hidden = self.register_form.layout.display == "none"
        self.register_form.layout.display = None if hidden else "none"

    def _on_model(self, name: str | None) -> None:
        if not name:
            return
        try:
            versions = [m.version for m in self.ws.models.list(name)]
        except StudioError as exc:
            self.message.error(exc.message)
            return
        ordered = sorted((v for v in versions if v), key=lambda v: int(v) if str(v).isdigit() else 0, reverse=True)
        previous = self.version.value
        set_choices(self.version, ordered, pick_first=True)  # the latest version first
        if self.version.value == previous and self.version.value:
            self.show(name, self.version.value)  # the observer does not fire on the same value

    # -- a model's page --------------------------------------------------------------------------
    def show(self, name: str, version: str | None = None) -> Model | None:
        """Open model ``name`` (its ``version``, else the latest) on the tabs."""
        try:
            model = self.ws.models.get(name, version)
            all_versions = self.ws.models.list(name)
        except StudioError as exc:
            self.message.error(exc.message)
            return None
        self.model = model
        self.message.clear()
        self.header.value = (f"<h4 style='margin:6px 0'>{html.escape(model.name)} "
                             f"<span style='color:#555;font-weight:normal'>version {html.escape(str(model.version))}"
                             "</span></h4>")
        inputs = [str(c.get("name")) for c in ((model.signature or {}).get("inputs") or []) if c.get("name")]
        self.details.value = html_table(["Property", "Value"], [
            ("Name", model.name), ("Version", model.version), ("Type", str(model.type)),
            ("Created on", format_value(model.creation_time)), ("Flavors", ", ".join(model.flavors)),
            ("Serialization", str(model.serialization)), ("Trust", "; ".join(model.needs_trust) or "none needed"),
            ("Inputs", ", ".join(inputs)), ("Description", model.description or ""), ("Tags", _tags(model.tags)),
            ("Asset ID", model.id)])
        self.versions.value = html_table(
            ["Version", "Created on", "Job", "Tags", "Description"],
            [(m.version, format_value(m.creation_time), m.job_name or "", _tags(m.tags), m.description or "")
             for m in sorted(all_versions, key=lambda m: int(m.version or 0), reverse=True)])
        self.files.value = html_table(["File", "SHA-256"], sorted(model.files.items()),
                                      empty="No files recorded for this version.")
        self._show_lineage(model)
        self.code.show(f"model = ws.models.get({model.name!r}, version={model.version!r})")
        return model

    def _show_lineage(self, model: Model) -> None:
        rows: list[tuple[str, str]] = []
        job = None
        if model.job_name:
            try:
                job = self.ws.jobs.get(model.job_name)
            except StudioError:
                job = None
        if job is not None:
            link = getattr(job, "studio_url", None)
            name = html.escape(job.name or "")
            shown = (f"<a href='{html.escape(link)}' target='_blank' style='color:var(--jp-content-link-color,#0078d4);"
                     f"text-decoration:underline'>{name}</a>") if link and link.startswith("http") else name
            rows.append(("Job", f"{shown} ({html.escape(str(job.status))}, experiment "
                                f"{html.escape(job.experiment_name or '')})"))
        elif model.job_name or model.run_id:
            rows.append(("Job", html.escape(model.job_name or model.run_id or "")))
        else:
            rows.append(("Job", "none: registered from files"))
        rows.append(("Data", html.escape(", ".join(model.datasets)) or "none recorded"))
        rows.append(("Registered from", html.escape(str(model.path or ""))))
        self.lineage.value = html_table(["Lineage", ""], rows, raw_columns=[1])
        self.open_job_button.disabled = job is None
        self.job_area.children = []

    def open_job(self) -> Any:
        """Open the job that produced the model, below its lineage (the Jobs page's details)."""
        if self.model is None or not self.model.job_name:
            return None
        from studio_ext.panels import open_page

        self.opened = open_page("jobs", self.ws, run=self.model.job_name)
        self.job_area.children = [self.opened]
        return self.opened

    # -- what the Deploy form asks of its page ---------------------------------------------------
    def selected_model(self) -> Model | None:
        return self.model

    def open_endpoint(self, name: str, *, show: bool = True) -> None:
        self.message.info(f"Deployed to {name}: open it on the Endpoints page.")
