"""A pipeline's graph, laid out left to right (pure: no workspace, no storage).

:func:`build_graph` reads a pipeline's steps and their data bindings, as Azure ML v2
writes them (``${{parent.inputs.X}}``, ``${{parent.jobs.A.outputs.Y}}``,
``${{parent.outputs.Z}}``), and returns a :class:`PipelineGraph`: the nodes (steps, and
the pipeline's own inputs and outputs that a step uses), the edges labelled by the
output that flows along them, and each node's place in a layered drawing.

The layout is Sugiyama's, on networkx: layers from ``topological_generations`` (a step
sits one layer right of the latest step it reads from), edges spanning several layers
routed through virtual points, and the order within each layer chosen by barycenter
sweeps to keep edge crossings few. A cycle, or a binding to a step that does not exist,
is an :class:`~studio_ext.errors.InvalidInput` naming the steps involved.

Example::

    graph = build_graph(
        {"prep": StepSpec(inputs={"raw": "${{parent.inputs.data}}"}, outputs=("out",)),
         "train": StepSpec(inputs={"data": "${{parent.jobs.prep.outputs.out}}"})},
        pipeline_inputs=["data"])
    graph.layers            # [["input:data"], ["prep"], ["train"]]
    graph.edges[1].label    # "out"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from studio_ext.errors import InvalidInput

__all__ = [
    "Binding",
    "GraphEdge",
    "GraphNode",
    "PipelineGraph",
    "StepSpec",
    "build_graph",
    "count_crossings",
    "parse_binding",
]

# ${{parent.inputs.X}} / ${{parent.outputs.Z}} / ${{parent.jobs.A.outputs.Y}} (also ${{parent.jobs.A.outputs.Y.path}}).
_BINDING = re.compile(
    r"^\s*\$\{\{\s*parent\.(?:(?P<kind>inputs|outputs)\.(?P<name>[\w-]+)"
    r"|jobs\.(?P<step>[\w-]+)\.outputs\.(?P<output>[\w-]+))(?:\.[\w-]+)*\s*\}\}\s*$")

INPUT_PREFIX = "input:"
OUTPUT_PREFIX = "output:"


@dataclass(frozen=True)
class Binding:
    """Where a value comes from (``kind`` "pipeline_input" or "step_output") or goes ("pipeline_output")."""

    kind: str
    name: str  # the pipeline input/output's name, or the step output's name
    step: str | None = None


def parse_binding(value: Any) -> Binding | None:
    """The binding in ``value`` (a string, or an object holding one in ``path``/``_data``), or None.

    >>> parse_binding("${{parent.jobs.prep.outputs.out}}")
    Binding(kind='step_output', name='out', step='prep')
    """
    text = _binding_text(value)
    if text is None:
        return None
    match = _BINDING.match(text)
    if match is None:
        return None
    if match["step"]:
        return Binding("step_output", match["output"], match["step"])
    return Binding("pipeline_input" if match["kind"] == "inputs" else "pipeline_output", match["name"])


def _binding_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    # azure-ai-ml's NodeInput keeps a YAML-loaded binding in ``_data``; Input/Output objects in ``path``.
    for attr in ("path", "_data"):
        inner = getattr(value, attr, None)
        if isinstance(inner, str):
            return inner
    return None


@dataclass(frozen=True)
class StepSpec:
    """A step as the graph needs it: its inputs (name -> binding or literal) and output names.

    An output's value may be a binding to a pipeline output (``${{parent.outputs.Z}}``).
    """

    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] | Sequence[str] = ()
    label: str | None = None

    def output_items(self) -> list[tuple[str, Any]]:
        if isinstance(self.outputs, Mapping):
            return list(self.outputs.items())
        return [(name, None) for name in self.outputs]


@dataclass(frozen=True)
class GraphNode:
    """A box of the drawing: a step, a pipeline input or a pipeline output, and where it sits."""

    id: str
    kind: str  # "step" | "input" | "output"
    label: str
    layer: int
    order: int
    x: float
    y: float


@dataclass(frozen=True)
class GraphEdge:
    """Data flowing from ``source``'s output ``label`` into ``target``'s input ``target_input``.

    ``points`` are the (x, y) the edge passes through, from source to target, including the
    virtual points of an edge that spans several layers.
    """

    source: str
    target: str
    label: str
    target_input: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class PipelineGraph:
    """The laid-out graph; ``layers`` lists node ids left to right, each top to bottom."""

    nodes: dict[str, GraphNode]
    edges: list[GraphEdge]
    layers: list[list[str]]
    crossings: int

    @property
    def steps(self) -> list[str]:
        return [n.id for n in self.nodes.values() if n.kind == "step"]

    def predecessors(self, node: str) -> list[str]:
        return sorted({e.source for e in self.edges if e.target == node})

    def successors(self, node: str) -> list[str]:
        return sorted({e.target for e in self.edges if e.source == node})


def build_graph(steps: Mapping[str, StepSpec | Mapping[str, Any]], *, pipeline_inputs: Iterable[str] = (),
                pipeline_outputs: Iterable[str] = (), sweeps: int = 8, x_gap: float = 1.0,
                y_gap: float = 1.0) -> PipelineGraph:
    """Lay out a pipeline. ``steps`` maps step name -> :class:`StepSpec` (or a dict of its fields).

    Pipeline inputs and outputs become nodes when a step binds to them (or when they are
    listed in ``pipeline_inputs``/``pipeline_outputs``). ``sweeps`` is how many down-and-up
    barycenter passes order the layers; the order with the fewest crossings is kept.
    """
    specs = {name: spec if isinstance(spec, StepSpec) else StepSpec(**spec) for name, spec in steps.items()}
    g = nx.MultiDiGraph()
    labels: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for name, spec in specs.items():
        g.add_node(name)
        labels[name], kinds[name] = spec.label or name, "step"
    for name in pipeline_inputs:
        _add_io(g, labels, kinds, INPUT_PREFIX + name, name, "input")
    for name in pipeline_outputs:
        _add_io(g, labels, kinds, OUTPUT_PREFIX + name, name, "output")

    for name, spec in specs.items():
        for input_name, value in spec.inputs.items():
            binding = parse_binding(value)
            if binding is None:
                continue
            if binding.kind == "step_output":
                assert binding.step is not None
                if binding.step not in specs:
                    raise InvalidInput(
                        f"Step {name!r} input {input_name!r} reads {binding.step!r}'s output {binding.name!r}, "
                        f"but the pipeline has no step {binding.step!r}. Its steps: {', '.join(sorted(specs))}.")
                g.add_edge(binding.step, name, label=binding.name, target_input=input_name)
            elif binding.kind == "pipeline_input":
                node = _add_io(g, labels, kinds, INPUT_PREFIX + binding.name, binding.name, "input")
                g.add_edge(node, name, label=binding.name, target_input=input_name)
            else:
                raise InvalidInput(
                    f"Step {name!r} input {input_name!r} is bound to the pipeline output {binding.name!r}; "
                    "an input reads ${{parent.inputs.X}} or ${{parent.jobs.STEP.outputs.Y}}.")
        for output_name, value in spec.output_items():
            binding = parse_binding(value)
            if binding is not None and binding.kind == "pipeline_output":
                node = _add_io(g, labels, kinds, OUTPUT_PREFIX + binding.name, binding.name, "output")
                g.add_edge(name, node, label=output_name, target_input=binding.name)

    _refuse_cycles(g)
    layer_of = _assign_layers(g, kinds)
    order_graph, chains = _with_virtual_nodes(g, layer_of)
    layers = _order_layers(order_graph, layer_of, sweeps)
    crossings = count_crossings(layers, order_graph)

    height = max((len(layer) for layer in layers), default=0)
    position: dict[str, tuple[float, float]] = {}
    for index, layer in enumerate(layers):
        offset = (height - len(layer)) / 2  # centre short layers beside tall ones
        for order, node in enumerate(layer):
            position[node] = (index * x_gap, -(offset + order) * y_gap)
    nodes = {}
    for index, layer in enumerate(layers):
        for order, node in enumerate(n for n in layer if n in kinds):
            x, y = position[node]
            nodes[node] = GraphNode(node, kinds[node], labels[node], index, order, x, y)
    edges = [GraphEdge(u, v, data["label"], data["target_input"],
                       tuple(position[p] for p in (u, *chains[(u, v, key)], v)))
             for u, v, key, data in g.edges(keys=True, data=True)]
    real_layers = [[n for n in layer if n in kinds] for layer in layers]
    return PipelineGraph(nodes=nodes, edges=edges, layers=real_layers, crossings=crossings)


def _add_io(g: nx.MultiDiGraph, labels: dict[str, str], kinds: dict[str, str], node: str, label: str,
            kind: str) -> str:
    if node not in g:
        g.add_node(node)
        labels[node], kinds[node] = label, kind
    return node


def _refuse_cycles(g: nx.MultiDiGraph) -> None:
    try:
        cycle = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return
    path = [edge[0] for edge in cycle] + [cycle[0][0]]
    raise InvalidInput(
        f"The pipeline's steps form a cycle: {' -> '.join(path)}. A step can only read the outputs of steps "
        "that run before it; remove one of these bindings.")


def _assign_layers(g: nx.MultiDiGraph, kinds: Mapping[str, str]) -> dict[str, int]:
    layer_of = {node: index for index, generation in enumerate(nx.topological_generations(g))
                for node in generation}
    # A pipeline input sits just left of its first reader, not always at the far left.
    for node, kind in kinds.items():
        readers = list(g.successors(node))
        if kind == "input" and readers:
            layer_of[node] = min(layer_of[r] for r in readers) - 1
    # Keep columns dense from 0 (a pipeline whose inputs all moved right leaves no empty column).
    used = sorted(set(layer_of.values()))
    renumber = {layer: i for i, layer in enumerate(used)}
    return {node: renumber[layer] for node, layer in layer_of.items()}


def _with_virtual_nodes(g: nx.MultiDiGraph, layer_of: dict[str, int]
                        ) -> tuple[nx.DiGraph, dict[tuple[str, str, Any], list[str]]]:
    """A copy where every edge joins adjacent layers, through virtual nodes; each edge's chain of them."""
    h = nx.DiGraph()
    h.add_nodes_from(g.nodes)
    chains: dict[tuple[str, str, Any], list[str]] = {}
    for u, v, key in g.edges(keys=True):
        chain = [f"\0{u}\0{v}\0{key}\0{layer}" for layer in range(layer_of[u] + 1, layer_of[v])]
        for node, layer in zip(chain, range(layer_of[u] + 1, layer_of[v]), strict=True):
            layer_of[node] = layer
        path = [u, *chain, v]
        h.add_edges_from(zip(path, path[1:], strict=False))
        chains[(u, v, key)] = chain
    return h, chains


def _order_layers(h: nx.DiGraph, layer_of: Mapping[str, int], sweeps: int) -> list[list[str]]:
    count = max(layer_of.values(), default=-1) + 1
    # Start from the order a depth-first walk meets the nodes in: already close to crossing-free.
    seen: dict[str, int] = {}
    for start in sorted(h.nodes, key=lambda n: (h.in_degree(n) > 0, _natural(n))):
        for node in nx.dfs_preorder_nodes(h, start, sort_neighbors=lambda ns: sorted(ns, key=_natural)):
            seen.setdefault(node, len(seen))
    layers: list[list[str]] = [[] for _ in range(count)]
    for node in sorted(h.nodes, key=lambda n: seen[n]):
        layers[layer_of[node]].append(node)
    best, best_crossings = [list(layer) for layer in layers], count_crossings(layers, h)
    for _ in range(sweeps):
        if best_crossings == 0:
            break
        for index in range(1, count):  # left to right: order by where the readers' sources sit
            layers[index] = _by_barycenter(layers[index], layers[index - 1], h.predecessors)
        for index in range(count - 2, -1, -1):  # right to left: by where the targets sit
            layers[index] = _by_barycenter(layers[index], layers[index + 1], h.successors)
        crossings = count_crossings(layers, h)
        if crossings < best_crossings:
            best, best_crossings = [list(layer) for layer in layers], crossings
    return best


def _by_barycenter(layer: list[str], fixed: list[str], neighbours: Any) -> list[str]:
    place = {node: i for i, node in enumerate(fixed)}

    def key(item: tuple[int, str]) -> tuple[float, int]:
        index, node = item
        near = [place[n] for n in neighbours(node) if n in place]
        return (sum(near) / len(near) if near else float(index), index)

    return [node for _, node in sorted(enumerate(layer), key=key)]


def count_crossings(layers: Sequence[Sequence[str]], graph: Any) -> int:
    """How many pairs of edges cross between adjacent layers (``graph`` has every edge between adjacent layers)."""
    total = 0
    for left, right in zip(layers, layers[1:], strict=False):
        place_left = {n: i for i, n in enumerate(left)}
        place_right = {n: i for i, n in enumerate(right)}
        pairs = sorted((place_left[u], place_right[v]) for u in left for v in graph.successors(u) if v in place_right)
        for i, (a1, b1) in enumerate(pairs):
            for a2, b2 in pairs[i + 1:]:
                if a1 < a2 and b1 > b2:
                    total += 1
    return total


def _natural(name: str) -> tuple[Any, ...]:
    # "step10" after "step9": steps named in sequence keep that sequence top to bottom.
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))
