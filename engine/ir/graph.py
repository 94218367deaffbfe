"""The graph IR: named nodes, their inputs and op args, topological order and shape inference.

Node names are hierarchical and stable (``stage2.block0.conv1``): blocks and stages are name prefixes,
so every statistic rolls up per block and stage, and names equal the built model's submodule names
(and therefore its ``state_dict`` keys).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from engine.core.errors import ShapeError, SpecError
from engine.core.limits import check_node_count
from engine.ir.ops import Shape, get_op, validate_args

INPUT = "input"
_COMPONENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A submodule may not shadow an nn.Module attribute (``forward``, ``train``, ``to`` ...).
_RESERVED = {name for name in dir(nn.Module) if not name.startswith("__")} | {"input"}


@dataclass
class Node:
    name: str
    op: str
    inputs: tuple[str, ...]
    args: dict[str, Any] = field(default_factory=dict)
    # role ("branch" | "shortcut" | "merge" | ...), block/stage, input_labels, hint, zero_init ...
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """A DAG of nodes. Insertion order is a valid topological order once `validate` has run."""

    input_shape: Shape
    name: str = ""
    family: str = ""
    init: str = "torchvision"  # an entry of engine.build.INIT_SCHEMES
    input_kind: str = "float"  # "float" images / vectors, or "tokens" (int64 ids)
    nodes: dict[str, Node] = field(default_factory=dict)
    output: str = ""

    def __post_init__(self) -> None:
        if INPUT not in self.nodes:
            self.nodes[INPUT] = Node(INPUT, "input", ())

    # ---- construction ----------------------------------------------------------------------------

    def add(self, name: str, op: str, inputs: str | list[str] | tuple[str, ...],
            meta: dict[str, Any] | None = None, **args: Any) -> str:
        """Add a node and return its name, so expansions read as a chain of calls."""
        if name in self.nodes:
            raise SpecError(name, "a node with this name already exists; node names must be unique")
        check_node_count(len(self.nodes), name)  # a 1e9-block spec stops here, not in the OOM killer
        check_name(name)
        ins = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        op_def = get_op(op)
        self.nodes[name] = Node(name, op, ins, validate_args(op_def, args, name), dict(meta or {}))
        self.output = name
        return name

    def remove(self, name: str) -> None:
        del self.nodes[name]

    # ---- queries ------------------------------------------------------------------------------------

    def consumers(self, name: str) -> list[str]:
        return [n.name for n in self.nodes.values() if name in n.inputs]

    def compute_nodes(self) -> list[Node]:
        """Every node but the input, in topological order."""
        return [self.nodes[n] for n in self.topo_order() if n != INPUT]

    def topo_order(self) -> list[str]:
        """Kahn's algorithm, stable with respect to insertion order; a cycle or a dangling input is an error."""
        for node in self.nodes.values():
            for src in node.inputs:
                if src not in self.nodes:
                    raise ShapeError(node.name, f"input {src!r} is not a node of the graph",
                                     hint="check the spelling; nodes: " + ", ".join(list(self.nodes)[:8]) + " ...")
        indegree = {name: len(node.inputs) for name, node in self.nodes.items()}
        users: dict[str, list[str]] = {name: [] for name in self.nodes}
        for node in self.nodes.values():
            for src in node.inputs:
                users[src].append(node.name)
        ready = [name for name, deg in indegree.items() if deg == 0]
        order: list[str] = []
        while ready:
            name = ready.pop(0)
            order.append(name)
            for user in users[name]:
                indegree[user] -= 1
                if indegree[user] == 0:
                    ready.append(user)
        if len(order) != len(self.nodes):
            stuck = next(n for n in self.nodes if n not in order)
            raise ShapeError(stuck, "is part of a cycle; a skip edge must go from an earlier node to a later one",
                             hint="reverse the edge or pick a later target")
        return order

    def groups(self) -> list[str]:
        """Stage and block prefixes, in depth order: ``stem``, ``stage1``, ``stage1.block0`` ..."""
        seen: dict[str, None] = {}
        for node in self.compute_nodes():
            parts = node.name.split(".")
            for depth in range(1, len(parts)):
                seen.setdefault(".".join(parts[:depth]), None)
        return list(seen)

    def group_output(self, prefix: str) -> str:
        """The last node (in depth order) whose name has this prefix: a block's or stage's output."""
        names = [n for n in self.topo_order() if n == prefix or n.startswith(prefix + ".")]
        if not names:
            raise SpecError(prefix, "no node or block of this name; valid blocks: " + ", ".join(self.groups()[:12]))
        return names[-1]


def check_name(name: str) -> None:
    parts = name.split(".")
    for part in parts:
        if not _COMPONENT.match(part) or keyword.iskeyword(part):
            raise SpecError(name, "node names are dot-separated identifiers like 'stage1.block0.conv1'")
        if part in _RESERVED:
            raise SpecError(name, f"{part!r} is reserved by torch.nn.Module; rename the node")


def infer_shapes(graph: Graph) -> dict[str, Shape]:
    """Shape of every node (no batch dimension), in topological order. Raises ShapeError naming the node."""
    order = graph.topo_order()
    _check_prefix_clash(graph)
    shapes: dict[str, Shape] = {INPUT: tuple(graph.input_shape)}
    for name in order:
        node = graph.nodes[name]
        if name == INPUT:
            continue
        op = get_op(node.op)
        n = len(node.inputs)
        if n < op.min_inputs or (op.max_inputs is not None and n > op.max_inputs):
            want = f"{op.min_inputs}" if op.max_inputs == op.min_inputs else f"at least {op.min_inputs}"
            raise ShapeError(name, f"op {node.op!r} takes {want} input(s), got {n}", expected=want, received=n)
        shapes[name] = tuple(op.shape(name, [shapes[s] for s in node.inputs], node.args, node.meta))
    if graph.output not in shapes:
        raise ShapeError(graph.output or "output", "the output is not a node of the graph")
    return shapes


def _check_prefix_clash(graph: Graph) -> None:
    """A node cannot both be a module and contain other modules (``a.b`` as a leaf and ``a.b.c``)."""
    module_names = {n.name for n in graph.nodes.values() if get_op(n.op).module is not None}
    for name in module_names:
        parts = name.split(".")
        for depth in range(1, len(parts)):
            prefix = ".".join(parts[:depth])
            if prefix in module_names:
                raise SpecError(name, f"{prefix!r} is a layer, so it cannot also be a group of layers; rename one")
