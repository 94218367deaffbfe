"""Runs: every run in the store — name, tags, status, spec, dataset, steps, final metrics, device, duration — to
filter, open in Train or Compare, rename, tag and annotate, link to, download as CSV, or delete."""

import streamlit as st

from dashboard import text as safe
from dashboard.nav import goto
from dashboard.run_details import render_details
from dashboard.runs_data import runs_frame
from dashboard.runs_page import delete_selected, filter_frame
from dashboard.state import get_runner, get_store
from dashboard.tables import show
from engine.api import StoreError, run_meta

ss = st.session_state
st.title("Runs")
try:
    store = get_store()
    store.reap_dead_runs()  # a worker that died is marked interrupted, its data kept
    runs = store.list_runs()
    meta = run_meta(store)
except StoreError as exc:
    safe.error(f"The run store cannot be read: {exc}")
    st.stop()

if not runs:
    st.info("No runs yet. Start one on the **Train** page, or from a terminal: "
            "`python -m engine train resnet8 --dataset shapes --steps 100` — it shows up here.")
    st.stop()

frame = runs_frame(runs, meta)
counts = frame["status"].value_counts()
c = st.columns([3, 2])
safe.caption(f"{len(frame)} run{'s' if len(frame) != 1 else ''}: " + ", ".join(f"{n} {s}" for s, n in counts.items()),
             container=c[0])
query = c[1].text_input("Filter", key="runs_filter", placeholder="name, tag, family, dataset or status",
                        label_visibility="collapsed")
frame = filter_frame(frame, query)
picked = show(frame, key=f"runs_table_{ss.get('runs_rev', 0)}", on_select="rerun", selection_mode="multi-row",
              column_config={"final loss": st.column_config.NumberColumn(format="%.4f"),
                             "val metric": st.column_config.NumberColumn(format="%.3f"),
                             "seconds": st.column_config.NumberColumn(format="%.1f")})
ids = [int(frame.iloc[i]["id"]) for i in picked.selection.rows]
safe.caption("Select rows to act on them." if not ids else f"Selected: {', '.join(f'#{i}' for i in ids)}")

c = st.columns(4)
if c[0].button("Open in Train", disabled=len(ids) != 1, key="runs_open", help="Watch or review one run."):
    goto("train", run=str(ids[0]))
if c[1].button("Compare", disabled=not 2 <= len(ids) <= 4, key="runs_compare", help="Pick 2 to 4 runs."):
    goto("compare", runs=",".join(str(i) for i in ids))
confirm = c[3].checkbox("Confirm delete", key="runs_confirm", disabled=not ids)
c[2].button("Delete", disabled=not (ids and confirm), key="runs_delete", help="Tick 'Confirm delete' first.",
            on_click=delete_selected, args=(get_runner(), ids))

if len(ids) == 1:
    render_details(store, store.get_run(ids[0]), meta.get(ids[0], {}))
