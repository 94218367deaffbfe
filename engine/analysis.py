"""Counting from the IR: per node, per block / stage rollups, totals. No tensors are allocated.

Returns plain data keyed by node name; formatting (tables, charts) lives in the CLI and the dashboard.
The counting rules per op (what a MAC is, which element-wise FLOPs count) are documented once, in
`engine.ops`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from engine.graph import Graph, infer_shapes
from engine.ops import Shape, get_op, numel

BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}


@dataclass
class NodeRow:
    name: str
    op: str
    kind: str
    inputs: list[str]
    out_shape: list[int]
    params: int
    macs: int
    flops: int
    role: str = ""


@dataclass
class GroupRow:
    name: str
    level: int  # 1 = stage (stem, stage1, head), 2 = block (stage1.block0), 3+ = inside a block
    params: int
    macs: int
    flops: int
    nodes: int


@dataclass
class Analysis:
    name: str
    family: str
    input_shape: list[int]
    output_shape: list[int]
    batch: int
    params: int
    trainable_params: int
    macs: int
    flops: int
    memory: dict[str, int]
    nodes: list[NodeRow] = field(default_factory=list)
    groups: list[GroupRow] = field(default_factory=list)

    @property
    def depth(self) -> int:
        """Weighted layers outside shortcut paths: convs and linears (how ResNet depth is counted: 6n + 2)."""
        return sum(1 for n in self.nodes if n.kind in ("conv", "linear") and n.role != "shortcut")

    def node(self, name: str) -> NodeRow:
        return next(n for n in self.nodes if n.name == name)

    def to_json(self) -> dict[str, Any]:
        """The CLI's JSON contract (DESIGN.md): name, family, shapes, counts, memory, nodes, groups."""
        out = asdict(self)
        out["depth"] = self.depth
        return out


def analyze(graph: Graph, *, batch: int = 1, dtype: str = "float32") -> Analysis:
    """Per-node and rolled-up params, MACs and forward FLOPs (MACs and FLOPs are per batch of `batch`)."""
    shapes = infer_shapes(graph)
    rows: list[NodeRow] = []
    for node in graph.compute_nodes():
        op = get_op(node.op)
        ins: list[Shape] = [shapes[s] for s in node.inputs]
        out = shapes[node.name]
        params = op.params(ins, node.args)
        macs = op.macs(ins, out, node.args)
        flops = 2 * macs + op.flops(ins, out, node.args)
        rows.append(NodeRow(node.name, node.op, op.kind, list(node.inputs), list(out), params,
                            macs * batch, flops * batch, node.meta.get("role", "")))
    groups = []
    for prefix in graph.groups():
        members = [r for r in rows if r.name.startswith(prefix + ".")]
        groups.append(GroupRow(prefix, prefix.count(".") + 1, sum(r.params for r in members),
                               sum(r.macs for r in members), sum(r.flops for r in members), len(members)))
    params = sum(r.params for r in rows)
    width = BYTES[dtype]
    memory = {
        "params_bytes": params * width,
        # Every node's output at this batch: an upper bound on forward activations (inference keeps fewer).
        "activations_bytes": sum(numel(tuple(r.out_shape)) for r in rows) * batch * width,
        "input_bytes": numel(tuple(graph.input_shape)) * batch * width,
    }
    return Analysis(graph.name, graph.family, list(graph.input_shape), list(shapes[graph.output]), batch,
                    params, params, sum(r.macs for r in rows), sum(r.flops for r in rows), memory, rows, groups)
