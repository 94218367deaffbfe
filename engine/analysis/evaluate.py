"""Evaluate a spec as the Build page does: never raise for bad input; return what could be built (the parsed
spec, the graph as far as it expands, so a drawing can show where it fails) with the error located at its field
or node, and the counts when everything fits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.analysis.counts import Analysis, analyze
from engine.arch import parse
from engine.arch.families import get_expander
from engine.core.errors import ShapeError, SkipLabError, SpecError
from engine.ir.edits import apply_edits
from engine.ir.graph import Graph
from engine.spec import SpecBase


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


def evaluate(spec: dict[str, Any] | SpecBase, batch: int = 1) -> Evaluation:
    """Spec data (or a spec) -> an `Evaluation`. Bad input is a located error in the result, never an exception."""
    ev = Evaluation()
    try:
        ev.spec = parse(spec)
    except SpecError as exc:
        return Evaluation(error=str(exc), error_field=exc.path)
    try:
        ev.graph = get_expander(ev.spec.family)(ev.spec)  # drawn even if an edit or a shape then fails
        ev.graph = apply_edits(ev.graph, ev.spec.edits)
        ev.analysis = analyze(ev.graph)  # counts at batch 1, as published figures are
        at_batch = ev.analysis if batch == 1 else analyze(ev.graph, batch=batch)
        ev.train_memory = int(at_batch.memory["training_bytes"])
    except ShapeError as exc:
        ev.error, ev.error_node, ev.fix = str(exc), exc.node, exc.hint
    except SpecError as exc:
        ev.error, ev.error_field = str(exc), exc.path
    except SkipLabError as exc:
        ev.error = str(exc)
    return ev
