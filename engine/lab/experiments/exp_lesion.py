"""Lesion study (Veit et al. 2016, "Residual Networks Behave Like Ensembles of Relatively Shallow Networks",
sec. 4, fig. 3 and 5): train a residual net and its plain twin, then delete blocks at test time.

Veit et al. report that deleting one block of a residual net barely changes its error (except some
downsampling blocks), while deleting a layer of a plain net (VGG) drops it to chance; and that the error of
a residual net grows smoothly as more blocks are deleted. Their explanation: the n blocks unravel into 2^n
paths whose lengths follow a binomial distribution, and the net behaves like an ensemble of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field, field_validator

from engine.lab.experiments.base import AnalysisContext, Experiment, RunPlan, register_experiment
from engine.lab.experiments.common import ImageOptions, check_depth, cifar_net, image_config
from engine.lab.experiments.lesion import lesion_study, load_trained
from engine.lab.experiments.stats import binomial_paths, seed_stats

SMOOTH_STEP = 0.25  # one more deleted block costing more than this (absolute accuracy) is a cliff, not smooth


class LesionOptions(ImageOptions):
    seeds: int = Field(1, ge=1, le=10)
    steps: int = Field(400, gt=0)
    depth: int = Field(20, description="depth of both nets (6n + 2): 3n blocks")
    draws: int = Field(5, ge=1, le=50, description="random block sets per k when deleting k blocks")
    eval_size: int = Field(500, ge=10, description="validation images each lesioned net is scored on")

    @field_validator("depth")
    @classmethod
    def _depth(cls, v: int) -> int:
        return check_depth(v)


def plan(opts: LesionOptions) -> list[RunPlan]:
    plans = []
    for seed in range(opts.seeds):
        cfg = image_config(opts, seed)
        for shortcut in ("A", "none"):
            spec = cifar_net(opts.depth, shortcut, opts)
            plans.append(RunPlan(spec["name"], seed, spec, cfg))
    return plans


def _val_data(ctx: AnalysisContext, config: dict[str, Any], n: int) -> tuple[torch.Tensor, torch.Tensor]:
    from engine.data import load_dataset

    ds = load_dataset(config["dataset"], **config.get("dataset_options", {}))
    return ds.x_val[:n], ds.y_val[:n]


def analyse(ctx: AnalysisContext) -> dict[str, Any]:
    opts: LesionOptions = ctx.options  # type: ignore[assignment]
    per_net: dict[str, list[dict[str, Any]]] = {}
    skipped = []
    data: tuple[torch.Tensor, torch.Tensor] | None = None
    for r in ctx.runs:
        weights = r.summary.get("weights_path")
        if not r.ok or not weights:
            skipped.append(f"{r.plan.run_name} ({r.row.get('status')})")
            continue
        if data is None:
            data = _val_data(ctx, r.plan.config, opts.eval_size)
        model, graph = load_trained(r.row["spec"], weights)
        ctx.report(f"{r.plan.run_name}: lesions")
        study = lesion_study(model, graph, *data, draws=opts.draws, seed=r.plan.seed,
                             report=lambda m, name=r.plan.run_name: ctx.report(f"{name}: {m}"))
        per_net.setdefault(r.plan.label, []).append(study)
    figures: dict[str, Any] = {"single": {}, "k": {}}
    numbers: dict[str, Any] = {}
    for label, studies in per_net.items():
        figures["single"][label] = _single(studies)
        figures["k"][label] = _k_curve(studies)
        base_m, base_s = seed_stats([s["base_acc"] for s in studies])
        single = figures["single"][label]
        drops = [base_m - a for a, ok in zip(single["acc"], single["removable"], strict=True) if ok and a is not None]
        numbers[label] = {"base_acc": base_m, "base_acc_std": base_s, "n_blocks": studies[0]["n_blocks"],
                          "n_removable": studies[0]["n_removable"],
                          "mean_single_drop": float(np.mean(drops)) if drops else float("nan"),
                          "max_single_drop": float(np.max(drops)) if drops else float("nan"),
                          "worst_block": _worst(single, base_m)}
    res = next((k for k in numbers if k.startswith("resnet")), None)
    n_res = numbers[res]["n_blocks"] if res else 3 * ((opts.depth - 2) // 6)
    figures["paths"] = binomial_paths(n_res)
    claims = _claims(numbers, figures, opts)
    return {"numbers": numbers, "figures": figures, "claims": claims,
            "conclusion": _conclusion(numbers, claims, skipped, opts)}


def _single(studies: list[dict[str, Any]]) -> dict[str, Any]:
    blocks = [b["block"] for b in studies[0]["blocks"]]
    removable = [b["removable"] for b in studies[0]["blocks"]]
    acc, std = [], []
    for i in range(len(blocks)):
        vals = [s["blocks"][i]["acc"] for s in studies if s["blocks"][i]["acc"] is not None]
        m, sd = seed_stats(vals) if vals else (float("nan"), float("nan"))
        acc.append(m if vals else None)
        std.append(sd if vals else None)
    return {"blocks": blocks, "removable": removable, "acc": acc, "std": std,
            "base": float(np.mean([s["base_acc"] for s in studies]))}


def _k_curve(studies: list[dict[str, Any]]) -> dict[str, Any]:
    n = min(len(s["k"]) for s in studies)
    mean = np.mean([s["k_mean"][:n] for s in studies], axis=0)
    std = np.mean([s["k_std"][:n] for s in studies], axis=0)
    return {"k": list(range(1, n + 1)), "mean": mean.tolist(), "std": std.tolist()}


def _worst(single: dict[str, Any], base: float) -> dict[str, Any] | None:
    pairs = [(base - a, b) for a, b in zip(single["acc"], single["blocks"], strict=True) if a is not None]
    if not pairs:
        return None
    drop, block = max(pairs)
    return {"block": block, "drop": drop}


def _claims(numbers: dict[str, Any], figures: dict[str, Any], opts: LesionOptions) -> list[dict[str, Any]]:
    res, plain = f"resnet{opts.depth}", f"plain{opts.depth}"
    claims: list[dict[str, Any]] = []
    if res in numbers and plain in numbers:
        r, p = numbers[res], numbers[plain]
        claims.append({"claim": "deleting one block hurts the residual net far less than the plain net",
                       "held": bool(r["mean_single_drop"] < 0.5 * p["mean_single_drop"]),
                       "evidence": f"mean accuracy drop per deleted block: {res} {100 * r['mean_single_drop']:.1f} "
                                   f"points (from {100 * r['base_acc']:.1f}%), {plain} "
                                   f"{100 * p['mean_single_drop']:.1f} points (from {100 * p['base_acc']:.1f}%; "
                                   f"{p['n_blocks'] - p['n_removable']} of its {p['n_blocks']} blocks change shape "
                                   "and cannot be removed)"})
    if res in numbers and figures["k"][res]["mean"]:
        k = figures["k"][res]
        # accuracy lost by each extra deleted block; "smooth" = no single deletion costs a quarter of the accuracy
        steps = -np.diff([figures["single"][res]["base"], *k["mean"]])
        shown = sorted({1, max(1, len(k["k"]) // 2), len(k["k"])})
        claims.append({"claim": "the residual net's accuracy degrades smoothly as more blocks are deleted",
                       "held": bool(np.max(steps) < SMOOTH_STEP),
                       "evidence": f"{res} accuracy with k random blocks deleted: "
                                   + ", ".join(f"k={kk}: {100 * k['mean'][kk - 1]:.1f}%" for kk in shown)
                                   + f"; the largest loss from one more deletion is {100 * float(np.max(steps)):.1f} "
                                     "points"})
    return claims


def _conclusion(numbers: dict[str, Any], claims: list[dict[str, Any]], skipped: list[str], opts: LesionOptions) -> str:
    parts = [f"Lesions on depth-{opts.depth} nets after {opts.steps} steps ({opts.seeds} seed(s), {opts.eval_size} "
             "validation images)."]
    for label, n in numbers.items():
        worst = n["worst_block"]
        parts.append(f"{label}: {100 * n['base_acc']:.1f}% intact; deleting one removable block costs "
                     f"{100 * n['mean_single_drop']:.1f} points on average"
                     + (f", most at {worst['block']} ({100 * worst['drop']:.1f} points)" if worst else "") + ".")
    for c in claims:
        parts.append(f"Claim '{c['claim']}': {'held' if c['held'] else 'did NOT hold'} ({c['evidence']}).")
    if skipped:
        parts.append("Not analysed (no trained weights): " + ", ".join(skipped) + ".")
    return " ".join(parts)


EXPERIMENT = register_experiment(Experiment(
    name="lesion",
    title="Lesion study: residual nets as ensembles of shallow paths",
    claim="Veit et al. 2016: deleting a block of a trained residual net barely hurts, deleting a layer of a plain "
          "net is fatal; error grows smoothly with the number of deleted blocks (paths ~ binomial).",
    options=LesionOptions,
    plan=plan,
    analyse=analyse,
    tiny={"seeds": 1, "steps": 4, "depth": 8, "width": 4, "image_size": 16, "train_size": 64, "val_size": 32,
          "batch_size": 16, "draws": 2, "eval_size": 32},
))
