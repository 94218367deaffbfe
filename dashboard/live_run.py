"""The live view of one run, read from the store: progress, curves, gradient flow, heatmap, alerts and gradient
norms painted on the architecture. Called inside an `st.fragment(run_every=...)` while the run is active."""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any

import numpy as np
import streamlit as st

from dashboard import text as safe
from dashboard.charts import architecture_figure
from dashboard.run_charts import curves, gradient_flow, layer_heatmap
from dashboard.runs_data import first_last_ratio, layer_view, metric_series
from dashboard.train_form import init_headline
from engine.api import RunStore, SkipLabError, expand

ACTIVE = ("queued", "running")


def progress_text(run: dict[str, Any], step: int, it_s: float | None) -> tuple[float, str]:
    """(fraction done, 'step 120 / 400 · 31.2 it/s · ETA 9 s')."""
    total = int((run.get("config") or {}).get("steps") or 0)
    frac = min(1.0, step / total) if total else 0.0
    text = f"step {step} / {total}" if total else f"step {step}"
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

    left, right = st.columns(2)
    loss = metric_series(store, run_id, "loss")
    val_loss = metric_series(store, run_id, "val_loss")
    series = {k: v for k, v in {"train loss": loss, "val loss": val_loss}.items() if v is not None}
    if series:
        safe.chart(curves(series, title="Loss", log_y=True), key=f"{key}_loss", container=left)
    accs = {}
    for k in ("acc", "val_acc", "iou", "val_iou"):
        if (s := metric_series(store, run_id, k)) is not None:
            accs[k.replace("_", " ")] = s
    if accs:
        safe.chart(curves(accs, title="Accuracy / IoU"), key=f"{key}_acc", container=right)

    view = layer_view(store, run_id)
    latest = store.get_layer_stats_at(run_id)
    if not view.names or latest is None:
        st.info("Waiting for the first gradient statistics…" if status in ACTIVE else "No layer statistics.")
        return status
    at_step, stats = latest
    mean_abs = stats.get("grad_mean_abs", stats.get("grad_norm"))
    max_abs = stats.get("grad_max_abs", mean_abs)
    safe.chart(gradient_flow(view.names, view.stages, mean_abs, max_abs, step=at_step, frozen=view.frozen),
               key=f"{key}_flow")
    left, right = st.columns([3, 2])
    steps, matrix = store.get_layer_matrix(run_id, "grad_norm")
    if matrix.size:
        names = [f"{n} (frozen)" if f else n for n, f in zip(view.names, view.frozen or [False] * len(view.names),
                                                            strict=True)]
        safe.chart(layer_heatmap(steps, matrix, names), key=f"{key}_heat", container=left)
    r_steps, ratio = first_last_ratio(store, run_id)
    if ratio.size:
        safe.chart(curves({"first / last": (r_steps, ratio)}, title="First / last layer gradient norm", log_y=True),
                   key=f"{key}_ratio", container=right)
    try:
        graph = expand(run["spec"])
    except SkipLabError:
        return status
    norms = stats.get("grad_norm")
    if norms is not None:
        values = {name: float(v) for name, v in zip(view.names, np.asarray(norms), strict=False)}
        frozen = {name for name, f in zip(view.names, view.frozen, strict=False) if f}
        safe.chart(architecture_figure(graph, values=values, value_label="grad norm", height=300, frozen=frozen),
                   key=f"{key}_arch")
    return status
