"""The Landscape page's pieces and the Compare page's landscape section: forms, a computation's progress, a surface
with its figures and conclusion, shattering curves. Computations run in child processes (engine.api.launch_*);
this module only starts them and reads their records. Conclusions contain run names (user text), so they are shown
with `st.text`, never as Markdown."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from dashboard import landscape_charts as lc
from dashboard import text as safe
from engine.api import RunStore, compare_landscapes, describe_landscape, describe_shatter, landscape_options

PREFIX = "landscape"
ACTIVE = ("queued", "running")
SHATTER_DEFAULTS = ("plain20", "resnet20")


def runs_with_weights(store: RunStore) -> list[dict[str, Any]]:
    """Finished runs that kept their final weights: the ones a landscape can be computed for."""
    return [r for r in store.list_runs() if r["status"] not in ACTIVE and (r.get("summary") or {}).get("weights_path")]


def surface_form(key: str) -> dict[str, Any]:
    """The surface options as widgets (defaults and help from engine's option model); returns them as a dict."""
    fields = landscape_options()[0].model_fields
    c = st.columns(4)
    kind = c[0].radio("Shape", ["2-D surface", "1-D random direction", "1-D initial → final"], key=f"{key}_kind",
                      help="A grid of two filter-normalised random directions (Li et al. 2018), one of them, or the "
                      "straight line from the run's initial to its final weights.")
    dim, direction = {"2-D surface": (2, "random"), "1-D random direction": (1, "random"),
                      "1-D initial → final": (1, "init")}[kind]
    grid = c[1].number_input("Grid (points per axis, odd)", 3, 101, 21 if dim == 2 else 41, step=2, key=f"{key}_grid",
                             help=fields["grid"].description)  # engine text
    span = c[2].number_input("Span (±)", 0.05, 10.0, 1.0, step=0.25, key=f"{key}_span",
                             help=fields["span"].description)  # engine text
    seed = c[3].number_input("Direction seed", 0, 2**31 - 1, 0, key=f"{key}_seed",
                             help=fields["seed"].description)  # engine text
    c = st.columns(4)
    samples = c[0].number_input("Samples", 16, 100_000, 512, step=64, key=f"{key}_samples",
                                help=fields["samples"].description)  # engine text
    hessians = ["center", "grid", "none"] if dim == 2 else ["center", "none"]
    hess = c[1].selectbox("Hessian", hessians, key=f"{key}_hessian", help=fields["hessian"].description)  # engine text
    h_grid = c[2].number_input("Hessian grid", 3, 21, 5, step=2, key=f"{key}_hgrid",
                               help=fields["hessian_grid"].description, disabled=hess != "grid")  # engine text
    iters = c[3].number_input("Lanczos iterations", 2, 200, 20, key=f"{key}_iters",
                              help=fields["hessian_iters"].description, disabled=hess == "none")  # engine text
    return {"dim": dim, "direction": direction, "grid": int(grid), "span": float(span), "seed": int(seed),
            "samples": int(samples), "hessian": hess, "hessian_grid": int(h_grid), "hessian_iters": int(iters)}


def shatter_form(key: str, choices: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    fields = landscape_options()[1].model_fields
    defaults = [c for c in SHATTER_DEFAULTS if c in choices]
    specs = st.multiselect("Architectures (at initialisation)", list(choices), default=defaults, max_selections=4,
                           key=f"{key}_specs", help="Plain vs residual at the same depth shows the effect.")
    c = st.columns(3)
    points = c[0].number_input("Points on the line", 16, 4096, 256, key=f"{key}_points",
                               help=fields["points"].description)  # engine text
    inits = c[1].number_input("Initialisations", 1, 20, 3, key=f"{key}_inits",
                              help=fields["inits"].description)  # engine text
    seed = c[2].number_input("Seed", 0, 2**31 - 1, 0, key=f"{key}_seed", help=fields["seed"].description)  # engine text
    return specs, {"points": int(points), "inits": int(inits), "seed": int(seed)}


def job_label(rec: Mapping[str, Any]) -> str:
    """What was computed; not its status, which the browser's select box would keep showing stale once the
    computation moves on (the status is on the progress line and the result)."""
    o = rec.get("options") or {}
    when = time.strftime("%m-%d %H:%M", time.localtime(rec["created_at"]))
    if rec["kind"] == "shatter":
        names = ", ".join(str(s.get("name") or s.get("family")) for s in o.get("specs", []))
        return f"#{rec['id']} {names} · {o.get('points')} points · {when}"
    shape = f"{o.get('grid')}x{o.get('grid')}" if o.get("dim") == 2 else f"1-D {o.get('direction')} {o.get('grid')}"
    return f"#{rec['id']} {shape} span {o.get('span')} seed {o.get('seed')} · {when}"


def render_progress(rec: Mapping[str, Any] | None) -> None:
    if rec is None:
        return
    phase = rec.get("phase") or rec["status"]
    st.progress(min(1.0, float(rec.get("progress") or 0.0)), text=safe.md(f"{rec['status']} · {phase}"))
    if rec.get("error") and rec["status"] != "done":
        st.text(f"{rec['status']}: {rec['error']}")
    elif rec["status"] not in ACTIVE and rec["status"] != "done":
        st.text(f"{rec['status']}: no result")


def render_surface(r: Mapping[str, Any], key: str) -> None:
    """Conclusion, then contour + 3-D surface (2-D) or the curve (1-D), the curvature maps and the figures."""
    st.text(describe_landscape(dict(r)))
    name = r.get("run_name") or f"run {r.get('run_id')}"
    if r["dim"] == 2:
        left, right = st.columns(2)
        safe.chart(lc.loss_contour(r, title=f"{name}: log10 loss"), key=f"{key}_contour", container=left)
        safe.chart(lc.loss_surface_3d(r, title=f"{name}: surface"), key=f"{key}_surface", container=right)
        maps = [f for f in (lc.curvature_map(r), lc.surface_curvature_map(r)) if f is not None]
        cols = st.columns(max(1, len(maps)))
        for i, (col, fig) in enumerate(zip(cols, maps, strict=False)):
            safe.chart(fig, key=f"{key}_curv{i}", container=col)
    else:
        safe.chart(lc.curves_1d({str(name): r}, title=f"{name}: loss along the line"), key=f"{key}_curve")
    st.dataframe(lc.measures_rows({str(name): r}), hide_index=True, width="stretch", key=f"{key}_measures")


def render_shatter(result: Mapping[str, Any], key: str) -> None:
    st.text(describe_shatter(dict(result)))
    left, right = st.columns(2)
    safe.chart(lc.shatter_curves(result), key=f"{key}_ac", container=left)
    safe.chart(lc.shatter_gradients(result), key=f"{key}_g", container=right)
    rows = [{"net": n.get("label") or n["name"], "lag-1 autocorrelation": n["lag1"],
             "correlation length (points)": n["correlation_length"]} for n in result.get("nets", [])]
    st.dataframe(rows, hide_index=True, width="stretch", key=f"{key}_table")


def latest_surfaces(ls: Any, ids: Sequence[int], dim: int) -> dict[int, dict[str, Any]]:
    """Each run's newest finished surface of ``dim`` (random directions), with its result."""
    out = {}
    for i in ids:
        rec = ls.latest(i, dim=dim, direction="random")
        if rec is not None and rec.get("result"):
            out[i] = rec["result"]
    return out


def render_compare(ls: Any, ids: Sequence[int], names: Mapping[int, str]) -> None:
    """Compare page: the runs' 2-D surfaces side by side on one colour scale, 1-D curves overlaid, a conclusion."""
    st.subheader("Loss landscapes")
    two = latest_surfaces(ls, ids, 2)
    one = latest_surfaces(ls, ids, 1)
    if not two and not one:
        safe.caption("None of these runs has a loss landscape yet: compute them on the Landscape page (the same "
                   "direction seed for each, so they are compared on the same footing).")
        return
    if two:
        zrange = lc.shared_range(list(two.values()))
        view = st.segmented_control("View", ["contour", "3-D"], default="contour", key="compare_landscape_view")
        cols = st.columns(len(two))
        for n, (col, (i, r)) in enumerate(zip(cols, two.items(), strict=True)):
            if view == "3-D":
                fig = lc.loss_surface_3d(r, title=names[i], zrange=zrange, height=400)
            else:  # one colour bar, on the last: the scale is shared
                fig = lc.loss_contour(r, title=names[i], zrange=zrange, height=400, colorbar=n == len(two) - 1)
            safe.chart(fig, key=f"compare_landscape_{i}", container=col)
        safe.caption("One colour scale (log10 loss) for every surface shown.")
    if one:
        safe.chart(lc.curves_1d({names[i]: r for i, r in one.items()}, title="1-D curves (random direction)"),
                   key="compare_landscape_1d")
    both = list(two.values()) if len(two) >= 2 else list(one.values())
    if len(both) >= 2:
        st.text(compare_landscapes(both[0], both[1]))
    shown = {names[i]: r for i, r in {**one, **two}.items()}
    st.dataframe(lc.measures_rows(shown), hide_index=True, width="stretch", key="compare_landscape_measures")


def render_experiment(figs: Mapping[str, Any], key: str) -> None:
    """The `landscape` experiment's figures: both nets' surfaces (seed 0) on one colour scale, their Hessian maps,
    the training loss and the shattering curves."""
    from dashboard.experiment_charts import band_curves

    surfaces = {k: v for k, v in (figs.get("surfaces") or {}).items() if v}
    if surfaces:
        zrange = lc.shared_range(list(surfaces.values()))
        cols = st.columns(len(surfaces))
        for n, (col, (name, r)) in enumerate(zip(cols, surfaces.items(), strict=True)):
            fig = lc.loss_contour(r, title=f"{name} (seed 0)", zrange=zrange, height=380,
                                  colorbar=n == len(surfaces) - 1)
            safe.chart(fig, key=f"{key}_contour_{name}", container=col)
            if (fig := lc.curvature_map(r, title=f"{name}: Hessian |λmin/λmax|")) is not None:
                safe.chart(fig, key=f"{key}_curv_{name}", container=col)
        st.dataframe(lc.measures_rows(surfaces), hide_index=True, width="stretch", key=f"{key}_measures")
    if figs.get("loss"):
        safe.chart(band_curves(figs["loss"], title="Training loss", log_y=True), key=f"{key}_loss")
    if figs.get("shatter"):
        render_shatter(figs["shatter"], key=f"{key}_shatter")
