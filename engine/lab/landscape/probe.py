"""The fixed batches a landscape is measured on, and the loss of a model on them.

Every point of a surface is evaluated on the same samples in the same batches (Li et al. 2018 evaluate every
point on the same training set), with BatchNorm in eval mode using its running statistics, so the surface is a
deterministic function of the weights. Losses stay on the device; callers copy them to the host once per row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# Image batches in channels-last layout: oneDNN (CPU) and cuDNN (GPU) convolutions run faster on it (measured
# on the 2-core CI box: resnet20 on 512 32x32 images, 2.2 s contiguous vs 1.2 s channels-last, eval mode).
CHANNELS_LAST_DIMS = 4


@dataclass
class Batches:
    """Samples cut into batches, already on the device."""

    xs: list[torch.Tensor]
    ys: list[torch.Tensor]

    @property
    def count(self) -> int:
        return sum(len(x) for x in self.xs)

    @classmethod
    def of(cls, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device) -> Batches:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        if len(x) == 0:
            raise ValueError("a landscape needs at least one sample")
        xs, ys = [], []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(device)
            if xb.dim() == CHANNELS_LAST_DIMS and xb.is_floating_point():
                xb = xb.contiguous(memory_format=torch.channels_last)
            xs.append(xb)
            ys.append(y[i:i + batch_size].to(device))
        return cls(xs, ys)


def pick_samples(x: torch.Tensor, y: torch.Tensor, samples: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random subset (a data set stored class by class would otherwise give one class only). The seed is
    fixed, not the direction seed, so two runs on the same data set are measured on the same samples."""
    n = min(int(samples), len(x))
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
    return x[idx], y[idx]


def prepare_model(model: nn.Module, batches: Batches) -> nn.Module:
    """Eval mode (BatchNorm on its running statistics, dropout off); channels-last for image models."""
    model.eval()
    if batches.xs and batches.xs[0].dim() == CHANNELS_LAST_DIMS and batches.xs[0].is_floating_point():
        model.to(memory_format=torch.channels_last)
    return model


def mean_loss(model: nn.Module, batches: Batches, loss_fn: LossFn) -> torch.Tensor:
    """The mean per-sample loss over all batches, a 0-d tensor on the device (no host sync)."""
    total = None
    wide = torch.float32 if batches.xs[0].device.type == "mps" else torch.float64  # MPS has no float64
    with torch.inference_mode():
        for x, y in zip(batches.xs, batches.ys, strict=True):
            part = loss_fn(model(x).float(), y).to(wide) * len(x)
            total = part if total is None else total + part
    assert total is not None
    return total / batches.count


def bn_modules(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Batches) -> None:
    """Re-estimate every BatchNorm's running statistics on ``batches`` (cumulative average, ``momentum=None``),
    then back to eval mode. Used along the line from initial to final weights, where the trained statistics
    belong to one end only."""
    mods = bn_modules(model)
    if not mods:
        return
    saved = [m.momentum for m in mods]
    for m in mods:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        for x in batches.xs:
            model(x)
    finally:
        for m, mom in zip(mods, saved, strict=True):
            m.momentum = mom
            m.eval()
