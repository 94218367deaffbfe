"""The body of the exported ``forward``: one line per node, with variables named so skips read as Python.

Naming rules (a linear scan with liveness, like a register allocator):

- A node's output goes to the variable its role prefers: the residual branch flows in ``out``, the
  shortcut in ``shortcut``, a highway gate in ``gate``, everything else (stem, merges, head) in ``x``,
  so a block reads like torchvision's BasicBlock (``x = out + shortcut``).
- A variable is reused once the value it holds is dead (its last reader has run); otherwise the node
  updates its first input in place when that input is dead, or takes a fresh ``out2``-style name.
- A value also read by a distant group (a U-Net long skip, a skip added by an edit) is kept under the
  name of the group that made it (``enc1 = x  # kept for dec1``), so the distant merge names its source.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable

from engine.export.codecheck import attr_path
from engine.export.codecheck import comment as comment_text
from engine.export.emitters import Emitter
from engine.ir.graph import INPUT, Graph, Node
from engine.ir.ops import get_op

_ROLE_VARS = {"branch": "out", "shortcut": "shortcut"}
TAKEN = {"self", "torch", "nn", "F", "math", "typing", "INPUT_SHAPE", "VOCAB"}
INDENT = " " * 8


def _group(name: str) -> str:
    return name.rpartition(".")[0]


def _within(group: str, outer: str) -> bool:
    return group == outer or group.startswith(outer + ".")


class _Vars:
    def __init__(self, nodes: list[Node], output: str) -> None:
        self.pos = {n.name: i for i, n in enumerate(nodes)}
        self.readers: dict[str, list[str]] = {}
        for node in nodes:
            for src in node.inputs:
                self.readers.setdefault(src, []).append(node.name)
        self.distant: dict[str, set[str]] = {}  # value -> readers that read it through its kept alias
        self.last_use: dict[str, int] = {}
        for src, readers in self.readers.items():
            near = _group(readers[0])
            far = {r for r in readers if src != INPUT and _group(src) and not _within(_group(r), _group(src))
                   and not _within(_group(r), near)}
            self.distant[src] = far
            self.last_use[src] = max(self.pos[r] for r in readers if r not in far)
            if far:
                self.last_use[src + "#kept"] = max(self.pos[r] for r in far)
        self.last_use[output] = len(nodes)
        self.holder: dict[str, str] = {"x": INPUT}  # variable -> the value it holds
        self.var_of: dict[str, str] = {INPUT: "x"}
        self.kept: dict[str, str] = {}

    def free(self, var: str, i: int) -> bool:
        value = self.holder.get(var)
        return var not in TAKEN and not keyword.iskeyword(var) and (
            value is None or self.last_use.get(value, -1) <= i)

    def fresh(self, base: str, i: int) -> str:
        if self.free(base, i):
            return base
        k = 2
        while not self.free(f"{base}{k}", i):
            k += 1
        return f"{base}{k}"

    def read(self, src: str, reader: str) -> str:
        return self.kept[src] if reader in self.distant.get(src, ()) else self.var_of[src]

    def assign(self, node: Node, i: int) -> str:
        var = "gate" if get_op(node.op).kind == "gate" else _ROLE_VARS.get(node.meta.get("role", ""), "x")
        if not self.free(var, i):
            first = self.var_of[node.inputs[0]] if node.inputs else None
            var = first if first and self.free(first, i) else self.fresh(var, i)  # in place, or a new name
        self.holder[var], self.var_of[node.name] = node.name, var
        return var

    def keep(self, node: Node, i: int) -> str | None:
        """The alias line for a value that a distant group reads, or None."""
        far = self.distant.get(node.name)
        if not far:
            return None
        alias = self.fresh(_group(node.name).replace(".", "_"), i)
        self.holder[alias], self.kept[node.name] = node.name + "#kept", alias
        groups = sorted({_group(r) or r for r in far}, key=lambda g: min(self.pos[r] for r in far if _group(r) == g))
        return f"{INDENT}{alias} = {self.var_of[node.name]}  # kept for the skip to {comment_text(', '.join(groups))}"


def forward_lines(graph: Graph, nodes: list[Node], emitters: dict[str, Emitter],
                  shape: Callable[[str], str]) -> list[str]:
    """The lines of ``forward`` after its signature, for `nodes` in reading order."""
    names = _Vars(nodes, graph.output)
    lines: list[str] = []
    group = None  # the block named in the last comment; its sub-groups (a shortcut) get none of their own
    for i, node in enumerate(nodes):
        node_group = _group(node.name)
        if group is None or not _within(node_group, group):
            group = node_group
            if group:
                lines.append(f"{INDENT}# {comment_text(group)}")
        inputs = [names.read(s, node.name) for s in node.inputs]
        expr = emitters[node.name].call_text(f"self.{attr_path(node.name)}", inputs, node.args)
        var = names.assign(node, i)
        comment = shape(node.name)
        labels = node.meta.get("input_labels")
        line = f"{INDENT}{var} = {expr}  # {comment}"
        if get_op(node.op).kind == "merge" and labels:
            described = f"{line}  skip: {comment_text(' + '.join(labels) if node.op == 'add' else ', '.join(labels))}"
            line = described if len(described) <= 120 else line  # keep the file within a 120-column lint
        lines.append(line)
        kept = names.keep(node, i)
        if kept:
            lines.append(kept)
    lines.append(f"{INDENT}return {names.var_of[graph.output]}")
    return lines
