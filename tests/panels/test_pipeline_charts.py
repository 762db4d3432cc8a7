"""The pipeline graph drawing: boxes coloured by state, labelled arrows, clickable steps, in-place updates."""

from __future__ import annotations

import plotly.graph_objects as go

from studio_ext.ml.pipeline_graph import StepSpec, build_graph
from studio_ext.panels.pipeline_charts import STATE_COLOURS, StepState, click_trace, graph_figure, update_states


def out(step: str, name: str = "out") -> str:
    return f"${{{{parent.jobs.{step}.outputs.{name}}}}}"


GRAPH = build_graph({
    "prep_data": StepSpec(inputs={"raw": "${{parent.inputs.diabetes}}"}, outputs=("prepped",)),
    "train_logistic_regression_with_a_long_name": StepSpec(inputs={"data": out("prep_data", "prepped")},
                                                           outputs={"model": "${{parent.outputs.model}}"}),
    "evaluate": StepSpec(inputs={"model": out("train_logistic_regression_with_a_long_name", "model")}),
})


def _shape(fig: go.Figure, node: str) -> go.layout.Shape:
    return next(s for s in fig.layout.shapes if s.name == node)


def test_steps_are_coloured_by_state_and_reuse_is_marked() -> None:
    states = {"prep_data": StepState("Completed", 3.2, job_name="j1", reused_from="j0"),
              "train_logistic_regression_with_a_long_name": StepState("Running", 65.0, job_name="j2")}
    fig = graph_figure(GRAPH, states)
    assert _shape(fig, "prep_data").fillcolor == STATE_COLOURS["Completed"][0]
    assert _shape(fig, "prep_data").line.dash == "dash"  # reused
    assert _shape(fig, "train_logistic_regression_with_a_long_name").line.color == STATE_COLOURS["Running"][1]
    assert _shape(fig, "evaluate").fillcolor == STATE_COLOURS["NotStarted"][0]  # no state yet: not started
    labels = next(t for t in fig.data if t.name == "labels").text
    joined = " ".join(labels)
    assert "♻ Reused" in joined and "Running · 1m 05s" in joined and "Not started" in joined
    # A long name is broken over two lines at an underscore (the full name is in the hover).
    assert "<b>train_logistic_regr…<br>with_a_long_name</b>" in joined
    assert "<b>prep_data</b>" in joined
    assert not any("0000" in text for text in labels)  # durations go through the one formatter


def test_edges_are_arrows_labelled_by_output_name() -> None:
    fig = graph_figure(GRAPH)
    texts = [a.text for a in fig.layout.annotations if a.text]
    assert texts == ["prepped", "model"]
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    assert len(arrows) == len(GRAPH.edges) == 4  # input->prep, prep->train, train->evaluate, train->output
    # Pipeline inputs and outputs are drawn as their own small boxes.
    assert {s.name for s in fig.layout.shapes} >= {"input:diabetes", "output:model"}


def test_every_step_is_clickable_and_nothing_else() -> None:
    fig = graph_figure(GRAPH)
    trace = click_trace(fig)
    assert set(trace.customdata) == {"prep_data", "train_logistic_regression_with_a_long_name", "evaluate"}
    assert all("click for details" in tip for tip in trace.hovertext)


def test_figure_is_sized_to_the_graph() -> None:
    fig = graph_figure(GRAPH)
    columns = len(GRAPH.layers)
    assert fig.layout.width >= columns * 200
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False


def test_states_update_in_place_on_a_figure_widget() -> None:
    widget = go.FigureWidget(graph_figure(GRAPH))
    before = id(widget)
    update_states(widget, GRAPH, {"evaluate": StepState("Failed", 1.0, reason="exit code 1")}, selected="evaluate")
    assert id(widget) == before
    shape = _shape(widget, "evaluate")
    assert shape.fillcolor == STATE_COLOURS["Failed"][0]
    assert shape.line.width == 3  # the selected step is outlined
    assert any("exit code 1" in tip for tip in click_trace(widget).hovertext)


def test_skipped_and_canceled_are_grey() -> None:
    fig = graph_figure(GRAPH, {"evaluate": StepState("Skipped"), "prep_data": StepState("Canceled")})
    assert _shape(fig, "evaluate").fillcolor == STATE_COLOURS["Skipped"][0] == "#edebe9"
    assert _shape(fig, "prep_data").fillcolor == STATE_COLOURS["Canceled"][0]
