"""Small numeric helpers the analyses share: curves over seeds, end values, formatting, path counts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.lab.experiments.base import StoredRun


def series(run: StoredRun, store: Any, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    data = store.get_metrics(run.run_id, [key]).get(key)
    if data is None or len(data[0]) == 0:
        return None
    return data


def mean_band(curves: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, list[float]] | None:
    """Mean and mean +- one standard deviation over seeds, on the steps every seed logged (same config, so the
    same steps; a diverged seed ends early and the band then covers the common part)."""
    curves = [c for c in curves if c is not None and len(c[0])]
    if not curves:
        return None
    common = curves[0][0]
    for steps, _ in curves[1:]:
        common = np.intersect1d(common, steps)
    rows = np.stack([v[np.searchsorted(s, common)] for s, v in curves])  # [seeds, steps]
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(rows, axis=0) if np.isfinite(rows).any() else rows[0]
        std = np.nanstd(rows, axis=0) if len(curves) > 1 else np.zeros_like(mean)
    return {"steps": common.astype(float).tolist(), "mean": _clean(mean), "lo": _clean(mean - std),
            "hi": _clean(mean + std), "seeds": len(curves)}


def _clean(a: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(float(v)) else None for v in a]


def tail_mean(values: np.ndarray, frac: float = 0.1) -> float:
    """Mean of the last ``frac`` of the logged points (at least one): an end value less noisy than the last."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan")
    n = max(1, int(round(len(v) * frac)))
    return float(v[-n:].mean())


def seed_stats(values: list[float]) -> tuple[float, float]:
    """(mean, std) over seeds, ignoring NaN."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std()) if v.size > 1 else 0.0


def pm(mean: float, std: float, digits: int = 3) -> str:
    """``0.412 ± 0.020`` (or just the mean for one seed)."""
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std > 0 else "")


def binomial_paths(n: int) -> dict[str, list[float]]:
    """Of the 2^n paths through n residual blocks (each block: through the branch or around it), the fraction
    of length k = C(n, k) / 2^n (Veit et al. 2016, sec. 3: 'unraveled view')."""
    ks = list(range(n + 1))
    return {"length": [float(k) for k in ks], "fraction": [math.comb(n, k) / 2 ** n for k in ks]}


def finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None
