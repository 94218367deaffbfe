"""Compare: 2–4 runs side by side — loss and accuracy curves, gradient profiles at a chosen point of training
with depth normalised so nets of different depth align, heatmaps, and a summary table. Once the store holds a
sweep, a "Sweep" mode shows a whole sweep: each variant's mean and band over its seeds."""

import streamlit as st

from dashboard import text as safe
from dashboard.landscape_view import render_compare as render_landscapes
from dashboard.lesson_links import flow_words
from dashboard.run_charts import curves, depth_profiles, layer_heatmap
from dashboard.runs_data import diff_frame, layer_view, metric_series, profile_at, runs_frame, totals_frame
from dashboard.state import get_store, run_label
from dashboard.sweep_view import render_sweep
from dashboard.sweeps import sweep_labels
from engine.api import SkipLabError, compare, landscape_store, preset_names

ss = st.session_state
st.title("Compare")
store = get_store()
if sweep_labels(store) and st.radio("Compare", ["Runs", "Sweep"], horizontal=True, key="compare_mode",
                                   label_visibility="collapsed") == "Sweep":
    render_sweep(store)  # a whole sweep: mean ± band per variant
    st.stop()
runs = store.list_runs()
labels = {run_label(r): r["id"] for r in runs}
default = [k for k, v in labels.items() if v in ss.get("compare_runs", [])] or list(labels)[:2]
chosen = st.multiselect("Runs", list(labels), default=default, max_selections=4, key="compare_pick",
                        help="Pick 2 to 4 runs; curves are overlaid, heatmaps side by side.")
ids = [labels[c] for c in chosen]
names = {i: next(k for k, v in labels.items() if v == i) for i in ids}
if not runs:
    st.info("No runs to compare yet: start some on the **Train** page. The architecture diff below works without.")


def show_runs() -> None:

    left, right = st.columns(2)
    loss = {names[i]: s for i in ids if (s := metric_series(store, i, "loss")) is not None}
    safe.chart(curves(loss, title="Training loss", log_y=True), key="compare_loss", container=left)
    acc = {names[i]: s for i in ids
           if (s := metric_series(store, i, "val_acc") or metric_series(store, i, "val_iou")) is not None}
    safe.chart(curves(acc, title="Validation accuracy / IoU"), key="compare_acc", container=right)

    point = st.slider("Gradient profile at % of each run", 0, 100, 100, 5, key="compare_point",
                      help="Each run is read at the same fraction of its own training, so runs of any length align.")
    profiles, at_step = {}, {}
    for i in ids:
        last = store.latest_step(i)
        if last is None:
            continue
        at_step[i] = int(round(last * point / 100))
        step, values = profile_at(store, i, at_step[i])
        if values.size:
            profiles[f"{names[i]} (step {step})"] = values
    if profiles:
        safe.chart(depth_profiles(profiles), key="compare_profiles")
    # The same data in words: how much of the last layer's gradient reaches the first, where the runs differ, and
    # why they do not when they do not.
    run_names = {r["id"]: f"#{r['id']} {r.get('name') or ''}".strip() for r in runs}
    in_words = {run_names[i]: i for i in ids if i in at_step}
    flow_words(store, in_words, [at_step[i] for i in in_words.values()], when=f"at {point}% of each run")

    cols = st.columns(len(ids))
    for col, i in zip(cols, ids, strict=True):
        steps, matrix = store.get_layer_matrix(i, "grad_norm")
        if matrix.size:
            safe.chart(layer_heatmap(steps, matrix, layer_view(store, i).names, title=names[i], height=360),
                       key=f"compare_heat_{i}", container=col)
        else:
            safe.info(f"{names[i]}: no layer statistics logged yet.", container=col)

    st.subheader("Summary")
    frame = runs_frame([r for r in runs if r["id"] in ids])
    st.dataframe(frame, hide_index=True, width="stretch", key="compare_table")

    render_landscapes(landscape_store(str(store.path)), ids, names)  # side by side on one colour scale



if ids:
    show_runs()

st.subheader("Architecture diff")
st.caption("Two specs — from these runs or any preset — per stage or block: parameters, MACs and memory, and the "
           "difference (B − A).")
spec_sources = {f"run {names[i]}": store.get_run(i)["spec"] for i in ids}
spec_sources.update({f"preset {p}": p for p in preset_names()})
keys = list(spec_sources)
c = st.columns([3, 3, 2])
a_key = c[0].selectbox("A", keys, index=0, key="compare_diff_a")
b_key = c[1].selectbox("B", keys, index=min(1, len(keys) - 1), key="compare_diff_b")
diff_level = c[2].segmented_control("Rows", ["stage", "block"], default="stage", key="compare_diff_level")
try:
    comparison = compare(spec_sources[a_key], spec_sources[b_key])
except SkipLabError as exc:
    safe.error(f"Cannot compare these specs: {exc}")
else:
    left, right = st.columns([1, 3])
    left.dataframe(totals_frame(comparison), hide_index=True, width="stretch", key="compare_diff_totals")
    right.dataframe(diff_frame(comparison, 1 if diff_level != "block" else 2), hide_index=True, width="stretch",
                    key="compare_diff_rows")
