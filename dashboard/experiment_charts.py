"""Pure Plotly builders for experiment results (engine.lab.experiments: plain JSON lists, None for missing values).
No Streamlit here: every function takes the results' figure data and returns a figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts import STAGE_COLOURS
from dashboard.run_charts import _layout, curves
from dashboard.text import plot

Band = Mapping[str, Any]  # {"steps": [...], "mean": [...], "lo": [...], "hi": [...]}
RESIDUAL_COLOUR, PLAIN_COLOUR = "#2f6fdf", "#e67e22"


def _f(values: Sequence[float | None] | None) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in (values or [])], dtype=np.float32)


def band_curves(bands: Mapping[str, Band | None], *, title: str, y_title: str = "", log_y: bool = False,
                height: int = 340) -> go.Figure:
    """Mean over seeds as a line and mean +- std as a shaded band, one colour per label."""
    series = {k: (_f(b["steps"]), _f(b["mean"])) for k, b in bands.items() if b}
    shaded = {k: (_f(b["lo"]), _f(b["hi"])) for k, b in bands.items() if b and b.get("seeds", 2) > 1}
    if log_y:  # a band reaching zero or below has no place on a log axis
        shaded = {k: (np.where(lo > 0, lo, np.nan), hi) for k, (lo, hi) in shaded.items()}
    return curves(series, title=title, y_title=y_title, log_y=log_y, height=height, bands=shaded)


def ratio_figure(bands: Mapping[str, Band | None], alerts: Mapping[str, list[dict[str, Any]]] | None = None, *,
                 vanish: float = 1e-3, explode: float = 1e3, height: int = 360) -> go.Figure:
    """First-layer / last-layer gradient norm over training (log axis), thresholds as dashed lines, and the
    health monitor's vanishing / exploding alerts marked where they fired."""
    fig = band_curves(bands, title="First / last layer gradient norm", y_title="ratio", log_y=True, height=height)
    fig.add_hline(y=vanish, line_dash="dash", line_color="#d62728", annotation_text="vanishing",
                  annotation_position="bottom right")
    fig.add_hline(y=explode, line_dash="dash", line_color="#9b59b6", annotation_text="exploding",
                  annotation_position="top right")
    for i, (label, items) in enumerate((alerts or {}).items()):
        b = bands.get(label)
        if not items or not b:
            continue
        steps, mean = _f(b["steps"]), _f(b["mean"])
        xs = np.array([a["step"] for a in items], dtype=np.float32)
        ys = np.interp(xs, steps, mean) if len(steps) else xs * np.nan
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=plot(f"{label} alerts"),
                                 marker={"symbol": "x", "size": 11, "color": STAGE_COLOURS[i % len(STAGE_COLOURS)]},
                                 hovertext=[plot(f"{a['kind']} (seed {a['seed']}): {a['message']}", 300)
                                            for a in items],
                                 hovertemplate="%{hovertext}<extra></extra>"))
    return fig


def layer_profiles(profiles: Mapping[str, Sequence[float | None] | None], *, title: str,
                   height: int = 340) -> go.Figure:
    """Gradient norm per linear layer, input to output (log axis), one line per variant."""
    fig = go.Figure()
    for i, (label, values) in enumerate(profiles.items()):
        if not values:
            continue
        v = _f(values)
        fig.add_trace(go.Scatter(x=np.arange(len(v), dtype=np.float32), y=v, mode="lines+markers", name=plot(label),
                                 marker={"size": 4}, line={"color": STAGE_COLOURS[i % len(STAGE_COLOURS)]}))
    return _layout(fig, height=height, title=title, yaxis_type="log", xaxis_title="layer (0 = input side)",
                   yaxis_title="gradient norm", uirevision=title)


def log_heatmap(data: Mapping[str, Any], *, title: str, height: int = 360) -> go.Figure:
    """Layer x step heatmap of log10 gradient norms (``{"steps", "layers", "log10"}``)."""
    layers = list(data["layers"])
    z = np.array([_f(row) for row in data["log10"]], dtype=np.float32)
    fig = go.Figure(go.Heatmap(z=z, x=_f(data["steps"]), y=np.arange(len(layers)), colorscale="Viridis",
                               colorbar={"title": "log10", "thickness": 12},
                               customdata=np.array([plot(n) for n in layers])[:, None]
                               .repeat(z.shape[1] if z.ndim == 2 else 0, axis=1),
                               hovertemplate="%{customdata}<br>step %{x}<br>log10 %{z:.2f}<extra></extra>"))
    return _layout(fig, height=height, title=title, xaxis_title="step", yaxis_title="layer (input at bottom)",
                   uirevision=title)


def lesion_bars(single: Mapping[str, Mapping[str, Any]], *, height: int = 380) -> go.Figure:
    """Validation accuracy with each block deleted, residual net and plain twin side by side; the intact
    accuracy as a dashed line; blocks a plain net cannot lose (shape changes) marked 'not removable'."""
    fig = go.Figure()
    for i, (label, s) in enumerate(single.items()):
        colour = RESIDUAL_COLOUR if label.startswith("resnet") else PLAIN_COLOUR if label.startswith("plain") \
            else STAGE_COLOURS[i % len(STAGE_COLOURS)]
        acc = _f(s["acc"])
        text = ["not removable" if not ok else "" for ok in s["removable"]]
        fig.add_trace(go.Bar(x=[plot(b) for b in s["blocks"]], y=np.nan_to_num(acc, nan=0.0), name=plot(label),
                             marker_color=colour,
                             text=text, textposition="outside",
                             error_y={"type": "data", "array": np.nan_to_num(_f(s.get("std")), nan=0.0)},
                             hovertemplate="%{x}: %{y:.3f}<extra>" + plot(label) + "</extra>"))
        fig.add_hline(y=s["base"], line_dash="dash", line_color=colour, annotation_text=plot(f"{label} intact"),
                      annotation_position="top left")
    return _layout(fig, height=height, title="Accuracy with one block deleted", yaxis_title="validation accuracy",
                   xaxis_title="deleted block", barmode="group", uirevision="lesion-bars", yaxis_range=[0, 1.08])


def lesion_k_curve(k: Mapping[str, Mapping[str, Any]], *, chance: float = 0.1, height: int = 340) -> go.Figure:
    fig = go.Figure()
    for label, c in k.items():
        colour = RESIDUAL_COLOUR if label.startswith("resnet") else PLAIN_COLOUR
        fig.add_trace(go.Scatter(x=_f(c["k"]), y=_f(c["mean"]), mode="lines+markers", name=plot(label),
                                 error_y={"type": "data", "array": _f(c["std"])}, line={"color": colour}))
    fig.add_hline(y=chance, line_dash="dot", line_color="#7f8c8d", annotation_text="chance")
    return _layout(fig, height=height, title="Deleting k random blocks", xaxis_title="blocks deleted (k)",
                   yaxis_title="validation accuracy", uirevision="lesion-k", yaxis_range=[0, 1.02])


def path_lengths(paths: Mapping[str, Sequence[float]], *, height: int = 300) -> go.Figure:
    n = len(paths["length"]) - 1
    fig = go.Figure(go.Bar(x=_f(paths["length"]), y=_f(paths["fraction"]), marker_color=RESIDUAL_COLOUR,
                           hovertemplate="length %{x}: %{y:.3%} of paths<extra></extra>"))
    return _layout(fig, height=height, title=f"Path lengths through {n} residual blocks: Binomial({n}, 1/2)",
                   xaxis_title="residual branches on the path", yaxis_title="fraction of the 2^n paths",
                   uirevision="paths")


def share_heatmap(data: Mapping[str, Any], *, height: int = 380) -> go.Figure:
    """Block x step heatmap of the shortcut share (0: all through the branch, 1: all through the shortcut)."""
    blocks = [plot(b) for b in data["blocks"]]
    z = np.array([_f(r) for r in data["share"]], dtype=np.float32)
    fig = go.Figure(go.Heatmap(z=z, x=_f(data["steps"]), y=blocks, zmin=0, zmax=1, colorscale="RdBu",
                               colorbar={"title": "share", "thickness": 12},
                               hovertemplate="%{y}<br>step %{x}<br>shortcut share %{z:.2f}<extra></extra>"))
    return _layout(fig, height=height, title="Shortcut share of the gradient at each block input",
                   xaxis_title="step", yaxis_title="block (input at bottom)", uirevision="share-heat")


LEGEND_MAX = 10  # more lines than this: no legend (it would bury the plot); colour and hover name the block


def share_lines(data: Mapping[str, Any], *, height: int = 360) -> go.Figure:
    """One line per block, ||g shortcut|| / (||g shortcut|| + ||g branch||) over the steps."""
    fig = go.Figure()
    steps = _f(data["steps"])
    n = max(1, len(data["blocks"]) - 1)
    for i, (block, row) in enumerate(zip(data["blocks"], data["share"], strict=True)):
        # colour runs from the input side (blue) to the output side (red)
        colour = f"rgb({int(40 + 200 * i / n)}, 90, {int(240 - 200 * i / n)})"
        fig.add_trace(go.Scatter(x=steps, y=_f(row), mode="lines", name=plot(block),
                                 line={"color": colour, "width": 1.5},
                                 hovertemplate=f"{plot(block)}<br>step %{{x}}<br>share %{{y:.2f}}<extra></extra>"))
    fig.add_hline(y=0.5, line_dash="dot", line_color="#7f8c8d")
    legend = len(data["blocks"]) <= LEGEND_MAX
    title = "Shortcut share per block" + ("" if legend else " (blue → red: input → output)")
    return _layout(fig, height=height, title=title, xaxis_title="step", yaxis_title="shortcut share",
                   uirevision="share-lines", yaxis_range=[0, 1], showlegend=legend)


def segmentation_grid(images: Sequence[Any], masks: Sequence[Any], preds: Mapping[str, Sequence[Any]],
                      *, row_height: int = 120) -> go.Figure:
    """One row per validation image: the image, the true mask, then each variant's predicted probability."""
    cols = ["image", "true mask", *preds]
    n = len(images)
    fig = make_subplots(rows=n, cols=len(cols), column_titles=[plot(c) for c in cols], horizontal_spacing=0.01,
                        vertical_spacing=0.01)
    for r in range(n):
        fig.add_trace(go.Image(z=np.asarray(images[r], dtype=np.uint8)), row=r + 1, col=1)
        for c, m in enumerate([masks[r], *[p[r] for p in preds.values()]], start=2):
            fig.add_trace(go.Heatmap(z=np.asarray(m, dtype=np.float32), zmin=0, zmax=1, colorscale="Greys",
                                     reversescale=True, showscale=False,
                                     hovertemplate="p %{z:.2f}<extra></extra>"), row=r + 1, col=c)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")  # row 0 on top, as in the image panels
    fig.update_layout(height=row_height * n + 40, margin={"l": 5, "r": 5, "t": 30, "b": 5})
    return fig
