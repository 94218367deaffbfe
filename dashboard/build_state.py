"""Build page state, importable and testable: the totals of the current and previous valid spec (for deltas).
Evaluating a spec and listing skip-edge endpoints are engine verbs (`engine.api`), re-exported for the page."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from engine.api import Evaluation, evaluate, removable_skips, si, skip_endpoints

__all__ = ["EditHistory", "Evaluation", "Metric", "Totals", "evaluate", "failing_edit", "headline_numbers",
           "locate_edit_error", "removable_skips", "skip_endpoints"]


def failing_edit(spec: dict[str, Any], ev: Evaluation, batch: int = 1) -> int | None:
    """The index of the first edit that breaks a spec whose evaluation failed: the edits are tried one more at a
    time (evaluations cost milliseconds). None when the spec fails without its edits, or when it builds."""
    edits = list(spec.get("edits") or [])
    if ev.ok or not edits or not evaluate({**spec, "edits": []}, batch=batch).ok:
        return None
    for k in range(1, len(edits) + 1):
        if not evaluate({**spec, "edits": edits[:k]}, batch=batch).ok:
            return k - 1
    return None


def _edit_target(graph: Any, edit: dict[str, Any]) -> str | None:
    """The node an edit acts on in the graph before it: a skip's target (where it merges), else its source (a
    target that names no node still gets a marker where the skip starts), a removed shortcut's block output; a
    block or stage name resolves to its output node, as the edit itself does."""
    body = edit.get("add_skip") or edit.get("set_merge") or {}
    body = body if isinstance(body, dict) else {}
    if graph is None:
        return None
    for ref in (body.get("to"), body.get("from"), edit.get("remove_skip"), body.get("block")):
        if not isinstance(ref, str):
            continue
        if ref in graph.nodes:
            return ref
        try:
            return graph.group_output(ref)
        except (KeyError, ValueError, IndexError):
            continue
    return None


def locate_edit_error(spec: dict[str, Any], ev: Evaluation, batch: int = 1) -> tuple[Evaluation, int | None]:
    """The evaluation with its error drawn somewhere: when an edit fails before it is applied, the node it names
    (``error_node`` would otherwise be a node the edit never created, and the drawing would show no red marker);
    and the failing edit's index, for the edit list."""
    index = failing_edit(spec, ev, batch)
    if index is None or (ev.error_node and ev.graph is not None and ev.error_node in ev.graph.nodes):
        return ev, index
    target = _edit_target(ev.graph, spec["edits"][index])
    return (dataclasses.replace(ev, error_node=target) if target else ev), index


@dataclass
class Totals:
    params: int
    macs: int
    flops: int
    depth: int
    memory: int

    @classmethod
    def of(cls, ev: Evaluation) -> Totals:
        a = ev.analysis
        return cls(a.params, a.macs, a.flops, a.depth, ev.train_memory)


@dataclass
class EditHistory:
    """The totals of the current and the previous valid spec, for metric deltas; and the specs the user went
    through, for undo and redo (every change: a knob, a drawn edge, the YAML)."""

    current_key: str = ""
    current: Totals | None = None
    previous: Totals | None = None
    keys: list[str] = field(default_factory=list)
    undo_stack: list[dict[str, Any]] = field(default_factory=list)
    redo_stack: list[dict[str, Any]] = field(default_factory=list)
    recorded: dict[str, Any] | None = None
    limit: int = 100

    def update(self, key: str, totals: Totals) -> None:
        if key == self.current_key:
            return
        self.previous, self.current, self.current_key = self.current, totals, key

    def delta(self, attr: str) -> int | None:
        if self.previous is None or self.current is None:
            return None
        return getattr(self.current, attr) - getattr(self.previous, attr)

    def record(self, spec: dict[str, Any]) -> None:
        """The spec now shown; a change from the last one recorded can be undone (and clears the redo)."""
        if spec == self.recorded:
            return
        if self.recorded is not None:
            self.undo_stack = (self.undo_stack + [self.recorded])[-self.limit:]
            self.redo_stack = []
        self.recorded = copy.deepcopy(spec)

    def undo(self) -> dict[str, Any] | None:
        """The spec before the last change (None: nothing to undo)."""
        if not self.undo_stack or self.recorded is None:
            return None
        self.redo_stack.append(self.recorded)
        self.recorded = self.undo_stack.pop()
        return copy.deepcopy(self.recorded)

    def redo(self) -> dict[str, Any] | None:
        if not self.redo_stack or self.recorded is None:
            return None
        self.undo_stack.append(self.recorded)
        self.recorded = self.redo_stack.pop()
        return copy.deepcopy(self.recorded)


Metric = tuple[str, str, str | None, str]  # label, value, change since the last valid spec, help


def headline_numbers(ev: Evaluation, history: EditHistory | None, batch: int) -> list[Metric]:
    """The Build page's metric row for a spec that builds: numbers and our own words only. `history` gives the
    change since the last valid spec (None: no changes shown)."""
    a = ev.analysis

    def delta(attr: str, fmt: Any = si) -> str | None:
        d = history.delta(attr) if history is not None else None
        return None if not d else ("+" if d > 0 else "-") + fmt(abs(d))

    return [
        ("Parameters", f"{a.params:,}", delta("params", lambda v: f"{v:,}"),
         "Trainable parameters (BN running statistics are buffers, not parameters)."),
        ("MACs", si(a.macs), delta("macs"), "Multiply-accumulates of conv, linear and matmul at batch 1 "
         "(torchvision's 'GFLOPS')."),
        ("FLOPs (forward)", si(a.flops), delta("flops"), "2 per MAC plus element-wise work (BN, ReLU, pooling, "
         "adds), at batch 1."),
        ("Depth", a.depth, delta("depth", str), "Conv and linear layers outside shortcut paths (how ResNet depth "
         "is counted)."),
        (f"Training memory (batch {batch})", si(ev.train_memory, "B"), delta("memory", lambda v: si(v, "B")),
         "Weights, gradients, optimizer state and saved activations (float32)."),
    ]
