"""Connectivity edits (add_skip, remove_skip, set_merge) on every family's graph."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.analysis import analyze
from engine.api import expand, summarize
from engine.arch import get_preset, load
from engine.core.errors import ShapeError, SpecError
from engine.ir.graph import infer_shapes
from engine.spec import to_dict
from tests.fam_helpers import forward_backward, meta_counts, one_thread  # noqa: F401 (autouse fixture)


def with_edits(base: str | dict[str, Any], *edits: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    data = to_dict(get_preset(base)) if isinstance(base, str) else dict(base)
    return {**data, **overrides, "edits": list(edits)}


def skip(src: str, dst: str, merge: str = "add", adapter: str = "none") -> dict[str, Any]:
    return {"add_skip": {"from": src, "to": dst, "merge": merge, "adapter": adapter}}


TINY_B = {"family": "resnet", "input": [3, 8, 8], "shortcut": "B",
          "stages": [{"blocks": 1, "width": 4}, {"blocks": 2, "width": 8}]}


# ---- add_skip ------------------------------------------------------------------------------------------


def test_projection_skip_adds_a_1x1_conv_and_bn() -> None:
    base = summarize("resnet20")
    spec = with_edits("resnet20", skip("stage1.block2", "stage3.block0", adapter="projection"))
    g = expand(spec)
    a = analyze(g)
    assert a.params == base.params + 16 * 64 + 2 * 64
    assert g.nodes["edit0.adapter.conv"].args["stride"] == 4
    assert g.nodes["edit0.merge"].inputs == ("stage3.block0.relu2", "edit0.adapter.bn")
    assert "edit0.merge" in g.nodes["stage3.block1.conv1"].inputs
    assert {r.name: r.role for r in a.nodes}["edit0.adapter.conv"] == "shortcut"
    assert "edit0" in [grp.name for grp in a.groups]
    forward_backward(g)


def test_pool_and_gate_skip() -> None:
    base = summarize("resnet20").params
    g = expand(with_edits("resnet20", skip("stage1", "stage3.block0", merge="gate", adapter="pool")))
    assert analyze(g).params == base + (64 + 1) * 64  # only the gate has parameters
    assert g.nodes["edit0.merge"].op == "highway"
    assert infer_shapes(g)["edit0.adapter.pool"] == (64, 8, 8)
    forward_backward(g)


def test_mismatch_without_adapter_names_both_shapes_and_an_adapter() -> None:
    with pytest.raises(ShapeError) as err:
        expand(with_edits("resnet20", skip("stage1.block2", "stage3.block0")))
    text = str(err.value)
    assert err.value.node == "edit0.merge"
    assert "[16, 32, 32]" in text and "[64, 8, 8]" in text and "adapter" in text and "edits[0]" in text


def test_a_backward_skip_is_a_cycle_error_naming_the_nodes() -> None:
    with pytest.raises(SpecError) as err:
        expand(with_edits("resnet20", skip("stage3.block0", "stage1.block2")))
    assert err.value.path == "edits[0].add_skip.to"
    assert "cycle" in str(err.value) and "stage1.block2" in str(err.value)


@pytest.mark.parametrize("edit, path", [
    (skip("stage9", "head.fc"), "edits[0].add_skip.from"),
    (skip("stem", "nowhere"), "edits[0].add_skip.to"),
    (skip("stem", "stem"), "edits[0].add_skip"),
    ({"remove_skip": "stem"}, "edits[0].remove_skip"),
    ({"set_merge": {"target": "bogus", "merge": "add"}}, "edits[0].set_merge.target"),
])
def test_bad_references_are_spec_errors_with_the_edit_path(edit: dict, path: str) -> None:
    with pytest.raises(SpecError) as err:
        expand(with_edits("resnet20", edit))
    assert err.value.path == path


def test_token_input_cannot_be_a_skip_source() -> None:
    with pytest.raises(SpecError, match="token ids"):
        expand(with_edits("transformer_tiny", skip("input", "block1")))


def test_concat_skip_on_tokens_concatenates_features() -> None:
    g = expand(with_edits("transformer_tiny", skip("embed", "block1", merge="concat")))
    assert infer_shapes(g)["edit0.merge"] == (32, 64)
    assert g.nodes["edit0.merge"].op == "concat_last"
    forward_backward(g)


def test_vector_projection_is_a_linear() -> None:
    g = expand(with_edits("plain_mlp50", skip("stem", "layer10", adapter="projection")))
    assert g.nodes["edit0.adapter.fc"].op == "linear"
    assert analyze(g).params == summarize("plain_mlp50").params + 64 * 64 + 64


# ---- remove_skip ---------------------------------------------------------------------------------------


def test_remove_skip_on_a_resnet_block_drops_the_projection() -> None:
    before = analyze(expand(TINY_B))
    g = expand(with_edits(TINY_B, {"remove_skip": "stage2.block0"}))
    assert "stage2.block0.add" not in g.nodes and "stage2.block0.shortcut.conv" not in g.nodes
    assert g.nodes["stage2.block0.relu2"].inputs == ("stage2.block0.bn2",)
    assert analyze(g).params == before.params - (4 * 8 + 2 * 8)
    forward_backward(g)


def test_remove_skip_on_a_unet_level_removes_the_long_skip() -> None:
    g = expand(with_edits("unet_small", {"remove_skip": "dec2"}))
    assert "dec2.merge" not in g.nodes
    assert g.nodes["dec2.conv1"].inputs == ("up2.conv",)
    assert analyze(g).params == summarize("unet_small").params - 9 * 32 * 32
    with pytest.raises(SpecError, match="dec3, dec2, dec1"):
        expand(with_edits("unet_small", {"remove_skip": "enc2"}))


def test_remove_skip_on_highway_layer_drops_the_gate() -> None:
    g = expand(with_edits("highway_mlp50", {"remove_skip": "layer7"}))
    assert "layer7.gate" not in g.nodes and "layer7.merge" not in g.nodes
    assert g.nodes["layer8.fc"].inputs == ("layer7.act",)


def test_adding_then_removing_a_skip_restores_the_counts() -> None:
    base = summarize("resnet8").params
    a = summarize(with_edits("resnet8", skip("stem", "stage3", adapter="projection"), {"remove_skip": "edit0"}))
    assert a.params == base


# ---- set_merge -----------------------------------------------------------------------------------------


def test_set_merge_on_unet_level_and_back() -> None:
    base = summarize("unet_small").params
    add = expand(with_edits("unet_small", {"set_merge": {"target": "dec1", "merge": "add"}}))
    assert add.nodes["dec1.merge"].op == "add"
    assert analyze(add).params == base - 9 * 16 * 16
    gate = expand(with_edits("unet_small", {"set_merge": {"target": "dec1", "merge": "gate"}}))
    assert gate.nodes["dec1.merge"].inputs == ("up1.conv", "dec1.gate", "enc1.relu2")
    forward_backward(gate)


def test_set_merge_gate_then_add_removes_the_gate() -> None:
    g = expand(with_edits("resnet20", {"set_merge": {"target": "stage2.block1", "merge": "gate"}},
                          {"set_merge": {"target": "stage2.block1", "merge": "add"}}))
    assert "stage2.block1.gate" not in g.nodes
    assert analyze(g).params == summarize("resnet20").params


def test_set_merge_concat_that_breaks_a_later_add_names_it() -> None:
    with pytest.raises(ShapeError) as err:
        expand(with_edits("resnet20", {"set_merge": {"target": "stage2.block1", "merge": "concat"}}))
    assert err.value.node == "stage2.block2.add"


def test_set_merge_on_a_whole_transformer() -> None:
    g = expand(with_edits("transformer_tiny", {"set_merge": {"target": "block1.ffn", "merge": "concat"}}))
    assert infer_shapes(g)["block1.ffn.add"] == (32, 64)
    forward_backward(g)


def test_edits_load_from_a_yaml_file(tmp_path: Any) -> None:
    path = tmp_path / "edited.yaml"
    path.write_text("family: resnet\ninput: [3, 16, 16]\nstages: [{blocks: 1, width: 4}, {blocks: 1, width: 8}]\n"
                    "edits:\n  - {add_skip: {from: stem, to: stage2.block0, adapter: projection}}\n"
                    "  - {remove_skip: stage1.block0}\n")
    g = expand(load(path))
    assert "edit0.merge" in g.nodes and "stage1.block0.add" not in g.nodes


# ---- random edits on random presets (hypothesis) ----------------------------------------------------------

BASES: list[dict[str, Any]] = [
    with_edits("resnet8", input=[3, 8, 8]),
    with_edits("plain20", input=[3, 8, 8]),
    with_edits(TINY_B, block="bottleneck", preact=True),
    with_edits("unet_small", input=[3, 16, 16]),
    with_edits("unet_small", input=[1, 8, 8], widths=[2, 3, 4], up="bilinear", merge="add"),
    {"family": "densenet", "input": [3, 8, 8], "num_classes": 5, "growth_rate": 3, "block_config": [2, 2],
     "num_init_features": 4, "stem": "cifar"},
    with_edits("highway_mlp50", depth=6, width=8),
    with_edits("residual_mlp50", depth=5, width=8, norm="layer"),
    {"family": "mlp", "input": [1, 4, 4], "depth": 5, "width": 4, "connection": "dense", "norm": "batch"},
    with_edits("transformer_tiny", input=[6], d_model=8, heads=2),
    {"family": "transformer", "input": [5, 3], "d_model": 6, "heads": 3, "depth": 2, "norm": "post"},
    {"family": "graph", "input": [6], "nodes": [
        {"name": "l1.fc", "op": "linear", "out_features": 6}, {"name": "l1.act", "op": "tanh", "in": "l1.fc"},
        {"name": "l1.gate", "op": "gate", "in": "input", "out_features": 6},
        {"name": "l1.merge", "op": "highway", "in": ["l1.act", "l1.gate", "input"]},
        {"name": "head.fc", "op": "linear", "in": "l1.merge", "out_features": 3}]},
]


def _targets(base: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(nodes in topological order, every node and block name plus bogus ones, blocks and nodes with merges)."""
    g = expand(base)
    order = g.topo_order()
    merges = [n for n in order if g.nodes[n].op in ("add", "concat", "highway")]
    parents = [m.rsplit(".", 1)[0] for m in merges]
    anything = order + g.groups() + ["edit0", "edit0.merge", "nope"]
    return order, anything, list(dict.fromkeys(merges + parents + ["edit0"]))


TARGETS = [_targets(b) for b in BASES]


@st.composite
def edited_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly plausible edits (forward skips, targets with merges), sometimes anything at all."""
    i = draw(st.integers(0, len(BASES) - 1))
    order, anything, merges = TARGETS[i]
    any_ref = st.sampled_from(anything)

    @st.composite
    def forward_pair(d: st.DrawFn) -> tuple[str, str]:
        a, b = sorted(d(st.lists(st.integers(0, len(order) - 1), min_size=2, max_size=2, unique=True)))
        return order[a], order[b]

    pair = st.one_of(forward_pair(), forward_pair(), forward_pair(), st.tuples(any_ref, any_ref))
    target = st.one_of(st.sampled_from(merges), st.sampled_from(merges), any_ref)
    edit = st.one_of(
        st.builds(lambda p, m, a: {"add_skip": {"from": p[0], "to": p[1], "merge": m, "adapter": a}}, pair,
                  st.sampled_from(["add", "concat", "gate"]), st.sampled_from(["none", "projection", "pool"])),
        st.builds(lambda t: {"remove_skip": t}, target),
        st.builds(lambda t, m: {"set_merge": {"target": t, "merge": m}}, target,
                  st.sampled_from(["add", "concat", "gate", "none"])),
    )
    return {**BASES[i], "edits": draw(st.lists(edit, min_size=1, max_size=3))}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edited_specs())
def test_random_edits_give_a_valid_model_or_a_named_error(data: dict[str, Any]) -> None:
    try:
        g = expand(data)
    except ShapeError as exc:
        assert exc.node and str(exc).startswith(exc.node) and "edits[" in str(exc)
        return
    except SpecError as exc:
        assert exc.path.startswith("edits[")
        return
    shapes, model = forward_backward(g)
    assert shapes == {k: v for k, v in infer_shapes(g).items() if k != "input"}
    a = analyze(g)
    params, macs = meta_counts(g)
    assert a.params == params == sum(p.numel() for p in model.parameters())
    assert a.macs == macs
