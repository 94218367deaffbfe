"""Readable axes for the run charts: log-axis ticks chosen from the data, and TensorBoard's smoothing.

Plotly's own log ticks fail both ways on training data: values inside one decade (a loss from 2.3 to 1.9) get no
labelled tick at all with decade ticks, and a gradient spanning 20 decades stacks 20 overlapping labels. So the
ticks are chosen here from the values shown: 1-2-5 steps inside a decade or two, every k-th decade over many, never
more than about seven labels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

MAX_TICKS = 7
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_MANTISSAS = ((1,), (1, 3), (1, 2, 5), (1, 2, 3, 5, 7), (1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9))


def finite_positive(values: Iterable[np.ndarray]) -> np.ndarray:
    parts = [np.asarray(v, dtype=np.float64).ravel() for v in values]
    flat = np.concatenate(parts) if parts else np.zeros(0)
    return flat[np.isfinite(flat) & (flat > 0)]


def tick_text(v: float) -> str:
    """1e-07 -> '10⁻⁷'; 0.002 -> '0.002'; 25000 -> '25k'; 2.5 -> '2.5'."""
    if v <= 0 or not math.isfinite(v):
        return ""
    exp = math.floor(math.log10(v) + 1e-9)
    mant = v / 10**exp
    if abs(mant - 1) < 1e-6 and (exp < -3 or exp > 4):
        return _power(v)
    if -3 <= exp <= 3:
        return f"{v:.4g}" if v < 1000 else f"{v / 1000:.3g}k"
    return f"{mant:.2g}e{exp}"


def _power(v: float) -> str:
    exp = round(math.log10(v))
    return {0: "1", 1: "10"}.get(exp, "10" + str(exp).translate(_SUPERSCRIPT))


def log_ticks(values: Iterable[np.ndarray], max_ticks: int = MAX_TICKS) -> tuple[list[float], list[str]]:
    """Tick positions and labels for a log axis over ``values`` (NaN, inf and non-positive values ignored)."""
    v = finite_positive(values)
    if v.size == 0:
        return [], []
    lo, hi = math.log10(v.min()), math.log10(v.max())
    if hi - lo < 1e-9:  # one value: a tick on it and a 1-2-5 neighbour each side
        lo, hi = lo - 0.3, hi + 0.3
    span = hi - lo
    if span > 2.5:  # many decades: every k-th decade
        k = max(1, math.ceil(span / (max_ticks - 1)))
        first = math.floor(lo / k) * k
        ticks = [10.0**e for e in range(first, math.ceil(hi) + k, k) if lo - k < e <= hi + k]
        return ticks, [_power(t) for t in ticks]
    else:
        ticks = []
        for mants in reversed(_MANTISSAS):  # the densest 1-2-5 pattern that fits
            cand = [float(f"{m * 10.0**e:.6g}") for e in range(math.floor(lo) - 1, math.ceil(hi) + 1) for m in mants]
            inside = [t for t in cand if 10**lo <= t * (1 + 1e-9) and t <= 10**hi * (1 + 1e-9)]
            if len(inside) <= max_ticks:
                ticks = inside
                if len(inside) >= 2:
                    break
        if len(ticks) < 2:  # a narrow range inside one step: evenly spaced round values
            ticks = _linear_ticks(10**lo, 10**hi, 5)
    return ticks, [tick_text(t) for t in ticks]


def _linear_ticks(lo: float, hi: float, n: int) -> list[float]:
    step = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(step)) if step > 0 else 1.0
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= step), default=step)
    start = math.ceil(lo / step) * step
    out = []
    t = start
    while t <= hi * (1 + 1e-9) and len(out) < 20:
        out.append(float(f"{t:.6g}"))
        t += step
    return out


def log_axis(values: Iterable[np.ndarray], **extra: object) -> dict[str, object]:
    """A Plotly log axis with ticks from `log_ticks` (an automatic one when nothing positive is shown yet)."""
    vals, text = log_ticks(values)
    axis: dict[str, object] = {"type": "log", **extra}
    if vals:
        axis.update(tickmode="array", tickvals=vals, ticktext=text)
    return axis


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average with weight ``weight`` in [0, 1), de-biased so the
    first points are not pulled toward zero; NaN and inf points are passed through and do not enter the average."""
    y = np.asarray(values, dtype=np.float64)
    if weight <= 0 or y.size == 0:
        return y
    out = np.empty_like(y)
    last, n = 0.0, 0
    for i, v in enumerate(y):
        if not math.isfinite(v):
            out[i] = v
            continue
        last = last * weight + (1 - weight) * v
        n += 1
        out[i] = last / (1 - weight**n)
    return out
