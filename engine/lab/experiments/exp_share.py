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
from engine.lab.experiments.common import ImageOptions, check_depth, cifar_net, curve_bands, image_config
from engine.lab.experiments.stats import seed_stats
from engine.train.probes.shortcut_share import BRANCH_GRAD, SHARE, SHORTCUT_GRAD


class ShareOptions(ImageOptions):
    seeds: int = Field(1, ge=1, le=10)
    steps: int = Field(300, gt=0)
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
    claims = []
    if blocks:
        init, end = share[:, 0], share[:, -1]
        numbers = {"blocks": blocks, "share_init": init.tolist(), "share_end": end.tolist(),
                   "mean_share_init": float(np.nanmean(init)), "mean_share_end": float(np.nanmean(end)),
                   "min_block_end": blocks[int(np.nanargmin(end))], "max_block_end": blocks[int(np.nanargmax(end))],
                   "final_val_acc": seed_stats([r.summary.get("val_acc", float("nan")) for r in ctx.runs])[0]}
        claims.append({"claim": "the shortcut carries at least half of the gradient reaching each block",
                       "held": bool(np.nanmin(end) >= 0.5),
                       "evidence": f"share at the end of training from {np.nanmin(end):.2f} "
                                   f"({numbers['min_block_end']}) to {np.nanmax(end):.2f} "
                                   f"({numbers['max_block_end']}), mean {numbers['mean_share_end']:.2f}; at init mean "
                                   f"{numbers['mean_share_init']:.2f}"})
    return {"numbers": numbers, "figures": figures, "claims": claims,
            "conclusion": _conclusion(numbers, claims, opts, steps)}


def _rows(m: np.ndarray) -> list[list[float | None]]:
    return [[float(v) if np.isfinite(v) else None for v in row] for row in m]


def _conclusion(numbers: dict[str, Any], claims: list[dict[str, Any]], opts: ShareOptions, steps: np.ndarray) -> str:
    if not numbers:
        return "No shortcut-share measurements were recorded (did the runs fail?)."
    blocks, init, end = numbers["blocks"], numbers["share_init"], numbers["share_end"]
    trend = "rose" if numbers["mean_share_end"] > numbers["mean_share_init"] else "fell"
    parts = [f"resnet{opts.depth} on {opts.dataset}, {opts.steps} steps, share measured at {len(steps)} points "
             f"({opts.seeds} seed(s){', zero-init residual' if opts.zero_init_residual else ''}).",
             f"Mean shortcut share {trend} from {numbers['mean_share_init']:.2f} at init to "
             f"{numbers['mean_share_end']:.2f} after training (validation accuracy {numbers['final_val_acc']:.3f}).",
             "Per block at the end: " + ", ".join(f"{b} {e:.2f}" for b, e in zip(blocks, end, strict=True)) + "."]
    down = [b for b, i, e in zip(blocks, init, end, strict=True) if e < i - 0.05]
    if down:
        parts.append("Blocks whose branch took over more of the gradient during training: " + ", ".join(down) + ".")
    for c in claims:
        parts.append(f"Claim '{c['claim']}': {'held' if c['held'] else 'did NOT hold'} ({c['evidence']}).")
    return " ".join(parts)


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
))
