"""Degradation (He et al. 2016, "Deep Residual Learning", sec. 4.2 and fig. 1 / fig. 6): a deeper plain net
reaches a *higher training* loss and error than a shallower one (not overfitting: optimisation), while
with identity shortcuts the deeper net trains at least as well as the shallower one.

Runs: plain{shallow}, plain{deep}, resnet{shallow}, resnet{deep}, each over the seeds, same config.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from engine.lab.experiments.base import AnalysisContext, Experiment, RunPlan, register_experiment
from engine.lab.experiments.common import ImageOptions, check_depth, cifar_net, curve_bands, error, image_config
from engine.lab.experiments.stats import pm, seed_stats, series, tail_mean

# "Does not degrade": the deeper residual net's end training error may exceed the shallower one's by at most this
# (absolute). Both end near zero on shapes, where a strict "lower" would turn on a few misclassified samples.
NO_DEGRADATION = 0.01


class DegradationOptions(ImageOptions):
    seeds: int = Field(2, ge=1, le=10, description="runs per net (mean +- band over seeds)")
    steps: int = Field(500, gt=0)
    image_size: int = Field(16, ge=16, le=64, description="shapes only: image side (16: 4x cheaper than CIFAR's 32)")
    shallow: int = Field(20, description="depth of the shallow pair (6n + 2)")
    deep: int = Field(56, description="depth of the deep pair (6n + 2)")

    @field_validator("shallow", "deep")
    @classmethod
    def _depth(cls, v: int) -> int:
        return check_depth(v)


def plan(opts: DegradationOptions) -> list[RunPlan]:
    plans = []
    for seed in range(opts.seeds):
        cfg = image_config(opts, seed)
        for shortcut in ("none", "A"):
            for depth in (opts.shallow, opts.deep):
                spec = cifar_net(depth, shortcut, opts)
                plans.append(RunPlan(spec["name"], seed, spec, cfg))
    return plans


def _end(ctx: AnalysisContext, runs: list, key: str, transform: Any = None) -> tuple[float, float]:
    vals = []
    for r in runs:
        s = series(r, ctx.store, key)
        if s is not None:
            vals.append(tail_mean(transform(s[1]) if transform else s[1]))
    return seed_stats(vals)


def analyse(ctx: AnalysisContext) -> dict[str, Any]:
    opts: DegradationOptions = ctx.options  # type: ignore[assignment]
    groups = ctx.by_label()
    figures: dict[str, Any] = {"loss": {}, "train_error": {}, "val_error": {}}
    numbers: dict[str, Any] = {}
    for label, runs in groups.items():
        figures["loss"][label] = curve_bands(ctx.store, runs, "loss")
        figures["train_error"][label] = curve_bands(ctx.store, runs, "acc", error)
        figures["val_error"][label] = curve_bands(ctx.store, runs, "val_acc", error)
        loss_m, loss_s = _end(ctx, runs, "loss")
        err_m, err_s = _end(ctx, runs, "acc", error)
        val = [1 - r.summary["val_acc"] for r in runs if "val_acc" in r.summary]
        val_m, val_s = seed_stats(val)
        numbers[label] = {"final_loss": loss_m, "final_loss_std": loss_s, "train_error": err_m,
                          "train_error_std": err_s, "val_error": val_m, "val_error_std": val_s,
                          "statuses": [r.row.get("status") for r in runs]}
    s, d = opts.shallow, opts.deep
    p_s, p_d, r_s, r_d = (numbers.get(k, {}) for k in (f"plain{s}", f"plain{d}", f"resnet{s}", f"resnet{d}"))
    claims = []
    if p_s and p_d:
        held = p_d["final_loss"] > p_s["final_loss"]
        claims.append({"claim": f"plain{d} trains worse than plain{s} (higher training loss): degradation",
                       "held": bool(held),
                       "evidence": f"plain{d} ends at training loss {pm(p_d['final_loss'], p_d['final_loss_std'])} "
                                   f"vs plain{s} {pm(p_s['final_loss'], p_s['final_loss_std'])}; training error "
                                   f"{_pct(p_d['train_error'])} vs {_pct(p_s['train_error'])}"})
    if r_s and r_d:
        held = r_d["train_error"] <= r_s["train_error"] + NO_DEGRADATION
        claims.append({"claim": f"with shortcuts the deeper net does not degrade: resnet{d}'s training error is at "
                                f"most {100 * NO_DEGRADATION:.0f} point above resnet{s}'s", "held": bool(held),
                       "evidence": f"resnet{d} ends at training loss {pm(r_d['final_loss'], r_d['final_loss_std'])} "
                                   f"vs resnet{s} {pm(r_s['final_loss'], r_s['final_loss_std'])}; training error "
                                   f"{_pct(r_d['train_error'])} vs {_pct(r_s['train_error'])}"})
    if p_d and r_d:
        held = r_d["final_loss"] < p_d["final_loss"]
        claims.append({"claim": f"at depth {d} the residual net trains better than its plain twin", "held": bool(held),
                       "evidence": f"resnet{d} {pm(r_d['final_loss'], r_d['final_loss_std'])} vs plain{d} "
                                   f"{pm(p_d['final_loss'], p_d['final_loss_std'])} training loss; validation error "
                                   f"{_pct(r_d['val_error'])} vs {_pct(p_d['val_error'])}"})
    return {"numbers": numbers, "figures": figures, "claims": claims,
            "conclusion": _conclusion(claims, opts, ctx)}


def _still_falling(ctx: AnalysisContext, label: str, steps: int) -> str:
    """When the deep residual net has not caught up: was its loss still falling at the end (a budget effect,
    not degradation)? Measured over the last quarter of the run, mean over seeds."""
    band = curve_bands(ctx.store, ctx.by_label().get(label, []), "loss")
    if not band or len(band["mean"]) < 8:
        return ""
    mean = [v for v in band["mean"] if v is not None]
    q = max(2, len(mean) // 4)
    before, end = float(sum(mean[-2 * q:-q]) / q), float(sum(mean[-q:]) / q)
    if not end < 0.9 * before:
        return f" {label}'s training loss had levelled off ({before:.3f} -> {end:.3f} over the last quarter)."
    return (f" {label}'s training loss was still falling at the end ({before:.3f} -> {end:.3f} over the last "
            f"quarter of the steps), so the budget may be what holds it back (He et al. trained for 64,000 steps); "
            f"try {4 * steps} steps.")


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%" if v == v else "n/a"


def _conclusion(claims: list[dict[str, Any]], opts: DegradationOptions, ctx: AnalysisContext) -> str:
    n_runs = len(ctx.runs)
    failed = [f"{r.plan.run_name} ({r.row.get('status')})" for r in ctx.runs if not r.ok]
    head = (f"After {opts.steps} steps on {opts.dataset} ({opts.seeds} seed(s), {n_runs} runs): ")
    parts = []
    for c in claims:
        verdict = "held" if c["held"] else "did NOT hold"
        parts.append(f"{c['claim']}: {verdict} ({c['evidence']}).")
    text = head + " ".join(parts)
    deep = f"resnet{opts.deep}"
    if any(not c["held"] and c["claim"].startswith("with shortcuts") for c in claims):
        text += _still_falling(ctx, deep, opts.steps)
    if failed:
        text += " Runs that did not finish: " + ", ".join(failed) + "."
    return text


EXPERIMENT = register_experiment(Experiment(
    name="degradation",
    title="Degradation: deeper plain nets train worse",
    claim="He et al. 2016 (fig. 1, 6): plain56 has higher training error than plain20; with identity shortcuts "
          "resnet56 trains better than resnet20.",
    options=DegradationOptions,
    plan=plan,
    analyse=analyse,
    tiny={"seeds": 1, "steps": 4, "shallow": 8, "deep": 14, "width": 4, "image_size": 16, "train_size": 64,
          "val_size": 32, "batch_size": 16},
))
