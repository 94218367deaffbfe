"""Build: start from a preset or a family, turn every knob, edit skip edges or YAML; see counts, the
architecture and every node update as you go."""

import json

import streamlit as st
import yaml

from dashboard import text as safe
from dashboard.build_graph import graph_panel
from dashboard.build_state import (
    EditHistory,
    Totals,
    headline_numbers,
    locate_edit_error,
    removable_skips,
    skip_endpoints,
)
from dashboard.build_widgets import keep_choice, metric_row
from dashboard.graph_edits import graph_start
from dashboard.spec_widgets import spec_widgets
from dashboard.state import evaluate_spec, python_code_file
from dashboard.tables import show, summary_frame
from dashboard.urlstate import decode_spec, encode_spec
from engine.api import (
    FAMILIES,
    PRESETS,
    SkipLabError,
    canonical_json,
    crosscheck,
    derived_name,
    dumps,
    get_preset,
    loads,
    onnx_bytes,
    parse,
    preset_names,
    to_dict,
)

ss = st.session_state
DEFAULT_BATCH = 32  # the batch the training-memory number is for, until the user sets one


def load_spec(spec_dict: dict) -> None:
    ss.build_spec = spec_dict
    ss.build_rev = ss.get("build_rev", 0) + 1


def on_preset() -> None:
    load_spec(to_dict(get_preset(ss.build_preset)))


def on_family() -> None:
    if ss.build_family == "graph":  # drawn from nothing: the input alone
        load_spec(graph_start())
        return
    load_spec(to_dict(parse({"family": ss.build_family, **_family_defaults(ss.build_family)})))


def _family_defaults(family: str) -> dict:
    """The first preset of a family, or the family's own defaults."""
    first = next((p for p in PRESETS.values() if p["family"] == family), None)
    return {k: v for k, v in (first or {}).items() if k not in ("family", "name")}


# ---- state: a spec dict, from the link, or a default preset ---------------------------------------------
if "build_spec" not in ss:
    ss.build_history = EditHistory()
    try:
        if "spec" in st.query_params:
            load_spec(decode_spec(st.query_params["spec"]))
        elif st.query_params.get("preset") in PRESETS:
            load_spec(to_dict(get_preset(st.query_params["preset"])))
        else:
            load_spec(to_dict(get_preset("resnet20")))
    except ValueError as exc:
        safe.warning(f"Could not open the linked spec: {exc}")
        load_spec(to_dict(get_preset("resnet20")))

st.title("Build")
name_slot = st.empty()  # the spec's run name, once it is known to build
# The numbers sit above the knobs, and are drawn twice per run: first those already on screen (on a session's first
# run, the spec's own, which its knobs start from), then, once the knobs are read, the new ones. So a first visit
# shows its numbers before the knobs, the tables and pandas have loaded (issue 21), and a knob change reads as
# the numbers changing in place.
numbers_slot = st.empty()
if "build_numbers" not in ss:
    first_batch = int(ss.get("build_batch", DEFAULT_BATCH))
    start = evaluate_spec(ss.build_spec, batch=first_batch)
    ss.build_numbers = headline_numbers(start, None, first_batch) if start.ok else None
if ss.build_numbers:
    with numbers_slot.container():
        metric_row(ss.build_numbers)
top = st.columns([2, 2, 1])
names = preset_names()
top[0].selectbox("Start from a preset", names, index=None, key="build_preset", on_change=on_preset,
                 placeholder="resnet20, resnet50, plain56, ...",
                 help="Loads a named architecture; you can edit it after.")
families = sorted(FAMILIES.names())
top[1].selectbox("…or a family", families, index=None, key="build_family", on_change=on_family,
                 placeholder="resnet, graph, ...", help="Starts from the family's defaults.")
batch = top[2].number_input("Batch", 1, 4096, DEFAULT_BATCH, key="build_batch", help="Batch size for training memory.")

rev = ss.build_rev
tab_knobs, tab_edges, tab_yaml = st.tabs(["Knobs", "Skip edges", "YAML"])
with tab_knobs:
    spec = dict(ss.build_spec)
    if spec.get("family") == "graph":
        st.info("A `graph` spec lists its nodes by hand: draw it below (palette and wires) or edit the YAML tab.")
    elif spec.get("family") in FAMILIES:
        spec = spec_widgets(spec, key=f"build_k{rev}")
    spec["name"] = ss.build_spec.get("name", "")
    spec["edits"] = list(ss.build_spec.get("edits", []))

ev = evaluate_spec(spec, batch=int(batch))
ev, bad_edit = locate_edit_error(spec, ev, int(batch))  # a failing edit: its node drawn red, the edit flagged
ss.build_spec = spec
ss.build_history.record(to_dict(ev.spec) if ev.spec else spec)
if ev.ok:
    ss.build_good_graph = ev.graph

with tab_edges:
    graph = ss.get("build_good_graph")
    if graph is None:
        st.info("Fix the spec first: skip edges are chosen among the nodes of a valid architecture.")
    else:
        endpoints = skip_endpoints(graph)
        keep_choice("build_from", endpoints)  # the choices stay after Add (the node list changes with each edit)
        keep_choice("build_to", endpoints)
        c = st.columns([3, 3, 2, 2, 1.4])
        src = c[0].selectbox("From", endpoints, key="build_from", help="The output this skip carries.")
        dst = c[1].selectbox("To", endpoints, index=min(len(endpoints) - 1, 3), key="build_to",
                             help="The output it is merged into (must come later).")
        merge = c[2].selectbox("Merge", ["add", "concat", "gate"], key="build_merge",
                               help="add: residual sum. concat: dense. gate: highway-style learned mix.")
        adapter = c[3].selectbox("Adapter", ["none", "projection", "pool"], key="build_adapter",
                                 help="How to reconcile shapes: 1x1 conv + BN, or average-pool + zero-pad.")
        if c[4].button("Add skip", key=f"build_add{rev}", type="primary"):
            edit = {"add_skip": {"from": src, "to": dst, "merge": merge, "adapter": adapter}}
            load_spec({**spec, "edits": spec["edits"] + [edit]})
            st.rerun()
        removable = removable_skips(graph)
        if removable:
            r = st.columns([6, 1.4])
            target = r[0].selectbox("Remove the shortcut of", removable, key=f"build_rm{rev}",
                                    help="The block keeps its residual branch and loses its skip.")
            if r[1].button("Remove skip", key=f"build_rmb{rev}"):
                load_spec({**spec, "edits": spec["edits"] + [{"remove_skip": target}]})
                st.rerun()
    if spec["edits"]:
        st.caption("Edits, applied in order:")
        for i, edit in enumerate(spec["edits"]):
            e = st.columns([8, 1])
            e[0].code(json.dumps(edit), language="json")
            if i == bad_edit:
                safe.error(f"Edit {i + 1} fails: {ev.error}", container=e[0])
            if e[1].button("Delete", key=f"build_del{rev}_{i}"):
                load_spec({**spec, "edits": spec["edits"][:i] + spec["edits"][i + 1:]})
                st.rerun()

with tab_yaml:
    text_now = dumps(ev.spec) if ev.spec else yaml.safe_dump(spec, sort_keys=False)
    key = f"build_yaml_{abs(hash(text_now))}"
    for old in [k for k in ss if str(k).startswith("build_yaml_") and k != key]:
        del ss[old]  # a box for text shown before keeps what was typed in it: back on screen it would re-apply
    text = st.text_area("Spec (YAML)", text_now, height=360, key=key,
                        help="Validated as you type (Ctrl+Enter applies). Unknown keys are errors.")
    if text != text_now:
        try:
            parsed = loads(text)
        except SkipLabError as exc:
            safe.error(exc)
        else:
            load_spec(to_dict(parsed))
            st.rerun()

# ---- results ------------------------------------------------------------------------------------------
if not ev.ok:
    numbers_slot.empty()
    ss.build_numbers = None
    where = (f" (field {ev.error_field})" if ev.error_field else f" (node {ev.error_node})" if ev.error_node else "")
    st.error(f"**This architecture does not build{safe.md(where)}.** " + safe.md(ev.error, safe.MESSAGE_LIMIT))
    graph_panel(ev, spec, load_spec)
    st.stop()

a = ev.analysis
safe.caption(f"A run of this spec is named: {derived_name(ev.spec)}", container=name_slot)
history: EditHistory = ss.build_history
history.update(canonical_json(ev.spec) + f"@{batch}", Totals.of(ev))
st.query_params["spec"] = encode_spec(to_dict(ev.spec))

ss.build_numbers = headline_numbers(ev, history, int(batch))
with numbers_slot.container():
    metric_row(ss.build_numbers)  # wraps onto a second line on a narrow screen instead of cutting "25,557,032" to "26…"

graph_panel(ev, spec, load_spec)

level = st.segmented_control("Table rows", ["stage", "block", "node"], default="stage", key="build_level",
                             help="Fold the per-node table into blocks and stages.")
table = summary_frame(a, level)
show(table, key="build_table")

with st.expander("Cross-check with fvcore, FlopCounterMode and torchinfo"):
    st.caption("Every counting tool counts something different. We run each on a fresh copy of this model and "
               "reconcile its total with ours, op by op; a difference we cannot explain is flagged.")
    if st.button("Run the cross-check", key="build_xcheck", help="Takes a second or two; runs on the CPU."):
        try:
            with st.spinner("Running fvcore, FlopCounterMode and torchinfo…"):
                ss.build_xcheck_result = (canonical_json(ev.spec), crosscheck(ev.spec, isolate=True))
        except SkipLabError as exc:
            safe.error(exc)
    result = ss.get("build_xcheck_result")
    if result and result[0] == canonical_json(ev.spec):
        rows = [{"tool": r.tool, "total": r.total, "counts": r.counts, "reconciliation": r.reconciliation,
                 "explained": "✓" if r.explained else f"✗ residual {r.residual:,}", "error": r.error,
                 "seconds": round(r.seconds, 2)} for r in result[1].rows]
        show(rows, key="build_xcheck_table")
        if not all(r.explained for r in result[1].rows if not r.error):
            st.warning("Some totals are not fully explained: the residual is shown, not hidden.")

d = st.columns(5)
stem = safe.file_stem(ev.spec.name or ev.spec.family)
d[0].download_button("Spec (YAML)", dumps(ev.spec), file_name=f"{stem}.yaml", mime="application/x-yaml",
                     key="build_dl_yaml", help="The spec: load it with `python -m engine summary FILE`.")
d[1].download_button("Spec (JSON)", dumps(ev.spec, "json"), file_name=f"{stem}.json", mime="application/json",
                     key="build_dl_json")
d[2].download_button("Summary (CSV)", table.to_csv(index=False), file_name=f"{stem}_summary.csv", mime="text/csv",
                     key="build_dl_csv", help="The table above, at its current folding.")
d[3].download_button("PyTorch code (.py)", python_code_file(canonical_json(ev.spec)), file_name=f"{stem}.py",
                     mime="text/x-python", key="build_dl_py",
                     help="One standalone file that imports only torch: paste it anywhere. Written when you click.")
if d[4].button("Prepare ONNX", key="build_onnx", help="Exports with torch.onnx (needs the onnx extra)."):
    try:
        with st.spinner("Exporting to ONNX…"):
            ss.build_onnx_bytes = (canonical_json(ev.spec), onnx_bytes(ev.spec))
    except SkipLabError as exc:
        safe.error(exc)
if ss.get("build_onnx_bytes") and ss.build_onnx_bytes[0] == canonical_json(ev.spec):
    d[4].download_button("Download ONNX", ss.build_onnx_bytes[1], file_name=f"{stem}.onnx",
                         mime="application/octet-stream", key="build_dl_onnx")
