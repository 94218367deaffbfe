"""Stages and blocks are facts of the IR: every preset's stage and block rollups sum to its totals, in the
engine, in the CLI's tables and JSON, and in the Build page's table (and so its CSV), and edits keep them."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from engine.analysis import summarize
from engine.arch import expand, preset_names
from engine.cli import main as cli

PRESETS = preset_names()
SUMS = ("params", "macs", "flops", "backward_flops", "saved_bytes")


@pytest.mark.parametrize("name", PRESETS)
def test_rollups_sum_to_the_totals(name):
    a = summarize(name)
    node_saved = sum(r.saved_bytes for r in a.nodes)
    for level in ("stage", "block"):
        groups = a.rollup(level)
        assert sum(g.nodes for g in groups) == len(a.nodes)
        assert sum(g.params for g in groups) == a.params
        assert sum(g.macs for g in groups) == a.macs
        assert sum(g.flops for g in groups) == a.flops
        assert sum(g.backward_flops for g in groups) == a.backward_flops
        assert sum(g.saved_bytes for g in groups) == node_saved
        assert len({g.name for g in groups}) == len(groups)
    # the JSON groups: every stage once (level 1), every block once (level 2)
    stages = [g for g in a.groups if g.level == 1]
    assert sum(g.params for g in stages) == a.params


def test_every_node_of_a_family_preset_has_a_stage():
    for name in PRESETS:
        graph = expand(name)
        missing = [n.name for n in graph.compute_nodes() if not n.stage]
        assert not missing, f"{name}: {missing[:5]}"


@pytest.mark.parametrize("name,stages", [
    ("resnet20", ["stem", "stage1", "stage2", "stage3", "head"]),
    ("densenet121", ["stem", "block1", "transition1", "block2", "transition2", "block3", "transition3", "block4",
                     "head"]),
    ("unet_small", ["encoder", "bottleneck", "decoder", "head"]),
    ("residual_mlp50", ["stem", "layers", "head"]),
    ("transformer_tiny", ["embed", "block0", "block1", "head"]),
])
def test_family_stages(name, stages):
    assert [g.name for g in summarize(name).rollup("stage")] == stages


def test_edits_keep_stage_and_block_and_their_nodes_form_a_block():
    spec = {"family": "resnet", "edits": [{"add_skip": {"from": "stage1.block0", "to": "stage2.block1",
                                                        "merge": "add", "adapter": "projection"}}]}
    graph = expand(spec)
    assert {(n.stage, n.block) for n in graph.nodes.values() if n.name.startswith("edit0.")} == {("stage2", "edit0")}
    assert graph.nodes["stage2.block1.conv1"].block == "stage2.block1"
    a = summarize(spec)
    blocks = {g.name: g for g in a.rollup("block")}
    assert blocks["edit0"].params == 16 * 32 + 2 * 32  # the 1x1 projection conv and its BN
    assert sum(g.params for g in blocks.values()) == a.params
    removed = expand({**spec, "edits": [*spec["edits"], {"remove_skip": "edit0"}]})
    assert not any(n.startswith("edit0.") for n in removed.nodes)


def test_graph_family_nodes_declare_their_groups():
    spec = {"family": "graph", "input": [8], "nodes": [
        {"name": "fc1", "op": "linear", "out_features": 8, "stage": "body", "block": "body.unit"},
        {"name": "act", "op": "relu", "in": "fc1", "stage": "body", "block": "body.unit"},
        {"name": "fc2", "op": "linear", "in": "act", "out_features": 2}]}
    a = summarize(spec)
    assert [g.name for g in a.rollup("block")] == ["body.unit", "fc2"]
    assert [g.name for g in a.rollup("stage")] == ["body", "fc2"]
    bad = {**spec, "nodes": [{**spec["nodes"][0], "stage": "fc2"}, *spec["nodes"][1:]]}
    with pytest.raises(Exception, match="also a node's name"):
        expand(bad)


def test_cli_tables_and_json_sum_to_the_totals(capsys):
    for level in ("stage", "block"):
        assert cli(["summary", "densenet121", "--level", level]) == 0
        out = capsys.readouterr().out
        table = out.split("\n\n")[1].splitlines()[2:]
        assert sum(int(line.split()[2].replace(",", "")) for line in table) == 7_978_856
    assert cli(["summary", "unet_small", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sum(g["params"] for g in data["groups"] if g["level"] == 1) == data["params"] == 483_441


@pytest.mark.slow
def test_build_page_tables_sum_to_the_totals_for_every_preset(store_path):
    at = AppTest.from_file("../dashboard/app.py", default_timeout=120).run()
    for name in PRESETS:
        at.selectbox(key="build_preset").set_value(name).run()
        assert not at.exception, name
        params = int(next(m.value for m in at.metric if m.label == "Parameters").replace(",", ""))
        for level in ("stage", "block"):
            at.segmented_control(key="build_level").set_value(level).run()
            frame = next(d.value for d in at.dataframe if level in d.value.columns)
            assert int(frame["params"].sum()) == params, (name, level)
        at.segmented_control(key="build_level").set_value("stage").run()
