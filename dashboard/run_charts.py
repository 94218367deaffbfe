"""Pure Plotly builders for training runs: curves, gradient flow per layer, layer x step heatmaps, depth-normalised
profiles. Inputs are numpy arrays from engine.store; the step axis of big heatmaps is downsampled."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from dashboard.axes import ema, log_axis
from dashboard.charts import STAGE_COLOURS
from dashboard.text import plot

MAX_HEATMAP_COLUMNS = 500  # a browser draws ~500 columns crisply; more only costs payload


# What each recorded gradient statistic is (engine.train.monitor): all of one gradient, the one backprop produced,
# before any clipping. The norm grows with a layer's size; mean |g| does not, so it compares layers of any size.
GRAD_STATS = {
    "grad_norm": ("gradient norm ‖g‖₂", "the L2 norm of the layer's whole gradient (grows with the layer's size)"),
    "grad_mean_abs": ("mean |g|", "the mean absolute gradient entry (independent of the layer's size)"),
    "grad_max_abs": ("max |g|", "the largest absolute gradient entry"),
}


def stat_label(stat: str) -> str:
    return GRAD_STATS.get(stat, (stat.replace("_", " "), ""))[0]


def _layout(fig: go.Figure, *, height: int, title: str = "", uirevision: str = "", log_values: object = None,
            **axes: object) -> go.Figure:
    """Shared layout; a log y axis (``yaxis_type="log"``) gets ticks read from the data (`dashboard.axes`): from
    ``log_values`` when given, else from every trace's y."""
    log_y = axes.pop("yaxis_type", None) == "log"
    fig.update_layout(height=height, title=plot(title, 200),
                      margin={"l": 10, "r": 10, "t": 40 if title else 20, "b": 10},
                      legend={"orientation": "h", "y": -0.2}, uirevision=uirevision or title or "chart", **axes)
    if log_y:
        values = log_values if log_values is not None else [t.y for t in fig.data if getattr(t, "y", None) is not None]
        fig.update_yaxes(**log_axis(values))
    return fig


def downsample_columns(steps: np.ndarray, matrix: np.ndarray, max_cols: int = MAX_HEATMAP_COLUMNS
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Average consecutive step columns into at most `max_cols` bins (NaN-aware); each bin is labelled by its
    last step. [layers, steps] -> [layers, <= max_cols]."""
    n = matrix.shape[1]
    if n <= max_cols:
        return steps, matrix
    edges = np.linspace(0, n, max_cols + 1).astype(int)
    with warnings.catch_warnings():  # an all-NaN bin (a layer not logged there) stays NaN, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        cols = [np.nanmean(matrix[:, a:b], axis=1) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return steps[edges[1:] - 1], np.stack(cols, axis=1).astype(np.float32)


def curves(series: Mapping[str, tuple[np.ndarray, np.ndarray]], *, title: str, y_title: str = "",
           log_y: bool = False, height: int = 320, bands: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
           smooth: float = 0.0) -> go.Figure:
    """Overlaid lines, one per label; optional (low, high) bands per label (mean +- band over seeds). With
    ``smooth`` > 0 each line is TensorBoard's de-biased moving average, the raw values drawn faintly behind it."""
    fig = go.Figure()
    for i, (label, (x, y)) in enumerate(series.items()):
        colour = STAGE_COLOURS[i % len(STAGE_COLOURS)]
        if bands and label in bands:
            lo, hi = bands[label]
            fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]).astype(np.float32),
                                     y=np.concatenate([hi, lo[::-1]]).astype(np.float32), fill="toself",
                                     fillcolor=colour, opacity=0.18, line={"width": 0}, hoverinfo="skip",
                                     showlegend=False))
        xs = np.asarray(x, dtype=np.float32)
        if smooth > 0 and len(y) > 2:
            fig.add_trace(go.Scatter(x=xs, y=np.asarray(y, dtype=np.float32), mode="lines", name=plot(label),
                                     line={"color": colour, "width": 1}, opacity=0.25, hoverinfo="skip",
                                     showlegend=False))
            y = ema(np.asarray(y, dtype=np.float64), smooth)
        fig.add_trace(go.Scatter(x=xs, y=np.asarray(y, dtype=np.float32), name=plot(label),
                                 mode="lines+markers" if len(xs) < 12 else "lines",  # a lone point shows too
                                 line={"color": colour, "width": 2}, marker={"size": 5}))
    return _layout(fig, height=height, title=title, xaxis_title="step", yaxis_title=y_title,
                   yaxis_type="log" if log_y else "linear")


FROZEN_COLOUR = "#aab4c3"


def gradient_flow(layers: Sequence[str], stages: Sequence[str], values: np.ndarray, max_abs: np.ndarray | None = None,
                  *, step: int | None = None, height: int = 360, frozen: Sequence[bool] | None = None,
                  stat: str = "grad_mean_abs", log_y: bool = True) -> go.Figure:
    """One gradient statistic per layer at one step (the line; `GRAD_STATS`), with max |g| as faint bars when given,
    layers in depth order, coloured by stage, log scale. Frozen layers (fine-tuning) are shaded and labelled:
    their gradient is zero by design, which a log axis cannot draw."""
    mean_abs = values
    name = stat_label(stat)
    stage_order = list(dict.fromkeys(stages))
    colours = [STAGE_COLOURS[stage_order.index(s) % len(STAGE_COLOURS)] for s in stages]
    if frozen is not None and any(frozen):  # NaN, not 0: the mean line breaks over the frozen band
        mask = np.asarray(frozen, dtype=bool)
        mean_abs = np.where(mask, np.nan, np.asarray(mean_abs, dtype=np.float64))
        if max_abs is not None:
            max_abs = np.where(mask, np.nan, np.asarray(max_abs, dtype=np.float64))
    x = np.arange(len(layers), dtype=np.float32)
    fig = go.Figure()
    if max_abs is not None:
        fig.add_trace(go.Bar(x=x, y=np.asarray(max_abs, dtype=np.float32), name="max |g|", marker_color=colours,
                             opacity=0.35, hovertext=[plot(n) for n in layers],
                             hovertemplate="%{hovertext}<br>max |g| %{y:.3g}<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=np.asarray(mean_abs, dtype=np.float32), name=name, mode="lines+markers",
                             marker={"color": colours, "size": 6}, line={"color": "#34495e", "width": 1},
                             hovertext=[plot(n) for n in layers],
                             hovertemplate="%{hovertext}<br>" + name + " %{y:.3g}<extra></extra>"))
    ticks = [i for i in range(len(layers)) if i == 0 or stages[i] != stages[i - 1]]
    title = f"Gradient flow: {name} per layer" + (f" at step {step}" if step is not None else "")
    _shade_frozen(fig, list(frozen or []))
    return _layout(fig, height=height, title=title, yaxis_type="log" if log_y else "linear", yaxis_title=name,
                   barmode="overlay",
                   uirevision="gradient-flow",
                   xaxis={"tickmode": "array", "tickvals": ticks, "ticktext": [plot(stages[i]) for i in ticks],
                          "title": "layer (input → output)"})


def frozen_spans(frozen: Sequence[bool]) -> list[tuple[int, int]]:
    """Runs of consecutive frozen layers as (first, last) indices."""
    spans: list[tuple[int, int]] = []
    for i, f in enumerate(frozen):
        if not f:
            continue
        if spans and spans[-1][1] == i - 1:
            spans[-1] = (spans[-1][0], i)
        else:
            spans.append((i, i))
    return spans


def _shade_frozen(fig: go.Figure, frozen: list[bool]) -> None:
    for a, b in frozen_spans(frozen):
        fig.add_vrect(x0=a - 0.5, x1=b + 0.5, fillcolor=FROZEN_COLOUR, opacity=0.3, line_width=0, layer="below",
                      annotation_text="frozen: no gradient by design", annotation_position="top left",
                      annotation_font={"size": 11, "color": "#5a6270"})


def layer_heatmap(steps: np.ndarray, matrix: np.ndarray, layers: Sequence[str], *, title: str = "log10 grad norm",
                  height: int = 420, stat: str = "grad_norm") -> go.Figure:
    """Layer x step heatmap of log10 values, step axis downsampled to about 500 columns."""
    steps, matrix = downsample_columns(np.asarray(steps), np.asarray(matrix, dtype=np.float32))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(matrix > 0, np.log10(matrix), np.nan).astype(np.float32)
    fig = go.Figure(go.Heatmap(z=z, x=np.asarray(steps, dtype=np.float32), y=np.arange(len(layers)),
                               colorscale="Viridis", colorbar={"title": "log10", "thickness": 12},
                               hovertemplate="step %{x}<br>layer %{y}<br>log10 " + stat_label(stat)
                                             + " %{z:.2f}<extra></extra>"))
    return _layout(fig, height=height, title=title, uirevision="heatmap-" + title,
                   yaxis={"title": "layer (input at bottom)", "tickmode": "array",
                          "tickvals": list(range(0, len(layers), max(1, len(layers) // 12))),
                          "ticktext": [plot(layers[i]) for i in range(0, len(layers), max(1, len(layers) // 12))]},
                   xaxis_title="step")


def depth_profiles(profiles: Mapping[str, np.ndarray], *, title: str = "Gradient norm by relative depth",
                   height: int = 340, stat: str = "grad_norm", log_y: bool = True) -> go.Figure:
    """One line per run: a per-layer statistic against depth normalised to [0, 1] so nets of any depth align."""
    fig = go.Figure()
    for i, (label, values) in enumerate(profiles.items()):
        v = np.asarray(values, dtype=np.float32)
        depth = np.linspace(0.0, 1.0, len(v), dtype=np.float32)
        fig.add_trace(go.Scatter(x=depth, y=v, mode="lines+markers", name=plot(label), marker={"size": 4},
                                 line={"color": STAGE_COLOURS[i % len(STAGE_COLOURS)]}))
    return _layout(fig, height=height, title=title, yaxis_type="log" if log_y else "linear",
                   xaxis_title="relative depth (0 = input)", yaxis_title=stat_label(stat), uirevision="profiles")
