"""The Endpoints page driven from Python: deploy, Details/traffic, Test, Consume, Logs, Monitoring."""

from __future__ import annotations

import html
import json
import os

import pytest

os.environ.setdefault("STUDIO_EXT_SERVER_ORPHAN_EXIT", "30")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from studio_ext import Workspace
from studio_ext.entities import Model
from studio_ext.panels.endpoints import EndpointsPanel
from tests.helpers import wait_until


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    import mlflow
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    ws = Workspace.create(tmp_path_factory.mktemp("panel") / "ws")
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    mlflow.set_tracking_uri(ws.mlflow_tracking_uri)
    mlflow.set_experiment("panel-tests")  # MLflow's fluent API remembers an experiment per process
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(Ridge().fit(X, y), name="model", input_example=X.head(2),
                                 pip_requirements=["scikit-learn"])
    ws.models.create_or_update(Model(name="diabetes", path=f"runs:/{run.info.run_id}/model",
                                     tags={"Training context": "Notebook"}))
    try:
        yield ws
    finally:
        for endpoint in ws.online_endpoints.list():
            ws.online_endpoints.begin_delete(endpoint.name).result(timeout=60)
        ws.runtime.stop()
        ws.close()


def test_one_model_is_chosen_with_its_latest_version_at_once(ws):
    panel = EndpointsPanel(ws)
    assert panel.model_select.options == ("diabetes",) and panel.model_select.value == "diabetes"
    assert panel.version_select.value == "1" and "sklearn" in panel.model_details.value
    assert panel.endpoint_select.value == "" and panel.view is None  # no endpoint yet
    panel.close()


def test_the_endpoints_page_deploys_tests_and_shows_how_to_consume(ws):
    panel = EndpointsPanel(ws)
    assert "Training context: Notebook" in panel.models_table.value
    panel.model_select.value = "diabetes"
    panel.version_select.value = "1"
    assert "sklearn" in panel.model_details.value and "none needed" in panel.model_details.value
    form = panel.deploy_form
    form.endpoint.value = "Bad_Name"
    form.deploy()
    assert "is not valid" in form.message.text and ws.online_endpoints.list() == []
    form.endpoint.value, form.deployment.value, form.max_concurrent.value = "panel-ep", "blue", 4
    form.button.click()
    form.thread.join(timeout=240)
    assert form.message.text == "panel-ep/blue is Healthy.", form.message.text
    assert "ManagedOnlineDeployment(" in panel.code.code and "max_concurrent_requests_per_instance=4" in panel.code.code
    view = panel.view
    endpoint = ws.online_endpoints.get("panel-ep")
    assert view.name == "panel-ep" and endpoint.scoring_uri in view.details.value and "Healthy" in view.details.value
    # Monitoring before any request: a message in place of the chart (no empty axis of index numbers).
    view.show_metrics()
    assert view.metrics.total_requests == 0 and view.figure is None and not view.charts.outputs
    assert "No requests yet in this period" in view.no_requests.value and view.no_requests.layout.display is None
    # the model monitors line comes before the chart, so both are in the first screen
    monitoring = list(view.tabs.children[4].children)
    assert monitoring.index(view.model_monitors) < monitoring.index(view.charts)
    assert monitoring.index(view.open_monitor_button) < monitoring.index(view.no_requests)

    # Details: the traffic editor refuses a split that does not add up, with the reason.
    view.traffic_inputs["blue"].value = 50
    view.update_traffic.click()
    assert "must add up to 100" in view.details_message.text
    view.traffic_inputs["blue"].value = 100
    view.update_traffic.click()
    assert view.details_message.text == "Traffic is now {'blue': 100}."

    # Test: a form from the signature, prefilled from the input example.
    assert list(view.form_fields)[:3] == ["age", "sex", "bmi"]
    view.test_button.click()
    assert json.loads(view.test_response.value)["predictions"][0] > 0
    assert view.test_latency.value.startswith("Latency: ") and view.test_message.text == ""
    assert "ws.online_endpoints.invoke('panel-ep'" in panel.code.code
    view.test_mode.value = "JSON"
    view.test_json.value = "{broken"
    view.test_button.click()
    assert "not valid JSON" in view.test_message.text
    assert panel.code.code == "", "the Equivalent Python box follows the last action: no request was made"
    view.test_json.value = json.dumps({"rows": []})
    view.test_button.click()
    assert "400" in view.test_message.text and "exactly one of the keys" in view.test_message.text
    assert "request_data={\"rows\": []}" in panel.code.code, "the refused request, not an earlier one"

    # Consume: masked keys, reveal, copy, regenerate; snippets that run.
    keys = ws.online_endpoints.get_keys("panel-ep")
    assert view.key_fields["primary"].value == "•" * 12
    view.reveal.value = True
    assert view.key_fields["primary"].value == keys.primary_key
    assert view.copy_buttons["secondary"].text == keys.secondary_key
    view.regenerate_buttons["secondary"].click()
    fresh = ws.online_endpoints.get_keys("panel-ep")
    assert fresh.secondary_key != keys.secondary_key and view.key_fields["secondary"].value == fresh.secondary_key
    for choice in ("curl", "azure-ai-ml", "Python (requests)"):
        view.snippet_choice.value = choice
        assert endpoint.scoring_uri in view.snippet_copy.text or "invoke(endpoint_name='panel-ep'" in view.snippet_copy.text
        assert html.escape(view.snippet_copy.text) in view.snippet.value
    os.environ["ENDPOINT_KEY"] = fresh.primary_key
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(view.snippet_copy.text, {})  # the Python snippet, as a user would paste it
    assert "predictions" in printed.getvalue()

    # Logs: a live tail that follows the server log, and stops when asked.
    view.tabs.selected_index = 3
    assert "ready" in view.log_text.value
    view.follow.value = True
    with open(ws.online_deployments.log_path("blue", "panel-ep"), "a") as log:
        log.write("a line written after following started\n")
    wait_until(lambda: "a line written after following started" in view.log_text.value, timeout=30, interval=0.1)
    view.follow.value = False
    assert view._log_subscription is None

    # Monitoring: requests, latency percentiles and failures from the telemetry.
    # The servers ship telemetry every half second; wait until this test's requests are in.
    wait_until(lambda: (m := ws.online_endpoints.get_metrics("panel-ep")).total_requests >= 3 and m.total_failures >= 1,
               timeout=30, interval=0.1)
    assert "Loading monitors…" in view.model_monitors.value  # until the tab is opened and its list is read
    view.tabs.selected_index = 4
    metrics = view.metrics
    assert metrics.total_requests >= 3 and metrics.total_failures >= 1
    assert [t.name for t in view.figure.data] == ["requests", "p50", "p95", "p99", "failures"]
    assert view.no_requests.layout.display == "none"
    assert view.figure.layout.xaxis.range is not None  # a time axis over the whole window
    assert view.charts.outputs and "requests/min" not in view.metrics_summary.value
    assert f"{metrics.total_requests} requests" in view.metrics_summary.value
    # ... and the deployment's model monitor: none yet (how to make one), then one linked to its page.
    assert "No model monitor watches this endpoint" in view.model_monitors.value
    assert "endpoint_deployment_id='azureml:panel-ep:blue'" in view.model_monitors.value
    from studio_ext.entities import (
        DataDriftSignal,
        MonitorDefinition,
        MonitoringTarget,
        MonitorSchedule,
        RecurrenceTrigger,
    )

    ws.schedules.begin_create_or_update(MonitorSchedule(
        name="panel-ep-monitor", trigger=RecurrenceTrigger(frequency="day", interval=1),
        create_monitor=MonitorDefinition(monitoring_target=MonitoringTarget(endpoint_deployment_id="azureml:panel-ep:blue"),
                                         monitoring_signals={"drift": DataDriftSignal()}))).result()
    try:
        assert view.show_model_monitors() == ["panel-ep-monitor"]
        assert "panel-ep-monitor: watches deployment blue (enabled)" in view.model_monitors.value
        page = view.open_model_monitor()
        assert page.view is not None and page.view.info.name == "panel-ep-monitor"
        assert "azureml:panel-ep:blue" in page.view.header.value and "No results yet" in page.view.summary.value
    finally:
        ws.schedules.begin_delete("panel-ep-monitor").result()
    panel.refresh()
    assert "blue (Healthy, 100%)" in panel.endpoints_table.value


def test_the_page_opens_on_the_endpoint_list_with_the_one_endpoint_loaded(ws):
    assert [e.name for e in ws.online_endpoints.list()] == ["panel-ep"]  # deployed by the test above
    panel = EndpointsPanel(ws)
    try:
        assert panel.endpoint_select.value == "panel-ep" and panel.view is not None and panel.view.name == "panel-ep"
        assert panel.tabs.selected_index == 0 and panel.tabs.get_title(0) == "Real-time endpoints"
        panel.tabs.selected_index = 1
        panel.open_endpoint("panel-ep")
        assert panel.tabs.selected_index == 0, "opening an endpoint turns to the endpoint list"
    finally:
        panel.close()
