"""Health checks: divergence (NaN/Inf), vanishing and exploding gradients.

- Divergence: a non-finite loss or layer gradient norm, or a loss above ``diverge_factor`` x the first
  step's loss (at least 1), stops the run as ``diverged``. The loss limit matters for BatchNorm nets: BN
  renormalises exploding conv weights, so lr = 1e4 gives a loss of 1e4 long before it gives a NaN.
  `locate_divergence` names where it first appeared: weights that are already non-finite (the first
  layer in depth order), else the first layer whose forward output is non-finite on the offending batch,
  else the deepest layer with a non-finite gradient (backward runs from the output, so that is where the
  NaN was born), else (a finite loss over the limit) the layer whose weights grew most since init.
- Vanishing: the first layer's gradient norm divided by the last layer's below ``vanish_threshold``
  (Glorot & Bengio 2010; He et al. 2016 fig. 1 for what it does to plain deep nets).
- Exploding: a layer gradient norm above ``explode_threshold``, or an update larger than
  ``explode_update_ratio`` times its weight (an update/weight ratio above 1 rewrites the layer in one step).
Each kind of alert is raised once per run, at the first step it holds, naming the layer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from engine.train.config import TrainConfig
from engine.train.events import Alert, Layer

log = logging.getLogger(__name__)


class HealthMonitor:
    def __init__(self, layers: list[Layer], cfg: TrainConfig, init_weight_norms: np.ndarray | None = None) -> None:
        self.layers = layers
        self.cfg = cfg
        self.raised: set[str] = set()
        # Frozen layers have no gradient by design: the first / last ratio is taken over the layers that train.
        self.live = [i for i, layer in enumerate(layers) if not layer.frozen]
        # Zero-initialised layers (zero_init_residual's last BN) have no meaningful update/weight ratio
        # while their weights are still tiny: every early update is "larger than the weight".
        self.ratio_ok = (np.asarray(init_weight_norms) > 0) if init_weight_norms is not None else None

    def check(self, steps: list[int], stats: dict[str, np.ndarray]) -> list[Alert]:
        """Alerts from flushed per-layer statistics (host arrays ``[n_steps, n_layers]``)."""
        alerts: list[Alert] = []
        if not self.layers or "grad_norm" not in stats:
            return alerts
        names = [layer.name for layer in self.layers]
        first, last = (self.live[0], self.live[-1]) if self.live else (0, 0)
        frozen = f" (the first {first} layer(s) are frozen)" if first else ""
        for row, step in enumerate(steps):
            g = stats["grad_norm"][row]
            if "vanishing" not in self.raised and len(self.live) > 1 and g[last] > 0 and \
                    np.isfinite(g[[first, last]]).all():
                ratio = float(g[first] / g[last])
                if ratio < self.cfg.vanish_threshold:
                    alerts.append(self._raise("vanishing", step, names[first],
                                              f"vanishing gradient at step {step}: first "
                                              f"{'trained ' if first else ''}layer {names[first]}{frozen} has "
                                              f"gradient norm {g[first]:.3g}, "
                                              f"{ratio:.2e} x the last layer's ({names[last]}: {g[last]:.3g}); "
                                              f"threshold {self.cfg.vanish_threshold:g}. "
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
                ratios = np.nan_to_num(upd[row], nan=0.0)
                if self.ratio_ok is not None:
                    ratios = np.where(self.ratio_ok, ratios, 0.0)
                over = np.flatnonzero(ratios > self.cfg.explode_update_ratio)
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
                      forward: Callable[[], torch.Tensor], *, step: int, loss: float, limit: float | None,
                      grad_norms: np.ndarray, init_weight_norms: np.ndarray) -> tuple[str | None, str]:
    """(layer name or None, a one-line explanation) for a run stopped at ``step``.

    Runs one diagnostic forward pass, only after a failure. ``grad_norms`` are the per-layer gradient
    norms of that step; ``init_weight_norms`` the per-layer weight norms at initialisation.
    """
    fix = "lower the learning rate, add warm-up or clip gradients (grad_clip)"
    for layer, ps in zip(layers, layer_params, strict=True):
        if any(_nonfinite(p.detach()) for p in ps):
            return layer.name, f"diverged at step {step}: the weights of {layer.name} became non-finite; {fix}"
    first = _first_nonfinite_output(layers, model, forward)
    if first:
        return first, f"diverged at step {step}: the output of {first} became non-finite (loss {loss:.4g}); {fix}"
    bad = [i for i, g in enumerate(grad_norms) if not np.isfinite(g)]
    if bad:
        # backward runs from the output, so the deepest non-finite gradient is where it was born
        name = layers[bad[-1]].name
        return name, (f"diverged at step {step}: the gradient of {name} became non-finite (NaN/Inf, or a "
                      f"norm beyond float32); {fix}")
    if not layers:
        return None, f"diverged at step {step}: loss {loss:.4g}; {fix}"
    if not math.isfinite(loss):
        return layers[-1].name, (f"diverged at step {step}: the loss became {loss} although every layer output "
                                 f"was finite (the logits overflow the loss); {fix}")
    if limit is None:
        return None, f"diverged at step {step}: non-finite values (loss {loss:.4g}); {fix}"
    now = np.array([math.sqrt(sum(float(p.detach().double().square().sum()) for p in ps)) for ps in layer_params])
    growth = now / np.maximum(init_weight_norms, 1e-12)
    i = int(np.argmax(growth))
    return layers[i].name, (f"diverged at step {step}: the loss reached {loss:.4g}, above the limit {limit:.4g} "
                            f"(diverge_factor x the first loss); the weights of {layers[i].name} grew the most, "
                            f"{growth[i]:.3g}x their initial norm; {fix}")


def _first_nonfinite_output(layers: list[Layer], model: nn.Module, forward: Callable[[], torch.Tensor]) -> str | None:
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
    except Exception:  # noqa: BLE001 - the diagnosis must never mask the divergence itself
        log.debug("diagnostic forward pass failed", exc_info=True)
    finally:
        for h in handles:
            h.remove()
    return first[0] if first else None
