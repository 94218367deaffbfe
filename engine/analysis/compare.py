"""Architecture diff: two specs side by side per stage and per block (params, MACs, memory) and the delta.

Groups are the IR's stages (rows of level 1) and blocks (level 2; a stage without blocks counts as one), as
`Analysis.rollup` gives them, and line up by name (``stage2.block0``), which the families keep stable on
purpose, so resnet34 vs resnet50 or a plain net vs its residual twin compare row by row; a group only one side
has shows the other side as zero. Each level's rows sum to the totals. Memory per group is the activation
memory autograd saves for backward there (at `batch` and `dtype`); totals add parameters, gradients and
optimizer state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from engine.analysis import Analysis, GroupRow

METRICS = ("params", "macs", "flops", "saved_bytes")
TOTALS = ("params", "macs", "flops", "backward_flops", "depth")
MEMORY = ("params_bytes", "saved_activations_bytes", "training_sgd_momentum_bytes", "training_adamw_bytes",
          "inference_peak_bytes")


@dataclass
class DiffRow:
    name: str
    level: int  # 1: a row of the stage rollup, 2: of the block rollup
    a: dict[str, int]  # METRICS of spec A (zeros when A has no such group)
    b: dict[str, int]
    delta: dict[str, int]  # b - a
    only_in: str = ""  # "a" | "b" when the group exists on one side only


@dataclass
class Comparison:
    a_name: str
    b_name: str
    batch: int
    dtype: str
    totals: list[DiffRow] = field(default_factory=list)  # one row per total count and memory figure
    rows: list[DiffRow] = field(default_factory=list)  # stages and blocks, in A's order, then B's extras

    def row(self, name: str) -> DiffRow:
        return next(r for r in [*self.rows, *self.totals] if r.name == name)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _metrics(g: GroupRow | None) -> dict[str, int]:
    return {m: getattr(g, m) if g is not None else 0 for m in METRICS}


def _diff(name: str, level: int, a: dict[str, int], b: dict[str, int], only_in: str = "") -> DiffRow:
    return DiffRow(name, level, a, b, {k: b[k] - a[k] for k in a}, only_in)


def compare_analyses(a: Analysis, b: Analysis) -> Comparison:
    """Diff two analyses (same batch and dtype make the memory columns comparable)."""
    rows: list[DiffRow] = []
    for level, number in (("stage", 1), ("block", 2)):
        ga = {g.name: g for g in a.rollup(level)}
        gb = {g.name: g for g in b.rollup(level)}
        names = list(ga) + [n for n in gb if n not in ga]
        rows += [_diff(n, number, _metrics(ga.get(n)), _metrics(gb.get(n)),
                       "a" if n not in gb else "b" if n not in ga else "") for n in names]
    totals = [_diff(k, 0, {"value": getattr(a, k)}, {"value": getattr(b, k)}) for k in TOTALS]
    totals += [_diff(k, 0, {"value": a.memory[k]}, {"value": b.memory[k]}) for k in MEMORY]
    return Comparison(a.name or a.family, b.name or b.family, a.batch, a.dtype, totals, rows)


def compare(spec_a: Any, spec_b: Any, *, batch: int = 1, dtype: str = "float32",
            input_shape: list[int] | None = None) -> Comparison:
    """Per stage and per block params / MACs / FLOPs / saved activation memory of both specs (preset
    names, files, dicts or specs) and the delta B - A."""
    from engine.analysis.counts import summarize

    return compare_analyses(summarize(spec_a, batch=batch, dtype=dtype, input_shape=input_shape),
                            summarize(spec_b, batch=batch, dtype=dtype, input_shape=input_shape))
