"""What a training run needs in memory, from the IR analysis (no tensors), checked before anything is allocated:
weights, gradients, optimizer state, saved activations at the batch, evaluation, and the data set. A run that
would not fit is refused with the numbers and a fix ("use batch_size 4 or less")."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.analysis import analyze
from engine.core.errors import ResourceError
from engine.core.limits import Budget, max_params, memory_budget
from engine.core.text import fmt_bytes
from engine.data.estimate import estimate_dataset_bytes
from engine.ir.graph import Graph

if TYPE_CHECKING:
    import torch

    from engine.train.config import TrainConfig


@dataclass
class TrainingEstimate:
    """Bytes a training run needs, from the analysis (engine.analysis memory) at the requested batches."""

    label: str
    params: int
    state_bytes: int  # weights + gradients + optimizer state
    saved_bytes: int  # activations saved for backward at `batch`
    eval_bytes: int  # live activations of a forward pass at `val_batch`
    batch: int
    val_batch: int

    @property
    def model_bytes(self) -> int:
        return self.state_bytes + max(self.saved_bytes, self.eval_bytes)

    def max_batch(self, budget: int, data_bytes: int) -> int:
        """The largest batch whose saved activations fit next to the state and the data (0: none)."""
        per_sample = self.saved_bytes / self.batch
        room = budget - data_bytes - self.state_bytes
        return int(room // per_sample) if per_sample > 0 and room > 0 else 0

    def check(self, device: str | torch.device, data_bytes: int = 0, data_label: str = "") -> None:
        """Raise ResourceError when the run would not fit ``device`` (and the data not fit RAM)."""
        import torch

        dev = torch.device(device)
        limit = max_params()
        if limit is not None and self.params > limit:
            raise ResourceError(f"{self.label} has {self.params:,} parameters, more than the {limit:,} allowed "
                                "(SKIPLAB_MAX_PARAMS); use narrower or fewer layers, or raise SKIPLAB_MAX_PARAMS")
        budget = memory_budget(dev)
        need = self.model_bytes + data_bytes
        if budget.bytes is not None and need > budget.bytes:
            raise ResourceError(self._message(need, budget, data_bytes, data_label, str(dev)))
        if dev.type != "cpu" and data_bytes:  # the data set is read into RAM before it moves to the device
            ram = memory_budget("cpu")
            if ram.bytes is not None and data_bytes > ram.bytes:
                raise ResourceError(f"the data set{data_label} takes about {fmt_bytes(data_bytes)}, more than the "
                                    f"{fmt_bytes(ram.bytes)} of RAM allowed ({ram.source}); use train_size / "
                                    f"val_size to take fewer samples, or set {ram.fix}")

    def _message(self, need: int, budget: Budget, data_bytes: int, data_label: str, device: str) -> str:
        assert budget.bytes is not None
        parts = [f"weights, gradients and optimizer state {fmt_bytes(self.state_bytes)}",
                 f"saved activations at batch {self.batch:,} {fmt_bytes(self.saved_bytes)}"]
        if self.eval_bytes > self.saved_bytes:
            parts.append(f"evaluation at batch {self.val_batch:,} {fmt_bytes(self.eval_bytes)}")
        if data_bytes:
            parts.append(f"data set{data_label} {fmt_bytes(data_bytes)}")
        fits = self.max_batch(budget.bytes, data_bytes)
        if self.state_bytes + data_bytes > budget.bytes:
            fix = ("the model's weights and optimizer state alone do not fit: use narrower or fewer layers"
                   if self.state_bytes > budget.bytes else "take fewer samples (train_size / val_size)")
        elif fits >= 1:
            fix = f"use batch_size {fits:,} or less"
            if self.eval_bytes > self.saved_bytes:
                fix += " and a smaller val_batch_size"
        else:
            fix = "use a smaller model or data set"
        return (f"training {self.label} on {device} needs about {fmt_bytes(need)} ({'; '.join(parts)}), more than "
                f"the {fmt_bytes(budget.bytes)} allowed ({budget.source}); {fix}, or set {budget.fix}")


def estimate_training(graph: Graph, cfg: TrainConfig) -> TrainingEstimate:
    """One analysis at the training batch (no tensors); evaluation memory scales linearly with the batch."""
    a = analyze(graph, batch=cfg.batch_size)
    mem = a.memory
    train_key = "training_adamw_bytes" if cfg.optimizer == "adamw" else "training_sgd_momentum_bytes"
    saved = mem["saved_activations_bytes"]
    state = mem[train_key] - saved
    eval_bytes = math.ceil(mem["inference_peak_bytes"] * cfg.val_batch_size / cfg.batch_size)
    return TrainingEstimate(graph.name or graph.family or "the model", a.params, state, saved, eval_bytes,
                            cfg.batch_size, cfg.val_batch_size)


def check_training(graph: Graph, cfg: TrainConfig, device: str | torch.device) -> TrainingEstimate:
    """Refuse a run whose model, batch or data set would not fit, before the data is loaded."""
    est = estimate_training(graph, cfg)
    data = estimate_dataset_bytes(cfg.dataset, cfg.dataset_options, graph.input_shape)
    est.check(device, data, f" {cfg.dataset!r}")
    return est


def dataset_bytes(data: Any) -> int:
    """Bytes of a loaded `engine.data.Dataset`'s tensors (what the trainer moves to the device)."""
    return sum(t.numel() * t.element_size() for t in (data.x_train, data.y_train, data.x_val, data.y_val))
