"""The graph view's model: an engine Graph + its Analysis (+ per-layer run statistics) as the plain JSON the graph
component (`dashboard.graph_view`) draws. Pure Python, no Streamlit: every preset's model is checked in tests.

The JSON (ids are unique across nodes and groups; names are data, drawn as text):

- ``nodes``: one per IR node: ``id`` (= the node name), ``name``, ``label`` (the name inside its group), ``op``,
  ``kind``, ``colour`` (by op kind), ``parent`` (a group id or None), ``role``, ``in_shapes``, ``out_shape``,
  ``params``, ``macs``, ``flops``, ``out_bytes``, ``saved_bytes`` (batch 1, float32), ``error``, ``frozen``,
  ``stats`` (the
  run's per-layer statistics at the chosen step), ``value`` / ``value_colour`` (the painted statistic).
- ``groups``: stages and blocks (`node_groups`): ``id`` (``group:`` + name), ``name``, ``label``, ``parent``,
  ``level`` (1 stage, 2 block), ``nodes``, ``params``, ``macs``, ``flops``, ``collapsed`` (the default view),
  ``value`` / ``value_colour``.
- ``edges``: ``id``, ``source``, ``target``, ``label`` (the tensor shape), ``kind`` (``flow``; ``skip``: into a
  merge other than its main input, or along a shortcut path; ``dense``: features a layer receives through a chain
  of concatenations; ``error``: the edit that does not fit), ``merge`` (the merge node a skip feeds: the target of
  ``remove_skip`` / ``set_merge``), ``edit`` (index of the add_skip that made it), ``layout`` (False for overlays
  drawn as arcs over the layout: dense provenance and error edges).
- ``meta``: ``name``, ``family``, ``graph_family``, ``error``, ``legend`` (the painted statistic's scale),
  ``readonly`` (no drawing: a run's architecture on the Train page).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from dashboard.colours import ERROR_COLOUR, VIRIDIS, viridis
from engine.api import INPUT, Analysis, Graph, Node, SkipLabError, kind_colour, numel, op_kind

GROUP_PREFIX = "group:"
EXPAND_ALL_UP_TO = 60  # nodes: a small net is shown whole
EXPAND_STAGES_UP_TO = 80  # boxes: stages open with their blocks folded while that stays readable
CONCAT_OPS = ("concat", "concat_last")
MAX_MESSAGE = 240  # characters of an error message drawn on the graph (the page shows it whole)
FLOAT_BYTES = 4


def node_groups(graph: Graph) -> dict[str, tuple[str | None, str | None]]:
    """The (stage, block) of every node, as the IR records them (`Node.stage`, `Node.block`); None where it has
    none (the input, a top-level node of a graph spec, a stem or head node directly in its stage)."""
    return {name: (node.stage or None, node.block or None) for name, node in graph.nodes.items()}


def group_id(name: str) -> str:
    return GROUP_PREFIX + name


def _kind(op: str) -> str:
    return op_kind(op)


def _fmt_shape(shape: list[int] | tuple[int, ...] | None) -> str:
    return "×".join(str(int(d)) for d in shape) if shape else ""


def _main_input(node: Node) -> int:
    return int(node.meta.get("main", 0))


def _is_skip_input(graph: Graph, node: Node, index: int) -> bool:
    """An input that is not the main path: into a merge other than its main input, or along a shortcut path."""
    if node.meta.get("role") == "shortcut":
        return True
    return _kind(node.op) == "merge" and index != _main_input(node)


def _merge_fed(graph: Graph, name: str, consumers: Mapping[str, list[str]]) -> str | None:
    """The merge node a shortcut path ends in (following shortcut-role nodes forward)."""
    seen = set()
    while name not in seen:
        seen.add(name)
        node = graph.nodes[name]
        if _kind(node.op) == "merge":
            return name
        if node.meta.get("role") != "shortcut" or not consumers.get(name):
            return None
        name = consumers[name][0]
    return None


def default_collapsed(graph: Graph, groups: Mapping[str, tuple[str | None, str | None]]) -> set[str]:
    """Group names folded in the first view: none for a small net; the blocks when the stages then fit; else
    the stages too (their blocks are folded inside them)."""
    n = len(graph.nodes)
    blocks = {b for _, b in groups.values() if b}
    stages = {s for s, _ in groups.values() if s}
    if n <= EXPAND_ALL_UP_TO:
        return set()
    boxes = sum(1 for _, b in groups.values() if not b) + len(blocks)
    if boxes <= EXPAND_STAGES_UP_TO:
        return blocks
    return blocks | stages


def _aggregate(stat: str, values: list[float]) -> float | None:
    """A group's statistic from its layers': norms add in quadrature (the norm of the group's whole gradient),
    maxima take the max, the rest the mean."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None
    if stat.endswith("_norm"):
        return math.sqrt(sum(v * v for v in vals))
    if stat.endswith("_max_abs"):
        return max(vals)
    return sum(vals) / len(vals)


def _dense_edges(graph: Graph, order: list[str], shapes: Mapping[str, list[int]]) -> list[dict[str, Any]]:
    """Features a layer receives through a chain of concatenations (DenseNet's x_l = H([x_0, ..., x_{l-1}]),
    Huang et al. 2017, eq. 2): the IR concatenates step by step, so each earlier layer reaches every later one
    through the chain. Drawn as overlay arcs so dense connectivity looks dense; the direct inputs of the last
    concat are already drawn as edges."""
    sources: dict[str, list[str]] = {}
    for name in order:
        node = graph.nodes[name]
        if node.op in CONCAT_OPS:
            merged: dict[str, None] = {}
            for s in node.inputs:
                for f in sources.get(s, [s]):
                    merged[f] = None
            sources[name] = list(merged)
    edges = []
    for name in order:
        node = graph.nodes[name]
        if node.op in CONCAT_OPS:
            continue
        for x in dict.fromkeys(node.inputs):
            if x not in sources:
                continue
            direct = {s for s in graph.nodes[x].inputs if s not in sources}
            for f in sources[x]:
                if f not in direct:
                    edges.append({"id": f"{f}=>{name}", "source": f, "target": name, "kind": "dense",
                                  "label": _fmt_shape(shapes.get(f)), "merge": None, "edit": None, "layout": False})
    return edges


def graph_model(graph: Graph, analysis: Analysis | None = None, *,
                stats: Mapping[str, Mapping[str, float]] | None = None, stat: str = "grad_norm",
                step: int | None = None, error_node: str = "", error_edge: tuple[str, str, str] | None = None,
                error: str = "", edit_merges: Mapping[str, int] | None = None,
                readonly: bool = False, frozen: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """The component's JSON for a graph (see the module docstring).

    `stats`: node name -> {statistic: value} at `step` (a run's per-layer statistics); `stat` is the one painted.
    `error_node` is drawn red; `error_edge` = (from, to, message) is a red arc for an edit that does not fit
    (endpoints: node or group names). `edit_merges`: merge node -> index of the add_skip edit that made it.
    `readonly`: drawn to be looked at (a run's architecture): no handles to drag, no edge menus. `frozen`: layers
    a fine-tuning run froze (no gradient by design), drawn hatched."""
    groups_of = node_groups(graph)
    try:
        order = graph.topo_order()
    except SkipLabError:  # a drawing of a broken graph (a cycle, a dangling input) still draws
        order = list(graph.nodes)
    rows = {r.name: r for r in analysis.nodes} if analysis else {}
    shapes: dict[str, list[int]] = {INPUT: list(graph.input_shape)}
    shapes.update({name: list(r.out_shape) for name, r in rows.items()})
    consumers: dict[str, list[str]] = {}
    for name in order:
        for s in graph.nodes[name].inputs:
            consumers.setdefault(s, []).append(name)
    stats = stats or {}
    edit_merges = edit_merges or {}

    groups: dict[str, dict[str, Any]] = {}

    def add_group(name: str, parent: str | None, level: int) -> str:
        gid = group_id(name)
        if gid not in groups:
            label = name[len(parent) + 1:] if parent and name.startswith(parent + ".") else name
            groups[gid] = {"id": gid, "name": name, "label": label, "parent": group_id(parent) if parent else None,
                           "level": level, "nodes": 0, "params": 0, "macs": 0, "flops": 0, "collapsed": False,
                           "value": None, "value_colour": None, "_values": []}
        return gid

    nodes = []
    for name in order:
        node = graph.nodes[name]
        stage, block = groups_of.get(name, (None, None))
        parent = None
        if stage:
            parent = add_group(stage, None, 1)
        if block:
            parent = add_group(block, stage, 2 if stage else 1)
        owner = block or stage
        row = rows.get(name)
        kind = _kind(node.op)
        out_shape = shapes.get(name)
        node_stats = {k: float(v) for k, v in (stats.get(name) or {}).items() if v is not None}
        nodes.append({
            "id": name, "name": name,
            "label": name[len(owner) + 1:] if owner and name.startswith(owner + ".") else name,
            "op": node.op, "kind": kind, "colour": ERROR_COLOUR if name == error_node else kind_colour(kind),
            "parent": parent, "role": node.meta.get("role", ""),
            "inputs": list(node.inputs), "in_shapes": [shapes.get(s) for s in node.inputs], "out_shape": out_shape,
            "params": row.params if row else 0, "macs": row.macs if row else 0, "flops": row.flops if row else 0,
            "out_bytes": numel(tuple(out_shape)) * FLOAT_BYTES if out_shape else 0,
            "saved_bytes": row.saved_bytes if row else 0,
            "error": name == error_node, "frozen": name in frozen, "stats": node_stats, "value": node_stats.get(stat),
            "value_colour": None,
        })
        chain = [g for g in (group_id(stage) if stage else None, group_id(block) if block else None) if g]
        for gid in chain:
            g = groups[gid]
            g["nodes"] += 1
            if row:
                g["params"] += row.params
                g["macs"] += row.macs
                g["flops"] += row.flops
            if stat in node_stats:
                g["_values"].append(node_stats[stat])

    _drop_single_node_groups(nodes, groups)
    folded = default_collapsed(graph, groups_of)
    for g in groups.values():
        g["collapsed"] = g["name"] in folded
        g["value"] = _aggregate(stat, g.pop("_values"))

    edges = []
    for name in order:
        node = graph.nodes[name]
        for j, src in enumerate(node.inputs):
            if src not in graph.nodes:
                continue
            skip = _is_skip_input(graph, node, j)
            merge = (name if _kind(node.op) == "merge" else _merge_fed(graph, name, consumers)) if skip else None
            edges.append({"id": f"{src}->{name}#{j}", "source": src, "target": name, "kind": "skip" if skip else "flow",
                          "label": _fmt_shape(shapes.get(src)), "merge": merge,
                          "edit": edit_merges.get(merge) if merge else None, "layout": True})
    edges += _dense_edges(graph, order, shapes)
    if error_edge:
        src, dst, message = error_edge
        ends = [_endpoint(graph, groups, ref) for ref in (src, dst)]
        if all(ends):
            edges.append({"id": "error-edge", "source": ends[0], "target": ends[1], "kind": "error",
                          "label": _bounded(message), "merge": None, "edit": None, "layout": False})

    legend = _paint(nodes, list(groups.values()), stat, step)
    return {
        "nodes": nodes, "groups": list(groups.values()), "edges": edges,
        "meta": {"name": graph.name, "family": graph.family, "graph_family": graph.family == "graph",
                 "error": _bounded(error), "error_node": error_node, "legend": legend, "readonly": readonly},
    }


def _drop_single_node_groups(nodes: list[dict], groups: dict[str, dict]) -> None:
    """A group of one node (U-Net's ``up4.conv``, a head of one linear) adds a frame and nothing else: its node
    moves up to the group's parent."""
    has_child = {g["parent"] for g in groups.values() if g["parent"]}
    lonely = {gid for gid, g in groups.items() if g["nodes"] == 1 and gid not in has_child}
    for n in nodes:
        if n["parent"] in lonely:
            g = groups[n["parent"]]
            n["parent"] = g["parent"]
            owner = groups[g["parent"]]["name"] if g["parent"] else ""
            n["label"] = n["name"][len(owner) + 1:] if owner and n["name"].startswith(owner + ".") else n["name"]
    for gid in lonely:
        del groups[gid]


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


def _endpoint(graph: Graph, groups: Mapping[str, dict], ref: str) -> str | None:
    """A drawn element for an edit's `from` / `to`: the node, or the group of that name."""
    if ref in graph.nodes:
        return ref
    return group_id(ref) if group_id(ref) in groups else None


def _paint(nodes: list[dict], groups: list[dict], stat: str, step: int | None) -> dict[str, Any] | None:
    """Colour nodes and groups by the statistic on one log10 scale (gradients span decades); None if unpainted."""
    values = [x["value"] for x in nodes + groups if x["value"] is not None and x["value"] > 0]
    if not values:
        return None
    lo, hi = math.log10(min(values)), math.log10(max(values))
    span = hi - lo or 1.0
    for x in nodes + groups:
        v = x["value"]
        if v is not None and v > 0:
            x["value_colour"] = viridis((math.log10(v) - lo) / span)
    return {"stat": stat, "step": step, "min": min(values), "max": max(values), "colours": VIRIDIS}


def raw_graph(spec: Mapping[str, Any]) -> Graph:
    """A `graph` spec's nodes as an unvalidated Graph, to draw a spec that does not build yet (no nodes, a node
    without inputs, an unknown op): names, ops and wires only."""
    shape = spec.get("input")
    shape = tuple(int(d) for d in shape if isinstance(d, int)) if isinstance(shape, list) else ()
    g = Graph(shape or (1,), name=str(spec.get("name") or ""), family="graph")
    for item in spec.get("nodes") or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or item["name"] in g.nodes:
            continue
        ins = item.get("in", [INPUT])
        ins = [ins] if isinstance(ins, str) else [s for s in ins if isinstance(s, str)] if isinstance(ins, list) else []
        g.nodes[item["name"]] = Node(item["name"], str(item.get("op", "")), tuple(ins))
    for node in g.nodes.values():  # wires to nodes that do not exist are not drawn
        node.inputs = tuple(s for s in node.inputs if s in g.nodes)
    return g
