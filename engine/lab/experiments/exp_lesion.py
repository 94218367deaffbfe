"""Lesion study (Veit et al. 2016, "Residual Networks Behave Like Ensembles of Relatively Shallow Networks",
sec. 4, fig. 3 and 5): train a residual net and its plain twin, then delete blocks at test time, without
retraining, and measure the test error left.

Veit et al. (ResNet-110 on CIFAR-10, 54 blocks; VGG-15 as the plain net) report: deleting any one block of the
residual net barely changes its error, downsampling blocks a little more; deleting any layer of the plain net
drops it to chance; and the residual net's error grows smoothly as more random blocks are deleted. Their
explanation: n blocks unravel into 2^n paths of binomially distributed lengths, which behave like an ensemble.

Every measure is the paper's test error, expressed as the fraction of what the net learned that a lesion takes
away: (lesioned error - intact error) / (chance error - intact error), so 0 = no harm, 1 = back to chance; per
seed, judged with the t-margin over seeds (engine.lab.experiments.claims).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from pydantic import Field, field_validator

from engine.lab.experiments.base import AnalysisContext, Experiment, RunPlan, register_experiment
from engine.lab.experiments.claims import Claim, judge_all
from engine.lab.experiments.common import ImageOptions, check_depth, cifar_net, image_config
from engine.lab.experiments.lesion import k_grid, lesion_study, load_trained
from engine.lab.experiments.report import conclusion
from engine.lab.experiments.stats import binomial_paths, seed_stats

TRAINED = 0.80  # He et al. 2016 sec. 4.2's mark of a net that trains (training error below 80%; chance 90%)
_SRC = "Veit et al. 2016 (NeurIPS), sec. 4"
_MEASURED = "CIFAR-10 test error of ResNet-110 (54 blocks) and VGG-15 with single blocks / layers deleted at test time"


def registered_claims(depth: int, plain_depth: int) -> tuple[Claim, ...]:
    res, plain = f"resnet{depth}", f"plain{plain_depth}"

    def trains(net: str) -> Claim:
        return Claim(f"{net}_trains", f"{net} trains (leaves chance)", "He et al. 2016, sec. 4.2 (warm-up rule)",
                     "the error below which the paper treats a net as training", f"intact test error of {net}",
                     "below", TRAINED, "the paper's mark: 'until the training error is below 80%' (chance: 90%)",
                     unit="points", check=True)

    return (
        trains(res), trains(plain),
        Claim("single_deletion_minor", f"deleting one block (not a downsampling one) of {res} costs little",
              _SRC + ".1, fig. 3a", _MEASURED,
              "mean over non-downsampling blocks of the fraction of the learned accuracy lost", "below", 0.1,
              "fig. 3a: ResNet-110's error stays a few points from the intact error (on a ~90-point range to "
              "chance) for all but the downsampling blocks; a tenth of the range bounds 'minimal impact'",
              requires=(f"{res}_trains",)),
        Claim("plain_deletion_fatal", f"deleting one layer block of {plain} drops it most of the way to chance",
              _SRC + ".1, fig. 3b", _MEASURED, "mean over removable blocks of the fraction of the learned accuracy "
              "lost", "above", 0.5, "VGG goes to chance (a fraction of 1) when any layer is deleted; more than "
              "half the way there is 'most of the way'", requires=(f"{plain}_trains",)),
        Claim("downsampling_costs_more", f"deleting a downsampling block of {res} costs more than deleting another",
              _SRC + ".1, fig. 3a ('removing downsampling modules has a slightly higher impact')", _MEASURED,
              "fraction lost, mean over downsampling blocks minus mean over the others", "above", 0.0,
              "the paper claims a direction, not a size", requires=(f"{res}_trains",)),
        Claim("smooth_degradation", f"{res}'s error grows smoothly as more random blocks are deleted",
              _SRC + ".3, fig. 5a", "CIFAR-10 test error of ResNet-110 with 1 to 20 random blocks deleted",
              "the largest rise of the fraction lost per extra deleted block, between consecutive k", "below", 0.25,
              "a plain net's curve is a cliff (about 1 at k = 1); a rise under a quarter of the range per block "
              "means no single deletion takes most of what is left", requires=(f"{res}_trains",)),
    )


class LesionOptions(ImageOptions):
    seeds: int = Field(3, ge=1, le=10)
    image_size: int = Field(12, ge=8, le=64, description="built-in data only: image side (CIFAR is 32)")
    width: int = Field(4, ge=2, le=64, description="first-stage width; stages are w, 2w, 4w (He et al.: 16)")
    steps: int = Field(600, gt=0)
    depth: int = Field(56, description="depth of the residual net (6n + 2): 3n blocks (Veit et al.: 110, 54 blocks)")
    plain_depth: int = Field(20, description="depth of the plain net (6n + 2; Veit et al. used VGG-15)")
    draws: int = Field(4, ge=1, le=50, description="random block sets per k when deleting k blocks")
    max_deleted: int = Field(20, ge=1, description="most blocks deleted at once (Veit et al. fig. 5a: 20)")
    eval_size: int = Field(1000, ge=10, description="validation images each lesioned net is scored on")

    @field_validator("depth", "plain_depth")
    @classmethod
    def _depth(cls, v: int) -> int:
        return check_depth(v)


def plan(opts: LesionOptions) -> list[RunPlan]:
    plans = []
    for seed in range(opts.seeds):
        cfg = image_config(opts, seed)
        for depth, shortcut in ((opts.depth, "A"), (opts.plain_depth, "none")):
            spec = cifar_net(depth, shortcut, opts)
            plans.append(RunPlan(spec["name"], seed, spec, cfg))
    return plans


def _val_data(config: dict[str, Any], n: int) -> tuple[torch.Tensor, torch.Tensor]:
    from engine.data import load_dataset

    ds = load_dataset(config["dataset"], **config.get("dataset_options", {}))
    return ds.x_val[:n], ds.y_val[:n]


def lost(acc: float | None, base: float, chance: float) -> float:
    """Fraction of the learned accuracy a lesion takes away: 0 = none, 1 = back to chance (NaN if not learned)."""
    if acc is None or not base > chance:
        return float("nan")
    return (base - acc) / (base - chance)


def study_values(study: dict[str, Any], chance: float) -> dict[str, float]:
    """One seed's statistics from one net's lesion study."""
    base = study["base_acc"]
    blocks = [b for b in study["blocks"] if b["removable"] and b["acc"] is not None]
    plain_f = [lost(b["acc"], base, chance) for b in blocks if not b["downsampling"]]
    down_f = [lost(b["acc"], base, chance) for b in blocks if b["downsampling"]]
    every = [lost(b["acc"], base, chance) for b in blocks]
    ks, fr = [0, *study["k"]], [0.0, *[lost(a, base, chance) for a in study["k_mean"]]]
    rises = [(fr[i + 1] - fr[i]) / (ks[i + 1] - ks[i]) for i in range(len(ks) - 1)]
    mean = _mean
    return {"error": 1 - base, "lost_other": mean(plain_f), "lost_down": mean(down_f), "lost_any": mean(every),
            "down_minus_other": mean(down_f) - mean(plain_f) if down_f and plain_f else float("nan"),
            "max_rise": float(np.nanmax(rises)) if rises and np.isfinite(rises).any() else float("nan")}


def claim_values(per_seed: dict[str, dict[int, dict[str, float]]], depth: int,
                 plain_depth: int) -> dict[str, list[float | None]]:
    res, plain = per_seed.get(f"resnet{depth}", {}), per_seed.get(f"plain{plain_depth}", {})
    values: dict[str, list[float | None]] = {}
    if res:
        values[f"resnet{depth}_trains"] = [v["error"] for v in res.values()]
        values["single_deletion_minor"] = [v["lost_other"] for v in res.values()]
        values["downsampling_costs_more"] = [v["down_minus_other"] for v in res.values()]
        values["smooth_degradation"] = [v["max_rise"] for v in res.values()]
    if plain:
        values[f"plain{plain_depth}_trains"] = [v["error"] for v in plain.values()]
        values["plain_deletion_fatal"] = [v["lost_any"] for v in plain.values()]
    return values


def analyse(ctx: AnalysisContext) -> dict[str, Any]:
    opts: LesionOptions = ctx.options  # type: ignore[assignment]
    per_net: dict[str, list[dict[str, Any]]] = {}
    per_seed: dict[str, dict[int, dict[str, float]]] = {}
    skipped = []
    data: tuple[torch.Tensor, torch.Tensor] | None = None
    chance = 0.1
    for r in ctx.runs:
        weights = r.summary.get("weights_path")
        if not r.ok or not weights:
            skipped.append(f"{r.plan.run_name} ({r.row.get('status')})")
            continue
        if data is None:
            data = _val_data(r.plan.config, opts.eval_size)
            chance = 1.0 / max(2, int(r.plan.spec.get("num_classes", 10)))
        model, graph = load_trained(r.row["spec"], weights)
        ctx.report(f"{r.plan.run_name}: lesions")
        n_blocks = 3 * ((int(r.plan.spec["name"].removeprefix("plain").removeprefix("resnet")) - 2) // 6)
        study = lesion_study(model, graph, *data, draws=opts.draws, seed=r.plan.seed,
                             ks=k_grid(n_blocks, opts.max_deleted),
                             report=lambda m, name=r.plan.run_name: ctx.report(f"{name}: {m}"))
        per_net.setdefault(r.plan.label, []).append(study)
        per_seed.setdefault(r.plan.label, {})[r.plan.seed] = study_values(study, chance)
    figures: dict[str, Any] = {"single": {}, "k": {}}
    numbers: dict[str, Any] = {}
    for label, studies in per_net.items():
        figures["single"][label] = _single(studies)
        figures["k"][label] = _k_curve(studies)
        base_m, base_s = seed_stats([s["base_acc"] for s in studies])
        single = figures["single"][label]
        vals = list(per_seed[label].values())
        numbers[label] = {"base_acc": base_m, "base_acc_std": base_s, "n_blocks": studies[0]["n_blocks"],
                          "n_removable": studies[0]["n_removable"],
                          "mean_single_drop": _mean([base_m - a for a, ok in zip(single["acc"], single["removable"],
                                                                                 strict=True) if ok and a is not None]),
                          "lost_other": _mean([v["lost_other"] for v in vals]),
                          "lost_down": _mean([v["lost_down"] for v in vals]),
                          "lost_any": _mean([v["lost_any"] for v in vals]),
                          "worst_block": _worst(single, base_m)}
    n_res = 3 * ((opts.depth - 2) // 6)
    figures["paths"] = binomial_paths(n_res)
    figures["chance"] = chance
    claims = judge_all(registered_claims(opts.depth, opts.plain_depth),
                       claim_values(per_seed, opts.depth, opts.plain_depth))
    return {"numbers": numbers, "figures": figures, "claims": claims,
            "conclusion": _conclusion(numbers, claims, skipped, opts, ctx)}


def _mean(v: list[float]) -> float:
    v = [x for x in v if math.isfinite(x)]
    return float(np.mean(v)) if v else float("nan")


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
            "downsampling": [b.get("downsampling", False) for b in studies[0]["blocks"]],
            "base": float(np.mean([s["base_acc"] for s in studies]))}


def _k_curve(studies: list[dict[str, Any]]) -> dict[str, Any]:
    n = min(len(s["k"]) for s in studies)
    mean = np.mean([s["k_mean"][:n] for s in studies], axis=0) if n else np.zeros(0)
    std = np.mean([s["k_std"][:n] for s in studies], axis=0) if n else np.zeros(0)
    return {"k": studies[0]["k"][:n], "mean": mean.tolist(), "std": std.tolist()}


def _worst(single: dict[str, Any], base: float) -> dict[str, Any] | None:
    pairs = [(base - a, b) for a, b in zip(single["acc"], single["blocks"], strict=True) if a is not None]
    if not pairs:
        return None
    drop, block = max(pairs)
    return {"block": block, "drop": drop}


def _conclusion(numbers: dict[str, Any], claims: list[dict[str, Any]], skipped: list[str], opts: LesionOptions,
                ctx: AnalysisContext) -> str:
    parts = [f"Lesions on resnet{opts.depth} ({3 * ((opts.depth - 2) // 6)} blocks; Veit et al.: 54) and "
             f"plain{opts.plain_depth} (Veit et al.: VGG-15) after "
             f"{opts.steps} steps on {opts.dataset}, {opts.seeds} seed(s), {opts.eval_size} validation images."]
    for label, n in numbers.items():
        worst = n["worst_block"]
        parts.append(f"{label}: {100 * n['base_acc']:.1f}% accurate intact; one deleted block costs "
                     f"{100 * n['mean_single_drop']:.1f} points on average, i.e. "
                     f"{100 * n['lost_any']:.0f}% of what it learned"
                     + (f"; the worst is {worst['block']} ({100 * worst['drop']:.1f} points)" if worst else "") + ".")
        if not 1 - n["base_acc"] < TRAINED:
            parts.append(f"{label} did not train (error at or above {100 * TRAINED:.0f}%): its lesions say nothing.")
    if skipped:
        parts.append("Not analysed (no trained weights): " + ", ".join(skipped) + ".")
    return conclusion(" ".join(parts), claims, EXPERIMENT.setup, ctx)


EXPERIMENT = register_experiment(Experiment(
    name="lesion",
    title="Lesion study: residual nets as ensembles of shallow paths",
    claim="Veit et al. 2016: deleting one block of a trained residual net barely changes its test error "
          "(downsampling blocks a little more), deleting a layer of a plain net sends it to chance; the error "
          "grows smoothly with the number of deleted blocks.",
    options=LesionOptions,
    plan=plan,
    analyse=analyse,
    tiny={"seeds": 2, "steps": 4, "depth": 8, "plain_depth": 8, "width": 2, "image_size": 8, "train_size": 64,
          "val_size": 32, "batch_size": 16, "draws": 2, "eval_size": 32},
    claims=registered_claims(56, 20),
    setup="ResNet-56 (27 blocks) instead of ResNet-110 (54 blocks), so each block is a larger share of the "
          "ensemble (2^27 paths, not 2^54), and plain-20 (a plain net that trains in the budget, where plain-44 and "
          "-56 stay near chance) instead of VGG-15; trained like the degradation experiment's nets (its plain-20 "
          "runs are reused when it ran first): width 4 instead of 16, 12x12 generated 'textures' instead of "
          "CIFAR-10, 600 steps instead of 64k, 3 seeds; scored on 1000 validation images; up to 20 random blocks "
          "deleted at once, 4 random sets per count. --paper trains ResNet-110 on a local CIFAR-10.",
    paper={"dataset": "cifar10", "image_size": 32, "width": 16, "depth": 110, "steps": 64000, "batch_size": 128,
           "lr": 0.1, "seeds": 3, "eval_size": 10000, "draws": 10},
))
