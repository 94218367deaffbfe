"""Experiments: pick a claim from the literature, set its options, Run. The runs train in child processes (the
job runner) and are recorded in the store, so they also appear on the Runs and Compare pages; the figures
and the conclusion are computed from them. Past experiments re-open from the list below."""

import streamlit as st

from dashboard import text as safe
from dashboard.experiments_view import (
    experiment_label,
    get_experiment_store,
    max_jobs,
    options_form,
    render_progress,
    render_registered_claims,
    render_results,
)
from dashboard.nav import goto
from engine.api import SkipLabError
from engine.api import experiments as ex

ss = st.session_state
st.title("Experiments")
es = get_experiment_store()
store_path = str(es.path)

names = ex.experiment_names()
name = st.selectbox("Experiment", names, format_func=lambda n: ex.get_experiment(n).title, key="experiments_pick")
exp = ex.get_experiment(name)
st.caption(safe.md(exp.claim, safe.MESSAGE_LIMIT))
with st.expander("Claims registered before any run: statistic, threshold, source"):
    render_registered_claims(exp)

es.reap_dead()
past = es.list()
with st.expander("Options · Run", expanded=not past), st.form(f"experiments_form_{name}"):
    options = options_form(exp)
    run = st.form_submit_button("Run", type="primary", help="Trains every run of the recipe in child processes "
                                f"({max_jobs()} at a time; SKIPLAB_MAX_RUNS), then analyses them.")  # engine text
if run:
    try:
        exp_id = ex.create_experiment(name, options, store_path)
        ex.launch(exp_id, store_path, jobs=max_jobs())
        ss.experiments_open_pick = exp_id  # open the new one
        safe.toast(f"Started experiment #{exp_id}")
    except (SkipLabError, ValueError) as exc:
        safe.error(f"Could not start the experiment: {exc}")
    past = es.list()

if not past:
    st.info("No experiments yet: set the options above and press **Run**. From a terminal: "
            "`python -m engine experiment degradation` — it shows up here too.")
    st.stop()
ids = [r["id"] for r in past]
if ss.get("experiments_open_pick") not in ids:
    ss.experiments_open_pick = ids[0]
labels = {r["id"]: experiment_label(r) for r in past}
exp_id = st.selectbox("Open", ids, format_func=labels.get, key="experiments_open_pick",
                      help="Every experiment run so far, newest first.")
rec = es.get(exp_id)
active = bool(rec and rec["status"] in ex.EXP_ACTIVE)
if rec and active and st.button("Cancel experiment", key="experiments_cancel"):
    safe.toast(f"Experiment #{exp_id}: {ex.cancel(exp_id, store_path)}")
    st.rerun()


@st.fragment(run_every=1.0 if active else None)
def live() -> None:
    p = ex.progress(exp_id, store_path)
    render_progress(p)
    if p.get("error") and p["status"] != "done":
        safe.warning(p["error"])
    if active and p["status"] not in ex.EXP_ACTIVE:
        st.rerun()  # finished: redraw once with the results, then stop polling


live()
if rec and not active:
    render_results(rec["name"], rec.get("results") or {}, key=f"experiments_{exp_id}")
    run_ids = [r["run_id"] for r in rec["runs"] if r.get("run_id")]
    if len(run_ids) >= 2 and st.button("Compare these runs", key="experiments_compare",
                                       help="Opens the first four runs on the Compare page."):
        goto("compare", runs=",".join(str(i) for i in run_ids[:4]))
