"""The graph IR: named nodes, their inputs and op args, their stage and block, topological order and shapes.

Node names are hierarchical and stable (``stage2.block0.conv1``) and equal the built model's submodule
names (and therefore its ``state_dict`` keys). Stages and blocks are facts of the IR, not of the names:
the family's expander sets each node's ``stage`` and ``block`` (`Graph.scope`), edits keep them, and every
rollup (analysis groups, tables, CSVs, diffs, gradient rollups, drawings, lesions) reads them through one
function, `group_of`. A node in no block rolls up into its stage; a node in no stage (a hand-written graph
node without one) is a group of its own.
"""

from __future__ import annotations

import keyword
import re
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.core.errors import ShapeError, SpecError
from engine.core.limits import check_node_count
from engine.ir.ops import Shape, get_op, validate_args
from engine.ir.reserved import RESERVED

INPUT = "input"
_COMPONENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A submodule may not shadow an attribute of the built model (``forward``, ``training``, ``graph`` ...).
RESERVED_NAMES = RESERVED

Level = Literal["stage", "block"]
LEVELS: tuple[Level, ...] = ("stage", "block")


@dataclass
class Node:
    name: str
    op: str
    inputs: tuple[str, ...]
    args: dict[str, Any] = field(default_factory=dict)
    # role ("branch" | "shortcut" | "merge" | ...), input_labels, main, hint, zero_init ...
    meta: dict[str, Any] = field(default_factory=dict)
    stage: str = ""  # "stem", "stage2", "encoder", "head" ... ("" : none)
    block: str = ""  # the block inside the stage: "stage2.block0", "enc3", "layer7" ("": directly in the stage)

    def group(self, level: Level) -> str:
        return group_of(self.name, self.stage, self.block, level)


def group_of(name: str, stage: str, block: str, level: Level) -> str:
    """THE rollup rule: the group a node (or a node's row, which carries the same three fields) counts in.

    ``stage``: its stage. ``block``: its block, or its stage when it sits directly in one (stem, head,
    transitions). Either way a node in no stage is a group of its own, so every rollup sums to the totals.
    """
    if level == "block" and block:
        return block
    return stage or name


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
    # (stage, block) given to nodes added without their own: set by `scope` while an expander works
    current_scope: tuple[str, str] = field(default=("", ""), repr=False, compare=False)

    def __post_init__(self) -> None:
        if INPUT not in self.nodes:
            self.nodes[INPUT] = Node(INPUT, "input", ())

    # ---- construction ----------------------------------------------------------------------------

    @contextmanager
    def scope(self, stage: str, block: str = "") -> Iterator[None]:
        """Nodes added inside belong to `stage` and `block` (unless `add` is told otherwise)."""
        saved = self.current_scope
        self.current_scope = (stage, block)
        try:
            yield
        finally:
            self.current_scope = saved

    def add(self, name: str, op: str, inputs: str | list[str] | tuple[str, ...],
            meta: dict[str, Any] | None = None, *, stage: str | None = None, block: str | None = None,
            **args: Any) -> str:
        """Add a node and return its name, so expansions read as a chain of calls. Its stage and block are
        the current `scope`'s unless given."""
        if name in self.nodes:
            raise SpecError(name, "a node with this name already exists; node names must be unique")
        check_node_count(len(self.nodes), name)  # a 1e9-block spec stops here, not in the OOM killer
        check_name(name)
        ins = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        op_def = get_op(op)
        scope_stage, scope_block = self.current_scope
        self.nodes[name] = Node(name, op, ins, validate_args(op_def, args, name), dict(meta or {}),
                                scope_stage if stage is None else stage, scope_block if block is None else block)
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
        ready = deque(name for name, deg in indegree.items() if deg == 0)
        order: list[str] = []
        while ready:
            name = ready.popleft()
            order.append(name)
            for user in users[name]:
                indegree[user] -= 1
                if indegree[user] == 0:
                    ready.append(user)
        if len(order) != len(self.nodes):
            done = set(order)
            stuck = next(n for n in self.nodes if n not in done)
            raise ShapeError(stuck, "is part of a cycle; a skip edge must go from an earlier node to a later one",
                             hint="reverse the edge or pick a later target")
        return order

    def groups(self, level: Level | None = None) -> list[str]:
        """Group names in depth order: stages and blocks (``stem``, ``stage1``, ``stage1.block0`` ...), or the
        groups of one level as `group_of` defines them (every node in exactly one)."""
        seen: dict[str, None] = {}
        for node in self.compute_nodes():
            if level is not None:
                seen.setdefault(node.group(level), None)
                continue
            for g in (node.stage, node.block):
                if g:
                    seen.setdefault(g, None)
        return list(seen)

    def members(self, group: str) -> list[str]:
        """The nodes of a stage or block, in topological order (empty when no such group)."""
        return [n for n in self.topo_order() if group in (self.nodes[n].stage, self.nodes[n].block)]

    def group_output(self, group: str) -> str:
        """A node's own name, or the last node (in depth order) of a stage or block: its output."""
        if group in self.nodes:
            return group
        names = self.members(group)
        if not names:
            raise SpecError(group, "no node or block of this name; valid blocks: " + ", ".join(self.groups()[:12]))
        return names[-1]


def check_name(name: str) -> None:
    """A node name: dot-separated ASCII identifiers, none a keyword, none starting with ``_`` (torch's private
    attributes) and none an attribute of the built model (`RESERVED_NAMES`)."""
    parts = name.split(".") if isinstance(name, str) else [""]
    for part in parts:
        if not _COMPONENT.fullmatch(part) or keyword.iskeyword(part):  # fullmatch: "$" would accept "conv\n"
            raise SpecError(name, "node names are dot-separated identifiers like 'stage1.block0.conv1'")
        if part.startswith("_"):
            raise SpecError(name, f"{part!r}: a name starting with '_' is reserved for torch's own attributes; "
                                         f"rename the node (e.g. {part.lstrip('_') or 'layer'!r})")
        if part in RESERVED_NAMES:
            raise SpecError(name, f"{part!r} is reserved: every built model (torch.nn.Module, torch.fx."
                                         f"GraphModule) has an attribute of that name; rename the node (e.g. "
                                         f"{part + '_layer'!r})")


def infer_shapes(graph: Graph) -> dict[str, Shape]:
    """Shape of every node (no batch dimension), in topological order. Raises ShapeError naming the node."""
    order = graph.topo_order()
    _check_prefix_clash(graph)
    shapes: dict[str, Shape] = {INPUT: tuple(graph.input_shape)}
    for name in order:
        if name != INPUT:
            shapes[name] = node_shape(graph.nodes[name], [shapes[s] for s in graph.nodes[name].inputs])
    if graph.output not in shapes:
        raise ShapeError(graph.output or "output", "the output is not a node of the graph")
    return shapes


def node_shape(node: Node, in_shapes: list[Shape]) -> Shape:
    """One node's output shape from its inputs' shapes (ShapeError naming the node when they do not fit)."""
    op = get_op(node.op)
    n = len(in_shapes)
    if n < op.min_inputs or (op.max_inputs is not None and n > op.max_inputs):
        want = f"{op.min_inputs}" if op.max_inputs == op.min_inputs else f"at least {op.min_inputs}"
        raise ShapeError(node.name, f"op {node.op!r} takes {want} input(s), got {n}", expected=want, received=n)
    return tuple(op.shape(node.name, in_shapes, node.args, node.meta))


def _check_prefix_clash(graph: Graph) -> None:
    """A node cannot both be a module and contain other modules (``a.b`` as a leaf and ``a.b.c``)."""
    module_names = {n.name for n in graph.nodes.values() if get_op(n.op).module is not None}
    for name in module_names:
        parts = name.split(".")
        for depth in range(1, len(parts)):
            prefix = ".".join(parts[:depth])
            if prefix in module_names:
                raise SpecError(name, f"{prefix!r} is a layer, so it cannot also be a group of layers; rename one")
