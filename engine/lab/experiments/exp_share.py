"""Shortcut gradient share during training: for every residual block, the norm of the gradient reaching the
block input through the shortcut vs through the residual branch (definition in engine.train.probes.shortcut_share),
measured by the ``shortcut_share`` probe every ``probe_every`` steps on a fixed batch.

The claim it tests (Veit et al. 2016, sec. 5; He et al. 2016b, eq. 5): the shortcut carries the gradient
back unattenuated, so a good part of the gradient at each block arrives through the identity path rather
than through the branch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, field_validator

from engine.lab.experiments.base import AnalysisContext, Experiment, RunPlan, register_experiment
from engine.lab.experiments.claims import Claim, judge_all
from engine.lab.experiments.common import ImageOptions, check_depth, cifar_net, curve_bands, image_config
from engine.lab.experiments.report import conclusion
from engine.lab.experiments.stats import seed_stats
from engine.train.probes.shortcut_share import BRANCH_GRAD, SHARE, SHORTCUT_GRAD

_MEASURED = ("Veit et al.: the gradient norm at the input of single paths of each length through a trained "
             "ResNet-110 (CIFAR-10), falling with every residual branch a path passes; He et al.: the form of the "
             "gradient through identity shortcuts (analysis)")
CLAIMS = (
    Claim("share_typical_block", "at the typical block, more of the gradient arrives through the shortcut than "
          "through the residual branch", "Veit et al. 2016, sec. 5, fig. 6b",
          _MEASURED, "median over blocks of the shortcut share at the end of training", "above", 0.5,
          "0.5 means both paths carry as much; a branch that attenuates the gradient (fig. 6b) gives more than half "
          "to the shortcut"),
    Claim("share_every_block", "at every block at least half of the gradient arrives through the shortcut",
          "He et al. 2016b, sec. 3, eq. 5; Veit et al. 2016, sec. 5", _MEASURED,
          "smallest shortcut share over blocks at the end of training", "above", 0.5,
          "the claim this experiment registered first (kept as it was: stricter than what either paper measured)"),
)


class ShareOptions(ImageOptions):
    seeds: int = Field(3, ge=1, le=10)
    steps: int = Field(500, gt=0)
    image_size: int = Field(12, ge=8, le=64, description="built-in data only: image side (CIFAR is 32)")
    width: int = Field(4, ge=2, le=64, description="first-stage width; stages are w, 2w, 4w (He et al.: 16)")
    depth: int = Field(56, description="depth of the residual net (6n + 2): 3n blocks")
    probe_every: int = Field(10, gt=0, description="measure the share every N steps")
    zero_init_residual: bool = Field(False, description="zero each branch's last BN gamma (Goyal et al. 2017): "
                                     "every block starts as the identity")

    @field_validator("depth")
    @classmethod
    def _depth(cls, v: int) -> int:
        return check_depth(v)


def plan(opts: ShareOptions) -> list[RunPlan]:
    spec = cifar_net(opts.depth, "A", opts, zero_init_residual=opts.zero_init_residual)
    return [RunPlan(spec["name"], seed, spec,
                    image_config(opts, seed, probes=["shortcut_share"], probe_every=opts.probe_every))
            for seed in range(opts.seeds)]


def _block_series(ctx: AnalysisContext, prefix: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(blocks, steps, values [blocks, steps]) averaged over the seeds' runs, on their common steps."""
    per_run = []
    for r in ctx.runs:
        keys = [k for k in ctx.store.get_metrics(r.run_id) if k.startswith(prefix)] if r.row else []
        if keys:
            per_run.append(ctx.store.get_metrics(r.run_id, keys))
    if not per_run:
        return [], np.zeros(0), np.zeros((0, 0))
    order = {b.name: i for i, b in enumerate(_blocks(ctx))}
    blocks = sorted({k[len(prefix):] for d in per_run for k in d}, key=lambda b: order.get(b, len(order)))
    steps = per_run[0][prefix + blocks[0]][0]
    for d in per_run[1:]:
        steps = np.intersect1d(steps, d[prefix + blocks[0]][0])
    mats = []
    for d in per_run:
        rows = []
        for b in blocks:
            s, v = d[prefix + b]
            rows.append(v[np.searchsorted(s, steps)])
        mats.append(np.stack(rows))
    return blocks, steps, np.nanmean(np.stack(mats), axis=0)


def _blocks(ctx: AnalysisContext) -> list:
    from engine.arch import expand
    from engine.ir.residual import find_blocks

    return find_blocks(expand(ctx.runs[0].plan.spec)) if ctx.runs else []


def analyse(ctx: AnalysisContext) -> dict[str, Any]:
    opts: ShareOptions = ctx.options  # type: ignore[assignment]
    blocks, steps, share = _block_series(ctx, SHARE)
    _, _, g_short = _block_series(ctx, SHORTCUT_GRAD)
    _, _, g_branch = _block_series(ctx, BRANCH_GRAD)
    figures: dict[str, Any] = {
        "heatmap": {"blocks": blocks, "steps": steps.astype(float).tolist(), "share": _rows(share)},
        "shortcut_grad": _rows(g_short), "branch_grad": _rows(g_branch),
        "loss": {label: curve_bands(ctx.store, runs, "loss") for label, runs in ctx.by_label().items()},
    }
    numbers: dict[str, Any] = {}
    claims: list[dict[str, Any]] = []
    if blocks:
        init, end = share[:, 0], share[:, -1]
        numbers = {"blocks": blocks, "share_init": init.tolist(), "share_end": end.tolist(),
                   "mean_share_init": float(np.nanmean(init)), "mean_share_end": float(np.nanmean(end)),
                   "min_block_end": blocks[int(np.nanargmin(end))], "max_block_end": blocks[int(np.nanargmax(end))],
                   "final_val_acc": seed_stats([r.summary.get("val_acc", float("nan")) for r in ctx.runs])[0]}
        claims = judge_all(CLAIMS, claim_values(_end_shares(ctx)))
    return {"numbers": numbers, "figures": figures, "claims": claims,
            "conclusion": _conclusion(numbers, claims, opts, steps, ctx)}


def _end_shares(ctx: AnalysisContext) -> dict[int, list[float]]:
    """{seed: the shortcut share of every measured block at the run's last probe}."""
    out: dict[int, list[float]] = {}
    for r in ctx.runs:
        keys = [k for k in ctx.store.get_metrics(r.run_id) if k.startswith(SHARE)] if r.row else []
        data = ctx.store.get_metrics(r.run_id, keys) if keys else {}
        vals = [float(v[-1]) for _, v in data.values() if len(v)]
        if vals:
            out[r.plan.seed] = vals
    return out


def claim_values(end_shares: dict[int, list[float]]) -> dict[str, list[float | None]]:
    """Per-seed statistics from {seed: end share per block}."""
    if not end_shares:
        return {}
    return {"share_typical_block": [float(np.nanmedian(v)) for v in end_shares.values()],
            "share_every_block": [float(np.nanmin(v)) for v in end_shares.values()]}


def _rows(m: np.ndarray) -> list[list[float | None]]:
    return [[float(v) if np.isfinite(v) else None for v in row] for row in m]


def _conclusion(numbers: dict[str, Any], claims: list[dict[str, Any]], opts: ShareOptions, steps: np.ndarray,
                ctx: AnalysisContext) -> str:
    if not numbers:
        return "No shortcut-share measurements were recorded (did the runs fail?)."
    blocks, init, end = numbers["blocks"], numbers["share_init"], numbers["share_end"]
    trend = "rose" if numbers["mean_share_end"] > numbers["mean_share_init"] else "fell"
    parts = [f"resnet{opts.depth} on {opts.dataset}, {opts.steps} steps, share measured at {len(steps)} points "
             f"({opts.seeds} seed(s){', zero-init residual' if opts.zero_init_residual else ''}).",
             f"Mean shortcut share {trend} from {numbers['mean_share_init']:.2f} at init to "
             f"{numbers['mean_share_end']:.2f} after training (validation accuracy {numbers['final_val_acc']:.3f}).",
             "Per block at the end (mean over seeds): "
             + ", ".join(f"{b} {e:.2f}" for b, e in zip(blocks, end, strict=True)) + "."]
    down = [b for b, i, e in zip(blocks, init, end, strict=True) if e < i - 0.05]
    if down:
        parts.append("Blocks whose branch took over more of the gradient during training: " + ", ".join(down) + ".")
    if numbers["final_val_acc"] < 0.2:
        parts.append("The net did not train (validation accuracy under 20%): the shares describe an untrained net.")
    return conclusion(" ".join(parts), claims, EXPERIMENT.setup, ctx)


EXPERIMENT = register_experiment(Experiment(
    name="shortcut_share",
    title="Shortcut gradient share: how much gradient takes the identity path",
    claim="Veit et al. 2016 (sec. 5), He et al. 2016b (eq. 5): the identity shortcut carries the gradient back "
          "undiminished; much of the gradient at each block arrives through it.",
    options=ShareOptions,
    plan=plan,
    analyse=analyse,
    tiny={"seeds": 1, "steps": 4, "depth": 8, "width": 4, "image_size": 16, "train_size": 64, "val_size": 32,
          "batch_size": 16, "probe_every": 2},
    claims=CLAIMS,
    setup="ResNet-56 (27 blocks) instead of Veit et al.'s ResNet-110, width 4 instead of 16, 12x12 generated "
          "'textures' instead of CIFAR-10, 500 steps instead of 64k, 3 seeds; the share is the norm of the "
          "shortcut's gradient term over the sum of both terms at each block input, not Veit et al.'s sampled "
          "single paths.",
    paper={"dataset": "cifar10", "image_size": 32, "width": 16, "depth": 110, "steps": 64000, "batch_size": 128,
           "lr": 0.1, "probe_every": 500},
))
