"""The events a training run yields. The CLI, the job runner (which writes them to the store) and tests
all consume the same stream; the trainer itself never prints and never touches the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

STATUSES = ("queued", "running", "done", "failed", "cancelled", "diverged", "interrupted")
FINAL_STATUSES = ("done", "failed", "cancelled", "diverged", "interrupted")

# Per-layer statistics, in the order the monitor computes them.
GRAD_STATS = ("grad_norm", "grad_mean_abs", "grad_max_abs", "weight_norm", "update_ratio")
ACT_STATS = ("act_mean", "act_std", "act_zero_frac")


@dataclass(frozen=True)
class Layer:
    """A parametrised node: the unit of every per-layer statistic, with the IR's stage and block of its node
    (``block`` is the node's block, or its stage when it sits in none: `engine.ir.graph.group_of`)."""

    index: int
    name: str
    op: str
    stage: str
    params: int
    block: str = ""  # its node's block, or its stage when it sits in none (engine.ir.graph.group_of)
    frozen: bool = False  # its parameters are frozen (engine.train.transfer): a zero gradient by design

    def to_dict(self) -> dict[str, Any]:
        """The row `RunStore.set_layers` takes."""
        row = {"name": self.name, "op": self.op, "stage": self.stage, "block": self.block, "numel": self.params}
        return {**row, "frozen": True} if self.frozen else row


@dataclass
class Started:
    layers: list[Layer]
    device: str
    steps: int
    params: int
    dataset: dict[str, Any]
    task: str
    init: dict[str, Any] | None = None  # what the run started from (engine.train.transfer.InitState.record)


@dataclass
class Metrics:
    """Scalar metrics at one step: train (``loss``, ``acc``/``iou``, ``lr``, ``grad_norm``, ``it_s``) or
    validation (``val_loss``, ``val_acc``/``val_iou``)."""

    step: int
    values: dict[str, float]


@dataclass
class LayerStats:
    """Per-layer statistics for one or more steps: ``stats[name]`` is float32 ``[len(steps), n_layers]``."""

    steps: list[int]
    stats: dict[str, np.ndarray]


@dataclass
class Histograms:
    """Per-layer value distributions at a few steps (engine.train.histograms): ``stats[name]`` is float32
    ``[len(steps), n_layers, bins]``, fractions over log10 |value| bins from ``lo`` to ``hi``."""

    steps: list[int]
    stats: dict[str, np.ndarray]
    lo: float
    hi: float


@dataclass
class Samples:
    """A few validation images at one step, uint8: ``input`` [k, H, W, C] and ``truth`` [k, H, W] once (step 0),
    ``pred`` [k, H, W] (predicted foreground probability x 255) at validations of a segmentation run."""

    step: int
    images: dict[str, np.ndarray]


@dataclass
class Alert:
    step: int
    kind: str  # "vanishing" | "exploding" | "diverged"
    layer: str | None
    message: str


@dataclass
class Done:
    status: str  # done | cancelled | diverged | failed
    step: int  # the last step completed
    summary: dict[str, float] = field(default_factory=dict)
    weights_path: str | None = None
    error: str | None = None
    wall_s: float = 0.0


Event = Started | Metrics | LayerStats | Histograms | Samples | Alert | Done
