"""Optimizers and learning-rate schedules.

Weight decay is not applied to biases and norm parameters (1-D tensors), as in Goyal et al. 2017
("Accurate, Large Minibatch SGD") and nanoGPT's `configure_optimizers`: decaying a BN gamma only
fights the normalisation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.train.config import TrainConfig


def make_optimizer(model: nn.Module, cfg: TrainConfig, loaded: set[str] | None = None) -> torch.optim.Optimizer:
    """Trainable parameters only (frozen ones are in no group). ``loaded``: names of parameters that came from a
    checkpoint; their groups carry ``lr_scale = cfg.loaded_lr_scale`` (engine.train.transfer)."""
    loaded = loaded or set()
    groups = []
    for from_file in (True, False):
        scale = cfg.loaded_lr_scale if from_file else 1.0
        params = [p for n, p in model.named_parameters() if p.requires_grad and (n in loaded) == from_file]
        groups += [{"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.decay, "lr_scale": scale,
                    "loaded": from_file},
                   {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0, "lr_scale": scale,
                    "loaded": from_file}]
    groups = [g for g in groups if g["params"]]
    if cfg.optimizer == "adamw":
        # foreach: one fused kernel per step over all parameters instead of a Python loop per tensor
        return torch.optim.AdamW(groups, lr=cfg.peak_lr, foreach=True)
    return torch.optim.SGD(groups, lr=cfg.peak_lr, momentum=cfg.momentum, nesterov=cfg.nesterov, foreach=True)


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate for the 0-based ``step``: linear warm-up, then constant / cosine to 0 / step decay."""
    peak = cfg.peak_lr
    if step < cfg.warmup_steps:
        return peak * (step + 1) / cfg.warmup_steps
    t = step - cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    if cfg.schedule == "cosine":  # Loshchilov & Hutter 2017 (SGDR), a single cycle without restarts
        return peak * 0.5 * (1 + math.cos(math.pi * t / span))
    if cfg.schedule == "step" and cfg.step_milestones is not None:  # milestones count from step 0
        return peak * cfg.step_gamma ** sum(step >= m for m in cfg.step_milestones)
    if cfg.schedule == "step":
        every = cfg.step_every or max(1, span // 3)
        return peak * cfg.step_gamma ** (t // every)
    return peak


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
