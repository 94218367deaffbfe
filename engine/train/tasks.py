"""What a run optimises and reports, chosen from the dataset's task.

- classification and sequence (classification over token inputs): cross-entropy; accuracy.
- segmentation (binary masks): BCE + soft Dice, the usual U-Net pairing (Milletari et al. 2016, V-Net,
  for Dice; BCE keeps the per-pixel gradient well-behaved early on); IoU of the thresholded mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.core.text import fmt_shape
from engine.ir.graph import INPUT, Graph


@dataclass(frozen=True)
class Task:
    kind: str  # "classification" | "segmentation"
    metric: str  # "acc" | "iou"

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.kind == "segmentation":
            target = _mask(y, out)
            bce = F.binary_cross_entropy_with_logits(out, target)
            prob = torch.sigmoid(out)
            dims = tuple(range(1, out.ndim))
            inter = (prob * target).sum(dims)
            dice = 1 - (2 * inter + 1) / (prob.sum(dims) + target.sum(dims) + 1)
            return bce + dice.mean()
        return F.cross_entropy(out, y)

    def counts(self, out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(numerator, denominator) of the metric on a batch, summed so batches aggregate exactly."""
        with torch.no_grad():
            if self.kind == "segmentation":
                pred = out > 0
                target = _mask(y, out) > 0.5
                return (pred & target).sum().float(), (pred | target).sum().float()
            # torch.full, not torch.tensor: a fill kernel, not a host-to-device copy (which would sync a GPU)
            return (out.argmax(1) == y).sum().float(), torch.full((), float(len(y)), device=out.device)


def _mask(y: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Masks may come as [N, H, W] or [N, 1, H, W], integer or float; the logits are [N, 1, H, W]."""
    if y.ndim == out.ndim - 1:
        y = y.unsqueeze(1)
    return y.to(out.dtype)


def task_for(graph: Graph, info: object, out_shape: tuple[int, ...]) -> Task:
    """Match the model to the dataset; a mismatch is a DataError naming both sides and a fix."""
    from engine.data import DataError, check_compatible

    task = getattr(info, "task", "classification")
    name = getattr(info, "name", "dataset")
    if task == "segmentation":
        check_compatible(info, tuple(graph.input_shape), None)
        want = (int(info.num_classes), *tuple(info.input_shape)[1:])
        if tuple(out_shape) != want:
            raise DataError(f"dataset {name!r} has masks of shape {fmt_shape(want)} but the model's output "
                            f"({graph.output}) is {fmt_shape(out_shape)}; use a segmentation model (unet) "
                            f"with out_channels {want[0]} and the input size of the dataset")
        return Task("segmentation", "iou")
    if len(out_shape) != 1:
        raise DataError(f"dataset {name!r} is a {task} task with {info.num_classes} classes, but the model's "
                        f"output ({graph.output}) is {fmt_shape(out_shape)}, not [num_classes]; end the model "
                        "with a classifier head or pick a segmentation dataset")
    if task == "sequence" or graph.input_kind == "tokens":
        if graph.input_kind != "tokens":
            raise DataError(f"dataset {name!r} gives token ids but the model takes float inputs; "
                            "use a model with a token input (transformer with vocab) or another dataset")
        if task != "sequence":
            raise DataError(f"the model takes token ids but dataset {name!r} is a {task} task on float inputs; "
                            "pick a token dataset such as 'sequence'")
        vocab = int(graph.nodes[INPUT].meta.get("vocab", 0) or 0)
        have = int(getattr(info, "vocab", 0) or 0)
        if vocab and have > vocab:
            raise DataError(f"dataset {name!r} has a vocabulary of {have} tokens but the model's embedding has "
                            f"{vocab}; set vocab: {have} in the spec")
    check_compatible(info, tuple(graph.input_shape), out_shape[0])
    return Task("classification", "acc")
