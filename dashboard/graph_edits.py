"""Drawing actions as spec changes: what the graph view reports (a drag between two boxes, a click on an edge) and
what the palette does (a node added, its arguments set), each turned into a new spec dict. The spec stays the
single source of truth: skip edges become entries of its `edits`; a `graph` spec's nodes and wires are its
`nodes`. Pure functions, no Streamlit. A malformed action raises GraphEditError with the reason.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from engine.api import INPUT, OPS, REQUIRED

MERGES = ("add", "concat", "gate")
ADAPTERS = ("none", "projection", "pool")
MAX_NAME = 200  # a node or block name; longer is not a name the view drew
GRAPH_START = {"family": "graph", "name": "", "input": [3, 32, 32], "nodes": []}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class GraphEditError(ValueError):
    """A drawing action that cannot become a spec change (named in the message)."""


def graph_start() -> dict[str, Any]:
    """A `graph` spec with no nodes yet: the input alone, to draw a network from nothing."""
    return copy.deepcopy(GRAPH_START)


def _name(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value or len(value) > MAX_NAME:
        raise GraphEditError(f"the drawing sent no usable {key!r} (got {str(value)[:40]!r})")
    return value


def _choice(event: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = event.get(key)
    if value not in choices:
        raise GraphEditError(f"{key} must be one of {', '.join(choices)}; got {str(value)[:40]!r}")
    return value


def _edit_index(event: Mapping[str, Any], edits: list[Any]) -> int | None:
    """The add_skip edit the action's skip came from, when it names one that is in the spec."""
    i = event.get("edit")
    if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(edits):
        edit = edits[i]
        if isinstance(edit, Mapping) and "add_skip" in edit:
            return i
    return None


def _later_edits_name_edit_nodes(edits: list[Any], i: int) -> bool:
    """Edit nodes are named by their edit's index (engine.edits: ``edit{i}.*``): removing edit i renames every
    later add_skip's nodes, so it is safe only when no later edit refers to such a node."""
    return any("edit" in json.dumps(e, default=str) for e in edits[i + 1:])


def apply_event(spec: Mapping[str, Any], event: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The spec after one drawing action, and a line saying what changed (for a toast)."""
    out = copy.deepcopy(dict(spec))
    edits = list(out.get("edits") or [])
    kind = event.get("event")
    if kind == "add_skip":
        src, dst = _name(event, "from"), _name(event, "to")
        merge, adapter = _choice(event, "merge", MERGES), _choice(event, "adapter", ADAPTERS)
        edits.append({"add_skip": {"from": src, "to": dst, "merge": merge, "adapter": adapter}})
        out["edits"] = edits
        return out, f"Added a skip from {src} to {dst} ({merge}, adapter {adapter})."
    if kind == "remove_skip":
        merge = _name(event, "merge")
        i = _edit_index(event, edits)
        if i is not None and not _later_edits_name_edit_nodes(edits, i):
            del edits[i]  # the skip was drawn here: forget the edit rather than stack a second one on it
            out["edits"] = edits
            return out, f"Removed the skip of edit {i} (its edit is gone from the spec)."
        edits.append({"remove_skip": merge})
        out["edits"] = edits
        return out, f"Removed the skip into {merge}."
    if kind == "set_merge":
        merge, to = _name(event, "merge"), _choice(event, "to", MERGES)
        i = _edit_index(event, edits)
        if i is not None:
            edits[i] = {"add_skip": {**edits[i]["add_skip"], "merge": to}}
            out["edits"] = edits
            return out, f"Edit {i} now merges by {to}."
        edits.append({"set_merge": {"target": merge, "merge": to}})
        out["edits"] = edits
        return out, f"{merge} now merges by {to}."
    if kind in ("wire", "unwire"):
        return _rewire(out, _name(event, "source"), _name(event, "target"), kind == "wire")
    raise GraphEditError(f"unknown drawing action {str(kind)[:40]!r}")


# ---- the graph family: nodes and wires ---------------------------------------------------------------------


def _nodes(spec: dict[str, Any]) -> list[dict[str, Any]]:
    if spec.get("family") != "graph":
        raise GraphEditError("wires and nodes are drawn on a graph spec; on other families add a skip edge")
    nodes = spec.get("nodes")
    if not isinstance(nodes, list):
        raise GraphEditError("the spec's nodes are not a list; fix them in the YAML tab")
    return nodes


def _inputs(node: Mapping[str, Any]) -> list[str]:
    ins = node.get("in", [INPUT])
    return [ins] if isinstance(ins, str) else list(ins) if isinstance(ins, list) else []


def _find(nodes: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for node in nodes:
        if isinstance(node, dict) and node.get("name") == name:
            return node
    raise GraphEditError(f"{name!r} is not a node of this graph spec")


def _rewire(spec: dict[str, Any], source: str, target: str, wire: bool) -> tuple[dict[str, Any], str]:
    nodes = _nodes(spec)
    if target == INPUT:
        raise GraphEditError("nothing flows into the input; drag from the input to a node")
    node = _find(nodes, target)
    if source != INPUT:
        _find(nodes, source)
    ins = _inputs(node)
    if not wire:
        if source not in ins:
            raise GraphEditError(f"{target} does not read {source}")
        node["in"] = [s for s in ins if s != source]
        return spec, f"{target} no longer reads {source}."
    if source in ins:
        raise GraphEditError(f"{target} already reads {source}")
    op = OPS.get(str(node.get("op")))
    if op is not None and op.max_inputs is not None and len(ins) >= op.max_inputs:
        node["in"] = ins[len(ins) - op.max_inputs + 1:] + [source]  # a one-input op is rewired, not overfilled
        return spec, f"{target} ({node.get('op')}) takes {op.max_inputs} input(s): it now reads {source}."
    node["in"] = ins + [source]
    return spec, f"{target} now reads {source}."


def op_arguments(op: str) -> dict[str, dict[str, Any]]:
    """The palette's form for an op: each argument's default (None = optional), type, check and doc."""
    if op not in OPS:
        raise GraphEditError(f"unknown op {op!r}; valid: {', '.join(palette_ops())}")
    return {k: {"default": None if a.default is REQUIRED else a.default, "required": a.default is REQUIRED,
                "kind": a.kind.__name__, "check": a.check, "doc": a.doc} for k, a in OPS[op].args.items()}


def without_defaults(op: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments a spec needs to say: required ones and those that differ from the op's defaults."""
    defs = OPS[op].args if op in OPS else {}
    return {k: v for k, v in args.items()
            if v is not None and (k not in defs or defs[k].default is REQUIRED or defs[k].default != v)}


def palette_ops() -> list[str]:
    """Every registered op a graph spec can use (the input is there already)."""
    return sorted(n for n in OPS if n != INPUT)


def free_name(spec: Mapping[str, Any], op: str) -> str:
    """``conv2d1``, ``conv2d2`` ...: the first name of this op not yet in the spec."""
    taken = {n.get("name") for n in spec.get("nodes") or [] if isinstance(n, Mapping)}
    k = 1
    while f"{op}{k}" in taken:
        k += 1
    return f"{op}{k}"


def add_node(spec: Mapping[str, Any], op: str, name: str, args: Mapping[str, Any],
             inputs: list[str]) -> tuple[dict[str, Any], str]:
    """The spec with one more node (it reads `inputs`; none: wire it by dragging)."""
    out = copy.deepcopy(dict(spec))
    nodes = _nodes(out)
    if op not in OPS or op == INPUT:
        raise GraphEditError(f"unknown op {op!r}; valid: {', '.join(palette_ops())}")
    if not _NAME.match(name) or len(name) > MAX_NAME:
        raise GraphEditError(f"{name[:60]!r} is not a node name: use dot-separated identifiers like conv1 or "
                             "stage1.conv")
    if name == INPUT or any(isinstance(n, Mapping) and n.get("name") == name for n in nodes):
        raise GraphEditError(f"a node named {name!r} exists already; pick another name")
    known = {INPUT} | {n.get("name") for n in nodes if isinstance(n, Mapping)}
    missing = [s for s in inputs if s not in known]
    if missing:
        raise GraphEditError(f"{missing[0]!r} is not a node of this graph spec")
    allowed = set(OPS[op].args)
    extra = sorted(set(args) - allowed)
    if extra:
        raise GraphEditError(f"op {op!r} has no argument {extra[0]!r}; valid: {', '.join(sorted(allowed)) or 'none'}")
    nodes.append({"name": name, "op": op, "in": list(inputs), **without_defaults(op, args)})
    return out, f"Added {name} ({op})" + (f" reading {', '.join(inputs)}." if inputs else "; drag a wire into it.")


def set_node_args(spec: Mapping[str, Any], name: str, args: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    out = copy.deepcopy(dict(spec))
    node = _find(_nodes(out), name)
    allowed = set(OPS[node["op"]].args) if node.get("op") in OPS else set()
    kept = without_defaults(node["op"], args) if node.get("op") in OPS else {}
    for key in args:
        if key not in allowed:
            raise GraphEditError(f"op {node.get('op')!r} has no argument {key!r}")
        if key in kept:
            node[key] = kept[key]
        else:
            node.pop(key, None)  # back to the op's default
    return out, f"Set the arguments of {name}."


def delete_node(spec: Mapping[str, Any], name: str) -> tuple[dict[str, Any], str]:
    """The spec without the node; nodes that read it lose that wire, and an output naming it is cleared."""
    out = copy.deepcopy(dict(spec))
    nodes = _nodes(out)
    _find(nodes, name)
    out["nodes"] = [n for n in nodes if not (isinstance(n, Mapping) and n.get("name") == name)]
    for node in out["nodes"]:
        if isinstance(node, dict) and name in _inputs(node):
            node["in"] = [s for s in _inputs(node) if s != name]
    if out.get("output") == name:
        out.pop("output")
    return out, f"Deleted {name}."


def edit_merges(spec_edits: list[Any]) -> dict[str, int]:
    """Merge node -> index of the add_skip edit that made it (engine.edits names it ``edit{i}.merge``)."""
    out = {}
    for i, edit in enumerate(spec_edits):
        add = edit.get("add_skip") if isinstance(edit, Mapping) else getattr(edit, "add_skip", None)
        if add is not None:
            out[f"edit{i}.merge"] = i
    return out
