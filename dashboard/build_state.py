"""Build page state, importable and testable: the totals of the current and previous valid spec (for deltas).
Evaluating a spec and listing skip-edge endpoints are engine verbs (`engine.api`), re-exported for the page."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from engine.api import Evaluation, evaluate, removable_skips, skip_endpoints

__all__ = ["EditHistory", "Evaluation", "Totals", "evaluate", "removable_skips", "skip_endpoints"]


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
