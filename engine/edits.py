"""Connectivity edits applied to any family's graph: add_skip, remove_skip, set_merge.

(Implemented with the connectivity-families issue; until then an edit is a clear SpecError.)
"""

from __future__ import annotations

from engine.errors import SpecError
from engine.graph import Graph
from engine.spec import Edit


def apply_edits(graph: Graph, edits: list[Edit]) -> Graph:
    if edits:
        raise SpecError("edits[0]", "connectivity edits are not available in this version yet; remove `edits`")
    return graph
