"""Spec -> Graph: the family's expander, then the spec's connectivity edits, then a shape check."""

from __future__ import annotations

from engine.arch.families import get_expander
from engine.arch.specs import SpecLike, resolve
from engine.ir.edits import apply_edits
from engine.ir.graph import Graph, infer_shapes


def expand(spec: SpecLike) -> Graph:
    """Expand a spec into its graph, with its connectivity edits applied and shapes checked."""
    parsed = resolve(spec)
    graph = get_expander(parsed.family)(parsed)
    graph = apply_edits(graph, parsed.edits)
    infer_shapes(graph)
    return graph
