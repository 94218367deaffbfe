"""Build page logic, importable and testable: evaluate a spec dict into (spec, graph, analysis) or a located
error, track deltas between edits, and list skip-edge endpoints."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from engine.analysis import Analysis, analyze
from engine.edits import apply_edits
from engine.errors import ShapeError, SkipLabError, SpecError
from engine.families import get_expander
from engine.graph import Graph
from engine.spec import SpecBase, parse


@dataclass
class Evaluation:
    spec: SpecBase | None = None
    graph: Graph | None = None  # also set when shapes fail, so the drawing can show where
    analysis: Analysis | None = None
    error: str = ""
    error_field: str = ""  # spec field path, for SpecError
    error_node: str = ""  # graph node, for ShapeError
    fix: str = ""
    train_memory: int = 0  # bytes at the requested batch

    @property
    def ok(self) -> bool:
        return self.analysis is not None


def evaluate(spec_dict: dict[str, Any], batch: int = 1) -> Evaluation:
    """Never raises for bad input: the error names the field or node, for the UI to highlight."""
    ev = Evaluation()
    try:
        ev.spec = parse(spec_dict)
    except SpecError as exc:
        return Evaluation(error=str(exc), error_field=exc.path)
    try:
        ev.graph = get_expander(ev.spec.family)(ev.spec)  # drawn even if an edit or a shape then fails
        ev.graph = apply_edits(ev.graph, ev.spec.edits)
        ev.analysis = analyze(ev.graph)  # counts at batch 1, as published figures are
        at_batch = ev.analysis if batch == 1 else analyze(ev.graph, batch=batch)
        ev.train_memory = training_memory_bytes(at_batch)
    except ShapeError as exc:
        ev.error, ev.error_node, ev.fix = str(exc), exc.node, exc.hint
    except SpecError as exc:
        ev.error, ev.error_field = str(exc), exc.path
    except SkipLabError as exc:
        ev.error = str(exc)
    return ev


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


def training_memory_bytes(a: Analysis) -> int:
    """Training memory at the analysis batch: the analysis's own estimate when it has one, else weights +
    gradients + one optimizer buffer + every activation (an upper bound)."""
    mem = a.memory
    for key in ("training_bytes", "total_bytes", "training_total_bytes"):
        if key in mem:
            return int(mem[key])
    return 3 * mem["params_bytes"] + mem["activations_bytes"]


def skip_endpoints(graph: Graph) -> list[str]:
    """Candidate `from`/`to` endpoints for a skip edge: blocks and stages first, then every node."""
    blocks = [g for g in graph.groups() if g.count(".") <= 1]
    nodes = [n.name for n in graph.compute_nodes()]
    return blocks + [n for n in nodes if n not in blocks]


def removable_skips(graph: Graph) -> list[str]:
    """Blocks that have a merge (a residual add or a skip concat) whose shortcut can be removed."""
    out = []
    for node in graph.compute_nodes():
        if node.op in ("add", "concat") and node.meta.get("role") == "merge" and "." in node.name:
            out.append(node.name.rsplit(".", 1)[0])
    return list(dict.fromkeys(out))
