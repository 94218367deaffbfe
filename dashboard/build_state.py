"""Build page state, importable and testable: the totals of the current and previous valid spec (for deltas).
Evaluating a spec and listing skip-edge endpoints are engine verbs (`engine.api`), re-exported for the page."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    """The totals of the current and the previous valid spec, for metric deltas."""

    current_key: str = ""
    current: Totals | None = None
    previous: Totals | None = None
    keys: list[str] = field(default_factory=list)

    def update(self, key: str, totals: Totals) -> None:
        if key == self.current_key:
            return
        self.previous, self.current, self.current_key = self.current, totals, key

    def delta(self, attr: str) -> int | None:
        if self.previous is None or self.current is None:
            return None
        return getattr(self.current, attr) - getattr(self.previous, attr)
