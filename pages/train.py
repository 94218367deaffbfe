"""Train: pick an architecture (the one being built, a preset or a file) and a dataset, optionally start from a
checkpoint (a local torchvision / timm / CIFAR-reference file or a previous run; freeze early stages, renew the
head), start a short run in its own process, and watch loss, accuracy and per-layer gradient magnitudes stream
in. A refresh re-attaches."""

import streamlit as st

from dashboard import text as safe
from dashboard.lesson_links import run_story
from dashboard.live_run import ACTIVE, render_run
from dashboard.state import get_runner, get_store, run_label
from dashboard.train_form import FREEZE_CHOICES, INIT_SOURCES, chosen_spec, init_config, init_source, runs_with_weights
from engine.api import SkipLabError, check_checkpoint, dataset_names, preset_names

ss = st.session_state
st.title("Train")
store = get_store()
runner = get_runner()

with st.expander("New run", expanded="train_run_id" not in ss):
    with st.form("train_form"):
        c = st.columns(3)
        sources = ["Preset", "Spec being built", "File"]
        source = c[0].radio("Architecture", sources, key="train_source", horizontal=True,  # engine text
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
        st.markdown("**Start from a checkpoint** (transfer learning; nothing is downloaded)")
        c = st.columns([2, 3, 3])
        init_kind = c[0].radio("Initialisation", INIT_SOURCES, key="train_init_kind",
                               format_func=lambda s: safe.md(s),
                               help="A local torchvision / timm / CIFAR-reference / SkipLab ResNet checkpoint, or the "
                                    "final weights of a previous run. Tensors are mapped by structure.")
        init_path = c[1].text_input("Checkpoint file", key="train_init_path", placeholder="~/models/resnet18.pth",
                                    help="A .pth / .pt state_dict (read weights-only) or a .safetensors file.")
        weight_runs = runs_with_weights(store)
        init_run = c[2].selectbox("Previous run", list(weight_runs), format_func=weight_runs.get,
                                  key="train_init_run", help="Its final weights (finished runs that saved them).")
        c = st.columns(3)
        freeze = c[0].selectbox("Freeze up to", FREEZE_CHOICES, key="train_freeze",
                                help="The stem and every stage up to this one keep their weights (and BatchNorm "
                                     "statistics); backbone: everything but the classifier (a linear probe).")
        new_head = c[1].checkbox("New head", key="train_new_head",
                                 help="A fresh classifier even when the checkpoint's has the right shape (other "
                                      "classes). A different class count always gets a new head.")
        lr_scale = c[2].number_input("Loaded layers' lr ×", 0.001, 1.0, 1.0, format="%.3g", key="train_lr_scale",
                                     help="Learning rate of the loaded layers relative to the learning rate; the new "
                                          "head trains at the full rate.")
        start = st.form_submit_button("Start", type="primary")
        check = st.form_submit_button("Check checkpoint", help="Map the checkpoint onto the architecture and report "
                                      "what loads, what does not and why; nothing is trained.")

    if start or check:
        try:
            spec = chosen_spec(source, preset, upload, ss.get("build_spec"))
            source_ref = init_source(init_kind, init_path, init_run)
            if check:
                if source_ref is None:
                    raise SkipLabError("choose a checkpoint file or a previous run to check")
                report = check_checkpoint(spec, source_ref, store=store, new_head=new_head)
                if report.complete or report.body_complete:
                    st.success("The checkpoint maps onto this architecture" + (" (with a new head)."
                                                                                if report.head_new else "."))
                else:
                    st.warning("Part of the checkpoint does not fit this architecture: see why below.")
                st.code(report.text(), language=None)  # literal text: keys and paths are data, never Markdown
            else:
                config = {"dataset": dataset, "steps": int(steps), "batch_size": int(batch), "seed": int(seed),
                          "optimizer": optimizer, "schedule": schedule, "device": device,
                          "log_every": int(log_every), "val_every": max(10, int(steps) // 5),
                          **init_config(source_ref, freeze, new_head, float(lr_scale))}
                if lr > 0:
                    config["lr"] = float(lr)
                ss.train_run_id = runner.submit(spec, config)
                safe.toast(f"Started run #{ss.train_run_id}")
        except (SkipLabError, ValueError) as exc:
            first, _, rest = str(exc).partition("\n")  # a checkpoint report follows the first line
            safe.error(f"Could not {'check the checkpoint' if check else 'start the run'}: {first}")
            if rest:
                st.code(rest, language=None)

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
