"""Runs: every run in the store — status, spec, dataset, steps, final metrics, device, duration — to open in
Train or Compare, download as CSV, or delete."""

import streamlit as st
import yaml

from dashboard import text as safe
from dashboard.runs_data import runs_frame
from dashboard.state import get_runner, get_store
from engine.api import SkipLabError, StoreError, run_archive

ss = st.session_state
st.title("Runs")
try:
    store = get_store()
    store.reap_dead_runs()  # a worker that died is marked interrupted, its data kept
    runs = store.list_runs()
except StoreError as exc:
    safe.error(f"The run store cannot be read: {exc}")
    st.stop()

if not runs:
    st.info("No runs yet. Start one on the **Train** page, or from a terminal: "
            "`python -m engine train resnet8 --dataset shapes --steps 100` — it shows up here.")
    st.stop()

frame = runs_frame(runs)
counts = frame["status"].value_counts()
safe.caption(f"{len(frame)} run{'s' if len(frame) != 1 else ''}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
picked = st.dataframe(frame, hide_index=True, width="stretch", key="runs_table", on_select="rerun",
                      selection_mode="multi-row",
                      column_config={"final loss": st.column_config.NumberColumn(format="%.4f"),
                                     "val metric": st.column_config.NumberColumn(format="%.3f"),
                                     "seconds": st.column_config.NumberColumn(format="%.1f")})
ids = [int(frame.iloc[i]["id"]) for i in picked.selection.rows]
safe.caption("Select rows to act on them." if not ids else f"Selected: {', '.join(f'#{i}' for i in ids)}")

c = st.columns(4)
if c[0].button("Open in Train", disabled=len(ids) != 1, key="runs_open", help="Watch or review one run."):
    ss.train_run_id = ids[0]
    st.switch_page("pages/train.py")
if c[1].button("Compare", disabled=not 2 <= len(ids) <= 4, key="runs_compare", help="Pick 2 to 4 runs."):
    ss.compare_runs = ids
    st.switch_page("pages/compare.py")
confirm = c[3].checkbox("Confirm delete", key="runs_confirm", disabled=not ids)
if c[2].button("Delete", disabled=not (ids and confirm), key="runs_delete", help="Tick 'Confirm delete' first."):
    runner = get_runner()
    for run_id in ids:
        runner.delete(run_id)  # a queued or running run is cancelled first: its worker stops
    st.toast(f"Deleted {len(ids)} run(s).")
    st.rerun()

if len(ids) == 1:
    run = store.get_run(ids[0])
    with st.expander(f"Run #{safe.md(ids[0])} details", expanded=True):
        if run.get("error"):
            safe.warning(run["error"])
        left, right = st.columns(2)
        left.json(run.get("config") or {}, expanded=False)
        right.json(run.get("spec") or {}, expanded=False)
        cols = st.columns(3)
        for col, fmt in zip(cols, ("csv", "parquet"), strict=False):
            try:
                col.download_button(f"Metrics + layer stats ({fmt.upper()}, zip)",  # engine text
                                    run_archive(store, ids[0], fmt),
                                    file_name=f"run{ids[0]}_{fmt}.zip", mime="application/zip",
                                    key=f"runs_dl_{fmt}", help="Long-format tables: step, layer, stat, value.")
            except SkipLabError as exc:
                safe.caption(exc, container=col)
        cols[2].download_button("Spec (YAML)", yaml.safe_dump(run.get("spec") or {}, sort_keys=False),
                                file_name=f"run{ids[0]}_spec.yaml", key="runs_dl_spec")
