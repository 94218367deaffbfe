"""Pure Plotly figure builders (no Streamlit): testable, and reusable from notebooks.

Arrays passed to Plotly are numpy float32; live charts carry a stable `uirevision` so zoom survives updates.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from dashboard.text import plot
from engine.api import INPUT, Analysis, Graph, fmt_shape, kind_colour, op_kind

STAGE_COLOURS = ["#2f6fdf", "#e67e22", "#27ae60", "#9b59b6", "#e74c3c", "#16a085", "#f1c40f", "#7f8c8d"]
ERROR_COLOUR = "#d62728"


def _arc(x0: float, y0: float, x1: float, y1: float, lift: float, n: int = 24) -> tuple[list[float], list[float]]:
    """Points of a smooth arc from (x0, y0) to (x1, y1) that rises `lift` above the higher end."""
    t = np.linspace(0.0, 1.0, n)
    xs = x0 + (x1 - x0) * t
    ys = y0 + (y1 - y0) * t + lift * np.sin(np.pi * t)
    return xs.tolist() + [math.nan], ys.tolist() + [math.nan]


def architecture_figure(graph: Graph, analysis: Analysis | None = None, *, error_node: str | None = None,
                        values: Mapping[str, float] | None = None, value_label: str = "value",
                        height: int = 360, frozen: Collection[str] = ()) -> go.Figure:
    """Nodes in depth order, grouped by stage, skip edges as arcs, coloured by op kind (or by `values`,
    e.g. gradient norms, on a log scale); `error_node` is drawn red; `frozen` nodes (fine-tuning) grey squares."""
    order = [n for n in graph.topo_order()]
    x = {name: float(i) for i, name in enumerate(order)}
    y = {name: (1.0 if graph.nodes[name].meta.get("role") == "shortcut" else 0.0) for name in order}
    rows = {r.name: r for r in analysis.nodes} if analysis else {}

    straight_x: list[float] = []
    straight_y: list[float] = []
    arc_x: list[float] = []
    arc_y: list[float] = []
    for name in order:
        for src in graph.nodes[name].inputs:
            if src not in x:
                continue
            span = x[name] - x[src]
            if span == 1 and y[name] == y[src]:
                straight_x += [x[src], x[name], math.nan]  # NaN breaks the line (numpy, not None:
                straight_y += [y[src], y[name], math.nan]  # plotly validates arrays far faster than lists)
            else:
                ax, ay = _arc(x[src], y[src], x[name], y[name], 0.35 + 0.25 * math.log2(max(span, 1)))
                arc_x += ax
                arc_y += ay

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=np.array(straight_x, dtype=np.float32), y=np.array(straight_y, dtype=np.float32),
                             mode="lines", line={"color": "#b0b7c3", "width": 1.5},
                             hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=np.array(arc_x, dtype=np.float32), y=np.array(arc_y, dtype=np.float32),
                             mode="lines", line={"color": "#e67e22", "width": 1.5},
                             hoverinfo="skip", name="skip edge"))

    hover = []
    for name in order:
        node = graph.nodes[name]
        row = rows.get(name)
        text = f"<b>{plot(name)}</b><br>op: {plot(node.op)}"
        if row is not None:
            text += f"<br>out: {fmt_shape(row.out_shape)}<br>params: {row.params:,}<br>MACs: {row.macs:,}"
        if name in frozen:
            text += "<br>frozen: no gradient by design"
        elif values is not None and name in values:
            text += f"<br>{plot(value_label)}: {values[name]:.3g}"
        hover.append(text)
    xs = np.array([x[n] for n in order], dtype=np.float32)
    ys = np.array([y[n] for n in order], dtype=np.float32)
    if values is not None:
        vals = np.array([np.nan if n in frozen else values.get(n, np.nan) for n in order], dtype=np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            logv = np.where(vals > 0, np.log10(vals), np.nan).astype(np.float32)
        marker = {"size": 9, "color": logv, "colorscale": "Viridis", "showscale": True,
                  "colorbar": {"title": f"log10 {value_label}", "thickness": 12}}
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", marker=marker, hovertext=hover, hoverinfo="text",
                                 showlegend=False))
    else:
        kinds = [op_kind(graph.nodes[n].op) for n in order]  # "unknown" for an unregistered op
        for kind in dict.fromkeys(kinds):
            idx = [i for i, k in enumerate(kinds) if k == kind]
            fig.add_trace(go.Scatter(x=xs[idx], y=ys[idx], mode="markers", name=kind,
                                     marker={"size": 9, "color": kind_colour(kind),
                                             "line": {"width": 0.5, "color": "white"}},
                                     hovertext=[hover[i] for i in idx], hoverinfo="text"))
    if frozen:
        idx = [i for i, n in enumerate(order) if n in frozen]
        fig.add_trace(go.Scatter(x=xs[idx], y=ys[idx], mode="markers", name="frozen",
                                 marker={"size": 10, "symbol": "square", "color": "#aab4c3",
                                         "line": {"width": 1, "color": "#5a6270"}},
                                 hovertext=[hover[i] for i in idx], hoverinfo="text"))
    if error_node and error_node in x:
        fig.add_trace(go.Scatter(x=[x[error_node]], y=[y[error_node]], mode="markers+text", name="error",
                                 marker={"size": 18, "color": ERROR_COLOUR, "symbol": "x"},
                                 text=[plot(error_node)], textposition="bottom center",
                                 textfont={"color": ERROR_COLOUR}, hoverinfo="text", hovertext=[plot(error_node)]))
    shapes, notes = _stage_bands(graph, order, x)
    fig.update_layout(
        shapes=shapes, annotations=notes,
        height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10}, plot_bgcolor="white",
        xaxis={"visible": False, "range": [-1, len(order)]},
        yaxis={"visible": False, "range": [-0.6, 3.2]},
        legend={"orientation": "h", "y": -0.05}, hoverlabel={"align": "left"}, uirevision="architecture",
    )
    return fig


def _stage_bands(graph: Graph, order: Sequence[str], x: Mapping[str, float]) -> tuple[list[dict], list[dict]]:
    """Alternating shaded bands per stage (the IR's stage of each node), labelled at the top. Returned as plain
    dicts and set in one layout update: adding shapes one by one re-validates the layout each time (slow)."""
    spans: dict[str, list[float]] = {}
    for name in order:
        if name == INPUT:
            continue
        spans.setdefault(graph.nodes[name].group("stage"), []).append(x[name])
    shapes, notes = [], []
    for i, (stage, xs) in enumerate(spans.items()):
        shapes.append({"type": "rect", "x0": min(xs) - 0.5, "x1": max(xs) + 0.5, "y0": -0.5, "y1": 3.1,
                       "layer": "below", "line": {"width": 0}, "fillcolor": "#f3f5f9" if i % 2 == 0 else "#ffffff"})
        notes.append({"x": (min(xs) + max(xs)) / 2, "y": 3.0, "text": plot(stage), "showarrow": False,
                      "font": {"size": 11, "color": "#5a6270"}})
    return shapes, notes


def stage_params_bar(analyses: Mapping[str, Analysis], metric: str = "params") -> go.Figure:
    """Stacked bars: one bar per net, one segment per stage (parameters or MACs)."""
    fig = go.Figure()
    stages: list[str] = []
    per_net = {n: {g.name: g for g in a.rollup("stage")} for n, a in analyses.items()}
    for groups in per_net.values():
        stages += [s for s in groups if s not in stages]
    nets = list(analyses)
    for i, stage in enumerate(stages):
        vals = np.array([getattr(per_net[n][stage], metric) if stage in per_net[n] else 0 for n in nets],
                        dtype=np.float32)
        fig.add_trace(go.Bar(x=[plot(n) for n in nets], y=vals, name=plot(stage),
                             marker_color=STAGE_COLOURS[i % len(STAGE_COLOURS)]))
    fig.update_layout(barmode="stack", height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      yaxis_title=metric, legend={"orientation": "h", "y": 1.08})
    return fig


def paired_bars(labels: Sequence[str], series: Mapping[str, Sequence[float]], *, log: bool = False,
                title: str = "") -> go.Figure:
    """Grouped bars: e.g. basic vs bottleneck for params and MACs."""
    fig = go.Figure()
    for i, (name, vals) in enumerate(series.items()):
        fig.add_trace(go.Bar(x=[plot(label) for label in labels], y=np.asarray(vals, dtype=np.float32), name=plot(name),
                             marker_color=STAGE_COLOURS[i % len(STAGE_COLOURS)],
                             text=[f"{v:,.0f}" for v in vals], textposition="outside"))
    fig.update_layout(barmode="group", height=360, title=plot(title, 200), margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      yaxis_type="log" if log else "linear", legend={"orientation": "h", "y": 1.1})
    return fig
