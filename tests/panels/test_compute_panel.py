"""The Compute page, driven from Python: form checks, actions with confirmation, live table."""

from __future__ import annotations

import os
import socket

import pytest

from studio_ext import Workspace
from studio_ext.entities import ComputeState, ComputeType
from studio_ext.panels import ComputePanel
from studio_ext.panels._widgets import SharedPoller
from tests.helpers import wait_until

CORES = os.cpu_count() or 1


@pytest.fixture(scope="module")
def workspace(module_workspace: Workspace) -> Workspace:
    """The page's tests share one workspace (one supervisor start); each deletes what it made."""
    return module_workspace


@pytest.fixture
def panel(workspace: Workspace):
    page = ComputePanel(workspace, poll_interval=0.3)
    try:
        yield page
    finally:
        page.close()


def test_the_form_checks_each_field_as_it_is_typed(panel: ComputePanel, workspace: Workspace) -> None:
    form = panel.form
    assert "No compute clusters yet" in panel.table_text
    assert [panel.tabs.get_title(i) for i in range(4)] == ["Compute instances", "Compute clusters",
                                                            "Attached computes", "Local"]
    assert "compute=&#x27;local&#x27;" in panel.local.value, "the machine jobs run on by default is shown too"
    assert form.create_button.disabled  # no name yet
    form.name.value = "x"
    assert "The compute name 'x' is not valid" in form.name_message.text
    form.name.value = "local"
    assert "'local' is the built-in compute" in form.name_message.text
    form.name.value = "cpu-cluster"
    assert form.name_message.text == "" and not form.create_button.disabled

    form.min_instances.value, form.max_instances.value = 3, 2
    assert form.size_message.text == ("The 'min_instances' parameter of AmlCompute (3) is more than "
                                      "'max_instances' (2). Set min_instances <= max_instances.")
    assert form.create_button.disabled
    form.min_instances.value = -1
    assert "must be an int >= 0. Got -1 instead." in form.size_message.text
    form.min_instances.value, form.max_instances.value = 0, CORES + 1
    assert form.size_message.kind == "info" and "more than the" in form.size_message.text
    assert not form.create_button.disabled  # a warning does not block

    form.kind_picker.value = ComputeType.ATTACHED
    assert form.size_message.text == "" and form._cluster_box.layout.display == "none"
    form.address.value = "not an address"
    assert "must look like 'tcp://host:8786'" in form.address_message.text
    assert form.create_button.disabled
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    form.address.value, form.connect_timeout.value = f"127.0.0.1:{port}", 1
    assert form.address_message.text == "" and not form.create_button.disabled
    form.create_button.click()  # nothing answers there
    assert f"The Dask scheduler at tcp://127.0.0.1:{port} did not answer within 1 s" in form.address_message.text
    assert workspace.compute.list() == []
    assert panel.code.code == ""  # nothing was done, so no code to show


@pytest.mark.slow
def test_create_act_and_delete_from_the_page(panel: ComputePanel, workspace: Workspace) -> None:
    panel.new_button.click()
    assert panel.form.layout.display is None
    form = panel.form
    form.kind_picker.value = ComputeType.AML_COMPUTE
    form.name.value, form.min_instances.value, form.max_instances.value = "page-cluster", 1, 1
    form.idle_seconds.value = 30
    form.create_button.click()
    assert workspace.compute.get("page-cluster").type == ComputeType.AML_COMPUTE
    assert panel.message.text == "Creating page-cluster…"  # no warning to pass on
    assert "ws.compute.begin_create_or_update(AmlCompute(name='page-cluster', min_instances=1, max_instances=1, " \
           "idle_time_before_scale_down=30)).result()" in panel.code.code
    assert "from studio_ext.entities import AmlCompute" in panel.code.code
    assert panel.picker.value == "page-cluster" and panel.form.layout.display == "none"

    # the live refresh (a background thread) shows the cluster come up; nothing here calls refresh()
    wait_until(lambda: panel.computes["page-cluster"].state == ComputeState.RUNNING
               and "Running" in panel.table_text, timeout=90, interval=0.1, what="the table to show Running")
    assert "1 (1-1)" in panel.table_text and "dashboard</a>" in panel.table_text
    assert "Open the Dask dashboard" in panel.details.value and panel.progress.value == 1
    assert "var(--jp-content-link-color" in panel.details.value, "links look like links"
    assert panel.message.text == "", "'Creating page-cluster…' is cleared once it runs"

    form.name.value = "page-cluster"
    assert "already exists" in form.name_message.text

    panel.stop_button.click()
    assert panel.code.code.endswith("ws.compute.begin_stop('page-cluster').result()\n")
    wait_until(lambda: workspace.compute.get("page-cluster").state == ComputeState.STOPPED,
               timeout=90, interval=0.1, what="the cluster to stop")
    wait_until(lambda: panel.computes["page-cluster"].state == ComputeState.STOPPED,
               timeout=90, interval=0.1, what="the page to show it")
    assert panel.stop_button.disabled and not panel.start_button.disabled
    assert panel.progress.layout.display == "none", "no empty Nodes bar for a stopped cluster"
    wait_until(lambda: panel.message.text == "", timeout=30, interval=0.1, what="the stop message to clear")
    panel.start_button.click()
    wait_until(lambda: workspace.compute.get("page-cluster").state == ComputeState.RUNNING,
               timeout=90, interval=0.1, what="the cluster to run again")

    panel.delete_button.click()
    assert panel.confirm_box.layout.display is None and "Delete <b>page-cluster</b>?" in panel.confirm_text.value
    panel.keep_button.click()
    assert panel.confirm_box.layout.display == "none"
    assert workspace.compute.get("page-cluster")  # still there
    panel.delete_button.click()
    panel.confirm_button.click()
    assert panel.code.code.endswith("ws.compute.begin_delete('page-cluster').result()\n")
    wait_until(lambda: workspace.compute.list() == [], timeout=90, interval=0.1, what="the cluster to be gone")
    wait_until(lambda: "No compute clusters yet" in panel.table_text, timeout=90, interval=0.1, what="the page to drop it")
    assert panel.picker.options == () and panel.actions.layout.display == "none", "no blank picker without computes"


@pytest.mark.slow
def test_creating_more_nodes_than_cores_passes_on_the_capacity_warning_only(
        panel: ComputePanel, workspace: Workspace) -> None:
    form = panel.form
    form.name.value, form.max_instances.value = "big-cluster", CORES + 1
    form.create_button.click()
    try:
        assert workspace.compute.get("big-cluster").max_nodes == CORES + 1
        text = panel.message.text
        assert text.startswith("Creating big-cluster… Warning: ") and "more than the" in text
        assert text.count("Warning") == 1, text
    finally:
        assert workspace.compute.begin_delete("big-cluster").result(60) is True


def test_closing_the_page_stops_its_live_refresh(workspace: Workspace) -> None:
    page = ComputePanel(workspace, poll_interval=0.2)
    poller = SharedPoller.for_workspace(workspace)
    key = ("compute-list", str(workspace.path))
    assert key in poller.watching()
    before = page.refreshes
    wait_until(lambda: page.refreshes > before, timeout=30, interval=0.1, what="a background refresh")
    page.close()
    assert key not in poller.watching()


@pytest.mark.slow
def test_a_refused_action_says_why_and_force_cancels_the_jobs(
        panel: ComputePanel, workspace: Workspace, code_dir) -> None:
    from studio_ext import command
    from studio_ext.entities import ComputeInstance

    (code_dir / "sleep.py").write_text("import time\ntime.sleep(120)\n")
    workspace.compute.begin_create_or_update(ComputeInstance(name="my-ci", max_concurrent_jobs=1)).result(120)
    job = workspace.jobs.create_or_update(command(code=str(code_dir), command="python sleep.py", compute="my-ci"))
    wait_until(lambda: str(workspace.jobs.get(job.name).status) == "Running",
               timeout=90, interval=0.1, what="the job to run")
    panel.refresh()
    panel.picker.value = "my-ci"
    panel.stop_button.click()
    assert panel.message.text.startswith(f"The compute 'my-ci' runs jobs: {job.name}.")
    assert panel.message.kind == "error"
    panel.force.value = True
    panel.stop_button.click()
    assert panel.code.code.endswith("ws.compute.begin_stop('my-ci', force=True).result()\n")
    wait_until(lambda: workspace.compute.get("my-ci").state == ComputeState.STOPPED,
               timeout=90, interval=0.1, what="the instance to stop")
    assert str(workspace.jobs.get(job.name).status) == "Canceled"
    assert workspace.compute.begin_delete("my-ci").result(60) is True
