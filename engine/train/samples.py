"""A few validation images of a segmentation run beside its predicted masks, for the dashboard (issue 16).

Captured inside the trainer's `validate`, which copies to the host anyway (so no extra sync), at about 16
validations per run, as uint8 (a 32 x 32 mask is 1 KB); the inputs and ground truth are sent once, at step 0.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.train.events import Samples


class SampleKeeper:
    """The first validation images and their predicted foreground probability (x 255) at validations."""

    COUNT = 4

    def __init__(self, task: str, steps: int) -> None:
        self.enabled = task == "segmentation"
        self.every = max(1, steps // 16)
        self.last_step = -(10**9)
        self.sent_inputs = False
        self.pred: np.ndarray | None = None
        self.fixed: dict[str, np.ndarray] = {}

    def capture(self, x: torch.Tensor, y: torch.Tensor, out: torch.Tensor) -> None:
        if not self.enabled:
            return
        k = min(self.COUNT, len(x))
        self.pred = (torch.sigmoid(out[:k, 0].float()) * 255).round().to(torch.uint8).cpu().numpy()
        if not self.sent_inputs:
            img = x[:k].float()
            lo = img.amin(dim=(1, 2, 3), keepdim=True)
            hi = img.amax(dim=(1, 2, 3), keepdim=True)
            img = ((img - lo) / (hi - lo).clamp_min(1e-8) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
            mask = y[:k]
            mask = mask[:, 0] if mask.ndim == 4 else mask
            self.fixed = {"input": img.cpu().numpy(), "truth": (mask.float() > 0.5).to(torch.uint8).cpu().numpy() * 255}

    def events(self, step: int, final: bool = False) -> list[Samples]:
        if self.pred is None or not (final or step - self.last_step >= self.every):
            return []
        out = []
        if not self.sent_inputs and self.fixed:
            out.append(Samples(0, self.fixed))
            self.sent_inputs = True
        out.append(Samples(step, {"pred": self.pred}))
        self.pred, self.last_step = None, step
        return out
