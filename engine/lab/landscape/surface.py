"""Loss along one direction (1-D) or on a grid of two (2-D) around a model's weights, as a generator of events.

    for ev in compute_surface(model, loss_fn, batches, options):   # SurfaceStarted, SurfaceProgress ..., SurfaceDone
        ...

The point (alpha, beta) is the model with weights ``theta + alpha d1 + beta d2`` (Li et al. 2018, sec. 3 and 4):
``d1, d2`` filter-normalised random directions, or for ``direction="init"`` the 1-D line ``theta + alpha (theta
- theta_init)`` on which alpha = -1 is the initial and alpha = 0 the final weights (Goodfellow et al. 2015's
interpolation, extended past both ends). Every point is measured on the same batches. With random directions
BatchNorm stays in eval mode on the trained running statistics (BN's own parameters do not move); along the init
line every parameter moves, so the statistics are re-estimated on the same batches at every point (the trained
ones belong to one end of the line only). Losses stay on the device and are copied to the host once per row.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.lab.landscape import hessian, measures
from engine.lab.landscape.directions import Direction, Mover, difference, random_directions, weight_params
from engine.lab.landscape.options import LandscapeOptions
from engine.lab.landscape.probe import Batches, LossFn, bn_modules, mean_loss, recalibrate_bn

log = logging.getLogger(__name__)

# A Hessian-vector product costs about this many forward passes (a forward, a backward with the graph kept, and
# the backward of g . v); used only to weight progress between the loss grid and the Hessian points.
HVP_FORWARDS = 4.0


@dataclass
class SurfaceStarted:
    points: int  # loss evaluations
    hessian_points: int
    device: str


@dataclass
class SurfaceProgress:
    fraction: float  # of the work, loss grid and Hessian together
    phase: str  # "loss 120/441", "hessian 3/25"
    points_per_s: float = 0.0
    last_loss: float | None = None


@dataclass
class SurfaceDone:
    status: str  # "done" | "cancelled"
    result: dict[str, Any] | None = None
    seconds: float = 0.0


SurfaceEvent = SurfaceStarted | SurfaceProgress | SurfaceDone


@dataclass
class _Work:
    """Progress bookkeeping: loss points count 1, a Hessian point its Lanczos iterations x HVP cost x sample ratio."""

    loss_points: int
    hessian_points: int
    hessian_weight: float
    t0: float = field(default_factory=time.perf_counter)
    done_loss: int = 0
    done_hessian: int = 0

    @property
    def fraction(self) -> float:
        total = self.loss_points + self.hessian_points * self.hessian_weight
        return (self.done_loss + self.done_hessian * self.hessian_weight) / max(total, 1e-9)

    def rate(self) -> float:
        dt = time.perf_counter() - self.t0
        return self.done_loss / dt if dt > 0 else 0.0


def axis(grid: int, span: float) -> list[float]:
    """``grid`` evenly spaced values from -span to span; the middle one is exactly 0."""
    vals = np.linspace(-span, span, grid)
    vals[grid // 2] = 0.0
    return [float(v) for v in vals]


def compute_surface(model: nn.Module, loss_fn: LossFn, batches: Batches, options: LandscapeOptions, *,
                    init_state: Mapping[str, torch.Tensor] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> Iterator[SurfaceEvent]:
    """The surface around ``model``'s current weights; the model is left as it was (weights and BN statistics)."""
    opts = options
    device = next(model.parameters()).device
    model.eval()  # BN on its running statistics, dropout off (Li et al. sec. 4), whatever mode the caller left
    saved_buffers = {k: v.detach().clone() for k, v in model.state_dict().items() if k not in dict(
        model.named_parameters())}
    directions = _directions(model, opts, init_state)
    mover = Mover(model, directions)
    alphas = axis(opts.grid, opts.span)
    betas = axis(opts.grid, opts.span) if opts.dim == 2 else None
    recalibrate = opts.direction == "init" and bool(bn_modules(model))
    h_axis = axis(opts.hessian_grid, opts.span) if opts.hessian == "grid" else [0.0]
    h_points = 0 if opts.hessian == "none" else len(h_axis) ** (2 if opts.hessian == "grid" else 1)
    h_batches = _first(batches, opts.hessian_samples)
    weight = opts.hessian_iters * HVP_FORWARDS * h_batches.count / max(batches.count, 1)
    work = _Work(len(alphas) * (len(betas) if betas else 1), h_points, weight)
    yield SurfaceStarted(work.loss_points, h_points, str(device))
    stop = should_stop or (lambda: False)
    try:
        center = float(mean_loss(model, batches, loss_fn)) if not recalibrate else None
        rows: list[list[float | None]] = []
        for beta in betas if betas is not None else [None]:
            row_t = []
            for alpha in alphas:
                if stop():
                    yield SurfaceDone("cancelled", None, time.perf_counter() - work.t0)
                    return
                mover.move(alpha, *([beta] if beta is not None else []))
                if recalibrate:
                    recalibrate_bn(model, batches)
                row_t.append(mean_loss(model, batches, loss_fn))
                work.done_loss += 1
                if betas is None and work.done_loss % 8 == 0:
                    yield SurfaceProgress(work.fraction, f"loss {work.done_loss}/{work.loss_points}", work.rate())
            row = [_num(v) for v in torch.stack(row_t).cpu().tolist()]  # one host copy per row
            rows.append(row)
            yield SurfaceProgress(work.fraction, f"loss {work.done_loss}/{work.loss_points}", work.rate(),
                                  next((v for v in reversed(row) if v is not None), None))
        loss = rows if betas is not None else rows[0]
        mid = opts.grid // 2
        if center is None:  # init line: the centre measured like every other point on it
            center = loss[mid]
        result: dict[str, Any] = {"dim": opts.dim, "direction": opts.direction, "alphas": alphas, "loss": loss,
                                  "center_loss": center, "grid": opts.grid, "span": opts.span, "seed": opts.seed,
                                  "samples": batches.count, "batch_size": opts.batch_size, "device": str(device),
                                  "bn": "recalibrated at every point" if recalibrate else "eval (trained running "
                                  "statistics)"}
        if betas is not None:
            result["betas"] = betas
        if opts.direction == "init":
            result["init_alpha"] = -1.0
        result["measures"] = measures.surface_measures(loss, alphas, betas, center if center is not None else math.nan)
        if opts.hessian != "none":
            h = yield from _hessian(model, mover, loss_fn, h_batches, opts, h_axis, work, stop, recalibrate, batches)
            if h is None:
                yield SurfaceDone("cancelled", None, time.perf_counter() - work.t0)
                return
            result["hessian"] = h
        result["seconds"] = time.perf_counter() - work.t0
        result["points_per_s"] = work.done_loss / max(result["seconds"], 1e-9)
        yield SurfaceDone("done", result, result["seconds"])
    finally:
        mover.restore()
        if saved_buffers:
            model.load_state_dict(saved_buffers, strict=False)
        model.eval()


def _directions(model: nn.Module, opts: LandscapeOptions,
                init_state: Mapping[str, torch.Tensor] | None) -> list[Direction]:
    if opts.direction == "random":
        return random_directions(model, opts.seed, opts.dim)
    if init_state is None:
        raise ValueError("direction 'init' needs the run's initial weights")
    names = [n for n, _ in weight_params(model)]
    final = dict(model.named_parameters())
    return [difference(final, init_state, names)]


def _first(batches: Batches, samples: int) -> Batches:
    """The first ``samples`` samples of ``batches`` (whole batches, the last one cut)."""
    xs, ys, n = [], [], 0
    for x, y in zip(batches.xs, batches.ys, strict=True):
        if n >= samples:
            break
        take = min(len(x), samples - n)
        xs.append(x[:take])
        ys.append(y[:take])
        n += take
    return Batches(xs, ys)


def _hessian(model: nn.Module, mover: Mover, loss_fn: LossFn, batches: Batches, opts: LandscapeOptions,
             h_axis: list[float], work: _Work, stop: Callable[[], bool], recalibrate: bool,
             loss_batches: Batches) -> Iterator[SurfaceEvent]:
    """Extreme Hessian eigenvalues at the centre, or on the coarse grid; returns None when cancelled."""
    params = [p for _, p in weight_params(model)]
    n = batches.count

    def batch_losses() -> list[torch.Tensor]:
        return [loss_fn(model(x).float(), y) * (len(x) / n) for x, y in zip(batches.xs, batches.ys, strict=True)]

    def at(*coeffs: float) -> dict[str, float]:
        mover.move(*coeffs)
        if recalibrate:
            recalibrate_bn(model, loss_batches)
        return hessian.extreme_eigenvalues(params, batch_losses, opts.hessian_iters, seed=opts.seed)

    if opts.hessian == "center":
        zero = [0.0] * opts.dim
        center = at(*zero)
        work.done_hessian += 1
        yield SurfaceProgress(work.fraction, "hessian 1/1", work.rate())
        return {"center": center, "iters": opts.hessian_iters, "samples": n}
    grid: dict[str, list[list[float | None]]] = {"lambda_min": [], "lambda_max": [], "ratio": []}
    center: dict[str, float] | None = None
    for beta in h_axis:
        rows = {k: [] for k in grid}
        for alpha in h_axis:
            if stop():
                return None
            c = at(alpha, beta)
            if alpha == 0.0 and beta == 0.0:
                center = c
            for k in grid:
                rows[k].append(c[k])
            work.done_hessian += 1
            yield SurfaceProgress(work.fraction, f"hessian {work.done_hessian}/{work.hessian_points}", work.rate())
        for k in grid:
            grid[k].append(rows[k])
    ratios = [v for row in grid["ratio"] for v in row if v is not None]
    return {"center": center, "iters": opts.hessian_iters, "samples": n, "alphas": h_axis, "betas": h_axis, **grid,
            "ratio_mean": float(np.mean(ratios)) if ratios else None}


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None
