"""Connectivity edits applied to any family's graph: add_skip, remove_skip, set_merge.

`from`, `to` and `target` name a node (``stage1.block0.conv1``) or a stage or block of the IR
(``stage1.block2``, ``dec3``, ``layer12``), which stands for its output (`Graph.group_output`).

- ``add_skip`` merges the output of `from` into the output of `to`: every consumer of `to` reads the merge
  instead. Its nodes are named ``edit{i}.*`` (i = the edit's index in ``edits``) and form the block
  ``edit{i}`` in the target's stage, so their cost rolls up as one group: ``edit{i}.adapter.conv`` +
  ``.adapter.bn`` (projection on images: 1x1 conv + BN, strided when the map shrinks, He et al. 2016 option
  B), ``edit{i}.adapter.fc`` (projection on vectors and tokens), ``edit{i}.adapter.pool`` (average-pool +
  zero-pad, no parameters, option A), ``edit{i}.gate`` (gate merges) and ``edit{i}.merge``. A skip may not
  point backwards (a cycle).
- ``remove_skip`` removes every merge (add, concat, highway) inside the target: the merge's output
  becomes its main input (a residual block's branch, a U-Net level's upsampled map, a dense layer's new
  features), and nodes left unused (projection shortcuts, gates) go with it.
- ``set_merge`` changes every merge inside the target to add, concat, gate or none (= remove_skip).
  Merged nodes keep their names (``stage1.block0.add`` may then be a concat); a new gate is named
  ``{block}.gate``. A gate merge is highway-style: y = main * T(skip) + skip * (1 - T(skip)), with T a
  sigmoid gate whose bias starts at -2 (Srivastava et al. 2015), so it starts by mostly carrying the skip.

Which input of a merge is the main path is the node's ``meta["main"]`` (index, default 0). Errors are
SpecErrors with the path ``edits[i]...`` or ShapeErrors naming the node where shapes stop fitting.
"""

from __future__ import annotations

import copy

from engine.core.errors import ShapeError, SpecError
from engine.core.text import fmt_shape, short, shown
from engine.ir.edit_index import EditableGraph
from engine.ir.graph import INPUT, Graph
from engine.ir.ops import Shape, channels, get_op
from engine.spec import AddSkip, Edit, SetMerge

GATE_BIAS = -2.0
ADAPTER_HINT = "set adapter: projection (1x1 conv + BN) or pool (average-pool + zero-pad) on this skip"


def apply_edits(graph: Graph, edits: list[Edit]) -> Graph:
    """Apply the edits in order to a copy of the graph; shapes are checked after each one. Each edit costs
    about its own size, not the graph's (`engine.ir.edit_index`), so thousands of edits take a second."""
    if not edits:
        return graph
    e = EditableGraph(copy.deepcopy(graph))
    for i, edit in enumerate(edits):
        path = f"edits[{i}]"
        try:
            if edit.add_skip is not None:
                _add_skip(e, edit.add_skip, i, path)
            elif edit.remove_skip is not None:
                for merge in _merges_in(e, edit.remove_skip, f"{path}.remove_skip"):
                    _drop_merge(e, merge)
            elif edit.set_merge is not None:
                _set_merge(e, edit.set_merge, f"{path}.set_merge")
            e.finish()
        except ShapeError as exc:
            raise ShapeError(exc.node, f"{exc.message} (after {path}: {_describe(edit)})", expected=exc.expected,
                             received=exc.received, hint=exc.hint) from None
        except SpecError as exc:
            if exc.path.startswith(path):
                raise
            raise SpecError(path, f"({exc.path}) {exc.message}" if exc.path else exc.message) from None
    return e.g


def _describe(edit: Edit) -> str:
    if edit.add_skip is not None:
        a = edit.add_skip
        return f"add_skip {shown(a.source)} -> {shown(a.to)}, merge {a.merge}, adapter {a.adapter}"
    if edit.remove_skip is not None:
        return f"remove_skip {shown(edit.remove_skip)}"
    assert edit.set_merge is not None
    return f"set_merge {shown(edit.set_merge.target)} to {edit.set_merge.merge}"


# ---- queries -------------------------------------------------------------------------------------------


def _resolve(e: EditableGraph, ref: str, path: str) -> str:
    """A node name, or a block prefix's output node."""
    if ref in e.g.nodes:
        return ref
    if e.has_group(ref):
        return e.group_output(ref)
    raise SpecError(path, f"{short(ref)} is neither a node nor a block of this {e.g.family or 'model'}; blocks: "
                          + ", ".join(e.g.groups()[:12]) + " ...")


def ancestors(g: Graph, name: str) -> set[str]:
    seen: set[str] = set()
    stack = list(g.nodes[name].inputs)
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(g.nodes[n].inputs)
    return seen


def _is_merge(g: Graph, name: str) -> bool:
    return get_op(g.nodes[name].op).kind == "merge"


def _merges_in(e: EditableGraph, ref: str, path: str) -> list[str]:
    """The merge nodes a remove_skip / set_merge target stands for, in topological order."""
    g = e.g
    if ref in g.nodes and _is_merge(g, ref):
        return [ref]
    found = [n for n in e.in_group(ref) if _is_merge(g, n)]
    if found:
        return found
    order = g.topo_order()
    with_skips = list(dict.fromkeys(g.nodes[n].group("block") for n in order if _is_merge(g, n)))
    known = ref in g.nodes or e.has_group(ref)
    what = (f"{short(ref)} has no skip connection (no add, concat or gate merge in it)" if known
            else f"{short(ref)} is neither a node nor a block of this {g.family or 'model'}")
    valid = ", ".join(with_skips[:12]) + (" ..." if len(with_skips) > 12 else "") if with_skips else "none"
    raise SpecError(path, f"{what}; blocks with skips: {valid}")


# ---- add_skip ------------------------------------------------------------------------------------------


def _add_skip(e: EditableGraph, a: AddSkip, i: int, path: str) -> None:
    g = e.g
    src = _resolve(e, a.source, f"{path}.add_skip.from")
    dst = _resolve(e, a.to, f"{path}.add_skip.to")
    if src == dst:
        raise SpecError(f"{path}.add_skip", f"from and to are the same node {src!r}; a skip joins two points")
    if dst == INPUT or e.is_ancestor(dst, src):
        raise SpecError(f"{path}.add_skip.to", f"{short(a.to)} ({dst}) comes before {short(a.source)} ({src}), so a "
                        f"skip from {src} to {dst} would create a cycle; a skip goes from an earlier node to a later "
                        "one: swap from and to")
    if src == INPUT and g.input_kind == "tokens":
        raise SpecError(f"{path}.add_skip.from", "the input holds token ids, which cannot be merged with features; "
                        "start the skip at the embedding (e.g. embed.pos) or later")
    prefix = f"edit{i}"
    if prefix in g.nodes or e.has_name_prefix(prefix):
        raise SpecError(f"{path}.add_skip", f"the graph already has nodes named {prefix}.*; rename them")
    output, users = g.output, e.consumers(dst)
    source_shape, target_shape = e.shape(src), e.shape(dst)
    with g.scope(g.nodes[dst].stage, prefix):  # the edit's nodes: a block of their own in the target's stage
        merge = _skip_nodes(e, a, src, dst, source_shape, target_shape, prefix)
    for user in users:
        e.set_inputs(user, tuple(merge if s == dst else s for s in g.nodes[user].inputs))
    g.output = merge if output == dst else output


def _skip_nodes(e: EditableGraph, a: AddSkip, src: str, dst: str, source_shape: Shape, target_shape: Shape,
                prefix: str) -> str:
    """The adapter, gate and merge of one add_skip; returns the merge node."""
    skip = _adapter(e, a, src, dst, source_shape, target_shape, prefix)
    labels = [f"{dst} (target)", f"skip from {src}"]
    meta = {"role": "merge", "main": 0, "hint": ADAPTER_HINT if a.adapter == "none" else
            "the adapted skip still does not fit; check the adapter"}
    if a.merge == "gate":
        gate = e.add(f"{prefix}.gate", "gate", skip, {"role": "shortcut"}, out_features=channels(target_shape),
                     bias_init=GATE_BIAS)
        merge = e.add(f"{prefix}.merge", "highway", [dst, gate, skip],
                      {**meta, "input_labels": [labels[0], "gate", labels[1]]})
    else:
        op = "add" if a.merge == "add" else ("concat_last" if len(target_shape) == 2 else "concat")
        merge = e.add(f"{prefix}.merge", op, [dst, skip], {**meta, "input_labels": labels})
    return merge


def _stride(src: Shape, dst: Shape, ceil: bool) -> int | None:
    """The integer stride that maps the source map onto the target's (ceil: a 1x1 conv; floor: a pool)."""
    for s in range(1, max(src[1], src[2]) + 1):
        h, w = (-(-src[1] // s), -(-src[2] // s)) if ceil else (src[1] // s, src[2] // s)
        if (h, w) == tuple(dst[1:]):
            return s
    return None


def _adapter(e: EditableGraph, a: AddSkip, src: str, dst: str, s: Shape, t: Shape, prefix: str) -> str:
    if a.adapter == "none":
        return src
    node = f"{prefix}.adapter"
    if len(s) != len(t):
        raise ShapeError(node, f"cannot adapt {fmt_shape(s)} (from {src}) to {fmt_shape(t)} (at {dst}): one is "
                         "an image, the other a vector or token sequence", expected=t, received=s,
                         hint="take the skip from a node of the same kind as the target")
    meta = {"role": "shortcut"}
    # pool + concat only matches the spatial size; every other combination matches the channels too.
    out = channels(s) if (a.adapter == "pool" and a.merge == "concat") else channels(t)
    if len(s) == 3:
        stride = _stride(s, t, ceil=a.adapter == "projection")
        if stride is None:
            raise ShapeError(node, f"cannot bring the {s[1]}x{s[2]} map of {src} to the {t[1]}x{t[2]} map of {dst} "
                             f"by an integer stride", expected=t, received=s,
                             hint="adapters only downsample; take the skip from a node whose map is at least as large")
    else:
        stride = 1
        if len(s) == 2 and s[0] != t[0]:
            raise ShapeError(node, f"sequence lengths differ: {fmt_shape(s)} (from {src}) vs {fmt_shape(t)} "
                             f"(at {dst})", expected=t, received=s, hint="join two points of the same sequence")
    if a.adapter == "pool":
        return e.add(f"{node}.pool", "pool_pad", src, meta, out_channels=out, stride=stride)
    if len(s) != 3:
        return e.add(f"{node}.fc", "linear", src, meta, out_features=out)
    x = e.add(f"{node}.conv", "conv2d", src, meta, out_channels=out, kernel=1, stride=stride, padding=0)
    return e.add(f"{node}.bn", "batchnorm2d", x, meta)


# ---- remove_skip / set_merge -----------------------------------------------------------------------------


def _main_and_skips(g: Graph, merge: str) -> tuple[str, list[str]]:
    node = g.nodes[merge]
    if node.op == "highway":  # (h, t, x): the gate t is not a skip
        return node.inputs[0], [node.inputs[2]]
    main = node.meta.get("main", 0)
    return node.inputs[main], [s for j, s in enumerate(node.inputs) if j != main]


def _drop_merge(e: EditableGraph, merge: str) -> None:
    g = e.g
    node = g.nodes[merge]
    main = _main_and_skips(g, merge)[0]
    others = [s for s in node.inputs if s != main]
    for user in e.consumers(merge):
        e.set_inputs(user, tuple(main if s == merge else s for s in g.nodes[user].inputs))
    if g.output == merge:
        g.output = main
    e.remove(merge)
    _prune(e, others)


def _prune(e: EditableGraph, candidates: list[str]) -> None:
    """Remove nodes that no longer feed anything (a projection shortcut, a gate), walking upwards."""
    g = e.g
    stack = list(candidates)
    while stack:
        n = stack.pop()
        if n == INPUT or n == g.output or n not in g.nodes or e.consumers(n):
            continue
        stack.extend(g.nodes[n].inputs)
        e.remove(n)


def _free_name(e: EditableGraph, base: str) -> str:
    name, k = base, 1
    while name in e.g.nodes or e.has_name_prefix(name):
        name, k = f"{base}{k}", k + 1
    return name


def _set_merge(e: EditableGraph, sm: SetMerge, path: str) -> None:
    g = e.g
    for merge in _merges_in(e, sm.target, f"{path}.target"):
        if sm.merge == "none":
            _drop_merge(e, merge)
            continue
        node = g.nodes[merge]
        main, skips = _main_and_skips(g, merge)
        if sm.merge == "gate":
            if node.op == "highway":
                continue
            if len(skips) != 1:
                raise SpecError(f"{path}.merge", f"{merge} merges {len(skips) + 1} inputs; a gate merges two")
            parent = merge.rsplit(".", 1)[0] if "." in merge else merge
            output = g.output
            with e.g.scope(node.stage, node.block):
                gate = e.add(_free_name(e, f"{parent}.gate"), "gate", skips[0], {"role": "shortcut"},
                             out_features=channels(e.shape(main)), bias_init=GATE_BIAS)
            g.output = output
            node.op, node.args = "highway", {}
            e.set_inputs(merge, (main, gate, skips[0]))
            node.meta.update(main=0, input_labels=["main path", "gate", "skip"])
            continue
        op = "add" if sm.merge == "add" else ("concat_last" if len(e.shape(main)) == 2 else "concat")
        if node.op == "highway":
            gate = node.inputs[1]
            node.meta.update(main=0, input_labels=["main path", "skip"])
            node.op, node.args = op, {}
            e.set_inputs(merge, (main, skips[0]))
            _prune(e, [gate])
        else:
            node.op, node.args = op, {}
            e.changed(merge)


def skip_endpoints(graph: Graph) -> list[str]:
    """Candidate `from`/`to` endpoints for a skip edge: stages and blocks first, then every node."""
    blocks = graph.groups()
    nodes = [n.name for n in graph.compute_nodes()]
    return blocks + [n for n in nodes if n not in blocks]


def removable_skips(graph: Graph) -> list[str]:
    """Blocks (or stages) that have a merge (a residual add or a skip concat) whose shortcut can be removed."""
    out = []
    for node in graph.compute_nodes():
        if node.op in ("add", "concat") and node.meta.get("role") == "merge" and (node.block or node.stage):
            out.append(node.group("block"))
    return list(dict.fromkeys(out))
