"""The Build page's graph view (Streamlit glue): the drawing with undo and redo, a run's per-layer statistics
painted on it at a chosen step, and for `graph` specs a palette of the registered ops and the selected node's
arguments. Drawing actions arrive as the component's value and become spec changes (`dashboard.graph_edits`)
in a callback, before the page runs again; the spec stays the single source of truth."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import streamlit as st

from dashboard import text as safe
from dashboard.build_state import EditHistory, Evaluation
from dashboard.graph_edits import (
    GraphEditError,
    add_node,
    apply_event,
    delete_node,
    free_name,
    op_arguments,
    palette_ops,
    set_node_args,
)
from dashboard.graph_scene import scene, view_key
from dashboard.graph_view import graph_view
from dashboard.text import MESSAGE_LIMIT, md
from engine.api import RunStore, StoreError

ss = st.session_state
KEY = "build_graph_view"
HEIGHT = 620
MAX_RUNS = 50  # the newest runs offered for painting
# A palette default for arguments the op requires (the user sets them before adding the node).
REQUIRED_DEFAULTS = {"out_features": 10, "out_channels": 16, "num_embeddings": 16, "dim": 32, "heads": 2}

LoadSpec = Callable[[dict[str, Any]], None]


DRAWN_KEYS = ("edits", "nodes", "output")  # what drawing changes; the knob widgets show none of them


def set_spec(new: dict[str, Any], load_spec: LoadSpec) -> None:
    """Show a new spec. A change the knobs do not show (edits, a graph spec's nodes) keeps the knob widgets as they
    are; anything else reloads them from the spec (`load_spec`), which costs the browser a redraw of every knob."""
    old = ss.get("build_spec") or {}
    same_knobs = {k: v for k, v in old.items() if k not in DRAWN_KEYS} == \
        {k: v for k, v in new.items() if k not in DRAWN_KEYS}
    if same_knobs:
        ss.build_spec = new
    else:
        load_spec(new)


def on_graph_event(load_spec: LoadSpec) -> None:
    """The component's callback: apply a new drawing action once (each carries a nonce)."""
    event = ss.get(KEY)
    if not isinstance(event, dict) or event.get("nonce") == ss.get("build_graph_nonce"):
        return
    ss.build_graph_nonce = event.get("nonce")
    if event.get("event") == "select":
        ss.build_graph_selected = event.get("name")
        return
    try:
        spec, note = apply_event(ss.build_spec, event)
    except GraphEditError as exc:
        ss.build_graph_note = ("error", str(exc))
        return
    ss.build_graph_note = ("ok", note)
    set_spec(spec, load_spec)


def _undo(load_spec: LoadSpec, redo: bool = False) -> None:
    history: EditHistory = ss.build_history
    spec = history.redo() if redo else history.undo()
    if spec is not None:
        ss.build_graph_note = ("ok", "Redone." if redo else "Undone.")
        set_spec(spec, load_spec)


def _store() -> RunStore | None:
    """The run store, or None: the Build page works without one."""
    from dashboard.state import _store as cached_store

    try:
        return cached_store(os.environ.get("SKIPLAB_STORE"))
    except StoreError:
        return None


def _run_choice(store: RunStore | None, node_names: set[str]) -> int | None:
    """A run whose layers are nodes of this graph (the watched run first), picked by the user; None: no painting."""
    if store is None or not node_names:
        return None
    candidates = {}
    for run in store.list_runs()[:MAX_RUNS]:
        layers = {layer["name"] for layer in store.get_layers(run["id"])}
        if layers & node_names:
            candidates[run["id"]] = f"#{run['id']} {run.get('name') or ''} · {run.get('status')}"
    if not candidates:
        return None
    options = [0, *candidates]
    watched = ss.get("train_run_id")
    default = options.index(watched) if watched in candidates else 0
    picked = st.selectbox("Paint statistics of", options, index=default, key="build_paint_run",
                          format_func=lambda i: "no run" if i == 0 else candidates[i],
                          help="Colour the layers by a run's per-layer statistic (runs of this architecture).")
    return picked or None


def _statistics(store: RunStore | None, node_names: set[str], cols: list[Any]) -> dict[str, Any]:
    with cols[0]:
        run_id = _run_choice(store, node_names)
    if run_id is None:
        return {}
    names = store.layer_stat_names(run_id)
    stat = cols[1].selectbox("Statistic", names, index=names.index("grad_norm") if "grad_norm" in names else 0,
                             key="build_paint_stat", help="Per-layer statistic; groups: norms in quadrature.")
    from dashboard.runs_data import layer_stats_at, logged_steps  # pandas: only once a run is painted

    steps = logged_steps(store, run_id, stat)
    if not steps:
        return {}
    step = steps[-1] if len(steps) == 1 else cols[2].select_slider("Step", steps, value=steps[-1],
                                                                    key=f"build_paint_step{run_id}")
    at, stats = layer_stats_at(store, run_id, step)
    return {"stats": stats, "stat": stat, "step": at}


def graph_panel(ev: Evaluation, spec: dict[str, Any], load_spec: LoadSpec) -> None:
    """The graph view with its toolbar, and the palette for `graph` specs."""
    history: EditHistory = ss.build_history
    cols = st.columns([1, 1, 3, 2, 3], vertical_alignment="bottom")
    cols[0].button("Undo", key="build_undo", on_click=_undo, args=(load_spec,), disabled=not history.undo_stack,
                   help="Undo the last change to the spec (drawn, typed or picked).", width="stretch")
    cols[1].button("Redo", key="build_redo", on_click=_undo, args=(load_spec, True), disabled=not history.redo_stack,
                   width="stretch")
    names = set(ev.graph.nodes) if ev.graph is not None else set()
    paint = _statistics(_store(), names, cols[2:]) if ev.ok else {}
    # One slot whether or not there is a note: the component must keep its place among the page's elements, or
    # Streamlit mounts a new frame (a reload, and the folding is lost).
    slot = st.empty()
    note = ss.pop("build_graph_note", None)
    if note:
        (safe.error if note[0] == "error" else safe.caption)(note[1], slot)
    model = scene(ev, spec, **paint)
    if model is None:
        return
    graph_view(model, key=KEY, view_key=view_key(spec), height=HEIGHT,
               on_change=functools.partial(on_graph_event, load_spec))
    st.caption("Drag from a box's right handle onto another box to add a skip edge; click an edge to remove it or "
               "change its merge; + and − fold stages and blocks; click a box for its numbers.")
    if spec.get("family") == "graph":
        _palette(spec, load_spec)
        _selected_node(spec, load_spec)


# ---- the graph family: palette and node arguments ----------------------------------------------------------


def _arg_widgets(op: str, values: dict[str, Any], key: str, container: Any) -> dict[str, Any]:
    """One widget per argument of the op (types and ranges from the op registry)."""
    out: dict[str, Any] = {}
    args = op_arguments(op)
    cols = container.columns(max(1, min(4, len(args)))) if args else []
    for i, (name, a) in enumerate(args.items()):
        col = cols[i % len(cols)]
        value = values.get(name, a["default"] if not a["required"] else REQUIRED_DEFAULTS.get(name, 16))
        label = name + (" *" if a["required"] else "")  # the op registry's words, shown literally (md)
        tip = a["doc"] or ("blank: the op's default" if value is None and a["kind"] == "int" else "")
        if a["kind"] == "bool":
            out[name] = col.checkbox(md(label), bool(value), key=f"{key}_{name}",
                                     help=md(tip, MESSAGE_LIMIT) if tip else None)
        elif a["check"].startswith("choice:"):
            choices = a["check"].removeprefix("choice:").split("|")
            out[name] = col.selectbox(md(label), choices, index=choices.index(value) if value in choices else 0,
                                      key=f"{key}_{name}", help=md(tip, MESSAGE_LIMIT) if tip else None)
        elif a["kind"] == "int":
            low = 1 if a["check"] == "positive" else 0 if a["check"] == "nonneg" else None
            out[name] = col.number_input(md(label), min_value=low, value=value, step=1, key=f"{key}_{name}",
                                         help=md(tip, MESSAGE_LIMIT) if tip else None)
        elif a["kind"] == "float":
            out[name] = col.number_input(md(label), value=None if value is None else float(value), format="%.4g",
                                         key=f"{key}_{name}", help=md(tip, MESSAGE_LIMIT) if tip else None)
        else:
            out[name] = col.text_input(md(label), "" if value is None else str(value), key=f"{key}_{name}") or None
    return out


def _node_names(spec: dict[str, Any]) -> list[str]:
    return [n["name"] for n in spec.get("nodes") or [] if isinstance(n, dict) and isinstance(n.get("name"), str)]


def _palette(spec: dict[str, Any], load_spec: LoadSpec) -> None:
    with st.container(border=True, key="build_palette"):
        st.markdown("**Add a node** (any registered op; wire it by dragging, or pick its inputs here)")
        ops = palette_ops()
        cols = st.columns([2, 2, 4])
        op = cols[0].selectbox("Op to add", ops, index=ops.index("conv2d") if "conv2d" in ops else 0,
                               key="build_pal_op")
        existing = _node_names(spec)
        name = cols[1].text_input("Name", free_name(spec, op), key=f"build_pal_name_{op}_{len(existing)}",
                                  help="Dot-separated identifiers: conv1, stage1.conv.")
        inputs = cols[2].multiselect("Inputs", ["input", *existing], default=[], key=f"build_pal_in_{len(existing)}",
                                     help="Leave empty and drag a wire into the new node in the drawing.")
        args = _arg_widgets(op, {}, f"build_pal_{op}", st)
        if st.button("Add node", key="build_pal_add", type="primary"):
            try:
                new, note = add_node(spec, op, name.strip(), args, inputs)
            except GraphEditError as exc:
                safe.error(exc)
            else:
                ss.build_graph_note = ("ok", note)
                set_spec(new, load_spec)
                st.rerun()


def _selected_node(spec: dict[str, Any], load_spec: LoadSpec) -> None:
    name = ss.get("build_graph_selected")
    node = next((n for n in spec.get("nodes") or [] if isinstance(n, dict) and n.get("name") == name), None)
    if node is None or node.get("op") not in palette_ops():
        return
    with st.container(border=True, key="build_node_editor"):
        st.text(f"Selected node: {name} ({node['op']})")
        values = {k: v for k, v in node.items() if k not in ("name", "op", "in")}
        args = _arg_widgets(node["op"], values, f"build_sel_{abs(hash(name))}", st)
        cols = st.columns(3)
        action = None
        if cols[0].button("Apply arguments", key="build_sel_apply"):
            action = functools.partial(set_node_args, spec, name, args)
        if cols[1].button("Make it the output", key="build_sel_output"):
            action = lambda: ({**spec, "output": name}, f"{name} is the output.")  # noqa: E731
        if cols[2].button("Delete node", key="build_sel_delete"):
            action = functools.partial(delete_node, spec, name)
        if action is not None:
            try:
                new, note = action()
            except GraphEditError as exc:
                safe.error(exc)
            else:
                ss.build_graph_note = ("ok", note)
                set_spec(new, load_spec)
                st.rerun()
