"""A lesson's pair of runs read back from the store: the numbers, each expectation against them, the conclusion in
words and the series the page draws. Everything here is computed from the runs; nothing is canned but the
sentence frames, and a number that does not show what the sources say is reported as such."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.analysis.gradflow import FlowPoint, LayerGrads, describe_point, flow_point, sci
from engine.lab.lessons.base import Expectation, Lesson
from engine.lab.runflow import stored_grads
from engine.store import RunStore
from engine.train.events import FINAL_STATUSES

SHOWED, NOT_SHOWN, UNMEASURED = "showed", "did not show", "not measured"
TAIL = 0.1  # end loss: mean over the last tenth of the logged steps (one step's loss is one batch's: noisy)


def _log10(x: float) -> float:
    return math.log10(x) if x > 0 and math.isfinite(x) else (-math.inf if x == 0 else math.nan)


def _tail_mean(values: np.ndarray) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v[-max(1, int(round(len(v) * TAIL))):].mean()) if v.size else math.nan


@dataclass
class VariantNumbers:
    label: str
    run_id: int | None
    status: str  # the run's status, or "missing" (deleted from the store)
    error: str | None
    steps_done: int
    init: FlowPoint | None  # first / last gradient at step 1 (computed before the first update: the init)
    end: FlowPoint | None  # at the last logged step
    loss_end: float
    val_acc: float

    def stat(self, name: str) -> float:
        ratio = {"log_ratio_init": self.init, "abs_log_ratio_init": self.init, "log_ratio_end": self.end}
        if name in ratio:
            point = ratio[name]
            value = _log10(point.ratio) if point is not None else math.nan
            return abs(value) if name.startswith("abs_") else value
        return {"loss_end": self.loss_end, "val_acc": self.val_acc}[name]


@dataclass
class Verdict:
    expectation: Expectation
    value: float  # nan: not measured
    outcome: str  # SHOWED | NOT_SHOWN | UNMEASURED
    measured: str  # the numbers in words

    @property
    def text(self) -> str:
        e = self.expectation
        if self.outcome == SHOWED:
            return f"Showed: {e.text} — {self.measured} ({e.source})."
        if self.outcome == NOT_SHOWN:
            return f"Did not show: {e.text} — {self.measured} ({e.source})."
        return f"Not measured: {e.text} — {self.measured}."


@dataclass
class LessonResult:
    lesson: str
    finished: bool  # both runs in a final status
    variants: list[VariantNumbers]
    verdicts: list[Verdict]  # judged from the numbers; part of the conclusion once both runs have finished
    summary: list[str]  # the runs' state and numbers in words
    closing: list[str]  # the tally of verdicts, the length, and what one seed can say (once finished)
    figures: dict[str, Any] = field(default_factory=dict)
    takeaway: list[str] = field(default_factory=list)  # the lesson's point, as shown or as not borne out (finished)

    @property
    def conclusion(self) -> list[str]:
        return [*self.summary, *(v.text for v in self.verdicts if self.finished), *self.takeaway, *self.closing]


def _numbers(store: RunStore, label: str, run_id: int | None) -> tuple[VariantNumbers, LayerGrads | None]:
    row = store.get_run(run_id) if run_id is not None else None
    if row is None:
        return VariantNumbers(label, run_id, "missing", None, 0, None, None, math.nan, math.nan), None
    grads = stored_grads(store, run_id, label)
    metrics = store.get_metrics(run_id, ["loss", "val_acc"])
    loss, acc = metrics.get("loss"), metrics.get("val_acc")
    val_acc = (row.get("summary") or {}).get("val_acc")
    if val_acc is None and acc is not None and len(acc[1]):
        val_acc = float(acc[1][-1])
    first = int(grads.steps[0]) if not grads.empty else None
    return VariantNumbers(label, run_id, str(row["status"]), row.get("error"), int(store.latest_step(run_id) or 0),
                          flow_point(grads, first) if first is not None else None, flow_point(grads),
                          _tail_mean(loss[1]) if loss is not None else math.nan,
                          float(val_acc) if val_acc is not None else math.nan), grads


def _measured(e: Expectation, by: Mapping[str, VariantNumbers]) -> str:
    def one(label: str) -> str:
        v = by[label]
        if e.stat.endswith("_init") or e.stat == "log_ratio_end":
            point = v.init if e.stat.endswith("_init") else v.end
            return f"{label} first/last {sci(point.ratio)}" if point is not None else f"{label}: no gradient logged"
        x = v.stat(e.stat)
        return f"{label} {x:.1%}" if e.stat == "val_acc" else f"{label} {x:.3g}"

    return one(e.variant) + (f" vs {one(e.than)}" if e.than else "")


def judge(e: Expectation, by: Mapping[str, VariantNumbers]) -> Verdict:
    value = by[e.variant].stat(e.stat)
    if e.than is not None:
        other = by[e.than].stat(e.stat)
        value = value - other if not (math.isinf(value) and math.isinf(other)) else math.nan
    measured = _measured(e, by)
    if math.isnan(value):
        return Verdict(e, value, UNMEASURED, measured)
    held = value > e.threshold if e.direction == "above" else value < e.threshold
    return Verdict(e, value, SHOWED if held else NOT_SHOWN, measured)


def _series(store: RunStore, run_id: int | None, key: str) -> tuple[list[float], list[float]] | None:
    if run_id is None:
        return None
    data = store.get_metrics(run_id, [key]).get(key)
    if data is None or not len(data[0]):
        return None
    return data[0].astype(float).tolist(), [float(v) if math.isfinite(v) else math.nan for v in data[1]]


def _figures(store: RunStore, nums: list[VariantNumbers], grads: list[LayerGrads | None]) -> dict[str, Any]:
    figs: dict[str, Any] = {"ratio": {}, "profile_init": {}, "profile_layers": {}, "loss": {}, "val_acc": {}}
    for v, g in zip(nums, grads, strict=True):
        for key in ("loss", "val_acc"):
            if (s := _series(store, v.run_id, key)) is not None:
                figs[key][v.label] = s
        if g is None or g.empty:
            continue
        first, last = g.norms[g.weighted[0]], g.norms[g.weighted[-1]]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(last > 0, first / last, np.nan)
        figs["ratio"][v.label] = (g.steps.astype(float).tolist(), ratio.tolist())
        figs["profile_init"][v.label] = g.profile(0).tolist()
        figs["profile_layers"][v.label] = [g.names[i] for i in g.weighted]
    return figs


def _run_line(v: VariantNumbers) -> str | None:
    if v.status == "done":
        return None
    if v.status in ("queued", "running"):
        return f"{v.label} is {v.status} (step {v.steps_done}): the numbers below are so far."
    if v.status == "missing":
        return f"{v.label}: its run is no longer in the store; run the lesson again."
    why = f": {v.error}" if v.error else ""
    return f"{v.label} ended {v.status} at step {v.steps_done}{why}."


def read(lesson: Lesson, store: RunStore, run_ids: Mapping[str, int | None]) -> LessonResult:
    """The lesson's result from its two runs ({label: run id}); partial while they run."""
    pairs = [_numbers(store, label, run_ids.get(label)) for label in lesson.labels]
    nums, grads = [n for n, _ in pairs], [g for _, g in pairs]
    by = {v.label: v for v in nums}
    finished = all(v.status in FINAL_STATUSES or v.status == "missing" for v in nums)
    lines = [line for v in nums if (line := _run_line(v))]
    measured = [g for g in grads if g is not None and not g.empty]
    if measured:
        init = describe_point(measured, [int(g.steps[0]) for g in measured], "at init")
        lines += [f"At init (step {v.init.step}, before any update), {v.label}: {v.init.phrase()}." for v in nums
                  if v.init is not None]
        lines += init.comparison
    a, b = nums
    steps = max(a.steps_done, b.steps_done)
    if steps > 1:
        lines.append(f"After {steps} steps: training loss {a.label} {a.loss_end:.3g}, {b.label} {b.loss_end:.3g} "
                     f"(mean of the last tenth of the logged steps); validation accuracy {a.label} "
                     f"{_pct(a.val_acc)}, {b.label} {_pct(b.val_acc)}.")
        ends = [f"{v.label} {sci(v.end.ratio)}" for v in nums if v.end is not None and v.end.step > 1]
        if ends:
            lines.append(f"First/last gradient ratio at the last logged step: {', '.join(ends)}.")
    verdicts = [judge(e, by) for e in lesson.expectations]
    closing, takeaway = [], []
    if finished:
        missed = [v for v in verdicts if v.outcome != SHOWED]
        closing.append("These runs show every expected effect." if not missed else
                       f"{len(missed)} of {len(verdicts)} expected effects did not show in these runs.")
        if steps < lesson.steps:
            closing.append(f"These runs trained {steps} steps; the lesson's default is {lesson.steps}. The gradient at "
                           "init does not depend on the length, but the loss and accuracy of a short run say little.")
        closing.append("One seed, one pair: a demonstration, not a test. The Experiments page repeats such runs "
                       "over seeds and judges each claim.")
        takeaway = _takeaway(lesson, verdicts)
    return LessonResult(lesson.name, finished, nums, verdicts, lines, closing, _figures(store, nums, grads), takeaway)


def _takeaway(lesson: Lesson, verdicts: list[Verdict]) -> list[str]:
    """The lesson's point, said as shown only when every expectation showed in these runs (the point speaks of
    learning too, not only of the gradient)."""
    if not lesson.takeaway:
        return []
    if all(v.outcome == SHOWED for v in verdicts):
        return [f"What this shows: {lesson.takeaway}"]
    return [f"What the sources predict: {lesson.takeaway} These runs did not show all of it (see the verdicts), so "
            "this pair does not bear it out at these settings."]


def _pct(x: float) -> str:
    return f"{x:.1%}" if math.isfinite(x) else "not measured"
