"""The pipeline graph engine: nodes, labelled edges, layers, crossing reduction, refused cycles."""

from __future__ import annotations

import pytest

from studio_ext.errors import InvalidInput
from studio_ext.ml.pipeline_graph import Binding, StepSpec, build_graph, count_crossings, parse_binding


def out(step: str, name: str = "out") -> str:
    return f"${{{{parent.jobs.{step}.outputs.{name}}}}}"


def test_bindings_parse_as_azure_writes_them() -> None:
    assert parse_binding("${{parent.inputs.data}}") == Binding("pipeline_input", "data")
    assert parse_binding("${{parent.outputs.model}}") == Binding("pipeline_output", "model")
    assert parse_binding("${{ parent.jobs.prep-data.outputs.out_dir }}") == Binding("step_output", "out_dir",
                                                                                     "prep-data")
    assert parse_binding("${{parent.jobs.prep.outputs.out.path}}") == Binding("step_output", "out", "prep")
    assert parse_binding(0.3) is None
    assert parse_binding("./data") is None
    assert parse_binding("${{inputs.x}}") is None  # a component's own placeholder, not a pipeline binding

    class Holder:  # azure-ai-ml's NodeInput keeps a loaded binding in _data; Input in path
        _data = "${{parent.inputs.raw}}"

    assert parse_binding(Holder()) == Binding("pipeline_input", "raw")


def test_linear_pipeline_lays_out_one_step_per_layer() -> None:
    graph = build_graph({
        "prep": StepSpec(inputs={"raw": "${{parent.inputs.raw}}", "frac": "${{parent.inputs.frac}}"},
                         outputs=("out",)),
        "train": StepSpec(inputs={"data": out("prep")}, outputs={"model": "${{parent.outputs.model}}"}),
        "score": StepSpec(inputs={"model": out("train", "model"), "reg": 0.1}),
    })
    assert graph.layers == [["input:frac", "input:raw"], ["prep"], ["train"], ["output:model", "score"]]
    assert graph.steps == ["prep", "train", "score"]
    assert {n.kind for n in graph.nodes.values()} == {"step", "input", "output"}
    by_pair = {(e.source, e.target): e for e in graph.edges}
    assert by_pair[("prep", "train")].label == "out"
    assert by_pair[("prep", "train")].target_input == "data"
    assert by_pair[("train", "score")].label == "model"
    assert by_pair[("train", "output:model")].label == "model"
    assert by_pair[("input:raw", "prep")].label == "raw"
    # Left to right: x grows with the layer, every edge goes rightwards.
    for edge in graph.edges:
        assert graph.nodes[edge.source].x < graph.nodes[edge.target].x
    assert graph.crossings == 0


def test_diamond_runs_the_middle_steps_side_by_side() -> None:
    graph = build_graph({
        "a": StepSpec(outputs=("out",)),
        "b": StepSpec(inputs={"x": out("a")}, outputs=("out",)),
        "c": StepSpec(inputs={"x": out("a")}, outputs=("out",)),
        "d": StepSpec(inputs={"left": out("b"), "right": out("c")}),
    })
    assert graph.layers == [["a"], ["b", "c"], ["d"]]
    assert graph.predecessors("d") == ["b", "c"]
    assert graph.successors("a") == ["b", "c"]
    assert graph.nodes["b"].x == graph.nodes["c"].x
    assert graph.nodes["b"].y != graph.nodes["c"].y
    assert graph.crossings == 0
    # The single nodes are centred beside the pair.
    assert graph.nodes["a"].y == pytest.approx((graph.nodes["b"].y + graph.nodes["c"].y) / 2)


def test_fan_out_keeps_each_branch_on_its_own_row_and_uncrossed() -> None:
    # Two branches fanning out of one source whose later steps are listed in the opposite
    # order: the barycenter sweeps must untangle them.
    steps = {"src": StepSpec(outputs=("out",))}
    for i in range(4):
        steps[f"f{i}"] = StepSpec(inputs={"x": out("src")}, outputs=("out",))
    for i in reversed(range(4)):
        steps[f"g{i}"] = StepSpec(inputs={"x": out(f"f{i}")})
    graph = build_graph(steps)
    assert graph.layers[0] == ["src"]
    assert sorted(graph.layers[1]) == ["f0", "f1", "f2", "f3"]
    assert graph.crossings == 0
    for i in range(4):  # each g sits on its f's row
        assert graph.nodes[f"g{i}"].y == graph.nodes[f"f{i}"].y


def test_crossings_are_reduced_where_the_given_order_tangles() -> None:
    # b reads y's output and c reads x's: listed as given, the two edges cross once.
    steps = {
        "x": StepSpec(outputs=("out",)), "y": StepSpec(outputs=("out",)),
        "c": StepSpec(inputs={"i": out("x")}), "b": StepSpec(inputs={"i": out("y")}),
    }
    import networkx as nx

    tangled = nx.DiGraph([("x", "c"), ("y", "b")])
    assert count_crossings([["x", "y"], ["b", "c"]], tangled) == 1
    graph = build_graph(steps)
    assert graph.crossings == 0
    assert graph.nodes["c"].y == graph.nodes["x"].y


def test_an_edge_over_several_layers_is_routed_through_a_point_per_layer() -> None:
    graph = build_graph({
        "a": StepSpec(outputs=("out",)),
        "b": StepSpec(inputs={"x": out("a")}, outputs=("out",)),
        "c": StepSpec(inputs={"x": out("b")}, outputs=("out",)),
        "d": StepSpec(inputs={"x": out("c"), "skip": out("a")}),
    })
    long = next(e for e in graph.edges if e.source == "a" and e.target == "d")
    assert len(long.points) == 4  # a, two virtual points, d
    xs = [p[0] for p in long.points]
    assert xs == sorted(xs)
    assert not any(n.startswith("\0") for n in graph.nodes)


def test_two_outputs_of_one_step_into_one_reader_are_two_labelled_edges() -> None:
    graph = build_graph({
        "split": StepSpec(outputs=("train", "test")),
        "fit": StepSpec(inputs={"train": out("split", "train"), "test": out("split", "test")}),
    })
    assert sorted(e.label for e in graph.edges) == ["test", "train"]


def test_a_pipeline_input_sits_beside_its_first_reader() -> None:
    graph = build_graph({
        "a": StepSpec(outputs=("out",)),
        "b": StepSpec(inputs={"x": out("a")}, outputs=("out",)),
        "c": StepSpec(inputs={"x": out("b"), "lr": "${{parent.inputs.lr}}"}),
    })
    assert graph.nodes["input:lr"].layer == graph.nodes["c"].layer - 1


def test_a_cycle_is_refused_naming_its_steps() -> None:
    with pytest.raises(InvalidInput, match=r"cycle: (a -> b -> a|b -> a -> b)\. A step can only read"):
        build_graph({"a": StepSpec(inputs={"x": out("b")}, outputs=("out",)),
                     "b": StepSpec(inputs={"x": out("a")}, outputs=("out",))})
    with pytest.raises(InvalidInput, match="cycle"):
        build_graph({"self": StepSpec(inputs={"x": out("self")}, outputs=("out",))})


def test_a_binding_to_a_missing_step_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        build_graph({"train": StepSpec(inputs={"data": out("prepp")})})
    assert info.value.message == ("Step 'train' input 'data' reads 'prepp''s output 'out', but the pipeline has no "
                                  "step 'prepp'. Its steps: train.")


def test_an_empty_pipeline_is_an_empty_graph() -> None:
    graph = build_graph({})
    assert graph.nodes == {} and graph.edges == [] and graph.layers == []


def test_steps_named_in_sequence_keep_it_top_to_bottom() -> None:
    steps = {"root": StepSpec(outputs=("out",))}
    steps.update({f"s{i}": StepSpec(inputs={"x": out("root")}) for i in (10, 2, 1)})
    graph = build_graph(steps)
    assert graph.layers[1] == ["s1", "s2", "s10"]
