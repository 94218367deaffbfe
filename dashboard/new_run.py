"""The Train page's "New run" panel: architecture, its readable name, the dataset it trains on (with the options
that make the data fit it), the optimisation knobs and the checkpoint to start from; Start and Check checkpoint.

No form: the dataset's options depend on the dataset and the architecture, so each choice redraws the panel (the
live view below is a fragment and does not redraw). Messages are shown under the buttons, in a panel that never
collapses on its own.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import text as safe
from dashboard.state import analyze_spec
from dashboard.train_form import (
    FREEZE_CHOICES,
    INIT_SOURCES,
    MAX_UPLOAD_TEXT,
    auto_options,
    chosen_spec,
    init_config,
    init_source,
    runs_with_weights,
    suggested_dataset,
)
from engine.api import (
    RunStore,
    SkipLabError,
    canonical_json,
    check_checkpoint,
    dataset_names,
    dataset_options,
    derived_name,
    fmt_shape,
    get_preset,
    preset_names,
)

ss = st.session_state
PREFIX = "train"


def _architecture() -> tuple[Any, str]:
    """The chosen spec (or None) and the error that stops it."""
    c = st.columns([2, 2, 3])
    sources = ["Preset", "Spec being built", "File"]
    source = c[0].radio("Architecture", sources, key="train_source", horizontal=True,  # engine text
                        help="The Build page's current spec, a named preset, or a YAML/JSON spec file.")
    presets = preset_names()
    preset = c[1].selectbox("Preset", presets, index=presets.index("resnet8") if "resnet8" in presets else 0,
                            key="train_preset", help="Used when the architecture is 'Preset'.",
                            disabled=source != "Preset")
    upload = c[2].file_uploader(safe.md(f"Spec file (at most {MAX_UPLOAD_TEXT})"), type=["yaml", "yml", "json"],
                                key="train_file", disabled=source != "File",
                                help=safe.md("Used when the architecture is 'File'. A spec is a few KB; a file over "
                                             f"{MAX_UPLOAD_TEXT} is refused."))
    try:
        spec = chosen_spec(source, preset, upload, ss.get("build_spec"))
        return (get_preset(spec) if isinstance(spec, str) else spec), ""
    except (SkipLabError, ValueError) as exc:
        return None, str(exc)


def _option_widget(col: Any, name: str, default: Any, auto: Any, key: str) -> Any:
    label = name.replace("_", " ")
    value = auto if auto is not None else default
    note = " (set to fit the architecture)" if auto is not None else ""
    if isinstance(default, bool) or isinstance(auto, bool):
        return col.checkbox(label, bool(value), key=key, help="Dataset option" + note)  # engine text
    if isinstance(default, int) or isinstance(auto, int):
        return int(col.number_input(label, 1, 10**7, int(value), key=key, help="Dataset option" + note))  # engine text
    if isinstance(default, float):
        return float(col.number_input(label, 0.0, 1.0, float(value), key=key, help="Dataset option"))  # engine text
    text = col.text_input(label, "" if value is None else str(value), key=key,  # engine text
                          help="Dataset option (blank: the dataset's default)")
    return text.strip() or None


def _dataset(spec: Any) -> tuple[str, dict[str, Any]]:
    datasets = dataset_names()
    analysis = None
    if spec is not None:
        try:
            analysis = analyze_spec(spec)
        except SkipLabError:
            analysis = None
    suggested = (suggested_dataset(analysis.input_shape, analysis.output_shape, analysis.family, datasets)
                 if analysis else "shapes" if "shapes" in datasets else datasets[0])
    c = st.columns([1, 3])
    # keyed by the suggestion: a new architecture starts from the dataset it trains on as it is
    dataset = c[0].selectbox("Dataset", datasets, index=datasets.index(suggested), key=f"train_dataset_{suggested}",
                             help="Built-in sets are generated locally; nothing downloads.")
    options = dataset_options(dataset)
    auto = auto_options(options, analysis.input_shape) if analysis else {}
    values: dict[str, Any] = {}
    shown = list(options)
    if shown:
        cols = st.columns(min(4, len(shown)))
        for i, name in enumerate(shown):
            key = f"train_dsopt_{dataset}_{name}_{auto.get(name)}"
            value = _option_widget(cols[i % len(cols)], name, options[name], auto.get(name), key)
            if value is not None and value != options[name]:
                values[name] = value
    if analysis is not None:
        safe.caption(f"{derived_name(spec)} · {analysis.params:,} parameters · input {fmt_shape(analysis.input_shape)}"
                     f" → output {fmt_shape(analysis.output_shape)} · suggested dataset: {suggested}",
                     container=c[1])
    return dataset, values


def render_new_run(store: RunStore, runner: Any) -> int | None:
    """The panel; returns the id of a run it started (None otherwise)."""
    open_first = ss.setdefault("train_panel_open", not store.list_runs())  # once per session: never collapses
    started = None
    with st.expander("New run", expanded=open_first, key="train_new_panel"):
        spec, spec_error = _architecture()
        name_default = derived_name(spec) if spec is not None else ""
        key = f"train_name_{abs(hash(canonical_json(spec))) if spec is not None else 0}"  # a new spec, a new name
        run_name = st.text_input("Run name", name_default, key=key, max_chars=120,
                                 help="Shown wherever runs are listed; derived from how the spec differs from its "
                                      "preset. Editable here and later on the Runs page.")
        dataset, ds_options = _dataset(spec)
        c = st.columns(4)
        steps = c[0].number_input("Steps", 1, 100_000, 100, key="train_steps", help="Optimizer steps.")
        batch = c[1].number_input("Batch size", 1, 4096, 64, key="train_batch")
        seed = c[2].number_input("Seed", 0, 2**31 - 1, 0, key="train_seed", help="Same seed, same run (on CPU).")
        log_every = c[3].number_input("Log statistics every N steps", 1, 1000, 5, key="train_log_every",
                                      help="Scalar metrics and per-layer gradient statistics.")
        c = st.columns(4)
        optimizer = c[0].selectbox("Optimizer", ["sgd", "adamw"], key="train_opt",
                                   help="SGD with momentum 0.9, or AdamW.")
        lr = c[1].number_input("Learning rate (0 = default)", 0.0, 1e9, 0.0, format="%.4g", key="train_lr",
                               help="Peak learning rate; 0 picks 0.1 for SGD, 1e-3 for AdamW.")
        schedule = c[2].selectbox("Schedule", ["cosine", "constant", "step"], key="train_schedule")
        device = c[3].selectbox("Device", ["auto", "cpu", "cuda", "mps"], key="train_device",
                                help="auto: CUDA, then Apple MPS, then CPU.")
        init = _checkpoint_options(store)
        b = st.columns([1, 2, 5])
        start = b[0].button("Start", type="primary", key="train_start")
        check = b[1].button("Check checkpoint", key="train_check", help="Map the checkpoint onto the architecture "
                            "and report what loads, what does not and why; nothing is trained.")
        if not (start or check):
            return None
        try:
            if spec is None:
                raise SkipLabError(spec_error)
            source_ref = init_source(init["kind"], init["path"], init["run"])
            if check:
                _check(spec, source_ref, store, init["new_head"])
                return None
            config = {"dataset": dataset, "steps": int(steps), "batch_size": int(batch), "seed": int(seed),
                      "optimizer": optimizer, "schedule": schedule, "device": device, "log_every": int(log_every),
                      "val_every": max(10, int(steps) // 5),
                      **init_config(source_ref, init["freeze"], init["new_head"], init["lr_scale"])}
            if ds_options:
                config["dataset_options"] = ds_options
            if lr > 0:
                config["lr"] = float(lr)
            started = runner.submit(spec, config, name=run_name.strip() or None)
            safe.toast(f"Started run #{started}")
        except (SkipLabError, ValueError) as exc:
            first, _, rest = str(exc).partition("\n")  # a checkpoint report follows the first line
            safe.error(f"Could not {'check the checkpoint' if check else 'start the run'}: {first}")
            if rest:
                st.code(rest, language=None)
    return started


def _checkpoint_options(store: RunStore) -> dict[str, Any]:
    st.markdown("**Start from a checkpoint** (transfer learning; nothing is downloaded)")
    c = st.columns([2, 3, 3])
    kind = c[0].radio("Initialisation", INIT_SOURCES, key="train_init_kind",  # engine text
                      help="A local torchvision / timm / CIFAR-reference / SkipLab ResNet checkpoint, or the final "
                           "weights of a previous run. Tensors are mapped by structure.")
    path = c[1].text_input("Checkpoint file", key="train_init_path", placeholder="~/models/resnet18.pth",
                           help="A .pth / .pt state_dict (read weights-only) or a .safetensors file.",
                           disabled=kind != INIT_SOURCES[1])
    weight_runs = runs_with_weights(store)
    run = c[2].selectbox("Previous run", list(weight_runs), format_func=weight_runs.get, key="train_init_run",
                         help="Its final weights (finished runs that saved them).", disabled=kind != INIT_SOURCES[2])
    c = st.columns(3)
    freeze = c[0].selectbox("Freeze up to", FREEZE_CHOICES, key="train_freeze",
                            help="The stem and every stage up to this one keep their weights (and BatchNorm "
                                 "statistics); backbone: everything but the classifier (a linear probe).")
    new_head = c[1].checkbox("New head", key="train_new_head",
                             help="A fresh classifier even when the checkpoint's has the right shape (other classes). "
                                  "A different class count always gets a new head.")
    lr_scale = c[2].number_input("Loaded layers' lr ×", 0.001, 1.0, 1.0, format="%.3g", key="train_lr_scale",
                                 help="Learning rate of the loaded layers relative to the learning rate; the new head "
                                      "trains at the full rate.")
    return {"kind": kind, "path": path, "run": run, "freeze": freeze, "new_head": new_head,
            "lr_scale": float(lr_scale)}


def _check(spec: Any, source_ref: str | None, store: RunStore, new_head: bool) -> None:
    if source_ref is None:
        raise SkipLabError("choose a checkpoint file or a previous run to check")
    report = check_checkpoint(spec, source_ref, store=store, new_head=new_head)
    if report.complete or report.body_complete:
        st.success("The checkpoint maps onto this architecture" + (" (with a new head)." if report.head_new else "."))
    else:
        st.warning("Part of the checkpoint does not fit this architecture: see why below.")
    st.code(report.text(), language=None)  # literal text: keys and paths are data, never Markdown
