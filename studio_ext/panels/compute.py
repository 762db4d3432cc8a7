"""The Compute page: compute instances, clusters and attached schedulers, as in Azure ML studio.

A table of targets (type, state, nodes, busy nodes, queued jobs, dashboard) kept
current by the workspace's shared live-refresh thread; actions on the selected
target (delete asks first); and a create form that checks each field as it is
typed. Every action shows the SDK call that does the same, ready to copy.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from studio_ext.entities import (
    AmlCompute,
    AttachedCompute,
    CapacityWarning,
    Compute,
    ComputeInstance,
    ComputeState,
    ComputeType,
)
from studio_ext.errors import BackendUnavailable, StudioError
from studio_ext.panels._widgets import CodeBox, Message, SharedPoller, Subscription, badge, html_table, link_html

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

_STATE_COLOURS = {
    ComputeState.RUNNING: "#107c10", ComputeState.FAILED: "#a4262c", ComputeState.STOPPED: "#797775",
}
_KIND_OPTIONS = [("Compute instance", ComputeType.COMPUTE_INSTANCE), ("Compute cluster", ComputeType.AML_COMPUTE),
                 ("Attached compute", ComputeType.ATTACHED)]
_VALID_NAME = "name-ok"  # stands in for the name while checking the other fields
_ENTITY_NAMES = {ComputeType.COMPUTE_INSTANCE: "ComputeInstance", ComputeType.AML_COMPUTE: "AmlCompute",
                 ComputeType.ATTACHED: "AttachedCompute"}


def state_badge(state: ComputeState) -> str:
    return badge(state.value, _STATE_COLOURS.get(state, "#8764b8"))  # transitions in purple


def nodes_text(compute: Compute) -> str:
    top = "?" if compute.max_nodes is None else compute.max_nodes
    return f"{compute.current_nodes} ({compute.min_nodes}-{top})"


def sdk_code(ws: Workspace, call: str, entity: str | None = None) -> str:
    """The Python a user would type for an action of this page."""
    imports = f"from studio_ext.entities import {entity}\n" if entity else ""
    return f"{imports}{ws.sdk_preamble()}{call}\n"


def entity_code(compute: Compute) -> str:
    fields = [f"name={compute.name!r}"]
    if compute.description:
        fields.append(f"description={compute.description!r}")
    if isinstance(compute, AmlCompute):
        fields += [f"min_instances={compute.min_instances}", f"max_instances={compute.max_instances}",
                   f"idle_time_before_scale_down={compute.idle_time_before_scale_down:g}"]
    elif isinstance(compute, ComputeInstance):
        if compute.idle_time_before_shutdown_minutes is not None:
            fields.append(f"idle_time_before_shutdown_minutes={compute.idle_time_before_shutdown_minutes:g}")
        if compute.max_concurrent_jobs is not None:
            fields.append(f"max_concurrent_jobs={compute.max_concurrent_jobs}")
    elif isinstance(compute, AttachedCompute):
        fields += [f"address={compute.address!r}", f"connect_timeout={compute.connect_timeout:g}"]
    return f"{type(compute).__name__}({', '.join(fields)})"


class ComputeForm(widgets.VBox):
    """The create form: one kind at a time, each field checked as it changes."""

    kind = traitlets.UseEnum(ComputeType, default_value=ComputeType.AML_COMPUTE)

    def __init__(self, ws: Workspace, on_create: Callable[[Compute], None], existing: Callable[[], set[str]]) -> None:
        self.ws = ws
        self._on_create = on_create
        self._existing = existing
        style = {"description_width": "initial"}  # each label as wide as its text
        self.kind_picker = widgets.ToggleButtons(options=_KIND_OPTIONS, value=ComputeType.AML_COMPUTE)
        self.name = widgets.Text(description="Name", placeholder="e.g. cpu-cluster", style=style)
        self.description_text = widgets.Text(description="Description", style=style)
        self.min_instances = widgets.IntText(value=0, description="Minimum nodes", style=style)
        self.max_instances = widgets.IntText(value=2, description="Maximum nodes", style=style)
        self.idle_seconds = widgets.FloatText(value=120, description="Idle seconds before scale down", style=style)
        self.idle_minutes = widgets.FloatText(value=0, description="Idle shutdown (min, 0 = never)", style=style)
        self.max_jobs = widgets.IntText(value=0, description="Jobs at once (0 = per core)", style=style)
        self.address = widgets.Text(description="Scheduler address", placeholder="tcp://host:8786", style=style)
        self.connect_timeout = widgets.FloatText(value=5, description="Connect timeout (s)", style=style)
        self.name_message, self.size_message, self.address_message = Message(), Message(), Message()
        self.create_button = widgets.Button(description="Create", button_style="primary", icon="plus")
        self.create_button.on_click(lambda _: self.submit())
        self._cluster_box = widgets.VBox([self.min_instances, self.max_instances, self.idle_seconds])
        self._instance_box = widgets.VBox([self.idle_minutes, self.max_jobs])
        self._attached_box = widgets.VBox([self.address, self.connect_timeout])
        super().__init__([
            self.kind_picker, self.name, self.name_message, self.description_text,
            self._cluster_box, self._instance_box, self._attached_box, self.size_message,
            self.address_message, self.create_button,
        ])
        for field in (self.name, self.min_instances, self.max_instances, self.idle_seconds, self.idle_minutes,
                      self.max_jobs, self.address, self.connect_timeout):
            field.observe(lambda _: self.check(), "value")
        self.kind_picker.observe(self._on_kind_picked, "value")
        self._show_kind()
        self.check()

    def _on_kind_picked(self, change: dict[str, Any]) -> None:
        self.kind = change["new"]
        self._show_kind()
        self.check()

    def _show_kind(self) -> None:
        for box, kind in ((self._cluster_box, ComputeType.AML_COMPUTE),
                          (self._instance_box, ComputeType.COMPUTE_INSTANCE),
                          (self._attached_box, ComputeType.ATTACHED)):
            box.layout.display = None if self.kind == kind else "none"

    def build(self, name: str | None = None) -> Compute:
        common: dict[str, Any] = {"name": self.name.value.strip() if name is None else name,
                                  "description": self.description_text.value.strip() or None}
        if self.kind == ComputeType.AML_COMPUTE:
            return AmlCompute(**common, min_instances=self.min_instances.value, max_instances=self.max_instances.value,
                              idle_time_before_scale_down=self.idle_seconds.value)
        if self.kind == ComputeType.COMPUTE_INSTANCE:
            return ComputeInstance(**common, idle_time_before_shutdown_minutes=self.idle_minutes.value or None,
                                   max_concurrent_jobs=self.max_jobs.value or None)
        return AttachedCompute(**common, address=self.address.value.strip(), connect_timeout=self.connect_timeout.value)

    def check(self) -> bool:
        """Show what is wrong next to each field; True when the form may be submitted."""
        ok = True
        name = self.name.value.strip()
        self.name_message.clear()
        if name:
            try:
                self.ws.compute.validate(AmlCompute(name=name))
                if name in self._existing():
                    self.name_message.error(f"A compute named {name!r} already exists; pick another name.")
                    ok = False
            except StudioError as exc:
                self.name_message.error(exc.message)
                ok = False
        else:
            ok = False
        target = self.size_message if self.kind != ComputeType.ATTACHED else self.address_message
        other = self.address_message if target is self.size_message else self.size_message
        other.clear()
        try:
            notes = self.ws.compute.validate(self.build(name=_VALID_NAME))
            if notes:
                target.info("Warning: " + " ".join(notes))
            else:
                target.clear()
        except StudioError as exc:
            target.error(exc.message)
            ok = False
        self.create_button.disabled = not ok
        return ok

    def submit(self) -> None:
        if not self.check():
            return
        compute = self.build()
        try:
            self._on_create(compute)
        except BackendUnavailable as exc:  # an attached scheduler that does not answer
            self.address_message.error(exc.message)
        except StudioError as exc:
            (self.address_message if self.kind == ComputeType.ATTACHED else self.name_message).error(exc.message)


def local_html() -> str:
    """The Local tab: this machine, where ``compute="local"`` jobs run as processes."""
    import os

    cpus = os.cpu_count() or 1
    return html_table(["Name", "Type", "State", "Cores", "How jobs run"],
                      [["local", "This machine", "Running", cpus,
                        "each job as a process of the workspace's supervisor; submit with compute='local'"]])


class ComputePanel(widgets.VBox):
    """``ComputePanel(ws)``: the targets of a workspace, their actions and a create form."""

    selected = traitlets.Unicode(allow_none=True, default_value=None)

    def __init__(self, ws: Workspace, *, poll_interval: float | None = None) -> None:
        self.ws = ws
        self.computes: dict[str, Compute] = {}
        self.refreshes = 0
        self._pending: tuple[str, str] | None = None  # (compute, action) whose message clears when it settles
        self._shown_kinds: bool | None = None
        self.title = widgets.HTML("<h3 style='margin:4px 0'>Compute</h3>")
        # As the studio's Compute page: one tab per kind, and this machine ("local") beside them.
        self.tables = {kind: widgets.HTML() for kind in ComputeType}
        self.local = widgets.HTML(local_html())
        self.tabs = widgets.Tab(children=[*self.tables.values(), self.local])
        for i, title in enumerate(("Compute instances", "Compute clusters", "Attached computes", "Local")):
            self.tabs.set_title(i, title)
        self.picker = widgets.Dropdown(description="Compute", options=[], value=None)
        self.start_button = widgets.Button(description="Start", icon="play")
        self.stop_button = widgets.Button(description="Stop", icon="stop")
        self.restart_button = widgets.Button(description="Restart", icon="refresh")
        self.delete_button = widgets.Button(description="Delete", icon="trash", button_style="danger")
        self.force = widgets.Checkbox(description="Cancel jobs that block it", indent=False)
        self.refresh_button = widgets.Button(description="Refresh", icon="sync")
        self.confirm_text = widgets.HTML()
        self.confirm_button = widgets.Button(description="Delete", button_style="danger")
        self.keep_button = widgets.Button(description="Keep it")
        self.confirm_box = widgets.HBox([self.confirm_text, self.confirm_button, self.keep_button],
                                        layout=widgets.Layout(display="none"))
        self.details = widgets.HTML()
        self.progress = widgets.IntProgress(min=0, max=1, value=0, description="Nodes",
                                            style={"description_width": "initial"},
                                            layout=widgets.Layout(display="none"))
        self.message = Message()
        self.code = CodeBox()
        self.new_button = widgets.Button(description="New compute", icon="plus")
        self.form = ComputeForm(ws, self._create, lambda: set(self.computes))
        self.form.layout.display = "none"
        for button, action in ((self.start_button, "start"), (self.stop_button, "stop"),
                               (self.restart_button, "restart")):
            button.on_click(lambda _, a=action: self.act(a))
        self.delete_button.on_click(lambda _: self.ask_delete())
        self.confirm_button.on_click(lambda _: self.act("delete"))
        self.keep_button.on_click(lambda _: self._hide_confirm())
        self.refresh_button.on_click(lambda _: self.refresh())
        self.new_button.on_click(lambda _: self._toggle_form())
        self.picker.observe(self._picked, "value")
        # The actions on a chosen compute: shown once there is one to choose (no blank picker).
        self.actions = widgets.HBox([self.picker, self.start_button, self.stop_button, self.restart_button,
                                     self.delete_button, self.force], layout=widgets.Layout(display="none"))
        super().__init__([
            self.title, widgets.HBox([self.new_button, self.refresh_button]), self.form, self.tabs,
            self.actions,
            self.confirm_box, self.progress, self.details, self.message, self.code,
        ])
        self.refresh()
        self._subscription: Subscription | None = SharedPoller.for_workspace(ws, poll_interval).subscribe(
            ("compute-list", str(ws.path)), ws.compute.list, self._on_update)

    # -- live state ------------------------------------------------------------------------
    @property
    def table_text(self) -> str:
        """The HTML of every kind's table (what the tabs show, together)."""
        return "".join(t.value for t in self.tables.values())

    def refresh(self) -> None:
        """Read the targets now (the live refresh does this in the background)."""
        try:
            self._show(self.ws.compute.list())
        except StudioError as exc:
            self.message.error(exc.message)

    def _on_update(self, computes: list[Compute] | None, error: BaseException | None) -> bool:
        if error is not None:
            self.message.error(getattr(error, "message", str(error)))
        else:
            self._show(computes or [])
        return self._subscription is not None

    def _show(self, computes: list[Compute]) -> None:
        self.refreshes += 1
        self.computes = {c.name: c for c in computes}
        for kind, table in self.tables.items():
            rows = []
            for c in computes:
                if c.type != kind:
                    continue
                link = link_html(c.dashboard_link, "dashboard") if c.dashboard_link else ""
                rows.append([html.escape(c.name), html.escape(c.type.label), state_badge(c.state),
                             html.escape(nodes_text(c)), c.busy_nodes, len(c.queued_jobs), len(c.running_jobs), link])
            table.value = html_table(
                ["Name", "Type", "State", "Nodes (min-max)", "Busy nodes", "Queued jobs", "Running jobs", "Dashboard"],
                rows, raw_columns=(0, 1, 2, 3, 7),
                empty=f"No {kind.label.lower()}s yet. Create one with 'New compute', or submit jobs to compute='local'.")
        if computes and self._shown_kinds is None:  # open on the first tab that has compute
            self._shown_kinds = True
            first = next((i for i, kind in enumerate(self.tables) if any(c.type == kind for c in computes)), 0)
            self.tabs.selected_index = first
        names = list(self.computes)
        if list(self.picker.options) != names:
            current = self.picker.value
            self.picker.options = names
            self.picker.value = current if current in names else (names[0] if names else None)
        self.actions.layout.display = None if names else "none"
        self._clear_settled()
        self._show_selected()

    def _clear_settled(self) -> None:
        """Clear "Creating cpu-cluster…" and the like once that compute has settled (or is gone)."""
        if self._pending is None:
            return
        name, action = self._pending
        compute = self.computes.get(name)
        gone = action == "delete" and compute is None
        settled = (compute is not None and not compute.state.is_transitional
                   and (action != "stop" or compute.state != ComputeState.RUNNING))
        if gone or settled:
            self._pending = None
            if self.message.kind == "info":
                self.message.clear()

    def _picked(self, change: dict[str, Any]) -> None:
        self.selected = change["new"]
        self._hide_confirm()
        self._show_selected()

    def _show_selected(self) -> None:
        compute = self.computes.get(self.picker.value) if self.picker.value else None
        for button in (self.start_button, self.stop_button, self.restart_button, self.delete_button):
            button.disabled = compute is None or compute.state == ComputeState.DELETING
        if compute is None:
            self.details.value, self.progress.layout.display = "", "none"
            return
        running = compute.state in (ComputeState.RUNNING, ComputeState.SCALING)
        self.start_button.disabled = running or compute.state.is_transitional
        self.stop_button.disabled = not running
        lines = [f"<b>{html.escape(compute.name)}</b>: {html.escape(compute.type.label)}, "
                 f"{html.escape(compute.state.value)}"]
        if compute.scheduler_address:
            lines.append(f"Scheduler: <code>{html.escape(compute.scheduler_address)}</code>")
        if compute.dashboard_link:
            lines.append(link_html(compute.dashboard_link, "Open the Dask dashboard"))
        if compute.error:
            lines.append(f"<span style='color:#a4262c'>{html.escape(compute.error)}</span>")
        if compute.last_operation:
            lines.append(f"Last operation: {html.escape(compute.last_operation)}")
        if compute.queued_jobs:
            lines.append(f"Waiting: {html.escape(', '.join(compute.queued_jobs))}")
        self.details.value = "<br>".join(lines)
        top = compute.max_nodes if compute.max_nodes is not None else max(compute.current_nodes, 1)
        self.progress.max = max(top, 1)
        self.progress.value = min(compute.current_nodes, self.progress.max)
        self.progress.bar_style = "info" if compute.state.is_transitional else (
            "danger" if compute.state == ComputeState.FAILED else "success")
        self.progress.description = (f"{compute.state.value}" if compute.state.is_transitional
                                     else f"Nodes {compute.current_nodes} of {top}")
        # An empty bar says nothing: shown only while nodes run or the compute changes state.
        shown = compute.current_nodes > 0 or compute.state.is_transitional
        self.progress.layout.display = None if shown else "none"

    # -- actions ---------------------------------------------------------------------------
    def _toggle_form(self) -> None:
        self.form.layout.display = None if self.form.layout.display == "none" else "none"

    def _create(self, compute: Compute) -> None:
        # Only the service's capacity notes belong in the message: with every warning
        # recorded, a ResourceWarning for some unrelated subprocess showed up there.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CapacityWarning)
            self.ws.compute.begin_create_or_update(compute)  # the live refresh shows how it goes
        self.code.show(sdk_code(self.ws, f"ws.compute.begin_create_or_update({entity_code(compute)}).result()",
                                type(compute).__name__))
        note = " ".join(str(w.message) for w in caught if issubclass(w.category, CapacityWarning))
        self.message.info(f"Creating {compute.name}…" + (f" Warning: {note}" if note else ""))
        self._pending = (compute.name, "create")
        self.form.layout.display = "none"
        self.form.name.value = ""
        self.refresh()
        self.picker.value = compute.name

    def ask_delete(self) -> None:
        compute = self.computes.get(self.picker.value or "")
        if compute is None:
            return
        jobs = len(compute.queued_jobs) + len(compute.running_jobs)
        warning = (f" Its {jobs} queued or running job(s) will be canceled if 'Cancel jobs that block it' is ticked."
                   if jobs else "")
        self.confirm_text.value = f"Delete <b>{html.escape(compute.name)}</b>?{html.escape(warning)}"
        self.confirm_box.layout.display = None

    def _hide_confirm(self) -> None:
        self.confirm_box.layout.display = "none"

    def act(self, action: str) -> None:
        """Start, stop, restart or delete the selected target (without waiting for it)."""
        name = self.picker.value
        if not name:
            return
        self._hide_confirm()
        force = self.force.value and action != "start"
        method = getattr(self.ws.compute, f"begin_{action}")
        try:
            method(name, force=True) if force else method(name)
        except StudioError as exc:
            self.message.error(exc.message)
            return
        arguments = f"{name!r}" + (", force=True" if force else "")
        self.code.show(sdk_code(self.ws, f"ws.compute.begin_{action}({arguments}).result()"))
        self.message.info(f"{action.capitalize()} requested for {name}.")
        self._pending = (name, action)
        self.refresh()

    def close(self) -> None:
        """Stop the live refresh with the widget."""
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            subscription.cancel()
        super().close()
