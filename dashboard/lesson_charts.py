"""Pure Plotly builders for a lesson's pair: the first/last gradient ratio over training with the vanishing line,
the gradient of every conv / linear layer at init, and the loss and accuracy curves. Input: the series of
`engine.lab.lessons.LessonResult.figures`; no Streamlit here."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from dashboard.charts import STAGE_COLOURS
from dashboard.run_charts import curves
from dashboard.text import plot

VANISH_LINE = 1e-3  # engine.analysis.gradflow.VANISH: drawn, not decided here


def _arrays(series: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {k: (np.asarray(x, dtype=float), np.asarray(y, dtype=float)) for k, (x, y) in series.items()}


def _positive(values: Sequence[float]) -> np.ndarray:
    """A log axis cannot draw 0 or NaN: those points become gaps (the text says when a gradient is exactly 0)."""
    v = np.asarray(values, dtype=float)
    return np.where((v > 0) & np.isfinite(v), v, np.nan)


def ratio_figure(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, height: int = 320) -> go.Figure:
    arrays = _arrays(series)
    data = {k: (x, _positive(y)) for k, (x, y) in arrays.items()}
    zero = [k for k, (_, y) in arrays.items() if y.size and not np.any(y)]  # a log axis cannot draw them at all
    # short titles: two charts side by side still fit at 800 px
    title = "First/last gradient" + (f" · {', '.join(zero)}: 0, off the axis" if zero else "")
    fig = curves(data, title=title, log_y=True, height=height)  # curves escapes its title
    fig.add_hline(y=VANISH_LINE, line_dash="dot", line_color="#7f8c8d")
    # an annotation on a log axis is placed by log10(y) (add_hline's own would sit at 10^0.001, on top of the 1s)
    fig.add_annotation(x=1, xref="paper", y=math.log10(VANISH_LINE), yref="y", text="vanishing (1e-3)",
                       showarrow=False, xanchor="right", yanchor="top", font={"size": 11, "color": "#7f8c8d"})
    fig.update_yaxes(exponentformat="power", **decade_ticks([y for _, y in data.values()] + [[VANISH_LINE]]))
    return fig


def decade_ticks(values: Sequence[Sequence[float]], max_labels: int = 6) -> dict[str, float]:
    """A log axis over many decades labels every k-th one (at most `max_labels`), not ~20 stacked labels."""
    v = np.concatenate([np.asarray(x, dtype=float).ravel() for x in values]) if values else np.zeros(0)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return {}
    span = math.log10(v.max()) - math.log10(v.min())
    return {"dtick": max(1, math.ceil(span / max_labels))} if span > 2 else {}


def profile_figure(profiles: Mapping[str, Sequence[float]], layers: Mapping[str, Sequence[str]], *,
                   height: int = 320) -> go.Figure:
    """Each conv / linear layer's gradient norm at step 1 (the init), input on the left, log scale."""
    fig = go.Figure()
    zero = False
    for i, (label, values) in enumerate(profiles.items()):
        v = np.asarray(values, dtype=float)
        zero = zero or bool((v == 0).any())
        names = [plot(n) for n in layers.get(label, [])] or None
        fig.add_trace(go.Scatter(x=np.arange(len(v), dtype=float), y=_positive(v), mode="lines+markers",
                                 name=plot(label), marker={"size": 4}, hovertext=names,
                                 hovertemplate="%{hovertext}<br>grad norm %{y:.3g}<extra></extra>",
                                 line={"color": STAGE_COLOURS[i % len(STAGE_COLOURS)]}))
    title = "Each layer's gradient at init" + (" · gaps: 0" if zero else "")
    fig.update_layout(height=height, title=title, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "y": -0.25}, uirevision="lesson-profile",
                      xaxis_title="layer (input → output)", yaxis_title="grad norm")
    fig.update_yaxes(type="log", exponentformat="power", **decade_ticks([_positive(v) for v in profiles.values()]))
    return fig


def loss_figure(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, height: int = 320) -> go.Figure:
    # linear: a log axis over the losses of a short run (inside one decade) would carry no labelled tick
    return curves(_arrays(series), title="Training loss", height=height)


def accuracy_figure(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, height: int = 320) -> go.Figure:
    fig = curves(_arrays(series), title="Validation accuracy", height=height)
    fig.update_yaxes(tickformat=".0%")
    return fig


def finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None
