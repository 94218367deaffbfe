"""Thousands of edits apply in near-linear time (issue 14, class 4). The figure is bench/edits.py; here a
generous bound (the code before took 31 s for 400 edits and grew quadratically) and a count of the
whole-graph passes, which does not depend on the machine."""

from __future__ import annotations

import time

import pytest

from bench.edits import spec_with_edits
from engine.arch import expand
from engine.ir import edit_index
from engine.ir.graph import Graph
from tests.fuzz_strategies import bounded

EDITS = 2000


def test_thousands_of_edits_take_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    passes = {"topo_order": 0}
    topo = Graph.topo_order

    def counted(self: Graph) -> list[str]:
        passes["topo_order"] += 1
        return topo(self)

    monkeypatch.setattr(Graph, "topo_order", counted)
    t0 = time.perf_counter()
    with bounded(120, f"{EDITS} edits"):  # fails rather than waits (the quadratic code needs tens of minutes)
        graph = expand(spec_with_edits(EDITS))
    seconds = time.perf_counter() - t0
    assert len(graph.nodes) > EDITS * 3
    # One topological sort per edit was the quadratic part; now one per ~40 edits at one spot, at most.
    assert passes["topo_order"] <= EDITS // 20, passes
    assert seconds < 120


def test_positions_stay_topological_through_renumbering() -> None:
    """Many skips into one target use up the gap between two positions: the graph is renumbered, not broken."""
    spec = spec_with_edits(0)
    spec["edits"] = [{"add_skip": {"from": "stage1.block0", "to": "stage1.block1"}} for _ in range(200)]
    graph = expand(spec)
    e = edit_index.EditableGraph(graph)
    for node in graph.nodes.values():
        assert all(e.pos[s] < e.pos[node.name] for s in node.inputs)
    # Each new skip joins right after the target, before the skips added earlier (as one edit at a time would).
    assert graph.nodes["edit199.merge"].inputs[0] == "stage1.block1.relu2"  # the block's output
    assert graph.nodes["stage1.block2.conv1"].inputs == ("edit0.merge",)
