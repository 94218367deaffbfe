"""Landscape: the loss surface around a run's trained weights (contour, 3-D, curvature maps, a conclusion from the
numbers), and shattered gradients of architectures at initialisation. Each computation runs in its own process and
is stored with the run; a refresh re-attaches to it."""

import streamlit as st

from dashboard import text as safe
from dashboard.landscape_view import (
    ACTIVE,
    job_label,
    render_progress,
    render_shatter,
    render_surface,
    runs_with_weights,
    shatter_form,
    surface_form,
)
from dashboard.run_select import run_label
from dashboard.state import get_store
from engine.api import (
    SkipLabError,
    cancel_landscape,
    landscape_job,
    landscape_store,
    launch_landscape,
    launch_shatter,
    preset_names,
)

ss = st.session_state
st.title("Landscape")
store = get_store()
path = str(store.path)
ls = landscape_store(path)
ls.reap_dead()
surface_tab, shatter_tab = st.tabs(["Loss surface of a run", "Shattered gradients at init"])

with surface_tab:
    runs = runs_with_weights(store)
    if not runs:
        st.info("No finished run with saved weights yet: train one on the **Train** page, then come back.")
    else:
        labels = {r["id"]: run_label(r) for r in runs}
        ids = list(labels)
        if ss.get("landscape_run") not in ids:
            ss.landscape_run = ids[0]
        run_id = st.selectbox("Run", ids, format_func=labels.get, key="landscape_run",
                              help="A finished run with saved weights.")
        with st.expander("Compute a surface", expanded=not ls.list(run_id, "surface")), st.form("landscape_form"):
            options = surface_form("landscape_opt")
            go = st.form_submit_button("Compute", type="primary", help="Runs in its own process; stored with the run.")
        if go:
            try:
                ss.landscape_job = launch_landscape(run_id, options, store=path)
                safe.toast(f"Computing landscape #{ss.landscape_job}")
            except (SkipLabError, ValueError) as exc:
                st.text(f"Could not start: {exc}")
        recs = ls.list(run_id, "surface")
        if not recs:
            safe.caption("No surface for this run yet.")
        else:
            rec_ids = [r["id"] for r in recs]
            if ss.get("landscape_pick") not in rec_ids:
                ss.landscape_pick = ss.get("landscape_job") if ss.get("landscape_job") in rec_ids else rec_ids[0]
            by_id = {r["id"]: r for r in recs}
            pick = st.selectbox("Surface", rec_ids, format_func=lambda i: job_label(by_id[i]), key="landscape_pick")
            active = by_id[pick]["status"] in ACTIVE
            if active and st.button("Cancel", key="landscape_cancel"):
                safe.toast(f"Landscape #{pick}: {cancel_landscape(pick, path)}")
                st.rerun()

            @st.fragment(run_every=1.0 if active else None)
            def surface_live() -> None:
                rec = landscape_job(pick, path)
                if rec is None:
                    return
                if rec["status"] in ACTIVE:
                    render_progress(rec)
                elif active:
                    st.rerun()  # finished: redraw the page once with the result, then stop polling
                elif rec.get("result"):
                    render_surface(rec["result"], key=f"landscape_{pick}")
                else:
                    render_progress(rec)

            surface_live()

with shatter_tab:
    st.caption("Balduzzi et al. 2017: at initialisation, a deep plain net's gradient with respect to its input "
               "decorrelates along a line through input space like white noise; a residual net's stays correlated.")
    with st.form("shatter_form"):
        specs, s_opts = shatter_form("shatter_opt", preset_names())
        go_shatter = st.form_submit_button("Measure", type="primary")
    if go_shatter:
        try:
            ss.shatter_job = launch_shatter(specs, s_opts, store=path)
            safe.toast(f"Measuring #{ss.shatter_job}")
        except (SkipLabError, ValueError) as exc:
            st.text(f"Could not start: {exc}")
    s_recs = ls.list(kind="shatter")
    if s_recs:
        s_by_id = {r["id"]: r for r in s_recs}
        s_ids = list(s_by_id)
        if ss.get("shatter_pick") not in s_ids:
            ss.shatter_pick = ss.get("shatter_job") if ss.get("shatter_job") in s_ids else s_ids[0]
        s_pick = st.selectbox("Measurement", s_ids, format_func=lambda i: job_label(s_by_id[i]), key="shatter_pick")
        s_active = s_by_id[s_pick]["status"] in ACTIVE

        @st.fragment(run_every=1.0 if s_active else None)
        def shatter_live() -> None:
            rec = landscape_job(s_pick, path)
            if rec is None:
                return
            if rec["status"] in ACTIVE:
                render_progress(rec)
            elif s_active:
                st.rerun()
            elif rec.get("result"):
                render_shatter(rec["result"], key=f"shatter_{s_pick}")
            else:
                render_progress(rec)

        shatter_live()
