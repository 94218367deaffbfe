"""Train: pick an architecture (the one being built, a preset or a file) and a dataset, start a short run in its
own process, and watch loss, accuracy and per-layer gradient magnitudes stream in. A refresh re-attaches."""

import streamlit as st

from dashboard.live_run import ACTIVE, render_run
from dashboard.state import get_runner, get_store, run_label
from engine.api import SkipLabError, dataset_names, loads, parse, preset_names

ss = st.session_state
MAX_UPLOAD = 256 * 1024  # a spec is a few KB; anything larger is not a spec
st.title("Train")
store = get_store()
runner = get_runner()

with st.expander("New run", expanded="train_run_id" not in ss):
    with st.form("train_form"):
        c = st.columns(3)
        sources = ["Preset", "Spec being built", "File"]
        source = c[0].radio("Architecture", sources, key="train_source", horizontal=True,
                            help="The Build page's current spec, a named preset, or a YAML/JSON spec file.")
        presets = preset_names()
        preset = c[1].selectbox("Preset", presets, index=presets.index("resnet8") if "resnet8" in presets else 0,
                                key="train_preset", help="Used when the architecture is 'Preset'.")
        upload = c[2].file_uploader("Spec file", type=["yaml", "yml", "json"], key="train_file",
                                    help="Used when the architecture is 'File'.")
        c = st.columns(4)
        datasets = dataset_names()
        dataset = c[0].selectbox("Dataset", datasets, index=datasets.index("shapes") if "shapes" in datasets else 0,
                                 key="train_dataset", help="Built-in sets are generated locally; nothing downloads.")
        steps = c[1].number_input("Steps", 1, 100_000, 100, key="train_steps", help="Optimizer steps.")
        batch = c[2].number_input("Batch size", 1, 4096, 64, key="train_batch")
        seed = c[3].number_input("Seed", 0, 2**31 - 1, 0, key="train_seed", help="Same seed, same run (on CPU).")
        c = st.columns(4)
        optimizer = c[0].selectbox("Optimizer", ["sgd", "adamw"], key="train_opt",
                                   help="SGD with momentum 0.9, or AdamW.")
        lr = c[1].number_input("Learning rate (0 = default)", 0.0, 1e9, 0.0, format="%.4g", key="train_lr",
                               help="Peak learning rate; 0 picks 0.1 for SGD, 1e-3 for AdamW.")
        schedule = c[2].selectbox("Schedule", ["cosine", "constant", "step"], key="train_schedule")
        device = c[3].selectbox("Device", ["auto", "cpu", "cuda", "mps"], key="train_device",
                                help="auto: CUDA, then Apple MPS, then CPU.")
        log_every = st.slider("Log gradient statistics every N steps", 1, 50, 5, key="train_log_every")
        start = st.form_submit_button("Start", type="primary")

    if start:
        try:
            if source == "Spec being built":
                if "build_spec" not in ss:
                    raise SkipLabError("no spec is being built yet: open the Build page first, or pick a preset")
                spec = parse(ss.build_spec)
            elif source == "File":
                if upload is None:
                    raise SkipLabError("choose a spec file first")
                if upload.size > MAX_UPLOAD:
                    raise SkipLabError(f"{upload.name} is {upload.size:,} bytes; a spec file is at most "
                                       f"{MAX_UPLOAD:,} bytes")
                spec = loads(upload.getvalue().decode("utf-8", errors="replace"),
                             "json" if upload.name.endswith(".json") else "yaml")
            else:
                spec = preset
            config = {"dataset": dataset, "steps": int(steps), "batch_size": int(batch), "seed": int(seed),
                      "optimizer": optimizer, "schedule": schedule, "device": device, "log_every": int(log_every),
                      "val_every": max(10, int(steps) // 5)}
            if lr > 0:
                config["lr"] = float(lr)
            ss.train_run_id = runner.submit(spec, config)
            st.toast(f"Started run #{ss.train_run_id}")
        except (SkipLabError, ValueError) as exc:
            st.error(f"Could not start the run: {exc}")

runs = store.list_runs()
if not runs:
    st.info("No runs yet: start one above.")
    st.stop()
if "train_run_id" not in ss:  # a fresh session (a refresh, a second tab) re-attaches to the newest active run
    active = [r for r in runs if r["status"] in ACTIVE]
    ss.train_run_id = (active or runs)[0]["id"]
labels = {r["id"]: run_label(r) for r in runs}
ids = list(labels)
run_id = st.selectbox("Run", ids, index=ids.index(ss.train_run_id) if ss.train_run_id in ids else 0,
                      format_func=labels.get, key="train_watch", help="The run shown below.")
ss.train_run_id = run_id

run = store.get_run(run_id)
if run and run["status"] in ACTIVE and st.button("Cancel run", key="train_cancel", help="Stops within 2 s; "
                                                 "everything logged so far is kept."):
    st.toast(f"Run #{run_id}: {runner.cancel(run_id)}")
    st.rerun()

active = bool(run and run["status"] in ACTIVE)


@st.fragment(run_every=1.0 if active else None)
def live() -> None:
    status = render_run(store, run_id)
    if active and status not in ACTIVE:
        st.rerun()  # the run ended: redraw the page once, then stop polling


live()
