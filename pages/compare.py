"""Compare: 2–4 runs side by side — loss and accuracy curves, gradient profiles at a chosen point of training
with depth normalised so nets of different depth align, heatmaps, a summary, their settings and spec differences in
words — and any two architectures per stage or block. The runs are in the URL (`?runs=3,4`). Once the store holds a
sweep, a "Sweep" mode shows a whole sweep: each variant's mean and band over its seeds."""

import streamlit as st

from dashboard.compare_view import render_diff, render_runs
from dashboard.landscape_view import render_compare as render_landscapes
from dashboard.run_select import linked_runs, run_options, show_runs_in_url
from dashboard.state import get_store
from dashboard.sweep_view import render_sweep
from dashboard.sweeps import sweep_labels
from engine.api import landscape_store

ss = st.session_state
st.title("Compare")
store = get_store()
if sweep_labels(store) and st.radio("Compare", ["Runs", "Sweep"], horizontal=True, key="compare_mode",
                                   label_visibility="collapsed") == "Sweep":
    render_sweep(store)  # a whole sweep: mean ± band per variant
    st.stop()
runs = store.list_runs()
names = run_options(runs)
linked_runs(list(names), "compare_pick")  # ?runs=3,4: a link, Runs → Compare, Experiments → Compare these runs
if "compare_pick" not in ss:
    ss.compare_pick = list(names)[:2]
ids = st.multiselect("Runs", list(names), format_func=names.get, max_selections=4, key="compare_pick",
                     help="Pick 2 to 4 runs; curves are overlaid, heatmaps side by side.")
show_runs_in_url(ids, "compare_pick")
if not runs:
    st.info("No runs to compare yet: start some on the **Train** page. The architecture diff below works without.")

if ids:
    render_runs(store, ids, names)
    render_landscapes(landscape_store(str(store.path)), ids, names)  # side by side on one colour scale
render_diff(store, ids, names)
