"""The Data page: data assets (the list, the "Create dataset" wizard, a dataset's page) and datastores.

The Datastores tab lists the workspace's datastores, browses the files under a path of
one, and registers a local folder, an Azure Blob container or a Data Lake Gen2 file
system (``ws.datastores.create_or_update``). The wizard's local source takes a path
(relative to the kernel's working folder) or a file uploaded from the user's computer.

The wizard follows the studio's steps (source → settings → schema → confirm) and
re-parses the start of the source whenever a setting changes, so the preview always
shows what registration will produce. Registration runs in a thread with a progress
bar; profiles are computed in a thread too (once per version: later opens read the cache).
"""

from __future__ import annotations

import html
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
import traitlets

from studio_ext.entities import Data, DataProfile, Datastore, DatastoreType
from studio_ext.entities._data import DelimitedReadOptions
from studio_ext.errors import StudioError
from studio_ext.panels._widgets import CodeBox, Message, format_value, html_table, set_choices, show_figures

STEPS = ("Source", "Settings", "Schema", "Confirm")
SOURCES = (("Local file", "local"), ("Datastore path", "datastore"), ("Web URL", "url"), ("SQL query", "sql"))
DELIMITERS = (("Detect", ""), ("Comma ,", ","), ("Semicolon ;", ";"), ("Tab", "\t"), ("Pipe |", "|"), ("Space", " "))
ENCODINGS = ("utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16", "ascii")
HEADERS = (("Use headers from the first file", "first_row"), ("All files have the same headers", "all_files_same"),
           ("No headers", "none"))
TYPES = (("Auto", ""), ("String", "string"), ("Integer", "integer"), ("Float", "float"), ("Boolean", "boolean"),
         ("Date time", "datetime"), ("Date", "date"))
PREVIEW_ROWS = 10
PROFILE_TAB = 1  # the dataset page's Profile tab, filled when opened


def _frame_table(frame: Any, limit: int = 50) -> str:
    head = frame.head(limit)
    return html_table([str(c) for c in head.columns], [[format_value(v) for v in row] for row in head.itertuples(index=False)],
                      empty="No rows.")


class CreateDatasetWizard(widgets.VBox):
    """Source → settings (live preview) → schema → confirm; ``on_created(data)`` when done."""

    step = traitlets.Int(0)

    def __init__(self, ws: Any, on_created: Callable[[Data], None] | None = None, code: CodeBox | None = None) -> None:
        self.ws = ws
        self._on_created = on_created
        self._code = code or CodeBox()
        self.worker: threading.Thread | None = None
        self.columns: list[tuple[str, str]] = []
        self.last_error = ""
        self.created: Data | None = None
        # step 1: source
        self.source_kind = widgets.ToggleButtons(options=SOURCES, value="local", description="Source")
        # A path on the machine the kernel runs on; relative paths start at the kernel's working folder.
        self.path = widgets.Text(description="Path", placeholder=f"a file or folder, relative to {os.getcwd()}",
                                 layout=widgets.Layout(width="640px"),
                                 tooltip=f"absolute, or relative to the kernel's working folder {os.getcwd()}")
        # ... or a file from the user's computer, saved into the workspace's uploads/ folder.
        self.upload = widgets.FileUpload(description="Upload a file", multiple=False, accept="",
                                         layout=widgets.Layout(width="auto"))
        self.upload.observe(lambda _c: self._uploaded(), "value")
        self.datastore = widgets.Dropdown(description="Datastore", options=[])
        self.datastore_path = widgets.Text(description="Path", placeholder="folder/file.csv")
        self.url = widgets.Text(description="URL", placeholder="https://example.org/data.csv")
        self.sql_datastore = widgets.Dropdown(description="Database", options=[])
        self.query = widgets.Textarea(description="Query", placeholder="SELECT * FROM table", layout=widgets.Layout(width="90%"))
        self.name = widgets.Text(description="Name", placeholder="my-dataset")
        self.data_type = widgets.Dropdown(description="Type", options=(("Tabular", "tabular"), ("File", "file"), ("Folder", "folder")))
        self.description = widgets.Text(description="Description")
        self._source_box = widgets.VBox()
        # step 2: settings
        self.delimiter = widgets.Dropdown(description="Delimiter", options=DELIMITERS, value="")
        self.encoding = widgets.Dropdown(description="Encoding", options=ENCODINGS, value="utf-8")
        self.header = widgets.Dropdown(description="Headers", options=HEADERS, value="first_row")
        self.quote_char = widgets.Text(description="Quote", value='"')
        self.escape_char = widgets.Text(description="Escape", value="")
        self.skip_rows = widgets.BoundedIntText(description="Skip rows", value=0, min=0, max=1_000_000)
        self.decimal = widgets.Dropdown(description="Decimal", options=((". (1.5)", "."), (", (1,5)", ",")), value=".")
        self.preview = widgets.HTML()
        self.preview_message = Message()
        # step 3: schema
        self.schema_box = widgets.VBox()
        self.include: dict[str, widgets.Checkbox] = {}
        self.types: dict[str, widgets.Dropdown] = {}
        # step 4: confirm
        self.summary = widgets.HTML()
        self.create_button = widgets.Button(description="Create", button_style="primary", icon="check")
        self.progress = widgets.FloatProgress(value=0, min=0, max=1, description="", layout=widgets.Layout(visibility="hidden"))
        self.status = Message()
        # navigation
        self.steps_header = widgets.HTML()
        self.back_button = widgets.Button(description="Back", icon="arrow-left")
        self.next_button = widgets.Button(description="Next", icon="arrow-right")
        self.message = Message()
        self._pages = [
            widgets.VBox([self.source_kind, self._source_box, self.name, self.data_type, self.description]),
            widgets.VBox([widgets.HBox([self.delimiter, self.encoding]), widgets.HBox([self.header, self.skip_rows]),
                          widgets.HBox([self.quote_char, self.escape_char, self.decimal]),
                          widgets.HTML("<b>Preview</b>"), self.preview_message, self.preview]),
            widgets.VBox([widgets.HTML("<b>Columns</b> (untick to leave out; choose a type to override)"),
                          self.schema_box, widgets.HTML("<b>Preview</b>"), self.preview]),
            widgets.VBox([self.summary, widgets.HBox([self.create_button, self.progress]), self.status]),
        ]
        self._body = widgets.Box([self._pages[0]])
        super().__init__([self.steps_header, self._body, self.message,
                          widgets.HBox([self.back_button, self.next_button])])
        self.source_kind.observe(self._show_source_fields, "value")
        for control in (self.delimiter, self.encoding, self.header, self.quote_char, self.escape_char,
                        self.skip_rows, self.decimal):
            control.observe(lambda _change: self.refresh_preview(), "value")
        self.back_button.on_click(lambda _b: self._go(-1))
        self.next_button.on_click(lambda _b: self._go(+1))
        self.create_button.on_click(lambda _b: self.create())
        # The Equivalent Python box follows the wizard: the create call as it would be made now.
        for control in (self.source_kind, self.path, self.datastore, self.datastore_path, self.url, self.sql_datastore,
                        self.query, self.name, self.data_type, self.description, self.delimiter, self.encoding,
                        self.header, self.quote_char, self.escape_char, self.skip_rows, self.decimal):
            control.observe(lambda _change: self.show_code(), "value")
        self.reset()

    # -- navigation ------------------------------------------------------------------------
    def reset(self) -> None:
        stores = self.ws.datastores.list()
        for dropdown, names in ((self.datastore, [d.name for d in stores if d.type != DatastoreType.SQL]),
                                (self.sql_datastore, [d.name for d in stores if d.type == DatastoreType.SQL])):
            dropdown.options = names
            if names and dropdown.value not in names:
                dropdown.value = names[0]
        self.created = None
        self.progress.value = 0
        self.progress.layout.visibility = "hidden"
        self.status.clear()
        self.message.clear()
        self._show_source_fields()
        self.step = 0
        self._render_step()

    def _show_source_fields(self, _change: Any = None) -> None:
        kind = self.source_kind.value
        self._source_box.children = {
            "local": [self.path, widgets.HBox([widgets.HTML("<span style='color:#555'>or from your computer:</span>"),
                                               self.upload])],
            "datastore": [self.datastore, self.datastore_path], "url": [self.url],
            "sql": [self.sql_datastore, self.query],
        }[kind]
        if kind == "sql":
            self.data_type.value = "tabular"

    def _uploaded(self) -> Path | None:
        """Save the file chosen in the upload button under ``<workspace>/uploads/`` and use it as the path."""
        files = list(self.upload.value or ())
        if not files:
            return None
        item = files[-1]
        name = Path(str(item["name"])).name  # never a path the browser made up
        folder = Path(self.ws.path) / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        target.write_bytes(bytes(item["content"]))
        self.path.value = str(target)
        if not self.name.value.strip():
            self.name.value = "".join(c if c.isalnum() or c in "-_" else "-" for c in Path(name).stem).strip("-")[:60]
        self.message.info(f"Uploaded {name} ({target.stat().st_size:,} bytes) to {target}.")
        return target

    @traitlets.observe("step")
    def _step_changed(self, _change: Any) -> None:
        self._render_step()

    def _render_step(self) -> None:
        self._body.children = [self._pages[self.step]]
        self.steps_header.value = " › ".join(
            f"<b>{i + 1}. {name}</b>" if i == self.step else f"<span style='color:#888'>{i + 1}. {name}</span>"
            for i, name in enumerate(STEPS))
        self.back_button.disabled = self.step == 0
        self.next_button.disabled = self.step == len(STEPS) - 1
        if self.step == 3:
            self._render_summary()
        self.show_code()

    def _schema_changed(self, _change: Any = None) -> None:
        self.refresh_preview()
        self.show_code()

    def show_code(self) -> None:
        """Put the wizard's create call, as the fields now make it, in the Equivalent Python box."""
        if self.layout.display == "none":
            return  # the wizard is closed: the box belongs to the page's last action
        try:
            code = self.code()
        except (StudioError, ValueError, TypeError):
            code = ("from studio_ext.entities import Data\n\n"
                    f"data = ws.data.create_or_update(Data(name=..., path=..., type={self.data_type.value!r}))")
        self._code.show(code)

    def _go(self, delta: int) -> None:
        self.message.clear()
        target = self.step + delta
        if delta > 0 and self.step == 0 and not self._check_source():
            return
        tabular = self.data_type.value == "tabular"
        if not tabular and target in (1, 2):
            target = 3 if delta > 0 else 0
        elif self.source_kind.value == "sql" and target == 1:
            target = 2 if delta > 0 else 0
        self.step = max(0, min(len(STEPS) - 1, target))
        if self.step == 1:
            self.refresh_preview()
        elif self.step == 2:
            self.refresh_preview(with_schema=False)  # the columns as the settings give them
            self._build_schema()
            self.refresh_preview()

    def _check_source(self) -> bool:
        if not self.name.value.strip():
            self.message.error("Give the dataset a name.")
            return False
        if not self._source_path() and self.source_kind.value != "sql":
            self.message.error("Give the source: a path, a datastore path or a URL.")
            return False
        if self.source_kind.value == "sql" and not (self.sql_datastore.value and self.query.value.strip()):
            self.message.error("Choose a SQL datastore and write a query (register a database with ws.datastores first).")
            return False
        return True

    # -- what the widgets say ------------------------------------------------------------------
    def _source_path(self) -> str | None:
        kind = self.source_kind.value
        if kind == "local":
            return self.path.value.strip() or None
        if kind == "datastore":
            rel = self.datastore_path.value.strip()
            return f"azureml://datastores/{self.datastore.value}/paths/{rel}" if self.datastore.value and rel else None
        if kind == "url":
            return self.url.value.strip() or None
        return None

    def read_options(self, with_schema: bool = True) -> dict[str, Any]:
        options: dict[str, Any] = {"encoding": self.encoding.value, "header": self.header.value,
                                   "quote_char": self.quote_char.value or None, "escape_char": self.escape_char.value or None,
                                   "skip_rows": int(self.skip_rows.value), "decimal": self.decimal.value}
        if self.delimiter.value:
            options["delimiter"] = self.delimiter.value
        known = {c for c, _ in self.columns}
        if with_schema and self.include:
            excluded = [c for c, box in self.include.items() if not box.value and c in known]
            if excluded:
                options["exclude"] = excluded
            types = {c: d.value for c, d in self.types.items() if d.value and self.include[c].value and c in known}
            if types:
                options["column_types"] = types
        if self.source_kind.value == "sql":
            return {k: v for k, v in options.items() if k == "column_types"}
        return options

    def data(self) -> Data:
        kind = self.source_kind.value
        tabular = self.data_type.value == "tabular"
        return Data(name=self.name.value.strip(), type=self.data_type.value, description=self.description.value or None,
                    path=self._source_path(), datastore=self.sql_datastore.value if kind == "sql" else None,
                    query=self.query.value if kind == "sql" else None,
                    read_options=DelimitedReadOptions.coerce(self.read_options()) if tabular and self.read_options() else None)

    def code(self) -> str:
        d = self.data()
        args = [f"name={d.name!r}"]
        if d.query is not None:
            args += [f"datastore={d.datastore!r}", f"query={d.query!r}"]
        else:
            args.append(f"path={d.path!r}")
        args.append(f"type={d.type.value!r}")
        if d.description:
            args.append(f"description={d.description!r}")
        options = self.read_options() if d.type.value == "tabular" else {}
        defaults = {"encoding": "utf-8", "header": "first_row", "quote_char": '"', "escape_char": None, "skip_rows": 0, "decimal": "."}
        changed = {k: v for k, v in options.items() if defaults.get(k, object()) != v}
        if changed:
            args.append(f"read_options={changed!r}")
        return ("from studio_ext.entities import Data\n\n"
                f"data = ws.data.create_or_update(Data({', '.join(args)}))")

    # -- live preview -----------------------------------------------------------------------------
    def refresh_preview(self, with_schema: bool | None = None) -> None:
        """Parse the start of the source with the current settings (a few hundred KB at most)."""
        if self.data_type.value != "tabular":
            return
        if with_schema is None:
            with_schema = self.step == 2 and bool(self.include)
        try:
            kind = self.source_kind.value
            if kind == "sql":
                result = self.ws.data.preview_source(datastore=self.sql_datastore.value, query=self.query.value,
                                                     n=PREVIEW_ROWS)
            else:
                result = self.ws.data.preview_source(path=self._source_path(), n=PREVIEW_ROWS,
                                                     read_options=self.read_options(with_schema=with_schema))
        except StudioError as exc:
            self.last_error = exc.message
            self.preview_message.error(exc.message)
            self.preview.value = ""
            return
        self.last_error = ""
        note = f"Delimiter detected: {result.delimiter!r}." if result.delimiter and not self.delimiter.value else ""
        self.preview_message.info(note) if note else self.preview_message.clear()
        if not with_schema:
            self.columns = [(c.name, c.type) for c in result.columns]
        types = ", ".join(f"{c.name}: {c.type}" for c in result.columns)
        self.preview.value = _frame_table(result.frame) + f"<div style='color:#666;font-size:85%'>{html.escape(types)}</div>"

    def _build_schema(self) -> None:
        if not self.columns:
            self.schema_box.children = [widgets.HTML("No columns yet: fix the source or settings first.")]
            return
        if list(self.include) != [c for c, _ in self.columns]:
            self.include = {c: widgets.Checkbox(value=True, description=c, indent=False) for c, _ in self.columns}
            self.types = {c: widgets.Dropdown(options=TYPES, value="", layout=widgets.Layout(width="160px")) for c, _ in self.columns}
            for control in (*self.include.values(), *self.types.values()):
                control.observe(self._schema_changed, "value")
        self.schema_box.children = [
            widgets.HBox([self.include[c], widgets.HTML(f"<span style='color:#666'>detected: {html.escape(t)}</span>"),
                          self.types[c]]) for c, t in self.columns]

    def _render_summary(self) -> None:
        d = self.data()
        rows = [("Name", d.name), ("Type", d.type.value), ("Source", d.path or f"query on {d.datastore}")]
        if d.read_options is not None:
            rows += [(k, format_value(v, none="(default)")) for k, v in self.read_options().items()]
        self.summary.value = html_table(["Setting", "Value"], rows) + "<pre style='font-size:85%'>" + html.escape(self.code()) + "</pre>"

    # -- create ------------------------------------------------------------------------------------
    def create(self) -> None:
        """Register in a background thread; the progress bar follows bytes copied and parsed."""
        if self.worker is not None and self.worker.is_alive():
            return
        try:
            data = self.data()
        except StudioError as exc:
            self.status.error(exc.message)
            return
        self.create_button.disabled = True
        self.progress.value = 0
        self.progress.layout.visibility = "visible"
        self.status.info(f"Registering {data.name} ...")
        code = self.code()

        def progress(done: int, total: int) -> None:
            self.progress.value = done / total if total else 0

        def run() -> None:
            try:
                created = self.ws.data.create_or_update(data, progress=progress)
            except StudioError as exc:
                self.status.error(exc.message)
                self.progress.layout.visibility = "hidden"
            except Exception as exc:  # noqa: BLE001 - shown, never swallowed silently in a thread
                self.status.error(f"{type(exc).__name__}: {exc}")
                self.progress.layout.visibility = "hidden"
            else:
                self.progress.value = 1
                self.created = created
                self.status.info(f"Registered {created.name} version {created.version}.")
                if self._on_created:
                    self._on_created(created)
                self._code.show(code)  # last: the registration is the action just performed
            finally:
                self.create_button.disabled = False

        self.worker = threading.Thread(target=run, name="register-dataset", daemon=True)
        self.worker.start()

    def wait(self, timeout: float = 60) -> None:
        if self.worker is not None:
            self.worker.join(timeout)


class DatasetPage(widgets.VBox):
    """One dataset: preview grid, profile with a histogram per column, versions, lineage, code."""

    def __init__(self, ws: Any, code: CodeBox | None = None, on_change: Callable[[], None] | None = None) -> None:
        self.ws = ws
        self._code = code or CodeBox()
        self._on_change = on_change
        self.data: Data | None = None
        self.profile_result: DataProfile | None = None
        self.worker: threading.Thread | None = None
        self.title = widgets.HTML()
        self.version = widgets.Dropdown(description="Version", options=[])
        self.details = widgets.HTML()
        self.preview = widgets.HTML()
        self.profile_button = widgets.Button(description="Profile", icon="bar-chart")
        self.profile_status = Message()
        # Shown while the profile computes (a JupyterLab spinner; the tab fills itself when opened).
        self.profile_progress = widgets.HTML(
            "<span style='color:#0078d4'><i class='fa fa-spinner fa-spin'></i> Profiling the data…</span>",
            layout=widgets.Layout(display="none"))
        self.profile_table = widgets.HTML()
        self.histogram_column = widgets.Dropdown(description="Column", options=[])
        self.histogram = widgets.Output()
        self.versions = widgets.HTML()
        self.archive_button = widgets.Button(description="Archive this version", icon="archive")
        self.lineage = widgets.HTML()
        self.consume = widgets.HTML()
        self.tabs = widgets.Tab(children=[
            widgets.VBox([self.details, self.preview]),
            widgets.VBox([widgets.HBox([self.profile_button, self.profile_progress, self.profile_status]),
                          self.profile_table,
                          self.histogram_column, self.histogram]),
            widgets.VBox([self.versions, self.archive_button]),
            self.lineage,
            self.consume,
        ])
        for i, title in enumerate(("Explore", "Profile", "Versions", "Lineage", "Consume")):
            self.tabs.set_title(i, title)
        super().__init__([widgets.HBox([self.title, self.version]), self.tabs])
        self.layout.display = "none"
        self.version.observe(self._version_changed, "value")
        self.profile_button.on_click(lambda _b: self.compute_profile())
        self.tabs.observe(lambda _c: self._profile_if_shown(), "selected_index")
        self.histogram_column.observe(lambda _c: self._show_histogram(), "value")
        self.archive_button.on_click(lambda _b: self.archive())

    def show(self, name: str, version: str | None = None) -> None:
        versions = [d.version for d in self.ws.data.list(name, include_archived=True)]
        target = version or self.ws.data.get(name).version
        self.layout.display = ""
        self.title.value = f"<h4 style='margin:4px 8px 4px 0'>{html.escape(name)}</h4>"
        self._name = name
        self.version.unobserve(self._version_changed, "value")
        self.version.options = versions
        self.version.value = target
        self.version.observe(self._version_changed, "value")
        self._load(name, target)

    def _version_changed(self, change: Any) -> None:
        if change["new"]:
            self._load(self._name, change["new"])

    def _load(self, name: str, version: str | None) -> None:
        d = self.ws.data.get(name, version)
        self.data = d
        self.profile_result = None
        self.profile_table.value = ""
        self.histogram.outputs = ()
        self.histogram_column.options = []
        self.histogram_column.layout.display = "none"  # shown with the profile's columns
        self.profile_status.clear()
        rows = [("Type", d.type.value), ("Rows", d.row_count), ("Columns", ", ".join(f"{c.name} ({c.type})" for c in d.columns)),
                ("Source", d.source), ("Files", ", ".join(d.files)), ("Size", size_text(d.size_bytes)),
                ("Created", format_value(d.creation_time)), ("Archived", "yes" if d.archived else "no"),
                ("Description", d.description), ("Tags", ", ".join(f"{k}={v}" for k, v in d.tags.items()))]
        self.details.value = html_table(["", ""], rows)
        if d.type.value == "tabular":
            self.preview.value = _frame_table(self.ws.data.preview(name, version, n=50))
            self.profile_button.disabled = False
        else:
            self.preview.value = "<i>Files are kept as registered; load them from the path on the Consume tab.</i>"
            self.profile_button.disabled = True
        all_versions = self.ws.data.list(name, include_archived=True)
        self.versions.value = html_table(
            ["Version", "Created", "Rows", "Source", "Archived"],
            [(v.version, format_value(v.creation_time), v.row_count, v.source, "yes" if v.archived else "") for v in all_versions])
        consumers = self.ws.data.list_consumers(name, version)
        self.lineage.value = html_table(["Job", "Input", "Status", "Experiment", "Submitted"],
                                        [(c.job_name, c.input_name, c.status, c.experiment_name, format_value(c.creation_time))
                                         for c in consumers], empty="No job has used this version yet.")
        self.consume.value = "<pre style='font-size:85%'>" + html.escape(self.consume_code()) + "</pre>"
        self._code.show(f"ws.data.get({name!r}, version={version!r})\nws.data.preview({name!r}, version={version!r}, n=50)")
        self._profile_if_shown()

    def _profile_if_shown(self) -> None:
        """The Profile tab fills itself when shown (computed once per version, then read from the cache)."""
        if self.tabs.selected_index == PROFILE_TAB and self.profile_result is None and not self.profile_button.disabled:
            self.compute_profile()

    def consume_code(self) -> str:
        d = self.data
        if d is None:
            return ""
        lines = ["from studio_ext import Workspace, Input, command", "ws = Workspace.from_config()", ""]
        if d.type.value == "tabular":
            lines += [f"df = ws.data.load({d.name!r}, version={d.version!r})  # a pandas DataFrame"]
        else:
            lines += [f"data = ws.data.get({d.name!r}, version={d.version!r})  # its files are read through a job input"]
        lines += ["", "# as a job input (the script gets a local path):"]
        if d.type.value == "tabular":
            lines += [f"inputs = {{'data': Input(type='uri_file', path={d.reference!r})}}  # the table as one Parquet file",
                      f"inputs = {{'data': Input(type='mltable', path={d.reference!r})}}  # its MLTable folder, as Azure"]
        else:
            kind = {"file": "uri_file", "folder": "uri_folder"}[d.type.value]
            lines += [f"inputs = {{'data': Input(type={kind!r}, path={d.reference!r})}}"]
        return "\n".join(lines)

    def compute_profile(self) -> None:
        if self.data is None or (self.worker is not None and self.worker.is_alive()):
            return
        d = self.data
        self.profile_button.disabled = True
        self.profile_status.clear()
        self.profile_progress.layout.display = ""

        def run() -> None:
            try:
                result = self.ws.data.profile(d.name, d.version)
            except StudioError as exc:
                self.profile_status.error(exc.message)
            else:
                self.profile_result = result
                self.profile_status.info(f"{result.row_count} rows, {len(result.columns)} columns.")
                frame = result.to_frame()
                self.profile_table.value = _frame_table(frame, limit=500)
                self.histogram_column.options = [c.name for c in result.columns]
                self.histogram_column.layout.display = ""
                if self.histogram_column.value is None and result.columns:
                    self.histogram_column.value = result.columns[0].name  # shows its histogram
                else:
                    self._show_histogram()
                self._code.show(f"profile = ws.data.profile({d.name!r}, version={d.version!r})\nprofile.to_frame()")
            finally:
                self.profile_progress.layout.display = "none"
                self.profile_button.disabled = False

        self.worker = threading.Thread(target=run, name="profile-dataset", daemon=True)
        self.worker.start()

    def _show_histogram(self) -> None:
        if self.profile_result is None or not self.histogram_column.value:
            return
        show_figures(self.histogram, [histogram_figure(self.profile_result.column(self.histogram_column.value))])

    def archive(self) -> None:
        if self.data is None:
            return
        self.ws.data.archive(self.data.name, self.data.version)
        self._code.show(f"ws.data.archive({self.data.name!r}, version={self.data.version!r})")
        self._load(self.data.name, self.data.version)
        if self._on_change:
            self._on_change()

    def wait(self, timeout: float = 60) -> None:
        if self.worker is not None:
            self.worker.join(timeout)


def histogram_figure(column: Any) -> go.Figure:
    """A bar per bin (numbers, dates) or per most frequent value (text, booleans)."""
    edges, counts = column.histogram_edges, column.histogram_counts
    fig = go.Figure()
    if len(edges) == len(counts) + 1:
        labels = [f"{format_value(a)} – {format_value(b)}" for a, b in zip(edges[:-1], edges[1:])]
        fig.add_bar(x=labels, y=counts, name=column.name)
    else:
        fig.add_bar(x=[str(v) for v in edges], y=counts, name=column.name)
    fig.update_layout(title=f"{column.name} ({column.type})", height=300, margin=dict(l=40, r=10, t=40, b=40),
                      xaxis_title=column.name, yaxis_title="rows", bargap=0.05)
    return fig


class DatasetsPanel(widgets.VBox):
    """``DatasetsPanel(ws)``: datasets with their versions, a create wizard, and each dataset's page."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.code = CodeBox()
        self.message = Message()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.create_button = widgets.Button(description="Create dataset", icon="plus", button_style="primary")
        self.show_archived = widgets.Checkbox(description="Show archived", value=False, indent=False)
        self.table = widgets.HTML()
        self.selector = widgets.Dropdown(description="Open", options=[])
        self.wizard = CreateDatasetWizard(ws, on_created=self._created, code=self.code)
        self.wizard.layout.display = "none"
        self.page = DatasetPage(ws, code=self.code, on_change=self.refresh)
        self.datastores = DatastoresTab(ws, code=self.code)
        assets = widgets.VBox([widgets.HBox([self.create_button, self.refresh_button, self.show_archived]),
                               self.message, self.table, self.selector, self.wizard, self.page])
        self.tabs = widgets.Tab(children=[assets, self.datastores])
        self.tabs.set_title(0, "Data assets")
        self.tabs.set_title(1, "Datastores")
        super().__init__([
            widgets.HTML("<h3 style='margin:4px 0'>Data</h3><span style='color:#555'>Data assets (versioned tables, "
                         "files and folders) and the datastores they are read from.</span>"),
            self.tabs, self.code,
        ])
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.create_button.on_click(lambda _b: self.open_wizard())
        self.show_archived.observe(lambda _c: self.refresh(), "value")
        self.selector.observe(self._selected, "value")
        self.refresh()

    def refresh(self, select: str | None = None) -> None:
        """List the datasets again; ``select`` names the one the "Open" list shows."""
        try:
            datasets = self.ws.data.list(include_archived=self.show_archived.value)
        except StudioError as exc:
            self.message.error(exc.message)
            return
        self.message.clear()
        self.table.value = html_table(
            ["Name", "Latest version", "Type", "Rows", "Columns", "Created", "Source"],
            [(d.name, d.version, d.type.value, d.row_count, len(d.columns) or "", format_value(d.creation_time), d.source)
             for d in datasets], empty="No datasets yet: click 'Create dataset'.")
        current = select or self.selector.value
        self.selector.unobserve(self._selected, "value")
        set_choices(self.selector, [("Choose a dataset…" if datasets else "No datasets yet", ""),
                                    *[(d.name, d.name) for d in datasets]], keep=current)
        self.selector.observe(self._selected, "value")
        if self.selector.value and self.selector.value != current:  # the only dataset: open its page
            self.show_dataset(self.selector.value)
        self.code.show("ws.data.list()")

    def open_wizard(self) -> None:
        self.wizard.layout.display = ""  # first: the wizard's reset then shows its create call
        self.wizard.reset()
        self.page.layout.display = "none"

    def show_dataset(self, name: str, version: str | None = None) -> None:
        """Show a dataset's page (as choosing it in the list does)."""
        self.wizard.layout.display = "none"
        self.page.show(name, version)

    def _selected(self, change: Any) -> None:
        if change["new"]:
            self.show_dataset(change["new"])

    def _created(self, data: Data) -> None:
        self.refresh(select=data.name)
        self.show_dataset(data.name, data.version)


STORE_KINDS = (("Local folder", "local"), ("Azure Blob Storage", "blob"), ("Azure Data Lake Gen2", "adls"))


class DatastoresTab(widgets.VBox):
    """The Datastores tab: the list, browsing a datastore's files, and registering a new one."""

    def __init__(self, ws: Any, code: CodeBox | None = None) -> None:
        self.ws = ws
        self.code = code or CodeBox()
        self.message = Message()
        label = {"description_width": "initial"}
        self.table = widgets.HTML()
        self.store = widgets.Dropdown(description="Datastore", options=[], style=label,
                                      layout=widgets.Layout(width="360px"))
        self.browse_path = widgets.Text(description="Path", placeholder="a folder in the datastore (empty: its root)",
                                        style=label, layout=widgets.Layout(width="420px"))
        self.browse_button = widgets.Button(description="Browse", icon="folder-open")
        self.up_button = widgets.Button(description="Up", icon="level-up", layout=widgets.Layout(width="70px"))
        self.files = widgets.HTML()
        self.store.observe(lambda c: self.browse("") if c["new"] else None, "value")
        self.browse_button.on_click(lambda _b: self.browse(self.browse_path.value.strip()))
        self.up_button.on_click(lambda _b: self.browse(self.browse_path.value.strip().rstrip("/").rpartition("/")[0]))
        # register
        wide = widgets.Layout(width="760px")
        self.kind = widgets.ToggleButtons(options=STORE_KINDS, value="local", description="Kind", style=label)
        self.new_name = widgets.Text(description="Name", placeholder="letters, digits and _", style=label, layout=wide)
        self.folder = widgets.Text(description="Folder", style=label, layout=wide,
                                   placeholder=f"an absolute path, or relative to {os.getcwd()}")
        self.account = widgets.Text(description="Storage account", style=label, layout=wide)
        self.container = widgets.Text(description="Container", style=label, layout=wide,
                                      placeholder="blob container (Data Lake: file system)")
        self.account_key = widgets.Password(description="Account key", style=label, layout=wide,
                                            placeholder="(empty: identity-based access)")
        self.register_button = widgets.Button(description="Register datastore", icon="plus", button_style="primary",
                                              layout=widgets.Layout(width="200px"))
        self.register_message = Message()
        self.local_fields = widgets.VBox([self.folder])
        self.cloud_fields = widgets.VBox([self.account, self.container, self.account_key])
        self.kind.observe(lambda _c: self._show_kind(), "value")
        self.register_button.on_click(lambda _b: self.register())
        register = widgets.VBox([widgets.HTML("<b>Register a datastore</b>"), self.kind, self.new_name,
                                 self.local_fields, self.cloud_fields, self.register_button, self.register_message])
        super().__init__([self.message, self.table, widgets.HTML("<b>Browse</b>"),
                          widgets.HBox([self.store, self.browse_path, self.browse_button, self.up_button]),
                          self.files, register])
        self._show_kind()
        self.refresh()

    def _show_kind(self) -> None:
        local = self.kind.value == "local"
        self.local_fields.layout.display = None if local else "none"
        self.cloud_fields.layout.display = "none" if local else None

    def refresh(self, select: str | None = None) -> None:
        try:
            stores = self.ws.datastores.list()
        except StudioError as exc:
            self.message.error(exc.message)
            return
        self.table.value = html_table(
            ["Name", "Type", "Location", "Default", "Created on"],
            [(d.name, str(d.type), redact(d.url), "yes" if d.is_default else "", format_value(d.creation_time))
             for d in stores])
        browsable = [d.name for d in stores if str(d.type) not in ("sql", "http")]
        set_choices(self.store, browsable, keep=select or self.store.value, pick_first=True)

    def browse(self, path: str = "") -> list[dict[str, Any]]:
        """List the files and folders under ``path`` of the chosen datastore."""
        self.message.clear()
        self.browse_path.value = path
        if not self.store.value:
            return []
        try:
            entries = self.ws.datastores.list_paths(self.store.value, path)
        except StudioError as exc:
            self.message.error(exc.message)
            self.files.value = ""
            return []
        self.files.value = html_table(
            ["Name", "Kind", "Size", "Path for a data asset"],
            [(e["name"] + ("/" if e["is_dir"] else ""), "folder" if e["is_dir"] else "file",
              size_text(e.get("size")),
              f"azureml://datastores/{self.store.value}/paths/{e['path']}") for e in entries],
            empty=f"Nothing under {path or 'the root'}.")
        self.code.show(f"ws.datastores.list_paths({self.store.value!r}, {path!r})")
        return entries

    def register(self) -> Any:
        """Register the datastore the form describes (a local folder, Blob Storage or Data Lake Gen2)."""
        self.register_message.clear()
        name = self.new_name.value.strip()
        try:
            store, code = self._datastore(name)
            created = self.ws.datastores.create_or_update(store)
        except StudioError as exc:
            self.register_message.error(exc.message)
            return None
        self.register_message.info(f"Registered datastore {created.name} ({created.type}).")
        self.refresh(select=created.name)
        self.code.show(code)
        return created

    def _datastore(self, name: str) -> tuple[Any, str]:
        kind = self.kind.value
        if kind == "local":
            folder = self.folder.value.strip()
            if not folder:
                from studio_ext.errors import InvalidInput

                raise InvalidInput("Give the folder the datastore reads from.")
            url = Path(folder).expanduser().resolve().as_uri()
            return Datastore(name=name, url=url), (
                "from studio_ext.entities import Datastore\n"
                f"ws.datastores.create_or_update(Datastore(name={name!r}, url={url!r}))")
        from azure.ai.ml.entities import AccountKeyConfiguration, AzureBlobDatastore, AzureDataLakeGen2Datastore

        key = self.account_key.value.strip()
        credentials = AccountKeyConfiguration(account_key=key) if key else None
        cred_code = "AccountKeyConfiguration(account_key=...)" if key else "None"
        account, container = self.account.value.strip(), self.container.value.strip()
        if kind == "blob":
            return AzureBlobDatastore(name=name, account_name=account, container_name=container,
                                      credentials=credentials), (
                "from azure.ai.ml.entities import AccountKeyConfiguration, AzureBlobDatastore\n"
                f"ws.datastores.create_or_update(AzureBlobDatastore(name={name!r}, account_name={account!r}, "
                f"container_name={container!r}, credentials={cred_code}))")
        if key:
            from studio_ext.errors import InvalidInput

            raise InvalidInput("A Data Lake Gen2 datastore takes a service principal or identity-based access, not "
                               "an account key: leave the key empty (identity) or register it with "
                               "ws.datastores.create_or_update(AzureDataLakeGen2Datastore(..., "
                               "credentials=ServicePrincipalConfiguration(...))).")
        return AzureDataLakeGen2Datastore(name=name, account_name=account, filesystem=container), (
            "from azure.ai.ml.entities import AzureDataLakeGen2Datastore\n"
            f"ws.datastores.create_or_update(AzureDataLakeGen2Datastore(name={name!r}, account_name={account!r}, "
            f"filesystem={container!r}))")


def redact(url: str) -> str:
    """A datastore URL without any password or token in it."""
    import re

    return re.sub(r"//([^/@:]+):[^/@]+@", r"//\1:***@", re.sub(r"([?&](sig|sv|se|sp)=)[^&]+", r"\1***", url or ""))


def size_text(size: int | None) -> str:
    """Bytes as a person reads them: ``812 bytes``, ``4.2 KB``, ``31.5 MB``, ``2.1 GB``."""
    if size is None:
        return ""
    if size < 1000:
        return f"{size:,} bytes"
    for unit, scale in (("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12)):
        if size < scale * 1000 or unit == "TB":
            return f"{size / scale:.1f} {unit}"
    return f"{size:,} bytes"
