"""Directions in weight space and moving a model along them.

A direction is one tensor per parameter (same names and shapes as ``model.named_parameters()``). Li et al. 2018
("Visualizing the Loss Landscape of Neural Nets", sec. 4) make random directions comparable between nets by
*filter normalisation*: each filter of the direction (for a conv weight [out, in, k, k] the slice of one output
channel, for a linear weight [out, in] one row, as in the authors' code) is rescaled to the norm of the matching
filter of the weights. Parameters of one dimension, BatchNorm's scale and shift and the biases, get a zero
direction: they stay as trained (the authors' ``ignore='biasbn'``). The random numbers are drawn on the CPU from
a seeded generator in parameter order, so a seed gives the same directions on any device.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

Direction = dict[str, torch.Tensor]

# Keeps a random filter whose norm rounds to zero from dividing by zero (never hit with Gaussian draws).
_EPS = 1e-10


def weight_params(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The parameters a landscape moves along: every trainable one (a zero direction leaves one as trained)."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def is_filtered(p: torch.Tensor) -> bool:
    """Weights with filters (conv, linear, embedding); 1-D parameters (biases, BN scale and shift) are not."""
    return p.dim() > 1


def filter_norms(t: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each filter: over every dimension but the first. [out, ...] -> [out]."""
    return t.detach().flatten(1).norm(dim=1)


def normalise_filters(direction: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Li et al. 2018 sec. 4, eq. (1): d_ij <- d_ij / ||d_ij|| * ||theta_ij|| for every filter j."""
    scale = filter_norms(weights) / filter_norms(direction).clamp_min(_EPS)  # [out]
    return direction * scale.view(-1, *([1] * (direction.dim() - 1)))


def random_direction(model: nn.Module, generator: torch.Generator, *, filter_normalised: bool = True) -> Direction:
    """A Gaussian direction, filter-normalised to the model's weights; zero on 1-D parameters."""
    out: Direction = {}
    for name, p in weight_params(model):
        if not is_filtered(p):
            out[name] = torch.zeros_like(p, memory_format=torch.contiguous_format)
            continue
        d = torch.randn(p.shape, generator=generator, dtype=torch.float32).to(p.device, p.dtype)
        out[name] = normalise_filters(d, p) if filter_normalised else d
    return out


def random_directions(model: nn.Module, seed: int, count: int) -> list[Direction]:
    """``count`` directions from one seeded stream (the second 2-D direction follows the first)."""
    gen = torch.Generator().manual_seed(int(seed))
    return [random_direction(model, gen) for _ in range(count)]


def difference(final: Mapping[str, torch.Tensor], initial: Mapping[str, torch.Tensor],
               names: Iterable[str]) -> Direction:
    """``final - initial`` for every parameter: the straight line of training (Goodfellow et al. 2015), every
    parameter included (BN's scale and shift moved during training too), not normalised."""
    out: Direction = {}
    for name in names:
        if name not in initial:
            raise KeyError(name)
        out[name] = (final[name].detach() - initial[name].to(final[name].device, final[name].dtype)).contiguous()
    return out


class Mover:
    """Sets a model's parameters to ``origin + sum_k coeff_k * direction_k`` in place (no autograd)."""

    def __init__(self, model: nn.Module, directions: list[Direction]) -> None:
        self.params = weight_params(model)
        self.origin = [p.detach().clone() for _, p in self.params]
        self.directions = [[d[name] for name, _ in self.params] for d in directions]

    @torch.no_grad()
    def move(self, *coeffs: float) -> None:
        if len(coeffs) != len(self.directions):
            raise ValueError(f"expected {len(self.directions)} coefficient(s), got {len(coeffs)}")
        targets = [p for _, p in self.params]
        torch._foreach_copy_(targets, self.origin)
        for c, dirs in zip(coeffs, self.directions, strict=True):
            if c:
                torch._foreach_add_(targets, dirs, alpha=float(c))

    def restore(self) -> None:
        self.move(*([0.0] * len(self.directions)))
