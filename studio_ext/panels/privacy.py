"""The Privacy page: metadata with public bounds, the budget, private statistics and SQL, noisy vs exact.

``PrivacyPanel(ws, dataset=None)``: pick a tabular dataset version and edit its privacy
metadata (bounds equal to an observed min or max are marked and must be ticked as
public); see the budget as a gauge with the query history; run a statistic or a SQL
query with an epsilon slider and see the answer with its 95 % interval; and, for data
you own, the teaching view: noisy answers over repeats for several epsilons around the
exact one. Every action goes through ``ws.privacy``/``ws.data``; the code is shown.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from studio_ext.errors import StudioError
from studio_ext.panels import privacy_charts as charts
from studio_ext.panels._format import format_number
from studio_ext.panels._widgets import CodeBox, Message, Reveal, format_value, html_table, show_figures

if TYPE_CHECKING:  # pragma: no cover
    from studio_ext.workspace import Workspace

__all__ = ["PrivacyPanel"]

_WIDE = {"description_width": "120px"}
EPSILONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)  # the query slider's stops
STATISTICS = ("mean", "sum", "count", "variance", "quantiles", "histogram", "covariance", "SQL")


class _ColumnRow(widgets.HBox):
    """One column of the metadata editor: type, bounds, nullable, and the public-bound tick when needed."""

    def __init__(self, name: str, meta: Any, observed: tuple[Any, Any], label_width: int = 170) -> None:
        super().__init__()
        self.name, self.observed = name, observed
        self.type = widgets.Dropdown(options=["int", "float", "str", "bool"], value=meta.type,
                                     layout=widgets.Layout(width="80px"))
        self.lower = widgets.Text(value="" if meta.lower is None else f"{meta.lower:g}", placeholder="lower",
                                  layout=widgets.Layout(width="90px"))
        self.upper = widgets.Text(value="" if meta.upper is None else f"{meta.upper:g}", placeholder="upper",
                                  layout=widgets.Layout(width="90px"))
        self.nullable = widgets.Checkbox(value=meta.nullable, description="nullable", indent=False,
                                         layout=widgets.Layout(width="90px"))
        self.confirm = widgets.Checkbox(value=meta.confirmed, description="public (confirm)", indent=False,
                                        layout=widgets.Layout(width="140px"))
        self.note = widgets.HTML()
        for w in (self.lower, self.upper):
            w.observe(lambda _c: self.mark(), names="value")
        self.children = [widgets.HTML(f"<code>{html.escape(name)}</code>", layout=widgets.Layout(width=f"{label_width}px")),
                         self.type, self.lower, self.upper, self.nullable, self.confirm, self.note]
        self.mark()

    def bounds(self) -> tuple[float | None, float | None]:
        def num(text: str) -> float | None:
            text = text.strip()
            return float(text) if text else None
        return num(self.lower.value), num(self.upper.value)

    def extremes(self) -> list[str]:
        """Which bounds equal the observed min or max ('Age.lower')."""
        try:
            lo, hi = self.bounds()
        except ValueError:
            return []
        found = []
        if lo is not None and self.observed[0] is not None and float(self.observed[0]) == lo:
            found.append(f"{self.name}.lower")
        if hi is not None and self.observed[1] is not None and float(self.observed[1]) == hi:
            found.append(f"{self.name}.upper")
        return found

    def mark(self) -> None:
        marked = self.extremes()
        self.confirm.layout.visibility = "visible" if marked else "hidden"
        self.note.value = ("<span style='color:#a4262c;font-size:90%'>⚠ equals the observed "
                           + " and ".join("min" if m.endswith("lower") else "max" for m in marked)
                           + "</span>") if marked else ""

    def spec(self) -> dict[str, Any] | None:
        lo, hi = self.bounds()
        if lo is None and hi is None:
            return None
        return {"type": self.type.value, "lower": lo, "upper": hi, "nullable": self.nullable.value}


class PrivacyPanel(widgets.VBox):
    """``PrivacyPanel(ws, dataset=None)``: the Privacy page (``dataset`` as 'name:version')."""

    def __init__(self, ws: Workspace, dataset: str | None = None) -> None:
        super().__init__()
        self.ws = ws
        self.code = CodeBox()
        self.message = Message()
        options = [f"{d.name}:{d.version}" for d in ws.data.list() if str(d.type) == "tabular"]
        self.dataset = widgets.Dropdown(description="Dataset", options=options, style=_WIDE,
                                        value=dataset if dataset in options else (options[0] if options else None))
        # metadata
        self.rows: list[_ColumnRow] = []
        self.columns_box = widgets.VBox()
        self.identifier = widgets.Dropdown(description="Individual id", options=[("(one row per person)", "")],
                                           value="", style=_WIDE, layout=widgets.Layout(width="340px"))
        self.max_rows = widgets.BoundedIntText(description="Max rows each", value=1, min=1, max=1_000_000,
                                               style=_WIDE)
        self.budget_epsilon = widgets.FloatText(description="Budget ε", value=1.0, style=_WIDE)
        self.budget_delta = widgets.FloatText(description="Budget δ", value=0.0, style=_WIDE)
        self.new_budget = widgets.Checkbox(description="this version shares no rows with the previous one",
                                           value=False, indent=False, layout=widgets.Layout(width="600px"))
        self.save_button = widgets.Button(description="Save metadata", button_style="primary", icon="save")
        # budget
        self.gauge = widgets.Output(layout=widgets.Layout(width="440px", min_width="440px"))
        self.history = widgets.HTML()
        # query
        self.statistic = widgets.Dropdown(description="Statistic", options=STATISTICS, value="mean", style=_WIDE)
        # One column for a statistic; covariance takes a second (two compact dropdowns, no list box).
        self.column = widgets.Dropdown(description="Column", options=[], style={"description_width": "initial"},
                                       layout=widgets.Layout(width="auto", min_width="180px", margin="2px 2px 2px 16px"))
        self.column2 = widgets.Dropdown(description="and", options=[], style={"description_width": "initial"},
                                        layout=widgets.Layout(width="auto", min_width="140px"),
                                        tooltip="the second column of the covariance")
        self.sql = widgets.Textarea(description="SQL", placeholder="SELECT COUNT(*), AVG(Age) FROM diabetes",
                                    layout=widgets.Layout(width="640px", height="70px"), style=_WIDE)
        # Round epsilons only (a log slider's steps read 0.501, 0.891...), labelled by the one formatter.
        self.epsilon = widgets.SelectionSlider(description="ε", options=[(format_number(e), e) for e in EPSILONS],
                                               value=0.5, style=_WIDE, continuous_update=False)
        self.run_button = widgets.Button(description="Run private query", button_style="success", icon="play",
                                         layout=widgets.Layout(width="auto"))
        self.answer = widgets.HTML()
        self.answer_chart = widgets.Output()
        # teaching
        self.repeats = widgets.IntSlider(description="Repeats", value=20, min=5, max=100, style=_WIDE)
        self.epsilons = widgets.Text(description="ε values", value="0.1, 0.5, 1, 5", style=_WIDE)
        self.compare_button = widgets.Button(description="Compare with exact", icon="bar-chart",
                                             layout=widgets.Layout(width="auto"))
        self.compare_note = widgets.HTML()
        self.compare_reveal, self.synth_reveal = Reveal(), Reveal()  # scroll new charts into view
        self.compare_chart = widgets.Output()

        # synthetic data
        self.synth_method = widgets.Dropdown(description="Method", options=[("AIM", "aim"), ("MST", "mst")],
                                             value="mst", style=_WIDE)
        self.synth_epsilon = widgets.FloatText(description="ε", value=1.0, style=_WIDE)
        self.synth_rows = widgets.BoundedIntText(description="Rows", value=1000, min=1, max=10_000_000, style=_WIDE)
        self.synth_button = widgets.Button(description="Synthesize", icon="copy", layout=widgets.Layout(width="auto"))
        self.synth_chart = widgets.Output()
        self.synth_button.on_click(lambda _b: self.synthesize())

        self.dataset.observe(lambda _c: self.load(), names="value")
        self.statistic.observe(lambda _c: self._toggle(), names="value")
        self.save_button.on_click(lambda _b: self.save())
        self.run_button.on_click(lambda _b: self.run())
        self.compare_button.on_click(lambda _b: self.compare())
        section = "<h4 style='margin:10px 0 4px'>{}</h4>".format
        self.children = [
            widgets.HTML("<h3 style='margin:4px 0'>Privacy</h3><span style='color:#555'>Differentially private "
                         "statistics with OpenDP: every answer spends part of the dataset's budget.</span>"),
            self.dataset,
            widgets.HTML(section("Metadata: public bounds")), self.columns_box,
            widgets.HBox([self.identifier, self.max_rows]),
            widgets.HBox([self.budget_epsilon, self.budget_delta]), self.new_budget, self.save_button,
            widgets.HTML(section("Budget")), widgets.HBox([self.gauge, self.history]),
            widgets.HTML(section("Private query")), widgets.HBox([self.statistic, self.column, self.column2]), self.sql,
            widgets.HBox([self.epsilon, self.run_button]), self.answer, self.answer_chart,
            widgets.HTML(section("Teaching view: exact against noisy (data you own; spends no budget)")),
            widgets.HBox([self.epsilons, self.repeats, self.compare_button]), self.compare_reveal, self.compare_note,
            self.compare_chart,
            widgets.HTML(section("Private synthetic data (OpenDP contingency table; spends the budget once)")),
            widgets.HBox([self.synth_method, self.synth_epsilon, self.synth_rows, self.synth_button]),
            self.synth_reveal, self.synth_chart,
            self.message, self.code,
        ]
        self._toggle()
        self.load()

    # -- loading ------------------------------------------------------------------------------
    def _ref(self) -> str:
        return str(self.dataset.value)

    def _toggle(self) -> None:
        is_sql = self.statistic.value == "SQL"
        self.sql.layout.display = None if is_sql else "none"
        self.column.layout.display = "none" if is_sql or self.statistic.value == "count" else None
        self.column2.layout.display = None if self.statistic.value == "covariance" else "none"

    def load(self) -> None:
        self.message.clear()
        if not self.dataset.value:
            self.message.info("Register a tabular dataset first (the Data page), then give it public bounds here.")
            return
        name, _, version = self._ref().partition(":")
        try:
            md = self.ws.privacy.describe(self._ref())
            profile = self.ws.data.profile(name, version)
        except StudioError as exc:
            self.message.error(str(exc))
            return
        observed = {c.name: (c.min, c.max) for c in profile.columns}
        # The names column is as wide as the longest name (monospace, about 8 px a character) and a gap.
        width = max([170, *(8 * len(n) + 20 for n in md.columns)])
        self.rows = [_ColumnRow(n, m, _numeric(observed.get(n, (None, None))), width) for n, m in md.columns.items()]
        self.columns_box.children = [widgets.HTML("<span style='font-size:90%;color:#555'>column · type · lower · "
                                                  "upper · nullable</span>"), *self.rows]
        self.budget_epsilon.value, self.budget_delta.value = md.budget_epsilon, md.budget_delta
        self.identifier.options = [("(one row per person)", ""), *[(n, n) for n in md.columns]]
        self.identifier.value = md.identifier or ""
        self.max_rows.value = md.max_rows_per_individual
        numeric = [n for n, m in md.columns.items() if m.type != "str"]
        self.column.options = numeric
        self.column2.options = numeric
        # The first columns with public bounds are chosen, so Run answers without a click first.
        bounded = [n for n in numeric if md.columns[n].bounded] or numeric
        self.column.value = bounded[0] if bounded else None
        others = [n for n in bounded[1:] + numeric if n != self.column.value]  # a covariance of two columns
        self.column2.value = (others or bounded)[0] if (others or bounded) else None
        if not self.sql.value:
            self.sql.value = f"SELECT COUNT(*) FROM {name}"
        self.refresh_budget()

    def refresh_budget(self) -> None:
        try:
            budget = self.ws.privacy.budget(self._ref())
            history = self.ws.privacy.history(self._ref())
        except StudioError:
            self.gauge.outputs = ()
            self.history.value = "<i>No metadata saved yet: no budget.</i>"
            return
        show_figures(self.gauge, [charts.budget_gauge(budget)])
        rows = [[dt.datetime.fromtimestamp(h.created_at).strftime("%Y-%m-%d %H:%M:%S"), h.statistic, h.query,
                 format_value(h.epsilon), format_value(h.delta), h.caller] for h in reversed(history[-20:])]
        self.history.value = html_table(["time", "statistic", "query", "ε", "δ", "caller"], rows) if rows else \
            "<i>No query yet.</i>"

    # -- actions ----------------------------------------------------------------------------------
    def save(self) -> Any:
        self.message.clear()
        try:
            columns = {r.name: spec for r in self.rows if (spec := r.spec()) is not None}
        except ValueError:
            self.message.error("A bound is not a number; fix it and save again.")
            return None
        confirm = [m for r in self.rows if r.confirm.value for m in r.extremes()]
        kwargs: dict[str, Any] = {"columns": columns, "budget_epsilon": self.budget_epsilon.value,
                  "budget_delta": self.budget_delta.value, "confirm": confirm, "new_budget": self.new_budget.value,
                  "max_rows_per_individual": self.max_rows.value}
        if self.identifier.value:
            kwargs["identifier"] = self.identifier.value
        code = f"ws.privacy.set_metadata({self._ref()!r}, " + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")"
        self.code.show(code)
        try:
            md = self.ws.privacy.set_metadata(self._ref(), **kwargs)
        except StudioError as exc:
            self.message.error(str(exc))
            return None
        self.message.info("Saved the privacy metadata with this dataset version.")
        self.refresh_budget()
        return md

    def _call(self) -> tuple[str, dict[str, Any]]:
        stat, eps = self.statistic.value, float(self.epsilon.value)
        cols = [c for c in (self.column.value, self.column2.value if stat == "covariance" else None) if c]
        if stat == "SQL":
            return "query", {"sql": self.sql.value, "epsilon": eps}
        if stat == "count":
            return "count", {"epsilon": eps}
        if stat == "covariance":
            return "covariance", {"columns": cols, "epsilon": eps}
        return stat, {"column": cols[0] if cols else "", "epsilon": eps}

    def run(self) -> Any:
        self.message.clear()
        method, kwargs = self._call()
        self.code.show(f"r = ws.privacy.{method}({self._ref()!r}, "
                       + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")\nr.value, r.epsilon, r.interval")
        if "column" in kwargs and not kwargs["column"]:
            self.message.error("Pick a column.")
            return None
        try:
            result = getattr(self.ws.privacy, method)(self._ref(), **kwargs)
        except StudioError as exc:
            self.message.error(str(exc))
            self.refresh_budget()
            return None
        self.answer.value = _answer_html(result)
        fig = charts.answer_bars(result)
        show_figures(self.answer_chart, [fig] if fig is not None else [])
        self.refresh_budget()
        return result

    def synthesize(self) -> Any:
        self.message.clear()
        method, eps, rows = self.synth_method.value, float(self.synth_epsilon.value), int(self.synth_rows.value)
        self.code.show(_synthesize_code(self._ref(), method, eps, rows))
        try:
            synthetic = self.ws.privacy.synthesize(self._ref(), epsilon=eps, method=method, rows=rows)
        except StudioError as exc:
            self.message.error(str(exc))
            return None
        name, _, version = self._ref().partition(":")
        original = self.ws.data.load(name, version)
        made = self.ws.data.load(synthetic.name, synthetic.version)
        columns = [c for c in made.columns if c in original.columns][:4]
        show_figures(self.synth_chart, [charts.distributions(original, made, columns)])
        self.synth_reveal.now()
        self.message.info(f"Registered {synthetic.name} version {synthetic.version} ({len(made):,} rows); "
                          "its profile is on the Data page.")
        self.refresh_budget()
        return synthetic

    def compare(self) -> Any:
        self.message.clear()
        sql = self.sql.value if self.statistic.value == "SQL" else None
        if sql is None:
            method, kwargs = self._call()
            col = kwargs.get("column")
            agg = {"mean": "AVG", "sum": "SUM", "count": "COUNT", "variance": "VAR"}.get(method)
            if agg is None:
                self.message.error("The teaching view compares SQL, mean, sum, count or variance answers.")
                return None
            sql = f"SELECT {agg}({col or '*'}) AS {method} FROM {self._ref().partition(':')[0]}"
        try:
            epsilons = [float(x) for x in self.epsilons.value.replace(";", ",").split(",") if x.strip()]
        except ValueError:
            self.message.error("ε values are numbers separated by commas, e.g. 0.1, 0.5, 1, 5.")
            return None
        self.code.show(f"c = ws.privacy.compare({self._ref()!r}, {sql!r}, epsilons={epsilons!r}, "
                       f"repeats={self.repeats.value})\nc.spread()")
        try:
            c = self.ws.privacy.compare(self._ref(), sql, epsilons=epsilons, repeats=self.repeats.value)
        except StudioError as exc:
            self.message.error(str(exc))
            return None
        self.compare_note.value = f"<i>{html.escape(c.note)}</i>"
        show_figures(self.compare_chart, [charts.comparison_box(c, out) for out in list(c.exact)[:4]])
        self.compare_reveal.now()
        return c


def _synthesize_code(ref: str, method: str, epsilon: float, rows: int) -> str:
    return (f"synthetic = ws.privacy.synthesize({ref!r}, epsilon={epsilon!r}, method={method!r}, rows={rows})\n"
            "ws.data.profile(synthetic.name, synthetic.version)")


def _numeric(pair: tuple[Any, Any]) -> tuple[Any, Any]:
    out: list[float | None] = []
    for v in pair:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            out.append(None)
    return out[0], out[1]


def _answer_html(result: Any) -> str:
    import pandas as pd

    head = (f"<b>{html.escape(result.statistic)}</b> · ε {result.epsilon:.3g} · δ {result.delta:.2g} spent · "
            "95 % interval from OpenDP's accuracy")
    value, interval = result.value, result.interval
    if isinstance(value, pd.DataFrame):
        body = value.to_html(float_format=lambda v: f"{v:.4g}", border=0, index=False)
        if interval is not None and not isinstance(interval[0], float):
            body += "<div style='font-size:85%;color:#555'>lower</div>" + interval[0].to_html(
                float_format=lambda v: f"{v:.4g}", border=0, index=False)
            body += "<div style='font-size:85%;color:#555'>upper</div>" + interval[1].to_html(
                float_format=lambda v: f"{v:.4g}", border=0, index=False)
        return head + body
    if isinstance(value, dict):
        return head + "<br>" + ", ".join(f"q{k:g} = <b>{format_value(v)}</b>" for k, v in value.items()) + \
            " <span style='color:#555'>(OpenDP states no interval for quantiles)</span>"
    ci = f" (95 % interval {format_value(interval[0])} to {format_value(interval[1])})" if interval else ""
    return head + f"<br><span style='font-size:130%'><b>{format_value(value)}</b></span>{ci}"
