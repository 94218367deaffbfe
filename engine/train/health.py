"""Health checks: divergence (NaN/Inf), vanishing and exploding gradients.

- Divergence: a non-finite loss or layer gradient norm stops the run as ``diverged``. `locate_divergence`
  names where it first appeared: weights that are already non-finite (the first layer in depth order),
  else the first layer whose forward output is non-finite on the offending batch, else the deepest layer
  with a non-finite gradient (backward runs from the output, so that is where the NaN was born).
- Vanishing: the first layer's gradient norm divided by the last layer's below ``vanish_threshold``
  (Glorot & Bengio 2010; He et al. 2016 fig. 1 for what it does to plain deep nets).
- Exploding: a layer gradient norm above ``explode_threshold``, or an update larger than
  ``explode_update_ratio`` times its weight (an update/weight ratio above 1 rewrites the layer in one step).
Each kind of alert is raised once per run, at the first step it holds, naming the layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from engine.train.config import TrainConfig
from engine.train.events import Alert, Layer


class HealthMonitor:
    def __init__(self, layers: list[Layer], cfg: TrainConfig) -> None:
        self.layers = layers
        self.cfg = cfg
        self.raised: set[str] = set()

    def check(self, steps: list[int], stats: dict[str, np.ndarray]) -> list[Alert]:
        """Alerts from flushed per-layer statistics (host arrays ``[n_steps, n_layers]``)."""
        alerts: list[Alert] = []
        if not self.layers or "grad_norm" not in stats:
            return alerts
        names = [layer.name for layer in self.layers]
        for row, step in enumerate(steps):
            g = stats["grad_norm"][row]
            if "vanishing" not in self.raised and len(names) > 1 and g[-1] > 0 and np.isfinite(g[[0, -1]]).all():
                ratio = float(g[0] / g[-1])
                if ratio < self.cfg.vanish_threshold:
                    alerts.append(self._raise("vanishing", step, names[0],
                                              f"vanishing gradient at step {step}: first layer {names[0]} has "
                                              f"gradient norm {g[0]:.3g}, {ratio:.2e} x the last layer's "
                                              f"({names[-1]}: {g[-1]:.3g}); threshold {self.cfg.vanish_threshold:g}. "
                                              "Shortcuts, normalisation or He init keep the gradient alive"))
            if "exploding" in self.raised:
                continue
            big = np.flatnonzero(np.nan_to_num(g, nan=0.0, posinf=np.inf) > self.cfg.explode_threshold)
            if big.size:
                i = int(big[0])
                alerts.append(self._raise("exploding", step, names[i],
                                          f"exploding gradient at step {step}: {names[i]} has gradient norm "
                                          f"{g[i]:.3g} > {self.cfg.explode_threshold:g}; lower the learning rate "
                                          "or clip gradients (grad_clip)"))
                continue
            upd = stats.get("update_ratio")
            if upd is not None:
                over = np.flatnonzero(np.nan_to_num(upd[row], nan=0.0) > self.cfg.explode_update_ratio)
                if over.size:
                    i = int(over[0])
                    alerts.append(self._raise("exploding", step, names[i],
                                              f"exploding update at step {step}: the update of {names[i]} is "
                                              f"{upd[row][i]:.3g} x its weight norm (> "
                                              f"{self.cfg.explode_update_ratio:g}); lower the learning rate"))
        return alerts

    def _raise(self, kind: str, step: int, layer: str, message: str) -> Alert:
        self.raised.add(kind)
        return Alert(step, kind, layer, message)


def _nonfinite(t: torch.Tensor) -> bool:
    return not bool(torch.isfinite(t).all())


def locate_divergence(layers: list[Layer], layer_params: list[list[nn.Parameter]], model: nn.Module,
                      forward: Callable[[], torch.Tensor], loss_value: float, step: int) -> tuple[str | None, str]:
    """(layer name or None, a one-line explanation). Runs one diagnostic forward pass; only after a failure."""
    for layer, ps in zip(layers, layer_params, strict=True):
        if any(_nonfinite(p.detach()) for p in ps):
            return layer.name, (f"diverged at step {step}: the weights of {layer.name} became non-finite "
                                f"(loss {loss_value}); lower the learning rate or clip gradients")
    first: list[str] = []
    handles = []

    def hook_for(name: str):  # noqa: ANN202
        def hook(_m: nn.Module, _i: object, out: object) -> None:
            t = out[0] if isinstance(out, tuple | list) else out
            if not first and isinstance(t, torch.Tensor) and t.is_floating_point() and _nonfinite(t.detach()):
                first.append(name)
        return hook

    try:
        for layer in layers:
            handles.append(model.get_submodule(layer.name).register_forward_hook(hook_for(layer.name)))
        with torch.no_grad():
            forward()
    except Exception:  # noqa: BLE001, S110 - the diagnosis must never mask the divergence itself
        pass
    finally:
        for h in handles:
            h.remove()
    if first:
        return first[0], (f"diverged at step {step}: the output of {first[0]} became non-finite "
                          f"(loss {loss_value}); lower the learning rate or clip gradients")
    for layer, ps in zip(reversed(layers), reversed(layer_params), strict=True):
        if any(p.grad is not None and _nonfinite(p.grad) for p in ps):
            return layer.name, (f"diverged at step {step}: the gradient of {layer.name} became non-finite "
                                f"(loss {loss_value}); lower the learning rate or clip gradients")
    if not math.isfinite(loss_value):
        return (layers[-1].name if layers else None), (
            f"diverged at step {step}: the loss became {loss_value} although every layer output was finite; "
            "the logits overflow the loss: lower the learning rate")
    return None, f"diverged at step {step}: non-finite values"
