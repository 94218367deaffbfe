"""Per-layer distributions of gradients, weights and updates, at a low rate (TensorBoard's histograms, per layer).

At a histogram step each layer gets three histograms over fixed bins of log10 |value| (``HIST_LO`` to ``HIST_HI``,
``HIST_BINS`` bins; values outside fall into the end bins, exact zeros into the first):

- ``grad_hist``: the gradient's entries as backprop produced them, before clipping (as every gradient statistic);
- ``weight_hist``: the weights after the step;
- ``update_hist``: each entry's update |Δw| relative to the layer's RMS weight, so a layer's mass sits near its
  update/weight ratio (Karpathy's CS231n notes: about 1e-3 is healthy).

Cost and syncs: per parameter tensor one log10, one floor and one ``index_add_`` into a ``[layers * bins]`` buffer on
the device; nothing is copied to the host until `flush`, which the trainer calls with the monitor's. A tensor with
more than ``MAX_SAMPLES`` entries is read at a fixed stride (each sampled entry weighted by the stride), so a
histogram step costs about the same for a ResNet-152 as for a ResNet-20.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

HIST_LO, HIST_HI, HIST_BINS = -14.0, 2.0, 32  # half-decade bins from 1e-14 to 100
HIST_STATS = ("grad_hist", "weight_hist", "update_hist")
MAX_SAMPLES = 1 << 16  # entries read per parameter tensor
_WIDTH = (HIST_HI - HIST_LO) / HIST_BINS


def hist_interval(steps: int, log_every: int, hist_every: int | None) -> int:
    """Steps between histograms: ``hist_every`` when given (0: never), else about 20 per run, on logged steps."""
    if hist_every is not None:
        return hist_every
    every = max(1, math.ceil(steps / 20))
    return max(log_every, math.ceil(every / log_every) * log_every)


class LayerHistograms:
    def __init__(self, layer_params: list[list[nn.Parameter]], device: torch.device) -> None:
        self.layer_params = layer_params
        self.device = device
        self.n = len(layer_params)
        self._pending: dict[str, torch.Tensor] = {}
        self._rows: list[tuple[int, torch.Tensor]] = []

    def _add(self, acc: torch.Tensor, layer: int, values: torch.Tensor, scale: torch.Tensor | None = None) -> None:
        flat = values.detach().reshape(-1)
        stride = max(1, math.ceil(flat.numel() / MAX_SAMPLES))
        v = flat[::stride].abs().float()
        if scale is not None:
            v = v / scale
        idx = ((torch.log10(v.clamp_min(1e-30)) - HIST_LO) / _WIDTH).floor().clamp_(0, HIST_BINS - 1).long()
        acc.index_add_(0, idx + layer * HIST_BINS, torch.full_like(v, float(stride)))

    def _new(self) -> torch.Tensor:
        return torch.zeros(self.n * HIST_BINS, dtype=torch.float32, device=self.device)

    @torch.no_grad()
    def gradients(self) -> None:
        """Before clipping: the gradient as backprop produced it (an unused branch has none: left out)."""
        acc = self._new()
        for i, ps in enumerate(self.layer_params):
            for p in ps:
                if p.grad is not None:
                    self._add(acc, i, p.grad)
        self._pending["grad_hist"] = acc

    @torch.no_grad()
    def weights_and_updates(self, before: list[torch.Tensor] | None) -> None:
        """After the optimizer step; ``before`` are the weights before it, in the monitor's parameter order."""
        weights, updates = self._new(), self._new()
        k = 0
        for i, ps in enumerate(self.layer_params):
            sq = torch.zeros((), dtype=torch.float32, device=self.device)
            count = 0
            for p in ps:
                self._add(weights, i, p)
                sq = sq + p.detach().float().square().sum()
                count += p.numel()
            rms = (sq / max(count, 1)).sqrt().clamp_min(1e-30)
            for p in ps:
                if before is not None:
                    self._add(updates, i, before[k] - p.detach(), rms)
                k += 1
        self._pending["weight_hist"] = weights
        if before is not None:
            self._pending["update_hist"] = updates

    def record(self, step: int) -> None:
        """Buffer the step's histograms, normalised per layer to fractions (still on the device)."""
        if not self._pending:
            return
        nan = torch.full((self.n * HIST_BINS,), float("nan"), device=self.device)
        row = torch.stack([self._pending.get(s, nan) for s in HIST_STATS]).reshape(len(HIST_STATS), self.n, HIST_BINS)
        row = row / row.sum(-1, keepdim=True).clamp_min(1e-30)
        self._pending.clear()
        self._rows.append((step, row))

    def discard_after(self, step: int) -> None:
        self._rows = [r for r in self._rows if r[0] <= step]

    def flush(self) -> tuple[list[int], dict[str, np.ndarray]]:
        """Buffered rows -> host in one transfer: (steps, {stat: float32 [n_steps, layers, bins]})."""
        if not self._rows:
            return [], {}
        steps = [s for s, _ in self._rows]
        block = torch.stack([r for _, r in self._rows]).cpu().numpy()  # [n_steps, stats, layers, bins]
        self._rows.clear()
        out = {name: np.ascontiguousarray(block[:, i]) for i, name in enumerate(HIST_STATS)}
        return steps, {k: v for k, v in out.items() if not np.isnan(v).all()}
