"""A graph under edit, with the indexes that make each edit cost about its own size instead of the graph's.

`engine.ir.edits` once re-inferred every shape, re-sorted the graph and scanned every node name for each edit,
so a few thousand edits took minutes (quadratic; issue 14). `EditableGraph` keeps, next to the graph:

- ``users``: each node's consumers (``Graph.consumers`` scans every node);
- ``shapes``: every node's shape, refreshed after an edit from the nodes it changed, in topological order,
  stopping where shapes no longer change (an ``add`` merge keeps its target's shape: nothing downstream moves);
- ``pos``: a topological position per node, spaced so a new node fits between its inputs and its users; when
  a gap is used up (or an edit joins parallel branches) the positions are renumbered from ``topo_order`` (O(n),
  rare). A node's ancestors all sit before it, so "is `a` an ancestor of `b`" only searches positions >= a's;
- ``members``: the nodes of each stage and block of the IR (``stage1``, ``stage1.block0``), for resolving the
  blocks an edit names; ``prefixes``: the nodes under each name prefix, for keeping module paths unique.
"""

from __future__ import annotations

import heapq
from typing import Any

from engine.ir.graph import INPUT, Graph, infer_shapes, node_shape
from engine.ir.ops import Shape

GAP = 1 << 40  # between neighbours after a renumbering: ~40 insertions at one spot before the next one


def prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:d]) for d in range(1, len(parts))]


class EditableGraph:
    def __init__(self, g: Graph) -> None:
        self.g = g
        self.shapes: dict[str, Shape] = infer_shapes(g)  # the family's own graph must fit before an edit is blamed
        self.users: dict[str, dict[str, None]] = {n: {} for n in g.nodes}
        self.members: dict[str, dict[str, None]] = {}  # stage or block -> its nodes
        self._groups: dict[str, list[str]] = {}  # node -> its stage and block
        self.prefixes: dict[str, dict[str, None]] = {}  # name prefix -> the nodes under it
        for node in g.nodes.values():
            for src in node.inputs:
                self.users[src][node.name] = None
            self._index(node.name)
        self.pos: dict[str, int] = {}
        self.renumber()
        self.pending: dict[str, None] = {}  # nodes changed by the current edit, whose shapes are stale
        self.new: list[str] = []  # nodes added by the current edit, in creation order

    # ---- queries ----------------------------------------------------------------------------------------

    def consumers(self, name: str) -> list[str]:
        return list(self.users.get(name, ()))

    def has_name_prefix(self, prefix: str) -> bool:
        """Whether some node's name starts with ``prefix.`` (a new node may not be named ``prefix`` then)."""
        return bool(self.prefixes.get(prefix))

    def has_group(self, group: str) -> bool:
        return bool(self.members.get(group))

    def in_group(self, group: str) -> list[str]:
        """The nodes of a stage or block, in topological order."""
        return sorted(self.members.get(group, ()), key=self.pos.__getitem__)

    def group_output(self, group: str) -> str:
        """The last node (in topological order) of a stage or block: its output."""
        return max(self.members[group], key=self.pos.__getitem__)

    def is_ancestor(self, a: str, b: str) -> bool:
        """Whether `a` feeds `b` (directly or not). Ancestors sit before their descendants, so the search
        never leaves the positions between them."""
        if self.pos[a] >= self.pos[b]:
            return False
        floor, seen, stack = self.pos[a], set(), list(self.g.nodes[b].inputs)
        while stack:
            n = stack.pop()
            if n == a:
                return True
            if n not in seen and self.pos[n] > floor:
                seen.add(n)
                stack.extend(self.g.nodes[n].inputs)
        return False

    def shape(self, name: str) -> Shape:
        """The node's shape now. Mid-edit (a set_merge over many merges) nodes upstream of it may have
        changed: then its ancestors are inferred afresh, as the edit sees them."""
        if not any(self.pos.get(p, -1) < self.pos[name] for p in self.pending):
            return self.shapes[name]
        fresh: dict[str, Shape] = {INPUT: tuple(self.g.input_shape)}
        stack = [name]
        while stack:  # depth first; a node is computed once all its inputs are
            n = stack[-1]
            missing = [s for s in self.g.nodes[n].inputs if s not in fresh]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            if n not in fresh:
                fresh[n] = node_shape(self.g.nodes[n], [fresh[s] for s in self.g.nodes[n].inputs])
        return fresh[name]

    # ---- changes ----------------------------------------------------------------------------------------

    def add(self, name: str, op: str, inputs: str | list[str], meta: dict[str, Any] | None = None,
            **args: Any) -> str:
        self.g.add(name, op, inputs, meta, **args)
        self.users[name] = {}
        for src in self.g.nodes[name].inputs:
            self.users[src][name] = None
        self._index(name)
        self.new.append(name)
        self.pending[name] = None
        return name

    def set_inputs(self, name: str, inputs: tuple[str, ...]) -> None:
        node = self.g.nodes[name]
        for src in node.inputs:
            self.users[src].pop(name, None)
        node.inputs = tuple(inputs)
        for src in node.inputs:
            self.users[src][name] = None
        self.changed(name)

    def changed(self, name: str) -> None:
        """The node's op, args or inputs changed: its shape is recomputed when the edit ends."""
        self.pending[name] = None

    def remove(self, name: str) -> None:
        for src in self.g.nodes[name].inputs:
            if src in self.users:
                self.users[src].pop(name, None)
        self.g.remove(name)
        for table in (self.users, self.pos, self.shapes, self.pending):
            table.pop(name, None)
        for p in prefixes(name):
            self.prefixes[p].pop(name, None)
        for group in self._groups.pop(name, ()):
            self.members[group].pop(name, None)
        if name in self.new:
            self.new.remove(name)

    def finish(self) -> None:
        """End of an edit: place its new nodes, then refresh the shapes it changed (ShapeError where they fail)."""
        self._place()
        self.new = []
        heap = [(self.pos[n], n) for n in self.pending if n in self.g.nodes]
        heapq.heapify(heap)
        done: set[str] = set()
        while heap:
            _, name = heapq.heappop(heap)
            if name in done:
                continue
            done.add(name)
            node = self.g.nodes[name]
            shape = node_shape(node, [self.shapes[s] for s in node.inputs])
            if self.shapes.get(name) != shape:
                self.shapes[name] = shape
                for user in self.users[name]:
                    heapq.heappush(heap, (self.pos[user], user))
        self.pending = {}

    def _place(self) -> None:
        """Positions for this edit's new nodes: evenly between their inputs and their users, in creation
        order (a topological order of the new nodes). Everything is renumbered when they do not fit, or when
        an existing node now reads a node placed after it (an edit joining parallel branches)."""
        new = set(self.new)
        misplaced = any(self.pos[s] >= self.pos[n] for n in self.pending if n in self.pos
                        for s in self.g.nodes[n].inputs if s not in new)
        if not self.new and not misplaced:
            return
        lo = max((self.pos[s] for n in self.new for s in self.g.nodes[n].inputs if s not in new), default=0)
        hi = min((self.pos[u] for n in self.new for u in self.users[n] if u not in new),
                 default=lo + GAP * (len(self.new) + 1))
        step = (hi - lo) // (len(self.new) + 1)
        if step < 1 or misplaced:
            self.renumber()
            return
        for i, name in enumerate(self.new, start=1):
            self.pos[name] = lo + i * step

    def renumber(self) -> None:
        self.pos = {name: i * GAP for i, name in enumerate(self.g.topo_order())}

    def _index(self, name: str) -> None:
        node = self.g.nodes[name]
        for p in prefixes(name):
            self.prefixes.setdefault(p, {})[name] = None
        self._groups[name] = [g for g in (node.stage, node.block) if g]
        for group in self._groups[name]:
            self.members.setdefault(group, {})[name] = None
