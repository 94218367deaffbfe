"""The Compare page's Sweep mode: one sweep's variants, each a mean line with a band over its seeds."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import text as safe
from dashboard.run_charts import curves
from dashboard.sweeps import depth_bands, load, metric_bands, sweep_labels
from engine.api import RunStore, sweep_variant_rows


def render_sweep(store: RunStore) -> None:
    labels = sweep_labels(store)
    if not labels:
        st.info("No sweeps yet: run one with `python -m engine sweep SWEEP.yaml` (see docs/scaling.md).")
        return
    chosen = st.selectbox("Sweep", list(labels), key="compare_sweep",
                          help="Runs that differ only by seed are one variant: a line is their mean, the band "
                               "mean ± one standard deviation over seeds.")
    sweep = load(store, labels[chosen])
    if sweep is None or not sweep["runs"]:
        st.info("This sweep has no runs in the store.")
        return
    statuses = pd.Series([m["status"] for m in sweep["runs"]]).value_counts().to_dict()
    safe.caption(f"{len(sweep['runs'])} runs · " + " · ".join(f"{v} {k}" for k, v in statuses.items()))

    left, right = st.columns(2)
    loss, loss_bands = metric_bands(store, sweep, ("loss",))
    safe.chart(curves(loss, title="Training loss (mean ± sd over seeds)", log_y=True, bands=loss_bands),
               key="compare_sweep_loss", container=left)
    acc, acc_bands = metric_bands(store, sweep, ("val_acc", "val_iou"))
    safe.chart(curves(acc, title="Validation accuracy / IoU (mean ± sd)", bands=acc_bands),
               key="compare_sweep_acc", container=right)

    prof, prof_bands = depth_bands(store, sweep)
    if prof:
        fig = curves(prof, title="Gradient norm by relative depth at the end (mean ± sd)", log_y=True,
                     bands=prof_bands)
        fig.update_layout(xaxis_title="relative depth (0 = input)", yaxis_title="grad norm")
        safe.chart(fig, key="compare_sweep_profile")

    st.subheader("Variants")
    rows = sweep_variant_rows(store, sweep)
    frame = pd.DataFrame([{"variant": r["variant"], "runs": r["runs"], "seeds": ", ".join(map(str, r["seeds"])),
                           "status": ", ".join(f"{v} {k}" for k, v in r["statuses"].items()),
                           "final loss": r["loss_mean"], "± loss": r["loss_std"],
                           r["metric"]: r["val_mean"], f"± {r['metric']}": r["val_std"]} for r in rows])
    st.dataframe(frame, hide_index=True, width="stretch", key="compare_sweep_table")
