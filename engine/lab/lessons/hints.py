"""Where a student looks at gradients outside the Lessons page (a run on Train, runs on Compare), one sentence of
why the picture looks as it does, read from the runs' data, and the lesson that shows the effect.

The issue this answers (issue 16): Plain-20 vs ResNet-20, both with BatchNorm, show no vanishing gradient at 100
steps and nothing said why. The sentence is chosen by what the runs' numbers say (the first/last weighted layer's
gradient at the first logged step, `engine.analysis.gradflow`) and by what the runs contain (normalisation layers,
from the layers the run stored), never by the net's name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.analysis.gradflow import ALIKE_DECADES, FlowPoint, decades_apart, flow_point
from engine.ir.ops import OPS, get_op
from engine.lab.lessons.base import get_lesson
from engine.lab.runflow import stored_grads
from engine.store import RunStore

# Why normalisation keeps the gradient's size: it rescales each layer's output to unit variance, so the backward
# signal is rescaled too (Ioffe & Szegedy 2015, sec. 3.3); He et al. 2016 (sec. 4.1) checked their BN plain nets'
# gradients and found "healthy norms".
_NORM_WHY = ("normalisation rescales every layer's output, and with it the gradient, so the gradient does not vanish "
             "with or without shortcuts (Ioffe & Szegedy 2015, sec. 3.3; He et al. 2016, sec. 4.1)")
_OTHER_WHY = ("a shortcut around the layers, a shallow net or an init that keeps the gradient's variance (He init, "
              "He et al. 2015, sec. 2.2) each keep it from vanishing")


@dataclass(frozen=True)
class Hint:
    text: str
    lesson: str  # the lesson that shows the effect (a name of engine.lab.lessons)

    @property
    def lesson_title(self) -> str:
        return get_lesson(self.lesson).title


def norm_layers(layers: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """The normalisation layers a run stored that train, by op: {"batchnorm2d": 19}."""
    out: dict[str, int] = {}
    for layer in layers:
        op = layer.get("op")
        if op in OPS and get_op(op).kind == "norm" and not layer.get("frozen"):
            out[str(op)] = out.get(str(op), 0) + 1
    return out


def _norm_words(norms: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {op}" for op, n in norms.items())


def _init_point(store: RunStore, run_id: int, label: str) -> FlowPoint | None:
    grads = stored_grads(store, run_id, label)
    return None if grads.empty else flow_point(grads, int(grads.steps[0]))


def run_hint(store: RunStore, run_id: int) -> Hint | None:
    """One run: what its gradient at init says and why, or None before any gradient is logged."""
    point = _init_point(store, run_id, "this run")
    if point is None or point.verdict == "unmeasured":
        return None
    norms = norm_layers(store.get_layers(run_id))
    when = "At init (step 1, before any update)" if point.step <= 1 else f"At step {point.step}, its first logged"
    said = f"{when}, {point.phrase()}"
    if point.verdict in ("vanishes", "zero"):
        return Hint(f"{said}. Backpropagation multiplies the gradient by every layer's weights on its way to the "
                    "input (He et al. 2015, sec. 2.2), and the first layers learn little; an identity shortcut adds "
                    "the output's gradient to every layer unchanged (He et al. 2016b, eq. 5). The lesson shows both "
                    "side by side.", "vanishing_mlp")
    if norms:
        return Hint(f"{said}. This net has normalisation layers ({_norm_words(norms)}): {_NORM_WHY}. A vanishing "
                    "gradient needs a deep net without them: the linked lesson shows such a pair, and the one "
                    "after it the same pair with BatchNorm.", "vanishing_conv")
    return Hint(f"{said}: {_OTHER_WHY}. The lesson shows a net where it does vanish (50 layers, no normalisation, "
                "PyTorch's default init) beside the same net with shortcuts.", "vanishing_mlp")


def runs_hint(store: RunStore, runs: Mapping[str, int]) -> Hint | None:
    """Several runs (Compare): why none of them vanishes when all normalise, why they do not differ when they do not;
    None when they differ otherwise (the comparison itself tells it) or fewer than two are measured."""
    points = {label: p for label, run_id in runs.items()
              if (p := _init_point(store, run_id, label)) is not None and p.verdict != "unmeasured"}
    if len(points) < 2:
        return None
    ratios = [p.ratio for p in points.values()]
    alike = decades_apart(min(ratios), max(ratios)) < ALIKE_DECADES
    vanishing = [p for p in points.values() if p.verdict in ("vanishes", "zero")]
    normed = {label for label, run_id in runs.items() if label in points and norm_layers(store.get_layers(run_id))}
    if not vanishing and normed == set(points):  # alike or not: nothing vanishes, and that is why
        return Hint(f"No run's gradient vanishes at init, and every one has normalisation layers: {_NORM_WHY}; a "
                    "plain net's can even grow toward the input (Yang et al. 2019, sec. 3). With BatchNorm a "
                    "shortcut's benefit is easier optimisation, seen in the training loss over a long run (He et al. "
                    "2016, sec. 4.1), not in the gradient. The linked lesson shows a pair without BatchNorm, where "
                    "it vanishes; the one after it, the same pair with BatchNorm.", "vanishing_conv")
    if not alike:
        return None  # the runs differ: the comparison itself tells it
    if len(vanishing) == len(points):
        return Hint("Every run's gradient vanishes toward the input at init, alike: none of them has a path that "
                    "carries it (He et al. 2015, sec. 2.2). The lesson shows the same net with identity shortcuts.",
                    "vanishing_mlp")
    return Hint(f"These runs' gradients at init are alike: {_OTHER_WHY}. The lesson shows a pair where they differ.",
                "vanishing_mlp")
