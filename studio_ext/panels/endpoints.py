"""The Endpoints page: real-time endpoints, batch endpoints, and a model's Deploy form.

Its tab bar reads "Real-time endpoints | Batch endpoints | Deploy a model"; the batch
tab (pipeline endpoints among them) is :mod:`studio_ext.panels.batch_endpoints`.

A real-time endpoint's page has the studio's tabs: Details (state, URIs, deployments, a
traffic editor), Test (a form from the model signature, or a JSON box; the
response and its latency), Consume (the REST endpoint, masked keys with reveal,
copy and regenerate, snippets for requests, curl and azure-ai-ml), Logs (a live
tail) and Monitoring (requests, latency percentiles and failures over time).
Every action goes through ``ws.models``, ``ws.online_endpoints`` and
``ws.online_deployments`` and shows the equivalent Python.
"""

from __future__ import annotations

import html
import json
import threading
import time
from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets as widgets
import traitlets

from studio_ext.entities import (
    CodeConfiguration,
    EndpointMetrics,
    KeyType,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    OnlineRequestSettings,
)
from studio_ext.errors import NotFound, StudioError
from studio_ext.panels._widgets import (
    CodeBox,
    Message,
    SharedPoller,
    Subscription,
    html_table,
    set_choices,
    show_figures,
)

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

_STATE_COLOURS = {"Healthy": "#107c10", "Succeeded": "#107c10", "Unhealthy": "#ca5010", "Failed": "#a4262c",
                  "Creating": "#8764b8", "Updating": "#8764b8", "Deleting": "#797775"}
_MASK = "•" * 12


def _badge(state: Any) -> str:
    text = str(state) if state is not None else "Unknown"
    return (f"<span style='background:{_STATE_COLOURS.get(text, '#444')};color:white;border-radius:8px;"
            f"padding:0 6px;font-size:85%'>{html.escape(text)}</span>")


class CopyButton(anywidget.AnyWidget):
    """A button that copies ``text`` to the clipboard in the browser (the kernel cannot)."""

    _esm = """
    function render({ model, el }) {
      const button = document.createElement("button");
      button.className = "jupyter-button widget-button";
      button.textContent = model.get("label");
      button.addEventListener("click", async () => {
        await navigator.clipboard.writeText(model.get("text"));
        button.textContent = "Copied";
        setTimeout(() => { button.textContent = model.get("label"); }, 1200);
        model.set("copies", model.get("copies") + 1);
        model.save_changes();
      });
      model.on("change:label", () => { button.textContent = model.get("label"); });
      el.appendChild(button);
    }
    export default { render };
    """
    text = traitlets.Unicode("").tag(sync=True)
    label = traitlets.Unicode("Copy").tag(sync=True)
    copies = traitlets.Int(0).tag(sync=True)


def snippets(scoring_uri: str, endpoint: str, sample: Any) -> dict[str, str]:
    """Ready-to-run client code for an endpoint (the key is read from an environment variable)."""
    body = json.dumps(sample if sample is not None else {"input_data": {"columns": [], "data": []}})
    return {
        "Python (requests)": (
            "import os, requests\n\n"
            f"url = {scoring_uri!r}\n"
            "headers = {'Authorization': 'Bearer ' + os.environ['ENDPOINT_KEY'], 'Content-Type': 'application/json'}\n"
            f"body = {body}\n"
            "response = requests.post(url, json=body, headers=headers, timeout=30)\n"
            "response.raise_for_status()\nprint(response.json())\n"),
        "curl": (f"curl -X POST {scoring_uri} \\\n  -H \"Authorization: Bearer $ENDPOINT_KEY\" \\\n"
                 f"  -H 'Content-Type: application/json' \\\n  -d '{body}'\n"),
        "azure-ai-ml": (
            "from azure.ai.ml import MLClient\nfrom azure.identity import DefaultAzureCredential\n\n"
            "ml_client = MLClient.from_config(DefaultAzureCredential())\n"
            f"with open('request.json', 'w') as f:\n    f.write({body!r})\n"
            f"print(ml_client.online_endpoints.invoke(endpoint_name={endpoint!r}, request_file='request.json'))\n"
            "# locally, the same call: ws.online_endpoints.invoke(endpoint_name=..., request_file='request.json')\n"),
    }


class DeployForm(widgets.VBox):
    """Deploy a model version to a new or existing endpoint, with a progress bar."""

    def __init__(self, panel: Any) -> None:
        # ``panel`` is the page the form sits on (Endpoints or Models): it gives selected_model(),
        # code, refresh() and open_endpoint().
        self.panel = panel
        # Labels sized to the longest one, fields wide enough for their placeholders.
        style, wide = {"description_width": "170px"}, widgets.Layout(width="500px")
        self.endpoint = widgets.Combobox(description="Endpoint", placeholder="new or existing endpoint name",
                                         ensure_option=False, style=style, layout=wide)
        self.deployment = widgets.Text(description="Deployment", value="blue", style=style, layout=wide)
        self.code = widgets.Text(description="Code folder", placeholder="(none: no-code MLflow deployment)",
                                 style=style, layout=wide)
        self.script = widgets.Text(description="Script", value="score.py", style=style, layout=wide)
        self.max_concurrent = widgets.BoundedIntText(description="Max concurrent requests", value=1, min=1, max=1024,
                                                     style=style, layout=widgets.Layout(width="320px"),
                                                     tooltip="requests one instance serves at once")
        self.timeout_ms = widgets.BoundedIntText(description="Timeout (ms)", value=5000, min=1, max=180000,
                                                 style={"description_width": "initial"},
                                                 layout=widgets.Layout(width="220px"))
        self.button = widgets.Button(description="Deploy", button_style="primary", icon="rocket")
        self.progress = widgets.IntProgress(value=0, min=0, max=100, description="", layout={"visibility": "hidden"})
        self.message = Message()
        self.button.on_click(lambda _: self.deploy())
        self.thread: threading.Thread | None = None
        super().__init__([widgets.HTML("<b>Deploy</b>"), self.endpoint, self.deployment, self.code, self.script,
                          widgets.HBox([self.max_concurrent, self.timeout_ms]),
                          widgets.HBox([self.button, self.progress]), self.message])

    def deploy(self, wait: bool = False) -> None:
        """Validate at once (errors show beside the form), then deploy in a background thread."""
        model = self.panel.selected_model()
        self.message.clear()
        if model is None:
            self.message.error("Choose a model version first.")
            return
        endpoint, name = self.endpoint.value.strip(), self.deployment.value.strip()
        code = CodeConfiguration(code=self.code.value.strip(), scoring_script=self.script.value.strip()) \
            if self.code.value.strip() else None
        deployment = ManagedOnlineDeployment(
            name=name, endpoint_name=endpoint, model=model.id, code_configuration=code,
            request_settings=OnlineRequestSettings(request_timeout_ms=self.timeout_ms.value,
                                                   max_concurrent_requests_per_instance=self.max_concurrent.value))
        ws = self.panel.ws
        code_lines = []
        try:
            known = {e.name for e in ws.online_endpoints.list()}
            if endpoint not in known:
                ws.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=endpoint)).result(timeout=120)
                code_lines.append(f"ws.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name={endpoint!r})).result()")
            poller = ws.online_deployments.begin_create_or_update(deployment)
        except StudioError as exc:
            self.message.error(exc.message)
            return
        code_lines.append(
            "ws.online_deployments.begin_create_or_update(ManagedOnlineDeployment(\n"
            f"    name={name!r}, endpoint_name={endpoint!r}, model={model.id!r},"
            + (f"\n    code_configuration=CodeConfiguration(code={code.code!r}, scoring_script={code.scoring_script!r}),"
               if code else "")
            + f"\n    request_settings=OnlineRequestSettings(request_timeout_ms={self.timeout_ms.value}, "
            f"max_concurrent_requests_per_instance={self.max_concurrent.value}),\n)).result()")
        self.panel.code.show("\n".join(code_lines))
        self.button.disabled = True
        self.progress.layout.visibility = "visible"
        self.message.info(f"Deploying {endpoint}/{name} ...")

        def work() -> None:
            start = time.monotonic()
            try:
                while not poller.done():
                    self.progress.value = min(95, int((time.monotonic() - start) * 4))
                    time.sleep(0.2)
                result = poller.result()
                self.progress.value = 100
                self.message.info(f"{endpoint}/{name} is {result.state}.")
            except StudioError as exc:
                self.message.error(exc.message)
            finally:
                self.button.disabled = False
                self.panel.refresh()
                self.panel.open_endpoint(endpoint)

        self.thread = threading.Thread(target=work, name="deploy", daemon=True)
        self.thread.start()
        if wait:
            self.thread.join()


LOADING_MONITORS = "<div style='color:#555'>Loading monitors…</div>"
NO_REQUESTS = ("<div style='color:#555;padding:24px 0'>No requests yet in this period. Send one from the Test "
               "tab or the Consume tab's code, or choose a longer window.</div>")


class EndpointView(widgets.VBox):
    """One endpoint: Details, Test, Consume, Logs and Monitoring tabs."""

    def __init__(self, panel: EndpointsPanel, name: str) -> None:
        self.panel, self.ws, self.name = panel, panel.ws, name
        self.details = widgets.HTML()
        self.traffic_box = widgets.VBox()
        self.mirror_box = widgets.VBox()
        self.update_traffic = widgets.Button(description="Update traffic", icon="random")
        self.update_traffic.on_click(lambda _: self.apply_traffic())
        self.details_message = Message()
        details_tab = widgets.VBox([self.details, widgets.HTML("<b>Traffic (%)</b>"), self.traffic_box,
                                    widgets.HTML("<b>Mirrored traffic (%)</b>"), self.mirror_box,
                                    self.update_traffic, self.details_message])
        # Test
        self.test_deployment = widgets.Dropdown(description="Deployment")
        self.test_mode = widgets.ToggleButtons(options=["Form", "JSON"], value="Form")
        self.test_form = widgets.VBox()
        self.test_json = widgets.Textarea(layout={"width": "100%", "height": "140px"})
        self.test_button = widgets.Button(description="Test", button_style="primary", icon="play")
        self.test_button.on_click(lambda _: self.run_test())
        self.test_response = widgets.Textarea(layout={"width": "100%", "height": "120px"}, disabled=True)
        self.test_latency = widgets.HTML()
        self.test_message = Message()
        self.test_mode.observe(lambda _: self._show_test_input(), "value")
        self.test_input = widgets.VBox()
        test_tab = widgets.VBox([self.test_deployment, self.test_mode, self.test_input, self.test_button,
                                 self.test_latency, self.test_message, widgets.HTML("<b>Response</b>"), self.test_response])
        # Consume
        self.rest = widgets.HTML()
        self.key_fields: dict[str, widgets.Text] = {}
        self.copy_buttons: dict[str, CopyButton] = {}
        self.reveal = widgets.ToggleButton(description="Reveal keys", icon="eye")
        self.reveal.observe(lambda _: self._show_keys(), "value")
        self.regenerate_buttons: dict[str, widgets.Button] = {}
        rows = []
        for kind in KeyType:
            field = widgets.Text(description=f"{kind.value.title()} key", disabled=True, layout={"width": "520px"})
            copy = CopyButton()
            regen = widgets.Button(description="Regenerate", icon="refresh")
            regen.on_click(lambda _, k=kind: self.regenerate(k))
            self.key_fields[kind.value], self.copy_buttons[kind.value] = field, copy
            self.regenerate_buttons[kind.value] = regen
            rows.append(widgets.HBox([field, copy, regen]))
        self.snippet_choice = widgets.ToggleButtons(options=["Python (requests)", "curl", "azure-ai-ml"])
        self.snippet = widgets.HTML()
        self.snippet_copy = CopyButton()
        self.snippet_choice.observe(lambda _: self._show_snippet(), "value")
        self.consume_message = Message()
        consume_tab = widgets.VBox([self.rest, self.reveal, *rows, self.consume_message,
                                    widgets.HTML("<b>Consumption options</b>"), self.snippet_choice,
                                    self.snippet, self.snippet_copy])
        # Logs
        self.log_deployment = widgets.Dropdown(description="Deployment")
        self.log_lines = widgets.BoundedIntText(description="Lines", value=100, min=10, max=5000)
        self.follow = widgets.ToggleButton(description="Follow", icon="play")
        self.follow.observe(lambda change: self._follow(change["new"]), "value")
        self.log_text = widgets.Textarea(layout={"width": "100%", "height": "260px"}, disabled=True)
        refresh_logs = widgets.Button(description="Refresh", icon="refresh")
        refresh_logs.on_click(lambda _: self.show_logs())
        self.log_deployment.observe(lambda _: self.show_logs(), "value")
        self._log_subscription: Subscription | None = None
        logs_tab = widgets.VBox([widgets.HBox([self.log_deployment, self.log_lines, refresh_logs, self.follow]),
                                 self.log_text])
        # Monitoring
        self.window = widgets.Dropdown(description="Window", options=[("15 minutes", 15), ("1 hour", 60),
                                                                     ("24 hours", 1440)], value=60)
        self.monitor_refresh = widgets.Button(description="Refresh", icon="refresh")
        self.monitor_refresh.on_click(lambda _: self.show_metrics())
        self.window.observe(lambda _: self.show_metrics(), "value")
        self.metrics_summary = widgets.HTML()
        self.charts = widgets.Output()
        self.metrics: EndpointMetrics | None = None
        self.figure: Any = None  # the metrics chart (a plotly Figure) once drawn; None while there is nothing to draw
        self.model_monitors = widgets.HTML(LOADING_MONITORS)
        self.open_monitor_button = widgets.Button(description="Open model monitor", icon="heartbeat",
                                                  layout={"display": "none"})
        self.open_monitor_button.on_click(lambda _: self.open_model_monitor())
        self.monitor_area = widgets.VBox()
        self.monitor_names: list[str] = []
        self.no_requests = widgets.HTML(NO_REQUESTS, layout=widgets.Layout(display="none"))
        # the model monitors first (a short list and its link, always in the first screen), then the metrics chart
        monitoring_tab = widgets.VBox([widgets.HTML("<b>Model monitors</b>"), self.model_monitors,
                                       self.open_monitor_button, self.monitor_area,
                                       widgets.HBox([self.window, self.monitor_refresh]), self.metrics_summary,
                                       self.no_requests, self.charts])
        self.tabs = widgets.Tab(children=[details_tab, test_tab, consume_tab, logs_tab, monitoring_tab])
        for i, title in enumerate(["Details", "Test", "Consume", "Logs", "Monitoring"]):
            self.tabs.set_title(i, title)
        self.tabs.observe(self._on_tab, "selected_index")
        super().__init__([widgets.HTML(f"<h3 style='margin:4px 0'>{html.escape(name)}</h3>"), self.tabs])
        self.refresh()

    # -- details -------------------------------------------------------------------------------
    def refresh(self) -> None:
        ws = self.ws
        self.endpoint = ws.online_endpoints.get(self.name)
        self.deployments = ws.online_deployments.list(self.name)
        e = self.endpoint
        rows = [(d.name, d.model, _badge(d.state), d.reason or "", f"{d.ready_instances}/{d.instance_count}",
                 d.restarts, e.traffic.get(d.name, 0), e.mirror_traffic.get(d.name, 0)) for d in self.deployments]
        self.details.value = (
            f"<div>Provisioning: {_badge(e.provisioning_state)} &nbsp; Auth: key</div>"
            f"<div>Scoring URI: <code>{html.escape(e.scoring_uri or '')}</code></div>"
            f"<div>Swagger URI: <code>{html.escape(e.openapi_uri or '')}</code></div>"
            + html_table(["deployment", "model", "state", "reason", "instances ready", "restarts", "traffic %",
                          "mirror %"], rows,
                         raw_columns=[2], empty="No deployments yet: deploy a model from the Models list."))
        names = [d.name for d in self.deployments]
        self.traffic_inputs = {n: widgets.BoundedIntText(description=n, value=e.traffic.get(n, 0), min=0, max=100)
                               for n in names}
        self.mirror_inputs = {n: widgets.BoundedIntText(description=n, value=e.mirror_traffic.get(n, 0), min=0, max=50)
                              for n in names}
        self.traffic_box.children = list(self.traffic_inputs.values())
        self.mirror_box.children = list(self.mirror_inputs.values())
        options = [("(traffic split)", "")] + [(n, n) for n in names]
        chosen = self.test_deployment.value
        self.test_deployment.options = options
        self.test_deployment.value = chosen if chosen in names else ""
        chosen = self.log_deployment.value
        self.log_deployment.options = names
        if names:  # a dropdown keeps no value when its options change: pick one
            self.log_deployment.value = chosen if chosen in names else names[0]
        self._build_test_form()
        self._show_keys()
        self._show_snippet()
        self.rest.value = f"<b>REST endpoint</b><br><code>{html.escape(e.scoring_uri or '')}</code>"

    def apply_traffic(self) -> None:
        endpoint = self.ws.online_endpoints.get(self.name)
        endpoint.traffic = {n: w.value for n, w in self.traffic_inputs.items() if w.value}
        endpoint.mirror_traffic = {n: w.value for n, w in self.mirror_inputs.items() if w.value}
        try:
            self.ws.online_endpoints.begin_create_or_update(endpoint).result(timeout=60)
        except StudioError as exc:
            self.details_message.error(exc.message)
            return
        self.details_message.info(f"Traffic is now {endpoint.traffic}" +
                                  (f", mirroring {endpoint.mirror_traffic}" if endpoint.mirror_traffic else "") + ".")
        self.panel.code.show(
            f"endpoint = ws.online_endpoints.get({self.name!r})\nendpoint.traffic = {endpoint.traffic!r}\n"
            f"endpoint.mirror_traffic = {endpoint.mirror_traffic!r}\n"
            "ws.online_endpoints.begin_create_or_update(endpoint).result()")
        self.refresh()

    # -- test ----------------------------------------------------------------------------------
    def _model_of(self, deployment: str | None) -> Any:
        candidates = [d for d in self.deployments if d.name == deployment] if deployment else \
            sorted(self.deployments, key=lambda d: -self.endpoint.traffic.get(d.name, 0))
        for d in candidates:
            if d.model:
                name, version = str(d.model).removeprefix("azureml:").rsplit(":", 1)
                try:
                    return self.ws.models.get(name, version)
                except NotFound:
                    return None
        return None

    def _build_test_form(self) -> None:
        model = self._model_of(self.test_deployment.value or None)
        columns = [c for c in ((model.signature or {}).get("inputs") or []) if c.get("name")] if model else []
        example = (model.input_example or {}) if model else {}
        split = example.get("dataframe_split") or {}
        first = dict(zip(split.get("columns", []), (split.get("data") or [[]])[0])) if split else {}
        self.form_fields: dict[str, widgets.Widget] = {}
        for column in columns:
            kind = column.get("type")
            value = first.get(column["name"])
            if kind in ("double", "float"):
                # An example row's float as a person reads it (four significant digits), not 17 digits.
                field = widgets.FloatText(value=float(f"{float(value or 0.0):.4g}"), description=column["name"],
                                          style={"description_width": "initial"})
            elif kind in ("long", "integer"):
                field = widgets.IntText(value=int(value or 0), description=column["name"],
                                        style={"description_width": "initial"})
            elif kind == "boolean":
                field = widgets.Checkbox(value=bool(value), description=column["name"])
            else:
                field = widgets.Text(value="" if value is None else str(value), description=column["name"])
            self.form_fields[column["name"]] = field
        self.test_form.children = list(self.form_fields.values())
        self.test_json.value = json.dumps(example or {"input_data": {"columns": [], "data": [[]]}}, indent=1)
        if not self.form_fields:
            self.test_mode.value = "JSON"
        self._show_test_input()

    def _show_test_input(self) -> None:
        use_form = self.test_mode.value == "Form" and self.form_fields
        self.test_input.children = [self.test_form if use_form else self.test_json]

    def request_body(self) -> Any:
        if self.test_mode.value == "Form" and self.form_fields:
            names = list(self.form_fields)
            return {"dataframe_split": {"columns": names, "data": [[self.form_fields[n].value for n in names]]}}
        return json.loads(self.test_json.value)

    def run_test(self) -> None:
        self.test_message.clear()
        try:
            body = self.request_body()
        except json.JSONDecodeError as exc:
            self.test_message.error(f"The request is not valid JSON: {exc}.")
            self.panel.code.clear()  # no request was made
            return
        deployment = self.test_deployment.value or None
        # The code box follows this request, whether it succeeds or not (never an earlier one).
        self.panel.code.show(
            f"ws.online_endpoints.invoke({self.name!r}, request_data={json.dumps(body)}"
            + (f", deployment_name={deployment!r}" if deployment else "") + ")")
        start = time.perf_counter()
        try:
            answer = self.ws.online_endpoints.invoke(self.name, request_data=body, deployment_name=deployment)
        except StudioError as exc:
            self.test_latency.value = f"Latency: {(time.perf_counter() - start) * 1000:.1f} ms"
            self.test_message.error(exc.message)
            self.test_response.value = ""
            return
        self.test_latency.value = f"Latency: {(time.perf_counter() - start) * 1000:.1f} ms"
        try:
            self.test_response.value = json.dumps(json.loads(answer), indent=1)
        except json.JSONDecodeError:
            self.test_response.value = answer

    # -- consume -------------------------------------------------------------------------------
    def _show_keys(self) -> None:
        keys = self.ws.online_endpoints.get_keys(self.name)
        for kind, value in ((KeyType.PRIMARY, keys.primary_key), (KeyType.SECONDARY, keys.secondary_key)):
            self.key_fields[kind.value].value = value if self.reveal.value else _MASK
            self.copy_buttons[kind.value].text = value

    def regenerate(self, kind: KeyType) -> None:
        self.ws.online_endpoints.begin_regenerate_keys(self.name, key_type=kind).result()
        self._show_keys()
        self.consume_message.info(f"The {kind.value} key was regenerated; the old one no longer works.")
        self.panel.code.show(f"ws.online_endpoints.begin_regenerate_keys({self.name!r}, key_type={kind.value!r}).result()")

    def _show_snippet(self) -> None:
        model = self._model_of(None)
        code = snippets(self.endpoint.scoring_uri or "", self.name, model.input_example if model else None)
        text = code[self.snippet_choice.value]
        self.snippet.value = f"<pre style='background:#f6f8fa;padding:6px;white-space:pre-wrap'>{html.escape(text)}</pre>"
        self.snippet_copy.text = text

    # -- logs ----------------------------------------------------------------------------------
    def show_logs(self) -> None:
        if not self.log_deployment.value:
            self.log_text.value = ""
            return
        try:
            self.log_text.value = self.ws.online_deployments.get_logs(self.log_deployment.value, self.name,
                                                                     lines=self.log_lines.value)
        except NotFound as exc:
            self.log_text.value = exc.message

    def _follow(self, on: bool) -> None:
        if self._log_subscription is not None:
            self._log_subscription.cancel()
            self._log_subscription = None
        if not on or not self.log_deployment.value:
            return
        deployment = self.log_deployment.value

        def fetch() -> str:
            return self.ws.online_deployments.get_logs(deployment, self.name, lines=self.log_lines.value)

        def update(text: Any, error: BaseException | None) -> bool:
            if error is not None or not self.follow.value or self.log_deployment.value != deployment:
                self.follow.value = False  # the deployment is gone, or the user stopped following
                return False
            if text != self.log_text.value:
                self.log_text.value = text
            return True

        poller = SharedPoller.for_workspace(self.ws, interval=1.0)
        self._log_subscription = poller.subscribe(("deployment-log", self.name, deployment), fetch, update)

    # -- monitoring ----------------------------------------------------------------------------
    def show_metrics(self) -> None:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        minutes = self.window.value
        interval = 60 if minutes <= 60 else 900
        m = self.ws.online_endpoints.get_metrics(self.name, minutes=minutes, interval_seconds=interval)
        self.metrics = m

        def fmt(v: float | None) -> str:
            return "-" if v is None else f"{v:.1f} ms"

        self.metrics_summary.value = (
            f"<div>{m.total_requests} requests ({m.requests_per_minute:.1f}/min), {m.total_failures} failed; "
            f"latency p50 {fmt(m.p50_ms)}, p95 {fmt(m.p95_ms)}, p99 {fmt(m.p99_ms)}</div>")
        if not m.total_requests:
            # nothing to draw: a message in place of the chart (an empty plot's axis would read index numbers)
            self.figure = None
            self.charts.clear_output()
            self.no_requests.layout.display = None
            self.panel.code.show(f"ws.online_endpoints.get_metrics({self.name!r}, minutes={minutes}, "
                                 f"interval_seconds={interval})")
            return
        self.no_requests.layout.display = "none"
        from datetime import datetime, timedelta

        times = [datetime.fromtimestamp(b["time"]) for b in m.series]
        width = interval * 1000 * 0.8  # a bar spans most of its bucket (a time axis counts in milliseconds)
        fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                            subplot_titles=("Requests", "Latency (ms)", "Failures"))
        fig.add_trace(go.Bar(x=times, y=[b["requests"] for b in m.series], name="requests", width=width), row=1, col=1)
        for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
            fig.add_trace(go.Scatter(x=times, y=[b[key] for b in m.series], name=label, mode="lines+markers"), row=2, col=1)
        fig.add_trace(go.Bar(x=times, y=[b["failures"] for b in m.series], name="failures",
                             marker_color="#a4262c", width=width), row=3, col=1)
        # the whole window on the time axis, so one minute of requests is not stretched over microseconds
        now = datetime.now()
        fig.update_xaxes(range=[now - timedelta(minutes=minutes), now])
        fig.update_layout(height=440, title=f"{self.name}: last {minutes} minutes", margin={"t": 60, "b": 30})
        self.figure = fig
        show_figures(self.charts, [fig])
        self.panel.code.show(f"ws.online_endpoints.get_metrics({self.name!r}, minutes={minutes}, interval_seconds={interval})")

    def show_model_monitors(self) -> list[str]:
        """The model monitors (``MonitorSchedule``) watching this endpoint's deployments, or how to make one."""
        from studio_ext.entities._monitor import MonitorSchedule

        watched = {f"azureml:{self.name}:{d.name}": d.name for d in self.deployments}
        found = []
        for s in self.ws.schedules.list(list_view_type="all"):
            target = s.create_monitor.monitoring_target if isinstance(s, MonitorSchedule) and s.create_monitor else None
            deployment_id = (target.endpoint_deployment_id or "") if target else ""
            if deployment_id in watched:
                found.append((s.name, watched[deployment_id], s.is_enabled))
        self.monitor_names = [name for name, _, _ in found]
        if found:
            self.model_monitors.value = "".join(
                f"<div>{html.escape(name)}: watches deployment {html.escape(dep)} "
                f"({'enabled' if on else 'disabled'}); its drift, alerts and code are on the Monitoring page.</div>"
                for name, dep, on in found)
            self.open_monitor_button.layout.display = None
        else:
            first = next(iter(watched.values()), "DEPLOYMENT")
            self.model_monitors.value = (
                "<div style='color:#555'>No model monitor watches this endpoint. Collect the deployment's data "
                "(<code>data_collector=DataCollector(collections={'model_inputs': DeploymentCollection(enabled='true')})"
                "</code>), then create one: <code>ws.schedules.begin_create_or_update(MonitorSchedule(name=..., "
                "trigger=RecurrenceTrigger(frequency='day', interval=1), create_monitor=MonitorDefinition("
                f"monitoring_target=MonitoringTarget(endpoint_deployment_id='azureml:{html.escape(self.name)}:"
                f"{html.escape(first)}'), monitoring_signals={{'drift': DataDriftSignal()}})))</code> "
                "or <code>studio-ext schedule create --file monitor.yml</code>.</div>")
            self.open_monitor_button.layout.display = "none"
        return self.monitor_names

    def open_model_monitor(self) -> Any:
        """The Monitoring page of this endpoint's (first) model monitor, below the tab."""
        if not self.monitor_names:
            return None
        from studio_ext.panels import open_page

        page = open_page("monitoring", self.ws, monitor=self.monitor_names[0])
        self.monitor_area.children = [page]
        return page

    def _on_tab(self, change: dict) -> None:
        if change["new"] == 3:
            self.show_logs()
        elif change["new"] == 4:
            # each part says it is loading until it is drawn (the monitors first: one quick list)
            self.model_monitors.value = LOADING_MONITORS
            self.metrics_summary.value = "<div style='color:#555'>Loading metrics…</div>"
            self.show_model_monitors()
            self.show_metrics()

    def close(self) -> None:
        self.follow.value = False
        super().close()


class EndpointsPanel(widgets.VBox):
    """Models with their versions and a Deploy form; endpoints and their pages."""

    selected_endpoint = traitlets.Unicode("", allow_none=False)

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.code = CodeBox()
        self.models_table = widgets.HTML()
        self.model_select = widgets.Dropdown(description="Model")
        self.version_select = widgets.Dropdown(description="Version")
        self.model_details = widgets.HTML()
        self.model_select.observe(lambda _: self._on_model(), "value")
        self.version_select.observe(lambda _: self._show_model(), "value")
        self.deploy_form = DeployForm(self)
        models_tab = widgets.VBox([self.models_table, widgets.HBox([self.model_select, self.version_select]),
                                   self.model_details, self.deploy_form])
        self.endpoints_table = widgets.HTML()
        self.endpoint_select = widgets.Dropdown(description="Endpoint")
        self._refreshing = False
        self.endpoint_select.observe(
            lambda change: self.open_endpoint(change["new"], show=not self._refreshing) if change["new"] else None,
            "value")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.endpoint_area = widgets.VBox()
        self.view: EndpointView | None = None
        endpoints_tab = widgets.VBox([widgets.HBox([self.endpoint_select, self.refresh_button]),
                                      self.endpoints_table, self.endpoint_area])
        # Batch endpoints (pipeline endpoints among them) are their own page, built in batch_endpoints.py
        # (imported here: that module reuses this one's CopyButton).
        from studio_ext.panels.batch_endpoints import BatchEndpointsPanel

        self.batch = BatchEndpointsPanel(ws, code=self.code)
        # As Azure ML studio's Endpoints page: real-time endpoints, then batch endpoints; deploying a model last.
        self.tabs = widgets.Tab(children=[endpoints_tab, self.batch, models_tab])
        for index, tab_title in enumerate(("Real-time endpoints", "Batch endpoints", "Deploy a model")):
            self.tabs.set_title(index, tab_title)
        title = widgets.HTML("<h3 style='margin:4px 0'>Endpoints</h3><span style='color:#555'>Real-time endpoints: "
                             "their deployments, traffic, tests and logs; batch and pipeline endpoints: their "
                             "deployments, jobs and invocation; deploy a registered model.</span>")
        super().__init__([title, self.tabs, self.code])
        self.refresh()

    def refresh(self) -> None:
        models = self.ws.models.list()
        self.models_table.value = html_table(
            ["name", "latest version", "type", "tags", "job"],
            [(m.name, m.version, m.type, ", ".join(f"{k}: {v}" for k, v in m.tags.items()), m.job_name or "")
             for m in models], empty="No models registered yet: ws.models.create_or_update(Model(...)).")
        names = [m.name for m in models]
        if list(self.model_select.options) != names:  # never blank while there is a model: the first one
            set_choices(self.model_select, names, keep=self.model_select.value, pick_first=True)
        endpoints = self.ws.online_endpoints.list()
        rows = []
        for e in endpoints:
            deployments = self.ws.online_deployments.list(e.name)
            rows.append((e.name, _badge(e.provisioning_state), e.scoring_uri or "",
                         ", ".join(f"{d.name} ({d.state}, {e.traffic.get(d.name, 0)}%)" for d in deployments)))
        self.endpoints_table.value = html_table(["endpoint", "state", "scoring URI", "deployments"], rows,
                                                raw_columns=[1], empty="No endpoints yet.")
        self.deploy_form.endpoint.options = [e.name for e in endpoints]
        current = self.endpoint_select.value
        # One endpoint is chosen (and its page loaded) at once; the page stays on the tab it shows.
        self._refreshing = True
        try:
            set_choices(self.endpoint_select, [("Choose an endpoint…" if endpoints else "No endpoints yet", ""),
                                               *[(e.name, e.name) for e in endpoints]], keep=current)
        finally:
            self._refreshing = False

    def _on_model(self) -> None:
        name = self.model_select.value
        versions = [m.version for m in self.ws.models.list(name)] if name else []
        set_choices(self.version_select, versions[::-1], pick_first=True)  # the latest version
        self._show_model()

    def selected_model(self) -> Any:
        if not self.model_select.value or not self.version_select.value:
            return None
        return self.ws.models.get(self.model_select.value, self.version_select.value)

    def _show_model(self) -> None:
        model = self.selected_model()
        if model is None:
            self.model_details.value = ""
            return
        inputs = [c.get("name") for c in ((model.signature or {}).get("inputs") or [])]
        trust = "; ".join(model.needs_trust) or "none needed"
        self.model_details.value = html_table(["property", "value"], [
            ("type", model.type), ("flavors", ", ".join(model.flavors)), ("serialization", model.serialization),
            ("trust", trust), ("run", model.run_id or ""), ("job", model.job_name or ""),
            ("datasets", ", ".join(model.datasets)), ("files", len(model.files)),
            ("inputs", ", ".join(str(i) for i in inputs)), ("description", model.description or "")])
        self.code.show(f"model = ws.models.get({model.name!r}, version={model.version!r})")

    def close(self) -> None:
        if self.view is not None:
            self.view.close()
        self.batch.close()
        super().close()

    def open_endpoint(self, name: str, *, show: bool = True) -> None:
        """Load an endpoint's page; ``show`` turns to the endpoint list's tab."""
        if self.view is not None and self.view.name == name:
            self.view.refresh()
            if show:
                self.tabs.selected_index = 0
            return
        if self.view is not None:
            self.view.close()
        self.view = EndpointView(self, name)
        self.endpoint_area.children = [self.view]
        self.selected_endpoint = name
        if self.endpoint_select.value != name and name in [v for _, v in self.endpoint_select.options]:
            self.endpoint_select.value = name
        if show:
            self.tabs.selected_index = 0
