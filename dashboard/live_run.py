"""The live view of one run, read from the store: progress, curves, predicted masks, gradient flow, heatmap, the
first/last ratio, per-layer distributions and the gradient painted on the architecture. Called inside an
`st.fragment(run_every=...)` while the run is active; its controls (statistic, smoothing, log axes) rerun only it.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any

import numpy as np
import streamlit as st

from dashboard import text as safe
from dashboard.dist_charts import DIST_STATS, layers_at, ridgeline
from dashboard.experiment_charts import segmentation_grid
from dashboard.graph_model import graph_model
from dashboard.graph_view import graph_view
from dashboard.run_charts import GRAD_STATS, curves, gradient_flow, layer_heatmap, stat_label
from dashboard.runs_data import first_last_ratio, layer_stats_at, layer_view, metric_series
from dashboard.state import evaluate_spec
from dashboard.train_form import init_headline
from engine.api import RunStore, get_histograms, get_samples, histogram_stats

ACTIVE = ("queued", "running")
STAT_NOTE = ("Every gradient statistic here is of the gradient backprop produced, before any clipping. ‖g‖₂ (the "
             "default, on Train and Compare alike) is the norm of a layer's whole gradient and grows with the layer's "
             "size; mean |g| is the average entry and does not, so it compares layers of any size; max |g| is the "
             "largest entry.")
MAX_MASK_STEPS = 3  # the first prediction, and the latest ones
GRAPH_HEIGHT = 460


def progress_text(run: dict[str, Any], step: int, it_s: float | None) -> tuple[float, str]:
    """(fraction done, 'step 120 / 400 · 31.2 it/s · ETA 9 s')."""
    total = int((run.get("config") or {}).get("steps") or 0)
    frac = min(1.0, step / total) if total else 0.0
    text = f"step {step:,} / {total:,}" if total else f"step {step:,}"
    if it_s and math.isfinite(it_s) and it_s > 0:
        text += f" · {it_s:.1f} it/s"
        if run.get("status") == "running" and total:
            text += f" · ETA {max(0, total - step) / it_s:.0f} s"
    return frac, text


def _started(run: dict[str, Any]) -> float | None:
    value = run.get("started_at")
    if value is None:
        return None
    try:
        return float(value) if isinstance(value, int | float) else datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def controls(key: str) -> dict[str, Any]:
    """The chart controls: gradient statistic, smoothing, log axes (the statistic on a row of its own: beside the
    others it was cut off at 800 px)."""
    stat = st.segmented_control("Gradient statistic", list(GRAD_STATS), default="grad_norm",
                                format_func=lambda s: safe.md(stat_label(s)), key=f"{key}_stat",
                                help=safe.md(STAT_NOTE, 600)) or "grad_norm"
    c = st.columns([3, 1])
    smooth = c[0].slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key=f"{key}_smooth",
                         help="TensorBoard's moving average of the curves (0: raw); the raw values stay faint behind.")
    log_y = c[1].toggle("Log axes", True, key=f"{key}_log", help="Log or linear y axes for loss, gradients, ratio.")
    return {"stat": stat, "smooth": float(smooth), "log": bool(log_y)}


def ratio_words(steps: np.ndarray, ratio: np.ndarray) -> str:
    """'At step 100 the first layer's gradient norm is 0.0012x the last layer's: vanishing (below 1e-3).'"""
    finite = np.isfinite(ratio) & (ratio > 0)
    if not finite.any():
        return ""
    i = int(np.nonzero(finite)[0][-1])
    r = float(ratio[i])
    verdict = ("vanishing: the input end learns a thousand times slower (below 1e-3)" if r < 1e-3 else
               "exploding toward the input (above 1e3)" if r > 1e3 else
               "the input end gets a comparable gradient (between 1e-3 and 1e3)")
    return f"At step {int(steps[i]):,} the first layer's gradient is {r:.3g}× the last layer's: {verdict}."


def render_run(store: RunStore, run_id: int, key: str = "train") -> str:
    """Draw the run's state; returns its status (the caller stops polling once it is final)."""
    run = store.get_run(run_id)
    if run is None:
        safe.warning(f"Run #{run_id} is no longer in the store.")
        return "missing"
    status = str(run["status"])
    step = store.latest_step(run_id) or 0
    it_s_series = metric_series(store, run_id, "it_s")
    it_s = float(it_s_series[1][-1]) if it_s_series is not None and len(it_s_series[1]) else None
    if it_s is None and (t0 := _started(run)) and step:
        it_s = step / max(1e-6, time.time() - t0)
    frac, text = progress_text(run, step, it_s)
    st.progress(frac, text="**" + safe.md(status) + "** · " + safe.md(text))
    if run.get("error"):
        (safe.error if status in ("failed", "diverged", "interrupted") else safe.info)(run["error"])
    init = (run.get("summary") or {}).get("init")
    if init:  # what the run started from (a checkpoint, frozen stages): literal text, paths are data
        st.text(init_headline(init))
        if init.get("report"):
            with st.expander("Checkpoint report"):
                st.code(init["report"], language=None)
    alerts = store.get_alerts(run_id)
    for alert in alerts[-5:]:
        where = f" at layer {alert['layer']}" if alert.get("layer") else ""
        st.warning(f"step {safe.md(alert['step'])}: **{safe.md(alert['kind'])}**{safe.md(where)} — "
                   + safe.md(alert["message"], safe.MESSAGE_LIMIT))

    opts = controls(key)
    _curves(store, run_id, key, opts)
    _masks(store, run_id, key)

    view = layer_view(store, run_id)
    latest = store.get_layer_stats_at(run_id)
    if not view.names or latest is None:
        st.info("Waiting for the first gradient statistics…" if status in ACTIVE else "No layer statistics.")
        return status
    at_step, stats = latest
    stat = opts["stat"] if opts["stat"] in stats else "grad_norm"
    values = stats.get(stat, stats.get("grad_norm"))
    bars = stats.get("grad_max_abs") if stat == "grad_mean_abs" else None
    safe.chart(gradient_flow(view.names, view.stages, values, bars, step=at_step, frozen=view.frozen, stat=stat,
                             log_y=opts["log"]), key=f"{key}_flow")
    safe.caption(STAT_NOTE)
    left, right = st.columns([3, 2])
    steps, matrix = store.get_layer_matrix(run_id, stat)
    if matrix.size:
        names = [f"{n} (frozen)" if f else n for n, f in zip(view.names, view.frozen or [False] * len(view.names),
                                                            strict=True)]
        safe.chart(layer_heatmap(steps, matrix, names, title=f"log10 {stat_label(stat)}", stat=stat),
                   key=f"{key}_heat", container=left)
    r_steps, ratio = first_last_ratio(store, run_id, stat)
    if ratio.size:
        safe.chart(curves({"first / last": (r_steps, ratio)}, title=f"First / last layer {stat_label(stat)}",
                          log_y=opts["log"], smooth=opts["smooth"]), key=f"{key}_ratio", container=right)
        safe.caption(ratio_words(r_steps, ratio), container=right)
    _distributions(store, run_id, view.names, key)
    ev = evaluate_spec(run["spec"]) if isinstance(run.get("spec"), dict) else None
    if ev is None or not ev.ok:
        return status
    # The architecture painted with the chosen statistic at the latest step (read only: drawing is Build's).
    painted_at, per_layer = layer_stats_at(store, run_id, at_step)
    frozen = {name for name, f in zip(view.names, view.frozen, strict=False) if f}
    model = graph_model(ev.graph, ev.analysis, stats=per_layer, stat=stat, step=painted_at, readonly=True,
                        frozen=frozen)
    safe.caption(f"{stat_label(stat)} per layer on the architecture (log colour scale; click a box for its numbers, "
                 "+ and − fold stages and blocks). Paint any step on the Build page.")
    graph_view(model, key=f"{key}_graph", view_key=f"run{run_id}", height=GRAPH_HEIGHT)
    return status


def _curves(store: RunStore, run_id: int, key: str, opts: dict[str, Any]) -> None:
    left, right = st.columns(2)
    loss = metric_series(store, run_id, "loss")
    val_loss = metric_series(store, run_id, "val_loss")
    series = {k: v for k, v in {"train loss": loss, "val loss": val_loss}.items() if v is not None}
    if series:
        safe.chart(curves(series, title="Loss", log_y=opts["log"], smooth=opts["smooth"]), key=f"{key}_loss",
                   container=left)
    accs = {}
    for k in ("acc", "val_acc", "iou", "val_iou"):
        if (s := metric_series(store, run_id, k)) is not None:
            accs[k.replace("_", " ")] = s
    if accs:
        safe.chart(curves(accs, title="Accuracy / IoU", smooth=opts["smooth"]), key=f"{key}_acc", container=right)


def _masks(store: RunStore, run_id: int, key: str) -> None:
    """A segmentation run: a few validation images, their true masks and the predicted ones as training goes."""
    preds = get_samples(store, run_id, "pred")
    inputs, truth = get_samples(store, run_id, "input"), get_samples(store, run_id, "truth")
    if not preds or not inputs or not truth:
        return
    picked = [preds[0], *preds[1:][-(MAX_MASK_STEPS - 1):]] if len(preds) > 1 else preds
    columns = {f"step {s:,}": [m / 255.0 for m in p] for s, p in picked}
    st.subheader("Predicted masks (validation images)")
    safe.chart(segmentation_grid(list(inputs[0][1]), [m / 255.0 for m in truth[0][1]], columns, row_height=110),
               key=f"{key}_masks")
    safe.caption("Each row a validation image: the image, its true mask, then the predicted foreground probability "
                 "at the first and the latest validations (black: foreground).")


def _distributions(store: RunStore, run_id: int, layers: list[str], key: str) -> None:
    recorded = [s for s in DIST_STATS if s in histogram_stats(store, run_id)]
    if not recorded:
        return
    st.subheader("Distributions per layer")
    c = st.columns([2, 3])
    stat = c[0].segmented_control("Values", recorded, default=recorded[0], key=f"{key}_dist_stat",
                                  format_func=lambda s: safe.md(DIST_STATS[s][0])) or recorded[0]
    steps, edges, fractions = get_histograms(store, run_id, stat)
    if not len(steps) or fractions.shape[1] != len(layers):
        return
    layer = c[1].selectbox("Layer", range(len(layers)), format_func=lambda i: layers[i], key=f"{key}_dist_layer",
                           help="The layer whose distribution over training is drawn on the left.")
    left, right = st.columns(2)
    safe.chart(ridgeline(steps, edges, fractions, int(layer), layers[int(layer)], stat), key=f"{key}_ridge",
               container=left)
    safe.chart(layers_at(edges, fractions[-1], layers, int(steps[-1]), stat), key=f"{key}_layers_at",
               container=right)
    safe.caption(f"{DIST_STATS[stat][0]}: {DIST_STATS[stat][1]}. Recorded at about 20 steps per run; log10 bins of "
                 "half a decade, exact zeros in the first bin.")
