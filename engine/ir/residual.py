"""Residual and plain blocks of a graph, for lesions and gradient-path measurements.

A *block* is a block of the IR (``stage2.block0``, ``layer7``: the nodes the family's expander put in it) whose
nodes read exactly one node from outside it: the block input. It is *residual* when it ends in a two-input
``add`` whose one input is the block input itself (identity shortcut) or reached from it only through shortcut-
role nodes (zero-pad or projection, He et al. 2016 options A/B), and whose other input is the residual branch."""

from __future__ import annotations

from dataclasses import dataclass

from engine.ir.graph import Graph, infer_shapes


@dataclass(frozen=True)
class Block:
    name: str  # the IR's block
    input: str  # the one node outside the block that it reads
    output: str  # its last node in depth order
    add: str | None  # the residual merge; None for a plain block
    shortcut: str | None  # the add's input on the shortcut side (== input for an identity shortcut)
    branch: str | None  # the add's input on the residual-branch side
    shape_preserving: bool  # output shape == input shape: a plain block can then become the identity

    @property
    def residual(self) -> bool:
        return self.add is not None


def _in_block(graph: Graph, name: str, block: str) -> bool:
    return name in graph.nodes and graph.nodes[name].block == block


def _ancestors_in(graph: Graph, node: str, prefix: str) -> set[str]:
    """``node`` and every node of the block that it (transitively) reads."""
    seen: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n in seen or not _in_block(graph, n, prefix):
            continue
        seen.add(n)
        stack.extend(graph.nodes[n].inputs)
    return seen


def _block_prefixes(graph: Graph) -> list[str]:
    """The IR's blocks in depth order (stem, head and transitions sit in no block)."""
    return list(dict.fromkeys(node.block for node in graph.compute_nodes() if node.block))


def find_blocks(graph: Graph) -> list[Block]:
    """Blocks in depth order. Prefixes that read more than one outside node are not blocks."""
    shapes = infer_shapes(graph)
    order = graph.topo_order()
    blocks: list[Block] = []
    for prefix in _block_prefixes(graph):
        members = [n for n in order if _in_block(graph, n, prefix)]
        external = {s for n in members for s in graph.nodes[n].inputs if not _in_block(graph, s, prefix)}
        if len(external) != 1:
            continue
        (x,) = external
        output = members[-1]
        add, short, branch = _residual_merge(graph, prefix, members, x)
        blocks.append(Block(prefix, x, output, add, short, branch, tuple(shapes[x]) == tuple(shapes[output])))
    return blocks


def _residual_merge(graph: Graph, prefix: str, members: list[str], x: str) -> tuple[str | None, str | None,
                                                                                      str | None]:
    for n in members:
        node = graph.nodes[n]
        if node.op != "add" or len(node.inputs) != 2:
            continue
        sides = [_is_shortcut(graph, s, prefix, x) for s in node.inputs]
        if sides.count(True) == 1:
            short = node.inputs[sides.index(True)]
            branch = node.inputs[sides.index(False)]
            return n, short, branch
    return None, None, None


def _is_shortcut(graph: Graph, src: str, prefix: str, x: str) -> bool:
    if src == x:
        return True
    chain = _ancestors_in(graph, src, prefix)
    return bool(chain) and all(graph.nodes[n].meta.get("role") == "shortcut" for n in chain)


def input_consumers(graph: Graph, block: Block) -> tuple[list[str], list[str]]:
    """The block's nodes reading its input, split into (shortcut side, branch side). A node on both sides (a
    projection reading a pre-activation shared with the branch) makes the split impossible: ValueError."""
    assert block.add is not None and block.shortcut is not None and block.branch is not None
    short_side = _ancestors_in(graph, block.shortcut, block.name) | {block.add}
    branch_side = _ancestors_in(graph, block.branch, block.name)
    shortcut, branch = [], []
    for c in graph.consumers(block.input):
        if not _in_block(graph, c, block.name):
            continue
        on_short = c in short_side and (c != block.add or block.shortcut == block.input)
        on_branch = c in branch_side or (c == block.add and block.branch == block.input)
        if on_short and on_branch:
            raise ValueError(f"{block.name}: {c} feeds both the shortcut and the residual branch")
        (shortcut if on_short else branch).append(c)
    return shortcut, branch
