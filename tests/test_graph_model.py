"""The graph view's model (dashboard.graph_model / graph_scene) and drawing actions (dashboard.graph_edits):
every preset gives a consistent model; skips, dense provenance, errors and painting are where they belong;
each drawing action is the spec change it says."""

import json
import math
from types import SimpleNamespace

import pytest

from dashboard.build_state import EditHistory, evaluate
from dashboard.graph_edits import (
    GraphEditError,
    add_node,
    apply_event,
    delete_node,
    free_name,
    graph_start,
    op_arguments,
    palette_ops,
    set_node_args,
)
from dashboard.graph_model import GROUP_PREFIX, graph_model, node_groups, raw_graph
from dashboard.graph_scene import scene
from engine.api import analyze, expand, get_preset, preset_names, to_dict


def model_of(preset: str, **kw) -> dict:
    g = expand(preset)
    return graph_model(g, analyze(g), **kw)


def check_consistent(model: dict) -> None:
    nodes = {n["id"]: n for n in model["nodes"]}
    groups = {g["id"]: g for g in model["groups"]}
    assert not set(nodes) & set(groups), "ids are unique across nodes and groups"
    assert len(nodes) == len(model["nodes"]) and len(groups) == len(model["groups"])
    for e in model["edges"]:
        assert e["source"] in nodes or e["source"] in groups, e
        assert e["target"] in nodes or e["target"] in groups, e
        assert e["kind"] in ("flow", "skip", "dense", "error")
        if e["kind"] == "skip":
            assert e["merge"] is None or nodes[e["merge"]]["kind"] == "merge"
    for el in [*nodes.values(), *groups.values()]:  # exactly one chain of groups up to the top, no cycle
        seen, parent = set(), el["parent"]
        while parent is not None:
            assert parent in groups and parent not in seen, el["id"]
            seen.add(parent)
            parent = groups[parent]["parent"]
    for g in groups.values():
        members = [n for n in nodes.values() if _inside(n, g["id"], groups)]
        assert g["nodes"] == len(members) > 1, g["id"]
        assert g["params"] == sum(n["params"] for n in members)
    json.dumps(model, allow_nan=False)


def _inside(node: dict, gid: str, groups: dict) -> bool:
    parent = node["parent"]
    while parent is not None:
        if parent == gid:
            return True
        parent = groups[parent]["parent"]
    return False


@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_gives_a_consistent_model(preset):
    g = expand(preset)
    model = graph_model(g, analyze(g))
    check_consistent(model)
    assert {n["id"] for n in model["nodes"]} == set(g.nodes)
    flow_and_skip = [e for e in model["edges"] if e["layout"]]
    assert len(flow_and_skip) == sum(len(n.inputs) for n in g.nodes.values())  # one edge per IR input
    assert sum(n["params"] for n in model["nodes"]) == analyze(g).params


def test_skip_edges_follow_the_shortcut_paths():
    resnet = model_of("resnet50")
    skips = [e for e in resnet["edges"] if e["kind"] == "skip"]
    # 16 blocks: one shortcut input each into the add, plus conv -> bn -> add on the 4 projection shortcuts.
    merges = {e["merge"] for e in skips}
    assert len(merges) == 16 and all(m.endswith(".add") for m in merges)
    assert not [e for e in model_of("plain20")["edges"] if e["kind"] == "skip"]
    unet = model_of("unet")
    long = [e for e in unet["edges"] if e["kind"] == "skip"]
    assert {(e["source"], e["target"]) for e in long} >= {("enc1.relu2", "dec1.merge"), ("enc4.relu2", "dec4.merge")}


def test_dense_blocks_look_dense():
    """Each DenseNet layer receives every earlier layer of its block (through the chain of concats)."""
    model = model_of("densenet121")
    dense = {(e["source"], e["target"]) for e in model["edges"] if e["kind"] == "dense"}
    assert ("block1.layer1.conv2", "block1.layer6.bn1") in dense
    assert ("stem.pool", "block1.layer6.bn1") in dense
    # Blocks of 6, 12, 24, 16 layers: layer k >= 3 gets k - 1 sources through more than one concat (the last
    # layer's own features come direct), and what follows the block (transition or head) gets n.
    expected = sum(sum(range(2, n)) + n for n in (6, 12, 24, 16))
    assert len(dense) == expected
    assert not [e for e in model_of("unet")["edges"] if e["kind"] == "dense"]


def test_default_folding_keeps_the_view_readable():
    def folded(preset):
        return {g["name"] for g in model_of(preset)["groups"] if g["collapsed"]}

    assert folded("transformer_tiny") == set()
    unet = model_of("unet")  # 68 nodes: its encoder and decoder open, their blocks folded (the long skips show)
    assert {g["name"] for g in unet["groups"] if g["collapsed"]} == \
        {g["name"] for g in unet["groups"] if g["level"] == 2}
    r50 = model_of("resnet50")
    assert {g["name"] for g in r50["groups"] if g["collapsed"]} == {g["name"] for g in r50["groups"] if g["level"] == 2}
    assert "layer20" in folded("plain_mlp50")  # 50 stages of two nodes: stages fold too


def test_node_groups_are_the_irs_stages_and_blocks():
    g = expand("resnet20")
    groups = node_groups(g)
    assert groups["stage2.block0.conv1"] == ("stage2", "stage2.block0")
    assert groups["stem.conv"] == ("stem", None) and groups["input"] == (None, None)
    fake = SimpleNamespace(nodes={"a": SimpleNamespace(name="a", stage="s1", block="s1.b0")})
    assert node_groups(fake) == {"a": ("s1", "s1.b0")}


def test_statistics_paint_nodes_and_groups_on_a_log_scale():
    g = expand("resnet8")
    layers = [n.name for n in g.compute_nodes() if n.op in ("conv2d", "linear")]
    stats = {name: {"grad_norm": 10.0 ** -(i % 4), "grad_max_abs": 1.0} for i, name in enumerate(layers)}
    model = graph_model(g, analyze(g), stats=stats, stat="grad_norm", step=7)
    legend = model["meta"]["legend"]
    assert legend["step"] == 7 and legend["min"] == pytest.approx(1e-3)
    painted = [n for n in model["nodes"] if n["value_colour"]]
    assert {n["name"] for n in painted} == set(layers)
    block = next(x for x in model["groups"] if x["name"] == "stage1.block0")
    members = [stats[n]["grad_norm"] for n in layers if n.startswith("stage1.block0.")]
    assert block["value"] == pytest.approx(math.sqrt(sum(v * v for v in members)))  # norms add in quadrature


def test_a_failing_edit_is_a_red_edge_beside_the_graph_before_it():
    spec = to_dict(get_preset("resnet20"))
    spec["edits"] = [{"add_skip": {"from": "stage1.block0", "to": "stage2.block0", "adapter": "projection"}},
                     {"add_skip": {"from": "stage1.block0", "to": "stage3.block0"}}]
    ev = evaluate(spec)
    assert not ev.ok
    model = scene(ev, spec)
    check_consistent(model)
    error = [e for e in model["edges"] if e["kind"] == "error"]
    assert len(error) == 1 and error[0]["label"] and "stage3.block0" in model["meta"]["error"]
    assert "edit0.merge" in {n["id"] for n in model["nodes"]}  # the edit before the failing one is drawn


def test_a_graph_spec_that_does_not_build_yet_is_drawn_as_written():
    start = graph_start()
    ev = evaluate(start)
    model = scene(ev, start)
    assert [n["id"] for n in model["nodes"]] == ["input"] and model["meta"]["error"]
    spec = {**start, "nodes": [{"name": "c", "op": "conv2d", "in": [], "out_channels": 4},
                               {"name": "x", "op": "no_such_op", "in": ["c", "ghost"]}]}
    g = raw_graph(spec)
    assert g.nodes["x"].inputs == ("c",)  # a wire to a node that does not exist is not drawn
    check_consistent(graph_model(g, None))


def test_user_text_stays_data_in_the_model():
    g = expand("resnet8")
    g.name = "<img src=x onerror=alert(1)>"
    model = graph_model(g, None, error="<b>" * 200)
    assert model["meta"]["name"] == "<img src=x onerror=alert(1)>"  # drawn as text by the component
    assert len(model["meta"]["error"]) <= 240


# ---- drawing actions ------------------------------------------------------------------------------------------


def resnet20() -> dict:
    return to_dict(get_preset("resnet20"))


def test_drag_adds_an_edit_and_clicking_it_away_removes_that_edit():
    spec, note = apply_event(resnet20(), {"event": "add_skip", "from": "stage1.block0", "to": "stage2.block1",
                                         "merge": "add", "adapter": "projection"})
    assert spec["edits"] == [{"add_skip": {"from": "stage1.block0", "to": "stage2.block1", "merge": "add",
                                           "adapter": "projection"}}] and "stage2.block1" in note
    ev = evaluate(spec)
    assert ev.ok and ev.analysis.params > evaluate(resnet20()).analysis.params
    back, _ = apply_event(spec, {"event": "remove_skip", "merge": "edit0.merge", "edit": 0})
    assert back["edits"] == []
    kept, _ = apply_event(resnet20(), {"event": "remove_skip", "merge": "stage2.block0.add", "edit": None})
    assert kept["edits"] == [{"remove_skip": "stage2.block0.add"}]
    assert evaluate(kept).ok


def test_set_merge_changes_a_drawn_edit_in_place_or_appends_one():
    spec, _ = apply_event(resnet20(), {"event": "add_skip", "from": "stage1.block0", "to": "stage1.block2",
                                      "merge": "add", "adapter": "none"})
    gated, _ = apply_event(spec, {"event": "set_merge", "merge": "edit0.merge", "to": "gate", "edit": 0})
    assert gated["edits"][0]["add_skip"]["merge"] == "gate" and len(gated["edits"]) == 1
    concat, _ = apply_event(resnet20(), {"event": "set_merge", "merge": "stage3.block2.add", "to": "concat"})
    assert concat["edits"] == [{"set_merge": {"target": "stage3.block2.add", "merge": "concat"}}]
    assert evaluate(gated).ok and evaluate(concat).ok


@pytest.mark.parametrize("event", [
    {"event": "add_skip", "from": "a", "to": "b", "merge": "multiply", "adapter": "none"},
    {"event": "add_skip", "from": "", "to": "b", "merge": "add", "adapter": "none"},
    {"event": "add_skip", "from": "a" * 500, "to": "b", "merge": "add", "adapter": "none"},
    {"event": "explode"},
    {"event": "wire", "source": "stem.conv", "target": "stem.bn"},  # not a graph spec
])
def test_a_malformed_action_is_refused_with_the_reason(event):
    with pytest.raises(GraphEditError):
        apply_event(resnet20(), event)


def test_a_network_drawn_from_nothing_builds():
    spec = graph_start()
    for op, args in [("conv2d", {"out_channels": 8}), ("relu", {}), ("global_avgpool", {}), ("flatten", {}),
                     ("linear", {"out_features": 10})]:
        spec, _ = add_node(spec, op, free_name(spec, op), args, [])
    assert not evaluate(spec).ok  # nothing is wired yet
    assert spec["nodes"][0] == {"name": "conv2d1", "op": "conv2d", "in": [], "out_channels": 8}  # no defaults
    chain = ["input", "conv2d1", "relu1", "global_avgpool1", "flatten1", "linear1"]
    for src, dst in zip(chain, chain[1:], strict=False):
        spec, _ = apply_event(spec, {"event": "wire", "source": src, "target": dst})
    ev = evaluate(spec)
    assert ev.ok, ev.error
    assert ev.analysis.params == 3 * 8 * 9 + 8 * 10 + 10 and ev.analysis.output_shape == [10]
    rewired, note = apply_event(spec, {"event": "wire", "source": "input", "target": "relu1"})
    assert [n for n in rewired["nodes"] if n["name"] == "relu1"][0]["in"] == ["input"] and "1 input" in note
    unwired, _ = apply_event(spec, {"event": "unwire", "source": "relu1", "target": "global_avgpool1"})
    assert [n for n in unwired["nodes"] if n["name"] == "global_avgpool1"][0]["in"] == []
    smaller, _ = set_node_args(spec, "conv2d1", {"out_channels": 4})
    assert evaluate(smaller).analysis.params == 3 * 4 * 9 + 4 * 10 + 10
    gone, _ = delete_node(spec, "relu1")
    assert "relu1" not in {n["name"] for n in gone["nodes"]}
    assert [n for n in gone["nodes"] if n["name"] == "global_avgpool1"][0]["in"] == []


def test_the_palette_offers_every_registered_op_with_its_arguments():
    ops = palette_ops()
    assert "input" not in ops and {"conv2d", "linear", "add", "concat", "self_attention"} <= set(ops)
    conv = op_arguments("conv2d")
    assert conv["out_channels"]["required"] and conv["kernel"]["default"] == 3
    with pytest.raises(GraphEditError, match="exists already"):
        add_node({**graph_start(), "nodes": [{"name": "a", "op": "relu"}]}, "relu", "a", {}, [])
    with pytest.raises(GraphEditError, match="not a node name"):
        add_node(graph_start(), "relu", "1bad name", {}, [])


def test_undo_and_redo_walk_the_recorded_specs():
    h = EditHistory()
    a, b, c = {"v": 1}, {"v": 2}, {"v": 3}
    for spec in (a, a, b, c):
        h.record(spec)
    assert h.undo() == b and h.undo() == a and h.undo() is None
    assert h.redo() == b
    h.record({"v": 4})  # a new change clears the redo
    assert h.redo() is None and h.undo() == b


def test_group_ids_cannot_clash_with_node_names():
    model = model_of("resnet20")
    assert all(g["id"].startswith(GROUP_PREFIX) for g in model["groups"])


def test_a_run_view_is_read_only():
    g = expand("resnet8")
    run_view = graph_model(g, analyze(g), readonly=True, frozen={"stem.conv"})
    assert run_view["meta"]["readonly"] is True
    assert [n["name"] for n in run_view["nodes"] if n["frozen"]] == ["stem.conv"]  # drawn hatched
    assert graph_model(g, analyze(g))["meta"]["readonly"] is False  # the Build page draws
