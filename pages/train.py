"""Train: pick an architecture (the one being built, a preset or a file), its dataset and options, optionally a
checkpoint to start from; start a short run in its own process, and watch loss, accuracy, predicted masks and
per-layer gradients stream in. The run shown is the one in the URL (`?run=ID`): a link opens it, a refresh
re-attaches."""

import streamlit as st

from dashboard import text as safe
from dashboard.lesson_links import run_story
from dashboard.live_run import ACTIVE, render_run
from dashboard.new_run import render_new_run
from dashboard.run_select import linked_run, run_options, show_run_in_url
from dashboard.state import get_runner, get_store

ss = st.session_state
st.title("Train")
store = get_store()
runner = get_runner()

started = render_new_run(store, runner)
if started is not None:
    ss.train_watch = started  # the new run is the one shown

runs = store.list_runs()
if not runs:
    st.info("No runs yet: start one above.")
    st.stop()
labels = run_options(runs)
ids = list(labels)
linked_run(ids, "train_watch")  # ?run=ID, once per link: a shared link or Runs → Open in Train
if ss.get("train_watch") not in ids:  # a fresh session (a refresh, a second tab) re-attaches to the newest active run
    active = [r for r in runs if r["status"] in ACTIVE]
    ss.train_watch = (active or runs)[0]["id"]
run_id = st.selectbox("Run", ids, format_func=labels.get, key="train_watch",
                      help="The run shown below; its status is on the progress bar.")
show_run_in_url(run_id)

run = store.get_run(run_id)
if run and run["status"] in ACTIVE and st.button("Cancel run", key="train_cancel", help="Stops within 2 s; "
                                                 "everything logged so far is kept."):
    safe.toast(f"Run #{run_id}: {runner.cancel(run_id)}")
    st.rerun()

active = bool(run and run["status"] in ACTIVE)
run_story(store, run_id)  # above the charts: why its gradient looks as it does, and the lesson that shows it


@st.fragment(run_every=1.0 if active else None)
def live() -> None:
    status = render_run(store, run_id)
    if active and status not in ACTIVE:
        st.rerun()  # the run ended: redraw the page once, then stop polling


live()
