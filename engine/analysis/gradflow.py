"""Gradient flow in numbers and in words: how much of the last layer's gradient reaches the first layer, per run,
and where runs differ. Pure: per-layer gradient norms in (numpy), plain data and sentences out.

The measure is the one the vanishing-gradient literature reads (Glorot & Bengio 2010, fig. 7; He et al. 2015,
sec. 2.2): the norm of the first weighted layer's weight gradient over the last one's. Weighted layers are the
convolutions and linear maps (their gradients are comparable; a norm layer's gamma / beta gradient is not), minus
frozen layers (no gradient by design). Thresholds are fixed here, before any run reads them: a ratio below 1e-3 is
"vanishing" (the health monitor's default, `TrainConfig.vanish_threshold`), above 1e3 "grows toward the input" (its
mirror, as the gradients experiment uses), and two ratios within one decade are "alike".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.ir.ops import OPS, get_op

VANISH = 1e-3  # first / last below this: vanishing (TrainConfig.vanish_threshold's default)
GROW = 1e3  # first / last above this: the gradient grows toward the input (the mirror of VANISH)
ALIKE_DECADES = 1.0  # two ratios within a factor 10 of each other are "alike"
WEIGHTED_KINDS = ("conv", "linear", "embed", "attention")


def sci(x: float) -> str:
    """A ratio for text: 0.79, 12, 4,500, 3.2e-19, 1.6e4 (two significant digits, no '+')."""
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return str(x)
    if 10 <= abs(x) < 1e4:
        return f"{float(f'{x:.2g}'):,.0f}"
    if 1e-3 <= abs(x) < 10:
        return f"{x:.2g}"
    mant, exp = f"{x:.1e}".split("e")
    return f"{mant}e{int(exp)}"


def _log10(x: float) -> float:
    return math.log10(x) if x > 0 and math.isfinite(x) else (-math.inf if x == 0 else math.nan)


@dataclass(frozen=True)
class LayerGrads:
    """One run's per-layer gradient norms over its logged steps (what the store keeps as ``grad_norm``)."""

    label: str
    names: list[str]
    stages: list[str]
    steps: np.ndarray  # [T] logged steps, increasing
    norms: np.ndarray  # [layers, T]
    weighted: list[int]  # the layers the ratio and the profile read (conv / linear, not frozen), in depth order

    @property
    def empty(self) -> bool:
        return self.norms.size == 0 or not self.weighted

    def column(self, step: int | None) -> int:
        """The column of the last logged step at or before `step` (None: the last; before the first: the first)."""
        if step is None:
            return len(self.steps) - 1
        return max(0, int(np.searchsorted(self.steps, step, side="right")) - 1)

    def profile(self, col: int) -> np.ndarray:
        """Weighted layers' gradient norms at one column, input to output."""
        return self.norms[self.weighted, col].astype(np.float64)


def layer_grads(label: str, layers: Sequence[Mapping[str, Any]], steps: np.ndarray, matrix: np.ndarray) -> LayerGrads:
    """A run's `LayerGrads` from its layer rows (``name``, ``op``, ``stage``, ``frozen``) and ``grad_norm`` matrix."""
    def weighted_op(layer: Mapping[str, Any]) -> bool:
        op = layer.get("op")
        return bool(op) and op in OPS and get_op(op).kind in WEIGHTED_KINDS

    live = [i for i, layer in enumerate(layers) if not layer.get("frozen")]
    weighted = [i for i in live if weighted_op(layers[i])] or live  # no known op: every layer that trains
    weighted = [i for i in weighted if i < matrix.shape[0]]
    return LayerGrads(label, [str(layer["name"]) for layer in layers],
                      [str(layer.get("stage") or layer["name"]) for layer in layers],
                      np.asarray(steps), np.asarray(matrix, dtype=np.float64), weighted)


@dataclass(frozen=True)
class FlowPoint:
    """First / last weighted layer's gradient norm of one run at one logged step."""

    label: str
    step: int
    first_layer: str
    last_layer: str
    first: float
    last: float

    @property
    def ratio(self) -> float:
        if not (math.isfinite(self.first) and math.isfinite(self.last)) or self.last <= 0:
            return math.nan
        return self.first / self.last

    @property
    def ratio_text(self) -> str:
        return sci(self.ratio)

    @property
    def verdict(self) -> str:
        """vanishes | grows | keeps | zero | unmeasured."""
        r = self.ratio
        if not math.isfinite(r):
            return "unmeasured"
        if r == 0:
            return "zero"
        return "vanishes" if r < VANISH else "grows" if r > GROW else "keeps"

    def phrase(self) -> str:
        """'the first layer gets 3.2e-19 of the last layer's gradient: it vanishes toward the input'."""
        r = self.ratio
        return {
            "unmeasured": "the first/last gradient ratio could not be measured (no finite gradient)",
            "zero": "the first layer's gradient is exactly 0 in float32 (it underflowed): it vanished completely",
            "vanishes": f"the first layer gets {sci(r)} of the last layer's gradient: it vanishes toward the input",
            "grows": f"the first layer gets {sci(r)} times the last layer's gradient: it grows toward the input",
            "keeps": self._keeps(r),
        }[self.verdict]

    @staticmethod
    def _keeps(r: float) -> str:
        """Between the thresholds, said as it is: within a factor 10 of the last layer's, or smaller / larger."""
        if r < 1 / 10:
            return (f"the first layer gets {sci(r)} of the last layer's gradient: smaller, but above the {sci(VANISH)} "
                    "that counts as vanishing")
        if r > 10:
            return (f"the first layer gets {sci(r)} times the last layer's gradient: larger, but below the "
                    f"{sci(GROW)} that counts as growing toward the input")
        of = "of" if r <= 1 else "times"
        return f"the first layer gets {sci(r)} {of} the last layer's gradient: it keeps its size"


def flow_point(g: LayerGrads, step: int | None = None) -> FlowPoint | None:
    """The ratio of run `g` at the last logged step at or before `step` (None: its last step)."""
    if g.empty:
        return None
    col = g.column(step)
    prof = g.profile(col)
    return FlowPoint(g.label, int(g.steps[col]), g.names[g.weighted[0]], g.names[g.weighted[-1]],
                     float(prof[0]), float(prof[-1]))


def _log_gap(la: float, lb: float) -> float:
    """|la - lb| of two log10 values: 0 when both are -inf (both 0), inf when one is, nan when either is nan."""
    if math.isnan(la) or math.isnan(lb):
        return math.nan
    if math.isinf(la) and math.isinf(lb):
        return 0.0
    return abs(la - lb)


def decades_apart(a: float, b: float) -> float:
    """|log10 a - log10 b|: inf when exactly one is 0, nan when either is not finite."""
    return _log_gap(_log10(a), _log10(b))


def decades_text(d: float) -> str:
    return "an unbounded difference (one gradient is exactly 0)" if math.isinf(d) else f"a 10^{d:.1f} difference"


def relative_levels(g: LayerGrads, col: int) -> dict[str, float]:
    """log10 of each stage's geometric-mean gradient norm relative to the run's last weighted layer, per stage
    (stages in depth order; a stage whose norms are all 0 is -inf)."""
    prof = g.profile(col)
    last = prof[-1]
    out: dict[str, list[float]] = {}
    for i, value in zip(g.weighted, prof, strict=True):
        out.setdefault(g.stages[i], []).append(_log10(value / last) if last > 0 else math.nan)
    return {s: float(np.mean(v)) for s, v in out.items()}


def _layers_in(g: LayerGrads, stage: str) -> int:
    return sum(1 for i in g.weighted if g.stages[i] == stage)


def _thirds(g: LayerGrads, col: int) -> dict[str, float]:
    """The same as `relative_levels` over thirds of the weighted layers (nets with different stage names)."""
    prof = g.profile(col)
    last = prof[-1]
    names = ("the input third", "the middle third", "the output third")
    parts = np.array_split(np.arange(len(prof)), 3)
    return {n: float(np.mean([_log10(prof[i] / last) if last > 0 else math.nan for i in idx]))
            for n, idx in zip(names, parts, strict=True) if len(idx)}


def _where_they_differ(lo: LayerGrads, hi: LayerGrads, col_lo: int, col_hi: int) -> str:
    a, b = relative_levels(lo, col_lo), relative_levels(hi, col_hi)
    shared = [s for s in a if s in b and min(_layers_in(lo, s), _layers_in(hi, s)) > 1]
    if len(shared) < 2:  # an MLP (stem, layers, head), or nets with other stages: compare by depth instead
        a, b = _thirds(lo, col_lo), _thirds(hi, col_hi)
        shared = list(a)
    gaps = {s: gap for s in shared if not math.isnan(gap := _log_gap(a[s], b[s]))}
    if not gaps:
        return ""
    where = max(gaps, key=lambda s: gaps[s])

    def level(x: float) -> str:
        return "0" if x == -math.inf else f"10^{x:.1f}"

    return (f"They differ most in {where}: its layers get {level(a[where])} ({lo.label}) and {level(b[where])} "
            f"({hi.label}) of their last layer's gradient on average (geometric mean).")


@dataclass(frozen=True)
class FlowText:
    """Sentences about the runs' gradient flow: one per run, then the comparison; `differ` is whether the runs'
    first/last ratios are more than a decade apart."""

    per_run: list[str]
    comparison: list[str]
    differ: bool

    @property
    def lines(self) -> list[str]:
        return [*self.per_run, *self.comparison]


def _of_last(ratio: float) -> str:
    return f"{sci(ratio)} of its last" if ratio < 1 else f"{sci(ratio)} times its last"


def describe_point(runs: Sequence[LayerGrads], steps: Sequence[int | None], when: str) -> FlowText:
    """Sentences comparing the runs at one point each (`steps[i]` for run i; None: its last step). `when` names
    the point for the reader ("at init", "at 100% of each run")."""
    points = [(g, p) for g, s in zip(runs, steps, strict=True) if (p := flow_point(g, s)) is not None]
    if not points:
        return FlowText(["No gradient statistics logged yet."], [], False)
    per_run = [f"{p.label}, step {p.step}: {p.phrase()}." for _, p in points]
    measured = [(g, p) for g, p in points if p.verdict != "unmeasured"]
    if len(measured) < 2:
        return FlowText(per_run, [], False)
    (g_lo, lo), (g_hi, hi) = min(measured, key=lambda gp: gp[1].ratio), max(measured, key=lambda gp: gp[1].ratio)
    d = decades_apart(lo.ratio, hi.ratio)
    if d < ALIKE_DECADES:
        return FlowText(per_run, [f"{when.capitalize()} the runs' first/last ratios are within a factor 10 of each "
                                  f"other ({sci(lo.ratio)} to {sci(hi.ratio)}): no difference in how much gradient "
                                  "reaches the first layer."], False)
    comparison = [f"{when.capitalize()} {lo.label}'s first-layer gradient is {_of_last(lo.ratio)} at step {lo.step}; "
                  + (f"{hi.label} keeps {sci(hi.ratio)}" if hi.verdict == "keeps" and hi.ratio <= 1 else
                     f"{hi.label}'s is {_of_last(hi.ratio)}") + f" at step {hi.step}: {decades_text(d)}."]
    where = _where_they_differ(g_lo, g_hi, g_lo.column(lo.step), g_hi.column(hi.step))
    return FlowText(per_run, comparison + ([where] if where else []), True)


def describe_runs(runs: Sequence[LayerGrads], steps: Sequence[int | None], when: str) -> list[str]:
    """Compare's gradient flow in words: at init (each run's first logged step) and at the chosen point."""
    if not runs:
        return []
    init = describe_point(runs, [int(g.steps[0]) if not g.empty else None for g in runs], "at init")
    later = describe_point(runs, steps, when)
    if all(g.empty or g.column(s) == 0 for g, s in zip(runs, steps, strict=True)):
        return init.lines  # the chosen point is the first logged step: one paragraph
    return [*init.lines, *later.lines]
