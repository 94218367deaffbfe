"""Pure Plotly builders for a run's recorded distributions (engine.train.histograms) and segmentation samples.

A distribution is a fraction per log10 |value| bin. Two views, as TensorBoard's histogram dashboard: a ridgeline of
one layer over time (older snapshots behind, the newest in front), and every layer at one snapshot as a heatmap
(layers on the y axis, input at the bottom), where a vanishing gradient shows as mass sliding left toward the input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from dashboard.axes import tick_text
from dashboard.run_charts import _layout
from dashboard.text import plot

DIST_STATS = {
    "grad_hist": ("gradient |g|", "each gradient entry, as backprop produced it (before clipping)"),
    "weight_hist": ("weight |w|", "each weight after the step"),
    "update_hist": ("update |Δw| / RMS(w)", "each entry's update relative to the layer's RMS weight (about 1e-3 is "
                                             "healthy: CS231n)"),
}
MAX_RIDGES = 10


def _decade_axis(edges: np.ndarray, mass: np.ndarray) -> dict[str, object]:
    """An x axis over log10 |value| labelled in decades, cut to the bins that hold any mass (plus one each side)."""
    used = np.nonzero(np.nansum(mass.reshape(-1, mass.shape[-1]), axis=0) > 0)[0]
    lo_i, hi_i = (int(used[0]), int(used[-1])) if used.size else (0, len(edges) - 2)
    lo, hi = float(edges[max(lo_i - 1, 0)]), float(edges[min(hi_i + 2, len(edges) - 1)])
    k = max(1, math.ceil((hi - lo) / 7))
    ticks = [e for e in range(math.ceil(lo), math.floor(hi) + 1) if e % k == 0]
    return {"range": [lo, hi], "tickmode": "array", "tickvals": ticks, "ticktext": [tick_text(10.0**e) for e in ticks]}


def _pick(n: int, most: int) -> list[int]:
    return sorted({round(i * (n - 1) / max(most - 1, 1)) for i in range(min(n, most))}) if n else []


def ridgeline(steps: np.ndarray, edges: np.ndarray, fractions: np.ndarray, layer: int, layer_name: str, stat: str,
              *, height: int = 380) -> go.Figure:
    """One layer's distribution at up to ten snapshots, stacked: the newest at the bottom, drawn in front."""
    centres = (edges[:-1] + edges[1:]) / 2
    idx = _pick(len(steps), MAX_RIDGES)
    rows = fractions[idx, layer, :] if len(idx) else np.zeros((0, len(centres)))
    top = float(np.nanmax(rows)) if rows.size and np.isfinite(rows).any() else 1.0
    fig = go.Figure()
    n = len(idx)
    for j, (t, row) in enumerate(zip(idx, rows, strict=True)):
        offset = float(n - 1 - j)  # oldest on top
        shade = int(200 - 150 * j / max(n - 1, 1))
        y = offset + np.nan_to_num(row / max(top, 1e-30)) * 1.6
        fig.add_trace(go.Scatter(x=np.concatenate([centres, centres[::-1]]).astype(np.float32),
                                 y=np.concatenate([y, np.full_like(y, offset)]).astype(np.float32),
                                 fill="toself", mode="lines", line={"color": f"rgb({shade // 3},{shade // 2},{shade})",
                                                                    "width": 1},
                                 fillcolor=f"rgba({shade // 3},{shade // 2},{shade},0.55)", hoverinfo="skip",
                                 name=f"step {int(steps[t])}", showlegend=False))
    label = DIST_STATS.get(stat, (stat, ""))[0]
    fig = _layout(fig, height=height, title=f"{layer_name}: {label} over training",
                  uirevision=f"ridge-{stat}-{layer}", xaxis_title=f"{label} (log scale)")
    fig.update_xaxes(**_decade_axis(edges, rows))
    fig.update_yaxes(tickmode="array", tickvals=[float(n - 1 - j) for j in range(n)],
                     ticktext=[f"step {int(steps[t]):,}" for t in idx], showgrid=False, zeroline=False)
    return fig


def layers_at(edges: np.ndarray, fractions: np.ndarray, layers: Sequence[str], step: int, stat: str, *,
              height: int = 380) -> go.Figure:
    """Every layer's distribution at one snapshot (``fractions`` [layers, bins]): a heatmap, input at the bottom."""
    centres = (edges[:-1] + edges[1:]) / 2
    z = np.where(fractions > 0, fractions, np.nan).astype(np.float32)
    label = DIST_STATS.get(stat, (stat, ""))[0]
    every = max(1, len(layers) // 12)
    fig = go.Figure(go.Heatmap(z=z, x=centres.astype(np.float32), y=np.arange(len(layers)), colorscale="Viridis",
                               colorbar={"title": "fraction", "thickness": 12},
                               hovertemplate="log10 %{x:.1f}<br>layer %{y}<br>fraction %{z:.3f}<extra></extra>"))
    fig = _layout(fig, height=height, title=f"Every layer's {label} at step {step:,}", uirevision=f"layers-{stat}",
                  xaxis_title=f"{label} (log scale)")
    fig.update_xaxes(**_decade_axis(edges, fractions))
    fig.update_yaxes(title="layer (input at bottom)", tickmode="array", tickvals=list(range(0, len(layers), every)),
                     ticktext=[plot(layers[i]) for i in range(0, len(layers), every)])
    return fig
