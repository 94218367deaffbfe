"""What the Build page draws for an evaluation: the graph model of a spec that builds, of one that fails at an
edit (the graph before that edit, the edit as a red edge beside its message), of one whose shapes do not fit (the
node in red), or of a `graph` spec that does not build yet (its nodes and wires as written). Pure: no Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dashboard.build_state import Evaluation
from dashboard.graph_edits import edit_merges
from dashboard.graph_model import graph_model, raw_graph
from engine.api import Edit, Graph, SkipLabError, analyze, apply_edits, infer_shapes


def failed_edit(base: Graph, edits: list[Edit]) -> tuple[int, Graph] | None:
    """The first edit that does not apply, with the graph after the edits before it (None: they all apply, or
    the family's own graph already fails)."""
    try:
        infer_shapes(base)
    except SkipLabError:
        return None
    before = base
    for k in range(len(edits)):
        try:
            after = apply_edits(base, edits[:k + 1])
        except SkipLabError:
            return k, before
        before = after
    return None


def view_key(spec: Mapping[str, Any]) -> str:
    """A new view (default folding, fitted) when another architecture is loaded, not on every edit."""
    return f"{spec.get('family', '')}:{spec.get('name', '')}"


def scene(ev: Evaluation, spec: Mapping[str, Any], *, stats: Mapping[str, Mapping[str, float]] | None = None,
          stat: str = "grad_norm", step: int | None = None) -> dict[str, Any] | None:
    """The graph model to draw, or None when there is nothing to draw (a spec that does not validate)."""
    if ev.ok:
        return graph_model(ev.graph, ev.analysis, stats=stats, stat=stat, step=step,
                           edit_merges=edit_merges(ev.spec.edits))
    if ev.graph is None:
        if spec.get("family") == "graph":
            return graph_model(raw_graph(spec), None, error=ev.error)
        return None
    graph, error_edge = ev.graph, None
    edits = ev.spec.edits if ev.spec is not None else []
    found = failed_edit(ev.graph, edits) if edits else None
    if found is not None:
        k, graph = found
        add = edits[k].add_skip
        if add is not None:
            error_edge = (add.source, add.to, ev.error)
    try:
        analysis = analyze(graph)
    except SkipLabError:
        analysis = None
    error_node = ev.error_node if ev.error_node in graph.nodes else ""
    applied = edits[:found[0]] if found else edits
    return graph_model(graph, analysis, stats=stats, stat=stat, step=step, error_node=error_node,
                       error_edge=error_edge, error=ev.error, edit_merges=edit_merges(applied))
