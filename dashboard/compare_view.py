"""The Compare page's runs section and architecture diff: curves with smoothing and log axes, gradient profiles at a
chosen point of training, heatmaps of one statistic, the runs' settings side by side with their spec differences in
words, and two specs' per-stage counts with the totals in full."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import text as safe
from dashboard.lesson_links import flow_words
from dashboard.live_run import STAT_NOTE, controls
from dashboard.run_charts import curves, depth_profiles, layer_heatmap, stat_label
from dashboard.runs_data import (
    diff_frame,
    layer_view,
    metric_series,
    profile_at,
    runs_frame,
    settings_frame,
    totals_frame,
)
from dashboard.tables import show
from engine.api import RunStore, SkipLabError, compare, describe_changes, preset_names


def spec_differences(runs: list[dict[str, Any]], names: dict[int, str]) -> list[str]:
    """Each run's spec against the first one's, in words: '#4 against #3: shortcut A → none'."""
    if len(runs) < 2:
        return []
    first = runs[0]
    out = []
    for r in runs[1:]:
        try:
            words = describe_changes(first["spec"], r["spec"])
        except SkipLabError as exc:
            words = [f"cannot compare the specs ({exc})"]
        out.append(f"{names[r['id']]} against {names[first['id']]}: " + ("; ".join(words) if words
                                                                          else "the same architecture"))
    return out


def _validation(store: RunStore, run_id: int) -> tuple | None:
    """The run's validation accuracy, or IoU for a segmentation run (the first one it logged any value of)."""
    for key in ("val_acc", "val_iou"):
        series = metric_series(store, run_id, key)
        if series is not None and len(series[0]):
            return series
    return None


def render_runs(store: RunStore, ids: list[int], names: dict[int, str]) -> None:
    runs = [r for i in ids if (r := store.get_run(i)) is not None]
    opts = controls("compare")
    left, right = st.columns(2)
    loss = {names[i]: s for i in ids if (s := metric_series(store, i, "loss")) is not None}
    safe.chart(curves(loss, title="Training loss", log_y=opts["log"], smooth=opts["smooth"]), key="compare_loss",
               container=left)
    acc = {names[i]: s for i in ids if (s := _validation(store, i)) is not None}
    safe.chart(curves(acc, title="Validation accuracy / IoU"), key="compare_acc", container=right)

    stat = opts["stat"]
    point = st.slider("Gradient profile at % of each run", 0, 100, 100, 5, key="compare_point",
                      help="Each run is read at the same fraction of its own training, so runs of any length align; "
                           "0 % is the first logged step.")
    profiles, at_step = {}, {}
    for i in ids:
        last = store.latest_step(i)
        if last is None:
            continue
        at_step[i] = int(round(last * point / 100))
        step, values = profile_at(store, i, at_step[i], stat)
        if values.size:
            profiles[f"{names[i]} (step {step:,})"] = values
    if profiles:
        safe.chart(depth_profiles(profiles, title=f"{stat_label(stat)} by relative depth", stat=stat,
                                  log_y=opts["log"]), key="compare_profiles")
        safe.caption(STAT_NOTE)
    # The same data in words (dashboard.lesson_links): how much of the last layer's gradient reaches the first,
    # where the runs differ, and why they do not when they do not.
    in_words = {names[i]: i for i in ids if i in at_step}
    flow_words(store, in_words, [at_step[i] for i in in_words.values()], when=f"at {point}% of each run")

    cols = st.columns(len(ids))
    for col, i in zip(cols, ids, strict=True):
        steps, matrix = store.get_layer_matrix(i, stat)
        if matrix.size:
            safe.chart(layer_heatmap(steps, matrix, layer_view(store, i).names, title=names[i], height=360, stat=stat),
                       key=f"compare_heat_{i}", container=col)
        else:
            safe.info(f"{names[i]}: no layer statistics logged yet.", container=col)

    st.subheader("Summary")
    show(runs_frame(runs), key="compare_table")
    st.subheader("Settings")
    for line in spec_differences(runs, names):
        safe.caption(line)
    show(settings_frame(runs, names), key="compare_settings")
    st.caption("Columns whose values differ between the runs come first.")


def render_diff(store: RunStore, ids: list[int], names: dict[int, str]) -> None:
    st.subheader("Architecture diff")
    st.caption("Two specs — from these runs or any preset — per stage or block: parameters, MACs and memory, and the "
               "difference (B − A).")
    spec_sources: dict[str, Any] = {f"run {names[i]}": run["spec"] for i in ids if (run := store.get_run(i))}
    spec_sources.update({f"preset {p}": p for p in preset_names()})
    keys = list(spec_sources)
    c = st.columns(2)
    a_key = c[0].selectbox("A", keys, index=0, key="compare_diff_a")
    b_key = c[1].selectbox("B", keys, index=min(1, len(keys) - 1), key="compare_diff_b")
    level = st.segmented_control("Rows", ["stage", "block"], default="stage", key="compare_diff_level")  # own row:
    # beside A and B it was cut off at 800 px
    try:
        comparison = compare(spec_sources[a_key], spec_sources[b_key])
        words = describe_changes(spec_sources[a_key], spec_sources[b_key])
    except SkipLabError as exc:
        safe.error(f"Cannot compare these specs: {exc}")
        return
    safe.caption("From A to B: " + ("; ".join(words) if words else "the same architecture"))
    show(totals_frame(comparison), key="compare_diff_totals")
    show(diff_frame(comparison, 1 if level != "block" else 2), key="compare_diff_rows")
