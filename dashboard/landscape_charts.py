"""Pure Plotly builders for loss landscapes and shattered gradients (engine.lab.landscape results: plain JSON, None
for a point whose loss overflowed). No Streamlit here: each function takes results and returns a figure.

Surfaces are drawn as log10(loss): a plain net's loss spans decades over a plane, and one colour scale over log10
keeps both the basin and the walls readable. Two surfaces compared share one scale (`shared_range`). Labels come
from users (run names): trace names go through `dashboard.text.plot`, titles through run_charts' `_layout` (which
uses it too), so tags such as <b> and TeX in a name are shown literally, escaped once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from dashboard.charts import STAGE_COLOURS
from dashboard.run_charts import _layout
from dashboard.text import plot

Result = Mapping[str, Any]
# Li et al. 2018 fig. 8 colours the |lambda_min / lambda_max| map from blue (convex) to yellow (non-convex).
CURVATURE_SCALE = [[0.0, "#1f3fbf"], [0.5, "#3fa0a0"], [1.0, "#f5d000"]]
SURFACE_SCALE = "Viridis"
REFERENCE_DASH = {"white noise": "dot", "brown noise": "dash"}


def label(text: Any) -> str:
    """User text (a run name) made safe for a Plotly legend (titles: `_layout` escapes them)."""
    return plot(text)


def log_loss(loss: Any) -> np.ndarray:
    """log10 of a loss list or grid; NaN where a point overflowed or is not positive."""
    f = np.array(loss, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(f)
    out[~np.isfinite(out)] = np.nan
    return out


def shared_range(results: Sequence[Result]) -> tuple[float, float] | None:
    """(zmin, zmax) of log10 loss over every surface given: one colour scale for a side-by-side view."""
    vals = np.concatenate([log_loss(r["loss"]).ravel() for r in results]) if results else np.array([])
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return None
    lo, hi = float(vals.min()), float(vals.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def _grid(z: np.ndarray) -> list[list[float | None]]:
    return [[None if not math.isfinite(v) else float(v) for v in row] for row in z]


def _axis_titles(r: Result) -> dict[str, str]:
    return {"xaxis_title": "alpha (direction 1)", "yaxis_title": "beta (direction 2)"}


def loss_contour(r: Result, *, title: str = "", zrange: tuple[float, float] | None = None,
                 height: int = 420, colorbar: bool = True) -> go.Figure:
    """Contours of log10 loss over the (alpha, beta) grid, the trained weights marked at the centre."""
    z = log_loss(r["loss"])
    lo, hi = zrange or (np.nanmin(z) if np.isfinite(z).any() else 0.0, np.nanmax(z) if np.isfinite(z).any() else 1.0)
    fig = go.Figure(go.Contour(x=r["alphas"], y=r["betas"], z=_grid(z), zmin=lo, zmax=hi, colorscale=SURFACE_SCALE,
                               contours={"start": lo, "end": hi, "size": max((hi - lo) / 20, 1e-6)},
                               colorbar={"title": "log10 loss"}, showscale=colorbar, connectgaps=False,
                               hovertemplate="alpha %{x:.2f}<br>beta %{y:.2f}<br>log10 loss %{z:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers", marker={"symbol": "x", "size": 10, "color": "white",
                                                                     "line": {"width": 1, "color": "black"}},
                             name="trained weights", hovertemplate="trained weights<extra></extra>"))
    _square(fig)
    return _layout(fig, height=height, title=title, uirevision=f"contour-{title}", **_axis_titles(r))


def _square(fig: go.Figure) -> None:
    """Equal units on both axes by shrinking the plot area, not by widening an axis past the grid."""
    fig.update_xaxes(constrain="domain")
    fig.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")


def loss_surface_3d(r: Result, *, title: str = "", zrange: tuple[float, float] | None = None,
                    height: int = 460) -> go.Figure:
    """The same grid as a 3-D surface of log10 loss (Li et al. 2018's surface plots)."""
    z = log_loss(r["loss"])
    kw = {"cmin": zrange[0], "cmax": zrange[1]} if zrange else {}
    fig = go.Figure(go.Surface(x=r["alphas"], y=r["betas"], z=_grid(z), colorscale=SURFACE_SCALE,
                               colorbar={"title": "log10 loss"}, **kw))
    scene: dict[str, Any] = {"xaxis_title": "alpha", "yaxis_title": "beta", "zaxis_title": "log10 loss",
                             "camera": {"eye": {"x": 1.5, "y": 1.5, "z": 1.0}}}
    if zrange:
        scene["zaxis"] = {"range": list(zrange)}
    fig.update_layout(scene=scene)
    return _layout(fig, height=height, title=title, uirevision=f"surface-{title}")


def curves_1d(results: Mapping[str, Result], *, title: str = "Loss along one direction", log_y: bool = True,
              height: int = 380) -> go.Figure:
    """1-D curves overlaid, one per label; the trained weights at alpha 0 (and the initial ones at -1 on an init
    line) marked."""
    fig = go.Figure()
    init_line = False
    for i, (name, r) in enumerate(results.items()):
        y = [None if not math.isfinite(v) else v for v in np.array(r["loss"], dtype=float)]
        fig.add_trace(go.Scatter(x=r["alphas"], y=y, mode="lines+markers",
                                 name=label(name), line={"color": STAGE_COLOURS[i % len(STAGE_COLOURS)], "width": 2},
                                 marker={"size": 4}))
        init_line = init_line or r.get("direction") == "init"
    fig.add_vline(x=0, line_dash="dot", line_color="#888", annotation_text="trained", annotation_position="top")
    if init_line:
        fig.add_vline(x=-1, line_dash="dot", line_color="#888", annotation_text="initial", annotation_position="top")
    return _layout(fig, height=height, title=title, xaxis_title="alpha", yaxis_title="loss",
                   yaxis_type="log" if log_y else "linear", uirevision=f"curves-{title}")


def curvature_map(r: Result, *, title: str = "", height: int = 380) -> go.Figure | None:
    """Li et al. 2018 sec. 6: |lambda_min / lambda_max| of the full Hessian on the coarse grid (blue convex, yellow
    non-convex); None when the surface has no Hessian grid."""
    h = r.get("hessian") or {}
    if "ratio" not in h:
        return None
    z = np.array(h["ratio"], dtype=float)
    fig = go.Figure(go.Heatmap(x=h["alphas"], y=h["betas"], z=_grid(z), zmin=0.0, zmax=1.0, colorscale=CURVATURE_SCALE,
                               colorbar={"title": "|λmin/λmax|"}, texttemplate="%{z:.2f}",
                               hovertemplate="alpha %{x:.2f}<br>beta %{y:.2f}<br>ratio %{z:.3f}<extra></extra>"))
    _square(fig)
    return _layout(fig, height=height, title=title or "Hessian |λmin/λmax| (full parameter space)",
                   uirevision=f"curv-{title}", **_axis_titles(r))


def surface_curvature_map(r: Result, *, title: str = "", height: int = 380) -> go.Figure | None:
    """The same ratio from the plotted surface's own 2x2 curvature (interior points); 0 where the surface is convex."""
    m = (r.get("measures") or {}).get("surface_ratio")
    if not m:
        return None
    z = np.clip(np.array(m, dtype=float), 0, 1)
    fig = go.Figure(go.Heatmap(x=r["alphas"][1:-1], y=r["betas"][1:-1], z=_grid(z), zmin=0.0, zmax=1.0,
                               colorscale=CURVATURE_SCALE, colorbar={"title": "ratio"}))
    _square(fig)
    return _layout(fig, height=height, title=title or "Surface curvature |min(λ1, 0)/λ2| (on the plane)",
                   uirevision=f"scurv-{title}", **_axis_titles(r))


def shatter_curves(result: Result, *, height: int = 380) -> go.Figure:
    """Autocorrelation of the input gradient over lags per net, with white and brown noise as references
    (Balduzzi et al. 2017, fig. 2)."""
    fig = go.Figure()
    nets = result.get("nets") or []
    for i, n in enumerate(nets):
        fig.add_trace(go.Scatter(x=n["lags"], y=n["autocorr"], mode="lines+markers", name=label(n.get("label") or
                                 n["name"]), line={"color": STAGE_COLOURS[i % len(STAGE_COLOURS)], "width": 2},
                                 marker={"size": 4}))
    for name, ref in (nets[0].get("references", {}) if nets else {}).items():
        fig.add_trace(go.Scatter(x=list(range(len(ref["autocorr"]))), y=ref["autocorr"], mode="lines", name=name,
                                 line={"color": "#888", "dash": REFERENCE_DASH.get(name, "dot"), "width": 1}))
    fig.add_hline(y=1 / math.e, line_dash="dot", line_color="#bbb", annotation_text="1/e",
                  annotation_position="bottom right")
    return _layout(fig, height=height, title="Autocorrelation of dLoss/dInput along a line (at initialisation)",
                   xaxis_title="lag (points on the line)", yaxis_title="autocorrelation", uirevision="shatter")


def shatter_gradients(result: Result, *, height: int = 340) -> go.Figure:
    """The derivative of the loss along the line, scaled to [-1, 1], per net (Balduzzi et al. 2017, fig. 1)."""
    fig = go.Figure()
    for i, n in enumerate(result.get("nets") or []):
        fig.add_trace(go.Scatter(x=n["t"], y=n["gradient"], mode="lines", name=label(n.get("label") or n["name"]),
                                 line={"color": STAGE_COLOURS[i % len(STAGE_COLOURS)], "width": 1}))
    return _layout(fig, height=height, title="dLoss/dInput along the line (first initialisation, scaled)",
                   xaxis_title="t", yaxis_title="gradient (scaled)", uirevision="shatter-g")


def measures_rows(results: Mapping[str, Result]) -> list[dict[str, Any]]:
    """One table row per surface: the figures the conclusion reads."""
    rows = []
    for name, r in results.items():
        m, h = r.get("measures") or {}, ((r.get("hessian") or {}).get("center") or {})
        rows.append({"run": str(name), "centre loss": r.get("center_loss"), "non-convex points": m.get(
            "nonconvex_fraction"), "downhill to centre": m.get("toward_center_fraction"),
            "sharpness (plane)": m.get("sharpness"), "λmax (centre)": h.get("lambda_max"),
            "λmin (centre)": h.get("lambda_min"), "|λmin/λmax| (centre)": h.get("ratio"),
            "|λmin/λmax| (grid mean)": (r.get("hessian") or {}).get("ratio_mean")})
    return rows
