"""Runs written straight into a store, for page tests that must not wait for a training."""

from __future__ import annotations

import numpy as np

from engine.store import RunStore


def fake_run(store: RunStore, name: str = "fake", layers: int = 6, steps: int = 40, status: str = "done",
             decay: float = 0.5, spec: dict | None = None) -> int:
    """A finished run: loss curve, val accuracy, per-layer grad stats whose norm falls with depth by `decay`
    (``spec``: the run's spec, a stub by default)."""
    run_id = store.create_run(name, spec or {"family": "resnet", "name": name}, {"steps": steps}, "shapes", "cpu",
                              status="running")
    store.set_layers(run_id, [{"name": f"stage{1 + i // 3}.block0.conv{i}", "op": "conv2d",
                               "stage": f"stage{1 + i // 3}", "block": "block0", "numel": 100} for i in range(layers)])
    fill_run(store, run_id, layers, steps, decay)
    store.set_status(run_id, status)
    return run_id


def fill_run(store: RunStore, run_id: int, layers: int, steps: int, decay: float, val_acc: float = 0.9) -> None:
    """Log `steps` steps of metrics and per-layer grad stats (norm falling toward the input by `decay` per layer)
    into a run whose `layers` are set, and its summary."""
    rng = np.random.default_rng(0)
    for step in range(1, steps + 1):
        store.log_metrics(run_id, step, {"loss": 2.3 * np.exp(-step / 20) + 0.05, "acc": min(1.0, step / steps)})
        base = decay ** np.arange(layers)[::-1] * (1 + 0.1 * rng.random(layers))
        store.log_layer_stats(run_id, step, {"grad_norm": base.astype(np.float32),
                                             "grad_mean_abs": (base / 10).astype(np.float32),
                                             "grad_max_abs": (base * 3).astype(np.float32)})
        if step % 10 == 0:
            store.log_metrics(run_id, step, {"val_loss": 1.0 / step, "val_acc": step / steps * val_acc})
    store.set_summary(run_id, {"steps": float(steps), "loss": 0.1, "val_acc": val_acc, "wall_s": 3.0})
