"""U-Net skips (Ronneberger et al. 2015): the long skips carry each encoder level's high-resolution features to
the decoder, which needs them to place boundaries precisely. We train the same small U-Net on `shapes_seg`
with the skips merged by concatenation (the paper), by addition, or removed, and compare IoU curves and
predictions on a few validation images.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from engine.lab.experiments.base import (
    AnalysisContext,
    Experiment,
    ExperimentOptions,
    RunPlan,
    register_experiment,
    train_config,
)
from engine.lab.experiments.common import curve_bands
from engine.lab.experiments.lesion import load_trained
from engine.lab.experiments.stats import seed_stats

Merge = Literal["concat", "add", "none"]


class UNetOptions(ExperimentOptions):
    seeds: int = Field(2, ge=1, le=10)
    steps: int = Field(300, gt=0)
    batch_size: int = Field(32, gt=0)
    merges: list[Merge] = Field(default_factory=lambda: ["concat", "add", "none"], min_length=1)
    widths: list[int] = Field(default_factory=lambda: [16, 32, 64, 128], min_length=2,
                              description="encoder widths, then the bottleneck width (unet_small)")
    image_size: int = Field(32, ge=16, le=64, description="shapes_seg image side; divisible by 2^(levels)")
    samples: int = Field(6, ge=1, le=16, description="validation images shown with masks and predictions")
    optimizer: Literal["sgd", "adamw"] = "adamw"
    lr: float = Field(3e-3, gt=0)


def plan(opts: UNetOptions) -> list[RunPlan]:
    plans = []
    for seed in range(opts.seeds):
        cfg = train_config(opts, seed, "shapes_seg", dataset_options={"size": opts.image_size},
                           optimizer=opts.optimizer, lr=opts.lr)
        for merge in opts.merges:
            spec = {"family": "unet", "name": f"unet_{merge}", "input": [3, opts.image_size, opts.image_size],
                    "out_channels": 1, "widths": list(opts.widths), "up": "transpose", "merge": merge}
            plans.append(RunPlan(merge, seed, spec, cfg))
    return plans


def _display(x: torch.Tensor) -> list:
    """A standardised image -> uint8 RGB [H][W][3], stretched per image for display."""
    a = x.permute(1, 2, 0).numpy().astype(float)
    lo, hi = a.min(), a.max()
    return np.round(255 * (a - lo) / max(hi - lo, 1e-8)).astype(np.uint8).tolist()


def analyse(ctx: AnalysisContext) -> dict[str, Any]:
    from engine.data import load_dataset

    opts: UNetOptions = ctx.options  # type: ignore[assignment]
    figures: dict[str, Any] = {"val_iou": {}, "iou": {}, "loss": {}, "samples": {}}
    numbers: dict[str, Any] = {}
    groups = ctx.by_label()
    x = y = None
    for merge, runs in groups.items():
        figures["val_iou"][merge] = curve_bands(ctx.store, runs, "val_iou")
        figures["iou"][merge] = curve_bands(ctx.store, runs, "iou")
        figures["loss"][merge] = curve_bands(ctx.store, runs, "loss")
        m, s = seed_stats([r.summary.get("val_iou", float("nan")) for r in runs])
        numbers[merge] = {"val_iou": m, "val_iou_std": s, "statuses": [r.row.get("status") for r in runs]}
        first = next((r for r in runs if r.ok and r.summary.get("weights_path")), None)
        if first is None:
            continue
        if x is None:
            cfg = first.plan.config
            ds = load_dataset(cfg["dataset"], **cfg.get("dataset_options", {}))
            x, y = ds.x_val[:opts.samples], ds.y_val[:opts.samples]
            figures["images"] = [_display(img) for img in x]
            figures["masks"] = [m[0].numpy().astype(np.uint8).tolist() for m in y]
        ctx.report(f"predicting with {merge}")
        model, _ = load_trained(first.row["spec"], first.summary["weights_path"])
        with torch.no_grad():
            prob = torch.sigmoid(model(x))[:, 0]  # [N, H, W]
        figures["samples"][merge] = np.round(prob.numpy(), 2).tolist()
    claims = []
    if "none" in numbers:
        for merge in (m for m in numbers if m != "none"):
            a, b = numbers[merge]["val_iou"], numbers["none"]["val_iou"]
            claims.append({"claim": f"long skips help: merge {merge} beats no skips", "held": bool(a > b),
                           "evidence": f"validation IoU {merge} {a:.3f} vs none {b:.3f}"})
    if "concat" in numbers and "add" in numbers:
        a, b = numbers["concat"]["val_iou"], numbers["add"]["val_iou"]
        claims.append({"claim": "concatenation (the paper's merge) is at least as good as addition",
                       "held": bool(a >= b), "evidence": f"validation IoU concat {a:.3f} vs add {b:.3f}"})
    return {"numbers": numbers, "figures": figures, "claims": claims, "conclusion": _conclusion(numbers, claims, opts)}


def _conclusion(numbers: dict[str, Any], claims: list[dict[str, Any]], opts: UNetOptions) -> str:
    ranked = sorted(numbers, key=lambda k: numbers[k]["val_iou"] if math.isfinite(numbers[k]["val_iou"]) else -1.0,
                    reverse=True)
    parts = [f"U-Net (widths {opts.widths}) on shapes_seg, {opts.steps} steps, {opts.seeds} seed(s). Validation IoU: "
             + ", ".join(f"{k} {numbers[k]['val_iou']:.3f}"
                         + (f" ± {numbers[k]['val_iou_std']:.3f}" if numbers[k]["val_iou_std"] > 0 else "")
                         for k in ranked) + "."]
    for c in claims:
        parts.append(f"Claim '{c['claim']}': {'held' if c['held'] else 'did NOT hold'} ({c['evidence']}).")
    return " ".join(parts)


EXPERIMENT = register_experiment(Experiment(
    name="unet_skips",
    title="U-Net skips: concat vs add vs none",
    claim="Ronneberger et al. 2015: the long skip connections give the decoder the encoder's high-resolution "
          "features; without them segmentation boundaries suffer.",
    options=UNetOptions,
    plan=plan,
    analyse=analyse,
    tiny={"seeds": 1, "steps": 4, "widths": [4, 8, 16], "image_size": 16, "batch_size": 8, "samples": 2,
          "train_size": 32, "val_size": 16},
))
