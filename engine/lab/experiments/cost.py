"""How much training work each planned run is, for the progress bar and the ETA of a whole experiment.

A run's work is steps x batch size x its forward MACs per sample (the analytic count of the IR, milliseconds, no
tensors): on a CPU the time of a step grows about linearly with it, so the fraction of the work done is a fair
fraction of the time. Costs are cached by the spec's canonical JSON because the page polls every second.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any


@functools.lru_cache(maxsize=256)
def _macs(spec_json: str) -> float:
    from engine.analysis import summarize

    try:
        return float(max(1, summarize(json.loads(spec_json)).macs))
    except Exception:  # noqa: BLE001 - a spec that cannot be counted still gets a share of the bar
        return 1.0


def run_cost(run: dict[str, Any]) -> float:
    cfg = run.get("config") or {}
    macs = _macs(json.dumps(run.get("spec") or {}, sort_keys=True))
    return float(cfg.get("steps", 1)) * float(cfg.get("batch_size", 1)) * macs


def run_costs(runs: list[dict[str, Any]]) -> list[float]:
    return [run_cost(r) for r in runs]


def eta_seconds(elapsed: float, trained_work: float, remaining_work: float) -> float | None:
    """Seconds left at the rate the trained work went so far; None until there is a rate to go by."""
    if remaining_work <= 0:
        return 0.0
    if elapsed <= 1.0 or trained_work <= 0:
        return None
    eta = elapsed * remaining_work / trained_work
    return eta if math.isfinite(eta) else None
