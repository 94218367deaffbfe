"""Counting from the IR: per node, per block / stage rollups, totals. No tensors are allocated.

Returns plain data keyed by node name; formatting (tables, charts) lives in the CLI and the dashboard.
The counting rules per op are documented once: forward MACs and FLOPs in `engine.ir.ops`, backward FLOPs
and saved tensors in `engine.ir.ops.cost`. What this module adds is what belongs to the graph:

- which ops take part in the backward pass: a tensor needs a gradient when it depends on a parameter,
  so the ops before the first parameterised layer are not recorded at all and the first conv computes
  only its weight gradient (the data needs none);
- the gradient sum where a tensor feeds several consumers (the block input read by the residual
  branch and by the shortcut): autograd adds the incoming gradients, (k - 1) adds per element;
- deduplication of saved tensors: a ReLU's output is saved by the ReLU and by the next conv, but is
  stored once; view ops (flatten, identity) alias their input.

Training memory (`Analysis.memory`, bytes at `batch` and `dtype`): parameters, their gradients, the
optimizer state (SGD with momentum: one buffer per parameter; AdamW: exp_avg and exp_avg_sq, two),
and the activations autograd saves for backward. Model buffers (BN running statistics), the
allocator's slack and the framework's workspaces are not counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from engine.arch import SpecLike, expand, load_spec
from engine.core.errors import SpecError
from engine.ir.graph import INPUT, Graph, Level, group_of, infer_shapes
from engine.ir.ops import Shape, backward_of, get_op, numel, saved_of

BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
ROLES = ("branch", "shortcut", "merge", "other")


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
    backward_macs: int = 0  # products of the gradients this op computes (0 when not in the backward pass)
    backward_flops: int = 0  # 2 * backward_macs + element-wise work + the gradient sum of its fan-out
    saved_bytes: int = 0  # saved-for-backward bytes attributed to this node (its output, its extras)
    stage: str = ""  # the IR's stage and block of the node (engine.ir.graph.group_of rolls them up)
    block: str = ""

    def group(self, level: Level) -> str:
        return group_of(self.name, self.stage, self.block, level)


@dataclass
class GroupRow:
    name: str
    level: int  # 1 = stage (stem, stage1, head), 2 = block (stage1.block0, or a stage that holds no blocks)
    params: int
    macs: int
    flops: int
    nodes: int
    backward_flops: int = 0
    saved_bytes: int = 0
    shortcut_params: int = 0  # on nodes with role "shortcut" (projections, adapters), apart from the branch
    shortcut_macs: int = 0


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
    dtype: str = "float32"
    backward_macs: int = 0
    backward_flops: int = 0
    # role -> {"params", "macs", "flops", "nodes"}: shortcut paths reported apart from residual branches.
    attribution: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def depth(self) -> int:
        """Weighted layers outside shortcut paths: convs and linears (how ResNet depth is counted: 6n + 2)."""
        return sum(1 for n in self.nodes if n.kind in ("conv", "linear") and n.role != "shortcut")

    @property
    def training_flops(self) -> int:
        return self.flops + self.backward_flops

    def node(self, name: str) -> NodeRow:
        return next(n for n in self.nodes if n.name == name)

    def rollup(self, level: Level) -> list[GroupRow]:
        """Per-stage or per-block rows (a stage that holds no blocks counts as one block): each sums to the
        totals. What every table, CSV and diff of groups shows."""
        return rollup(self.nodes, level)

    def to_json(self) -> dict[str, Any]:
        """The CLI's JSON contract (DESIGN.md): name, family, shapes, counts, memory, nodes, groups."""
        out = asdict(self)
        out["depth"] = self.depth
        out["training_flops"] = self.training_flops
        return out


def dtype_bytes(dtype: str) -> int:
    try:
        return BYTES[dtype]
    except KeyError:
        raise SpecError("dtype", f"unknown dtype {dtype!r}; valid: {', '.join(BYTES)}") from None


def analyze(graph: Graph, *, batch: int = 1, dtype: str = "float32") -> Analysis:
    """Per-node and rolled-up params, MACs, forward and backward FLOPs and saved bytes (per batch of
    `batch`), and the training memory at `batch` and `dtype`."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch <= 0:
        raise SpecError("batch", f"must be a positive integer, got {batch!r}")
    width = dtype_bytes(dtype)
    shapes = infer_shapes(graph)  # in topological order: reuse it rather than sorting the graph again
    nodes = [graph.nodes[name] for name in shapes if name != INPUT]
    ops = {n.name: get_op(n.op) for n in nodes}

    # A tensor needs a gradient when it depends on a parameter (the input never does).
    needs_grad: dict[str, bool] = {INPUT: False}
    fan_out: dict[str, int] = {}  # gradient edges into each tensor
    root: dict[str, str] = {INPUT: INPUT}  # the tensor whose storage a node's output uses (views)
    rows: list[NodeRow] = []
    saved_roots: dict[str, None] = {}
    extra_saved: dict[str, int] = {}
    for node in nodes:
        op = ops[node.name]
        ins: list[Shape] = [shapes[s] for s in node.inputs]
        out = shapes[node.name]
        params = op.params(ins, node.args)
        macs = op.macs(ins, out, node.args)
        flops = 2 * macs + op.flops(ins, out, node.args)
        root[node.name] = root[node.inputs[0]] if op.view and node.inputs else node.name
        input_grad = any(needs_grad[s] for s in node.inputs)
        needs_grad[node.name] = input_grad or params > 0
        bwd_macs = bwd_flops = 0
        if needs_grad[node.name]:  # recorded by autograd
            b = backward_of(op, ins, out, node.args)
            bwd_macs = b.weight_macs + (b.input_macs if input_grad else 0)
            bwd_flops = 2 * bwd_macs + b.weight_flops + (b.input_flops if input_grad else 0)
            for s in node.inputs:
                if needs_grad[s]:
                    fan_out[s] = fan_out.get(s, 0) + 1
            sv = saved_of(op, ins, out, node.args)
            for i in sv.inputs:
                saved_roots.setdefault(root[node.inputs[i]], None)
            if sv.output:
                saved_roots.setdefault(root[node.name], None)
            extra = (sv.extra * width + sv.extra_bytes) * batch + sv.fixed_bytes
            if extra:
                extra_saved[node.name] = extra
        rows.append(NodeRow(node.name, node.op, op.kind, list(node.inputs), list(out), params, macs * batch,
                            flops * batch, node.meta.get("role", ""), bwd_macs * batch, bwd_flops * batch,
                            stage=node.stage, block=node.block))

    index = {r.name: r for r in rows}
    for name, k in fan_out.items():
        if k > 1 and name in index:  # autograd sums the k incoming gradients: (k - 1) adds per element
            index[name].backward_flops += (k - 1) * numel(shapes[name]) * batch
    input_width = 8 if graph.input_kind == "tokens" else width  # token ids are int64
    saved_input = 0
    for name in saved_roots:
        if name == INPUT:
            saved_input = numel(shapes[INPUT]) * batch * input_width
        else:
            index[name].saved_bytes += numel(shapes[name]) * batch * width
    for name, extra in extra_saved.items():
        index[name].saved_bytes += extra

    params = sum(r.params for r in rows)
    # Nodes marked frozen (meta["frozen"]: fine-tuning with early stages frozen) keep their parameters but
    # train none of them.
    trainable = sum(r.params for r in rows if not graph.nodes[r.name].meta.get("frozen"))
    saved = saved_input + sum(r.saved_bytes for r in rows)
    param_bytes = params * width
    memory = {
        "params_bytes": param_bytes,
        # Every node's output at this batch: an upper bound on forward activations (inference keeps fewer).
        "activations_bytes": sum(numel(tuple(r.out_shape)) for r in rows) * batch * width,
        "input_bytes": numel(tuple(graph.input_shape)) * batch * input_width,
        "inference_peak_bytes": _inference_peak(graph, nodes, shapes, ops, root, batch, width, input_width),
        "saved_activations_bytes": saved,
        "grads_bytes": param_bytes,
        "optimizer_sgd_momentum_bytes": param_bytes,
        "optimizer_adamw_bytes": 2 * param_bytes,
        "training_sgd_momentum_bytes": 3 * param_bytes + saved,
        "training_adamw_bytes": 4 * param_bytes + saved,
        # The headline figure: SGD with momentum, the optimizer of the ResNet papers.
        "training_bytes": 3 * param_bytes + saved,
    }
    return Analysis(graph.name, graph.family, list(graph.input_shape), list(shapes[graph.output]), batch,
                    params, trainable, sum(r.macs for r in rows), sum(r.flops for r in rows), memory, rows,
                    _groups(rows), dtype, sum(r.backward_macs for r in rows),
                    sum(r.backward_flops for r in rows), _attribution(rows))


def _inference_peak(graph: Graph, nodes: list, shapes: dict[str, Shape], ops: dict, root: dict[str, str],
                    batch: int, width: int, input_width: int) -> int:
    """Peak bytes of live activations in a forward pass without autograd: each tensor lives from its
    producer to its last consumer (topological order, no in-place reuse)."""
    last_use: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for s in node.inputs:
            last_use[root[s]] = i
    last_use[root[graph.output]] = len(nodes)
    live = peak = numel(shapes[INPUT]) * batch * input_width
    for i, node in enumerate(nodes):
        if root[node.name] == node.name:
            live += numel(shapes[node.name]) * batch * width
        peak = max(peak, live)
        for s in {root[s] for s in node.inputs}:
            if last_use.get(s) == i:
                live -= numel(shapes[s]) * batch * (input_width if s == INPUT else width)
    return peak


def rollup(rows: list[NodeRow], level: Level) -> list[GroupRow]:
    """Node rows summed per group of `level` (`engine.ir.graph.group_of`), in depth order. Every node counts
    in exactly one group, so the groups of either level sum to the model's totals."""
    groups: dict[str, GroupRow] = {}
    for r in rows:
        name = r.group(level)
        g = groups.get(name)
        if g is None:
            g = groups[name] = GroupRow(name, 2 if level == "block" and r.block else 1, 0, 0, 0, 0)
        g.params += r.params
        g.macs += r.macs
        g.flops += r.flops
        g.nodes += 1
        g.backward_flops += r.backward_flops
        g.saved_bytes += r.saved_bytes
        if r.role == "shortcut":
            g.shortcut_params += r.params
            g.shortcut_macs += r.macs
    return list(groups.values())


def _groups(rows: list[NodeRow]) -> list[GroupRow]:
    """Stages (level 1) and the blocks inside them (level 2), in depth order: stage1, stage1.block0, ..."""
    stages = {g.name: g for g in rollup(rows, "stage")}
    blocks = {g.name: g for g in rollup(rows, "block") if g.level == 2}
    out: dict[str, GroupRow] = {}
    for r in rows:
        stage = r.group("stage")
        out.setdefault(stage, stages[stage])
        if r.block:
            out.setdefault(r.block, blocks[r.block])
    return list(out.values())


def _attribution(rows: list[NodeRow]) -> dict[str, dict[str, int]]:
    out = {role: {"params": 0, "macs": 0, "flops": 0, "nodes": 0} for role in ROLES}
    for r in rows:
        slot = out[r.role if r.role in ROLES else "other"]
        slot["params"] += r.params
        slot["macs"] += r.macs
        slot["flops"] += r.flops
        slot["nodes"] += 1
    return out


def summarize(spec: SpecLike, *, batch: int = 1, input_shape: list[int] | None = None,
              dtype: str = "float32") -> Analysis:
    """A preset name, spec file, dict or spec -> its analysis (the public API's `summarize`)."""
    return analyze(expand(load_spec(spec, input_shape=input_shape)), batch=batch, dtype=dtype)
